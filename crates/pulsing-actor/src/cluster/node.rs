//! The node runtime: accepts and dials connections, runs SWIM probes and push-pull sync,
//! keeps the cluster view of names, and routes requests and replies.
//!
//! Routing: a request for an actor hosted in Rust runs on that actor's mailbox; anything
//! else on this node (TypeScript actors, `system/*` services of the host) goes to the
//! registered [`ForeignHost`] untouched. Replies are matched by request id: ids with
//! [`RUST_REQ_BIT`] set belong to Rust callers, the rest to the foreign host.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::faults::{Faults, Verdict};
use super::gossip::{Gossip, Liveness, MemberState, NameEntry, Update};
use super::membership::{Change, Membership};
use super::names::ClusterNames;
use crate::actor::{ActorId, NodeId};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::message::Message;
use crate::naming::Registration;
use crate::system::{ActorRef, WeakSystem};
use crate::transport::conn::{self, BoxStream, ConnHandle, FrameSink};
use crate::transport::frame::{Frame, Header, Target, WireError, DEFAULT_MAX_BODY};
use crate::transport::tls::{self, TlsSetup};

/// Request ids of Rust callers have this bit set; the foreign host uses the others.
pub const RUST_REQ_BIT: u64 = 1 << 52;
/// Items a stream producer may send ahead of the consumer.
pub const STREAM_WINDOW: u32 = 32;

/// How a node learns about the others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topology {
    /// SWIM among peers, joined through seeds (the default).
    #[default]
    Gossip,
    /// The head of a head-node cluster: workers report to it, it tells them everything.
    Head,
    /// A worker of the head at this address: heartbeats to it, takes its view.
    Worker { head: String },
}

/// Cluster settings. Every time-based value is configurable; the defaults suit a LAN.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Address to bind (`host:port`, port 0 picks one).
    pub bind: String,
    /// Address peers dial, when it differs from the bound one.
    pub advertise: Option<String>,
    /// Nodes to join through.
    pub seeds: Vec<String>,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub suspicion_timeout: Duration,
    pub sync_interval: Duration,
    pub indirect_probes: usize,
    pub max_body: usize,
    /// Mutual TLS for the whole cluster, from this shared secret (see `transport::tls`).
    pub passphrase: Option<String>,
    /// Frames whose payload exceeds this go on the peer's bulk lane.
    pub bulk_threshold: usize,
    /// Gossip among peers, or head-node mode.
    pub topology: Topology,
    /// Large bodies and attachments are written in chunks of this size.
    pub chunk_bytes: usize,
}

impl ClusterConfig {
    /// Defaults for a node binding `bind`.
    pub fn new(bind: impl Into<String>) -> Self {
        Self {
            bind: bind.into(),
            advertise: None,
            seeds: Vec::new(),
            probe_interval: Duration::from_millis(300),
            probe_timeout: Duration::from_millis(150),
            suspicion_timeout: Duration::from_millis(900),
            sync_interval: Duration::from_millis(500),
            indirect_probes: 3,
            max_body: DEFAULT_MAX_BODY,
            passphrase: None,
            bulk_threshold: 64 * 1024,
            topology: Topology::Gossip,
            chunk_bytes: 1024 * 1024,
        }
    }
}

/// What the transport hands to the host of foreign (non-Rust) actors.
#[derive(Debug)]
pub enum ForeignEvent {
    /// A request (`Ask`, `Tell`, `Credit`, `Cancel`) for something the host serves.
    /// `local` is the target's local id when known (0 otherwise, see `name`).
    Request {
        conn: u32,
        header: Header,
        local: u64,
        name: Option<String>,
        body: Bytes,
        attachments: Vec<Bytes>,
    },
    /// A reply frame for a request the host sent.
    Response {
        header: Header,
        body: Bytes,
        attachments: Vec<Bytes>,
    },
    /// A node was declared dead or left: fail what is pending on it.
    NodeDown(NodeId),
}

/// The host of foreign actors (the JS binding implements it).
pub trait ForeignHost: Send + Sync + 'static {
    /// Deliver an event; must not block.
    fn deliver(&self, event: ForeignEvent);
}

enum PeerLink {
    Dialing(mpsc::UnboundedSender<Frame>),
    Connected(Arc<ConnHandle>),
}

enum Pending {
    Waiting(NodeId, oneshot::Sender<Result<Message, PulsingError>>),
    Streaming(NodeId, mpsc::UnboundedSender<Result<Message, PulsingError>>),
}

/// A probe relayed for another node: who asked, their sequence number, and since when.
type Relay = (Arc<ConnHandle>, u64, Instant);

impl Pending {
    /// Answer the caller with `err`, whether it awaits a reply or consumes a stream.
    fn fail(self, err: PulsingError) {
        match self {
            Pending::Waiting(_, tx) => {
                let _ = tx.send(Err(err));
            }
            Pending::Streaming(_, tx) => {
                let _ = tx.send(Err(err));
            }
        }
    }
}

struct Serving {
    credits: Arc<Semaphore>,
    task: Option<tokio::task::AbortHandle>,
}

