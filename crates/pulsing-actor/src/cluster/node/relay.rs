//! A node as a gateway: requests from a client (a process that is not a member, such as one
//! using `Connect`) for an actor this node does not host go to the node that does, and the
//! answers come back the same way.
//!
//! Frames pass through whole, with only their request id rewritten: attachments, batched
//! stream items and errors (with their class and fields) arrive as the host sent them, and
//! the client's credit and cancel reach the producer, so flow control holds end to end.
//! Members are never relayed for: they call the hosting node themselves, and a relayed
//! request cannot be relayed again (no loops).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Node;
use crate::cluster::gossip::NameEntry;
use crate::error::RuntimeErrorKind;
use crate::id::NodeId;
use crate::protocol::rust_request_id;
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};
use crate::transport::WireError;

/// One request in flight through this node.
struct Relay {
    /// The client's connection and its request id.
    client_conn: u32,
    client_req: u64,
    /// The hosting node, and the connection the request went out on (0 until known).
    node: NodeId,
    conn: u32,
}

/// Requests this node relays, by the id it gave them upstream.
#[derive(Default)]
pub(crate) struct Relays {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    up: HashMap<u64, Relay>,
    /// (client connection, client request id) → upstream request id.
    down: HashMap<(u32, u64), u64>,
}

impl Table {
    fn remove(&mut self, up: u64) -> Option<Relay> {
        let r = self.up.remove(&up)?;
        self.down.remove(&(r.client_conn, r.client_req));
        Some(r)
    }

    fn take_where(&mut self, pred: impl Fn(&Relay) -> bool) -> Vec<(u64, Relay)> {
        let ids: Vec<u64> = self
            .up
            .iter()
            .filter(|(_, r)| pred(r))
            .map(|(k, _)| *k)
            .collect();
        ids.into_iter()
            .filter_map(|k| self.remove(k).map(|r| (k, r)))
            .collect()
    }
}

/// `h` answering request `req` instead.
fn with_req(h: Header, req: u64) -> Option<Header> {
    Some(match h {
        Header::Reply { tag, .. } => Header::Reply { req, tag },
        Header::StreamItem { tag, .. } => Header::StreamItem { req, tag },
        Header::StreamItems { tag, .. } => Header::StreamItems { req, tag },
        Header::StreamEnd { tag, .. } => Header::StreamEnd { req, tag },
        Header::Error { error, .. } => Header::Error { req, error },
        _ => return None,
    })
}

impl Node {
    /// Whether the peer on `c` is a client: not a member this node knows of.
    pub(super) fn is_client(&self, c: &ConnHandle) -> bool {
        c.peer().is_some_and(|p| self.member(p).is_none())
    }

    /// The node to relay a request for `name` to: the first live instance elsewhere
    /// (placement policies are the caller's business, at resolve).
    pub(super) fn relay_host(&self, name: &str) -> Option<NameEntry> {
        self.remote_instances(name).into_iter().next()
    }

    /// Relay a client's request to actor `local` on `node`.
    pub(super) fn relay_request(&self, c: &Arc<ConnHandle>, f: Frame, node: NodeId, local: u64) {
        let target = Target::Local(local);
        let (header, client_req) = match f.header {
            Header::Tell { tag, trace, .. } => (Header::Tell { target, tag, trace }, None),
            Header::Ask {
                req, tag, trace, ..
            } => {
                let up = {
                    let mut t = self.relays.table.lock();
                    let mut up = rust_request_id();
                    while t.up.contains_key(&up) {
                        up = rust_request_id();
                    }
                    t.up.insert(
                        up,
                        Relay {
                            client_conn: c.id,
                            client_req: req,
                            node,
                            conn: 0,
                        },
                    );
                    t.down.insert((c.id, req), up);
                    up
                };
                (
                    Header::Ask {
                        req: up,
                        target,
                        tag,
                        trace,
                    },
                    Some((req, up)),
                )
            }
            _ => return,
        };
        let sent = self.send_to(
            node,
            Frame {
                header,
                body: f.body,
                attachments: f.attachments,
            },
        );
        match (sent, client_req) {
            (Ok(conn), Some((_, up))) => {
                if let Some(r) = self.relays.table.lock().up.get_mut(&up) {
                    r.conn = conn;
                }
            }
            (Ok(_), None) => {}
            (Err(e), Some((req, up))) => {
                self.relays.table.lock().remove(up);
                c.send(Frame::bare(Header::Error {
                    req,
                    error: Box::new(WireError::from(&e)),
                }));
            }
            (Err(e), None) => tracing::warn!("dropping a relayed tell: {e}"),
        }
    }

