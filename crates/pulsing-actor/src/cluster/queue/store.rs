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

/// Bytes of records one node keeps in memory at most, all queues together.
pub const MEMORY_LIMIT: usize = 1 << 30;
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
}

impl Default for Placement {
    /// What a bucket nobody wrote to yet is kept as: memory, one replica.
    fn default() -> Self {
        Placement {
            disk: false,
            replicas: 1,
            num_buckets: 0,
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
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = if self.disk { "disk" } else { "memory" };
        write!(f, "backend '{backend}', replicas {}", self.replicas)?;
        if self.num_buckets > 0 {
            write!(f, ", numBuckets {}", self.num_buckets)?;
        }
        Ok(())
    }
}

/// A bucket as it travels between nodes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Its records, at their offsets.
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
    log: Option<Arc<Log>>,
    role: Role,
    groups: HashMap<String, Group>,
}

impl Bucket {
    fn new(origin: u64, placement: Placement, settled: bool, role: Role) -> Self {
        Bucket {
            records: Vec::new(),
            bytes: 0,
            grew: Arc::default(),
            origin,
            placement,
            settled,
            not_before: BTreeMap::new(),
            log: None,
            role,
            groups: HashMap::new(),
        }
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
            committed: self.committed(),
            not_before: self.not_before.clone(),
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
                .or_insert_with(|| Group::at(0))
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

/// How a copy of a bucket meets the copy held here.
#[derive(Debug, PartialEq)]
enum Merge {
    /// Nothing to add.
    Keep,
    /// Add the copy's records past the common prefix.
    Extend,
    /// Cut to the common prefix, then take the copy's records past it.
    Replace,
}

/// `common` records both copies share from the start; `here` and `there` records each has;
/// whether each was read back from a disk as its node started (`Role::Recovered`); whether
/// they are one lineage kept on two nodes. The longer copy wins, and nothing that may have
/// been acknowledged is dropped: copies that part ways have both tails kept, one after the
/// other. One exception: in a lineage kept on two nodes, the copy a crashed node read back
/// is behind the live one on every acknowledged record (its replica had them all), so where
/// the two part ways, its tail was never acknowledged and the live copy's wins alone (order
/// kept, nothing acknowledged lost).
fn merge(
    common: usize,
    here: usize,
    there: usize,
    here_recovered: bool,
    there_recovered: bool,
    twice_kept: bool,
) -> Merge {
    if there <= common {
        return Merge::Keep;
    }
    if here <= common {
        return Merge::Extend;
    }
    match (twice_kept, here_recovered, there_recovered) {
        (true, true, false) => Merge::Replace,
        (true, false, true) => Merge::Keep,
        _ => Merge::Extend,
    }
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
            let (log, records) =
                Log::open(&path).map_err(|e| io(format!("opening {}", path.display()), e))?;
            let placement = Placement {
                disk: true,
                replicas: meta.replicas.max(1),
                num_buckets: meta.num_buckets,
            };
            // On disk only because a writer asked for it: settled.
            let mut b = Bucket::new(meta.origin, placement, true, Role::Recovered);
            b.bytes = records.iter().map(|r| r.len()).sum();
            *self.bytes.lock() += b.bytes;
            b.records = records;
            b.log = Some(Arc::new(log));
            b.advance(&meta.committed);
            b.not_before = meta.not_before;
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

    /// Write `meta` and a log holding exactly `records` for a `disk` bucket.
    fn persist(
        &self,
        queue: &str,
        bucket: u32,
        records: &[Bytes],
        meta: &Meta,
    ) -> Result<Arc<Log>, PulsingError> {
        let disk = self.disk()?;
        disk.write_meta(queue, bucket, meta)?;
        let path = disk.log_path(queue, bucket);
        Log::create(&path, records)
            .map(Arc::new)
            .map_err(|e| io(format!("writing {}", path.display()), e))
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

    /// Hold `bucket` of `queue` from now on, made of what this node has of it (held or a
    /// replica) and `copies` (what others had), merged by origin. It is kept as a settled
    /// copy says (a writer's placement; see [`QueueStore::settle`]); made from nothing, it is
    /// not settled yet, and kept in memory until a writer settles it.
    pub fn install(
        &self,
        queue: &str,
        bucket: u32,
        copies: Vec<Snapshot>,
    ) -> Result<(), PulsingError> {
        let key = (queue.to_string(), bucket);
        let mut buckets = self.buckets.lock();
        let mut b = buckets
            .remove(&key)
            .unwrap_or_else(|| Bucket::new(0, Placement::default(), false, Role::Primary));
        let was_disk = b.log.is_some();
        let before = b.bytes;
        let mut changed = false;
        let mut recovered = b.role == Role::Recovered;
        for c in copies {
            if c.settled && !b.settled {
                b.placement = c.placement;
                b.settled = true;
            }
            let incoming: Vec<Bytes> = c
                .records
                .into_iter()
                .map(|r| Bytes::from(r.into_vec()))
                .collect();
            if b.records.is_empty() && b.origin == 0 {
                b.origin = c.origin;
                recovered = c.recovered;
            }
            let common = if c.origin == b.origin {
                b.records
                    .iter()
                    .zip(&incoming)
                    .take_while(|(x, y)| x == y)
                    .count()
            } else {
                0
            };
            let how = merge(
                common,
                b.records.len(),
                incoming.len(),
                recovered,
                c.recovered,
                c.origin == b.origin && b.placement.replicas >= 2,
            );
            if c.origin != b.origin || (b.records.len() > common && incoming.len() > common) {
                tracing::debug!(%queue, bucket, here = b.records.len(), there = incoming.len(), common, same_origin = c.origin == b.origin, here_recovered = recovered, there_recovered = c.recovered, ?how, "queue: copies of a bucket part ways");
            }
            // Where the copy's records past the common prefix land here (delays go with them).
            let shift = |o: u64, at: usize| o - common as u64 + at as u64;
            match how {
                Merge::Keep => {}
                Merge::Extend => {
                    changed = true;
                    let at = b.records.len();
                    for (o, t) in c.not_before.range(common as u64..) {
                        b.not_before.insert(shift(*o, at), *t);
                    }
                    b.records.extend(incoming[common..].iter().cloned());
                }
                Merge::Replace => {
                    changed = true;
                    b.records.truncate(common);
                    b.not_before.split_off(&(common as u64));
                    b.not_before
                        .extend(c.not_before.range(common as u64..).map(|(o, t)| (*o, *t)));
                    b.records.extend(incoming[common..].iter().cloned());
                    recovered = false;
                }
            }
            if c.origin == b.origin {
                for (o, t) in c.not_before.range(..common as u64) {
                    b.not_before.entry(*o).or_insert(*t);
                }
            }
            if c.origin == b.origin {
                b.advance(&c.committed);
            }
        }
        if b.origin == 0 {
            b.origin = rand::random::<u64>() | 1;
        }
        b.role = Role::Primary;
        b.bytes = b.records.iter().map(|r| r.len()).sum();
        // Counted, never refused: these records were handed over and exist nowhere else
        // now. A store over its bound refuses the next puts instead.
        *self.bytes.lock() += b.bytes.saturating_sub(before);
        if b.placement.disk && (changed || !was_disk) {
            b.log = Some(self.persist(queue, bucket, &b.records, &b.meta())?);
        }
        b.grew.notify_waiters();
        buckets.insert(key, b);
        Ok(())
    }

    /// Give up `bucket` of `queue` if it still holds exactly `len` records (it was handed
    /// over as a copy of that length): whether it went. One that grew meanwhile stays, for
    /// the next hand-over (the same lineage: only what it has more is added there).
    pub fn take_if_len(&self, queue: &str, bucket: u32, len: usize) -> bool {
        let mut buckets = self.buckets.lock();
        let key = (queue.to_string(), bucket);
        if buckets.get(&key).is_none_or(|b| b.records.len() != len) {
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
                let mut groups: Vec<crate::stats::GroupLag> = b
                    .groups
                    .iter()
                    .map(|(g, s)| crate::stats::GroupLag {
                        group: g.clone(),
                        committed: s.committed(),
                        lag: records.saturating_sub(s.committed()),
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
            b.log = Some(self.persist(queue, bucket, &b.records, &b.meta())?);
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
        let first = b.records.len() as u64;
        b.records.extend(records);
        b.bytes += size;
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

    /// Keep a replica of `bucket` of `queue` whose owner has `records` from offset `from`:
    /// the replica's length after. A replica shorter than `from` stores nothing and answers
    /// its length (the owner sends what it misses); one longer is cut to `from` first (the
    /// owner's records are the ones acknowledged).
    #[allow(clippy::too_many_arguments)]
    pub fn replicate(
        &self,
        queue: &str,
        bucket: u32,
        from: u64,
        records: Vec<Bytes>,
        origin: u64,
        placement: Placement,
        committed: &BTreeMap<String, u64>,
        not_before: &BTreeMap<u64, u64>,
    ) -> Result<(u64, Sync), PulsingError> {
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
        let len = b.records.len() as u64;
        if from > len {
            return Ok((len, None));
        }
        let mut records = records;
        let mut from = from;
        if from < len {
            // What it has already (a later put's catch-up arrived first) is skipped, not cut.
            let same = b.records[from as usize..]
                .iter()
                .zip(&records)
                .take_while(|(x, y)| x == y)
                .count();
            records.drain(..same);
            from += same as u64;
        }
        if from < len && !records.is_empty() {
            let cut: usize = b.records[from as usize..].iter().map(|r| r.len()).sum();
            if let Some(log) = &b.log {
                log.truncate(&b.records, from as usize)
                    .map_err(|e| io(format!("queue {queue}: cutting a replica log"), e))?;
            }
            b.records.truncate(from as usize);
            b.bytes -= cut;
            self.release_bytes(cut);
        }
        let size: usize = records.iter().map(|r| r.len()).sum();
        self.reserve(queue, size)?;
        if placement.disk && b.log.is_none() {
            b.placement.disk = true;
            let meta = b.meta();
            b.log = Some(self.persist(queue, bucket, &b.records, &meta)?);
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
        Ok((b.records.len() as u64, sync))
    }

    /// How `bucket` of `queue` is kept, if this node has it.
    pub fn placement(&self, queue: &str, bucket: u32) -> Option<Placement> {
        self.buckets
            .lock()
            .get(&(queue.to_string(), bucket))
            .map(|b| b.placement)
    }

    /// What a replica needs to catch up: the lineage, placement and committed offsets of
    /// `bucket` of `queue`, and its records from `from`.
    pub fn since(&self, queue: &str, bucket: u32, from: u64) -> Option<(Snapshot, u64)> {
        let buckets = self.buckets.lock();
        let b = buckets.get(&(queue.to_string(), bucket))?;
        let from = (from as usize).min(b.records.len());
        Some((
            Snapshot {
                records: b.records[from..]
                    .iter()
                    .map(|r| serde_bytes::ByteBuf::from(r.to_vec()))
                    .collect(),
                origin: b.origin,
                placement: b.placement,
                settled: b.settled,
                recovered: b.role == Role::Recovered,
                not_before: b.not_before.clone(),
                committed: b.committed(),
            },
            from as u64,
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

    /// Up to `limit` records of `bucket` from `offset`, and the offset after them.
    pub fn read(&self, queue: &str, bucket: u32, offset: u64, limit: usize) -> (Vec<Bytes>, u64) {
        let buckets = self.buckets.lock();
        let Some(b) = buckets
            .get(&(queue.to_string(), bucket))
            .filter(|b| b.role == Role::Primary)
        else {
            return (Vec::new(), offset);
        };
        let from = (offset as usize).min(b.records.len());
        let to = from.saturating_add(limit).min(b.records.len());
        (b.records[from..to].to_vec(), to as u64)
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
                let len = b.records.len() as u64;
                let now = std::time::SystemTime::now();
                let held: BTreeMap<u64, tokio::time::Instant> = b
                    .not_before
                    .keys()
                    .filter_map(|o| Some((*o, b.held_until(*o, now)?)))
                    .collect();
                let g = b
                    .groups
                    .entry(group.to_string())
                    .or_insert_with(|| Group::at(0));
                let out = g.hand_out(len, limit, visibility, max_deliveries, |o| {
                    held.get(&o).copied()
                });
                let due = g.next_due();
                let at = |o: u64| b.records[o as usize].clone();
                let got = GroupGot {
                    give: out.give.into_iter().map(|(o, n)| (o, at(o), n)).collect(),
                    dead: out.dead.into_iter().map(|o| (o, at(o))).collect(),
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
            .map(|o| (o, b.records[o as usize].clone()))
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
