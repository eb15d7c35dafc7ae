//! A consumer group's place in one bucket, kept by the bucket's owner: the committed offset
//! (every record before it acknowledged), the next offset never handed out, and the records
//! handed out and not yet acknowledged with the time they come back.
//!
//! Because the owner hands out every record, members of a group that read the same bucket
//! never get the same record at once; a record whose visibility timeout passes unacknowledged
//! (or that a reader gave back, `nack`, with a delay) goes to the next member that asks
//! (at-least-once), with the number of times it was handed out. One handed out
//! `max_deliveries` times that comes back again is given up: the owner moves it to the
//! dead-letter queue. A record put with a delay is held back, in flight and never handed
//! out, until its time. The committed offset travels with the bucket when it moves (and to
//! its replica, and to disk); what was in flight does not: it is handed out again from the
//! committed offset, its count starting over.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// Records of one bucket a group may have handed out and not acknowledged; beyond it a get
/// hands out only what comes back (a reader that never acknowledges cannot grow this).
pub const MAX_IN_FLIGHT: usize = 100_000;

/// How long a record given up (see [`HandOut::dead`]) stays out while it is moved to the
/// dead-letter queue; if that fails, it comes back then, and is given up again.
pub const DEAD_LETTER_RETRY: Duration = Duration::from_secs(5);

/// A record out of the group's hands: when it comes back, and how many times it was handed
/// out (0: held back by its delay, never handed out yet).
#[derive(Debug, Clone, Copy)]
struct Flight {
    due: Instant,
    deliveries: u32,
}

/// What [`Group::hand_out`] decided.
#[derive(Debug, Default, PartialEq)]
pub struct HandOut {
    /// The offsets to hand out, each with how many times it was handed out, this one too.
    pub give: Vec<(u64, u32)>,
    /// The offsets handed out `max_deliveries` times that came back again: to move to the
    /// dead-letter queue (then acknowledge).
    pub dead: Vec<u64>,
}

/// A group's state in one bucket.
#[derive(Debug, Clone)]
pub struct Group {
    committed: u64,
    next: u64,
    in_flight: BTreeMap<u64, Flight>,
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

