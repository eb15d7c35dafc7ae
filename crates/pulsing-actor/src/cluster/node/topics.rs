//! `system/topic`: the subscribers of topics on this node. A publisher sends each message to
//! every node that has subscribers (they are found by name: `system/topics/<topic>` is
//! registered by a node while it has one), and the node hands it to each of its subscribers.
//!
//! A subscriber has a bounded buffer (`SUBSCRIBER_BUFFER` messages). A message for a
//! subscriber whose buffer is full is not given to it and counts as failed: a slow
//! subscriber loses messages, never slows the others or the publisher.
//!
//! - `deliver(topic, message)` answers `{ delivered, failed }` for this node's subscribers;
//!   sent as a tell, it answers nothing. `deliver_many([[topic, message], ...])` (at most
//!   `TOPIC_MAX_BATCH`, see [`super::topic_outbox`]) answers one such count per message.

use crate::message::to_msgpack;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Node;
use crate::error::PulsingError;
use crate::message::Message;
use crate::protocol::MSGPACK;
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header};

/// The name of the service.
pub const SERVICE: &str = "system/topic";
/// Messages a subscriber may have waiting; more are not given to it (counted as failed).
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// What one node did with a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Subscribers that got it.
    pub delivered: u32,
    /// Subscribers that did not (their buffer was full, or they are gone).
    pub failed: u32,
}

struct Sub {
    id: u64,
    tx: mpsc::Sender<Bytes>,
}

/// The subscribers on one node, by topic.
#[derive(Default)]
pub struct Subscribers {
    by_topic: Mutex<HashMap<String, Vec<Sub>>>,
    next: AtomicU64,
    /// The system shut down: subscriptions end, new ones end at once.
    closed: std::sync::atomic::AtomicBool,
}

impl Subscribers {
    /// Add a subscriber of `topic`: its id, its receiver, and whether it is the first on this
    /// node (the node must then announce the topic).
    pub fn add(&self, topic: &str) -> (u64, mpsc::Receiver<Bytes>, bool) {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut m = self.by_topic.lock();
        if self.closed.load(Ordering::Acquire) {
            return (id, rx, false); // its sender is gone: it ends at once
        }
        let subs = m.entry(topic.to_string()).or_default();
        subs.push(Sub { id, tx });
        (id, rx, subs.len() == 1)
    }

    /// End every subscription (the system shut down): each receiver sees the end once it
    /// has what was already given to it.
    pub fn close_all(&self) {
        let mut m = self.by_topic.lock();
        self.closed.store(true, Ordering::Release);
        m.clear();
    }

    /// Remove subscriber `id` of `topic`; whether it was the last on this node.
    pub fn remove(&self, topic: &str, id: u64) -> bool {
        let mut m = self.by_topic.lock();
        let Some(subs) = m.get_mut(topic) else {
            return false;
        };
        let before = subs.len();
        subs.retain(|s| s.id != id);
        let last = before > 0 && subs.is_empty();
        if subs.is_empty() {
            m.remove(topic);
        }
        last
    }

    /// The topics with subscribers here: how many, and messages waiting for them.
    pub fn stats(&self) -> Vec<crate::stats::TopicStats> {
        let m = self.by_topic.lock();
        let mut out: Vec<crate::stats::TopicStats> = m
            .iter()
            .map(|(t, subs)| crate::stats::TopicStats {
                topic: t.clone(),
                subscribers: subs.len() as u64,
                waiting: subs
                    .iter()
                    .map(|s| (SUBSCRIBER_BUFFER - s.tx.capacity()) as u64)
                    .sum(),
            })
            .collect();
        out.sort_by(|x, y| x.topic.cmp(&y.topic));
        out
    }

    /// Give `message` to every subscriber of `topic` that has room.
    pub fn deliver(&self, topic: &str, message: &Bytes) -> Delivery {
        let m = self.by_topic.lock();
        let mut d = Delivery::default();
        for s in m.get(topic).into_iter().flatten() {
            match s.tx.try_send(message.clone()) {
                Ok(()) => d.delivered += 1,
                Err(_) => d.failed += 1,
            }
        }
        d
    }
}

