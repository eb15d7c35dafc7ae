//! Requests this node serves: routing to Rust actors (in arrival order per connection) or
//! to the foreign host, answering with replies, errors, or a stream under the caller's
//! credit, and stopping a stream when the caller cancels or its connection closes.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::credit::Credit;
use super::Node;
use crate::cluster::foreign::ForeignEvent;
use crate::cluster::local::LocalMailbox;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::message::Message;
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};
use crate::transport::WireError;

/// A request for a Rust actor, queued in arrival order for its connection's worker.
type Inbound = (Arc<dyn LocalMailbox>, Frame);

struct Serving {
    credits: Arc<Credit>,
    task: Option<tokio::task::AbortHandle>,
}

/// Requests being served.
#[derive(Default)]
pub(crate) struct Serve {
    serving: Mutex<HashMap<(u32, u64), Serving>>,
    /// Per connection, requests for Rust actors in arrival order (see `on_request`).
    inbound: Mutex<HashMap<u32, mpsc::UnboundedSender<Inbound>>>,
}

impl Serve {
    /// Streams a closed connection was consuming are abandoned.
    pub(super) fn conn_closed(&self, conn: u32) {
        self.inbound.lock().remove(&conn);
        self.serving.lock().retain(|(c, _), s| {
            if *c == conn {
                if let Some(t) = &s.task {
                    t.abort();
                }
                false
            } else {
                true
            }
        });
    }

    pub(super) fn clear(&self) {
        self.inbound.lock().clear();
    }
}

