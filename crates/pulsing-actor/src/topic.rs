//! Topics: publish a message to every subscriber of a topic, on any node. A node with
//! subscribers announces the topic by name (`system/topics/<topic>`), so a publisher finds
//! the nodes to send to without any broker; each node hands the message to its own
//! subscribers, each of which has a bounded buffer (a slow one loses messages, counted as
//! failed, and never slows the others).
//!
//! [`PublishMode`] says how long `publish` waits and what it counts:
//!
//! | mode | waits for | `delivered` / `failed` count |
//! |---|---|---|
//! | `FireAndForget` | nothing | this node's subscribers; nodes it could not send to fail (one each) |
//! | `BestEffort` | each node's answer, at most 1 s | subscribers that got it / did not; a node that did not answer counts one failure |
//! | `WaitAllAcks` | every node's answer (the call timeout) | the same |
//! | `WaitAnyAck` | the first node where a subscriber got it | what was counted by then |
//!
//! ```
//! # use pulsing_actor::prelude::*;
//! # use pulsing_actor::topic::PublishMode;
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder().build().await?;
//! let mut sub = system.topics().subscribe("events")?;
//! let sent = system.topics().publish_value("events", &"login", PublishMode::WaitAllAcks).await?;
//! assert_eq!((sent.delivered, sent.failed), (1, 0));
//! let got: String = sub.recv().await.unwrap().unpack()?;
//! assert_eq!(got, "login");
//! # Ok(()) }
//! ```

use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::cluster::node::{Delivery, Node, GATEWAY, SUBSCRIBER_BUFFER, TOPIC_SERVICE};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::naming::Registration;
use crate::protocol::MSGPACK;
use crate::system::ActorSystem;
use crate::transport::frame::Target;

/// How long `BestEffort` waits for a node at most.
pub const BEST_EFFORT_WAIT: Duration = Duration::from_secs(1);

/// How `publish` waits, and what it counts (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// Send and return.
    FireAndForget,
    /// Wait for each node, briefly.
    BestEffort,
    /// Wait for every node.
    WaitAllAcks,
    /// Wait for the first node that delivered it.
    WaitAnyAck,
}

impl PublishMode {
    /// The mode as TypeScript spells it (`"wait-all-acks"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            PublishMode::FireAndForget => "fire-and-forget",
            PublishMode::BestEffort => "best-effort",
            PublishMode::WaitAllAcks => "wait-all-acks",
            PublishMode::WaitAnyAck => "wait-any-ack",
        }
    }
}

impl FromStr for PublishMode {
    type Err = PulsingError;
    fn from_str(s: &str) -> Result<Self, PulsingError> {
        Ok(match s {
            "fire-and-forget" => PublishMode::FireAndForget,
            "best-effort" => PublishMode::BestEffort,
            "wait-all-acks" => PublishMode::WaitAllAcks,
            "wait-any-ack" => PublishMode::WaitAnyAck,
            other => {
                return Err(PulsingError::runtime(
                    RuntimeErrorKind::Config,
                    format!("mode must be 'fire-and-forget', 'best-effort', 'wait-all-acks' or 'wait-any-ack', got {other:?}"),
                ))
            }
        })
    }
}

/// What `publish` counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Subscribers that got the message.
    pub delivered: u32,
    /// Subscribers (or nodes) that did not.
    pub failed: u32,
}

impl Published {
    fn add(&mut self, d: Delivery) {
        self.delivered += d.delivered;
        self.failed += d.failed;
    }
}

/// The topics of a system.
pub struct Topics {
    system: ActorSystem,
}

impl ActorSystem {
    /// Topics: publish to every subscriber, on any node.
    pub fn topics(&self) -> Topics {
        Topics {
            system: self.clone(),
        }
    }
}

