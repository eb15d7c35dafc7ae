//! The actor system: spawns actors, keeps the registry of names, resolves refs, shuts down.
//!
//! `ActorSystem` is a cheap handle (an `Arc`); clones share one system. Shutdown stops
//! every actor (their `on_stop` runs) and answers queued callers with `Stopped`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::actor::{Actor, ActorId, NodeId};
pub use crate::actor_ref::ActorRef;
use crate::cell::{stopped, CellRun, Factory};
use crate::cluster::gossip::Liveness;
use crate::cluster::node::{Node, Subscribers};
use crate::cluster::queue::store::QueueStore;
use crate::cluster::ClusterConfig;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::mailbox::Envelope;
use crate::naming::{self, Registration, Registry};
use crate::stats::{ActorCounters, ActorStats};

mod actor_stats;
mod foreign;
pub use crate::spawning::{SpawnOptions, Spawning};

/// Default mailbox capacity of Rust actors.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 256;
/// Default time a call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` and shutdown let a message still being handled finish, unless set.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// A member of the cluster as this node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberInfo {
    /// The node.
    pub node_id: NodeId,
    /// Its address (`None` when standalone).
    pub addr: Option<String>,
    /// How alive it is.
    pub status: MemberStatus,
}

/// Liveness of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Answering probes.
    Alive,
    /// A probe round failed; it may still refute.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully.
    Leaving,
}

impl MemberStatus {
    /// Lower-case name, as the public API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Suspect => "suspect",
            Self::Dead => "dead",
            Self::Leaving => "leaving",
        }
    }
}

/// One instance of a named actor.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedInstance {
    /// The node.
    pub node_id: NodeId,
    /// The actor.
    pub actor_id: ActorId,
    /// Its metadata.
    pub metadata: HashMap<String, String>,
}

/// A name and every instance registered under it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedActorInfo {
    /// The normalised name.
    pub name: String,
    /// Every live instance, this node's first.
    pub instances: Vec<NamedInstance>,
}

struct CellHandle {
    sender: mpsc::Sender<Envelope>,
    /// A named cell's name and counters (anonymous actors are not counted).
    counted: Option<(String, Arc<ActorCounters>)>,
    stop_tx: watch::Sender<bool>,
    join: Option<JoinHandle<()>>,
}

struct Inner {
    node_id: NodeId,
    /// The cluster runtime, when this node listens (set once at build).
    cluster: OnceLock<Arc<Node>>,
    default_timeout: Duration,
    shutdown_timeout: Duration,
    mailbox_capacity: usize,
    /// Whether named actors are counted.
    actor_metrics: bool,
    /// Records of the queue buckets this node owns (served by the node when it listens).
    queues: Arc<QueueStore>,
    /// Topic subscribers on this node.
    subscribers: Arc<Subscribers>,
    next_local: AtomicU64,
    /// The HTTP gateway's client of this very node (made on its first call).
    http_client: tokio::sync::OnceCell<crate::connect::Connect>,
    registry: Mutex<Registry>,
    cells: Mutex<HashMap<u64, CellHandle>>,
    /// The figures of named actors hosted in JS, by name, as the binding last reported them.
    foreign_stats: Mutex<HashMap<String, ActorStats>>,
    shut_down: AtomicBool,
}

/// A handle to an actor system.
#[derive(Clone)]
pub struct ActorSystem {
    inner: Arc<Inner>,
}

/// A handle that does not keep the system alive (held by the cluster runtime).
#[derive(Clone)]
pub struct WeakSystem(Weak<Inner>);

impl WeakSystem {
    /// The system, if it still exists.
    pub fn upgrade(&self) -> Option<ActorSystem> {
        self.0.upgrade().map(|inner| ActorSystem { inner })
    }
}

