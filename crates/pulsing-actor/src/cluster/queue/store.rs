//! The buckets a node keeps: per (queue, bucket) an append-only list of records addressed by
//! offset, held as the bucket's owner (primary) or as a copy for its owner (replica). Reads
//! do not delete; a read can wait for records past its offset. Memory is bounded in bytes,
//! all queues together: a put beyond it is refused, never dropped.
//!
//! A `disk` bucket also writes every record to its log ([`super::log`]) before the put is
//! acknowledged, and its metadata beside it; the node reads them back when it starts
//! ([`QueueStore::recover`]). Records stay in memory as well: the log is for surviving a
//! restart, reads are served from memory.
//!
//! Buckets move whole between nodes as a [`Snapshot`]. Copies of one bucket share its `origin`
//! (a random id given when the bucket was first created), so when two copies meet (an old
//! owner's and its replica's, or a restarted owner's disk and the new owner's) the longer
//! one wins record by record and nothing is doubled; copies of different origins (written on
//! both sides of a partition) are appended one after the other, so nothing is lost.
//!
//! How copies merge is in the `merge` module; what retention trims, and how a trimmed
//! bucket's files follow, in `retention`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::disk::{Disk, Meta};
use super::groups::Group;
use super::log::Log;
use crate::error::{PulsingError, RuntimeErrorKind};

mod merge;
mod retention;

use retention::Times;

/// Bytes of records one node keeps in memory at most, all queues together.
pub const MEMORY_LIMIT: usize = 1 << 30;
/// Offsets beyond this are refused where they come from another node (no bucket gets there:
/// a billion records a second would take 146 years), so offset arithmetic never overflows.
pub const MAX_OFFSET: u64 = 1 << 62;
/// Consumer groups one bucket keeps state for at most.
pub const MAX_GROUPS: usize = 1024;
/// Where nodes keep `disk` buckets unless told otherwise: each node its own numbered
/// directory under it (`node-0`, `node-1`, ...: the lowest one free, see `Disk::open_slot`).
pub const DEFAULT_STORAGE_PATH: &str = ".pulsing/queues";

/// How a queue's buckets are kept: fixed by the queue's first writer (a bucket is then
/// *settled*), carried with each bucket wherever it goes, and checked against every later
/// writer's (see [`QueueStore::settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// On disk (survives the owner's restart) rather than in memory only.
    pub disk: bool,
    /// How many nodes keep it: 1, or 2 for an owner and a replica.
    pub replicas: u8,
    /// How many buckets the queue has (0: not said; a writer's always says).
    #[serde(default)]
    pub num_buckets: u32,
    /// Records older than this many milliseconds are trimmed, consumed or not (0: kept).
    #[serde(default)]
    pub retain_ms: u64,
    /// Records every consumer group acknowledged are trimmed (with no group, none are).
    #[serde(default)]
    pub trim_acked: bool,
}

impl Default for Placement {
    /// What a bucket nobody wrote to yet is kept as: memory, one replica.
    fn default() -> Self {
        Placement {
            disk: false,
            replicas: 1,
            num_buckets: 0,
            retain_ms: 0,
            trim_acked: false,
        }
    }
}

impl Placement {
    /// Whether a writer asking `wanted` may write to a bucket kept as `self`.
    pub fn admits(&self, wanted: &Placement) -> bool {
        self.disk == wanted.disk
            && self.replicas == wanted.replicas
            && (self.num_buckets == 0
                || wanted.num_buckets == 0
                || self.num_buckets == wanted.num_buckets)
            && self.retain_ms == wanted.retain_ms
            && self.trim_acked == wanted.trim_acked
    }

    /// Whether records are ever trimmed.
    pub fn trims(&self) -> bool {
        self.retain_ms > 0 || self.trim_acked
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = if self.disk { "disk" } else { "memory" };
        write!(f, "backend '{backend}', replicas {}", self.replicas)?;
        if self.num_buckets > 0 {
            write!(f, ", numBuckets {}", self.num_buckets)?;
        }
        if self.retain_ms > 0 {
            write!(f, ", retainMs {}", self.retain_ms)?;
        }
        if self.trim_acked {
            write!(f, ", trimAcked")?;
        }
        Ok(())
    }
}

