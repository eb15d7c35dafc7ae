//! Queues: records spread over buckets by a column, each bucket owned by one live node and
//! read by offset. [`Queues::writer`] buffers records per bucket and sends full batches to
//! the bucket's owner; [`Queues::reader`] reads the buckets of a rank (or a list of them)
//! from where it left off. Reads do not delete.
//!
//! Placement is computed, not coordinated (see [`crate::cluster::queue::bucket`]): the
//! bucket is a stable hash of the column's value, the owner the member that wins rendezvous
//! hashing. This is the memory backend: records live on their owner, in memory, bounded.
//!
//! ```
//! # use pulsing_actor::prelude::*;
//! # use pulsing_actor::queue::{ReadOptions, WriteOptions};
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder().build().await?;
//! let w = system.queues().writer("jobs", WriteOptions::new("id"))?;
//! w.put("u1", &("u1", "hello")).await?;
//! w.flush().await?;
//! let mut r = system.queues().reader("jobs", ReadOptions::rank(0, 1))?;
//! let got = r.get(100, std::time::Duration::ZERO).await?;
//! let (id, data): (String, String) = got[0].unpack()?;
//! assert_eq!((id.as_str(), data.as_str()), ("u1", "hello"));
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

use crate::cluster::node::{Got, QUEUE_SERVICE};
use crate::cluster::queue::bucket;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::system::ActorSystem;
use crate::transport::frame::Target;

/// Buckets of a queue unless set.
pub const DEFAULT_NUM_BUCKETS: u32 = 4;
/// Records a writer buffers per bucket before it sends them, unless set.
pub const DEFAULT_BATCH_SIZE: usize = 100;

fn config(msg: String) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Config, msg)
}

/// How a writer spreads records.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The field whose value picks the bucket (the caller passes the value to `put`).
    pub bucket_column: String,
    /// How many buckets (1 to 65 536).
    pub num_buckets: u32,
    /// Records buffered per bucket before a send.
    pub batch_size: usize,
}