impl Node {
    pub(super) fn on_request(&self, c: &Arc<ConnHandle>, f: Frame) {
        let (req, target) = match &f.header {
            Header::Ask { req, target, .. } => (Some(*req), target.clone()),
            Header::Tell { target, .. } => (None, target.clone()),
            _ => return,
        };
        if self.local.is_gone() {
            return;
        }
        if self.client().is_some() {
            // A client hosts nothing: whoever asks it is told so.
            self.reply_error(c, req, super::client::not_hosted());
            return;
        }
        let (local, name) = match &target {
            Target::Local(id) => (*id, None),
            Target::Remote { node, local } if *node == self.me => (*local, None),
            Target::Remote { node, local } => {
                // Only a client is relayed for: members call the hosting node themselves.
                let refused = if self.is_client(c) {
                    self.unreachable(*node)
                } else {
                    Some(WireError::runtime(
                        RuntimeErrorKind::Protocol,
                        format!(
                            "node {} relays for clients only: call node {node} directly",
                            self.me
                        ),
                    ))
                };
                match refused {
                    None => self.relay_request(c, f, *node, *local),
                    Some(e) => self.reply_error(c, req, e),
                }
                return;
            }
            Target::Name(n) if n == super::gateway::SERVICE => {
                self.serve_gateway(c, f);
                return;
            }
            Target::Name(n) if n == super::queues::SERVICE => {
                self.serve_queue(c, f);
                return;
            }
            Target::Name(n) if n == super::topics::SERVICE => {
                self.serve_topic(c, f);
                return;
            }
            Target::Name(n) if n == super::stats::SERVICE => {
                self.serve_stats(c, f);
                return;
            }
            Target::Name(n) if n.starts_with("system/") => (0, Some(n.clone())),
            // A user actor by name is served as by its id (the host reads a name as a
            // `system/*` service).
            Target::Name(n) => match self.local.lookup(n) {
                Some(local) => (local, None),
                None => {
                    // A client (not a member) reaches actors anywhere through this node.
                    if self.is_client(c) {
                        if let Some(host) = self.relay_host(n) {
                            self.relay_request(c, f, host.node, host.local);
                            return;
                        }
                    }
                    self.reply_error(
                        c,
                        req,
                        WireError::runtime(
                            RuntimeErrorKind::ActorNotFound,
                            format!("no actor named {n} on node {}", self.me),
                        ),
                    );
                    return;
                }
            },
        };
        match self.local.mailbox(local) {
            Some(r) => {
                // Requests from one connection enter mailboxes in the order they arrived:
                // one worker per connection enqueues them; only the waits for replies run
                // concurrently.
                let mut inbound = self.serve.inbound.lock();
                let tx = inbound.entry(c.id).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let this = self.this.upgrade().expect("node alive");
                    tokio::spawn(this.inbound_worker(c.clone(), rx));
                    tx
                });
                let _ = tx.send((r, f));
            }
            None if self.foreign.read().is_some() => self.deliver(ForeignEvent::Request {
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
                WireError::runtime(
                    RuntimeErrorKind::ActorNotFound,
                    format!("no actor {}:{local}", self.me),
                ),
            ),
        }
    }

    async fn inbound_worker(
        self: Arc<Self>,
        c: Arc<ConnHandle>,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
    ) {
        while let Some((r, f)) = rx.recv().await {
            match f.header {
                Header::Tell { tag, .. } => {
                    if let Err(e) = r.tell(Message::single(tag, f.body)).await {
                        tracing::warn!("dropping a tell for a stopped actor: {e}");
                    }
                }
                Header::Ask { req, tag, .. } => {
                    let credits = Arc::new(Credit::new());
                    let reply = match r.ask(Message::single(tag, f.body)).await {
                        Ok(rx) => rx,
                        Err(e) => {
                            self.reply_error(&c, Some(req), WireError::from(&e));
                            continue;
                        }
                    };
                    self.serve.serving.lock().insert(
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
                        this.serve.serving.lock().remove(&(conn.id, req));
                    });
                    if let Some(s) = self.serve.serving.lock().get_mut(&(c.id, req)) {
                        s.task = Some(task.abort_handle());
                    }
                }
                _ => {}
            }
        }
    }

    /// Answer request `req` on `c` with `result` (a reply, or a stream under the caller's
    /// credit that stops when the caller cancels or its connection closes), from a task.
    pub(super) fn serve_result(
        &self,
        c: &Arc<ConnHandle>,
        req: u64,
        result: Result<Message, PulsingError>,
    ) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let credits = Arc::new(Credit::new());
        let mut serving = self.serve.serving.lock();
        serving.insert(
            (c.id, req),
            Serving {
                credits: credits.clone(),
                task: None,
            },
        );
        let conn = c.clone();
        let task = self.rt.spawn(async move {
            this.send_result(&conn, req, result, credits).await;
            this.serve.serving.lock().remove(&(conn.id, req));
        });
        if let Some(s) = serving.get_mut(&(c.id, req)) {
            s.task = Some(task.abort_handle());
        }
    }

    async fn send_result(
        &self,
        c: &Arc<ConnHandle>,
        req: u64,
        result: Result<Message, PulsingError>,
        credits: Arc<Credit>,
    ) {
        match result {
            Ok(Message::Single { msg_type, data }) => {
                self.send_on(c.id, Frame::new(Header::Reply { req, tag: msg_type }, data));
            }
            Ok(Message::Stream(mut s)) => {
                while let Some(item) = s.next().await {
                    match item {
                        Ok(Message::Single { msg_type, data }) => {
                            // One credit per item, and bytes ahead bounded: a slow
                            // consumer slows the producer.
                            if !credits.send(data.len()).await {
                                return;
                            }
                            self.send_on(
                                c.id,
                                Frame::new(Header::StreamItem { req, tag: msg_type }, data),
                            );
                        }
                        Ok(Message::Stream(_)) => {
                            self.reply_error(
                                c,
                                Some(req),
                                WireError::runtime(
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
                c.send(Frame::bare(Header::Error {
                    req,
                    error: Box::new(error),
                }));
            }
            None => tracing::warn!("dropping a tell: {}", error.message),
        }
    }

    pub(super) fn on_flow(&self, c: &Arc<ConnHandle>, f: Frame) {
        let (req, credit) = match &f.header {
            Header::Credit { req, n } => (*req, Some(*n)),
            Header::Cancel { req } => (*req, None),
            _ => return,
        };
        if self.relay_flow(c.id, req, credit) {
            return;
        }
        let mut serving = self.serve.serving.lock();
        if let Some(s) = serving.get(&(c.id, req)) {
            match credit {
                Some(n) => s.credits.grant(n as usize),
                None => {
                    s.credits.close();
                    if let Some(t) = &s.task {
                        t.abort();
                    }
                    serving.remove(&(c.id, req));
                }
            }
            return;
        }
        drop(serving);
        self.deliver(ForeignEvent::Request {
            conn: c.id,
            header: f.header,
            local: 0,
            name: None,
            body: f.body,
            attachments: f.attachments,
        });
    }
}