/// A bucket as it travels between nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// The offset of its first record (those before were trimmed, or not sent).
    #[serde(default)]
    pub base: u64,
    /// Its records, at their offsets from `base`.
    pub records: Vec<serde_bytes::ByteBuf>,
    /// Its lineage: copies of one bucket have the same.
    pub origin: u64,
    /// How it is kept.
    pub placement: Placement,
    /// Whether a writer fixed `placement` (a bucket a reader made first is not settled).
    #[serde(default)]
    pub settled: bool,
    /// Read back from a node's disk as it started, not yet taken over (see `Role`).
    #[serde(default)]
    pub recovered: bool,
    /// Records held back from consumer groups until a time (put with a delay): offset →
    /// Unix time in milliseconds.
    #[serde(default)]
    pub not_before: BTreeMap<u64, u64>,
    /// When records were appended, coarsely, for `retain_ms`: offset → Unix ms, every record
    /// before the offset appended by then.
    #[serde(default)]
    pub times: BTreeMap<u64, u64>,
    /// Per consumer group, the committed offset.
    pub committed: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    /// A copy for the owner; `stale` counts sweeps in which this node was not its replica.
    Replica {
        stale: u8,
    },
    /// Read back from disk as the node started: not served until the node takes it over
    /// from the members that kept the bucket going meanwhile (it may be behind them, or end
    /// with records its owner stored but never had acknowledged), or hands it to its owner.
    Recovered,
}

struct Bucket {
    /// The offset of `records[0]`: those before were trimmed (see [`Placement::trims`]).
    base: u64,
    records: Vec<Bytes>,
    bytes: usize,
    /// Woken on every append (readers waiting past the end).
    grew: Arc<Notify>,
    origin: u64,
    placement: Placement,
    /// Whether a writer fixed `placement` (see [`Placement`]).
    settled: bool,
    /// Records held back from consumer groups until a time (see [`Snapshot::not_before`]).
    not_before: BTreeMap<u64, u64>,
    /// When records were appended (see [`Times`]).
    times: Times,
    log: Option<Arc<Log>>,
    /// Bytes of the log file before `records[0]`: its header and trimmed records (the file
    /// is rewritten once they outweigh the live ones, see [`QueueStore::trim`]).
    log_head: u64,
    role: Role,
    groups: HashMap<String, Group>,
}

impl Bucket {
    fn new(origin: u64, placement: Placement, settled: bool, role: Role) -> Self {
        Bucket {
            base: 0,
            records: Vec::new(),
            bytes: 0,
            grew: Arc::default(),
            origin,
            placement,
            settled,
            not_before: BTreeMap::new(),
            times: Times::default(),
            log: None,
            log_head: 0,
            role,
            groups: HashMap::new(),
        }
    }

    /// The offset after the last record.
    fn end(&self) -> u64 {
        self.base + self.records.len() as u64
    }

    /// Record `o`, unless it was trimmed or is not written yet.
    fn at(&self, o: u64) -> Option<&Bytes> {
        self.records
            .get(usize::try_from(o.checked_sub(self.base)?).ok()?)
    }

    /// Index in `records` of offset `o`, clamped to the records held.
    fn index(&self, o: u64) -> usize {
        (o.saturating_sub(self.base) as usize).min(self.records.len())
    }

    /// When group readers may first be handed record `o`, if it is held back.
    fn held_until(&self, o: u64, now: std::time::SystemTime) -> Option<tokio::time::Instant> {
        let at = *self.not_before.get(&o)?;
        let now_ms = unix_ms(now);
        (at > now_ms).then(|| tokio::time::Instant::now() + Duration::from_millis(at - now_ms))
    }

    /// Forget delays that passed (nothing is held back by them any more).
    fn prune_delays(&mut self, now: std::time::SystemTime) {
        let now_ms = unix_ms(now);
        self.not_before.retain(|_, at| *at > now_ms);
    }

    fn meta(&self) -> Meta {
        Meta {
            origin: self.origin,
            replicas: self.placement.replicas,
            num_buckets: self.placement.num_buckets,
            retain_ms: self.placement.retain_ms,
            trim_acked: self.placement.trim_acked,
            base: self.base,
            committed: self.committed(),
            not_before: self.not_before.clone(),
            times: self.times.0.clone(),
        }
    }

    fn committed(&self) -> BTreeMap<String, u64> {
        self.groups
            .iter()
            .map(|(g, s)| (g.clone(), s.committed()))
            .collect()
    }

    fn copy(&self) -> Snapshot {
        Snapshot {
            base: self.base,
            records: self
                .records
                .iter()
                .map(|r| serde_bytes::ByteBuf::from(r.to_vec()))
                .collect(),
            origin: self.origin,
            placement: self.placement,
            settled: self.settled,
            recovered: self.role == Role::Recovered,
            not_before: self.not_before.clone(),
            times: self.times.0.clone(),
            committed: self.committed(),
        }
    }

