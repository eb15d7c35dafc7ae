//! `system/queue`: the buckets this node holds, served to writers and readers on any node (or
//! behind `Connect`). Served in Rust whatever hosts the node's actors.
//!
//! - `put(queue, bucket, packed, placement)` appends records (MessagePack each, packed into
//!   one binary: see `queue::pack`); answers the offset of the first once they are stored as
//!   the placement says (on disk, on the replica).
//! - `get(queue, bucket, offset, limit, waitMs)` answers `{ packed, count, next }`: up to
//!   `limit` records from `offset`, waiting up to `waitMs` when there are none yet.
//! - `gget(queue, bucket, group, limit, waitMs, visibilityMs)` hands records out to a
//!   consumer group (answering their offsets too); `gack(queue, bucket, group, offsets)`
//!   acknowledges them and answers the group's committed offset.
//! - `describe(queue, wanted, writer)` answers the queue's settings from bucket 0's owner
//!   (a writer that comes first fixes them there: see `cluster::queue::settings`).
//! - `store`, `read`, `gread`, `gstore` and `described` are those served here whoever owns
//!   the bucket (what a node that is not the owner passes on to the owner: never passed on
//!   again).
//! - `take(queue, bucket)` hands the bucket over (a snapshot, and this node no longer holds
//!   it); `release` tells the node that handed it over that it is stored (its files go);
//!   `merge(queue, bucket, snapshot)` stores a snapshot here; `replicate` keeps a replica
//!   (see [`super::queue_replicas`]).
//!
//! Ownership moves with the members (rendezvous hashing), and the records follow it: the
//! first time a node serves a bucket it does not hold, it takes the bucket from the members
//! that do, whole, so offsets mean the same there and readers go on where they were. A
//! request that reaches a node which is not the owner (its sender's view is behind) is
//! passed on.
//!
//! Every argument is checked before anything is stored: a queue or group name within the
//! name limit, at most `MAX_PUT` records per put, `limit`, `waitMs` and `visibilityMs` within
//! their bounds.

use crate::message::to_msgpack;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::Node;
use crate::cluster::gossip::Liveness;
use crate::cluster::queue::settings::{self, Described, Wanted};
use crate::cluster::queue::store::{synced, Placement, Snapshot};
use crate::cluster::queue::{pack, unpack};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::protocol::{MAX_NAME_BYTES, MSGPACK};
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};

/// The name of the service.
pub const SERVICE: &str = "system/queue";
/// Records one put may carry.
pub const MAX_PUT: usize = 100_000;
/// Records one get may ask for.
pub const MAX_GET: u32 = 100_000;
/// Longest a get may wait for records.
pub const MAX_WAIT_MS: u32 = 60_000;
/// Longest a group may leave a record unacknowledged before it is handed out again.
pub const MAX_VISIBILITY_MS: u32 = 3_600_000;
/// Buckets a queue may have.
pub const MAX_BUCKETS: u32 = 65_536;

/// What `get` (and `gget`) answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Got {
    /// The records, each MessagePack as its writer encoded it, packed (`queue::pack`).
    pub packed: serde_bytes::ByteBuf,
    /// How many records `packed` holds.
    pub count: u32,
    /// The offset after them: the next get starts there.
    pub next: u64,
    /// For a group, the offset of each record (to acknowledge it by).
    #[serde(default)]
    pub offsets: Vec<u64>,
    /// For a group, how many times each record was handed out (this time too).
    #[serde(default)]
    pub deliveries: Vec<u32>,
}

impl Got {
    /// The answer to a group's get: the records handed out, with their offsets and
    /// delivery counts.
    pub fn handed_out(got: &[(u64, Bytes, u32)]) -> Got {
        let records: Vec<Bytes> = got.iter().map(|g| g.1.clone()).collect();
        let next = got.last().map_or(0, |g| g.0 + 1);
        Got {
            deliveries: got.iter().map(|g| g.2).collect(),
            ..Got::of(&records, next, got.iter().map(|g| g.0).collect())
        }
    }