impl Node {
    /// Serve one `system/topic` request on `c`: `deliver(topic, msg)` from a publisher's
    /// node; for a client of this gateway, `publish(topic, msg, mode)` (this node publishes
    /// for it) and `subscribe(topic)` (a stream of the topic's messages, subscribed here
    /// until the client cancels it or its connection closes).
    pub(super) fn serve_topic(&self, c: &Arc<ConnHandle>, f: Frame) {
        let ask = match f.header {
            Header::Ask { req, .. } => Some(req),
            _ => None,
        };
        let msg = Message::single(MSGPACK, f.body);
        let method = msg
            .unpack::<(String, serde::de::IgnoredAny)>()
            .map(|(m, _)| m);
        let got = match method.as_deref() {
            Ok("deliver") => msg
                .unpack::<(String, (String, serde_bytes::ByteBuf))>()
                .map(|(_, (topic, m))| {
                    self.subscribers.deliver(&topic, &Bytes::from(m.into_vec()))
                }),
            Ok("deliver_many") => {
                let Some(req) = ask else {
                    return tracing::warn!("dropping a deliver_many sent as a tell");
                };
                let answer = msg
                    .unpack::<(String, (Vec<(String, serde_bytes::ByteBuf)>,))>()
                    .and_then(|(_, (items,))| {
                        if items.len() > super::topic_outbox::MAX_BATCH {
                            return Err(PulsingError::runtime(
                                crate::error::RuntimeErrorKind::Protocol,
                                format!(
                                    "deliver_many carries {} messages at most, got {}",
                                    super::topic_outbox::MAX_BATCH,
                                    items.len()
                                ),
                            ));
                        }
                        let each: Vec<Delivery> = items
                            .into_iter()
                            .map(|(t, m)| self.subscribers.deliver(&t, &Bytes::from(m.into_vec())))
                            .collect();
                        to_msgpack(&each)
                    });
                self.send_on(c.id, super::gateway::answer_frame(req, answer));
                return;
            }
            Ok("publish") | Ok("subscribe") => {
                let Some(req) = ask else {
                    return tracing::warn!("dropping a topic tell that needs an answer");
                };
                return self.serve_topic_for_client(c, req, msg);
            }
            Ok(other) => Err(PulsingError::Unsupported {
                operation: format!(
                    "{SERVICE}.{other}: it serves deliver, deliver_many, publish and subscribe"
                ),
            }),
            Err(e) => Err(e.clone()),
        };
        let Some(req) = ask else {
            if let Err(e) = got {
                tracing::warn!("dropping a topic message: {e}");
            }
            return;
        };
        let answer = got.and_then(|d| to_msgpack(&d));
        let frame = super::gateway::answer_frame(req, answer);
        self.send_on(c.id, frame);
    }

    fn serve_topic_for_client(&self, c: &Arc<ConnHandle>, req: u64, msg: Message) {
        let (method, _) = match msg.unpack::<(String, serde::de::IgnoredAny)>() {
            Ok(m) => m,
            Err(e) => {
                self.send_on(c.id, super::gateway::answer_frame(req, Err(e)));
                return;
            }
        };
        if method == "subscribe" {
            let result = msg
                .unpack::<(String, (String,))>()
                .and_then(|(_, (topic,))| self.local.topic_subscribe(&topic));
            return self.serve_result(c, req, result);
        }
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let conn = c.id;
        self.rt.spawn(async move {
            let answer = match msg.unpack::<(String, (String, serde_bytes::ByteBuf, String))>() {
                Ok((_, (topic, m, mode))) => this
                    .local
                    .topic_publish(topic, Bytes::from(m.into_vec()), mode)
                    .await
                    .and_then(|counted| to_msgpack(&counted)),
                Err(e) => Err(e),
            };
            this.send_on(conn, super::gateway::answer_frame(req, answer));
        });
    }
}