/// One node of the cluster.
pub struct Node {
    /// The runtime the node started on: sends can come from threads outside it (JS).
    rt: tokio::runtime::Handle,
    me: NodeId,
    addr: String,
    cfg: ClusterConfig,
    system: WeakSystem,
    this: Weak<Node>,
    membership: Mutex<Membership>,
    names: Mutex<ClusterNames>,
    my_names: Mutex<HashMap<String, NameEntry>>,
    name_version: AtomicU64,
    /// Links per (peer, bulk lane?): large frames take their own connection so probes and
    /// small calls never queue behind them.
    peers: Mutex<HashMap<(NodeId, bool), PeerLink>>,
    conns: Mutex<HashMap<u32, Arc<ConnHandle>>>,
    next_conn: AtomicU32,
    next_seq: AtomicU64,
    next_req: AtomicU64,
    acks: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    relays: Mutex<HashMap<u64, Relay>>,
    pending: Mutex<HashMap<u64, Pending>>,
    serving: Mutex<HashMap<(u32, u64), Serving>>,
    /// Per connection, requests for Rust actors in arrival order (see `on_request`).
    inbound: Mutex<HashMap<u32, mpsc::UnboundedSender<(ActorRef, Frame)>>>,
    foreign: RwLock<Option<Arc<dyn ForeignHost>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
    faults: Faults,
    tls: Option<TlsSetup>,
    /// When each repeated warning was last logged (a peer retrying must not flood the log).
    warned: Mutex<HashMap<String, Instant>>,
    /// Head mode: when each worker last reported.
    heartbeats: Mutex<HashMap<NodeId, Instant>>,
    /// Worker mode: the connection to the head.
    head_link: Mutex<Option<Arc<ConnHandle>>>,
}

fn wire_err(kind: RuntimeErrorKind, message: impl Into<String>) -> WireError {
    WireError::from(&PulsingError::runtime(kind, message))
}

