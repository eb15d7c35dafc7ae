//! A node in client mode (`Connect`): no listener, no SWIM, no actors. One link at a time,
//! to the active gateway, carries everything (both lanes); every frame goes on it whatever
//! node it is for, and requests for actors name their node (`Target::Remote`) so the
//! gateway can relay them. When the link closes, what was in flight on it fails at once
//! (`ConnectionFailed`, like any closed connection) and the next frame dials the next
//! gateway in the list: failover needs nothing from the caller.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use super::gateway::GatewayMember;
use super::links::{Links, PeerLink};
use super::Node;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::transport::conn::{ConnHandle, Queue};
use crate::transport::frame::{Frame, Target};
use crate::transport::WireError;

/// The node id a client addresses its gateway by (no node has it: see `NodeId::random`).
pub const GATEWAY: NodeId = NodeId(0);

/// The link key of the gateway link.
pub(super) const LINK: (NodeId, bool) = (GATEWAY, false);

/// The gateway a link reached: its connection, node id and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Active {
    conn: u32,
    node: NodeId,
    addr: String,
}

/// Client-mode state.
pub(crate) struct Client {
    /// Gateway addresses, in the order they are tried.
    gateways: Mutex<Vec<String>>,
    /// Where in `gateways` the next dial starts.
    next: AtomicUsize,
    /// The gateway whose `Hello` arrived on the current link (`None` between links).
    active: watch::Sender<Option<Active>>,
}

impl Client {
    pub(super) fn new(gateways: Vec<String>) -> Self {
        Client {
            gateways: Mutex::new(gateways),
            next: AtomicUsize::new(0),
            active: watch::channel(None).0,
        }
    }
}