    /// Take `committed` offsets into account (the highest wins).
    fn advance(&mut self, committed: &BTreeMap<String, u64>) {
        for (g, c) in committed {
            if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(g) {
                continue;
            }
            self.groups
                .entry(g.clone())
                .or_insert_with(|| Group::at(self.base))
                .advance(*c);
        }
    }
}

/// What a consumer group's get hands out, and what it gave up.
#[derive(Debug, Default)]
pub struct GroupGot {
    /// Records handed out: offset, record, times handed out (this one too).
    pub give: Vec<(u64, Bytes, u32)>,
    /// Records handed out `max_deliveries` times that came back: offset, record.
    pub dead: Vec<(u64, Bytes)>,
}

fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn stopped(msg: String) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Stopped, msg)
}

/// `bucket` of `queue` if this node holds it, or a `Stopped` error saying it moved: the
/// caller asks its owner again.
fn held_mut<'a>(
    buckets: &'a mut HashMap<(String, u32), Bucket>,
    queue: &str,
    bucket: u32,
) -> Result<&'a mut Bucket, PulsingError> {
    buckets
        .get_mut(&(queue.to_string(), bucket))
        .filter(|b| b.role == Role::Primary)
        .ok_or_else(|| {
            stopped(format!(
                "queue {queue}: bucket {bucket} is not held here (it moved)"
            ))
        })
}

fn io(what: String, e: std::io::Error) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Io, format!("{what}: {e}"))
}

/// A durable append to wait for: the log and the length it must reach.
pub type Sync = Option<(Arc<Log>, u64)>;

/// Wait for an append to be on disk (nothing to wait for in memory).
pub async fn synced(sync: Sync) -> Result<(), PulsingError> {
    match sync {
        Some((log, end)) => log
            .sync_to(end)
            .await
            .map_err(|e| io(format!("syncing {}", log.path().display()), e)),
        None => Ok(()),
    }
}

/// Where a node keeps its `disk` buckets.
#[derive(Debug, Clone)]
enum Root {
    /// This directory (the node's `storagePath`).
    Fixed(PathBuf),
    /// A numbered directory of its own under this one (the default location).
    Slot(PathBuf),
}

/// The buckets of one node.
pub struct QueueStore {
    buckets: Mutex<HashMap<(String, u32), Bucket>>,
    bytes: Mutex<usize>,
    root: Root,
    /// Who this node is, written in the directory's lock (another node's error names it).
    holder: Mutex<String>,
    /// Opened (and locked) at start, or the first time a `disk` bucket needs it (the default
    /// location, when nothing was there); closed at shutdown.
    disk: Mutex<DiskState>,
}

enum DiskState {
    Unopened,
    Open(Arc<Disk>),
    Failed(PulsingError),
    Closed,
}

impl Default for QueueStore {
    /// Buckets in a directory of their own under the default location.
    fn default() -> Self {
        QueueStore::with_root(Root::Slot(PathBuf::from(DEFAULT_STORAGE_PATH)))
    }
}

impl QueueStore {
    /// A store whose `disk` buckets live in `root` (locked for this node alone).
    pub fn at(root: impl AsRef<Path>) -> Self {
        QueueStore::with_root(Root::Fixed(root.as_ref().to_path_buf()))
    }

    fn with_root(root: Root) -> Self {
        QueueStore {
            buckets: Mutex::default(),
            bytes: Mutex::default(),
            root,
            holder: Mutex::new(format!("a node (pid {})", std::process::id())),
            disk: Mutex::new(DiskState::Unopened),
        }
    }

    /// Say who this node is, for the lock of its directory.
    pub fn set_holder(&self, node: &str) {
        *self.holder.lock() = format!("node {node} (pid {})", std::process::id());
    }

    /// The directory in use, or where it will be.
    pub fn root(&self) -> PathBuf {
        match &*self.disk.lock() {
            DiskState::Open(d) => d.root().to_path_buf(),
            _ => match &self.root {
                Root::Fixed(p) | Root::Slot(p) => p.clone(),
            },
        }
    }

    fn disk(&self) -> Result<Arc<Disk>, PulsingError> {
        let mut d = self.disk.lock();
        if matches!(*d, DiskState::Unopened) {
            let holder = self.holder.lock().clone();
            let opened = match &self.root {
                Root::Fixed(p) => Disk::open(p, &holder),
                Root::Slot(base) => Disk::open_slot(base, &holder),
            };
            *d = match opened {
                Ok(disk) => DiskState::Open(Arc::new(disk)),
                Err(e) => DiskState::Failed(e),
            };
        }
        match &*d {
            DiskState::Open(disk) => Ok(disk.clone()),
            DiskState::Failed(e) => Err(e.clone()),
            DiskState::Closed => Err(stopped(format!(
                "queue directory {}: the system shut down",
                self.root_path().display()
            ))),
            DiskState::Unopened => unreachable!("opened above"),
        }
    }