    /// What to hand out now, at most `limit` records, out of `len`: those whose visibility
    /// timeout (or delay) passed first, then new ones. Each is invisible for `visibility`. A
    /// record that comes back having been handed out `max_deliveries` times (0: no limit) is
    /// given up instead. A new record `held_until` says is not due yet is held back.
    pub fn hand_out(
        &mut self,
        len: u64,
        limit: usize,
        visibility: Duration,
        max_deliveries: u32,
        held_until: impl Fn(u64) -> Option<Instant>,
    ) -> HandOut {
        let now = Instant::now();
        let back = now + visibility;
        let mut out = HandOut::default();
        let due: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.due <= now)
            .map(|(o, _)| *o)
            .take(limit)
            .collect();
        for o in due {
            let f = self.in_flight.get_mut(&o).expect("listed above");
            if max_deliveries > 0 && f.deliveries >= max_deliveries {
                f.due = now + DEAD_LETTER_RETRY;
                out.dead.push(o);
            } else {
                f.deliveries += 1;
                f.due = back;
                out.give.push((o, f.deliveries));
            }
        }
        while out.give.len() < limit && self.next < len && self.in_flight.len() < MAX_IN_FLIGHT {
            let o = self.next;
            self.next += 1;
            match held_until(o).filter(|t| *t > now) {
                Some(t) => {
                    self.in_flight.insert(
                        o,
                        Flight {
                            due: t,
                            deliveries: 0,
                        },
                    );
                }
                None => {
                    self.in_flight.insert(
                        o,
                        Flight {
                            due: back,
                            deliveries: 1,
                        },
                    );
                    out.give.push((o, 1));
                }
            }
        }
        out
    }

    /// Give `offsets` back (a reader could not process them): each is handed out again after
    /// `delay`, or given up (returned) if it was handed out `max_deliveries` times already.
    pub fn nack(&mut self, offsets: &[u64], delay: Duration, max_deliveries: u32) -> Vec<u64> {
        let now = Instant::now();
        let mut dead = Vec::new();
        for o in offsets {
            if let Some(f) = self.in_flight.get_mut(o) {
                if max_deliveries > 0 && f.deliveries >= max_deliveries {
                    f.due = now + DEAD_LETTER_RETRY;
                    dead.push(*o);
                } else {
                    f.due = now + delay;
                }
            }
        }
        dead
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

    /// Records out (handed out, or held back by a delay) and not acknowledged.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.len() as u64
    }

    /// When the first record out comes back (or is due), if any is out.
    pub fn next_due(&self) -> Option<Instant> {
        self.in_flight.values().map(|f| f.due).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(h: HandOut) -> Vec<u64> {
        h.give.into_iter().map(|(o, _)| o).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn records_are_handed_out_once_come_back_after_the_timeout_and_commit_in_order() {
        let mut g = Group::at(0);
        let vis = Duration::from_secs(5);
        let now = |_| None;
        assert_eq!(offsets(g.hand_out(5, 2, vis, 0, now)), vec![0, 1]);
        assert_eq!(offsets(g.hand_out(5, 10, vis, 0, now)), vec![2, 3, 4]);
        assert!(
            g.hand_out(5, 10, vis, 0, now).give.is_empty(),
            "nothing new, nothing due"
        );
        // 1 and 2 acknowledged, 0 not: nothing committed yet.
        assert!(!g.ack(&[1, 2]));
        assert_eq!(g.committed(), 0);
        tokio::time::advance(Duration::from_secs(6)).await;
        // 0, 3 and 4 come back, handed out a second time.
        assert_eq!(
            g.hand_out(5, 10, vis, 0, now).give,
            vec![(0, 2), (3, 2), (4, 2)]
        );
        assert!(g.ack(&[0]));
        assert_eq!(g.committed(), 3);
        assert!(g.ack(&[3, 4, 99]));
        assert_eq!(g.committed(), 5);
        assert_eq!(g.next_due(), None);
        let mut h = Group::at(2);
        assert_eq!(offsets(h.hand_out(4, 10, vis, 0, now)), vec![2, 3]);
        h.advance(3);
        assert_eq!(h.committed(), 3);
        assert!(h.ack(&[3]));
        assert_eq!(h.committed(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_given_back_comes_after_its_delay_and_one_that_keeps_failing_is_given_up() {
        let mut g = Group::at(0);
        let vis = Duration::from_secs(60);
        let now = |_| None;
        assert_eq!(g.hand_out(2, 10, vis, 3, now).give, vec![(0, 1), (1, 1)]);
        // Given back with a delay: not before it.
        assert!(g.nack(&[0], Duration::from_secs(2), 3).is_empty());
        assert!(g.hand_out(2, 10, vis, 3, now).give.is_empty());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(g.hand_out(2, 10, vis, 3, now).give, vec![(0, 2)]);
        assert!(g.nack(&[0], Duration::ZERO, 3).is_empty());
        assert_eq!(g.hand_out(2, 10, vis, 3, now).give, vec![(0, 3)]);
        // The third delivery failed too: given up (to the dead letters), not handed out.
        assert_eq!(g.nack(&[0], Duration::ZERO, 3), vec![0]);
        tokio::time::advance(DEAD_LETTER_RETRY).await;
        let h = g.hand_out(2, 10, vis, 3, now);
        assert_eq!(
            (h.give, h.dead),
            (vec![], vec![0]),
            "given up again if it is still out"
        );
        // Moved to the dead letters, then acknowledged: the group goes on past it.
        assert!(g.ack(&[0]));
        assert_eq!(g.committed(), 1, "1 is still out");
        assert!(g.ack(&[1]));
        assert_eq!(g.committed(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_put_with_a_delay_is_held_back_until_its_time_and_the_others_go_on() {
        let mut g = Group::at(0);
        let vis = Duration::from_secs(60);
        let at = Instant::now() + Duration::from_secs(10);
        let delayed = move |o: u64| (o == 1).then_some(at);
        assert_eq!(offsets(g.hand_out(3, 10, vis, 0, delayed)), vec![0, 2]);
        assert!(g.ack(&[0, 2]));
        assert_eq!(g.committed(), 1, "held back: not committed past it");
        assert_eq!(g.next_due(), Some(at));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            g.hand_out(3, 10, vis, 0, delayed).give,
            vec![(1, 1)],
            "its first delivery"
        );
        assert!(g.ack(&[1]));
        assert_eq!(g.committed(), 3);
    }
}
