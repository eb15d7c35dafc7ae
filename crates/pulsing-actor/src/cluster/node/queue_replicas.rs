//! Replicas of queue buckets (`replicas: 2`) and the sweep that keeps buckets where they
//! belong.
//!
//! A bucket's replica is the member ranked second for it by rendezvous hashing, so when the
//! owner dies the replica is the next owner and already has the records. The owner
//! acknowledges a put only once the replica stored it too (`replicate`); a replica that is
//! behind (new, or it missed a put) says how far it is, and the owner sends what it misses.
//! The committed offsets of consumer groups travel the same way.
//!
//! Every second a node
//! - hands the buckets it holds but does not own to their owner (`merge`), so records written
//!   while two views of the members disagreed are not left behind once they agree;
//! - brings the replica of each bucket it owns up to date (a replica that just changed gets
//!   everything);
//! - takes over the buckets it keeps a replica of and now owns (their owner died);
//! - drops replicas it is no longer the replica of, after a few sweeps (time for the new
//!   replica to catch up).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::queues::{bad, call, SERVICE};
use super::Node;
use crate::cluster::queue::store::{synced, Placement};
use crate::cluster::queue::{pack, unpack};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::to_msgpack;
use crate::message::Message;
use crate::transport::frame::Target;

/// Sweeps a node keeps a replica it is no longer the replica of.
const STALE_SWEEPS: u8 = 5;

type ReplicateArgs = (
    String,
    u32,
    u64,
    u64,
    serde_bytes::ByteBuf,
    u64,
    Placement,
    BTreeMap<String, u64>,
    BTreeMap<u64, u64>,
);

impl Node {
    /// Serve `replicate(queue, bucket, base, from, packed, origin, placement, committed,
    /// not_before)`: the replica's end after.
    pub(super) async fn serve_replicate(&self, msg: Message) -> Result<Bytes, PulsingError> {
        let (_, (queue, bucket, base, from, packed, origin, placement, committed, not_before)) =
            msg.unpack::<(String, ReplicateArgs)>()?;
        if queue.is_empty() || queue.len() > crate::protocol::MAX_NAME_BYTES {
            return Err(bad("replicate: bad queue name".into()));
        }
        if committed.len() > crate::cluster::queue::store::MAX_GROUPS {
            return Err(bad("replicate: too many groups".into()));
        }
        if not_before.len() > crate::cluster::node::QUEUE_MAX_PUT * 16 {
            return Err(bad("replicate: too many delays".into()));
        }
        let records = unpack(Bytes::from(packed.into_vec()), usize::MAX)?;
        let (len, sync) = self.queues.replicate(
            &queue,
            bucket,
            base,
            from,
            records,
            origin,
            placement,
            &committed,
            &not_before,
        )?;
        synced(sync).await?;
        to_msgpack(&len)
    }

    /// The node keeping the replica of `bucket` of `queue` for this owner: the best-ranked
    /// live member other than this node (none when it is alone).
    pub(super) fn replica_of(&self, queue: &str, bucket: u32) -> Option<NodeId> {
        self.queue_ranked(queue, bucket, 2)
            .into_iter()
            .find(|n| *n != self.me)
    }