    fn root_path(&self) -> &Path {
        match &self.root {
            Root::Fixed(p) | Root::Slot(p) => p,
        }
    }

    /// Let go of the directory (its lock): the system shut down, another may use it.
    pub fn close(&self) {
        *self.disk.lock() = DiskState::Closed;
        for b in self.buckets.lock().values_mut() {
            b.log = None;
        }
    }

    /// Lock this node's directory and hold the `disk` buckets an earlier run left there;
    /// how many. A `storagePath` is locked now (a second node pointed at it fails here); the
    /// default location only if there is one already (nothing is created for a node that
    /// never keeps a `disk` bucket).
    pub fn recover(&self) -> Result<usize, PulsingError> {
        if let Root::Slot(base) = &self.root {
            if !base.exists() {
                return Ok(0);
            }
        }
        let disk = self.disk()?;
        let mut n = 0;
        for (queue, bucket, meta) in disk.scan() {
            let path = disk.log_path(&queue, bucket);
            let opened =
                Log::open(&path).map_err(|e| io(format!("opening {}", path.display()), e))?;
            let placement = Placement {
                disk: true,
                replicas: meta.replicas.max(1),
                num_buckets: meta.num_buckets,
                retain_ms: meta.retain_ms,
                trim_acked: meta.trim_acked,
            };
            // On disk only because a writer asked for it: settled.
            let mut b = Bucket::new(meta.origin, placement, true, Role::Recovered);
            b.base = opened.base;
            b.records = opened.records;
            b.log_head = opened.head;
            b.bytes = b.records.iter().map(|r| r.len()).sum();
            // A trim is written to the metadata first, the log rewritten only later.
            b.trim_to(meta.base);
            *self.bytes.lock() += b.bytes;
            b.log = Some(Arc::new(opened.log));
            b.advance(&meta.committed);
            b.not_before = meta.not_before;
            b.not_before = b.not_before.split_off(&b.base);
            b.times = Times(meta.times);
            tracing::info!(%queue, bucket, records = b.records.len(), "queue: recovered a bucket from disk");
            self.buckets.lock().insert((queue, bucket), b);
            n += 1;
        }
        Ok(n)
    }

    fn reserve(&self, queue: &str, size: usize) -> Result<(), PulsingError> {
        let mut used = self.bytes.lock();
        if *used + size > MEMORY_LIMIT {
            return Err(stopped(format!(
                "queue {queue}: this node keeps {MEMORY_LIMIT} bytes of records at most and is full: records were not written"
            )));
        }
        *used += size;
        Ok(())
    }

    fn release_bytes(&self, size: usize) {
        let mut used = self.bytes.lock();
        *used = used.saturating_sub(size);
    }

    /// Write the metadata and a log holding exactly the records of `b`, a `disk` bucket.
    fn persist(&self, queue: &str, bucket: u32, b: &mut Bucket) -> Result<(), PulsingError> {
        let disk = self.disk()?;
        disk.write_meta(queue, bucket, &b.meta())?;
        let path = disk.log_path(queue, bucket);
        let log = Log::create(&path, b.base, &b.records)
            .map_err(|e| io(format!("writing {}", path.display()), e))?;
        b.log_head = log.head();
        b.log = Some(Arc::new(log));
        Ok(())
    }

    /// Whether this node holds `bucket` of `queue` as its owner.
    pub fn holds(&self, queue: &str, bucket: u32) -> bool {
        self.buckets
            .lock()
            .get(&(queue.to_string(), bucket))
            .is_some_and(|b| b.role == Role::Primary)
    }

    /// Every (queue, bucket) this node holds as owner, with how it is kept (the default for
    /// a bucket no writer settled yet).
    pub fn held(&self) -> Vec<(String, u32, Placement)> {
        self.buckets
            .lock()
            .iter()
            .filter(|(_, b)| b.role == Role::Primary)
            .map(|(k, b)| (k.0.clone(), k.1, b.placement))
            .collect()
    }