/// Configures an [`ActorSystem`].
#[derive(Debug, Clone)]
pub struct ActorSystemBuilder {
    node_id: Option<NodeId>,
    cluster: Option<ClusterConfig>,
    default_timeout: Duration,
    shutdown_timeout: Duration,
    mailbox_capacity: usize,
    storage_path: Option<std::path::PathBuf>,
    actor_metrics: bool,
}

impl ActorSystemBuilder {
    /// Use a fixed node id (random by default).
    pub fn node_id(mut self, id: NodeId) -> Self {
        self.node_id = Some(id);
        self
    }
    /// Time a call may take unless it says otherwise (30 s by default).
    pub fn default_timeout(mut self, t: Duration) -> Self {
        self.default_timeout = t;
        self
    }
    /// How long `stop` and shutdown let a message still being handled finish before they
    /// cancel it (its caller gets `Stopped`); 2 s by default.
    pub fn shutdown_timeout(mut self, t: Duration) -> Self {
        self.shutdown_timeout = t;
        self
    }
    /// Whether named actors are counted (messages, errors, latency; on by default). Off, the
    /// node still reports its own figures; its actors' are left out of `/metrics`.
    pub fn actor_metrics(mut self, on: bool) -> Self {
        self.actor_metrics = on;
        self
    }
    /// Mailbox capacity of actors that do not set one (256 by default).
    pub fn mailbox_capacity(mut self, n: usize) -> Self {
        self.mailbox_capacity = n.max(1);
        self
    }
    /// Where this node keeps the queue buckets it owns with `disk` (default: a directory of
    /// its own, `node-<k>`, under `.pulsing/queues` in the working directory, the lowest `k`
    /// no other node holds). It is the owner's directory: a writer cannot name one on another
    /// node. The node locks it as it starts (a second node pointed at it fails to start, told
    /// which node holds it), and holds again the buckets it finds there (handing them to
    /// their owner if that is another node now).
    pub fn storage_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.storage_path = Some(path.into());
        self
    }
    /// Listen on `addr` (`host:port`, port 0 picks one) and join a cluster.
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        let bind = addr.into();
        let cfg = self
            .cluster
            .take()
            .unwrap_or_else(|| ClusterConfig::new(bind.clone()));
        self.cluster = Some(ClusterConfig { bind, ..cfg });
        self
    }
    /// Nodes to join through (needs [`ActorSystemBuilder::addr`]).
    pub fn seeds<I: IntoIterator<Item = S>, S: Into<String>>(mut self, seeds: I) -> Self {
        let cfg = self
            .cluster
            .get_or_insert_with(|| ClusterConfig::new("127.0.0.1:0"));
        cfg.seeds = seeds.into_iter().map(Into::into).collect();
        self
    }
    /// The address peers dial, when it differs from the bound one.
    pub fn advertise_addr(mut self, addr: impl Into<String>) -> Self {
        let cfg = self
            .cluster
            .get_or_insert_with(|| ClusterConfig::new("127.0.0.1:0"));
        cfg.advertise = Some(addr.into());
        self
    }
    /// Full cluster settings (timings included).
    pub fn cluster(mut self, cfg: ClusterConfig) -> Self {
        self.cluster = Some(cfg);
        self
    }
    /// Build the system. Must run inside a tokio runtime. With an address it binds and
    /// starts joining the cluster; the join completes in the background.
    pub async fn build(self) -> anyhow::Result<ActorSystem> {
        let node_id = self.node_id.unwrap_or_else(NodeId::random);
        let queues = Arc::new(match &self.storage_path {
            Some(p) => QueueStore::at(p),
            None => QueueStore::default(),
        });
        queues.set_holder(&node_id.to_string());
        // A client keeps nothing: its gateway's cluster does.
        let client = self.cluster.as_ref().is_some_and(|c| c.is_client());
        if !client {
            match queues.recover() {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(buckets = n, dir = %queues.root().display(), "queue buckets recovered from disk")
                }
                // A directory named for this node that another node holds: refuse to start
                // (two nodes writing one log would corrupt it).
                Err(e) if self.storage_path.is_some() => return Err(e.into()),
                // The node still serves; its disk puts fail with the same error, which names
                // the directory.
                Err(e) => tracing::warn!("queue buckets not recovered: {e}"),
            }
        }
        let system = ActorSystem {
            inner: Arc::new(Inner {
                node_id,
                cluster: OnceLock::new(),
                default_timeout: self.default_timeout,
                shutdown_timeout: self.shutdown_timeout,
                mailbox_capacity: self.mailbox_capacity,
                actor_metrics: self.actor_metrics,
                queues,
                subscribers: Arc::default(),
                next_local: AtomicU64::new(1),
                http_client: tokio::sync::OnceCell::new(),
                registry: Mutex::new(Registry::default()),
                cells: Mutex::new(HashMap::new()),
                foreign_stats: Mutex::new(HashMap::new()),
                shut_down: AtomicBool::new(false),
            }),
        };
        if let Some(cfg) = self.cluster {
            let node = Node::start(
                cfg,
                system.inner.node_id,
                Arc::new(system.downgrade()),
                (
                    system.inner.queues.clone(),
                    system.inner.subscribers.clone(),
                ),
            )
            .await?;
            let _ = system.inner.cluster.set(node);
        }
        Ok(system)
    }
}