impl Node {
    /// Bind, start the loops, and begin joining through the seeds.
    pub(crate) async fn start(
        cfg: ClusterConfig,
        me: NodeId,
        system: WeakSystem,
    ) -> Result<Arc<Node>, PulsingError> {
        let listener = TcpListener::bind(&cfg.bind).await.map_err(|e| {
            PulsingError::runtime(
                RuntimeErrorKind::Io,
                format!("cannot bind {}: {e}", cfg.bind),
            )
        })?;
        let local: SocketAddr = listener
            .local_addr()
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Io, e.to_string()))?;
        let addr = match &cfg.advertise {
            Some(a) => a.clone(),
            None => local.to_string(),
        };
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
        if tls.is_none() && !local.ip().is_loopback() {
            tracing::warn!("listening on {local} without a passphrase: anyone who can reach it can join and call actors");
        }
        if !local.ip().is_loopback() && cfg.advertise.is_none() && local.ip().is_unspecified() {
            tracing::warn!(
                "bound {local} (all interfaces) without advertiseAddr: peers will dial {addr}"
            );
        }
        let node = Arc::new_cyclic(|this| Node {
            rt: tokio::runtime::Handle::current(),
            me,
            addr: addr.clone(),
            membership: Mutex::new(Membership::new(me, addr.clone())),
            cfg,
            system,
            this: this.clone(),
            names: Mutex::new(ClusterNames::default()),
            my_names: Mutex::new(HashMap::new()),
            name_version: AtomicU64::new(1),
            peers: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU32::new(1),
            next_seq: AtomicU64::new(1),
            next_req: AtomicU64::new(1),
            acks: Mutex::new(HashMap::new()),
            relays: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            serving: Mutex::new(HashMap::new()),
            inbound: Mutex::new(HashMap::new()),
            foreign: RwLock::new(None),
            tasks: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            faults: Faults::default(),
            tls,
            warned: Mutex::new(HashMap::new()),
            heartbeats: Mutex::new(HashMap::new()),
            head_link: Mutex::new(None),
        });
        let n = node.clone();
        let accept = tokio::spawn(async move { n.accept_loop(listener).await });
        let n = node.clone();
        let probe = tokio::spawn(async move { n.probe_loop().await });
        let n = node.clone();
        let sync = tokio::spawn(async move { n.sync_loop().await });
        node.tasks.lock().extend([accept, probe, sync]);
        Ok(node)
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
    pub fn set_foreign_host(&self, host: Arc<dyn ForeignHost>) {
        *self.foreign.write() = Some(host);
    }

    /// Members not known to be gone, this node included.
    pub fn members(&self) -> Vec<MemberState> {
        self.membership
            .lock()
            .all()
            .into_iter()
            .filter(|m| matches!(m.liveness, Liveness::Alive | Liveness::Suspect))
            .collect()
    }

    /// The state of `node`, if known.
    pub fn member(&self, node: NodeId) -> Option<MemberState> {
        self.membership.lock().get(node).cloned()
    }

    /// Live registrations of `name` on other nodes.
    pub fn remote_instances(&self, name: &str) -> Vec<NameEntry> {
        let live: Vec<NodeId> = self.members().iter().map(|m| m.node).collect();
        self.names
            .lock()
            .instances(name)
            .into_iter()
            .filter(|e| live.contains(&e.node))
            .collect()
    }

    /// Every live registration on other nodes.
    pub fn remote_names(&self) -> Vec<NameEntry> {
        let live: Vec<NodeId> = self.members().iter().map(|m| m.node).collect();
        self.names
            .lock()
            .all()
            .into_iter()
            .filter(|e| !e.tombstone && live.contains(&e.node))
            .collect()
    }

    /// A name on this node changed (registered, moved, metadata, or dropped): gossip it.
    pub(crate) fn publish_name(&self, name: &str, reg: Option<&Registration>) {
        let version = self.name_version.fetch_add(1, Ordering::Relaxed);
        let entry = NameEntry {
            name: name.to_string(),
            node: self.me,
            local: reg.map(|r| r.actor_id.local).unwrap_or(0),
            metadata: reg
                .map(|r| {
                    let mut v: Vec<(String, String)> = r.metadata.clone().into_iter().collect();
                    v.sort();
                    v
                })
                .unwrap_or_default(),
            version,
            tombstone: reg.is_none(),
        };
        self.my_names.lock().insert(name.to_string(), entry.clone());
        self.membership.lock().enqueue(Update::Name(entry));
    }

    // --- sending -----------------------------------------------------------------------

    /// Queue a frame for `node`, dialing it if needed. Frames queued while dialing wait.
    pub fn send_to(&self, node: NodeId, frame: Frame) -> Result<(), PulsingError> {
        if node == self.me {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                "a node does not send frames to itself",
            ));
        }
        if self.stopped.load(Ordering::Relaxed) {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Stopped,
                "the actor system is shut down",
            ));
        }
        match self.faults.outgoing(node) {
            Verdict::Pass => self.send_to_now(node, frame),
            Verdict::Drop => Ok(()),
            Verdict::Delay(d) => {
                let this = self.this.upgrade().expect("node alive while sending");
                self.rt.spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = this.send_to_now(node, frame);
                });
                Ok(())
            }
        }
    }

    fn send_to_now(&self, node: NodeId, frame: Frame) -> Result<(), PulsingError> {
        let bulk = frame.payload_len() > self.cfg.bulk_threshold;
        let link = (node, bulk);
        let mut peers = self.peers.lock();
        match peers.get(&link) {
            Some(PeerLink::Connected(c)) if !c.is_closed() => {
                c.send(frame);
                return Ok(());
            }
            Some(PeerLink::Dialing(tx)) => {
                let _ = tx.send(frame);
                return Ok(());
            }
            _ => {}
        }
        let addr = self
            .membership
            .lock()
            .get(node)
            .filter(|m| matches!(m.liveness, Liveness::Alive | Liveness::Suspect))
            .map(|m| m.addr.clone())
            .ok_or_else(|| {
                PulsingError::runtime(
                    RuntimeErrorKind::NodeNotFound,
                    format!("node {node} is not a live member"),
                )
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(frame);
        peers.insert(link, PeerLink::Dialing(tx.clone()));
        drop(peers);
        let this = self.this.upgrade().expect("node alive while sending");
        self.rt
            .spawn(async move { this.dial(link, addr, tx, rx).await });
        Ok(())
    }

    /// Send a frame on a given connection (replies go back where the request came from).
    pub fn send_on(&self, conn: u32, frame: Frame) -> bool {
        let c = self.conns.lock().get(&conn).cloned();
        if let Some(peer) = c.as_ref().and_then(|c| c.peer()) {
            if self.faults.outgoing(peer) == Verdict::Drop {
                return true;
            }
            // A large reply takes the peer's bulk lane (replies are matched by request id,
            // whatever connection they arrive on).
            if frame.payload_len() > self.cfg.bulk_threshold {
                return self.send_to(peer, frame).is_ok();
            }
        }
        c.map(|c| c.send(frame)).unwrap_or(false)
    }

    async fn dial(
        self: Arc<Self>,
        link: (NodeId, bool),
        addr: String,
        tx: mpsc::UnboundedSender<Frame>,
        rx: mpsc::UnboundedReceiver<Frame>,
    ) {
        let (node, bulk) = link;
        match self.connect(&addr).await {
            Ok(stream) => {
                let c = self.open_conn(stream, Some((tx, rx)), bulk);
                c.set_peer(node);
                self.peers.lock().insert(link, PeerLink::Connected(c));
            }
            Err(why) => {
                tracing::debug!(%node, %addr, "dial failed: {why}");
                self.peers.lock().remove(&link);
                drop(tx);
                self.fail_queued(node, rx, &why);
            }
        }
    }

    /// Log `msg` as a warning at most once a minute per `key`; repeats go to debug.
    fn warn_once(&self, key: &str, msg: String) {
        let host = key
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(key)
            .to_string();
        let now = Instant::now();
        let mut warned = self.warned.lock();
        let fresh = warned
            .get(&host)
            .is_none_or(|t| now.duration_since(*t) > Duration::from_secs(60));
        if fresh {
            warned.insert(host, now);
            tracing::warn!("{msg}");
        } else {
            tracing::debug!("{msg}");
        }
    }

    /// Dial `addr`: TCP, then the TLS handshake when the cluster has a passphrase.
    async fn connect(&self, addr: &str) -> Result<BoxStream, String> {
        let within = Duration::from_secs(2);
        let tcp = match tokio::time::timeout(within, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("connect timed out".into()),
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(t) => {
                match tokio::time::timeout(within, t.connector.connect(t.server_name.clone(), tcp))
                    .await
                {
                    Ok(Ok(s)) => Ok(Box::new(s)),
                    Ok(Err(e)) => {
                        self.warn_once(addr, format!("TLS handshake with {addr} failed: {e}"));
                        Err(format!("TLS handshake failed: {e}"))
                    }
                    Err(_) => Err("TLS handshake timed out".into()),
                }
            }
        }
    }

    /// Frames that could not be sent: requests among them fail with `ConnectionFailed`.
    fn fail_queued(&self, node: NodeId, mut rx: mpsc::UnboundedReceiver<Frame>, why: &str) {
        while let Ok(f) = rx.try_recv() {
            if let Header::Ask { req, .. } = f.header {
                let err = wire_err(
                    RuntimeErrorKind::ConnectionFailed,
                    format!("cannot reach node {node}: {why}"),
                );
                self.on_response(Frame::bare(Header::Error { req, error: err }));
            }
        }
    }

    fn open_conn(
        &self,
        stream: BoxStream,
        queue: Option<(mpsc::UnboundedSender<Frame>, mpsc::UnboundedReceiver<Frame>)>,
        bulk: bool,
    ) -> Arc<ConnHandle> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let sink: Arc<dyn FrameSink> = Arc::new(SinkRef(self.this.clone()));
        let hello = Frame::bare(Header::Hello {
            node: self.me,
            addr: self.addr.clone(),
            bulk,
        });
        let c = conn::start(
            stream,
            id,
            sink,
            self.cfg.max_body,
            self.cfg.chunk_bytes,
            queue,
            vec![hello],
        );
        if self.stopped.load(Ordering::Relaxed) {
            // A task still running after shutdown must not bring the node back.
            c.close();
            return c;
        }
        self.conns.lock().insert(id, c.clone());
        c
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    if self.stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let _ = stream.set_nodelay(true);
                    match &self.tls {
                        None => {
                            self.open_conn(Box::new(stream), None, false);
                        }
                        Some(t) => {
                            let acceptor = t.acceptor.clone();
                            let this = self.clone();
                            let peer = stream
                                .peer_addr()
                                .map(|a| a.to_string())
                                .unwrap_or_default();
                            tokio::spawn(async move {
                                match tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream)).await {
                                    Ok(Ok(s)) => {
                                        this.open_conn(Box::new(s), None, false);
                                    }
                                    Ok(Err(e)) => this.warn_once(&peer, format!("refused a connection from {peer}: TLS handshake failed: {e}")),
                                    Err(_) => this.warn_once(&peer, format!("refused a connection from {peer}: TLS handshake timed out")),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    // --- membership loops --------------------------------------------------------------

    async fn probe_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.cfg.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            match self.cfg.topology {
                Topology::Gossip => {}
                // A worker watches no one: the head tells it who is gone.
                Topology::Worker { .. } => continue,
                Topology::Head => {
                    self.expire_workers();
                    continue;
                }
            }
            let target = self.membership.lock().probe_target();
            if let Some(t) = target {
                let this = self.clone();
                // Each probe round runs on its own so a slow one never delays the next tick.
                tokio::spawn(async move { this.probe(t).await });
            }
            let dead = self
                .membership
                .lock()
                .expire_suspects(self.cfg.suspicion_timeout, Instant::now());
            for d in dead {
                self.on_gone(d.node);
            }
            let stale = Instant::now() - self.cfg.probe_interval * 4;
            self.relays.lock().retain(|_, (_, _, at)| *at > stale);
        }
    }

    async fn probe(self: Arc<Self>, t: MemberState) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = oneshot::channel();
        self.acks.lock().insert(seq, tx);
        let updates = self.membership.lock().piggyback(8);
        let sent = self.send_to(
            t.node,
            Frame::bare(Header::Gossip(Gossip::Ping { seq, updates })),
        );
        let direct = sent.is_ok()
            && tokio::time::timeout(self.cfg.probe_timeout, &mut rx)
                .await
                .is_ok();
        if !direct {
            let helpers = self
                .membership
                .lock()
                .helpers(t.node, self.cfg.indirect_probes);
            for h in helpers {
                let updates = self.membership.lock().piggyback(8);
                let _ = self.send_to(
                    h.node,
                    Frame::bare(Header::Gossip(Gossip::PingReq {
                        seq,
                        target: t.node,
                        target_addr: t.addr.clone(),
                        updates,
                    })),
                );
            }
            let rest = self
                .cfg
                .probe_interval
                .saturating_sub(self.cfg.probe_timeout)
                .max(self.cfg.probe_timeout);
            if tokio::time::timeout(rest, &mut rx).await.is_err() {
                let change = self.membership.lock().suspect(t.node, Instant::now());
                if let Change::Updated(s) = change {
                    tracing::info!(node = %s.node, "member suspect");
                }
            }
        }
        self.acks.lock().remove(&seq);
    }

    async fn sync_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.cfg.sync_interval);
        loop {
            tick.tick().await;
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            match &self.cfg.topology {
                Topology::Gossip => {}
                // The head waits for its workers' reports.
                Topology::Head => continue,
                Topology::Worker { head } => {
                    let head = head.clone();
                    self.clone().heartbeat(head).await;
                    continue;
                }
            }
            // One round in four also goes to a member believed dead, if any: after a
            // partition heals, this is how the two sides learn of each other again.
            let dead = if rand::random_ratio(1, 4) {
                self.membership.lock().dead_member()
            } else {
                None
            };
            if let Some(d) = dead {
                let msg = self.sync_message(true);
                let this = self.clone();
                tokio::spawn(async move { this.sync_with_addr(d.addr, msg).await });
            }
            let target = self.membership.lock().probe_target();
            let msg = self.sync_message(true);
            match target {
                Some(t) => {
                    let _ = self.send_to(t.node, msg);
                }
                // Not joined yet: go through the seeds.
                None => {
                    for seed in self.cfg.seeds.clone() {
                        if seed == self.addr {
                            continue;
                        }
                        let this = self.clone();
                        let msg = msg.clone();
                        tokio::spawn(async move { this.sync_with_addr(seed, msg).await });
                    }
                }
            }
        }
    }

    /// Worker mode: report to the head (our state, our names) and ask for its view. An
    /// unreachable head changes nothing here: the worker keeps its view and tries again.
    async fn heartbeat(self: Arc<Self>, head: String) {
        let link = self.head_link.lock().clone().filter(|c| !c.is_closed());
        let link = match link {
            Some(c) => c,
            None => match self.connect(&head).await {
                Ok(stream) => {
                    let c = self.open_conn(stream, None, false);
                    *self.head_link.lock() = Some(c.clone());
                    c
                }
                Err(why) => {
                    tracing::debug!(%head, "head not reachable: {why}");
                    return;
                }
            },
        };
        link.send(self.sync_message(true));
    }

    /// Head mode: a worker silent for longer than the suspicion timeout plus two heartbeats
    /// is dead.
    fn expire_workers(&self) {
        let limit = self.cfg.suspicion_timeout + self.cfg.sync_interval * 2;
        let now = Instant::now();
        let silent: Vec<MemberState> = {
            let beats = self.heartbeats.lock();
            self.membership
                .lock()
                .all()
                .into_iter()
                .filter(|m| {
                    m.node != self.me && matches!(m.liveness, Liveness::Alive | Liveness::Suspect)
                })
                .filter(|m| {
                    beats
                        .get(&m.node)
                        .is_none_or(|t| now.duration_since(*t) > limit)
                })
                .collect()
        };
        for m in silent {
            tracing::info!(node = %m.node, "worker stopped reporting");
            self.apply_member(MemberState {
                liveness: Liveness::Dead,
                ..m
            });
        }
    }

    async fn sync_with_addr(self: Arc<Self>, addr: String, msg: Frame) {
        match self.connect(&addr).await {
            Ok(stream) => {
                let c = self.open_conn(stream, None, false);
                c.send(msg);
                // A one-off exchange: close it after the answer unless it became the link
                // to that peer, so repeated attempts do not pile up connections.
                tokio::time::sleep(self.cfg.sync_interval * 4).await;
                let kept = c.peer().is_some_and(|p| {
                    matches!(self.peers.lock().get(&(p, false)), Some(PeerLink::Connected(x)) if x.id == c.id)
                });
                if !kept {
                    self.conns.lock().remove(&c.id);
                    c.drain_and_close(Duration::from_millis(100)).await;
                }
            }
            Err(why) => tracing::debug!(%addr, "not reachable: {why}"),
        }
    }

    fn sync_message(&self, reply: bool) -> Frame {
        let members = self.membership.lock().all();
        let mut names: Vec<NameEntry> = self.my_names.lock().values().cloned().collect();
        names.extend(self.names.lock().all());
        Frame::bare(Header::Gossip(Gossip::Sync {
            members,
            names,
            reply,
        }))
    }

    fn apply_updates(&self, updates: Vec<Update>) {
        for u in updates {
            match u {
                Update::Member(m) => self.apply_member(m),
                Update::Name(e) => self.apply_name(e),
            }
        }
    }

    fn apply_member(&self, m: MemberState) {
        let change = self.membership.lock().apply(m, Instant::now());
        if let Change::Updated(s) = change {
            if matches!(s.liveness, Liveness::Dead | Liveness::Left) {
                self.on_gone(s.node);
            }
        }
    }

    fn apply_name(&self, e: NameEntry) {
        if e.node == self.me {
            return;
        }
        let gone = matches!(
            self.membership.lock().get(e.node).map(|m| m.liveness),
            Some(Liveness::Dead | Liveness::Left)
        );
        if gone {
            return;
        }
        if self.names.lock().merge(e.clone()) {
            self.membership.lock().enqueue(Update::Name(e));
        }
    }

    /// A node died or left: drop its names and links, fail what waits on it.
    fn on_gone(&self, node: NodeId) {
        tracing::info!(%node, "member gone");
        self.names.lock().remove_node(node);
        for lane in [false, true] {
            if let Some(PeerLink::Connected(c)) = self.peers.lock().remove(&(node, lane)) {
                c.close();
            }
        }
        let failed: Vec<Pending> = {
            let mut p = self.pending.lock();
            let ids: Vec<u64> = p
                .iter()
                .filter(|(_, v)| match v {
                    Pending::Waiting(n, _) | Pending::Streaming(n, _) => *n == node,
                })
                .map(|(k, _)| *k)
                .collect();
            ids.into_iter().filter_map(|k| p.remove(&k)).collect()
        };
        for p in failed {
            let err =
                PulsingError::runtime(RuntimeErrorKind::NodeDown, format!("node {node} is down"));
            p.fail(err);
        }
        if let Some(h) = self.foreign.read().clone() {
            h.deliver(ForeignEvent::NodeDown(node));
        }
    }

    // --- requests ----------------------------------------------------------------------

    /// Ask an actor on another node from Rust.
    pub(crate) async fn ask(
        &self,
        target: ActorId,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, PulsingError> {
        let (tag, body) = match msg {
            Message::Single { msg_type, data } => (msg_type, data),
            Message::Stream(_) => {
                return Err(PulsingError::Unsupported {
                    operation: "sending a stream as a request".into(),
                })
            }
        };
        let req = RUST_REQ_BIT | self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .insert(req, Pending::Waiting(target.node, tx));
        let frame = Frame {
            header: Header::Ask {
                req,
                target: Target::Local(target.local),
                tag,
            },
            body,
            attachments: Vec::new(),
        };
        if let Err(e) = self.send_to(target.node, frame) {
            self.pending.lock().remove(&req);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(PulsingError::runtime(
                RuntimeErrorKind::Stopped,
                "the node is shutting down",
            )),
            Err(_) => {
                self.pending.lock().remove(&req);
                let _ = self.send_to(target.node, Frame::bare(Header::Cancel { req }));
                Err(PulsingError::Timeout {
                    operation: format!("ask {target}"),
                    duration_ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// Tell an actor on another node from Rust.
    pub(crate) fn tell(&self, target: ActorId, msg: Message) -> Result<(), PulsingError> {
        let Message::Single { msg_type, data } = msg else {
            return Err(PulsingError::Unsupported {
                operation: "sending a stream as a tell".into(),
            });
        };
        self.send_to(
            target.node,
            Frame {
                header: Header::Tell {
                    target: Target::Local(target.local),
                    tag: msg_type,
                },
                body: data,
                attachments: Vec::new(),
            },
        )
    }

    fn on_response(&self, f: Frame) {
        let req = match &f.header {
            Header::Reply { req, .. }
            | Header::Error { req, .. }
            | Header::StreamItem { req, .. }
            | Header::StreamEnd { req, .. } => *req,
            _ => return,
        };
        if req & RUST_REQ_BIT == 0 {
            if let Some(h) = self.foreign.read().clone() {
                h.deliver(ForeignEvent::Response {
                    header: f.header,
                    body: f.body,
                    attachments: f.attachments,
                });
            }
            return;
        }
        let mut pending = self.pending.lock();
        let Some(p) = pending.remove(&req) else {
            return;
        };
        match (p, f.header) {
            (Pending::Waiting(_, tx), Header::Reply { tag, .. }) => {
                let _ = tx.send(Ok(Message::single(tag, f.body)));
            }
            (Pending::Waiting(_, tx), Header::Error { error, .. }) => {
                let _ = tx.send(Err(PulsingError::from(&error)));
            }
            (Pending::Waiting(node, tx), Header::StreamItem { tag, .. }) => {
                let (stx, srx) = mpsc::unbounded_channel();
                let _ = stx.send(Ok(Message::single(tag, f.body)));
                pending.insert(req, Pending::Streaming(node, stx));
                let credit_node = self.this.clone();
                let stream =
                    futures::stream::unfold((srx, credit_node), move |(mut rx, n)| async move {
                        let item = rx.recv().await?;
                        if let Some(n) = n.upgrade() {
                            let _ = n.send_to(node, Frame::bare(Header::Credit { req, n: 1 }));
                        }
                        Some((item, (rx, n)))
                    });
                let _ = tx.send(Ok(Message::stream(stream)));
            }
            (Pending::Waiting(_, tx), Header::StreamEnd { .. }) => {
                let _ = tx.send(Ok(Message::stream(futures::stream::empty())));
            }
            (Pending::Streaming(node, stx), Header::StreamItem { tag, .. }) => {
                let _ = stx.send(Ok(Message::single(tag, f.body)));
                pending.insert(req, Pending::Streaming(node, stx));
            }
            (Pending::Streaming(_, stx), Header::Error { error, .. }) => {
                let _ = stx.send(Err(PulsingError::from(&error)));
            }
            (Pending::Streaming(..), _) => {}
            (Pending::Waiting(..), _) => {}
        }
    }

    fn on_request(&self, c: &Arc<ConnHandle>, f: Frame) {
        let (req, target) = match &f.header {
            Header::Ask { req, target, .. } => (Some(*req), target.clone()),
            Header::Tell { target, .. } => (None, target.clone()),
            _ => return,
        };
        let Some(system) = self.system.upgrade() else {
            return;
        };
        let (local, name) = match &target {
            Target::Local(id) => (*id, None),
            Target::Name(n) if n.starts_with("system/") => (0, Some(n.clone())),
            Target::Name(n) => match system.lookup(n) {
                Ok(Some(reg)) => (reg.actor_id.local, Some(n.clone())),
                _ => {
                    self.reply_error(
                        c,
                        req,
                        wire_err(
                            RuntimeErrorKind::ActorNotFound,
                            format!("no actor named {n} on node {}", self.me),
                        ),
                    );
                    return;
                }
            },
        };
        match system.local_ref(local) {
            Some(r) => {
                // Requests from one connection enter mailboxes in the order they arrived:
                // one worker per connection enqueues them; only the waits for replies run
                // concurrently.
                let mut inbound = self.inbound.lock();
                let tx = inbound.entry(c.id).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let this = self.this.upgrade().expect("node alive");
                    tokio::spawn(this.inbound_worker(c.clone(), rx));
                    tx
                });
                let _ = tx.send((r, f));
            }
            None => match self.foreign.read().clone() {
                Some(h) => h.deliver(ForeignEvent::Request {
                    conn: c.id,
                    header: f.header,
                    local,
                    name,
                    body: f.body,
                    attachments: f.attachments,
                }),
                None => self.reply_error(
                    c,
                    req,
                    wire_err(
                        RuntimeErrorKind::ActorNotFound,
                        format!("no actor {}:{local}", self.me),
                    ),
                ),
            },
        }
    }

    async fn inbound_worker(
        self: Arc<Self>,
        c: Arc<ConnHandle>,
        mut rx: mpsc::UnboundedReceiver<(ActorRef, Frame)>,
    ) {
        while let Some((r, f)) = rx.recv().await {
            match f.header {
                Header::Tell { tag, .. } => {
                    if let Err(e) = r.tell_message(Message::single(tag, f.body)).await {
                        tracing::warn!("dropping a tell for a stopped actor: {e}");
                    }
                }
                Header::Ask { req, tag, .. } => {
                    let credits = Arc::new(Semaphore::new(STREAM_WINDOW as usize));
                    let reply = match r.enqueue_ask(Message::single(tag, f.body)).await {
                        Ok(rx) => rx,
                        Err(e) => {
                            self.reply_error(&c, Some(req), WireError::from(&e));
                            continue;
                        }
                    };
                    self.serving.lock().insert(
                        (c.id, req),
                        Serving {
                            credits: credits.clone(),
                            task: None,
                        },
                    );
                    let this = self.clone();
                    let conn = c.clone();
                    let task = tokio::spawn(async move {
                        let result = match reply.await {
                            Ok(r) => r,
                            Err(_) => Err(PulsingError::runtime(
                                RuntimeErrorKind::Stopped,
                                "the actor stopped",
                            )),
                        };
                        this.send_result(&conn, req, result, credits).await;
                        this.serving.lock().remove(&(conn.id, req));
                    });
                    if let Some(s) = self.serving.lock().get_mut(&(c.id, req)) {
                        s.task = Some(task.abort_handle());
                    }
                }
                _ => {}
            }
        }
    }

    async fn send_result(
        &self,
        c: &Arc<ConnHandle>,
        req: u64,
        result: Result<Message, PulsingError>,
        credits: Arc<Semaphore>,
    ) {
        match result {
            Ok(Message::Single { msg_type, data }) => {
                c.send(Frame::new(Header::Reply { req, tag: msg_type }, data));
            }
            Ok(Message::Stream(mut s)) => {
                while let Some(item) = s.next().await {
                    match item {
                        Ok(Message::Single { msg_type, data }) => {
                            // One credit per item: a slow consumer slows the producer.
                            match credits.acquire().await {
                                Ok(p) => p.forget(),
                                Err(_) => return,
                            }
                            c.send(Frame::new(Header::StreamItem { req, tag: msg_type }, data));
                        }
                        Ok(Message::Stream(_)) => {
                            self.reply_error(
                                c,
                                Some(req),
                                wire_err(
                                    RuntimeErrorKind::Serialization,
                                    "a stream item cannot itself be a stream",
                                ),
                            );
                            return;
                        }
                        Err(e) => {
                            self.reply_error(c, Some(req), WireError::from(&e));
                            return;
                        }
                    }
                }
                c.send(Frame::bare(Header::StreamEnd {
                    req,
                    tag: String::new(),
                }));
            }
            Err(e) => self.reply_error(c, Some(req), WireError::from(&e)),
        }
    }

    fn reply_error(&self, c: &Arc<ConnHandle>, req: Option<u64>, error: WireError) {
        match req {
            Some(req) => {
                c.send(Frame::bare(Header::Error { req, error }));
            }
            None => tracing::warn!("dropping a tell: {}", error.message),
        }
    }

    fn on_flow(&self, c: &Arc<ConnHandle>, f: Frame) {
        let (req, credit) = match &f.header {
            Header::Credit { req, n } => (*req, Some(*n)),
            Header::Cancel { req } => (*req, None),
            _ => return,
        };
        let mut serving = self.serving.lock();
        if let Some(s) = serving.get(&(c.id, req)) {
            match credit {
                Some(n) => s.credits.add_permits(n as usize),
                None => {
                    if let Some(t) = &s.task {
                        t.abort();
                    }
                    serving.remove(&(c.id, req));
                }
            }
            return;
        }
        drop(serving);
        if let Some(h) = self.foreign.read().clone() {
            h.deliver(ForeignEvent::Request {
                conn: c.id,
                header: f.header,
                local: 0,
                name: None,
                body: f.body,
                attachments: f.attachments,
            });
        }
    }

    fn on_gossip(&self, c: &Arc<ConnHandle>, g: Gossip) {
        match g {
            Gossip::Ping { seq, updates } => {
                self.apply_updates(updates);
                let updates = self.membership.lock().piggyback(8);
                c.send(Frame::bare(Header::Gossip(Gossip::Ack { seq, updates })));
            }
            Gossip::Ack { seq, updates } => {
                self.apply_updates(updates);
                if let Some(tx) = self.acks.lock().remove(&seq) {
                    let _ = tx.send(());
                }
                if let Some((origin, their_seq, _)) = self.relays.lock().remove(&seq) {
                    origin.send(Frame::bare(Header::Gossip(Gossip::Ack {
                        seq: their_seq,
                        updates: vec![],
                    })));
                }
            }
            Gossip::PingReq {
                seq,
                target,
                target_addr,
                updates,
            } => {
                self.apply_updates(updates);
                let my_seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                self.relays
                    .lock()
                    .insert(my_seq, (c.clone(), seq, Instant::now()));
                let ping = Frame::bare(Header::Gossip(Gossip::Ping {
                    seq: my_seq,
                    updates: vec![],
                }));
                if self.send_to(target, ping).is_err() {
                    tracing::debug!(%target, %target_addr, "cannot relay a probe to an unknown member");
                }
            }
            Gossip::Sync {
                members,
                names,
                reply,
            } => {
                if self.cfg.topology == Topology::Head {
                    if let Some(peer) = c.peer() {
                        self.heartbeats.lock().insert(peer, Instant::now());
                    }
                }
                for m in members {
                    self.apply_member(m);
                }
                for n in names {
                    self.apply_name(n);
                }
                if reply {
                    c.send(self.sync_message(false));
                }
            }
        }
    }

    fn on_conn_frame(&self, c: &Arc<ConnHandle>, f: Frame) {
        if !matches!(f.header, Header::Hello { .. }) && self.faults.drop_incoming(c.peer()) {
            return;
        }
        match f.header {
            Header::Hello {
                node,
                ref addr,
                bulk,
            } => {
                c.set_peer(node);
                let mut peers = self.peers.lock();
                let link = (node, bulk);
                let usable =
                    matches!(peers.get(&link), Some(PeerLink::Connected(old)) if !old.is_closed());
                if !usable && !matches!(peers.get(&link), Some(PeerLink::Dialing(_))) {
                    peers.insert(link, PeerLink::Connected(c.clone()));
                }
                tracing::debug!(%node, %addr, conn = c.id, "hello");
            }
            Header::Gossip(g) => self.on_gossip(c, g),
            Header::Ask { .. } | Header::Tell { .. } => self.on_request(c, f),
            Header::Credit { .. } | Header::Cancel { .. } => self.on_flow(c, f),
            Header::Reply { .. }
            | Header::Error { .. }
            | Header::StreamItem { .. }
            | Header::StreamEnd { .. } => self.on_response(f),
        }
    }

    fn on_conn_close(&self, c: &Arc<ConnHandle>) {
        self.conns.lock().remove(&c.id);
        self.inbound.lock().remove(&c.id);
        // Streams this connection was consuming are abandoned.
        self.serving.lock().retain(|(conn, _), s| {
            if *conn == c.id {
                if let Some(t) = &s.task {
                    t.abort();
                }
                false
            } else {
                true
            }
        });
        if let Some(node) = c.peer() {
            let mut peers = self.peers.lock();
            for lane in [false, true] {
                if matches!(peers.get(&(node, lane)), Some(PeerLink::Connected(x)) if x.id == c.id)
                {
                    peers.remove(&(node, lane));
                }
            }
        }
    }

    /// Stop abruptly, without telling anyone: the others must detect the failure. For tests
    /// of failure detection (a crash inside one process).
    #[doc(hidden)]
    pub fn halt_without_leave(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.inbound.lock().clear();
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.peers.lock().clear();
        for (_, c) in self.conns.lock().drain() {
            c.close();
        }
    }

    /// Leave gracefully: tell every member, flush, close everything.
    pub(crate) async fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.membership.lock().leave();
        let leave = Frame::bare(Header::Gossip(Gossip::Sync {
            members: vec![me],
            names: vec![],
            reply: false,
        }));
        for m in self.members() {
            if m.node != self.me {
                let _ = self.send_to(m.node, leave.clone());
            }
        }
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.peers.lock().clear();
        let conns: Vec<Arc<ConnHandle>> = self.conns.lock().drain().map(|(_, c)| c).collect();
        for c in conns {
            c.drain_and_close(Duration::from_millis(500)).await;
        }
        let pending: Vec<Pending> = self.pending.lock().drain().map(|(_, p)| p).collect();
        for p in pending {
            let err =
                PulsingError::runtime(RuntimeErrorKind::Stopped, "the actor system is shut down");
            p.fail(err);
        }
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
                n.warn_once(
                    &why,
                    format!(
                        "closing connection {} (peer {:?}): {why}",
                        conn.id,
                        conn.peer()
                    ),
                );
            }
            n.on_conn_close(conn);
        }
    }
}

