//! Links to peers: accepting and dialing connections, two lanes per peer (control and bulk),
//! the connection cap and protected mode, and sending frames to a node or on a connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{Node, SinkRef};
use crate::cluster::faults::Verdict;
use crate::cluster::gossip::{Gossip, Liveness};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::transport::conn::{self, BoxStream, ConnHandle, FrameSink, Opening, Outgoing, Queue};
use crate::transport::frame::{Frame, Header};
use crate::transport::plain::{self, PlainSocket};
use crate::transport::sniff::{sniff, Speaks};
use crate::transport::WireError;

/// A stream to run a connection over, with its socket when it is plain TCP
/// (see [`plain::open`]).
pub(super) type Dialed = (Option<PlainSocket>, BoxStream);

pub(super) enum PeerLink {
    /// Frames wait in the queue of the connection `id` being dialed.
    Dialing(u32, mpsc::UnboundedSender<Outgoing>),
    Connected(Arc<ConnHandle>),
}

/// The links of one node.
#[derive(Default)]
pub(crate) struct Links {
    /// Per (peer, bulk lane?): large frames take their own connection so probes and small
    /// calls never queue behind them.
    pub(super) peers: Mutex<HashMap<(NodeId, bool), PeerLink>>,
    conns: Mutex<HashMap<u32, Arc<ConnHandle>>>,
    next_conn: AtomicU32,
    /// Accepted sockets still in their TLS handshake (they count against the cap).
    handshaking: AtomicUsize,
    /// Open HTTP connections (they count against the cap too).
    http: AtomicUsize,
    /// Frames and bytes every connection carried.
    traffic: Arc<crate::transport::traffic::Traffic>,
    /// When each repeated warning was last logged (a peer retrying must not flood the log).
    warned: Mutex<HashMap<String, Instant>>,
}

impl Links {
    pub(super) fn next_id(&self) -> u32 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn open(&self) -> usize {
        self.conns.lock().len()
            + self.handshaking.load(Ordering::Relaxed)
            + self.http.load(Ordering::Relaxed)
    }

