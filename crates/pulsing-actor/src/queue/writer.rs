//! [`QueueWriter`]: records buffered per bucket, a full batch sent to the bucket's owner.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

use super::{packed, WriteOptions};
use crate::cluster::queue::bucket;
use crate::cluster::queue::settings::Wanted;
use crate::cluster::queue::store::Placement;
use crate::error::PulsingError;
use crate::system::ActorSystem;

/// Writes records to a queue, batched per bucket. Its options are the queue's settings if it
/// is the queue's first writer; otherwise they must be the queue's (the first put says so,
/// with a `Config` error naming both).
pub struct QueueWriter {
    pub(super) system: ActorSystem,
    pub(super) name: String,
    pub(super) opts: WriteOptions,
    pub(super) placement: Placement,
    /// Whether the queue's settings admit this writer's (asked once, before the first put).
    pub(super) declared: tokio::sync::OnceCell<Result<(), PulsingError>>,
    pub(super) pending: Mutex<HashMap<u32, Batch>>,
}

/// Records buffered for one bucket, with those held back from consumer groups: (index,
/// Unix ms).
#[derive(Default)]
pub(super) struct Batch {
    records: Vec<Bytes>,
    delays: Vec<(u32, u64)>,
}

impl QueueWriter {
    /// Fix the queue's settings to this writer's options if it is the first, or check them.
    async fn declare(&self) -> Result<(), PulsingError> {
        self.declared
            .get_or_init(|| async {
                self.system
                    .queue_describe(&self.name, Wanted::all(self.placement), true)
                    .await
                    .map(|_| ())
            })
            .await
            .clone()
    }

    /// Buffer `record`, whose bucket column has the value `key`; a full batch is sent now.
    pub async fn put<T: Serialize>(&self, key: &str, record: &T) -> Result<(), PulsingError> {
        self.put_held(key, record, None).await
    }

    /// [`QueueWriter::put`], the record held back from consumer groups for `delay` (its first
    /// delivery comes then; plain readers see it at once).
    pub async fn put_delayed<T: Serialize>(
        &self,
        key: &str,
        record: &T,
        delay: std::time::Duration,
    ) -> Result<(), PulsingError> {
        let at = std::time::SystemTime::now() + delay;
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.put_held(key, record, Some(ms)).await
    }

    async fn put_held<T: Serialize>(
        &self,
        key: &str,
        record: &T,
        until_ms: Option<u64>,
    ) -> Result<(), PulsingError> {
        self.declare().await?;
        let bytes = crate::message::to_msgpack(record)?;
        let b = bucket::bucket_of(key, self.opts.num_buckets);
        let full = {
            let mut pending = self.pending.lock();
            let batch = pending.entry(b).or_default();
            if let Some(ms) = until_ms {
                batch.delays.push((batch.records.len() as u32, ms));
            }
            batch.records.push(bytes);
            (batch.records.len() >= self.opts.batch_size).then(|| std::mem::take(batch))
        };
        match full {
            Some(batch) => self.send(b, batch).await,
            None => Ok(()),
        }
    }

    async fn send(&self, bucket: u32, batch: Batch) -> Result<(), PulsingError> {
        self.system
            .queue_put_delayed(
                &self.name,
                bucket,
                packed(&batch.records),
                self.placement,
                &batch.delays,
            )
            .await
            .map(|_| ())
    }

    /// Send everything buffered; resolves once every owner stored it.
    pub async fn flush(&self) -> Result<(), PulsingError> {
        self.declare().await?;
        let all: Vec<(u32, Batch)> = self.pending.lock().drain().collect();
        for (b, batch) in all {
            if !batch.records.is_empty() {
                self.send(b, batch).await?;
            }
        }
        Ok(())
    }
}
