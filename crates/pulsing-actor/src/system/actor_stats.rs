//! The figures of this node's named actors (see [`crate::stats`]).

use super::ActorSystem;
use crate::stats::ActorStats;

impl ActorSystem {
    /// The figures of every named actor on this node (Rust and JS), by name.
    pub fn actor_stats(&self) -> Vec<ActorStats> {
        let mut all: Vec<ActorStats> = self.inner.foreign_stats.lock().values().cloned().collect();
        for (local, c) in self.inner.cells.lock().iter() {
            if let Some((name, counters)) = &c.counted {
                let depth = c.sender.max_capacity() - c.sender.capacity();
                all.push(counters.snapshot(name, *local, depth as u64));
            }
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The binding's report of the named actors it hosts: `updated` replace what was known of
    /// them, `removed` are gone.
    pub fn report_foreign_stats(&self, updated: Vec<ActorStats>, removed: &[String]) {
        let mut m = self.inner.foreign_stats.lock();
        for name in removed {
            m.remove(name);
        }
        for s in updated {
            m.insert(s.name.clone(), s);
        }
    }
}