fn announced(topic: &str) -> Result<String, PulsingError> {
    if topic.is_empty() || topic.len() > 512 {
        return Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!("a topic name must have 1 to 512 bytes, got {}", topic.len()),
        ));
    }
    crate::naming::normalize(&format!("system/topics/{topic}"))
}

impl Topics {
    /// Subscribe to `topic` on this node: messages published from now on arrive at the
    /// subscription, until it is dropped.
    pub fn subscribe(&self, topic: &str) -> Result<Subscription, PulsingError> {
        let name = announced(topic)?;
        if let Some(node) = self.system.cluster().filter(|n| n.in_client_mode()) {
            return Ok(self.subscribe_through_gateway(node.clone(), topic));
        }
        let (id, rx, first) = self.system.subscribers().add(topic);
        if first {
            let local = self.system.reserve_local_ids(1);
            self.system.announce(&name, local)?;
        }
        Ok(Subscription {
            system: self.system.clone(),
            topic: topic.to_string(),
            id,
            rx,
            pump: None,
        })
    }

    /// A client's subscription: its gateway subscribes for it and streams the messages
    /// (with credit: a client that does not keep up fills the gateway's buffer for it, and
    /// loses what does not fit there). Dropping it cancels the stream, which unsubscribes.
    fn subscribe_through_gateway(&self, node: std::sync::Arc<Node>, topic: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let timeout = self.system.default_timeout();
        let t = topic.to_string();
        let rt = node.runtime().clone();
        let pump = rt.spawn(async move {
            let msg = match Message::call("subscribe", (&t,)) {
                Ok(m) => m,
                Err(e) => return tracing::warn!(topic = %t, "cannot subscribe through the gateway: {e}"),
            };
            let stream = match node
                .ask_target(GATEWAY, Target::Name(TOPIC_SERVICE.into()), msg, timeout)
                .await
            {
                Ok(Message::Stream(s)) => s,
                Ok(Message::Single { .. }) => {
                    return tracing::warn!(topic = %t, "the gateway did not answer a subscription with a stream")
                }
                Err(e) => return tracing::warn!(topic = %t, "cannot subscribe through the gateway: {e}"),
            };
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(Message::Single { data, .. }) => {
                        if tx.send(data).await.is_err() {
                            return; // the subscription was dropped
                        }
                    }
                    Ok(Message::Stream(_)) => return,
                    Err(e) => return tracing::warn!(topic = %t, "a subscription through the gateway ended: {e}"),
                }
            }
        });
        Subscription {
            system: self.system.clone(),
            topic: topic.to_string(),
            id: 0,
            rx,
            pump: Some(pump.abort_handle()),
        }
    }

    /// Publish MessagePack `message` (as a TypeScript publisher does) to every subscriber.
    pub async fn publish(
        &self,
        topic: &str,
        message: Bytes,
        mode: PublishMode,
    ) -> Result<Published, PulsingError> {
        let name = announced(topic)?;
        if let Some(node) = self.system.cluster().filter(|n| n.in_client_mode()) {
            // A client knows no members: its gateway publishes for it.
            let msg = Message::call(
                "publish",
                (topic, serde_bytes::Bytes::new(&message), mode.as_str()),
            )
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
            let (delivered, failed): (u32, u32) = node
                .ask_target(
                    GATEWAY,
                    Target::Name(TOPIC_SERVICE.into()),
                    msg,
                    self.system.default_timeout(),
                )
                .await?
                .unpack()?;
            return Ok(Published { delivered, failed });
        }
        let me = self.system.node_id();
        let mut out = Published::default();
        let nodes: Vec<NodeId> = self
            .system
            .instances(&name)?
            .into_iter()
            .map(|i| i.node_id)
            .collect();
        let mut remote = Vec::new();
        for n in nodes {
            if n == me {
                out.add(self.system.subscribers().deliver(topic, &message));
            } else {
                remote.push(n);
            }
        }
        let Some(node) = self.system.cluster().filter(|_| !remote.is_empty()) else {
            return Ok(out);
        };
        let call = || {
            Message::call("deliver", (topic, serde_bytes::Bytes::new(&message)))
                .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
        };
        let target = || Target::Name(TOPIC_SERVICE.into());
        if mode == PublishMode::FireAndForget {
            for n in remote {
                if node.tell_target(n, target(), call()?).is_err() {
                    out.failed += 1;
                }
            }
            return Ok(out);
        }
        let wait = match mode {
            PublishMode::BestEffort => BEST_EFFORT_WAIT.min(self.system.default_timeout()),
            _ => self.system.default_timeout(),
        };
        if mode == PublishMode::WaitAnyAck && out.delivered > 0 {
            // A subscriber here has it already: do not wait for the others.
            for n in remote {
                let _ = node.tell_target(n, target(), call()?);
            }
            return Ok(out);
        }
        // Batched per node (see `cluster::node::topic_outbox`): many publishes, few frames.
        let mut asks: FuturesUnordered<_> = remote
            .into_iter()
            .map(|n| node.deliver_to(n, topic, message.clone(), wait))
            .collect();
        while let Some(r) = asks.next().await {
            match r {
                Ok(d) => out.add(d),
                Err(_) => out.failed += 1,
            }
            if mode == PublishMode::WaitAnyAck && out.delivered > 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Publish several messages at once, each `(topic, MessagePack message, mode)` with the
    /// mode as TypeScript spells it: one result each, in order. Messages for one node leave
    /// in the order given.
    pub async fn publish_many(
        &self,
        items: impl IntoIterator<Item = (String, Bytes, String)>,
    ) -> Vec<Result<Published, PulsingError>> {
        let each = items.into_iter().map(|(topic, message, mode)| async move {
            let mode = mode.parse::<PublishMode>()?;
            self.publish(&topic, message, mode).await
        });
        futures::future::join_all(each).await
    }

    /// Publish a serde value, encoded as MessagePack.
    pub async fn publish_value<T: Serialize>(
        &self,
        topic: &str,
        value: &T,
        mode: PublishMode,
    ) -> Result<Published, PulsingError> {
        let bytes = crate::message::to_msgpack(value)?;
        self.publish(topic, bytes, mode).await
    }
}

/// One subscriber of a topic on this node; dropping it unsubscribes.
pub struct Subscription {
    system: ActorSystem,
    topic: String,
    id: u64,
    rx: mpsc::Receiver<Bytes>,
    /// For a client: the task streaming from the gateway.
    pump: Option<tokio::task::AbortHandle>,
}

impl Subscription {
    /// The next message (MessagePack: `unpack` it); `None` once the system is shut down.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await.map(|b| Message::single(MSGPACK, b))
    }

    /// The next messages as they were published, up to `max`, waiting for the first; none
    /// once the subscription ended (the system shut down).
    #[doc(hidden)]
    pub async fn recv_many(&mut self, max: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.rx.recv_many(&mut out, max.max(1)).await;
        out
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The messages as a stream (what a gateway answers a client's subscription with);
    /// dropping it unsubscribes.
    pub(crate) fn into_message(self) -> Message {
        Message::stream(futures::stream::unfold(self, |mut s| async move {
            let b = s.rx.recv().await?;
            Some((Ok(Message::single(MSGPACK, b)), s))
        }))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(pump) = &self.pump {
            pump.abort();
            return;
        }
        if self.system.subscribers().remove(&self.topic, self.id) {
            if let Ok(name) = announced(&self.topic) {
                self.system.withdraw(&name);
            }
        }
    }
}

impl ActorSystem {
    /// Register `name` (a `system/` name, no actor behind it) so the cluster finds this node.
    fn announce(&self, name: &str, local: u64) -> Result<(), PulsingError> {
        let actor_id = self.local_id(local);
        self.registry_insert(
            name,
            Registration {
                actor_id,
                metadata: Default::default(),
            },
        )
    }
}
