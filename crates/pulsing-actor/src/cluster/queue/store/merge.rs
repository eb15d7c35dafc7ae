//! How copies of one bucket become one (a new owner takes the bucket over from every node
//! that has a copy, a node hands a bucket to its owner): aligned by absolute offset, the
//! longer copy wins record by record, and copies of other lineages are appended.

use bytes::Bytes;

use super::{Bucket, Placement, QueueStore, Role, Snapshot, MAX_OFFSET};
use crate::error::PulsingError;

/// How a copy of a bucket meets the copy held here.
#[derive(Debug, PartialEq)]
pub(super) enum Merge {
    /// Nothing to add.
    Keep,
    /// Add the copy's records past the common prefix.
    Extend,
    /// Cut to the common prefix, then take the copy's records past it.
    Replace,
}

/// `common`: the offset where the copies part (both have the same records before it);
/// `here` and `there`: where each ends;
/// whether each was read back from a disk as its node started (`Role::Recovered`); whether
/// they are one lineage kept on two nodes. The longer copy wins, and nothing that may have
/// been acknowledged is dropped: copies that part ways have both tails kept, one after the
/// other. One exception: in a lineage kept on two nodes, the copy a crashed node read back
/// is behind the live one on every acknowledged record (its replica had them all), so where
/// the two part ways, its tail was never acknowledged and the live copy's wins alone (order
/// kept, nothing acknowledged lost).
pub(super) fn merge(
    common: u64,
    here: u64,
    there: u64,
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

impl QueueStore {
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
        tracing::debug!(%queue, bucket, here_origin = b.origin, here = ?(b.base, b.end()), role = ?b.role,
            copies = ?copies.iter().map(|c| (c.origin, c.base, c.base + c.records.len() as u64, c.recovered)).collect::<Vec<_>>(),
            "queue: installing copies of a bucket");
        let mut changed = false;
        let mut recovered = b.role == Role::Recovered;
        for c in copies {
            if c.base > MAX_OFFSET {
                tracing::warn!(%queue, bucket, base = c.base, "queue: a copy of a bucket starting past the largest offset was ignored");
                continue;
            }
            if c.settled && !b.settled {
                b.placement = c.placement;
                b.settled = true;
            }
            let incoming: Vec<Bytes> = c
                .records
                .into_iter()
                .map(|r| Bytes::from(r.into_vec()))
                .collect();
            let there_end = c.base + incoming.len() as u64;
            if b.records.is_empty() && b.origin == 0 {
                b.origin = c.origin;
                b.base = c.base;
                recovered = c.recovered;
            }
            let same = c.origin == b.origin;
            if same && b.end() < c.base {
                // The copy trimmed past all this one has: start where it starts.
                b.trim_to(b.end());
                b.base = c.base;
                changed = true;
            }
            // Offsets are absolute: the copies share the records from where both have
            // them (what one trimmed, the other may still hold) up to where they part.
            let common = if same {
                let from = b.base.max(c.base);
                let shared = (from..b.end().min(there_end))
                    .take_while(|o| b.at(*o) == incoming.get((*o - c.base) as usize))
                    .count() as u64;
                from + shared
            } else {
                c.base
            };
            let how = if same {
                merge(
                    common,
                    b.end(),
                    there_end,
                    recovered,
                    c.recovered,
                    b.placement.replicas >= 2,
                )
            } else if incoming.is_empty() {
                Merge::Keep
            } else {
                // Another lineage (written on both sides of a partition): after this one.
                Merge::Extend
            };
            if !same || (b.end() > common && there_end > common) {
                tracing::debug!(%queue, bucket, here = b.end(), there = there_end, common, same_origin = same, here_recovered = recovered, there_recovered = c.recovered, ?how, "queue: copies of a bucket part ways");
            }
            // The copy's records from `common` on land here from `at` on, with their delays
            // and times.
            let land = |b: &mut Bucket, at: u64| {
                let shift = |o: u64| o - common + at;
                for (o, t) in c.not_before.range(common..) {
                    b.not_before.insert(shift(*o), *t);
                }
                for (o, t) in c.times.range(common..) {
                    b.times.0.insert(shift(*o), *t);
                }
                b.records
                    .extend(incoming[(common - c.base) as usize..].iter().cloned());
            };
            match how {
                Merge::Keep => {}
                Merge::Extend => {
                    changed = true;
                    let at = b.end();
                    land(&mut b, at);
                }
                Merge::Replace => {
                    changed = true;
                    let keep = b.index(common);
                    b.records.truncate(keep);
                    b.not_before.split_off(&common);
                    b.times.0.split_off(&common);
                    land(&mut b, common);
                    recovered = false;
                }
            }
            if same {
                for (o, t) in c.not_before.range(..common) {
                    b.not_before.entry(*o).or_insert(*t);
                }
                b.advance(&c.committed);
            }
        }
        if b.origin == 0 {
            b.origin = rand::random::<u64>() | 1;
        }
        let base = b.base;
        for g in b.groups.values_mut() {
            g.advance(base);
        }
        b.role = Role::Primary;
        b.bytes = b.records.iter().map(|r| r.len()).sum();
        // Counted, never refused: these records were handed over and exist nowhere else
        // now. A store over its bound refuses the next puts instead.
        let mut used = self.bytes.lock();
        *used = (*used + b.bytes).saturating_sub(before);
        drop(used);
        if b.placement.disk && (changed || !was_disk) {
            self.persist(queue, bucket, &mut b)?;
        }
        tracing::debug!(%queue, bucket, origin = b.origin, now = ?(b.base, b.end()), "queue: installed a bucket");
        b.grew.notify_waiters();
        buckets.insert(key, b);
        Ok(())
    }
}