impl From<&PulsingError> for WireError {
    fn from(e: &PulsingError) -> Self {
        let mut w = WireError {
            message: match e {
                PulsingError::Runtime { message, .. } => message.clone(),
                PulsingError::Business { message, .. } => message.clone(),
                PulsingError::System { error, .. } => error.clone(),
                other => other.to_string(),
            },
            ..Default::default()
        };
        match e {
            PulsingError::Runtime { kind, .. } => {
                w.cls = "PulsingRuntimeError".into();
                w.kind = Some(kind.as_str().into());
            }
            PulsingError::Business { code, .. } => {
                w.cls = "PulsingBusinessError".into();
                w.code = Some(*code);
            }
            PulsingError::System { error, recoverable } => {
                w.cls = "PulsingSystemError".into();
                w.error = Some(error.clone());
                w.recoverable = Some(*recoverable);
            }
            PulsingError::Timeout {
                operation,
                duration_ms,
            } => {
                w.cls = "PulsingTimeoutError".into();
                w.operation = Some(operation.clone());
                w.duration_ms = Some(*duration_ms);
            }
            PulsingError::Unsupported { operation } => {
                w.cls = "PulsingUnsupportedError".into();
                w.operation = Some(operation.clone());
            }
        }
        w
    }
}

impl From<&WireError> for PulsingError {
    fn from(w: &WireError) -> Self {
        match w.cls.as_str() {
            "PulsingRuntimeError" => {
                let kind = match w.kind.as_deref() {
                    Some("ActorNotFound") => RuntimeErrorKind::ActorNotFound,
                    Some("NodeNotFound") => RuntimeErrorKind::NodeNotFound,
                    Some("NodeDown") => RuntimeErrorKind::NodeDown,
                    Some("Stopped") => RuntimeErrorKind::Stopped,
                    Some("ConnectionFailed") => RuntimeErrorKind::ConnectionFailed,
                    Some("Serialization") => RuntimeErrorKind::Serialization,
                    Some("Config") => RuntimeErrorKind::Config,
                    Some("Io") => RuntimeErrorKind::Io,
                    Some("Tls") => RuntimeErrorKind::Tls,
                    _ => RuntimeErrorKind::Protocol,
                };
                PulsingError::runtime(kind, w.message.clone())
            }
            "PulsingBusinessError" => {
                PulsingError::business(w.code.unwrap_or(0), w.message.clone())
            }
            "PulsingTimeoutError" => PulsingError::Timeout {
                operation: w.operation.clone().unwrap_or_default(),
                duration_ms: w.duration_ms.unwrap_or(0),
            },
            "PulsingUnsupportedError" => PulsingError::Unsupported {
                operation: w.operation.clone().unwrap_or_else(|| w.message.clone()),
            },
            _ => PulsingError::system(
                w.error.clone().unwrap_or_else(|| w.message.clone()),
                w.recoverable.unwrap_or(true),
            ),
        }
    }
}
