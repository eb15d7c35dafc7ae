//! Retention: which records of a bucket its owner trims (`retain_ms`, `trim_acked`), how
//! the bucket starts at a later offset after a trim, and how a `disk` bucket's files follow.
//! When records were appended is kept coarsely ([`Times`]).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{unix_ms, Bucket, QueueStore, Role};
use crate::cluster::queue::groups::Group;
use crate::cluster::queue::log::Log;
use crate::error::PulsingError;

/// Bytes of trimmed records a `disk` bucket's log keeps before it is rewritten without them
/// (at least; and only once they outweigh the records kept).
const COMPACT_AFTER: u64 = 1 << 20;

impl Bucket {
    /// Where retention trims this bucket to at `now_ms` (its base when nothing goes): below
    /// every group's committed offset (`trim_acked`, with a group at least), and below the
    /// records older than `retain_ms`; the further of the two.
    pub(super) fn trim_point(&self, now_ms: u64) -> u64 {
        let mut to = self.base;
        if self.placement.trim_acked {
            if let Some(c) = self.groups.values().map(Group::committed).min() {
                to = to.max(c);
            }
        }
        if self.placement.retain_ms > 0 {
            to = to.max(
                self.times
                    .before(now_ms.saturating_sub(self.placement.retain_ms)),
            );
        }
        to.min(self.end())
    }

    /// Drop the records before `to`: the bytes freed. Groups move past them (a record
    /// expired by `retain_ms` is gone for a group that had not acknowledged it), delays and
    /// times before them are forgotten.
    pub(super) fn trim_to(&mut self, to: u64) -> usize {
        let n = self.index(to);
        if n == 0 {
            return 0;
        }
        let gone: Vec<Bytes> = self.records.drain(..n).collect();
        let freed: usize = gone.iter().map(|r| r.len()).sum();
        self.log_head += Log::framed(&gone);
        self.bytes -= freed;
        self.base += n as u64;
        for g in self.groups.values_mut() {
            g.advance(self.base);
        }
        self.not_before = self.not_before.split_off(&self.base);
        self.times.forget_before(self.base);
        freed
    }
}

/// When records of a bucket were appended, coarsely: offset `o` → Unix ms `t` says every
/// record before `o` was appended at `t` or earlier. The last entry is the bucket's end at
/// its last append; earlier ones are at least [`Times::step`] apart, so a bucket keeps a few
/// dozen whatever its traffic, and a record outlives `retain_ms` by one step at most.
#[derive(Debug, Clone, Default)]
pub(super) struct Times(pub(super) BTreeMap<u64, u64>);

impl Times {
    /// The spacing of entries for a retention of `retain_ms`.
    pub(super) fn step(retain_ms: u64) -> u64 {
        (retain_ms / 64).max(100)
    }

    /// Records up to `end` were appended by `now_ms`.
    pub(super) fn appended(&mut self, end: u64, now_ms: u64, retain_ms: u64) {
        let mut last_two = self.0.iter().rev().take(2).map(|(o, t)| (*o, *t));
        let (last, before) = (last_two.next(), last_two.next());
        // The last entry moves on unless it is a step past the one before it.
        if let (Some((o, t_last)), Some((_, t_before))) = (last, before) {
            if t_last < t_before.saturating_add(Self::step(retain_ms)) {
                self.0.remove(&o);
            }
        }
        self.0.insert(end, now_ms);
    }

    /// The furthest offset every record before which was appended by `cutoff_ms`.
    pub(super) fn before(&self, cutoff_ms: u64) -> u64 {
        self.0
            .iter()
            .filter(|(_, t)| **t <= cutoff_ms)
            .map(|(o, _)| *o)
            .max()
            .unwrap_or(0)
    }

    /// Forget what is said of records before `base` (trimmed).
    pub(super) fn forget_before(&mut self, base: u64) {
        self.0 = self.0.split_off(&base);
    }
}

impl QueueStore {
    /// After a trim of `b`, a `disk` bucket: its metadata says where it starts now (what
    /// recovery skips), and its log is rewritten once what was trimmed outweighs what is
    /// kept (and 1 MiB).
    pub(super) fn trimmed_on_disk(
        &self,
        queue: &str,
        bucket: u32,
        b: &mut Bucket,
    ) -> Result<(), PulsingError> {
        if b.log.is_none() {
            return Ok(());
        }
        if b.log_head > COMPACT_AFTER && b.log_head > Log::framed(&b.records) {
            return self.persist(queue, bucket, b);
        }
        self.disk()?.write_meta(queue, bucket, &b.meta())
    }

    /// Trim every bucket this node owns as its retention says (see [`super::Placement::trims`]),
    /// at `now`: the records dropped. Their replicas follow when the owner next brings them
    /// up to date.
    pub fn trim(&self, now: std::time::SystemTime) -> u64 {
        let now_ms = unix_ms(now);
        let mut buckets = self.buckets.lock();
        let mut dropped = 0;
        for ((queue, bucket), b) in buckets.iter_mut() {
            if b.role != Role::Primary || !b.placement.trims() {
                continue;
            }
            if b.placement.retain_ms > 0 && b.times.0.is_empty() && !b.records.is_empty() {
                // Nothing says when these came (moved or read back without): from now.
                b.times.appended(b.end(), now_ms, b.placement.retain_ms);
            }
            let to = b.trim_point(now_ms);
            if to <= b.base {
                continue;
            }
            let before = b.base;
            let freed = b.trim_to(to);
            dropped += b.base - before;
            self.release_bytes(freed);
            tracing::debug!(%queue, bucket, from = before, to = b.base, freed, "queue: trimmed a bucket");
            if let Err(e) = self.trimmed_on_disk(queue, *bucket, b) {
                tracing::warn!(%queue, bucket, "queue: a trim was not written to disk (recovery keeps the records): {e}");
            }
        }
        dropped
    }
}