    /// Bring the replica of `bucket` of `queue` up to date after `records` were appended at
    /// `first` (`u64::MAX` when nothing was: only the committed offsets changed). Nothing to
    /// do for a bucket with one replica, or when this node is alone.
    pub(super) async fn replicate_append(
        &self,
        queue: &str,
        bucket: u32,
        first: u64,
        records: &[Bytes],
    ) -> Result<(), PulsingError> {
        // Most buckets have one replica: nothing to copy, checked before any snapshot.
        if self
            .queues
            .placement(queue, bucket)
            .is_none_or(|p| p.replicas < 2)
        {
            return Ok(());
        }
        let Some((meta, base)) = self.queues.since(queue, bucket, u64::MAX) else {
            return Ok(());
        };
        let len = meta.base; // from the end: no records
        let Some(replica) = self.replica_of(queue, bucket) else {
            return Ok(());
        };
        let (from, records) = if first == u64::MAX {
            (len, &[][..])
        } else {
            (first, records)
        };
        let need = from + records.len() as u64;
        let failed = |e: PulsingError| {
            PulsingError::runtime(
                RuntimeErrorKind::ConnectionFailed,
                format!(
                    "queue {queue}: bucket {bucket} is stored on its owner but not on its replica (node {replica}), so it is not acknowledged: {e}"
                ),
            )
        };
        let send = |from: u64, packed: Vec<u8>| {
            let msg = call(
                "replicate",
                (
                    queue,
                    bucket,
                    base,
                    from,
                    serde_bytes::Bytes::new(&packed),
                    meta.origin,
                    meta.placement,
                    &meta.committed,
                    &meta.not_before,
                ),
            );
            async move {
                let timeout = self.cfg.idle_timeout;
                self.ask_target(replica, Target::Name(SERVICE.into()), msg?, timeout)
                    .await?
                    .unpack::<u64>()
            }
        };
        let has = send(from, pack(records)).await.map_err(failed)?;
        if has >= need {
            return Ok(());
        }
        // Behind: send what it misses, from where it is.
        let Some((missing, _)) = self.queues.since(queue, bucket, has) else {
            return Ok(()); // moved away meanwhile
        };
        let at = missing.base;
        let missing: Vec<Bytes> = missing
            .records
            .into_iter()
            .map(|r| Bytes::from(r.into_vec()))
            .collect();
        let has = send(at, pack(&missing)).await.map_err(failed)?;
        if has < need {
            return Err(failed(bad(format!(
                "the replica has {has} records, {need} needed"
            ))));
        }
        Ok(())
    }

