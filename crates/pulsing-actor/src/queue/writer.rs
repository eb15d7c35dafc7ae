//! [`QueueWriter`]: records buffered per bucket, a full batch sent to the bucket's owner.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

use super::{packed, WriteOptions};
use crate::cluster::queue::bucket;
use crate::cluster::queue::store::Placement;
use crate::error::PulsingError;
use crate::system::ActorSystem;

/// Writes records to a queue, batched per bucket.
pub struct QueueWriter {
    pub(super) system: ActorSystem,
    pub(super) name: String,
    pub(super) opts: WriteOptions,
    pub(super) placement: Placement,
    pub(super) pending: Mutex<HashMap<u32, Vec<Bytes>>>,
}

impl QueueWriter {
    /// Buffer `record`, whose bucket column has the value `key`; a full batch is sent now.
    pub async fn put<T: Serialize>(&self, key: &str, record: &T) -> Result<(), PulsingError> {
        let bytes = crate::message::to_msgpack(record)?;
        let b = bucket::bucket_of(key, self.opts.num_buckets);
        let full = {
            let mut pending = self.pending.lock();
            let batch = pending.entry(b).or_default();
            batch.push(bytes);
            (batch.len() >= self.opts.batch_size).then(|| std::mem::take(batch))
        };
        match full {
            Some(records) => self
                .system
                .queue_put(&self.name, b, packed(&records), self.placement)
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// Send everything buffered; resolves once every owner stored it.
    pub async fn flush(&self) -> Result<(), PulsingError> {
        let all: Vec<(u32, Vec<Bytes>)> = self.pending.lock().drain().collect();
        for (b, records) in all {
            if !records.is_empty() {
                self.system
                    .queue_put(&self.name, b, packed(&records), self.placement)
                    .await?;
            }
        }
        Ok(())
    }
}