    /// The answer carrying `records` (at `offsets`, for a group), the next offset `next`.
    pub fn of(records: &[Bytes], next: u64, offsets: Vec<u64>) -> Got {
        Got {
            packed: serde_bytes::ByteBuf::from(pack(records)),
            count: records.len() as u32,
            next,
            offsets,
            deliveries: Vec::new(),
        }
    }
}

/// The dead-letter queue of `queue`: where its records go that a consumer group gave up on.
pub fn dead_letters_of(queue: &str) -> String {
    format!("{queue}.dead")
}

/// `put`/`store`: queue, bucket, packed records, placement, and the records held back from
/// consumer groups until a time: (index in the batch, Unix ms).
pub(crate) type PutArgs = (
    String,
    u32,
    serde_bytes::ByteBuf,
    Placement,
    Vec<(u32, u64)>,
);
/// `get`/`read`: queue, bucket, offset, limit, waitMs.
pub(crate) type GetArgs = (String, u32, u64, u32, u32);
/// `gget`/`gread`: queue, bucket, group, limit, waitMs, visibilityMs, maxDeliveries (0: no
/// limit).
pub(crate) type GroupGetArgs = (String, u32, String, u32, u32, u32, u32);
/// `gnack`/`gnacked`: queue, bucket, group, offsets, delayMs, maxDeliveries.
pub(crate) type GroupNackArgs = (String, u32, String, Vec<u64>, u32, u32);
/// Longest a record given back may wait before it is handed out again.
pub const MAX_NACK_DELAY_MS: u32 = 86_400_000;
/// `gack`/`gstore`: queue, bucket, group, offsets.
pub(crate) type GroupAckArgs = (String, u32, String, Vec<u64>);
/// `describe`/`described`: queue, what is asked, whether the asker writes.
pub(crate) type DescribeArgs = (String, Wanted, bool);

pub(super) fn bad(msg: String) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Protocol, msg)
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<(), PulsingError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(bad(format!(
            "a {what} name must have 1 to {MAX_NAME_BYTES} bytes, got {}",
            name.len()
        )));
    }
    Ok(())
}

pub(crate) fn check_placement(p: &Placement) -> Result<(), PulsingError> {
    if !(1..=2).contains(&p.replicas) {
        return Err(bad(format!("replicas must be 1 or 2, got {}", p.replicas)));
    }
    if p.num_buckets > MAX_BUCKETS {
        return Err(bad(format!(
            "numBuckets must be 1 to {MAX_BUCKETS}, got {}",
            p.num_buckets
        )));
    }
    Ok(())
}

pub(crate) fn check_wanted(w: &Wanted) -> Result<(), PulsingError> {
    if w.replicas.is_some_and(|r| !(1..=2).contains(&r)) {
        return Err(bad(format!(
            "replicas must be 1 or 2, got {:?}",
            w.replicas
        )));
    }
    if w.num_buckets
        .is_some_and(|n| !(1..=MAX_BUCKETS).contains(&n))
    {
        return Err(bad(format!(
            "numBuckets must be 1 to {MAX_BUCKETS}, got {:?}",
            w.num_buckets
        )));
    }
    Ok(())
}

/// Per bucket, the lock a node holds while it takes the bucket over (one take at a time).
#[derive(Default)]
pub(crate) struct Claims(Mutex<HashMap<(String, u32), ClaimLock>>);

type ClaimLock = Arc<tokio::sync::Mutex<()>>;

impl Claims {
    fn lock_of(&self, queue: &str, bucket: u32) -> ClaimLock {
        let mut m = self.0.lock();
        if m.len() > 4096 {
            // Locks nobody waits on are dropped (a claim holds its own Arc while it runs).
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        m.entry((queue.to_string(), bucket)).or_default().clone()
    }
}

pub(super) fn call(method: &str, args: impl Serialize) -> Result<Message, PulsingError> {
    Message::call(method, args)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
}

impl Node {
    /// Serve one `system/queue` request on `c`.
    pub(super) fn serve_queue(&self, c: &Arc<ConnHandle>, f: Frame) {
        let Header::Ask { req, .. } = f.header else {
            return; // a tell asks for nothing
        };
        let msg = Message::single(MSGPACK, f.body);
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let conn = c.id;
        self.rt.spawn(async move {
            let answer = this.queue_request(msg).await;
            this.send_on(conn, super::gateway::answer_frame(req, answer));
        });
    }