impl ActorSystem {
    /// Start configuring a system.
    pub fn builder() -> ActorSystemBuilder {
        ActorSystemBuilder {
            node_id: None,
            cluster: None,
            default_timeout: DEFAULT_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            actor_metrics: true,
            storage_path: None,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The address peers dial (`None` when standalone).
    pub fn addr(&self) -> Option<&str> {
        self.inner.cluster.get().map(|n| n.addr())
    }

    /// The cluster runtime, when this node listens.
    pub fn cluster(&self) -> Option<&Arc<Node>> {
        self.inner.cluster.get()
    }

    /// A handle that does not keep the system alive.
    pub fn downgrade(&self) -> WeakSystem {
        WeakSystem(Arc::downgrade(&self.inner))
    }

    /// A ref to the Rust actor with this local id on this node.
    pub fn local_ref(&self, local: u64) -> Option<ActorRef> {
        let sender = self.inner.cells.lock().get(&local)?.sender.clone();
        Some(self.make_ref(
            ActorId {
                node: self.inner.node_id,
                local,
            },
            sender,
        ))
    }

    /// The time a call may take unless it says otherwise.
    pub fn default_timeout(&self) -> Duration {
        self.inner.default_timeout
    }

    /// Spawn an anonymous actor (reachable only through the returned ref).
    pub async fn spawn<A: Actor>(&self, actor: A) -> anyhow::Result<ActorRef> {
        Ok(self.spawning().spawn(actor).await?)
    }

    /// Spawn an actor under `name` (resolvable).
    pub async fn spawn_named<A: Actor>(&self, name: &str, actor: A) -> anyhow::Result<ActorRef> {
        Ok(self.spawning().name(name).spawn(actor).await?)
    }

    /// Spawn a named actor built by `factory`, so supervision can restart it.
    pub async fn spawn_named_factory<A, F>(
        &self,
        name: &str,
        factory: F,
        options: SpawnOptions,
    ) -> anyhow::Result<ActorRef>
    where
        A: Actor,
        F: FnMut() -> anyhow::Result<A> + Send + 'static,
    {
        let mut s = self.spawning().name(name).supervision(options.supervision);
        if let Some(n) = options.mailbox_capacity {
            s = s.mailbox_capacity(n);
        }
        Ok(s.spawn_factory(factory).await?)
    }

    /// A resolve builder: node, load-balancing policy, alive filter, list, lazy.
    pub fn resolving(&self) -> crate::resolving::Resolving {
        crate::resolving::Resolving::new(self.clone())
    }

    /// The records of the queue buckets this node owns.
    pub(crate) fn queue_store(&self) -> &Arc<QueueStore> {
        &self.inner.queues
    }

    /// This node's topic subscribers.
    pub(crate) fn subscribers(&self) -> &Arc<Subscribers> {
        &self.inner.subscribers
    }

    pub(crate) fn http_client(&self) -> &tokio::sync::OnceCell<crate::connect::Connect> {
        &self.inner.http_client
    }

    /// How long a stop lets a message still being handled finish.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.inner.shutdown_timeout
    }

    /// A spawn builder: name, supervision, mailbox capacity.
    pub fn spawning(&self) -> Spawning {
        Spawning {
            system: self.clone(),
            name: None,
            options: SpawnOptions::default(),
        }
    }

    /// A ref to the actor with this id, if it lives on this node.
    pub async fn actor_ref(&self, id: &ActorId) -> Result<ActorRef, PulsingError> {
        if id.node != self.inner.node_id {
            let node = self.cluster().filter(|n| {
                matches!(
                    n.member(id.node).map(|m| m.liveness),
                    Some(Liveness::Alive | Liveness::Suspect)
                )
            });
            return match node {
                Some(n) => Ok(ActorRef::remote(*id, n.clone(), self.inner.default_timeout)),
                None => Err(PulsingError::runtime(
                    RuntimeErrorKind::NodeNotFound,
                    format!("node {} is not a live member of this cluster", id.node),
                )),
            };
        }
        let cells = self.inner.cells.lock();
        let cell = cells.get(&id.local).ok_or_else(|| {
            PulsingError::runtime(RuntimeErrorKind::ActorNotFound, format!("no actor {id}"))
        })?;
        Ok(self.make_ref(*id, cell.sender.clone()))
    }

    /// A ref to the actor registered under `name`.
    pub async fn resolve(&self, name: &str) -> Result<ActorRef, PulsingError> {
        let full = naming::normalize(name)?;
        let reg = self.inner.registry.lock().get(&full).cloned();
        match reg {
            Some(reg) => self
                .actor_ref(&reg.actor_id)
                .await
                .map_err(|e| match e.kind() {
                    Some(RuntimeErrorKind::ActorNotFound) => PulsingError::Unsupported {
                        operation: format!(
                            "resolving {full}: it is hosted outside Rust on this node"
                        ),
                    },
                    _ => e,
                }),
            None => {
                let remote = self
                    .cluster()
                    .and_then(|n| n.remote_instances(&full).into_iter().next());
                match remote {
                    Some(e) => {
                        self.actor_ref(&ActorId {
                            node: e.node,
                            local: e.local,
                        })
                        .await
                    }
                    None => Err(PulsingError::runtime(
                        RuntimeErrorKind::ActorNotFound,
                        format!("no actor named {full}"),
                    )),
                }
            }
        }
    }

    /// Every live instance of `name` in the cluster: this node's first, then others by node.
    pub fn instances(&self, name: &str) -> Result<Vec<NamedInstance>, PulsingError> {
        let full = naming::normalize(name)?;
        let mut out: Vec<NamedInstance> = self
            .inner
            .registry
            .lock()
            .get(&full)
            .map(|r| NamedInstance {
                node_id: self.inner.node_id,
                actor_id: r.actor_id,
                metadata: r.metadata.clone(),
            })
            .into_iter()
            .collect();
        if let Some(n) = self.cluster() {
            out.extend(
                n.remote_instances(&full)
                    .into_iter()
                    .map(|e| NamedInstance {
                        node_id: e.node,
                        actor_id: ActorId {
                            node: e.node,
                            local: e.local,
                        },
                        metadata: e.metadata.into_iter().collect(),
                    }),
            );
        }
        Ok(out)
    }

    /// The registration of `name`, whatever hosts it.
    pub fn lookup(&self, name: &str) -> Result<Option<Registration>, PulsingError> {
        let full = naming::normalize(name)?;
        Ok(self.inner.registry.lock().get(&full).cloned())
    }

    /// Members of the cluster, this node included.
    pub async fn members(&self) -> Vec<MemberInfo> {
        match self.cluster() {
            None => vec![MemberInfo {
                node_id: self.inner.node_id,
                addr: None,
                status: MemberStatus::Alive,
            }],
            Some(n) => n
                .members()
                .into_iter()
                .map(|m| MemberInfo {
                    node_id: m.node,
                    addr: Some(m.addr),
                    status: match m.liveness {
                        Liveness::Alive => MemberStatus::Alive,
                        Liveness::Suspect => MemberStatus::Suspect,
                        Liveness::Dead => MemberStatus::Dead,
                        Liveness::Left => MemberStatus::Leaving,
                    },
                })
                .collect(),
        }
    }

    /// Every named actor with its instances.
    pub async fn all_named_actors(&self) -> Vec<NamedActorInfo> {
        let node = self.inner.node_id;
        let mut by_name: std::collections::BTreeMap<String, Vec<NamedInstance>> =
            Default::default();
        for (name, reg) in self.inner.registry.lock().iter() {
            by_name
                .entry(name.clone())
                .or_default()
                .push(NamedInstance {
                    node_id: node,
                    actor_id: reg.actor_id,
                    metadata: reg.metadata.clone(),
                });
        }
        if let Some(n) = self.cluster() {
            for e in n.remote_names() {
                by_name
                    .entry(e.name.clone())
                    .or_default()
                    .push(NamedInstance {
                        node_id: e.node,
                        actor_id: ActorId {
                            node: e.node,
                            local: e.local,
                        },
                        metadata: e.metadata.into_iter().collect(),
                    });
            }
        }
        by_name
            .into_iter()
            .map(|(name, instances)| NamedActorInfo { name, instances })
            .collect()
    }

    /// Stop the actor registered under `name` and wait until it has stopped (its `on_stop`
    /// ran). The name can be spawned again afterwards.
    pub async fn stop(&self, name: &str) -> Result<(), PulsingError> {
        let full = naming::normalize(name)?;
        let reg = self
            .inner
            .registry
            .lock()
            .get(&full)
            .cloned()
            .ok_or_else(|| {
                PulsingError::runtime(
                    RuntimeErrorKind::ActorNotFound,
                    format!("no actor named {full}"),
                )
            })?;
        let join = {
            let mut cells = self.inner.cells.lock();
            match cells.get_mut(&reg.actor_id.local) {
                Some(cell) => {
                    let _ = cell.stop_tx.send(true);
                    cell.join.take()
                }
                // Hosted outside Rust: dropping the name is all the core can do.
                None => {
                    self.inner.registry.lock().remove_if(&full, reg.actor_id);
                    self.name_changed(&full);
                    None
                }
            }
        };
        if let Some(j) = join {
            let _ = j.await;
        }
        Ok(())
    }

    /// Stop every actor and refuse new spawns. Idempotent.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.inner.shut_down.store(true, Ordering::SeqCst);
        let joins: Vec<JoinHandle<()>> = {
            let mut cells = self.inner.cells.lock();
            cells
                .values_mut()
                .filter_map(|c| {
                    let _ = c.stop_tx.send(true);
                    c.join.take()
                })
                .collect()
        };
        for j in joins {
            let _ = j.await;
        }
        if let Some(n) = self.cluster() {
            n.shutdown(self.inner.shutdown_timeout).await;
        }
        if let Some(c) = self.inner.http_client.get() {
            c.shut().await;
        }
        // Another system (this node restarted in the same process) may use the directory.
        self.inner.queues.close();
        // Subscriptions end, so nothing waits on them (a started TS reader lets go).
        self.inner.subscribers.close_all();
        Ok(())
    }

