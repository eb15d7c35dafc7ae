//! The records of the buckets a node holds, in memory: per (queue, bucket) an append-only
//! list addressed by offset. Reads do not delete. A read can wait for records past its
//! offset. The whole store is bounded in bytes: a put beyond it is refused, never dropped.
//! A bucket moves whole: [`MemoryStore::take`] hands every record over (the new holder
//! [`MemoryStore::install`]s them), so offsets mean the same on the new holder.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{PulsingError, RuntimeErrorKind};

/// Bytes of records one node keeps in memory at most, all queues together.
pub const MEMORY_LIMIT: usize = 1 << 30;

#[derive(Default)]
struct Bucket {
    records: Vec<Bytes>,
    /// Woken on every append (readers waiting past the end).
    grew: Arc<Notify>,
}

/// The memory backend of one node.
#[derive(Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<(String, u32), Bucket>>,
    bytes: Mutex<usize>,
}

impl MemoryStore {
    /// Append `records` to `bucket` of `queue`, which this node holds; the offset of the
    /// first.
    pub fn append(
        &self,
        queue: &str,
        bucket: u32,
        records: Vec<Bytes>,
    ) -> Result<u64, PulsingError> {
        let size: usize = records.iter().map(|r| r.len()).sum();
        {
            let mut used = self.bytes.lock();
            if *used + size > MEMORY_LIMIT {
                return Err(PulsingError::runtime(
                    RuntimeErrorKind::Stopped,
                    format!(
                        "queue {queue}: the memory backend of this node is full ({MEMORY_LIMIT} bytes): records were not written"
                    ),
                ));
            }
            *used += size;
        }
        let mut buckets = self.buckets.lock();
        let Some(b) = buckets.get_mut(&(queue.to_string(), bucket)) else {
            drop(buckets);
            *self.bytes.lock() -= size;
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Stopped,
                format!("queue {queue}: bucket {bucket} is not held here (it moved)"),
            ));
        };
        let first = b.records.len() as u64;
        b.records.extend(records);
        b.grew.notify_waiters();
        Ok(first)
    }

    /// Whether this node holds `bucket` of `queue` (it took it over, or created it).
    pub fn holds(&self, queue: &str, bucket: u32) -> bool {
        self.buckets
            .lock()
            .contains_key(&(queue.to_string(), bucket))
    }

    /// Hold `bucket` of `queue` from now on, with `records` first (those of its previous
    /// holder, at their offsets).
    pub fn install(&self, queue: &str, bucket: u32, records: Vec<Bytes>) {
        *self.bytes.lock() += records.iter().map(|r| r.len()).sum::<usize>();
        let mut buckets = self.buckets.lock();
        let b = buckets.entry((queue.to_string(), bucket)).or_default();
        let mut all = records;
        all.append(&mut b.records);
        b.records = all;
        b.grew.notify_waiters();
    }

    /// Every (queue, bucket) this node holds.
    pub fn held(&self) -> Vec<(String, u32)> {
        self.buckets.lock().keys().cloned().collect()
    }

    /// Give up `bucket` of `queue`: its records, for the node that holds it next.
    pub fn take(&self, queue: &str, bucket: u32) -> Vec<Bytes> {
        let Some(b) = self.buckets.lock().remove(&(queue.to_string(), bucket)) else {
            return Vec::new();
        };
        *self.bytes.lock() -= b.records.iter().map(|r| r.len()).sum::<usize>();
        b.grew.notify_waiters();
        b.records
    }

    /// Up to `limit` records of `bucket` from `offset`, and the offset after them.
    pub fn read(&self, queue: &str, bucket: u32, offset: u64, limit: usize) -> (Vec<Bytes>, u64) {
        let buckets = self.buckets.lock();
        let Some(b) = buckets.get(&(queue.to_string(), bucket)) else {
            return (Vec::new(), offset);
        };
        let from = (offset as usize).min(b.records.len());
        let to = from.saturating_add(limit).min(b.records.len());
        (b.records[from..to].to_vec(), to as u64)
    }

    /// [`MemoryStore::read`], waiting up to `wait` for a record past `offset` when there is
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
            let grew = match self.buckets.lock().get(&(queue.to_string(), bucket)) {
                Some(b) => b.grew.clone(),
                // Not held (it moved away while we waited): the caller asks its owner again.
                None => return (Vec::new(), offset),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_are_read_by_offset_and_a_waiting_read_wakes_on_append() {
        let s = Arc::new(MemoryStore::default());
        s.install("q", 1, vec![]);
        assert!(s.append("q", 9, vec![Bytes::new()]).is_err(), "not held");
        assert_eq!(
            s.append(
                "q",
                1,
                vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
            )
            .unwrap(),
            0
        );
        assert_eq!(s.append("q", 1, vec![Bytes::from_static(b"c")]).unwrap(), 2);
        let (r, next) = s.read("q", 1, 1, 10);
        assert_eq!((r.len(), next), (2, 3));
        assert_eq!(s.read("q", 2, 0, 10), (vec![], 0));
        let waiting = tokio::spawn({
            let s = s.clone();
            async move { s.read_waiting("q", 1, 3, 10, Duration::from_secs(10)).await }
        });
        tokio::task::yield_now().await;
        s.append("q", 1, vec![Bytes::from_static(b"d")]).unwrap();
        let (r, next) = waiting.await.unwrap();
        assert_eq!((r, next), (vec![Bytes::from_static(b"d")], 4));
        // Nothing arrives: the wait ends empty at its deadline.
        assert_eq!(
            s.read_waiting("q", 1, 4, 10, Duration::from_millis(20))
                .await,
            (vec![], 4)
        );
        // Taken whole, installed whole: the offsets mean the same on the next holder, and
        // what arrived there first comes after them.
        let t = MemoryStore::default();
        t.install("q", 1, vec![]);
        t.append("q", 1, vec![Bytes::from_static(b"new")]).unwrap();
        t.install("q", 1, s.take("q", 1));
        assert!(!s.holds("q", 1) && t.holds("q", 1));
        let (r, next) = t.read("q", 1, 3, 10);
        assert_eq!(
            (r, next),
            (
                vec![Bytes::from_static(b"d"), Bytes::from_static(b"new")],
                5
            )
        );
        assert!(s.append("q", 1, vec![Bytes::new()]).is_err(), "moved away");
    }
}