    pub(crate) async fn queue_request(&self, msg: Message) -> Result<Bytes, PulsingError> {
        let (method, _) = msg.unpack::<(String, serde::de::IgnoredAny)>()?;
        match method.as_str() {
            "put" | "store" => {
                let (_, (queue, bucket, packed, placement, delays)) =
                    msg.unpack::<(String, PutArgs)>()?;
                check_name("queue", &queue)?;
                check_placement(&placement)?;
                let owner = self.queue_owner(&queue, bucket);
                // A leaving node owns nothing: it passes even a passed-on request on, once
                // (the next owner serves it whoever its view says owns it).
                if owner != self.me && (method == "put" || self.is_leaving()) {
                    let fwd = call("store", (&queue, bucket, &packed, placement, &delays))?;
                    return self.forward_queue(owner, fwd, Duration::ZERO).await;
                }
                let records = unpack(Bytes::from(packed.into_vec()), MAX_PUT)?;
                to_msgpack(
                    &self
                        .queue_put_here(&queue, bucket, placement, records, &delays)
                        .await?,
                )
            }
            "get" | "read" => {
                let (_, (queue, bucket, offset, limit, wait_ms)) =
                    msg.unpack::<(String, GetArgs)>()?;
                check_name("queue", &queue)?;
                let wait = check_get(limit, wait_ms)?;
                let owner = self.queue_owner(&queue, bucket);
                // A leaving node owns nothing: it passes even a passed-on request on, once
                // (the next owner serves it whoever its view says owns it).
                if owner != self.me && (method == "get" || self.is_leaving()) {
                    let fwd = call("read", (&queue, bucket, offset, limit, wait_ms))?;
                    return self.forward_queue(owner, fwd, wait).await;
                }
                let (records, next) = self
                    .queue_get_here(&queue, bucket, offset, limit as usize, wait)
                    .await?;
                to_msgpack(&Got::of(&records, next, Vec::new()))
            }
            "gget" | "gread" => {
                let (_, args) = msg.unpack::<(String, GroupGetArgs)>()?;
                let (queue, bucket, group, limit, wait_ms, vis_ms, max) = args.clone();
                check_name("queue", &queue)?;
                check_name("group", &group)?;
                let wait = check_get(limit, wait_ms)?;
                check_visibility(vis_ms)?;
                check_dead_letters(&queue, max)?;
                let owner = self.queue_owner(&queue, bucket);
                // A leaving node owns nothing: it passes even a passed-on request on, once
                // (the next owner serves it whoever its view says owns it).
                if owner != self.me && (method == "gget" || self.is_leaving()) {
                    return self.forward_queue(owner, call("gread", args)?, wait).await;
                }
                let visibility = Duration::from_millis(vis_ms.into());
                let got = self
                    .queue_group_get_here(&queue, bucket, &group, limit as usize, visibility, wait, max)
                    .await?;
                to_msgpack(&Got::handed_out(&got))
            }
            "gnack" | "gnacked" => {
                let (_, args) = msg.unpack::<(String, GroupNackArgs)>()?;
                let (queue, bucket, group, offsets, delay_ms, max) = args.clone();
                check_name("queue", &queue)?;
                check_name("group", &group)?;
                check_dead_letters(&queue, max)?;
                if offsets.len() > MAX_GET as usize || delay_ms > MAX_NACK_DELAY_MS {
                    return Err(bad(format!(
                        "a nack carries {MAX_GET} offsets at most and delayMs {MAX_NACK_DELAY_MS} at most, got {} and {delay_ms}",
                        offsets.len()
                    )));
                }
                let owner = self.queue_owner(&queue, bucket);
                if owner != self.me && (method == "gnack" || self.is_leaving()) {
                    return self.forward_queue(owner, call("gnacked", args)?, Duration::ZERO).await;
                }
                self.hold_bucket(&queue, bucket).await?;
                let delay = Duration::from_millis(delay_ms.into());
                let dead = self
                    .queues
                    .group_nack(&queue, bucket, &group, &offsets, delay, max)?;
                self.dead_letter(&queue, bucket, &group, dead).await;
                to_msgpack(&())
            }
            "gack" | "gstore" => {
                let (_, (queue, bucket, group, offsets)) =
                    msg.unpack::<(String, GroupAckArgs)>()?;
                check_name("queue", &queue)?;
                check_name("group", &group)?;
                if offsets.len() > MAX_GET as usize {
                    return Err(bad(format!(
                        "an ack carries {MAX_GET} offsets at most, got {}",
                        offsets.len()
                    )));
                }
                let owner = self.queue_owner(&queue, bucket);
                // A leaving node owns nothing: it passes even a passed-on request on, once
                // (the next owner serves it whoever its view says owns it).
                if owner != self.me && (method == "gack" || self.is_leaving()) {
                    let fwd = call("gstore", (&queue, bucket, &group, &offsets))?;
                    return self.forward_queue(owner, fwd, Duration::ZERO).await;
                }
                to_msgpack(
                    &self
                        .queue_group_ack_here(&queue, bucket, &group, &offsets)
                        .await?,
                )
            }
            "describe" | "described" => {
                let (_, (queue, wanted, writer)) = msg.unpack::<(String, DescribeArgs)>()?;
                check_name("queue", &queue)?;
                check_wanted(&wanted)?;
                let owner = self.queue_owner(&queue, 0);
                // A leaving node owns nothing: it passes even a passed-on request on, once
                // (the next owner serves it whoever its view says owns it).
                if owner != self.me && (method == "describe" || self.is_leaving()) {
                    let fwd = call("described", (&queue, wanted, writer))?;
                    return self.forward_queue(owner, fwd, Duration::ZERO).await;
                }
                to_msgpack(&self.queue_describe_here(&queue, &wanted, writer).await?)
            }
            "merge" => {
                let (_, (queue, bucket, snap)) = msg.unpack::<(String, (String, u32, Snapshot))>()?;
                self.refuse_if_leaving("bucket")?;
                check_name("queue", &queue)?;
                check_placement(&snap.placement)?;
                self.hold_bucket(&queue, bucket).await?;
                self.queues.install(&queue, bucket, vec![snap])?;
                to_msgpack(&())
            }
            "take" => {
                let (_, (queue, bucket)) = msg.unpack::<(String, (String, u32))>()?;
                let snap = self.queues.take(&queue, bucket);
                if let Some(s) = &snap {
                    tracing::debug!(%queue, bucket, n = s.records.len(), "handing a bucket over");
                }
                to_msgpack(&snap)
            }
            "release" => {
                let (_, (queue, bucket)) = msg.unpack::<(String, (String, u32))>()?;
                self.queues.release(&queue, bucket);
                to_msgpack(&())
            }
            "replicate" => {
                self.refuse_if_leaving("replica")?;
                self.serve_replicate(msg).await
            }
            "stats" => to_msgpack(&self.queue_stats()),
            other => Err(PulsingError::Unsupported {
                operation: format!(
                    "{SERVICE}.{other}: it serves put, get, gget, gack, gnack, describe, stats, store, read, gread, gstore, gnacked, described, take, release, merge and replicate"
                ),
            }),
        }
    }

