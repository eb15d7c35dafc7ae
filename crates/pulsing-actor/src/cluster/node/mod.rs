//! The node runtime: one bound port, the links to peers, SWIM, the name book, outgoing calls
//! and the requests it serves. Each job has its own module and its own state:
//!
//! | module | job | state |
//! |---|---|---|
//! | `links` | accept, dial, the two lanes per peer, connection limits | `links::Links` |
//! | `swim` | probes, suspicion, push-pull, proving members | `swim::Swim` |
//! | `name_sync` | this node's names, digests, chunked deltas | `name_sync::NameSync` |
//! | `head` | head-node mode (heartbeats, expiry) | `head::HeadState` |
//! | `calls` | calls this node makes from Rust | `calls::Calls` |
//! | `serve` | requests this node serves to Rust actors | `serve::Serve` |
//! | `relay` | clients' requests for actors on other nodes (gateway) | `relay::Relays` |
//! | `gateway` | what a node serves clients itself (`system/gateway`) | |
//! | `queues` | the queue buckets this node owns (`system/queue`) | `queue::store::QueueStore` |
//! | `topics` | this node's topic subscribers (`system/topic`) | `topics::Subscribers` |
//! | `client` | client mode (`Connect`): the gateway link and failover | `client::Client` |
//! | `host_api` | frames the foreign host sends, built here | |
//!
//! Routing: a request for an actor hosted in Rust runs on that actor's mailbox; anything
//! else on this node (TypeScript actors, `system/*` services of the host) goes to the
//! registered `ForeignHost` untouched. Replies are matched by request id, and accepted
//! only from the node the request went to: ids with `RUST_REQ_BIT` set belong to Rust
//! callers, the rest to the foreign host. A client (a peer that is not a member) asking for
//! a name hosted elsewhere, or for an actor on another node (`Target::Remote`), is relayed
//! to the hosting node. A node in client mode binds nothing and sends everything to its
//! gateway.

mod calls;
mod client;
mod credit;
mod gateway;
mod head;
mod host_api;
mod links;
mod name_sync;
mod queue_replicas;
mod queues;
mod relay;
mod seeds;
mod serve;
mod stats;
mod swim;
mod topic_outbox;
mod topics;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::config::{ClusterConfig, Topology};
use super::faults::Faults;
use super::foreign::{ForeignEvent, ForeignHost};
use super::gossip::{Gossip, Liveness, MemberState, NameEntry};
use super::local::LocalActors;
use super::queue::store::QueueStore;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::transport::conn::{ConnHandle, FrameSink};
use crate::transport::frame::{Frame, Header};
use crate::transport::tls::{self, TlsSetup};

pub use crate::protocol::{RUST_REQ_BIT, STREAM_WINDOW};
pub use client::GATEWAY;
pub use gateway::{GatewayMember, Resolved, SERVICE as GATEWAY_SERVICE};
#[doc(hidden)]
pub use host_api::AnswerKind;
pub use links::HttpSlot;
pub(crate) use queues::{
    check_dead_letters, check_get, check_name, check_placement, check_visibility, check_wanted,
    DescribeArgs, GetArgs, GroupAckArgs, GroupGetArgs, GroupNackArgs, PutArgs,
};
pub use queues::{
    dead_letters_of, Got, MAX_GET as QUEUE_MAX_GET, MAX_NACK_DELAY_MS as QUEUE_MAX_NACK_DELAY_MS,
    MAX_PUT as QUEUE_MAX_PUT, SERVICE as QUEUE_SERVICE,
};
pub use stats::SERVICE as STATS_SERVICE;
pub use topic_outbox::MAX_BATCH as TOPIC_MAX_BATCH;
pub use topics::{Delivery, Subscribers, SERVICE as TOPIC_SERVICE, SUBSCRIBER_BUFFER};

