//! Queues: records spread over buckets by a column, each bucket owned by one live node and
//! read by offset. [`Queues::writer`] buffers records per bucket and sends full batches to
//! the bucket's owner; [`Queues::reader`] reads the buckets of a rank (or a list of them)
//! from where it left off. Reads do not delete.
//!
//! Placement is computed, not coordinated (see [`crate::cluster::queue::bucket`]): the
//! bucket is a stable hash of the column's value, the owner the member that wins rendezvous
//! hashing.
//!
//! Records live on their owner, in memory (bounded), and with [`WriteOptions::disk`] on its
//! disk too (they survive its restart and a `kill -9`); with [`WriteOptions::replicas`] = 2
//! on a replica as well (they survive its death). A put is acknowledged once the records are
//! kept as asked. Delivery is at-least-once: a put retried after a failure may be stored
//! twice, and a consumer group ([`Queues::group_reader`]) hands a record out again when its
//! reader does not acknowledge it in time.
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

mod group;
mod reader;
mod routing;
mod writer;

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;

pub use crate::cluster::queue::settings::{Described, Wanted};
pub use crate::cluster::queue::store::Placement;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::system::ActorSystem;
pub use group::{Delivery, GroupOptions, GroupReader};
pub use reader::QueueReader;
pub use writer::QueueWriter;

/// Buckets of a queue unless its first writer sets them.
pub use crate::cluster::queue::settings::DEFAULT_NUM_BUCKETS;
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
    /// Keep the records on the owner's disk too, so they survive its restart.
    pub disk: bool,
    /// Nodes keeping each bucket: 1, or 2 (an owner and a replica) so records survive the
    /// owner's death.
    pub replicas: u8,
    /// Trim records older than this many milliseconds, consumed or not (0: keep them).
    pub retain_ms: u64,
    /// Trim records every consumer group acknowledged.
    pub trim_acked: bool,
}

impl WriteOptions {
    /// Defaults, with records bucketed by `bucket_column`.
    pub fn new(bucket_column: impl Into<String>) -> Self {
        WriteOptions {
            bucket_column: bucket_column.into(),
            num_buckets: DEFAULT_NUM_BUCKETS,
            batch_size: DEFAULT_BATCH_SIZE,
            disk: false,
            replicas: 1,
            retain_ms: 0,
            trim_acked: false,
        }
    }

    fn placement(&self) -> Placement {
        Placement {
            disk: self.disk,
            replicas: self.replicas,
            num_buckets: self.num_buckets,
            retain_ms: self.retain_ms,
            trim_acked: self.trim_acked,
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
        if !(1..=2).contains(&opts.replicas) {
            return Err(config(format!(
                "replicas must be 1 or 2, got {}",
                opts.replicas
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
            placement: opts.placement(),
            opts,
            declared: tokio::sync::OnceCell::new(),
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

    /// A reader in consumer group `group` of queue `name`: the group's readers share the
    /// records of `opts.buckets`, each record handed to one of them at a time, from where
    /// the group committed.
    pub fn group_reader(
        &self,
        name: &str,
        group: &str,
        opts: GroupOptions,
    ) -> Result<GroupReader, PulsingError> {
        check_name(name)?;
        if group.is_empty() || group.len() > crate::protocol::MAX_NAME_BYTES {
            return Err(config(format!(
                "queue {name}: a group name must have 1 to {} bytes, got {}",
                crate::protocol::MAX_NAME_BYTES,
                group.len()
            )));
        }
        if opts.buckets.is_empty() {
            return Err(config(format!(
                "queue {name}: a group reader needs at least one bucket"
            )));
        }
        let ms = opts.visibility.as_millis();
        if !(1..=3_600_000).contains(&ms) {
            return Err(config(format!(
                "queue {name}: the visibility timeout must be 1 ms to 1 hour, got {ms} ms"
            )));
        }
        Ok(GroupReader::new(self.system.clone(), name, group, opts))
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