    /// Append to `bucket` of `queue` on this node, taking the bucket over first if it is held
    /// elsewhere; answers once the records are kept as the bucket's placement says.
    pub(crate) async fn queue_put_here(
        &self,
        queue: &str,
        bucket: u32,
        placement: Placement,
        records: Vec<Bytes>,
        delays: &[(u32, u64)],
    ) -> Result<u64, PulsingError> {
        self.hold_bucket(queue, bucket).await?;
        // The first writer settles the bucket; a writer that asks otherwise is refused.
        self.queues.settle(queue, bucket, placement)?;
        if placement.replicas >= 2 {
            self.has_replica(queue, bucket)?;
        }
        let append = || {
            self.queues
                .append_delayed(queue, bucket, records.clone(), delays)
        };
        let (first, sync) = match append() {
            // Taken by another node in between: take it back once.
            Err(_) if !self.queues.holds(queue, bucket) => {
                self.hold_bucket(queue, bucket).await?;
                self.queues.settle(queue, bucket, placement)?;
                append()?
            }
            r => r?,
        };
        synced(sync).await?;
        self.replicate_append(queue, bucket, first, &records)
            .await?;
        Ok(first)
    }

    /// A put to a bucket kept twice is stored only with a second live member to keep the
    /// replica; without one it is refused with nothing stored (`NodeNotFound`: the writer's
    /// routing tries again until its timeout, in case a node joins).
    fn has_replica(&self, queue: &str, bucket: u32) -> Result<(), PulsingError> {
        if self.replica_of(queue, bucket).is_some() {
            return Ok(());
        }
        Err(PulsingError::runtime(
            RuntimeErrorKind::NodeNotFound,
            format!(
                "queue {queue}: bucket {bucket} is kept on 2 nodes and this node is the only live member: nothing was stored (a second node must join)"
            ),
        ))
    }