impl WriteOptions {
    /// Defaults, with records bucketed by `bucket_column`.
    pub fn new(bucket_column: impl Into<String>) -> Self {
        WriteOptions {
            bucket_column: bucket_column.into(),
            num_buckets: DEFAULT_NUM_BUCKETS,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Which buckets a reader reads.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The buckets.
    pub buckets: Vec<u32>,
}

impl ReadOptions {
    /// Rank `rank` of `world_size` readers, over the default number of buckets: the buckets
    /// `b` with `b % world_size == rank`.
    pub fn rank(rank: u32, world_size: u32) -> Self {
        Self::rank_of(rank, world_size, DEFAULT_NUM_BUCKETS)
    }
    /// [`ReadOptions::rank`] over `num_buckets` (the writers' number).
    pub fn rank_of(rank: u32, world_size: u32, num_buckets: u32) -> Self {
        ReadOptions {
            buckets: (0..num_buckets)
                .filter(|b| world_size > 0 && b % world_size == rank)
                .collect(),
        }
    }
    /// These buckets.
    pub fn buckets(buckets: impl IntoIterator<Item = u32>) -> Self {
        ReadOptions {
            buckets: buckets.into_iter().collect(),
        }
    }
}

/// The queues of a system.
pub struct Queues {
    system: ActorSystem,
}

impl ActorSystem {
    /// Queues: write records by bucket, read them by rank.
    pub fn queues(&self) -> Queues {
        Queues {
            system: self.clone(),
        }
    }
}

fn check_name(name: &str) -> Result<(), PulsingError> {
    if name.is_empty() || name.len() > crate::protocol::MAX_NAME_BYTES {
        return Err(config(format!(
            "a queue name must have 1 to {} bytes, got {}",
            crate::protocol::MAX_NAME_BYTES,
            name.len()
        )));
    }
    Ok(())
}

impl Queues {
    /// A writer to queue `name`.
    pub fn writer(&self, name: &str, opts: WriteOptions) -> Result<QueueWriter, PulsingError> {
        check_name(name)?;
        if !(1..=65_536).contains(&opts.num_buckets) {
            return Err(config(format!(
                "num_buckets must be 1 to 65536, got {}",
                opts.num_buckets
            )));
        }
        if !(1..=100_000).contains(&opts.batch_size) {
            return Err(config(format!(
                "batch_size must be 1 to 100000, got {}",
                opts.batch_size
            )));
        }
        Ok(QueueWriter {
            system: self.system.clone(),
            name: name.to_string(),
            opts,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// A reader of queue `name`, from the start of each of its buckets.
    pub fn reader(&self, name: &str, opts: ReadOptions) -> Result<QueueReader, PulsingError> {
        check_name(name)?;
        if opts.buckets.is_empty() {
            return Err(config(format!(
                "queue {name}: a reader needs at least one bucket (is rank < world_size?)"
            )));
        }
        Ok(QueueReader {
            system: self.system.clone(),
            name: name.to_string(),
            offsets: opts.buckets.iter().map(|b| (*b, 0)).collect(),
            turn: 0,
        })
    }
}

/// Writes records to a queue, batched per bucket.
pub struct QueueWriter {
    system: ActorSystem,
    name: String,
    opts: WriteOptions,
    pending: Mutex<HashMap<u32, Vec<Bytes>>>,
}

impl QueueWriter {
    /// Buffer `record`, whose bucket column has the value `key`; a full batch is sent now.
    pub async fn put<T: Serialize>(&self, key: &str, record: &T) -> Result<(), PulsingError> {
        let bytes = rmp_serde::to_vec_named(record)
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        let b = bucket::bucket_of(key, self.opts.num_buckets);
        let full = {
            let mut pending = self.pending.lock();
            let batch = pending.entry(b).or_default();
            batch.push(Bytes::from(bytes));
            (batch.len() >= self.opts.batch_size).then(|| std::mem::take(batch))
        };
        match full {
            Some(records) => self
                .system
                .queue_put(&self.name, b, packed(&records))
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
                    .queue_put(&self.name, b, packed(&records))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Reads the records of some buckets of a queue, each from where it left off.
pub struct QueueReader {
    system: ActorSystem,
    name: String,
    offsets: BTreeMap<u32, u64>,
    /// The bucket the next get starts with (buckets take turns).
    turn: usize,
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

impl ActorSystem {
    /// The node owning `bucket` of `queue`: the rendezvous winner among live members (this
    /// node when standalone).
    pub fn queue_owner(&self, queue: &str, bucket: u32) -> NodeId {
        match self.cluster() {
            Some(node) => node.queue_owner(queue, bucket),
            None => self.node_id(),
        }
    }

    /// Store the records of `packed` (MessagePack each, packed: see
    /// [`crate::cluster::queue::pack`]) in `bucket` of `queue` on its owner; the offset of
    /// the first.
    #[doc(hidden)]
    pub async fn queue_put(
        &self,
        queue: &str,
        bucket: u32,
        packed: Bytes,
    ) -> Result<u64, PulsingError> {
        let owner = self.queue_owner(queue, bucket);
        let node = match self.cluster() {
            Some(n) if owner != self.node_id() => n,
            here => {
                let records =
                    crate::cluster::queue::unpack(packed, crate::cluster::node::QUEUE_MAX_PUT)?;
                return match here {
                    // This node owns it: take it over first if another holds it.
                    Some(n) => n.queue_put_here(queue, bucket, records).await,
                    None => {
                        let store = self.queue_store();
                        if !store.holds(queue, bucket) {
                            store.install(queue, bucket, Vec::new());
                        }
                        store.append(queue, bucket, records)
                    }
                };
            }
        };
        let msg = Message::call("put", (queue, bucket, serde_bytes::Bytes::new(&packed)))
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        node.ask_target(
            owner,
            Target::Name(QUEUE_SERVICE.into()),
            msg,
            self.default_timeout(),
        )
        .await?
        .unpack()
    }

    /// Up to `limit` records of `bucket` of `queue` from `offset`, from its owner (waiting up
    /// to `wait` for one), packed, with their count and the offset after them.
    #[doc(hidden)]
    pub async fn queue_get(
        &self,
        queue: &str,
        bucket: u32,
        offset: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<(Bytes, u32, u64), PulsingError> {
        let owner = self.queue_owner(queue, bucket);
        let node = match self.cluster() {
            Some(n) if owner != self.node_id() => n,
            here => {
                let (records, next) = match here {
                    Some(n) => n.queue_get_here(queue, bucket, offset, limit, wait).await?,
                    None => {
                        let store = self.queue_store();
                        if !store.holds(queue, bucket) {
                            store.install(queue, bucket, Vec::new());
                        }
                        store.read_waiting(queue, bucket, offset, limit, wait).await
                    }
                };
                let count = records.len() as u32;
                return Ok((
                    Bytes::from(crate::cluster::queue::pack(&records)),
                    count,
                    next,
                ));
            }
        };
        let limit = limit.min(crate::cluster::node::QUEUE_MAX_GET as usize) as u32;
        let wait_ms = wait.as_millis().min(60_000) as u32;
        let msg = Message::call("get", (queue, bucket, offset, limit, wait_ms))
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        let timeout = self.default_timeout() + wait;
        let got: Got = node
            .ask_target(owner, Target::Name(QUEUE_SERVICE.into()), msg, timeout)
            .await?
            .unpack()?;
        Ok((Bytes::from(got.packed.into_vec()), got.count, got.next))
    }
}

/// The records of a packed buffer, as messages to unpack.
fn messages(packed: Bytes) -> Result<Vec<Message>, PulsingError> {
    Ok(crate::cluster::queue::unpack(packed, usize::MAX)?
        .into_iter()
        .map(|r| Message::single(crate::protocol::MSGPACK, r))
        .collect())
}

/// Records as one packed buffer.
fn packed(records: &[Bytes]) -> Bytes {
    Bytes::from(crate::cluster::queue::pack(records))
}
