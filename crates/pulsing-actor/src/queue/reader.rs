//! [`QueueReader`]: reads buckets by offset, each from where it left off.

use std::collections::BTreeMap;
use std::time::Duration;

use super::messages;
use crate::error::PulsingError;
use crate::message::Message;
use crate::system::ActorSystem;

/// Reads the records of some buckets of a queue, each from where it left off.
pub struct QueueReader {
    pub(super) system: ActorSystem,
    pub(super) name: String,
    pub(super) offsets: BTreeMap<u32, u64>,
    /// The bucket the next get starts with (buckets take turns).
    pub(super) turn: usize,
}

impl QueueReader {
    /// Up to `limit` records; waits up to `wait` for one when there are none yet. Each is
    /// MessagePack: `unpack` it.
    pub async fn get(
        &mut self,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Message>, PulsingError> {
        let buckets: Vec<u32> = self.offsets.keys().copied().collect();
        let mut out = Vec::new();
        for i in 0..buckets.len() {
            if out.len() >= limit {
                break;
            }
            let b = buckets[(self.turn + i) % buckets.len()];
            let offset = self.offsets[&b];
            let (records, _, next) = self
                .system
                .queue_get(&self.name, b, offset, limit - out.len(), Duration::ZERO)
                .await?;
            self.offsets.insert(b, next);
            out.extend(messages(records)?);
        }
        self.turn = (self.turn + 1) % buckets.len().max(1);
        if out.is_empty() && !wait.is_zero() {
            // Wait on the first bucket (the others are asked again on the next get).
            let b = buckets[self.turn % buckets.len()];
            let (records, _, next) = self
                .system
                .queue_get(&self.name, b, self.offsets[&b], limit, wait)
                .await?;
            self.offsets.insert(b, next);
            out.extend(messages(records)?);
        }
        Ok(out)
    }

    /// The offset this reader is at, per bucket.
    pub fn offsets(&self) -> &BTreeMap<u32, u64> {
        &self.offsets
    }
}
