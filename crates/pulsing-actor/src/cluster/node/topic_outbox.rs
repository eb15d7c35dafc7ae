//! Topic deliveries leave for each node in batches: a publisher's message for a node joins
//! that node's outbox, one `deliver_many` is on the way to a node at a time, and the messages
//! that arrived meanwhile leave together when it is answered. Under load a frame carries many
//! messages instead of one; alone, a message leaves at once. One batch at a time per node
//! also keeps the order messages were published in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::topics::{Delivery, SERVICE};
use super::Node;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::transport::frame::Target;

/// Messages one `deliver_many` carries at most (the rest leave in the next).
pub const MAX_BATCH: usize = 1024;

type Answer = oneshot::Sender<Result<Delivery, PulsingError>>;

#[derive(Default)]
struct Outbox {
    waiting: Vec<(String, Bytes, Answer)>,
    /// A batch is on the way (its task sends what waits once it is answered).
    busy: bool,
}

/// The outboxes of this node, per destination node.
#[derive(Default)]
pub(crate) struct Outboxes(Mutex<HashMap<NodeId, Outbox>>);

impl Node {
    /// Deliver `message` of `topic` to the subscribers on `node`, waiting up to `wait` for
    /// what that node did with it.
    pub async fn deliver_to(
        &self,
        node: NodeId,
        topic: &str,
        message: Bytes,
        wait: Duration,
    ) -> Result<Delivery, PulsingError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut all = self.outboxes.0.lock();
            let o = all.entry(node).or_default();
            o.waiting.push((topic.to_string(), message, tx));
            !std::mem::replace(&mut o.busy, true)
        };
        if start {
            if let Some(this) = self.this.upgrade() {
                self.rt.spawn(this.send_batches(node));
            }
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(PulsingError::runtime(
                RuntimeErrorKind::Stopped,
                "the node shut down before the message left",
            )),
            Err(_) => Err(PulsingError::Timeout {
                operation: format!("{SERVICE}.deliver to node {node}"),
                duration_ms: wait.as_millis() as u64,
            }),
        }
    }

    /// Send what waits for `node`, a batch at a time, until nothing does.
    async fn send_batches(self: Arc<Self>, node: NodeId) {
        loop {
            let batch: Vec<(String, Bytes, Answer)> = {
                let mut all = self.outboxes.0.lock();
                let Some(o) = all.get_mut(&node) else {
                    return;
                };
                if o.waiting.is_empty() {
                    all.remove(&node);
                    return;
                }
                let n = o.waiting.len().min(MAX_BATCH);
                o.waiting.drain(..n).collect()
            };
            let items: Vec<(&str, &serde_bytes::Bytes)> = batch
                .iter()
                .map(|(t, m, _)| (t.as_str(), serde_bytes::Bytes::new(m)))
                .collect();
            let answer = match Message::call("deliver_many", (items,)) {
                Ok(msg) => self
                    .ask_target(
                        node,
                        Target::Name(SERVICE.into()),
                        msg,
                        self.cfg.idle_timeout,
                    )
                    .await
                    .and_then(|m| m.unpack::<Vec<Delivery>>()),
                Err(e) => Err(PulsingError::runtime(
                    RuntimeErrorKind::Serialization,
                    e.to_string(),
                )),
            };
            match answer {
                Ok(each) if each.len() == batch.len() => {
                    for ((_, _, tx), d) in batch.into_iter().zip(each) {
                        let _ = tx.send(Ok(d));
                    }
                }
                Ok(each) => {
                    let e = PulsingError::runtime(
                        RuntimeErrorKind::Protocol,
                        format!(
                            "node {node} answered {} deliveries for {} messages",
                            each.len(),
                            batch.len()
                        ),
                    );
                    for (_, _, tx) in batch {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
                Err(e) => {
                    for (_, _, tx) in batch {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}
