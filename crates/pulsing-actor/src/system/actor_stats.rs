//! The figures of this node's named actors (see [`crate::stats`]).

use super::ActorSystem;
use crate::stats::{ActorStats, MAX_ACTOR_SERIES};

impl ActorSystem {
    /// The figures of the named actors on this node (Rust and JS), by name: all of them, or
    /// the [`MAX_ACTOR_SERIES`] that handled the most messages. Actors that never handled a
    /// message, have nothing waiting and never restarted are left out (nothing to show).
    pub fn actor_stats(&self) -> Vec<ActorStats> {
        let mut all: Vec<ActorStats> = self.inner.foreign_stats.lock().values().cloned().collect();
        for (local, c) in self.inner.cells.lock().iter() {
            if let Some((name, counters)) = &c.counted {
                let depth = c.sender.max_capacity() - c.sender.capacity();
                all.push(counters.snapshot(name, *local, depth as u64));
            }
        }
        all.retain(|s| s.handled > 0 || s.mailbox_depth > 0 || s.restarts > 0);
        if all.len() > MAX_ACTOR_SERIES {
            all.sort_unstable_by_key(|s| std::cmp::Reverse(s.handled));
            all.truncate(MAX_ACTOR_SERIES);
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
