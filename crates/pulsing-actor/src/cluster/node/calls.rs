//! Calls this node makes from Rust: the pending table, request ids, replies and streams
//! (credit returned as items are consumed), and failing calls at once when their connection
//! closes or their node goes down. Calls made by the foreign host keep their own table on
//! its side of the binding; the node hands it replies with their origin, and closed
//! connections, so both fail the same way.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::Node;
use crate::cluster::foreign::ForeignEvent;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::{ActorId, NodeId};
use crate::message::Message;
use crate::protocol::{rust_request_id, CREDIT_BATCH, CREDIT_BYTES, RUST_REQ_BIT};
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};
use crate::transport::WireError;

type Reply = Result<Message, PulsingError>;
/// A stream item with the bytes its frame carried (what the producer counts as ahead).
type Item = (Reply, usize);

enum Waiter {
    Reply(oneshot::Sender<Reply>),
    Stream(mpsc::UnboundedSender<Item>),
}

struct Pending {
    node: NodeId,
    conn: u32,
    waiter: Waiter,
}

impl Pending {
    fn fail(self, err: PulsingError) {
        match self.waiter {
            Waiter::Reply(tx) => {
                let _ = tx.send(Err(err));
            }
            Waiter::Stream(tx) => {
                let _ = tx.send((Err(err), 0));
            }
        }
    }
}

/// Calls in flight from Rust.
#[derive(Default)]
pub(crate) struct Calls {
    pending: Mutex<HashMap<u64, Pending>>,
}

impl Calls {
    fn fail_where(&self, pred: impl Fn(&Pending) -> bool, err: impl Fn() -> PulsingError) {
        let failed: Vec<Pending> = {
            let mut p = self.pending.lock();
            let ids: Vec<u64> = p.iter().filter(|(_, v)| pred(v)).map(|(k, _)| *k).collect();
            ids.into_iter().filter_map(|k| p.remove(&k)).collect()
        };
        for p in failed {
            p.fail(err());
        }
    }

    /// A connection closed: what was sent on it will not be answered.
    pub(super) fn conn_closed(&self, conn: u32) {
        self.fail_where(
            |p| p.conn == conn,
            || {
                PulsingError::runtime(
                    RuntimeErrorKind::ConnectionFailed,
                    "the connection closed before the reply",
                )
            },
        );
    }

    /// A node is gone.
    pub(super) fn node_down(&self, node: NodeId) {
        self.fail_where(|p| p.node == node, || super::swim::node_down(node));
    }

    /// Fail everything (shutdown).
    pub(super) fn fail_all(&self, err: PulsingError) {
        self.fail_where(|_| true, || err.clone());
    }
}

impl Calls {
    pub(super) fn pending_len(&self) -> usize {
        self.pending.lock().len()
    }
}

