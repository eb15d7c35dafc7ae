//! Topics of the core, as JS sees them: publish with a mode, and subscriptions JS pulls
//! messages from (in batches) until it closes them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::topic::{PublishMode, Subscription};
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
    /// Publish MessagePack `message` to every subscriber of `topic`; `mode` is
    /// `fire-and-forget`, `best-effort`, `wait-all-acks` or `wait-any-ack`. Resolves to what
    /// it counted, or to the typed error.
    #[napi]
    pub async fn topic_publish(
        &self,
        topic: String,
        message: Buffer,
        mode: String,
    ) -> Either<JsPublished, JsWireError> {
        let mode = match mode.parse::<PublishMode>() {
            Ok(m) => m,
            Err(e) => return Either::B(to_wire(&e)),
        };
        match self
            .inner
            .topics()
            .publish(&topic, bytes::Bytes::from_owner(message), mode)
            .await
        {
            Ok(p) => Either::A(JsPublished {
                delivered: p.delivered,
                failed: p.failed,
            }),
            Err(e) => Either::B(to_wire(&e)),
        }
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
