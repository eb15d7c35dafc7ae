//! Topics of the core, as JS sees them: publish with a mode, and subscriptions JS pulls
//! messages from (in batches) until it closes them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::error::{PulsingError, RuntimeErrorKind};
use pulsing_actor::topic::Subscription;
use tokio::sync::{Mutex, Notify};

use crate::convert::{to_wire, JsWireError};
use crate::system::NativeSystem;

/// What a publish counted.
#[napi(object)]
pub struct JsPublished {
    /// Subscribers that got the message.
    pub delivered: u32,
    /// Subscribers (or nodes) that did not.
    pub failed: u32,
}

/// What one publish of a batch did: its counts, or its error.
#[napi(object)]
pub struct JsPublishOutcome {
    /// Subscribers that got the message.
    pub delivered: u32,
    /// Subscribers (or nodes) that did not.
    pub failed: u32,
    /// Set when the publish failed as a whole.
    pub error: Option<JsWireError>,
}

fn failed(e: &PulsingError) -> JsPublishOutcome {
    JsPublishOutcome {
        delivered: 0,
        failed: 0,
        error: Some(to_wire(e)),
    }
}

/// One subscriber of a topic on this node.
#[napi]
pub struct NativeSubscription {
    sub: Arc<Mutex<Option<Subscription>>>,
    closed: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

#[napi]
impl NativeSubscription {
    /// The next messages (MessagePack each), up to `max`, waiting for the first; `null` once
    /// closed.
    #[napi]
    pub async fn next(&self, max: u32) -> Option<Vec<Buffer>> {
        let mut guard = self.sub.lock().await;
        if self.closed.load(Ordering::SeqCst) {
            guard.take();
            return None;
        }
        let sub = guard.as_mut()?;
        let got = tokio::select! {
            // Empty only once the subscription ended (the system shut down).
            got = sub.recv_many(max as usize) => Some(got).filter(|g| !g.is_empty()),
            _ = self.wake.notified() => None,
        };
        if self.closed.load(Ordering::SeqCst) {
            // Unsubscribes (the node stops announcing the topic after its last subscriber).
            guard.take();
            return None;
        }
        got.map(|msgs| {
            msgs.into_iter()
                .map(|b| Buffer::from(Vec::<u8>::from(b)))
                .collect()
        })
    }

    /// Stop: a pending `next` resolves to `null`. Idempotent.
    #[napi]
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // A permit, kept if nobody waits yet: the next `next` sees it at once.
        self.wake.notify_one();
        let sub = self.sub.clone();
        napi::bindgen_prelude::spawn(async move {
            sub.lock().await.take();
        });
    }
}

#[napi]
impl NativeSystem {
    /// Publish several messages in one crossing (the TS publishers of one tick): message `i`
    /// of `packed` goes to `topics[i]` in `modes[i]`. They run at once; resolves to one outcome each, in
    /// order.
    #[napi]
    pub async fn topic_publish_many(
        &self,
        topics: Vec<String>,
        packed: Buffer,
        modes: Vec<String>,
    ) -> Vec<JsPublishOutcome> {
        // One buffer for all the messages (`u32` LE length, then the bytes, each), sliced
        // without copying: one JS reference, not one per message.
        let messages = match pulsing_actor::cluster::queue::unpack(
            bytes::Bytes::from_owner(packed),
            topics.len(),
        ) {
            Ok(m) if m.len() == topics.len() => m,
            Ok(m) => {
                let e = PulsingError::runtime(
                    RuntimeErrorKind::Protocol,
                    format!("{} messages packed for {} topics", m.len(), topics.len()),
                );
                return topics.iter().map(|_| failed(&e)).collect();
            }
            Err(e) => return topics.iter().map(|_| failed(&e)).collect(),
        };
        let items = topics
            .into_iter()
            .zip(messages)
            .zip(modes)
            .map(|((topic, message), mode)| (topic, message, mode));
        self.inner
            .topics()
            .publish_many(items)
            .await
            .into_iter()
            .map(|r| match r {
                Ok(p) => JsPublishOutcome {
                    delivered: p.delivered,
                    failed: p.failed,
                    error: None,
                },
                Err(e) => failed(&e),
            })
            .collect()
    }

    /// Subscribe to `topic` on this node.
    #[napi]
    pub fn topic_subscribe(
        &self,
        topic: String,
    ) -> napi::Result<NativeSubscription, crate::convert::Code> {
        let sub = self
            .inner
            .topics()
            .subscribe(&topic)
            .map_err(crate::convert::to_napi)?;
        Ok(NativeSubscription {
            sub: Arc::new(Mutex::new(Some(sub))),
            closed: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(Notify::new()),
        })
    }
}
