//! A consumer group's place in one bucket, kept by the bucket's owner: the committed offset
//! (every record before it acknowledged), the next offset never handed out, and the records
//! handed out and not yet acknowledged with the time they come back.
//!
//! Because the owner hands out every record, members of a group that read the same bucket
//! never get the same record at once; a record whose visibility timeout passes unacknowledged
//! goes to the next member that asks (at-least-once). The committed offset travels with the
//! bucket when it moves (and to its replica, and to disk); what was in flight does not: it is
//! handed out again from the committed offset.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// Records of one bucket a group may have handed out and not acknowledged; beyond it a get
/// hands out only what comes back (a reader that never acknowledges cannot grow this).
pub const MAX_IN_FLIGHT: usize = 100_000;

/// A group's state in one bucket.
#[derive(Debug, Clone)]
pub struct Group {
    committed: u64,
    next: u64,
    in_flight: BTreeMap<u64, Instant>,
}

impl Group {
    /// A group that committed up to `committed`.
    pub fn at(committed: u64) -> Self {
        Group {
            committed,
            next: committed,
            in_flight: BTreeMap::new(),
        }
    }

    /// Every record before this one is acknowledged.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Raise the committed offset to `to` (a copy of the bucket knew more).
    pub fn advance(&mut self, to: u64) {
        if to > self.committed {
            self.committed = to;
            self.next = self.next.max(to);
            self.in_flight = self.in_flight.split_off(&to);
        }
    }

    /// The offsets to hand out now, at most `limit`, out of `len` records: those whose
    /// visibility timeout passed first, then new ones. Each is invisible for `visibility`.
    pub fn hand_out(&mut self, len: u64, limit: usize, visibility: Duration) -> Vec<u64> {
        let now = Instant::now();
        let back = now + visibility;
        let mut out: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(o, _)| *o)
            .take(limit)
            .collect();
        for o in &out {
            self.in_flight.insert(*o, back);
        }
        while out.len() < limit && self.next < len && self.in_flight.len() < MAX_IN_FLIGHT {
            out.push(self.next);
            self.in_flight.insert(self.next, back);
            self.next += 1;
        }
        out
    }

    /// Acknowledge `offsets`; whether the committed offset moved.
    pub fn ack(&mut self, offsets: &[u64]) -> bool {
        for o in offsets {
            self.in_flight.remove(o);
        }
        let committed = self.in_flight.keys().next().copied().unwrap_or(self.next);
        let moved = committed > self.committed;
        self.committed = self.committed.max(committed);
        moved
    }

    /// When the first record handed out comes back, if any is out.
    pub fn next_due(&self) -> Option<Instant> {
        self.in_flight.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn records_are_handed_out_once_come_back_after_the_timeout_and_commit_in_order() {
        let mut g = Group::at(0);
        let vis = Duration::from_secs(5);
        assert_eq!(g.hand_out(5, 2, vis), vec![0, 1]);
        assert_eq!(g.hand_out(5, 10, vis), vec![2, 3, 4]);
        assert!(
            g.hand_out(5, 10, vis).is_empty(),
            "nothing new, nothing due"
        );
        // 1 and 2 acknowledged, 0 not: nothing committed yet.
        assert!(!g.ack(&[1, 2]));
        assert_eq!(g.committed(), 0);
        tokio::time::advance(Duration::from_secs(6)).await;
        // 0, 3 and 4 come back.
        assert_eq!(g.hand_out(5, 10, vis), vec![0, 3, 4]);
        assert!(g.ack(&[0]));
        assert_eq!(g.committed(), 3);
        assert!(g.ack(&[3, 4, 99]));
        assert_eq!(g.committed(), 5);
        assert_eq!(g.next_due(), None);
        let mut h = Group::at(2);
        assert_eq!(h.hand_out(4, 10, vis), vec![2, 3]);
        h.advance(3);
        assert_eq!(h.committed(), 3);
        assert!(h.ack(&[3]));
        assert_eq!(h.committed(), 4);
    }
}
