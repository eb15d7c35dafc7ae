//! Queue storage and routing of the core, as JS sees it: the TypeScript writer and reader
//! (`src/queue.ts`) batch and decode; placement and storage stay in the core.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use pulsing_actor::queue::{Placement, Wanted};

use crate::convert::{to_wire, JsWireError};
use crate::system::NativeSystem;

/// What a queue read returned.
#[napi(object)]
pub struct JsQueueGot {
    /// The records, MessagePack each, packed (`u32` little-endian length, then the bytes).
    pub packed: Buffer,
    /// How many records `packed` holds.
    pub count: u32,
    /// The offset after them.
    pub next: f64,
}

/// What a consumer group's read returned.
#[napi(object)]
pub struct JsQueueGroupGot {
    /// The records, packed as in [`JsQueueGot`].
    pub packed: Buffer,
    /// How many records `packed` holds.
    pub count: u32,
    /// The offset of each.
    pub offsets: Vec<f64>,
    /// How many times each was handed out (this time too).
    pub deliveries: Vec<u32>,
}

/// What a writer or reader asks of a queue's settings (unset: the queue's, or the default).
#[napi(object)]
pub struct JsQueueWanted {
    /// Kept on disk too.
    pub disk: Option<bool>,
    /// Nodes keeping each bucket (1 or 2).
    pub replicas: Option<u32>,
    /// How many buckets.
    pub num_buckets: Option<u32>,
    /// Milliseconds records are kept (0: forever).
    pub retain_ms: Option<f64>,
    /// Whether records every consumer group acknowledged are trimmed.
    pub trim_acked: Option<bool>,
}

/// A queue's settings (what `queueDescribe` resolves to, and what `queuePut` is given).
#[napi(object)]
pub struct JsQueueSettings {
    /// Kept on disk too.
    pub disk: bool,
    /// Nodes keeping each bucket.
    pub replicas: u32,
    /// How many buckets.
    pub num_buckets: u32,
    /// Milliseconds records are kept (0: forever).
    pub retain_ms: f64,
    /// Whether records every consumer group acknowledged are trimmed.
    pub trim_acked: bool,
    /// Whether a writer fixed them (otherwise: what was asked, or the defaults).
    pub settled: bool,
}

