//! [`Connect`]: call the actors of a cluster from a process that is not one of its nodes.
//!
//! A connector dials one of the cluster's nodes (its gateway) and sends every call there; the
//! gateway relays each one to the node hosting the actor, streams and errors included. The
//! connector joins no gossip, opens no port, hosts no actors and never appears among the
//! members, so short-lived callers (web handlers, CLIs, jobs) cause no membership churn.
//!
//! With several gateways, the connector uses one at a time. When it dies, the calls in flight
//! on it fail at once with `ConnectionFailed`, and the next call dials the next gateway.
//!
//! ```no_run
//! use pulsing_actor::connect::Connect;
//! # async fn f() -> Result<(), pulsing_actor::error::PulsingError> {
//! let conn = Connect::to(["10.0.1.1:8080", "10.0.1.2:8080"]).await?;
//! let calc = conn.resolve("services/calc").await?;
//! let product: i64 = calc.call("multiply", (6, 7)).await?; // a TypeScript actor's method
//! conn.close().await;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::actor::ActorId;
use crate::cluster::node::{Node, Resolved, GATEWAY};
use crate::cluster::{ClusterConfig, Topology};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::message::Message;
use crate::system::{ActorRef, ActorSystem};
use crate::transport::frame::Target;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The cluster's passphrase: the connector authenticates like a node (mutual TLS from
    /// the same derivation). Without it, the gateway must run without one too.
    pub passphrase: Option<String>,
    /// How long connecting to a gateway may take, all gateways together (5 s by default).
    pub connect_timeout: Duration,
    /// The timeout of calls made through refs from this connector (30 s by default).
    pub call_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            passphrase: None,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// A connection to a cluster through its gateways.
pub struct Connect {
    system: ActorSystem,
    node: Arc<Node>,
    call_timeout: Duration,
}

impl Connect {
    /// Connect through the first of `gateways` (`host:port` of cluster nodes) that answers.
    pub async fn to<I, S>(gateways: I) -> Result<Connect, PulsingError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Connect::with_options(gateways, ConnectOptions::default()).await
    }

    /// [`Connect::to`] with a passphrase and timeouts.
    pub async fn with_options<I, S>(
        gateways: I,
        opts: ConnectOptions,
    ) -> Result<Connect, PulsingError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cfg = ClusterConfig::new("");
        cfg.topology = Topology::Client {
            gateways: gateways.into_iter().map(Into::into).collect(),
        };
        cfg.passphrase = opts.passphrase;
        let system = ActorSystem::builder()
            .default_timeout(opts.call_timeout)
            .cluster(cfg)
            .build()
            .await
            .map_err(|e| match e.downcast::<PulsingError>() {
                Ok(pe) => pe,
                Err(other) => PulsingError::runtime(RuntimeErrorKind::Config, format!("{other:#}")),
            })?;
        let node = system
            .cluster()
            .expect("a client system has a node")
            .clone();
        if let Err(e) = node.client_open(opts.connect_timeout).await {
            let _ = system.shutdown().await;
            return Err(e);
        }
        Ok(Connect {
            system,
            node,
            call_timeout: opts.call_timeout,
        })
    }

    /// A ref to the actor named `name`, wherever it lives in the cluster (an error of kind
    /// `ActorNotFound` when no node has it).
    pub async fn resolve(&self, name: &str) -> Result<ActorRef, PulsingError> {
        let r: Resolved = self
            .node
            .ask_gateway("resolve", (name,), self.call_timeout)
            .await?;
        let id: ActorId = r.actor_id.parse()?;
        Ok(ActorRef::remote(id, self.node.clone(), self.call_timeout))
    }

    /// Spawn an instance of the TypeScript actor class `class_name` on the gateway (the
    /// class must be registered there: its module called `remote()` for it), with
    /// constructor arguments `args` (a tuple or a `Vec`), optionally under `name`.
    pub async fn spawn<A: Serialize>(
        &self,
        class_name: &str,
        args: A,
        name: Option<&str>,
    ) -> Result<ActorRef, PulsingError> {
        let msg = Message::call("spawn", (class_name, args, name))
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        let target = Target::Name("system/spawner".into());
        let id: String = self
            .node
            .ask_target(GATEWAY, target, msg, self.call_timeout)
            .await?
            .unpack()?;
        Ok(ActorRef::remote(
            id.parse()?,
            self.node.clone(),
            self.call_timeout,
        ))
    }

    /// Replace the gateway list with the cluster's live members (as the current gateway
    /// sees them) and return it: a gateway that came back, or a new node, is used from the
    /// next failover on.
    pub async fn refresh_gateways(&self) -> Result<Vec<String>, PulsingError> {
        self.node.refresh_gateways(self.call_timeout).await
    }

    /// Queues of the cluster, written and read through the gateway (it places the buckets).
    pub fn queues(&self) -> crate::queue::Queues {
        self.system.queues()
    }

    /// Topics of the cluster, through the gateway: it publishes for this client, and
    /// subscribes for it and streams the messages here.
    pub fn topics(&self) -> crate::topic::Topics {
        self.system.topics()
    }

    /// The address of the gateway in use (`None` between a failure and the next call).
    pub fn gateway(&self) -> Option<String> {
        self.node.gateway().map(|(_, addr)| addr)
    }

    /// The gateway addresses, in the order they are tried.
    pub fn gateways(&self) -> Vec<String> {
        self.node.gateways()
    }

    /// The client-mode system underneath (the binding drives its transport directly).
    #[doc(hidden)]
    pub fn into_system(self) -> ActorSystem {
        self.system
    }

    /// The client-mode node (the HTTP gateway sends through it).
    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// [`Connect::close`] through a shared reference (boxed: a system's shutdown shuts its
    /// HTTP gateway's client down, which is a system too).
    pub(crate) fn shut(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.system.shutdown().await;
        })
    }

    /// Close the connection: calls still in flight fail with `Stopped`.
    pub async fn close(self) {
        let _ = self.system.shutdown().await;
    }
}