/// One node of the cluster.
pub struct Node {
    /// The runtime the node started on: sends can come from threads outside it (JS).
    rt: tokio::runtime::Handle,
    me: NodeId,
    addr: String,
    cfg: ClusterConfig,
    local: Arc<dyn LocalActors>,
    this: Weak<Node>,
    links: links::Links,
    swim: swim::Swim,
    names: name_sync::NameSync,
    head: head::HeadState,
    calls: calls::Calls,
    serve: serve::Serve,
    relays: relay::Relays,
    /// Set in client mode (`Topology::Client`).
    client: Option<client::Client>,
    /// Records of the queue buckets this node holds.
    queues: Arc<QueueStore>,
    /// Buckets being taken over.
    claims: queues::Claims,
    /// Topic subscribers on this node.
    subscribers: Arc<topics::Subscribers>,
    /// Topic deliveries waiting to leave, per node.
    outboxes: topic_outbox::Outboxes,
    foreign: RwLock<Option<Arc<dyn ForeignHost>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
    /// Shutting down gracefully: handing its queue buckets over, owning none any more.
    leaving: AtomicBool,
    faults: Faults,
    tls: Option<TlsSetup>,
    /// Protected mode: accept peers from loopback only.
    loopback_only: bool,
}

impl Node {
    /// Bind, start the loops, and begin joining through the seeds.
    pub(crate) async fn start(
        cfg: ClusterConfig,
        me: NodeId,
        local: Arc<dyn LocalActors>,
        (queues, subscribers): (Arc<QueueStore>, Arc<topics::Subscribers>),
    ) -> Result<Arc<Node>, PulsingError> {
        cfg.validate()?;
        let tls = match &cfg.passphrase {
            // The KDF is slow on purpose: keep it off the runtime's worker threads.
            Some(p) => {
                let p = p.clone();
                Some(
                    tokio::task::spawn_blocking(move || tls::setup(&p))
                        .await
                        .map_err(|e| {
                            PulsingError::runtime(RuntimeErrorKind::Tls, e.to_string())
                        })??,
                )
            }
            None => None,
        };
        if let Topology::Client { gateways } = &cfg.topology {
            // A client binds nothing and starts no loop: frames go out on the gateway link.
            let client = client::Client::new(gateways.clone());
            return Ok(Self::new(
                (cfg, me, String::new()),
                (local, queues, subscribers),
                tls,
                false,
                Some(client),
            ));
        }
        let listener = TcpListener::bind(&cfg.bind).await.map_err(|e| {
            PulsingError::runtime(
                RuntimeErrorKind::Io,
                format!("cannot bind {}: {e}", cfg.bind),
            )
        })?;
        let bound: SocketAddr = listener
            .local_addr()
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Io, e.to_string()))?;
        let addr = match &cfg.advertise {
            Some(a) => a.clone(),
            None => bound.to_string(),
        };
        let exposed = !bound.ip().is_loopback();
        let loopback_only = tls.is_none() && exposed && !cfg.insecure;
        if loopback_only {
            tracing::warn!("listening on {bound} without a passphrase: protected mode, peers are accepted from loopback only (set a passphrase, or insecure: true to accept anyone)");
        } else if tls.is_none() && exposed {
            tracing::warn!("listening on {bound} without a passphrase and with insecure: true: anyone who can reach it can join and call actors");
        }
        if exposed && cfg.advertise.is_none() && bound.ip().is_unspecified() {
            tracing::warn!(
                "bound {bound} (all interfaces) without advertiseAddr: peers will dial {addr}"
            );
        }
        let node = Self::new(
            (cfg, me, addr),
            (local, queues, subscribers),
            tls,
            loopback_only,
            None,
        );
        let n = node.clone();
        let accept = tokio::spawn(async move { n.accept_loop(listener).await });
        let n = node.clone();
        let probe = tokio::spawn(async move { n.probe_loop().await });
        let n = node.clone();
        let sync = tokio::spawn(async move { n.sync_loop().await });
        let n = node.clone();
        let queues = tokio::spawn(async move { n.queue_sweep_loop().await });
        node.tasks.lock().extend([accept, probe, sync, queues]);
        Ok(node)
    }

    fn new(
        (cfg, me, addr): (ClusterConfig, NodeId, String),
        (local, queues, subscribers): (
            Arc<dyn LocalActors>,
            Arc<QueueStore>,
            Arc<topics::Subscribers>,
        ),
        tls: Option<TlsSetup>,
        loopback_only: bool,
        client: Option<client::Client>,
    ) -> Arc<Node> {
        Arc::new_cyclic(|this| Node {
            rt: tokio::runtime::Handle::current(),
            me,
            swim: swim::Swim::new(me, addr.clone()),
            addr,
            cfg,
            local,
            this: this.clone(),
            links: links::Links::default(),
            names: name_sync::NameSync::default(),
            head: head::HeadState::default(),
            calls: calls::Calls::default(),
            serve: serve::Serve::default(),
            relays: relay::Relays::default(),
            client,
            queues,
            claims: Default::default(),
            subscribers,
            outboxes: Default::default(),
            foreign: RwLock::new(None),
            tasks: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            faults: Faults::default(),
            tls,
            loopback_only,
        })
    }

    /// The address peers dial.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The fault plan of this node (tests: partition, delay, drop).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Register the host of foreign actors.
    #[doc(hidden)]
    pub fn set_foreign_host(&self, host: Arc<dyn ForeignHost>) {
        *self.foreign.write() = Some(host);
    }

    fn deliver(&self, ev: ForeignEvent) {
        if let Some(h) = self.foreign.read().clone() {
            h.deliver(ev);
        }
    }

    /// Members not known to be gone and found at their address, this node included.
    pub fn members(&self) -> Vec<MemberState> {
        let m = self.swim.membership.lock();
        m.all()
            .into_iter()
            .filter(|s| matches!(s.liveness, Liveness::Alive | Liveness::Suspect))
            .filter(|s| m.is_proven(s.node))
            .collect()
    }

    /// Every member this node knows of, whatever its liveness (this node included).
    pub fn all_members(&self) -> Vec<MemberState> {
        self.swim.membership.lock().all()
    }

    /// The cluster's passphrase, if it has one.
    pub fn passphrase(&self) -> Option<&str> {
        self.cfg.passphrase.as_deref()
    }

    /// Calls this node sent and waits for.
    pub fn pending_calls(&self) -> usize {
        self.calls.pending_len()
    }

    /// The state of `node`, if known.
    pub fn member(&self, node: NodeId) -> Option<MemberState> {
        self.swim.membership.lock().get(node).cloned()
    }

    /// Nodes whose names can be resolved: live, and found at their address.
    fn trusted_nodes(&self) -> Vec<NodeId> {
        self.members()
            .into_iter()
            .map(|m| m.node)
            .filter(|n| *n != self.me)
            .collect()
    }

    /// Live registrations of `name` on other nodes.
    pub fn remote_instances(&self, name: &str) -> Vec<NameEntry> {
        let live = self.trusted_nodes();
        self.names
            .book
            .lock()
            .instances(name)
            .into_iter()
            .filter(|e| live.contains(&e.node))
            .collect()
    }

    /// Every live registration on other nodes.
    pub fn remote_names(&self) -> Vec<NameEntry> {
        let live = self.trusted_nodes();
        self.names
            .book
            .lock()
            .live()
            .into_iter()
            .filter(|e| live.contains(&e.node))
            .collect()
    }

    fn on_conn_frame(&self, c: &Arc<ConnHandle>, f: Frame) {
        // Closed here (a refused Hello, a protocol violation): nothing more read on it is
        // served, even what arrived in the same read.
        if c.is_closed() {
            return;
        }
        if !matches!(f.header, Header::Hello { .. }) && self.faults.drop_incoming(c.peer()) {
            return;
        }
        match f.header {
            Header::Hello {
                node,
                ref addr,
                bulk,
                to,
            } => self.on_hello(c, node, addr, bulk, to),
            // A client takes no part in gossip.
            Header::Gossip if self.client.is_some() => {}
            Header::Gossip => match Gossip::decode(&f.body) {
                Ok(g) => self.on_gossip(c, g),
                Err(e) => {
                    self.links.warn_once(
                        &c.remote,
                        "gossip",
                        format!("closing connection {} from {}: {e}", c.id, c.remote),
                    );
                    c.close();
                    self.on_conn_close(c);
                }
            },
            Header::Ask { .. } | Header::Tell { .. } => self.on_request(c, f),
            Header::Credit { .. } | Header::Cancel { .. } => self.on_flow(c, f),
            Header::Reply { .. }
            | Header::Error { .. }
            | Header::StreamItem { .. }
            | Header::StreamEnd { .. }
            | Header::StreamItems { .. } => self.on_response(c, f),
            Header::Keepalive => {}
        }
    }

    fn on_conn_close(&self, c: &Arc<ConnHandle>) {
        self.links.forget(c);
        self.serve.conn_closed(c.id);
        self.calls.conn_closed(c.id);
        self.relay_conn_closed(c.id);
        self.client_conn_closed(c);
        self.deliver(ForeignEvent::ConnClosed(c.id));
    }

    /// Stop abruptly, without telling anyone: the others must detect the failure. For tests
    /// of failure detection (a crash inside one process).
    #[doc(hidden)]
    pub fn halt_without_leave(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.serve.clear();
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        for c in self.links.drain() {
            c.close();
        }
    }

    /// Leave gracefully: hand the queue buckets this node keeps to the members that keep
    /// them next (within `handover`; what is left is logged), tell every member, flush, close
    /// everything.
    pub(crate) async fn shutdown(&self, handover: Duration) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        if self.client().is_none() && !self.leaving.swap(true, Ordering::SeqCst) {
            self.hand_over_all(handover).await;
        }
        let me = self.swim.membership.lock().leave();
        let leave = Gossip::Sync {
            members: vec![me],
            digest: vec![],
            reply: false,
        };
        for m in self.members() {
            if m.node != self.me {
                let _ = self.send_gossip_to(m.node, &leave);
            }
        }
        self.stopped.store(true, Ordering::SeqCst);
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        for c in self.links.drain() {
            c.drain_and_close(Duration::from_millis(500)).await;
        }
        self.calls.fail_all(PulsingError::runtime(
            RuntimeErrorKind::Stopped,
            "the actor system is shut down",
        ));
    }
}

/// A weak route from connections back to their node (connections must not keep it alive).
struct SinkRef(Weak<Node>);

impl FrameSink for SinkRef {
    fn on_frame(&self, conn: &Arc<ConnHandle>, frame: Frame) {
        if let Some(n) = self.0.upgrade() {
            n.on_conn_frame(conn, frame);
        }
    }
    fn on_close(&self, conn: &Arc<ConnHandle>, reason: Option<String>) {
        if let Some(n) = self.0.upgrade() {
            if let Some(why) = reason {
                // One kind of close per host a minute: the reason up to its first colon.
                let what = why.split(':').next().unwrap_or("close").to_string();
                n.links.warn_once(
                    &conn.remote,
                    &what,
                    format!(
                        "closing connection {} ({}, peer {:?}): {why}",
                        conn.id,
                        conn.remote,
                        conn.peer()
                    ),
                );
            }
            n.on_conn_close(conn);
        }
    }
    fn lend(&self, conn: &Arc<ConnHandle>) -> bool {
        let Some(n) = self.0.upgrade() else {
            return false;
        };
        let host = n.foreign.read().clone();
        host.is_some_and(|h| h.borrow_reads(conn))
    }
}