    /// Every second, keep the buckets where they belong (see the module's text).
    pub(super) async fn queue_sweep_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.queue_sweep().await;
        }
    }

    async fn queue_sweep(&self) {
        // Retention first: replicas brought up to date below trim as their owner did.
        self.queues.trim(std::time::SystemTime::now());
        // Read back from disk at start: taken over if this node owns them now (with what the
        // others kept meanwhile), handed to their owner otherwise.
        for (queue, bucket) in self.queues.recovered() {
            let owner = self.queue_owner(&queue, bucket);
            if owner == self.me {
                if let Err(e) = self.hold_bucket(&queue, bucket).await {
                    tracing::debug!(%queue, bucket, "cannot take over a bucket read back from disk yet: {e}");
                }
            } else {
                self.hand_over(&queue, bucket, owner).await;
            }
        }
        for (queue, bucket, placement) in self.queues.held() {
            let owner = self.queue_owner(&queue, bucket);
            if owner == self.me {
                if placement.replicas >= 2 {
                    if let Err(e) = self.replicate_append(&queue, bucket, u64::MAX, &[]).await {
                        tracing::debug!(%queue, bucket, "replica not brought up to date yet: {e}");
                    }
                }
                continue;
            }
            self.hand_over(&queue, bucket, owner).await;
        }
        let mine: HashSet<(String, u32)> = self
            .queues
            .replica_copies()
            .into_iter()
            .filter(|(q, b)| self.queue_ranked(q, *b, 2).contains(&self.me))
            .collect();
        for (queue, bucket) in &mine {
            if self.queue_owner(queue, *bucket) == self.me {
                // Its owner is gone and this node is next: take over now, not on first use.
                if let Err(e) = self.hold_bucket(queue, *bucket).await {
                    tracing::debug!(%queue, bucket, "cannot take over a replicated bucket yet: {e}");
                }
            }
        }
        self.queues
            .age_replicas(|q, b| mine.contains(&(q.to_string(), b)), STALE_SWEEPS);
    }

    /// Leaving: hand every bucket this node holds to its next owner, and every replica it
    /// keeps to its next replica, within `within`. What could not be handed over is logged:
    /// a `disk` bucket's files stay (the node hands them over when it starts again), a
    /// memory bucket's records are lost with the node unless a replica has them.
    pub(super) async fn hand_over_all(&self, within: Duration) {
        let mut held = self.queues.held();
        held.extend(
            self.queues
                .recovered()
                .into_iter()
                .map(|(q, b)| (q, b, Placement::default())),
        );
        let replicas = self.queues.replica_copies();
        if held.is_empty() && replicas.is_empty() {
            return;
        }
        let buckets = futures::future::join_all(held.iter().map(|(queue, bucket, _)| {
            let owner = self.queue_owner(queue, *bucket);
            async move { owner != self.me && self.hand_over(queue, *bucket, owner).await }
        }));
        let copies = futures::future::join_all(
            replicas
                .iter()
                .map(|(queue, bucket)| self.hand_replica_over(queue, *bucket)),
        );
        match tokio::time::timeout(within, futures::future::join(buckets, copies)).await {
            Ok((handed, _)) => {
                let left: Vec<String> = held
                    .iter()
                    .zip(handed)
                    .filter(|(_, ok)| !ok)
                    .map(|((q, b, _), _)| format!("{q}/{b}"))
                    .collect();
                if left.is_empty() {
                    tracing::info!(buckets = held.len(), replicas = replicas.len(), "left: handed every queue bucket over");
                } else {
                    tracing::warn!("left without handing over queue buckets {}: their records stay here (disk) or are lost (memory, without a replica)", left.join(", "));
                }
            }
            Err(_) => tracing::warn!(
                "shutdown cut short after {} ms (shutdownTimeoutMs): {} queue buckets and {} replicas may not have been handed over",
                within.as_millis(),
                held.len(),
                replicas.len()
            ),
        }
    }

    /// Leaving: give the replica of `bucket` of `queue` this node keeps to the member that
    /// keeps it next (the owner's next sweep would too, a second later: this closes the gap).
    async fn hand_replica_over(&self, queue: &str, bucket: u32) {
        let ranked = self.queue_ranked(queue, bucket, 2);
        let (Some(owner), Some(next)) = (ranked.first(), ranked.get(1)) else {
            return;
        };
        let Some((snap, base)) = self.queues.since(queue, bucket, 0) else {
            return;
        };
        let records: Vec<Bytes> = snap
            .records
            .into_iter()
            .map(|r| Bytes::from(r.into_vec()))
            .collect();
        let msg = call(
            "replicate",
            (
                queue,
                bucket,
                base,
                snap.base,
                serde_bytes::Bytes::new(&pack(&records)),
                snap.origin,
                snap.placement,
                &snap.committed,
                &snap.not_before,
            ),
        );
        let sent = match msg {
            Ok(m) => self
                .ask_target(
                    *next,
                    Target::Name(SERVICE.into()),
                    m,
                    self.cfg.idle_timeout,
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match sent {
            // Its files go: this node started again later must not read back a stale copy.
            Ok(()) => {
                self.queues.take(queue, bucket);
                self.queues.release(queue, bucket);
            }
            Err(e) => {
                tracing::debug!(%queue, bucket, %owner, %next, "replica not handed over (the owner's sweep will copy it): {e}")
            }
        }
    }

    /// Hand `bucket` of `queue`, held here, to its `owner`: a copy is merged there, and only
    /// then is the bucket given up (unless it grew meanwhile: the next hand-over adds the
    /// rest). Until then the owner, serving it first, takes it from here as it takes any
    /// bucket over: it never starts the bucket afresh while this node has it. Whether it is
    /// handed over.
    async fn hand_over(&self, queue: &str, bucket: u32, owner: NodeId) -> bool {
        let Some((snap, _)) = self.queues.since(queue, bucket, 0) else {
            return true;
        };
        let end = snap.base + snap.records.len() as u64;
        let sent = match call("merge", (queue, bucket, &snap)) {
            Ok(msg) => self
                .ask_target(
                    owner,
                    Target::Name(SERVICE.into()),
                    msg,
                    self.cfg.handshake_timeout,
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) if self.queues.take_if_end(queue, bucket, end) => {
                self.queues.release(queue, bucket);
                tracing::debug!(%queue, bucket, end, %owner, "handed a bucket to its owner");
                true
            }
            // The owner took it from here meanwhile (then it is gone here already), or it
            // grew: the rest goes next time.
            Ok(()) => {
                !self.queues.holds(queue, bucket) && self.queues.since(queue, bucket, 0).is_none()
            }
            Err(e) => {
                // Kept here, at their offsets, for the next sweep or the owner's take.
                tracing::debug!(%queue, bucket, "could not hand a bucket over yet: {e}");
                false
            }
        }
    }
}
