//! Fault injection for tests: cut, slow down or thin out the traffic between this node and
//! given others. Each node applies its own plan to what it sends and receives, so a
//! partition is made by telling the nodes on both sides (in one process or in several).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use crate::id::NodeId;

#[derive(Default)]
struct Plan {
    partitioned: HashSet<NodeId>,
    delay: HashMap<NodeId, Duration>,
    drop_rate: HashMap<NodeId, f64>,
}

/// What to do with one frame to or from a peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Deliver it.
    Pass,
    /// Drop it.
    Drop,
    /// Deliver it after this long.
    Delay(Duration),
}

/// The fault plan of one node. Empty (no faults) by default.
#[derive(Default)]
pub struct Faults(Mutex<Plan>);

impl Faults {
    /// Drop all traffic with these nodes, both ways.
    pub fn partition(&self, nodes: impl IntoIterator<Item = NodeId>) {
        self.0.lock().partitioned.extend(nodes);
    }

    /// Delay every frame sent to `node` by `by`.
    pub fn delay(&self, node: NodeId, by: Duration) {
        self.0.lock().delay.insert(node, by);
    }

    /// Drop each frame sent to `node` with probability `rate` (0..=1).
    pub fn drop_rate(&self, node: NodeId, rate: f64) {
        self.0.lock().drop_rate.insert(node, rate.clamp(0.0, 1.0));
    }

    /// Remove every fault.
    pub fn heal(&self) {
        *self.0.lock() = Plan::default();
    }

    /// Whether no fault is injected (every frame passes).
    pub fn is_clear(&self) -> bool {
        let p = self.0.lock();
        p.partitioned.is_empty() && p.delay.is_empty() && p.drop_rate.is_empty()
    }

    /// The verdict for a frame sent to `node`.
    pub fn outgoing(&self, node: NodeId) -> Verdict {
        let p = self.0.lock();
        if p.partitioned.is_empty() && p.delay.is_empty() && p.drop_rate.is_empty() {
            return Verdict::Pass;
        }
        if p.partitioned.contains(&node) {
            return Verdict::Drop;
        }
        if let Some(rate) = p.drop_rate.get(&node) {
            if rand::rng().random_bool(*rate) {
                return Verdict::Drop;
            }
        }
        match p.delay.get(&node) {
            Some(d) => Verdict::Delay(*d),
            None => Verdict::Pass,
        }
    }

    /// Whether a frame received from `node` must be dropped.
    pub fn drop_incoming(&self, node: Option<NodeId>) -> bool {
        match node {
            Some(n) => self.0.lock().partitioned.contains(&n),
            None => false,
        }
    }
}