    /// An answer to a relayed request: on to the client. `Err(f)` when it answers no relay.
    // The frame comes back by value in the common case (not a relay): boxing it would cost an
    // allocation for every reply this node receives.
    #[allow(clippy::result_large_err)]
    pub(super) fn relay_response(&self, c: &Arc<ConnHandle>, f: Frame) -> Result<(), Frame> {
        let Some(req) = f.header.answers() else {
            return Err(f);
        };
        let mut t = self.relays.table.lock();
        let Some(r) = t.up.get(&req) else {
            return Err(f);
        };
        // Only the node the request went to answers it.
        if c.peer() != Some(r.node) {
            return Ok(());
        }
        let (client_conn, client_req) = (r.client_conn, r.client_req);
        let more = matches!(
            f.header,
            Header::StreamItem { .. } | Header::StreamItems { .. }
        );
        if !more {
            t.remove(req);
        }
        drop(t);
        if let Some(header) = with_req(f.header, client_req) {
            self.send_on(
                client_conn,
                Frame {
                    header,
                    body: f.body,
                    attachments: f.attachments,
                },
            );
        }
        Ok(())
    }

    /// A client's credit or cancel for a relayed request: on to the producer. False when
    /// `(conn, req)` is not relayed.
    pub(super) fn relay_flow(&self, conn: u32, req: u64, credit: Option<u32>) -> bool {
        let mut t = self.relays.table.lock();
        let Some(&up) = t.down.get(&(conn, req)) else {
            return false;
        };
        let node = t.up[&up].node;
        let header = match credit {
            Some(n) => Header::Credit { req: up, n },
            None => {
                t.remove(up);
                Header::Cancel { req: up }
            }
        };
        drop(t);
        let _ = self.send_to(node, Frame::bare(header));
        true
    }

    /// A connection closed: a client's relayed requests are cancelled upstream; requests
    /// that went out on it fail for their clients.
    pub(super) fn relay_conn_closed(&self, conn: u32) {
        let (from_client, upstream) = {
            let mut t = self.relays.table.lock();
            (
                t.take_where(|r| r.client_conn == conn),
                t.take_where(|r| r.conn == conn),
            )
        };
        for (up, r) in from_client {
            let _ = self.send_to(r.node, Frame::bare(Header::Cancel { req: up }));
        }
        for (_, r) in upstream {
            self.relay_fail(
                &r,
                WireError::runtime(
                    RuntimeErrorKind::ConnectionFailed,
                    format!("the connection to node {} closed before the reply", r.node),
                ),
            );
        }
    }

    /// A node is gone: what was relayed to it fails for its clients.
    pub(super) fn relay_node_down(&self, node: NodeId) {
        let gone = self.relays.table.lock().take_where(|r| r.node == node);
        for (_, r) in gone {
            self.relay_fail(
                &r,
                WireError::runtime(RuntimeErrorKind::NodeDown, format!("node {node} is down")),
            );
        }
    }

    fn relay_fail(&self, r: &Relay, error: WireError) {
        self.send_on(
            r.client_conn,
            Frame::bare(Header::Error {
                req: r.client_req,
                error: Box::new(error),
            }),
        );
    }
}