impl Node {
    /// Ask an actor on another node from Rust.
    pub(crate) async fn ask(
        &self,
        target: ActorId,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, PulsingError> {
        let (node, to) = self.route(target.node, target.local);
        self.ask_target(node, to, msg, timeout)
            .await
            .map_err(|e| match e {
                PulsingError::Timeout { duration_ms, .. } => PulsingError::Timeout {
                    operation: format!("ask {target}"),
                    duration_ms,
                },
                e => e,
            })
    }

    /// Ask `target` on `node` (the gateway, for a client) and wait for the reply.
    pub(crate) async fn ask_target(
        &self,
        node: NodeId,
        target: Target,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, PulsingError> {
        self.ask_traced(node, target, msg, timeout, None).await
    }

    /// [`Node::ask_target`], carrying the caller's W3C `traceparent`.
    pub(crate) async fn ask_traced(
        &self,
        node: NodeId,
        target: Target,
        msg: Message,
        timeout: Duration,
        trace: Option<String>,
    ) -> Result<Message, PulsingError> {
        let (tag, body) = match msg {
            Message::Single { msg_type, data } => (msg_type, data),
            Message::Stream(_) => {
                return Err(PulsingError::Unsupported {
                    operation: "sending a stream as a request".into(),
                })
            }
        };
        let what = match &target {
            Target::Name(n) => n.clone(),
            Target::Local(l) => format!("{node}:{l}"),
            Target::Remote { node, local } => format!("{node}:{local}"),
        };
        let (tx, rx) = oneshot::channel();
        let req = {
            let mut pending = self.calls.pending.lock();
            let mut req = rust_request_id();
            while pending.contains_key(&req) {
                req = rust_request_id();
            }
            let frame = Frame::new(
                Header::Ask {
                    req,
                    target,
                    tag,
                    trace,
                },
                body,
            );
            // Sent with the table locked: a connection closing meanwhile fails its calls
            // (`conn_closed`) only after this one is recorded on it, so it fails with them
            // instead of waiting for its timeout.
            let conn = self.send_to(node, frame)?;
            pending.insert(
                req,
                Pending {
                    node,
                    conn,
                    waiter: Waiter::Reply(tx),
                },
            );
            req
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(PulsingError::runtime(
                RuntimeErrorKind::Stopped,
                "the node is shutting down",
            )),
            Err(_) => {
                self.calls.pending.lock().remove(&req);
                let _ = self.send_to(node, Frame::bare(Header::Cancel { req }));
                Err(PulsingError::Timeout {
                    operation: format!("ask {what}"),
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
        let (node, to) = self.route(target.node, target.local);
        self.send_to(
            node,
            Frame::new(
                Header::Tell {
                    target: to,
                    tag: msg_type,
                    trace: None,
                },
                data,
            ),
        )
        .map(|_| ())
    }

    /// Tell `target` on `node` (a service by name) from Rust.
    pub(crate) fn tell_target(
        &self,
        node: NodeId,
        target: Target,
        msg: Message,
    ) -> Result<(), PulsingError> {
        let Message::Single { msg_type, data } = msg else {
            return Err(PulsingError::Unsupported {
                operation: "sending a stream as a tell".into(),
            });
        };
        self.send_to(
            node,
            Frame::new(
                Header::Tell {
                    target,
                    tag: msg_type,
                    trace: None,
                },
                data,
            ),
        )
        .map(|_| ())
    }

    /// Request `req` to `node` failed before it was sent.
    pub(super) fn fail_request(&self, node: NodeId, req: u64, error: WireError) {
        if req & RUST_REQ_BIT == 0 {
            self.deliver(ForeignEvent::Response {
                conn: 0,
                node: Some(node),
                header: Header::Error {
                    req,
                    error: Box::new(error),
                },
                body: bytes::Bytes::new(),
                attachments: Vec::new(),
            });
            return;
        }
        if let Some(p) = self.calls.pending.lock().remove(&req) {
            p.fail(PulsingError::from(&error));
        }
    }

    /// A reply-like frame. Accepted only from the node the request went to.
    pub(super) fn on_response(&self, c: &Arc<ConnHandle>, f: Frame) {
        let f = match self.relay_response(c, f) {
            Ok(()) => return,
            Err(f) => f,
        };
        let Some(req) = f.header.answers() else {
            return;
        };
        if req & RUST_REQ_BIT == 0 {
            self.deliver(ForeignEvent::Response {
                conn: c.id,
                node: c.peer(),
                header: f.header,
                body: f.body,
                attachments: f.attachments,
            });
            return;
        }
        let mut pending = self.calls.pending.lock();
        let Some(p) = pending.remove(&req) else {
            return;
        };
        if c.peer() != Some(p.node) {
            tracing::debug!(
                conn = c.id,
                "ignoring a reply from a connection the call did not go to"
            );
            pending.insert(req, p);
            return;
        }
        let Pending { node, conn, waiter } = p;
        let size = f.body.len() + f.attachments.iter().map(|a| a.len()).sum::<usize>();
        // A stream that goes on stays pending with its item sender.
        let streaming = match (waiter, f.header) {
            (Waiter::Reply(tx), Header::Reply { tag, .. }) => {
                let _ = tx.send(Ok(Message::single(tag, f.body)));
                None
            }
            (Waiter::Reply(tx), Header::Error { error, .. }) => {
                let _ = tx.send(Err(PulsingError::from(&*error)));
                None
            }
            (Waiter::Reply(tx), Header::StreamItem { tag, .. }) => {
                let (stx, srx) = mpsc::unbounded_channel();
                let _ = stx.send((Ok(Message::single(tag, f.body)), size));
                let _ = tx.send(Ok(Message::stream(self.credit_stream(node, req, srx))));
                Some(stx)
            }
            (Waiter::Reply(tx), Header::StreamEnd { .. }) => {
                let _ = tx.send(Ok(Message::stream(futures::stream::empty())));
                None
            }
            (Waiter::Stream(stx), Header::StreamItem { tag, .. }) => {
                let _ = stx.send((Ok(Message::single(tag, f.body)), size));
                Some(stx)
            }
            (Waiter::Stream(stx), Header::Error { error, .. }) => {
                let _ = stx.send((Err(PulsingError::from(&*error)), 0));
                None
            }
            (Waiter::Stream(_), _) | (Waiter::Reply(_), _) => None,
        };
        if let Some(stx) = streaming {
            pending.insert(
                req,
                Pending {
                    node,
                    conn,
                    waiter: Waiter::Stream(stx),
                },
            );
        }
    }

    /// Items of a remote stream; credit goes back [`CREDIT_BATCH`] items at a time, or once
    /// the items used since the last credit came to [`CREDIT_BYTES`], as the TypeScript caller
    /// does. Dropping the stream before its end cancels the producer.
    fn credit_stream(
        &self,
        node: NodeId,
        req: u64,
        rx: mpsc::UnboundedReceiver<Item>,
    ) -> impl futures::Stream<Item = Reply> + Send + 'static {
        let guard = CancelOnDrop {
            node,
            req,
            this: self.this.clone(),
        };
        futures::stream::unfold(
            (rx, guard, 0u32, 0usize),
            move |(mut rx, g, used, bytes)| async move {
                let (item, size) = rx.recv().await?;
                let (mut used, mut bytes) = (used + 1, bytes + size);
                if used == CREDIT_BATCH || bytes >= CREDIT_BYTES {
                    if let Some(n) = g.this.upgrade() {
                        let _ = n.send_to(node, Frame::bare(Header::Credit { req, n: used }));
                    }
                    (used, bytes) = (0, 0);
                }
                Some((item, (rx, g, used, bytes)))
            },
        )
        .boxed()
    }
}

/// Cancels a remote stream its consumer dropped before the end (`break` in TypeScript): the
/// producer's generator stops instead of running on until its credit is spent.
struct CancelOnDrop {
    node: NodeId,
    req: u64,
    this: Weak<Node>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(n) = self.this.upgrade() else { return };
        // Still pending: the stream neither ended nor failed, so the producer is live.
        if n.calls.pending.lock().remove(&self.req).is_some() {
            let _ = n.send_to(self.node, Frame::bare(Header::Cancel { req: self.req }));
        }
    }
}