    /// The settings of `queue` (this node owns its bucket 0): a writer that comes first fixes
    /// them (see `cluster::queue::settings`).
    pub(crate) async fn queue_describe_here(
        &self,
        queue: &str,
        wanted: &Wanted,
        writer: bool,
    ) -> Result<Described, PulsingError> {
        self.hold_bucket(queue, 0).await?;
        let (kept, settled) = self
            .queues
            .settings(queue, 0)
            .ok_or_else(|| bad(format!("queue {queue}: bucket 0 moved while described")))?;
        let (described, settle) = settings::describe(queue, kept, settled, wanted, writer)?;
        if settle {
            self.queues.settle(queue, 0, described.placement)?;
        }
        Ok(described)
    }

    /// Read `bucket` of `queue` on this node, taking it over first if it is held elsewhere.
    pub(crate) async fn queue_get_here(
        &self,
        queue: &str,
        bucket: u32,
        offset: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<(Vec<Bytes>, u64), PulsingError> {
        self.hold_bucket(queue, bucket).await?;
        Ok(self
            .queues
            .read_waiting(queue, bucket, offset, limit, wait)
            .await)
    }

    /// Hand records of `bucket` out to `group` on this node (see `QueueStore::group_get`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn queue_group_get_here(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        limit: usize,
        visibility: Duration,
        wait: Duration,
        max_deliveries: u32,
    ) -> Result<Vec<(u64, Bytes, u32)>, PulsingError> {
        self.hold_bucket(queue, bucket).await?;
        let got = self
            .queues
            .group_get(
                queue,
                bucket,
                group,
                limit,
                visibility,
                wait,
                max_deliveries,
            )
            .await?;
        self.dead_letter(queue, bucket, group, got.dead).await;
        Ok(got.give)
    }