    /// Log `msg` as a warning at most once a minute per host of `peer` and kind of event
    /// (`what`); repeats go to debug. A peer retrying must not flood the log, and one kind
    /// of trouble must not hide another.
    pub(super) fn warn_once(&self, peer: &str, what: &str, msg: String) {
        let host = peer.rsplit_once(':').map(|(h, _)| h).unwrap_or(peer);
        let host = format!("{host}|{what}");
        let now = Instant::now();
        let mut warned = self.warned.lock();
        if warned.len() > 4096 {
            warned.retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
        }
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

    /// A connection closed: forget it and any link it was.
    pub(super) fn forget(&self, c: &ConnHandle) {
        self.conns.lock().remove(&c.id);
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

    /// The live connection of `link`, if it has one.
    pub(super) fn connected(&self, link: (NodeId, bool)) -> Option<Arc<ConnHandle>> {
        match self.peers.lock().get(&link) {
            Some(PeerLink::Connected(c)) if !c.is_closed() => Some(c.clone()),
            _ => None,
        }
    }

    /// Send on `link` if it has a live connection, without holding the links lock (a
    /// borrower writes the frame to the socket in place); the connection's id. The frame
    /// comes back otherwise, for [`Links::send_on_link`] under the lock.
    #[allow(clippy::result_large_err)] // handed back by value: the caller sends it elsewhere
    pub(super) fn send_if_connected(
        &self,
        link: (NodeId, bool),
        frame: Frame,
    ) -> Result<u32, Frame> {
        match self.connected(link) {
            Some(c) => {
                c.send(frame);
                Ok(c.id)
            }
            None => Err(frame),
        }
    }

    /// Send on `link` if it is up, or queue while it is dialed; the connection's id. The
    /// frame comes back when there is no usable link.
    #[allow(clippy::result_large_err)] // handed back by value: the caller sends it elsewhere
    pub(super) fn send_on_link(
        peers: &HashMap<(NodeId, bool), PeerLink>,
        link: (NodeId, bool),
        frame: Frame,
    ) -> Result<u32, Frame> {
        match peers.get(&link) {
            Some(PeerLink::Connected(c)) if !c.is_closed() => {
                c.send(frame);
                Ok(c.id)
            }
            Some(PeerLink::Dialing(id, tx)) => {
                let _ = tx.send(Outgoing::One(frame));
                Ok(*id)
            }
            _ => Err(frame),
        }
    }

    /// Mark `link` as being dialed, with `frame` first in its queue: the new connection's id
    /// and the queue, for the dial.
    pub(super) fn start_dialing(
        &self,
        peers: &mut HashMap<(NodeId, bool), PeerLink>,
        link: (NodeId, bool),
        frame: Frame,
    ) -> (u32, Queue) {
        let id = self.next_id();
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Outgoing::One(frame));
        peers.insert(link, PeerLink::Dialing(id, tx.clone()));
        (id, (tx, rx))
    }

    /// Take every connection (shutdown).
    pub(super) fn drain(&self) -> Vec<Arc<ConnHandle>> {
        self.peers.lock().clear();
        self.conns.lock().drain().map(|(_, c)| c).collect()
    }

    pub(super) fn get(&self, conn: u32) -> Option<Arc<ConnHandle>> {
        self.conns.lock().get(&conn).cloned()
    }

    /// Drop the links to `node` (it is gone).
    pub(super) fn drop_node(&self, node: NodeId) {
        for lane in [false, true] {
            if let Some(PeerLink::Connected(c)) = self.peers.lock().remove(&(node, lane)) {
                c.close();
            }
        }
    }
}

impl Node {
    /// Queue a frame for `node`, dialing it if needed; frames queued while dialing wait.
    /// Returns the id of the connection it went on (0 when a fault delayed it). A frame
    /// the peer would refuse is never sent: it is an error here.
    #[doc(hidden)]
    pub fn send_to(&self, node: NodeId, frame: Frame) -> Result<u32, PulsingError> {
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
        self.check_sendable(&frame)?;
        if self.client().is_some() {
            return self.client_send(frame);
        }
        match self.faults.outgoing(node) {
            Verdict::Pass => self.send_to_now(node, frame),
            Verdict::Drop => Ok(0),
            Verdict::Delay(d) => {
                let this = self.this.upgrade().expect("node alive while sending");
                self.rt.spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = this.send_to_now(node, frame);
                });
                Ok(0)
            }
        }
    }

    /// The peer accepts bodies and attachments up to `max_body` (the same limit cluster-wide).
    fn check_sendable(&self, frame: &Frame) -> Result<(), PulsingError> {
        let attached: usize = frame.attachments.iter().map(|a| a.len()).sum();
        if frame.body.len() > self.cfg.max_body || attached > self.cfg.max_body {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Serialization,
                format!(
                    "a message of {} bytes ({} in the body, {attached} attached) exceeds the {}-byte limit",
                    frame.body.len() + attached,
                    frame.body.len(),
                    self.cfg.max_body
                ),
            ));
        }
        Ok(())
    }

    fn send_to_now(&self, node: NodeId, frame: Frame) -> Result<u32, PulsingError> {
        let bulk = frame.payload_len() > self.cfg.bulk_threshold;
        let link = (node, bulk);
        let frame = match self.links.send_if_connected(link, frame) {
            Ok(id) => return Ok(id),
            Err(f) => f,
        };
        let mut peers = self.links.peers.lock();
        let frame = match Links::send_on_link(&peers, link, frame) {
            Ok(id) => return Ok(id),
            Err(f) => f,
        };
        let addr = self
            .swim
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
        let (id, queue) = self.links.start_dialing(&mut peers, link, frame);
        drop(peers);
        let this = self.this.upgrade().expect("node alive while sending");
        self.rt
            .spawn(async move { this.dial(id, link, addr, queue).await });
        Ok(id)
    }

    /// Whether `frames` may skip the per-frame path: no fault is injected, and each is for
    /// the control lane and within the size limit.
    fn all_plain(&self, frames: &[Frame]) -> bool {
        self.faults.is_clear()
            && frames.iter().all(|f| {
                f.payload_len() <= self.cfg.bulk_threshold && self.check_sendable(f).is_ok()
            })
    }

    /// Hand `frames` (in order, all for `node`) to its live control-lane connection (a
    /// client's: its gateway link) at once: one hand-off and at most one wake-up of its
    /// writer. Gives them back when that is not the plain case (no live connection yet,
    /// faults injected, a frame for the bulk lane or over the size limit): they go one by
    /// one through [`Node::send_to`] then.
    pub(super) fn send_all_now(&self, node: NodeId, frames: Vec<Frame>) -> Result<u32, Vec<Frame>> {
        if node == self.me || self.stopped.load(Ordering::Relaxed) || !self.all_plain(&frames) {
            return Err(frames);
        }
        // A client sends everything on its gateway link, whichever node it is for.
        let link = match self.client() {
            Some(_) => super::client::LINK,
            None => (node, false),
        };
        let Some(c) = self.links.connected(link) else {
            return Err(frames);
        };
        // Without the links lock: `send_all` may write to the socket in place.
        c.send_all(frames).map(|()| c.id)
    }

    /// Encode and send gossip to `node`.
    pub(super) fn send_gossip_to(&self, node: NodeId, g: &Gossip) -> Result<u32, PulsingError> {
        let body = g.encode().ok_or_else(|| {
            PulsingError::runtime(RuntimeErrorKind::Protocol, "gossip over its size limit")
        })?;
        self.swim.count_gossip(body.len());
        self.send_to(node, Frame::new(Header::Gossip, body))
    }

    /// Encode and send gossip on connection `c`.
    pub(super) fn send_gossip_on(&self, c: &ConnHandle, g: &Gossip) {
        match g.encode() {
            Some(body) => {
                self.swim.count_gossip(body.len());
                c.send(Frame::new(Header::Gossip, body));
            }
            None => tracing::warn!("not sending gossip over its size limit"),
        }
    }

    /// Frames senders wrote in place on connection `conn`, and how many times the socket took
    /// only part of such a write; `None` when there is no such connection. For tests and
    /// diagnostics.
    #[doc(hidden)]
    pub fn in_place_stats(&self, conn: u32) -> Option<(u64, u64)> {
        self.links.get(conn).map(|c| c.in_place_stats())
    }

    /// Send a frame on a given connection (replies go back where the request came from).
    #[doc(hidden)]
    pub fn send_on(&self, conn: u32, frame: Frame) -> bool {
        if let Err(e) = self.check_sendable(&frame) {
            // The caller is told instead: its reply became an error.
            // (The error frame that replaces it is bare, so it always passes this check.)
            if let Some(req) = frame.header.answers() {
                return self.send_on(
                    conn,
                    Frame::bare(Header::Error {
                        req,
                        error: Box::new(WireError::from(&e)),
                    }),
                );
            }
            return false;
        }
        let c = self.links.get(conn);
        if let Some(peer) = c.as_ref().and_then(|c| c.peer()) {
            if self.faults.outgoing(peer) == Verdict::Drop {
                return true;
            }
            // A large single reply takes the peer's bulk lane (the caller accepts it from any
            // connection of the node it called). A stream's frames stay on the stream's
            // connection whatever their size: on two lanes its end could overtake its items.
            // A client has one connection: everything for it goes on that one.
            let single = matches!(frame.header, Header::Reply { .. });
            if single
                && frame.payload_len() > self.cfg.bulk_threshold
                && self.member(peer).is_some()
            {
                return self.send_to(peer, frame).is_ok();
            }
        }
        c.map(|c| c.send(frame)).unwrap_or(false)
    }

    /// Hand `frames` (answers, in order) to connection `conn` at once. Gives them back when
    /// that is not the plain case (faults injected, a frame over the size limit, a large
    /// reply that takes the bulk lane, no such connection): [`Node::send_on`] them then.
    pub(super) fn send_all_on(&self, conn: u32, frames: Vec<Frame>) -> Result<(), Vec<Frame>> {
        if !self.all_plain(&frames) {
            return Err(frames);
        }
        match self.links.get(conn) {
            Some(c) => c.send_all(frames),
            None => Err(frames),
        }
    }

    async fn dial(self: Arc<Self>, id: u32, link: (NodeId, bool), addr: String, queue: Queue) {
        let (node, bulk) = link;
        match self.connect(&addr).await {
            Ok(dialed) => {
                let c = self.open_conn(dialed, id, Some(node), addr, Some(queue), bulk);
                self.links.peers.lock().insert(link, PeerLink::Connected(c));
            }
            Err(why) => {
                tracing::debug!(%node, %addr, "dial failed: {why}");
                self.dial_failed(id, link, queue, &why);
            }
        }
    }

    /// Dialing connection `id` for `link` failed: what waited for it fails with `why`.
    pub(super) fn dial_failed(&self, id: u32, link: (NodeId, bool), queue: Queue, why: &str) {
        self.links.peers.lock().remove(&link);
        let (tx, rx) = queue;
        drop(tx);
        self.fail_queued(link.0, rx, why);
        self.calls.conn_closed(id);
        self.deliver(crate::cluster::foreign::ForeignEvent::ConnClosed(id));
    }

    /// Dial `addr`: TCP, then the TLS handshake when the cluster has a passphrase. Plain TCP
    /// comes with a duplicate of its socket (see [`plain::open`]).
    pub(super) async fn connect(&self, addr: &str) -> Result<Dialed, String> {
        if self.links.open() >= self.cfg.max_connections {
            return Err(format!(
                "{} connections open: the max_connections limit",
                self.cfg.max_connections
            ));
        }
        let within = self.cfg.handshake_timeout;
        let tcp = match tokio::time::timeout(within, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("connect timed out".into()),
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(plain::open(tcp)),
            Some(t) => {
                match tokio::time::timeout(within, t.connector.connect(t.server_name.clone(), tcp))
                    .await
                {
                    Ok(Ok(s)) => Ok((None, Box::new(s))),
                    Ok(Err(e)) => {
                        self.links.warn_once(
                            addr,
                            "tls",
                            format!("TLS handshake with {addr} failed: {e}"),
                        );
                        Err(format!("TLS handshake failed: {e}"))
                    }
                    Err(_) => Err("TLS handshake timed out".into()),
                }
            }
        }
    }

    /// Frames that could not be sent: requests among them fail with `ConnectionFailed`.
    pub(super) fn fail_queued(
        &self,
        node: NodeId,
        mut rx: mpsc::UnboundedReceiver<Outgoing>,
        why: &str,
    ) {
        while let Ok(o) = rx.try_recv() {
            for f in o.into_frames() {
                if let Header::Ask { req, .. } = f.header {
                    let error = WireError::runtime(
                        RuntimeErrorKind::ConnectionFailed,
                        format!("cannot reach node {node}: {why}"),
                    );
                    self.fail_request(node, req, error);
                }
            }
        }
    }

    /// Start a connection this node dialed; `expect` is the node it dialed (`None` when
    /// dialing an address whose node is not known yet, such as a seed).
    pub(super) fn open_conn(
        &self,
        (plain, stream): Dialed,
        id: u32,
        expect: Option<NodeId>,
        remote: String,
        queue: Option<Queue>,
        bulk: bool,
    ) -> Arc<ConnHandle> {
        let sink: Arc<dyn FrameSink> = Arc::new(SinkRef(self.this.clone()));
        let hello = Frame::bare(Header::Hello {
            node: self.me,
            addr: self.addr.clone(),
            bulk,
            // A client's `expect` stands for whichever gateway answers: it says no node.
            to: expect.filter(|_| self.client().is_none()),
        });
        let c = conn::start(
            stream,
            sink,
            Opening {
                id,
                dialed: true,
                remote,
                limits: self.cfg.limits(),
                queue,
                first: vec![hello],
                traffic: self.links.traffic.clone(),
                plain,
            },
        );
        if let Some(node) = expect {
            c.set_peer(node);
        }
        c.set_bulk(bulk);
        if self.stopped.load(Ordering::Relaxed) {
            // A task still running after shutdown must not bring the node back.
            c.close();
            return c;
        }
        self.links.conns.lock().insert(id, c.clone());
        c
    }

    /// Dial an address for a one-off exchange (`id` for the connection).
    pub(super) async fn dial_addr(&self, addr: &str) -> Result<Arc<ConnHandle>, String> {
        let dialed = self.connect(addr).await?;
        Ok(self.open_conn(
            dialed,
            self.links.next_id(),
            None,
            addr.to_string(),
            None,
            false,
        ))
    }

    pub(super) async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, from) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors, most often: back off instead of spinning.
                    self.links
                        .warn_once("accept", "accept", format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            let peer = from.to_string();
            if self.loopback_only && !from.ip().is_loopback() {
                self.links.warn_once(&peer, "protected", format!("refused a connection from {peer}: protected mode (no passphrase) accepts loopback peers only"));
                continue;
            }
            if self.links.open() >= self.cfg.max_connections {
                self.links.warn_once(
                    "max_connections",
                    "cap",
                    format!(
                        "refused a connection from {peer}: {} connections open (max_connections)",
                        self.cfg.max_connections
                    ),
                );
                continue;
            }
            let _ = stream.set_nodelay(true);
            if !self.cfg.http && self.tls.is_none() {
                // Frames only: nothing to tell apart, and nothing to wait for.
                self.accept_conn(plain::open(stream), peer);
                continue;
            }
            let this = self.clone();
            self.links.handshaking.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let r = this.accept_stream(plain::open(stream), &peer).await;
                this.links.handshaking.fetch_sub(1, Ordering::Relaxed);
                if let Err((key, why)) = r {
                    this.links.warn_once(
                        &peer,
                        key,
                        format!("refused a connection from {peer}: {why}"),
                    );
                }
            });
        }
    }

    /// Tell what an accepted connection speaks (see `transport::sniff`) and serve it: the
    /// node's frames, TLS (then frames or HTTP inside), or plain HTTP. An HTTP request on a
    /// node with a passphrase is served only with the bearer token (see `serve_http`).
    async fn accept_stream(
        &self,
        (plain, stream): Dialed,
        peer: &str,
    ) -> Result<(), (&'static str, String)> {
        let within = self.cfg.handshake_timeout;
        let (what, stream) = sniff(stream, within)
            .await
            .map_err(|e| ("sniff", e.to_string()))?;
        if what == Speaks::Http && self.cfg.http {
            self.local
                .serve_http(stream, peer.to_string(), false, self.http_slot());
            return Ok(());
        }
        let Some(t) = &self.tls else {
            // What was sniffed is handed out again first; writes go straight to the socket.
            self.accept_conn((plain, stream), peer.to_string());
            return Ok(());
        };
        drop(plain);
        let tls: BoxStream = match tokio::time::timeout(within, t.acceptor.accept(stream)).await {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => return Err(("tls", format!("TLS handshake failed: {e}"))),
            Err(_) => return Err(("tls", "TLS handshake timed out".into())),
        };
        if !self.cfg.http {
            self.accept_conn((None, tls), peer.to_string());
            return Ok(());
        }
        let (what, tls) = sniff(tls, within)
            .await
            .map_err(|e| ("sniff", e.to_string()))?;
        if what == Speaks::Http {
            // Over mutual TLS with the cluster's certificate: already proven.
            self.local
                .serve_http(tls, peer.to_string(), true, self.http_slot());
        } else {
            self.accept_conn((None, tls), peer.to_string());
        }
        Ok(())
    }

    /// An HTTP connection's place among the node's open connections (`max_connections`).
    fn http_slot(&self) -> HttpSlot {
        self.links.http.fetch_add(1, Ordering::Relaxed);
        HttpSlot(self.this.clone())
    }

    /// Frames and bytes this node's connections carried: the control lane's, the bulk lane's.
    pub fn traffic(
        &self,
    ) -> (
        crate::transport::traffic::LaneTraffic,
        crate::transport::traffic::LaneTraffic,
    ) {
        self.links.traffic.snapshot()
    }

    /// How many connections are open (frames, HTTP, and handshakes in progress).
    pub fn open_connections(&self) -> usize {
        self.links.open()
    }

    fn accept_conn(&self, (plain, stream): Dialed, peer: String) -> Arc<ConnHandle> {
        let sink: Arc<dyn FrameSink> = Arc::new(SinkRef(self.this.clone()));
        let id = self.links.next_id();
        let c = conn::start(
            stream,
            sink,
            Opening {
                id,
                dialed: false,
                remote: peer,
                limits: self.cfg.limits(),
                queue: None,
                first: vec![Frame::bare(Header::Hello {
                    node: self.me,
                    addr: self.addr.clone(),
                    bulk: false,
                    to: None,
                })],
                traffic: self.links.traffic.clone(),
                plain,
            },
        );
        if self.stopped.load(Ordering::Relaxed) {
            c.close();
            return c;
        }
        self.links.conns.lock().insert(id, c.clone());
        c
    }

    /// The peer's `Hello`: who it is. On a connection we dialed, it proves the member is at
    /// the address we know it by, or shows that someone else is there.
    pub(super) fn on_hello(
        &self,
        c: &Arc<ConnHandle>,
        node: NodeId,
        addr: &str,
        bulk: bool,
        to: Option<NodeId>,
    ) {
        if node == self.me {
            tracing::debug!(conn = c.id, "a connection to this node itself: closing it");
            c.close();
            return;
        }
        if let Some(meant) = to.filter(|t| *t != self.me) {
            // Dialed for a member that was at this address before (this node restarted
            // there): what the peer sends next is meant for it, and must not be served here
            // (a queue bucket handed over to a dialer that then drops the link is lost).
            tracing::debug!(conn = c.id, %node, %meant, "a connection meant for another node: closing it");
            c.close();
            return;
        }
        if self.client().is_some() {
            self.client_hello(c, node, addr);
            return;
        }
        if !c.dialed {
            // Accepted: replies to what the peer asks go back on it, but this node sends its
            // own requests only on connections it dialed. The peer may close this one when
            // its exchange is over, and nothing of ours must be pending on it then.
            c.set_peer(node);
            c.set_bulk(bulk);
            tracing::debug!(%node, %addr, conn = c.id, "hello (accepted)");
            return;
        }
        if let Some(expected) = c.peer() {
            if expected != node {
                self.links.warn_once(
                    &c.remote,
                    "identity",
                    format!(
                        "dialed {} for node {expected} and found node {node}: dropping the link",
                        c.remote
                    ),
                );
                c.close();
                self.on_conn_close(c);
                return;
            }
        }
        c.set_peer(node);
        self.found_at(node, &c.remote);
        let mut peers = self.links.peers.lock();
        let link = (node, c.is_bulk());
        let usable = match peers.get(&link) {
            Some(PeerLink::Connected(old)) => !old.is_closed(),
            Some(PeerLink::Dialing(..)) => true,
            None => false,
        };
        if !usable {
            peers.insert(link, PeerLink::Connected(c.clone()));
        }
        tracing::debug!(%node, %addr, conn = c.id, "hello");
    }
}

/// Held by an HTTP connection while it is open: it counts against `max_connections`.
pub struct HttpSlot(std::sync::Weak<Node>);

impl Drop for HttpSlot {
    fn drop(&mut self) {
        if let Some(n) = self.0.upgrade() {
            n.links.http.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
