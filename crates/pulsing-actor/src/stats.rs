//! What each named actor did: mailbox depth, messages handled, errors, restarts and a
//! latency histogram. A Rust actor's cell counts into `ActorCounters` (atomics: the cell
//! never takes a lock to count); actors hosted in JS count on their side and the binding
//! reports their figures with [`crate::system::ActorSystem::report_foreign_stats`].
//!
//! These are what `/metrics`, `/actors` and `system.metrics()` show, and what one node asks
//! another for (`system/stats`) to show a whole cluster's actors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Named actors a node shows at most (the busiest), in `/metrics`, `/actors` and its answer
/// to another node: what one scrape or one answer costs stays bounded however many actors
/// it hosts.
pub const MAX_ACTOR_SERIES: usize = 10_000;

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` follows).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// How long calls took: counts per bucket (not cumulative; the last one is `+Inf`), their sum
/// and count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Calls per bucket of [`LATENCY_BUCKETS`], then those above the last bound.
    pub buckets: Vec<u64>,
    /// Seconds, summed over the calls timed.
    pub sum_seconds: f64,
    /// Calls timed.
    pub count: u64,
}

impl Latency {
    /// Whether it has the shape every node uses (a peer's answer is checked with this).
    pub fn is_well_formed(&self) -> bool {
        self.buckets.len() == LATENCY_BUCKETS.len() + 1
            && self.buckets.iter().sum::<u64>() == self.count
            && self.sum_seconds.is_finite()
            && self.sum_seconds >= 0.0
    }
}

/// One named actor's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActorStats {
    /// Its full name (`actors/counter`).
    pub name: String,
    /// Its local id on its node.
    pub local: u64,
    /// Messages waiting in its mailbox.
    pub mailbox_depth: u64,
    /// Messages it was given to handle.
    pub handled: u64,
    /// Messages that ended in an error.
    pub errors: u64,
    /// Times it was restarted.
    pub restarts: u64,
    /// How long its calls took.
    pub latency: Latency,
}

/// The counters a Rust actor's cell updates.
#[derive(Debug, Default)]
pub(crate) struct ActorCounters {
    handled: AtomicU64,
    errors: AtomicU64,
    restarts: AtomicU64,
    sum_nanos: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl ActorCounters {
    /// One message handled in `took`, with an error or not.
    pub(crate) fn handled(&self, took: Duration, failed: bool) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let s = took.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The actor restarted.
    pub(crate) fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now, for the actor `name` (`local`) with `depth` messages waiting.
    pub(crate) fn snapshot(&self, name: &str, local: u64, depth: u64) -> ActorStats {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        ActorStats {
            name: name.to_string(),
            local,
            mailbox_depth: depth,
            handled: self.handled.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            latency: Latency {
                count: buckets.iter().sum(),
                buckets,
                sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_bucket() {
        let c = ActorCounters::default();
        c.handled(Duration::from_micros(5), false);
        c.handled(Duration::from_millis(3), true);
        c.handled(Duration::from_secs(60), false);
        c.restarted();
        let s = c.snapshot("actors/a", 7, 2);
        assert_eq!(
            (s.handled, s.errors, s.restarts, s.mailbox_depth),
            (3, 1, 1, 2)
        );
        assert_eq!(s.latency.buckets[0], 1); // <= 10 µs
        assert_eq!(s.latency.buckets[5], 1); // <= 5 ms
        assert_eq!(s.latency.buckets[13], 1); // +Inf
        assert!(s.latency.is_well_formed());
        assert!((s.latency.sum_seconds - 60.003005).abs() < 1e-6);
    }

    #[test]
    fn a_malformed_histogram_is_refused() {
        let bad = Latency {
            buckets: vec![1; 3],
            sum_seconds: 0.0,
            count: 3,
        };
        assert!(!bad.is_well_formed());
        let nan = Latency {
            buckets: vec![0; 14],
            sum_seconds: f64::NAN,
            count: 0,
        };
        assert!(!nan.is_well_formed());
    }
}

/// Queue buckets a node shows at most, in `/metrics`, `/queues` and its answer to another
/// node (the rest are left out: one scrape stays bounded).
pub const MAX_BUCKET_SERIES: usize = 10_000;

/// One queue bucket a node keeps, as `/queues`, `/metrics` and `pulsing inspect queues` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketStats {
    /// The queue.
    pub queue: String,
    /// The bucket.
    pub bucket: u32,
    /// How this node keeps it: `owner`, `replica`, or `recovered` (read back from disk, not
    /// taken over yet).
    pub role: String,
    /// Records it holds.
    pub records: u64,
    /// The offset of the first (those before were trimmed by the queue's retention); the
    /// offset after the last is `first + records`.
    #[serde(default)]
    pub first: u64,
    /// Bytes of those records.
    pub bytes: u64,
    /// Kept on disk too.
    pub disk: bool,
    /// Nodes keeping the bucket (the queue's setting).
    pub replicas: u8,
    /// Per consumer group: its place.
    pub groups: Vec<GroupLag>,
}

/// A consumer group's place in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLag {
    /// The group.
    pub group: String,
    /// Every record before this offset is acknowledged.
    pub committed: u64,
    /// Records not acknowledged yet (the bucket's records past `committed`).
    pub lag: u64,
    /// Records handed out (or held back by a delay) and not acknowledged.
    pub in_flight: u64,
}

/// The subscribers of one topic on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicStats {
    /// The topic.
    pub topic: String,
    /// Subscribers on this node.
    pub subscribers: u64,
    /// Messages given to them and not read yet, all together.
    pub waiting: u64,
}

/// What one node keeps of the cluster's queues and topics (its answer to `stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueNodeStats {
    /// Its queue buckets.
    pub buckets: Vec<BucketStats>,
    /// Its topics with subscribers.
    pub topics: Vec<TopicStats>,
}