    /// Move records `group` gave up on to the queue's dead letters (the same bucket of
    /// `<queue>.dead`, kept as the queue is), then acknowledge them for the group. One that
    /// cannot be moved now stays out, and is given up again a little later: nothing is
    /// dropped.
    async fn dead_letter(&self, queue: &str, bucket: u32, group: &str, dead: Vec<(u64, Bytes)>) {
        if dead.is_empty() {
            return;
        }
        let Some((placement, _)) = self.queues.settings(queue, bucket) else {
            return;
        };
        let (offsets, records): (Vec<u64>, Vec<Bytes>) = dead.into_iter().unzip();
        let dlq = dead_letters_of(queue);
        let none: Vec<(u32, u64)> = Vec::new();
        let moved = match call(
            "put",
            (
                &dlq,
                bucket,
                serde_bytes::Bytes::new(&pack(&records)),
                placement,
                &none,
            ),
        ) {
            Ok(m) => Box::pin(self.queue_request(m)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match moved.and_then(|()| self.queues.group_ack(queue, bucket, group, &offsets)) {
            Ok(_) => {
                tracing::info!(%queue, bucket, %group, n = offsets.len(), "moved records a group gave up on to {dlq}");
                if let Err(e) = self.replicate_append(queue, bucket, u64::MAX, &[]).await {
                    tracing::debug!(%queue, bucket, "replica not told of the dead letters yet: {e}");
                }
            }
            Err(e) => {
                tracing::warn!(%queue, bucket, %group, "records given up on are not in {dlq} yet (tried again shortly): {e}")
            }
        }
    }

    /// Acknowledge records of `bucket` for `group` on this node: the committed offset, on
    /// disk and on the replica when the bucket has them.
    pub(crate) async fn queue_group_ack_here(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        offsets: &[u64],
    ) -> Result<u64, PulsingError> {
        self.hold_bucket(queue, bucket).await?;
        let (committed, moved) = self.queues.group_ack(queue, bucket, group, offsets)?;
        if moved {
            self.replicate_append(queue, bucket, u64::MAX, &[]).await?;
        }
        Ok(committed)
    }

    /// Hold `bucket` of `queue` here: take it from the members that hold it (all of them are
    /// asked; each hands over what it has, a replica too) and merge what comes with what this
    /// node has. Made from nothing, it is not settled: a writer's put settles it.
    pub(super) async fn hold_bucket(&self, queue: &str, bucket: u32) -> Result<(), PulsingError> {
        if self.queues.holds(queue, bucket) {
            return Ok(());
        }
        let lock = self.claims.lock_of(queue, bucket);
        let _claiming = lock.lock().await;
        if self.queues.holds(queue, bucket) {
            return Ok(());
        }
        if !self.knows_members() {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::ConnectionFailed,
                format!(
                    "queue {queue}: node {} is still joining and does not know every member yet, so it cannot take bucket {bucket} over: try again",
                    self.me
                ),
            ));
        }
        // Every member known alive, proven or not yet: a node that just joined has not dialed
        // them all, and one left out would keep a copy this node does not start from (its
        // records would be appended after those written here meanwhile, out of order). The
        // take is asked on a dialed link, whose handshake proves who answers.
        let others: Vec<NodeId> = self
            .all_members()
            .into_iter()
            .filter(|m| matches!(m.liveness, Liveness::Alive | Liveness::Suspect))
            .map(|m| m.node)
            .filter(|n| *n != self.me)
            .collect();
        let within = self.cfg.handshake_timeout;
        let takes = others.iter().map(|n| async move {
            let msg = call("take", (queue, bucket))?;
            self.ask_target(*n, Target::Name(SERVICE.into()), msg, within)
                .await?
                .unpack::<Option<Snapshot>>()
        });
        let mut copies = Vec::new();
        let mut handed = Vec::new();
        let mut unanswered = Vec::new();
        for (node, got) in others.iter().zip(futures::future::join_all(takes).await) {
            match got {
                Ok(Some(s)) => {
                    copies.push(s);
                    handed.push(*node);
                }
                Ok(None) => {}
                Err(e) => unanswered.push(format!("{node}: {e}")),
            }
        }
        if !unanswered.is_empty() {
            // A member that may have the bucket did not answer (it is dying, or slow). The
            // bucket is not started here without it: its copy would come later and be
            // appended after what is written here meanwhile, out of order. What was taken
            // goes back into this node's store, and the caller tries again: once that member
            // answers, or is declared dead.
            if !copies.is_empty() {
                self.queues.install(queue, bucket, copies)?;
                for node in handed {
                    if let Ok(msg) = call("release", (queue, bucket)) {
                        let _ = self
                            .ask_target(node, Target::Name(SERVICE.into()), msg, within)
                            .await;
                    }
                }
                return Ok(());
            }
            return Err(PulsingError::runtime(
                RuntimeErrorKind::ConnectionFailed,
                format!(
                    "queue {queue}: bucket {bucket} is not taken over yet, members did not answer ({}): try again",
                    unanswered.join("; ")
                ),
            ));
        }
        if !copies.is_empty() {
            tracing::debug!(%queue, bucket, from = handed.len(), "took a bucket over");
        }
        self.queues.install(queue, bucket, copies)?;
        for node in handed {
            if let Ok(msg) = call("release", (queue, bucket)) {
                if let Err(e) = self
                    .ask_target(node, Target::Name(SERVICE.into()), msg, within)
                    .await
                {
                    // Its files stay; if it restarts it hands them over again, merged
                    // without doubling (same origin).
                    tracing::debug!(%queue, bucket, %node, "release not delivered: {e}");
                }
            }
        }
        Ok(())
    }