#[napi]
impl NativeSystem {
    /// The settings of `queue`, from its bucket 0's owner; a `writer` that is the queue's
    /// first fixes them to what it asks (`null`: the default). Resolves to them, or to the
    /// typed error (`Config` when they contradict the queue's).
    #[napi]
    pub async fn queue_describe(
        &self,
        queue: String,
        wanted: JsQueueWanted,
        writer: bool,
    ) -> Either<JsQueueSettings, JsWireError> {
        let wanted = Wanted {
            disk: wanted.disk,
            replicas: wanted.replicas.map(|r| r.min(u8::MAX as u32) as u8),
            num_buckets: wanted.num_buckets,
            retain_ms: wanted.retain_ms.map(|r| r.max(0.0) as u64),
            trim_acked: wanted.trim_acked,
        };
        match self.inner.queue_describe(&queue, wanted, writer).await {
            Ok(d) => Either::A(JsQueueSettings {
                disk: d.placement.disk,
                replicas: d.placement.replicas.into(),
                num_buckets: d.placement.num_buckets,
                retain_ms: d.placement.retain_ms as f64,
                trim_acked: d.placement.trim_acked,
                settled: d.settled,
            }),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// Store the packed records in `bucket` of `queue` on its owner, kept as the queue's
    /// settings say (those of this writer); records held back from consumer groups are
    /// `delays`, pairs flattened (index among the records, Unix ms). Resolves to the first
    /// one's offset, or to the typed error.
    #[napi]
    pub async fn queue_put(
        &self,
        queue: String,
        bucket: u32,
        packed: Buffer,
        settings: JsQueueSettings,
        delays: Option<Vec<f64>>,
    ) -> Either<f64, JsWireError> {
        let placement = Placement {
            disk: settings.disk,
            replicas: settings.replicas.min(u8::MAX as u32) as u8,
            num_buckets: settings.num_buckets,
            retain_ms: settings.retain_ms.max(0.0) as u64,
            trim_acked: settings.trim_acked,
        };
        let delays: Vec<(u32, u64)> = delays
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|p| (p[0] as u32, p[1].max(0.0) as u64))
            .collect();
        match self
            .inner
            .queue_put_delayed(
                &queue,
                bucket,
                bytes::Bytes::from_owner(packed),
                placement,
                &delays,
            )
            .await
        {
            Ok(first) => Either::A(first as f64),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// Up to `limit` records of `bucket` of `queue` from `offset`, waiting up to `waitMs`
    /// for one; resolves to them and the next offset, or to the typed error.
    #[napi]
    pub async fn queue_get(
        &self,
        queue: String,
        bucket: u32,
        offset: f64,
        limit: u32,
        wait_ms: u32,
    ) -> Either<JsQueueGot, JsWireError> {
        let wait = Duration::from_millis(wait_ms.into());
        match self
            .inner
            .queue_get(&queue, bucket, offset as u64, limit as usize, wait)
            .await
        {
            Ok((packed, count, next)) => Either::A(JsQueueGot {
                packed: Buffer::from(Vec::<u8>::from(packed)),
                count,
                next: next as f64,
            }),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// Hand up to `limit` records of `bucket` of `queue` out to consumer `group`, waiting
    /// up to `waitMs` for one, each invisible to the group's other readers for
    /// `visibilityMs`; one handed out `maxDeliveries` times that came back goes to the dead
    /// letters instead (0: no limit). Resolves to them with their offsets and delivery
    /// counts, or to the typed error.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_group_get(
        &self,
        queue: String,
        bucket: u32,
        group: String,
        limit: u32,
        wait_ms: u32,
        visibility_ms: u32,
        max_deliveries: u32,
    ) -> Either<JsQueueGroupGot, JsWireError> {
        let wait = Duration::from_millis(wait_ms.into());
        let vis = Duration::from_millis(visibility_ms.into());
        match self
            .inner
            .queue_group_get(
                &queue,
                bucket,
                &group,
                limit as usize,
                wait,
                vis,
                max_deliveries,
            )
            .await
        {
            Ok((packed, offsets, deliveries)) => Either::A(JsQueueGroupGot {
                count: offsets.len() as u32,
                packed: Buffer::from(Vec::<u8>::from(packed)),
                offsets: offsets.into_iter().map(|o| o as f64).collect(),
                deliveries,
            }),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// Give records of `bucket` of `queue` back for `group` (they failed): each is handed out
    /// again after `delayMs`, or goes to the dead letters if it was handed out
    /// `maxDeliveries` times already. Resolves to `true`, or to the typed error.
    #[napi]
    pub async fn queue_group_nack(
        &self,
        queue: String,
        bucket: u32,
        group: String,
        offsets: Vec<f64>,
        delay_ms: u32,
        max_deliveries: u32,
    ) -> Either<bool, JsWireError> {
        let offsets: Vec<u64> = offsets.into_iter().map(|o| o as u64).collect();
        let delay = Duration::from_millis(delay_ms.into());
        match self
            .inner
            .queue_group_nack(&queue, bucket, &group, &offsets, delay, max_deliveries)
            .await
        {
            Ok(()) => Either::A(true),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// Acknowledge `offsets` of `bucket` of `queue` for `group`; resolves to the group's
    /// committed offset there, or to the typed error.
    #[napi]
    pub async fn queue_group_ack(
        &self,
        queue: String,
        bucket: u32,
        group: String,
        offsets: Vec<f64>,
    ) -> Either<f64, JsWireError> {
        let offsets: Vec<u64> = offsets.into_iter().map(|o| o as u64).collect();
        match self
            .inner
            .queue_group_ack(&queue, bucket, &group, &offsets)
            .await
        {
            Ok(c) => Either::A(c as f64),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// The node owning `bucket` of `queue`.
    #[napi]
    pub fn queue_owner(&self, queue: String, bucket: u32) -> String {
        self.inner.queue_owner(&queue, bucket).to_string()
    }
}
