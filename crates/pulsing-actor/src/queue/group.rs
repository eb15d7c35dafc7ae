//! [`GroupReader`]: a member of a consumer group. The group's place in each bucket lives on
//! the bucket's owner (see [`crate::cluster::queue::groups`]), not in the reader: readers of
//! one group anywhere in the cluster share the records, a restarted reader resumes where its
//! group committed, and a record not acknowledged within the visibility timeout is handed out
//! again (at-least-once).
//!
//! ```
//! # use pulsing_actor::prelude::*;
//! # use pulsing_actor::queue::{GroupOptions, WriteOptions};
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder().build().await?;
//! let w = system.queues().writer("jobs", WriteOptions::new("id"))?;
//! w.put("u1", &"hello").await?;
//! w.flush().await?;
//! let mut r = system.queues().group_reader("jobs", "indexers", GroupOptions::all(4))?;
//! let got = r.get(10, std::time::Duration::ZERO).await?;
//! assert_eq!(got[0].message.unpack::<String>()?, "hello");
//! r.ack(&got).await?; // or r.commit(): everything handed to this reader
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::messages;
use crate::error::PulsingError;
use crate::message::Message;
use crate::system::ActorSystem;

/// How long a record handed out stays invisible to the group's other readers, unless set.
pub const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);

/// Which buckets a group reader reads, how long it may keep a record unacknowledged, and
/// how many times a record may be handed out.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// The buckets (every reader of the group usually reads all of them).
    pub buckets: Vec<u32>,
    /// After this long unacknowledged, a record is handed out again.
    pub visibility: Duration,
    /// A record handed out this many times that comes back again (not acknowledged in
    /// time, or given back with [`GroupReader::nack`]) is moved to the queue's dead letters
    /// (`<queue>.dead`, the same bucket) instead; 0: no limit.
    pub max_deliveries: u32,
}

impl GroupOptions {
    /// Every bucket of a queue of `num_buckets`.
    pub fn all(num_buckets: u32) -> Self {
        GroupOptions {
            buckets: (0..num_buckets).collect(),
            visibility: DEFAULT_VISIBILITY,
            max_deliveries: 0,
        }
    }
}

/// A record handed to a group reader: acknowledge it by passing it to [`GroupReader::ack`].
#[derive(Debug)]
pub struct Delivery {
    /// Its bucket.
    pub bucket: u32,
    /// Its offset in the bucket.
    pub offset: u64,
    /// The record (MessagePack: `unpack` it).
    pub message: Message,
    /// How many times it was handed out, this time too (1 the first time; it starts over
    /// when its bucket changes owner).
    pub deliveries: u32,
}

/// A member of a consumer group of a queue.
pub struct GroupReader {
    system: ActorSystem,
    name: String,
    group: String,
    buckets: Vec<u32>,
    visibility: Duration,
    max_deliveries: u32,
    /// Handed to this reader and not acknowledged yet, per bucket (what `commit` acks).
    unacked: BTreeMap<u32, BTreeSet<u64>>,
    turn: usize,
}

impl GroupReader {
    pub(super) fn new(system: ActorSystem, name: &str, group: &str, opts: GroupOptions) -> Self {
        GroupReader {
            system,
            name: name.to_string(),
            group: group.to_string(),
            buckets: opts.buckets,
            visibility: opts.visibility,
            max_deliveries: opts.max_deliveries,
            unacked: BTreeMap::new(),
            turn: 0,
        }
    }

    /// Up to `limit` records handed to this reader; waits up to `wait` for one when none is
    /// ready (a new record, or one coming back after its visibility timeout).
    pub async fn get(
        &mut self,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, PulsingError> {
        let n = self.buckets.len();
        let mut out = Vec::new();
        for i in 0..n {
            if out.len() >= limit {
                break;
            }
            let b = self.buckets[(self.turn + i) % n];
            self.fetch(b, limit - out.len(), Duration::ZERO, &mut out)
                .await?;
        }
        self.turn = (self.turn + 1) % n;
        if out.is_empty() && !wait.is_zero() {
            let b = self.buckets[self.turn];
            self.fetch(b, limit, wait, &mut out).await?;
        }
        Ok(out)
    }

    async fn fetch(
        &mut self,
        bucket: u32,
        limit: usize,
        wait: Duration,
        out: &mut Vec<Delivery>,
    ) -> Result<(), PulsingError> {
        let (packed, offsets, deliveries) = self
            .system
            .queue_group_get(
                &self.name,
                bucket,
                &self.group,
                limit,
                wait,
                self.visibility,
                self.max_deliveries,
            )
            .await?;
        let mine = self.unacked.entry(bucket).or_default();
        let counts = deliveries.into_iter().chain(std::iter::repeat(1));
        for ((offset, message), deliveries) in
            offsets.into_iter().zip(messages(packed)?).zip(counts)
        {
            mine.insert(offset);
            out.push(Delivery {
                bucket,
                offset,
                message,
                deliveries,
            });
        }
        Ok(())
    }

    /// Give `records` back (they could not be processed): each is handed out again after
    /// `delay` (to this reader or another of the group), or, handed out `max_deliveries`
    /// times already, moved to the queue's dead letters.
    pub async fn nack(
        &mut self,
        records: &[Delivery],
        delay: Duration,
    ) -> Result<(), PulsingError> {
        let mut by_bucket: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for d in records {
            by_bucket.entry(d.bucket).or_default().push(d.offset);
        }
        for (bucket, offsets) in by_bucket {
            for chunk in offsets.chunks(crate::cluster::node::QUEUE_MAX_GET as usize) {
                self.system
                    .queue_group_nack(
                        &self.name,
                        bucket,
                        &self.group,
                        chunk,
                        delay,
                        self.max_deliveries,
                    )
                    .await?;
                if let Some(mine) = self.unacked.get_mut(&bucket) {
                    for o in chunk {
                        mine.remove(o);
                    }
                }
            }
        }
        Ok(())
    }

    /// Acknowledge `records`: the group will not hand them out again, and its committed
    /// offsets (in the cluster) move past every record acknowledged without a gap.
    pub async fn ack(&mut self, records: &[Delivery]) -> Result<(), PulsingError> {
        let mut by_bucket: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for d in records {
            by_bucket.entry(d.bucket).or_default().push(d.offset);
        }
        for (bucket, offsets) in by_bucket {
            self.ack_bucket(bucket, offsets).await?;
        }
        Ok(())
    }

    /// Acknowledge every record handed to this reader so far.
    pub async fn commit(&mut self) -> Result<(), PulsingError> {
        let all: Vec<(u32, Vec<u64>)> = self
            .unacked
            .iter()
            .filter(|(_, o)| !o.is_empty())
            .map(|(b, o)| (*b, o.iter().copied().collect()))
            .collect();
        for (bucket, offsets) in all {
            self.ack_bucket(bucket, offsets).await?;
        }
        Ok(())
    }

    async fn ack_bucket(&mut self, bucket: u32, offsets: Vec<u64>) -> Result<(), PulsingError> {
        for chunk in offsets.chunks(crate::cluster::node::QUEUE_MAX_GET as usize) {
            self.system
                .queue_group_ack(&self.name, bucket, &self.group, chunk)
                .await?;
            if let Some(mine) = self.unacked.get_mut(&bucket) {
                for o in chunk {
                    mine.remove(o);
                }
            }
        }
        Ok(())
    }
}