    /// Every (queue, bucket) this node keeps a replica of.
    pub fn replica_copies(&self) -> Vec<(String, u32)> {
        self.buckets
            .lock()
            .iter()
            .filter(|(_, b)| matches!(b.role, Role::Replica { .. }))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every (queue, bucket) read back from disk and not taken over yet.
    pub fn recovered(&self) -> Vec<(String, u32)> {
        self.buckets
            .lock()
            .iter()
            .filter(|(_, b)| b.role == Role::Recovered)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Give up `bucket` of `queue` if it still ends at `end` (it was handed over as a copy
    /// up to there): whether it went. One that grew meanwhile stays, for the next hand-over
    /// (the same lineage: only what it has more is added there).
    pub fn take_if_end(&self, queue: &str, bucket: u32, end: u64) -> bool {
        let mut buckets = self.buckets.lock();
        let key = (queue.to_string(), bucket);
        if buckets.get(&key).is_none_or(|b| b.end() != end) {
            return false;
        }
        let b = buckets.remove(&key).expect("checked under the same lock");
        drop(buckets);
        self.release_bytes(b.bytes);
        b.grew.notify_waiters();
        true
    }

    /// What this node keeps, bucket by bucket (at most [`crate::stats::MAX_BUCKET_SERIES`]).
    pub fn stats(&self) -> Vec<crate::stats::BucketStats> {
        let buckets = self.buckets.lock();
        let mut out: Vec<crate::stats::BucketStats> = buckets
            .iter()
            .take(crate::stats::MAX_BUCKET_SERIES)
            .map(|((queue, bucket), b)| {
                let records = b.records.len() as u64;
                let end = b.end();
                let mut groups: Vec<crate::stats::GroupLag> = b
                    .groups
                    .iter()
                    .map(|(g, s)| crate::stats::GroupLag {
                        group: g.clone(),
                        committed: s.committed(),
                        lag: end.saturating_sub(s.committed()),
                        in_flight: s.in_flight(),
                    })
                    .collect();
                groups.sort_by(|x, y| x.group.cmp(&y.group));
                crate::stats::BucketStats {
                    queue: queue.clone(),
                    bucket: *bucket,
                    role: match b.role {
                        Role::Primary => "owner",
                        Role::Replica { .. } => "replica",
                        Role::Recovered => "recovered",
                    }
                    .into(),
                    records,
                    first: b.base,
                    bytes: b.bytes as u64,
                    disk: b.placement.disk,
                    replicas: b.placement.replicas,
                    groups,
                }
            })
            .collect();
        out.sort_by(|x, y| (&x.queue, x.bucket).cmp(&(&y.queue, y.bucket)));
        out
    }

    /// Fix how `bucket` of `queue` (held here) is kept to a writer's `wanted`, if no writer
    /// did yet; otherwise check that `wanted` is how it is kept. A reader that came first
    /// does not decide: its bucket waits, unsettled, for the first writer. A writer asking
    /// another way than the first gets a `Config` error saying both.
    pub fn settle(&self, queue: &str, bucket: u32, wanted: Placement) -> Result<(), PulsingError> {
        let mut buckets = self.buckets.lock();
        let b = held_mut(&mut buckets, queue, bucket)?;
        if b.settled {
            if b.placement.admits(&wanted) {
                return Ok(());
            }
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!(
                    "queue {queue} is kept with {}, as its first writer asked; this writer asks for {wanted}: open it with the same options, or leave them unset to take the queue's",
                    b.placement
                ),
            ));
        }
        b.placement = wanted;
        b.settled = true;
        if wanted.disk && b.log.is_none() {
            self.persist(queue, bucket, b)?;
        }
        Ok(())
    }

    /// How `bucket` of `queue` (held here) is kept, and whether a writer settled it.
    pub fn settings(&self, queue: &str, bucket: u32) -> Option<(Placement, bool)> {
        self.buckets
            .lock()
            .get(&(queue.to_string(), bucket))
            .filter(|b| b.role == Role::Primary)
            .map(|b| (b.placement, b.settled))
    }

    /// Give up `bucket` of `queue` (held or a replica): what it is, for the node that holds
    /// it next. Its files stay until [`QueueStore::release`]: if the taker never stores it,
    /// a restart of this node brings it back.
    pub fn take(&self, queue: &str, bucket: u32) -> Option<Snapshot> {
        let b = self.buckets.lock().remove(&(queue.to_string(), bucket))?;
        self.release_bytes(b.bytes);
        b.grew.notify_waiters();
        Some(b.copy())
    }

    /// Delete the files of a bucket this node handed over (unless it holds it again).
    pub fn release(&self, queue: &str, bucket: u32) {
        if self
            .buckets
            .lock()
            .contains_key(&(queue.to_string(), bucket))
        {
            return;
        }
        if let Ok(disk) = self.disk() {
            disk.remove(queue, bucket);
        }
    }

    /// Append `records` to `bucket` of `queue`, which this node holds: the offset of the
    /// first, and the sync to wait for before acknowledging.
    pub fn append(
        &self,
        queue: &str,
        bucket: u32,
        records: Vec<Bytes>,
    ) -> Result<(u64, Sync), PulsingError> {
        self.append_delayed(queue, bucket, records, &[])
    }

    /// [`QueueStore::append`], some records held back from consumer groups until a time:
    /// `delays` lists (index among `records`, Unix time in milliseconds).
    pub fn append_delayed(
        &self,
        queue: &str,
        bucket: u32,
        records: Vec<Bytes>,
        delays: &[(u32, u64)],
    ) -> Result<(u64, Sync), PulsingError> {
        if let Some((i, _)) = delays.iter().find(|(i, _)| *i as usize >= records.len()) {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                format!(
                    "queue {queue}: a delay for record {i} of a batch of {}",
                    records.len()
                ),
            ));
        }
        let size: usize = records.iter().map(|r| r.len()).sum();
        self.reserve(queue, size)?;
        let mut buckets = self.buckets.lock();
        let b = match held_mut(&mut buckets, queue, bucket) {
            Ok(b) => b,
            Err(e) => {
                drop(buckets);
                self.release_bytes(size);
                return Err(e);
            }
        };
        if b.placement.disk && b.log.is_none() {
            drop(buckets);
            self.release_bytes(size);
            return Err(stopped(format!(
                "queue {queue}: bucket {bucket} is kept on disk and the system shut down"
            )));
        }
        let sync = match &b.log {
            Some(log) => match log.write(&records) {
                Ok(end) => Some((log.clone(), end)),
                Err(e) => {
                    let path = log.path().display().to_string();
                    drop(buckets);
                    self.release_bytes(size);
                    return Err(io(format!("queue {queue}: writing {path}"), e));
                }
            },
            None => None,
        };
        let first = b.end();
        b.records.extend(records);
        b.bytes += size;
        if b.placement.retain_ms > 0 {
            let now = unix_ms(std::time::SystemTime::now());
            b.times.appended(b.end(), now, b.placement.retain_ms);
        }
        b.grew.notify_waiters();
        if delays.is_empty() {
            return Ok((first, sync));
        }
        b.prune_delays(std::time::SystemTime::now());
        for (i, at) in delays {
            b.not_before.insert(first + u64::from(*i), *at);
        }
        // Kept with the records (synced before the put is acknowledged, as they are): a
        // restarted owner holds them back too.
        let meta = b.log.is_some().then(|| b.meta());
        drop(buckets);
        if let Some(meta) = meta {
            self.disk()?.write_meta(queue, bucket, &meta)?;
        }
        Ok((first, sync))
    }

    /// Keep a replica of `bucket` of `queue` whose owner has `records` from offset `from`
    /// and trimmed those before `base`: the replica's end after. A replica that ends before
    /// `from` stores nothing and answers its end (the owner sends what it misses); one
    /// longer is cut to `from` first (the owner's records are the ones acknowledged). It
    /// trims what the owner trimmed, and nothing of its own accord.
    #[allow(clippy::too_many_arguments)]
    pub fn replicate(
        &self,
        queue: &str,
        bucket: u32,
        base: u64,
        from: u64,
        records: Vec<Bytes>,
        origin: u64,
        placement: Placement,
        committed: &BTreeMap<String, u64>,
        not_before: &BTreeMap<u64, u64>,
    ) -> Result<(u64, Sync), PulsingError> {
        if base.max(from) > MAX_OFFSET {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                format!("queue {queue}: replicate from offset {from} (base {base}): past the largest offset {MAX_OFFSET}"),
            ));
        }
        let key = (queue.to_string(), bucket);
        let mut buckets = self.buckets.lock();
        // Only a settled bucket has replicas: the owner's placement is a writer's.
        let b = buckets
            .entry(key)
            .or_insert_with(|| Bucket::new(origin, placement, true, Role::Replica { stale: 0 }));
        if b.role == Role::Primary {
            return Err(stopped(format!(
                "queue {queue}: bucket {bucket} is held here, not a replica (the members' views disagree; retry)"
            )));
        }
        b.role = Role::Replica { stale: 0 };
        if b.origin != origin {
            self.release_bytes(b.bytes);
            *b = Bucket::new(origin, placement, true, Role::Replica { stale: 0 });
        }
        b.advance(committed);
        b.not_before
            .extend(not_before.iter().map(|(o, t)| (*o, *t)));
        if base > b.base {
            let freed = if b.end() < base {
                let all = b.trim_to(b.end());
                b.base = base;
                all
            } else {
                b.trim_to(base)
            };
            self.release_bytes(freed);
            self.trimmed_on_disk(queue, bucket, b)?;
        }
        let len = b.end();
        if from > len {
            return Ok((len, None));
        }
        let mut records = records;
        let mut from = from;
        if from < b.base {
            // Trimmed here already.
            let n = ((b.base - from) as usize).min(records.len());
            records.drain(..n);
            from += n as u64;
        }
        if from < len {
            // What it has already (a later put's catch-up arrived first) is skipped, not cut.
            let same = b.records[b.index(from)..]
                .iter()
                .zip(&records)
                .take_while(|(x, y)| x == y)
                .count();
            records.drain(..same);
            from += same as u64;
        }
        if from < len && !records.is_empty() {
            let keep = b.index(from);
            let cut: usize = b.records[keep..].iter().map(|r| r.len()).sum();
            if let Some(log) = &b.log {
                log.truncate(b.log_head + Log::framed(&b.records[..keep]))
                    .map_err(|e| io(format!("queue {queue}: cutting a replica log"), e))?;
            }
            b.records.truncate(keep);
            b.bytes -= cut;
            self.release_bytes(cut);
        }
        let size: usize = records.iter().map(|r| r.len()).sum();
        self.reserve(queue, size)?;
        if placement.disk && b.log.is_none() {
            b.placement.disk = true;
            self.persist(queue, bucket, b)?;
        }
        let sync = match &b.log {
            Some(log) => {
                if !committed.is_empty() {
                    self.disk()?.write_meta(queue, bucket, &b.meta())?;
                }
                let end = log
                    .write(&records)
                    .map_err(|e| io(format!("queue {queue}: writing a replica log"), e))?;
                Some((log.clone(), end))
            }
            None => None,
        };
        b.records.extend(records);
        b.bytes += size;
        Ok((b.end(), sync))
    }

    /// How `bucket` of `queue` is kept, if this node has it.
    pub fn placement(&self, queue: &str, bucket: u32) -> Option<Placement> {
        self.buckets
            .lock()
            .get(&(queue.to_string(), bucket))
            .map(|b| b.placement)
    }

    /// What a replica needs to catch up: the lineage, placement and committed offsets of
    /// `bucket` of `queue`, and its records from `from` (from its first, if `from` was
    /// trimmed); and the offset where the bucket starts (the records before it trimmed).
    pub fn since(&self, queue: &str, bucket: u32, from: u64) -> Option<(Snapshot, u64)> {
        let buckets = self.buckets.lock();
        let b = buckets.get(&(queue.to_string(), bucket))?;
        let from = b.index(from);
        Some((
            Snapshot {
                base: b.base + from as u64,
                records: b.records[from..]
                    .iter()
                    .map(|r| serde_bytes::ByteBuf::from(r.to_vec()))
                    .collect(),
                origin: b.origin,
                placement: b.placement,
                settled: b.settled,
                recovered: b.role == Role::Recovered,
                not_before: b.not_before.clone(),
                times: b.times.0.clone(),
                committed: b.committed(),
            },
            b.base,
        ))
    }

    /// Age the replicas this node keeps: those `wanted` says this node is still the replica
    /// of are fresh; others are dropped (with their files) after `sweeps` sweeps without.
    pub fn age_replicas(&self, wanted: impl Fn(&str, u32) -> bool, sweeps: u8) {
        let mut gone = Vec::new();
        {
            let mut buckets = self.buckets.lock();
            buckets.retain(|(q, n), b| {
                let Role::Replica { stale } = &mut b.role else {
                    return true;
                };
                if wanted(q, *n) {
                    *stale = 0;
                    return true;
                }
                *stale += 1;
                if *stale < sweeps {
                    return true;
                }
                gone.push((q.clone(), *n, b.bytes, b.log.is_some()));
                false
            });
        }
        for (q, n, bytes, disk) in gone {
            self.release_bytes(bytes);
            if disk {
                self.release(&q, n);
            }
        }
    }

    /// Up to `limit` records of `bucket` from `offset`, and the offset after them. An
    /// offset that was trimmed reads from the first record kept.
    pub fn read(&self, queue: &str, bucket: u32, offset: u64, limit: usize) -> (Vec<Bytes>, u64) {
        let buckets = self.buckets.lock();
        let Some(b) = buckets
            .get(&(queue.to_string(), bucket))
            .filter(|b| b.role == Role::Primary)
        else {
            return (Vec::new(), offset);
        };
        let from = b.index(offset);
        let to = from.saturating_add(limit).min(b.records.len());
        (b.records[from..to].to_vec(), b.base + to as u64)
    }

    /// [`QueueStore::read`], waiting up to `wait` for a record past `offset` when there is
    /// none yet.
    pub async fn read_waiting(
        &self,
        queue: &str,
        bucket: u32,
        offset: u64,
        limit: usize,
        wait: Duration,
    ) -> (Vec<Bytes>, u64) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Some(grew) = self.grew(queue, bucket) else {
                // Not held (it moved away while we waited): the caller asks its owner again.
                return (Vec::new(), offset);
            };
            // Registered before looking, so an append in between still wakes us.
            let notified = grew.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.read(queue, bucket, offset, limit);
            if !got.0.is_empty() || wait.is_zero() {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return got;
            }
        }
    }

    fn grew(&self, queue: &str, bucket: u32) -> Option<Arc<Notify>> {
        self.buckets
            .lock()
            .get(&(queue.to_string(), bucket))
            .filter(|b| b.role == Role::Primary)
            .map(|b| b.grew.clone())
    }

    /// Hand out up to `limit` records of `bucket` to `group` (see [`Group::hand_out`]),
    /// waiting up to `wait` when none is ready: the records with their offsets.
    #[allow(clippy::too_many_arguments)]
    pub async fn group_get(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        limit: usize,
        visibility: Duration,
        wait: Duration,
        max_deliveries: u32,
    ) -> Result<GroupGot, PulsingError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Some(grew) = self.grew(queue, bucket) else {
                return Ok(GroupGot::default());
            };
            let notified = grew.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (got, due) = {
                let mut buckets = self.buckets.lock();
                // Moved away since it was looked at: the caller asks its owner again.
                let Some(b) = buckets
                    .get_mut(&(queue.to_string(), bucket))
                    .filter(|b| b.role == Role::Primary)
                else {
                    return Ok(GroupGot::default());
                };
                if b.groups.len() >= MAX_GROUPS && !b.groups.contains_key(group) {
                    return Err(stopped(format!(
                        "queue {queue}: bucket {bucket} keeps {MAX_GROUPS} consumer groups at most"
                    )));
                }
                let len = b.end();
                let base = b.base;
                let now = std::time::SystemTime::now();
                let held: BTreeMap<u64, tokio::time::Instant> = b
                    .not_before
                    .keys()
                    .filter_map(|o| Some((*o, b.held_until(*o, now)?)))
                    .collect();
                let g = b
                    .groups
                    .entry(group.to_string())
                    .or_insert_with(|| Group::at(base));
                let out = g.hand_out(len, limit, visibility, max_deliveries, |o| {
                    held.get(&o).copied()
                });
                let due = g.next_due();
                // Groups move past what is trimmed: every offset handed out is held.
                let at = |o: u64| b.at(o).cloned();
                let got = GroupGot {
                    give: out
                        .give
                        .into_iter()
                        .filter_map(|(o, n)| Some((o, at(o)?, n)))
                        .collect(),
                    dead: out
                        .dead
                        .into_iter()
                        .filter_map(|o| Some((o, at(o)?)))
                        .collect(),
                };
                (got, due)
            };
            if !got.give.is_empty() || !got.dead.is_empty() || wait.is_zero() {
                return Ok(got);
            }
            // Woken by a new record, or when a record handed out comes back.
            let until = due.map_or(deadline, |d| d.min(deadline));
            let _ = tokio::time::timeout_at(until, notified).await;
            if tokio::time::Instant::now() >= deadline {
                return Ok(GroupGot::default());
            }
        }
    }

    /// Give `offsets` of `bucket` back for `group` (see [`Group::nack`]): the records given up
    /// (handed out `max_deliveries` times), to move to the dead letters.
    pub fn group_nack(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        offsets: &[u64],
        delay: Duration,
        max_deliveries: u32,
    ) -> Result<Vec<(u64, Bytes)>, PulsingError> {
        let mut buckets = self.buckets.lock();
        let b = held_mut(&mut buckets, queue, bucket)?;
        let Some(g) = b.groups.get_mut(group) else {
            return Ok(Vec::new());
        };
        let dead = g.nack(offsets, delay, max_deliveries);
        b.grew.notify_waiters(); // a reader waiting may take them at once
        Ok(dead
            .into_iter()
            .filter_map(|o| Some((o, b.at(o)?.clone())))
            .collect())
    }

    /// Acknowledge `offsets` of `bucket` for `group`: its committed offset, whether it moved,
    /// and (for a `disk` bucket) already on disk.
    pub fn group_ack(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        offsets: &[u64],
    ) -> Result<(u64, bool), PulsingError> {
        let mut buckets = self.buckets.lock();
        let b = held_mut(&mut buckets, queue, bucket)?;
        let Some(g) = b.groups.get_mut(group) else {
            return Ok((0, false));
        };
        let moved = g.ack(offsets);
        let committed = g.committed();
        if moved && b.log.is_some() {
            let meta = b.meta();
            drop(buckets);
            self.disk()?.write_meta(queue, bucket, &meta)?;
        }
        Ok((committed, moved))
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
