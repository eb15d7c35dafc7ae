//! Resolution with choices: which node, which instance (load-balancing policies), all of
//! them, or a lazily refreshed ref. A name can have one instance per node.
//!
//! ```no_run
//! # use pulsing_actor::prelude::*;
//! # async fn f(system: ActorSystem) -> anyhow::Result<()> {
//! let one = system.resolving().policy(RoundRobinPolicy::new()).resolve("services/llm").await?;
//! let all = system.resolving().list("services/llm").await?;
//! let lazy = system.resolving().lazy("services/llm")?;
//! let r = lazy.get().await?; // re-resolved after ~5 s or after a failure
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

use crate::actor::{ActorId, NodeId};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::system::{ActorRef, ActorSystem, MemberStatus, NamedInstance};

/// Time a lazy ref trusts its resolution.
pub const LAZY_TTL: Duration = Duration::from_secs(5);

/// Picks one instance among several.
pub trait LoadBalancingPolicy: Send + Sync + 'static {
    /// Index into `instances` (never empty), given the caller's optional routing key.
    fn select(&self, instances: &[NamedInstance], key: Option<&[u8]>) -> usize;
}

/// Each instance in turn.
#[derive(Default)]
pub struct RoundRobinPolicy(AtomicUsize);

impl RoundRobinPolicy {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LoadBalancingPolicy for RoundRobinPolicy {
    fn select(&self, instances: &[NamedInstance], _key: Option<&[u8]>) -> usize {
        self.0.fetch_add(1, Ordering::Relaxed) % instances.len()
    }
}

/// A uniformly random instance.
#[derive(Default)]
pub struct RandomPolicy;

impl RandomPolicy {
    /// A new policy.
    pub fn new() -> Self {
        Self
    }
}

impl LoadBalancingPolicy for RandomPolicy {
    fn select(&self, instances: &[NamedInstance], _key: Option<&[u8]>) -> usize {
        rand::rng().random_range(0..instances.len())
    }
}

/// Two random candidates; the one this policy has sent less to wins (power of two choices).
#[derive(Default)]
pub struct PowerOfTwoPolicy(Mutex<HashMap<ActorId, u64>>);

impl PowerOfTwoPolicy {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LoadBalancingPolicy for PowerOfTwoPolicy {
    fn select(&self, instances: &[NamedInstance], _key: Option<&[u8]>) -> usize {
        let mut rng = rand::rng();
        let a = rng.random_range(0..instances.len());
        let b = rng.random_range(0..instances.len());
        let mut load = self.0.lock();
        let la = *load.get(&instances[a].actor_id).unwrap_or(&0);
        let lb = *load.get(&instances[b].actor_id).unwrap_or(&0);
        let pick = if lb < la { b } else { a };
        *load.entry(instances[pick].actor_id).or_default() += 1;
        pick
    }
}

/// The same key always goes to the same instance while the set is stable; when an instance
/// leaves, only its keys move (rendezvous hashing).
#[derive(Default)]
pub struct ConsistentHashPolicy;

impl ConsistentHashPolicy {
    /// A new policy.
    pub fn new() -> Self {
        Self
    }
}

fn score(key: &[u8], node: NodeId) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    node.0.hash(&mut h);
    h.finish()
}

impl LoadBalancingPolicy for ConsistentHashPolicy {
    fn select(&self, instances: &[NamedInstance], key: Option<&[u8]>) -> usize {
        let key = key.unwrap_or(&[]);
        (0..instances.len())
            .max_by_key(|&i| score(key, instances[i].node_id))
            .unwrap_or(0)
    }
}

/// Builder from [`ActorSystem::resolving`].
pub struct Resolving {
    system: ActorSystem,
    node: Option<NodeId>,
    policy: Option<Arc<dyn LoadBalancingPolicy>>,
    key: Option<Vec<u8>>,
    filter_alive: bool,
}

impl Resolving {
    pub(crate) fn new(system: ActorSystem) -> Self {
        Self {
            system,
            node: None,
            policy: None,
            key: None,
            filter_alive: true,
        }
    }

    /// Only the instance on this node.
    pub fn node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }

    /// How to pick among several instances (default: the first, this node's preferred).
    pub fn policy<P: LoadBalancingPolicy>(mut self, p: P) -> Self {
        self.policy = Some(Arc::new(p));
        self
    }

    /// Routing key for [`ConsistentHashPolicy`].
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(key.as_ref().to_vec());
        self
    }

    /// Skip instances on members not known alive (default true).
    pub fn filter_alive(mut self, on: bool) -> Self {
        self.filter_alive = on;
        self
    }

    async fn candidates(&self, name: &str) -> Result<Vec<NamedInstance>, PulsingError> {
        let mut v = self.system.instances(name)?;
        if let Some(n) = self.node {
            v.retain(|i| i.node_id == n);
        }
        if self.filter_alive {
            let alive: Vec<NodeId> = self
                .system
                .members()
                .await
                .into_iter()
                .filter(|m| m.status == MemberStatus::Alive)
                .map(|m| m.node_id)
                .collect();
            v.retain(|i| alive.contains(&i.node_id));
        }
        Ok(v)
    }

    /// One instance of `name`, chosen by the policy.
    pub async fn resolve(&self, name: &str) -> Result<ActorRef, PulsingError> {
        let c = self.candidates(name).await?;
        if c.is_empty() {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::ActorNotFound,
                format!("no live instance of {name}"),
            ));
        }
        let i = match &self.policy {
            Some(p) => p.select(&c, self.key.as_deref()).min(c.len() - 1),
            None => 0,
        };
        self.system.actor_ref(&c[i].actor_id).await
    }

    /// Every instance of `name` (empty when none).
    pub async fn list(&self, name: &str) -> Result<Vec<ActorRef>, PulsingError> {
        let mut out = Vec::new();
        for i in self.candidates(name).await? {
            out.push(self.system.actor_ref(&i.actor_id).await?);
        }
        Ok(out)
    }

    /// A ref resolved on first use and again after [`LAZY_TTL`] or a failed resolution.
    pub fn lazy(self, name: &str) -> Result<LazyRef, PulsingError> {
        crate::naming::normalize(name)?;
        Ok(LazyRef {
            name: name.to_string(),
            resolving: self,
            cached: Mutex::new(None),
            ttl: LAZY_TTL,
        })
    }
}

/// A ref that re-resolves its name when stale.
pub struct LazyRef {
    name: String,
    resolving: Resolving,
    cached: Mutex<Option<(ActorRef, Instant)>>,
    ttl: Duration,
}

impl LazyRef {
    /// The same lazy ref with another time-to-live.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The current ref, re-resolved when older than the TTL.
    pub async fn get(&self) -> Result<ActorRef, PulsingError> {
        if let Some((r, at)) = &*self.cached.lock() {
            if at.elapsed() < self.ttl {
                return Ok(r.clone());
            }
        }
        let r = self.resolving.resolve(&self.name).await?;
        *self.cached.lock() = Some((r.clone(), Instant::now()));
        Ok(r)
    }

    /// Forget the cached ref (after a call to it failed), so the next `get` re-resolves.
    pub fn invalidate(&self) {
        self.cached.lock().take();
    }
}
