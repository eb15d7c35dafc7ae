//! Frames and bytes a node's connections carried, per lane (control, bulk) and direction:
//! relaxed atomic additions on the connection tasks, read only when scraped.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one node.
#[derive(Debug, Default)]
pub struct Traffic {
    /// `[lane][direction][frames, bytes]`, lane 0 control / 1 bulk, direction 0 in / 1 out.
    c: [[[AtomicU64; 2]; 2]; 2],
}

/// What one lane carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneTraffic {
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes received (frame bodies and attachments).
    pub bytes_in: u64,
    /// Bytes sent (frame bodies and attachments).
    pub bytes_out: u64,
}

impl Traffic {
    /// Count one frame of `bytes` on the bulk lane or not, sent or received.
    pub fn add(&self, bulk: bool, out: bool, bytes: usize) {
        let d = &self.c[bulk as usize][out as usize];
        d[0].fetch_add(1, Ordering::Relaxed);
        d[1].fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The control lane's and the bulk lane's counts.
    pub fn snapshot(&self) -> (LaneTraffic, LaneTraffic) {
        let lane = |l: usize| LaneTraffic {
            frames_in: self.c[l][0][0].load(Ordering::Relaxed),
            bytes_in: self.c[l][0][1].load(Ordering::Relaxed),
            frames_out: self.c[l][1][0].load(Ordering::Relaxed),
            bytes_out: self.c[l][1][1].load(Ordering::Relaxed),
        };
        (lane(0), lane(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_bytes_are_counted_per_lane_and_direction() {
        let t = Traffic::default();
        t.add(false, true, 10);
        t.add(false, true, 5);
        t.add(true, false, 100);
        let (control, bulk) = t.snapshot();
        assert_eq!(
            (control.frames_out, control.bytes_out, control.frames_in),
            (2, 15, 0)
        );
        assert_eq!((bulk.frames_in, bulk.bytes_in), (1, 100));
    }
}