impl Node {
    pub(super) fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// The runtime the node runs on (callers may be on threads outside it: JS).
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.rt
    }

    /// Whether this node is a client (`Connect`): it reaches the cluster through a gateway.
    pub fn in_client_mode(&self) -> bool {
        self.client.is_some()
    }

    /// The gateway the client is connected to: its node id and address.
    pub fn gateway(&self) -> Option<(NodeId, String)> {
        let a = self.client()?.active.borrow().clone()?;
        Some((a.node, a.addr))
    }

    /// The gateway addresses a client tries, in order.
    pub fn gateways(&self) -> Vec<String> {
        self.client()
            .map(|c| c.gateways.lock().clone())
            .unwrap_or_default()
    }

    /// In client mode, where a request for actor `local` on `node` goes, and as what: to the
    /// gateway, naming the node. A member sends it to the node itself.
    pub(super) fn route(&self, node: NodeId, local: u64) -> (NodeId, Target) {
        if self.client.is_some() && node != GATEWAY {
            (GATEWAY, Target::Remote { node, local })
        } else {
            (node, Target::Local(local))
        }
    }

    /// Send a frame on the gateway link, dialing the next gateway if there is none.
    pub(super) fn client_send(&self, frame: Frame) -> Result<u32, PulsingError> {
        let frame = match self.links.send_if_connected(LINK, frame) {
            Ok(id) => return Ok(id),
            Err(f) => f,
        };
        let mut peers = self.links.peers.lock();
        let frame = match Links::send_on_link(&peers, LINK, frame) {
            Ok(id) => return Ok(id),
            Err(f) => f,
        };
        let (id, queue) = self.links.start_dialing(&mut peers, LINK, frame);
        drop(peers);
        let this = self.this.upgrade().expect("node alive while sending");
        self.rt.spawn(async move {
            if let Err((why, queue)) = this.dial_gateway(id, Some(queue)).await {
                this.dial_failed(id, LINK, queue, &why);
            }
        });
        Ok(id)
    }

    /// Dial the gateways in turn from where the last link left off; the first that answers
    /// becomes the link (`queue` holds frames waiting for it). Every failure is in the error.
    async fn dial_gateway(
        &self,
        id: u32,
        queue: Option<Queue>,
    ) -> Result<Arc<ConnHandle>, (String, Queue)> {
        let client = self.client().expect("client mode");
        let list = client.gateways.lock().clone();
        let start = client.next.load(Ordering::Relaxed);
        let mut why = Vec::new();
        for i in 0..list.len() {
            let k = (start + i) % list.len();
            let addr = &list[k];
            match self.connect(addr).await {
                Ok(stream) => {
                    client.next.store(k, Ordering::Relaxed);
                    let c = self.open_conn(stream, id, Some(GATEWAY), addr.clone(), queue, false);
                    self.links
                        .peers
                        .lock()
                        .insert(LINK, PeerLink::Connected(c.clone()));
                    return Ok(c);
                }
                Err(e) => why.push(format!("{addr}: {e}")),
            }
        }
        let why = format!("no gateway reachable ({})", why.join("; "));
        Err((why, queue.unwrap_or_else(mpsc::unbounded_channel)))
    }

    /// Connect to the first gateway that answers with its `Hello` within `within`.
    pub(crate) async fn client_open(&self, within: Duration) -> Result<(), PulsingError> {
        let client = self.client().expect("client mode");
        let mut active = client.active.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        let mut why = Vec::new();
        let n = client.gateways.lock().len();
        for _ in 0..n {
            let id = self.links.next_id();
            let c = match tokio::time::timeout_at(deadline, self.dial_gateway(id, None)).await {
                Err(_) => break,
                Ok(Err((e, _))) => {
                    why.push(e);
                    break;
                }
                Ok(Ok(c)) => c,
            };
            let hello =
                active.wait_for(|a| c.is_closed() || a.as_ref().is_some_and(|a| a.conn == c.id));
            match tokio::time::timeout_at(deadline, hello).await {
                Ok(Ok(_)) if !c.is_closed() => return Ok(()),
                Err(_) => {
                    c.close();
                    why.push(format!("{}: no Hello in time", c.remote));
                    break;
                }
                // Closed before its Hello: most often a TLS mismatch (a passphrase the
                // gateway does not share), or not a Pulsing node at all. The next try
                // starts with the gateway after it.
                _ => why.push(format!(
                    "{}: closed the connection before its Hello (is the passphrase right?)",
                    c.remote
                )),
            }
        }
        if why.is_empty() {
            why.push(format!("nothing answered within {} ms", within.as_millis()));
        }
        Err(connection_failed(format!(
            "cannot connect to a gateway: {}",
            why.join("; ")
        )))
    }

    /// A gateway's `Hello` on the link: it is the active gateway. The connection keeps
    /// `GATEWAY` as its peer, so every answer on it is the gateway's.
    pub(super) fn client_hello(&self, c: &Arc<ConnHandle>, node: NodeId, addr: &str) {
        let Some(client) = self.client() else { return };
        tracing::debug!(%node, %addr, conn = c.id, "gateway hello");
        client.active.send_replace(Some(Active {
            conn: c.id,
            node,
            addr: c.remote.clone(),
        }));
    }

    /// A gateway link closed: the next dial starts with the gateway after this one.
    pub(super) fn client_conn_closed(&self, c: &ConnHandle) {
        let Some(client) = self.client() else { return };
        client.next.fetch_add(1, Ordering::Relaxed);
        // Also wakes `client_open` waiting for this connection's Hello.
        client.active.send_modify(|a| {
            if a.as_ref().is_some_and(|x| x.conn == c.id) {
                *a = None;
            }
        });
    }

    /// Ask the gateway itself (`system/gateway`) and decode its answer.
    pub(crate) async fn ask_gateway<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        args: A,
        timeout: Duration,
    ) -> Result<R, PulsingError> {
        let msg = Message::call(method, args)
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        let target = Target::Name(super::gateway::SERVICE.into());
        self.ask_target(GATEWAY, target, msg, timeout)
            .await?
            .unpack()
    }

    /// Replace the gateway list with the cluster's live members, as the gateway sees them.
    /// The link stays where it is; the next failover goes down the new list.
    pub async fn refresh_gateways(&self, timeout: Duration) -> Result<Vec<String>, PulsingError> {
        let members: Vec<GatewayMember> = self
            .ask_gateway("members", Vec::<String>::new(), timeout)
            .await?;
        let mut list: Vec<String> = members
            .into_iter()
            .filter(|m| m.status == "alive")
            .map(|m| m.addr)
            .collect();
        list.dedup();
        if list.is_empty() {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                "the gateway listed no live members",
            ));
        }
        let client = self.client().expect("client mode");
        let active = self.gateway().map(|(_, a)| a);
        let at = active
            .and_then(|a| list.iter().position(|g| *g == a))
            .unwrap_or(0);
        *client.gateways.lock() = list.clone();
        client.next.store(at, Ordering::Relaxed);
        Ok(list)
    }
}

fn connection_failed(msg: String) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::ConnectionFailed, msg)
}

/// A request a client must not get (it hosts nothing): refused, for what it is.
pub(super) fn not_hosted() -> WireError {
    WireError::runtime(
        RuntimeErrorKind::ActorNotFound,
        "this process is a client (Connect): it hosts no actors",
    )
}