    /// Whether `shutdown` has been called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.load(Ordering::SeqCst)
    }

    /// Tell the cluster that the registration of `full` changed (or vanished).
    pub(crate) fn name_changed(&self, full: &str) {
        if let Some(n) = self.cluster() {
            let reg = self.inner.registry.lock().get(full).cloned();
            n.publish_name(full, reg.as_ref());
        }
    }

    /// Register `full` (normalised, `system/` allowed: no actor behind it) for this node.
    pub(crate) fn registry_insert(
        &self,
        full: &str,
        reg: Registration,
    ) -> Result<(), PulsingError> {
        self.inner.registry.lock().insert(full.to_string(), reg)?;
        self.name_changed(full);
        Ok(())
    }

    /// Drop this node's registration of `full`, whatever it points at.
    pub(crate) fn withdraw(&self, full: &str) {
        let reg = self.inner.registry.lock().get(full).cloned();
        if let Some(reg) = reg {
            if self.inner.registry.lock().remove_if(full, reg.actor_id) {
                self.name_changed(full);
            }
        }
    }

    pub(crate) fn local_id(&self, local: u64) -> ActorId {
        ActorId {
            node: self.inner.node_id,
            local,
        }
    }

    pub(crate) fn check_open(&self) -> Result<(), PulsingError> {
        if self.is_shut_down() {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Stopped,
                "the actor system is shut down",
            ));
        }
        Ok(())
    }

    fn make_ref(&self, id: ActorId, sender: mpsc::Sender<Envelope>) -> ActorRef {
        ActorRef::local(id, sender, self.inner.default_timeout)
    }

    pub(crate) fn publish_metadata(
        &self,
        name: &str,
        id: ActorId,
        metadata: HashMap<String, String>,
    ) {
        self.inner.registry.lock().replace(
            name.to_string(),
            Registration {
                actor_id: id,
                metadata,
            },
        );
        self.name_changed(name);
    }

    pub(crate) fn forget_cell(&self, id: ActorId, name: Option<&str>) {
        if let Some(n) = name {
            if self.inner.registry.lock().remove_if(n, id) {
                self.name_changed(n);
            }
        }
        self.inner.cells.lock().remove(&id.local);
    }

    pub(crate) async fn spawn_cell(
        &self,
        name: Option<String>,
        first: Option<Box<dyn Actor>>,
        factory: Option<Factory>,
        options: SpawnOptions,
    ) -> Result<ActorRef, PulsingError> {
        self.check_open()?;
        let full = name
            .as_deref()
            .map(naming::normalize_for_spawn)
            .transpose()?;
        let local = self.reserve_local_ids(1);
        let id = ActorId {
            node: self.inner.node_id,
            local,
        };
        if let Some(n) = &full {
            self.inner.registry.lock().insert(
                n.clone(),
                Registration {
                    actor_id: id,
                    metadata: HashMap::new(),
                },
            )?;
            self.name_changed(n);
        }
        let capacity = options
            .mailbox_capacity
            .unwrap_or(self.inner.mailbox_capacity)
            .max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let counted = full
            .clone()
            .filter(|_| self.inner.actor_metrics)
            .map(|n| (n, Arc::new(ActorCounters::default())));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (started_tx, started_rx) = oneshot::channel();
        let run = CellRun {
            system: self.clone(),
            id,
            name: full,
            first,
            factory,
            spec: options.supervision,
            counters: counted.as_ref().map(|(_, c)| c.clone()),
            rx,
            stop_rx,
            started: Some(started_tx),
        };
        // Insert before the task runs so a crash on start can find (and remove) its cell.
        self.inner.cells.lock().insert(
            local,
            CellHandle {
                sender: tx.clone(),
                counted,
                stop_tx,
                join: None,
            },
        );
        let join = tokio::spawn(run.run());
        if let Some(cell) = self.inner.cells.lock().get_mut(&local) {
            cell.join = Some(join);
        }
        match started_rx.await {
            Ok(Ok(())) => Ok(self.make_ref(id, tx)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(stopped(id)),
        }
    }
}