    /// The owner of `bucket` of `queue`: the rendezvous winner among the live members, this
    /// node included (for a client, its gateway: it places buckets for it).
    pub fn queue_owner(&self, queue: &str, bucket: u32) -> NodeId {
        if self.client().is_some() {
            return super::GATEWAY;
        }
        self.queue_ranked(queue, bucket, 1)
            .first()
            .copied()
            .unwrap_or(self.me)
    }

    /// The `k` live members that rank highest for `bucket` of `queue` (this node included,
    /// unless it is leaving: it hands its buckets over then, and keeps none).
    pub(super) fn queue_ranked(&self, queue: &str, bucket: u32, k: usize) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.members().into_iter().map(|m| m.node).collect();
        if self.is_leaving() {
            ids.retain(|n| *n != self.me);
            if ids.is_empty() {
                ids.push(self.me); // alone: nobody to hand to
            }
        } else if !ids.contains(&self.me) {
            ids.push(self.me);
        }
        crate::cluster::queue::bucket::ranked(queue, bucket, &ids, k)
    }

    /// Whether this node is leaving (see [`Node::shutdown`]).
    pub(super) fn is_leaving(&self) -> bool {
        self.leaving.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Refuse what would leave records on a node that is leaving (a bucket handed to it, a
    /// replica): the sender keeps them, or tries again elsewhere.
    fn refuse_if_leaving(&self, what: &str) -> Result<(), PulsingError> {
        if self.is_leaving() {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::ConnectionFailed,
                format!("node {} is leaving: it keeps no {what}", self.me),
            ));
        }
        Ok(())
    }

    /// Pass a request this node does not own on to the owner; its answer.
    pub(super) async fn forward_queue(
        &self,
        owner: NodeId,
        msg: Message,
        wait: Duration,
    ) -> Result<Bytes, PulsingError> {
        let timeout = self.cfg.idle_timeout + wait;
        match self
            .ask_target(owner, Target::Name(SERVICE.into()), msg, timeout)
            .await?
        {
            Message::Single { data, .. } => Ok(data),
            Message::Stream(_) => Err(bad("a queue answer cannot be a stream".into())),
        }
    }
}

/// With a limit of deliveries, the queue's dead letters go to `<queue>.dead`: that name must
/// fit the name limit too.
pub(crate) fn check_dead_letters(queue: &str, max_deliveries: u32) -> Result<(), PulsingError> {
    if max_deliveries > 0 {
        check_name("dead-letter queue", &dead_letters_of(queue))?;
    }
    Ok(())
}

pub(crate) fn check_visibility(vis_ms: u32) -> Result<Duration, PulsingError> {
    if vis_ms == 0 || vis_ms > MAX_VISIBILITY_MS {
        return Err(bad(format!(
            "visibilityMs must be 1 to {MAX_VISIBILITY_MS}, got {vis_ms}"
        )));
    }
    Ok(Duration::from_millis(vis_ms.into()))
}

pub(crate) fn check_get(limit: u32, wait_ms: u32) -> Result<Duration, PulsingError> {
    if limit == 0 || limit > MAX_GET || wait_ms > MAX_WAIT_MS {
        return Err(bad(format!(
            "get: limit must be 1 to {MAX_GET} and waitMs at most {MAX_WAIT_MS}, got {limit} and {wait_ms}"
        )));
    }
    Ok(Duration::from_millis(wait_ms.into()))
}
