//! The cluster-wide view of names: every node's registrations, merged by version.

use std::collections::HashMap;

use super::gossip::NameEntry;
use crate::actor::NodeId;

/// Names registered on other nodes (this node's own live in the system registry).
#[derive(Default)]
pub struct ClusterNames {
    entries: HashMap<(String, NodeId), NameEntry>,
}

impl ClusterNames {
    /// Merge an entry; the highest version per (name, node) wins. Returns whether it changed.
    pub fn merge(&mut self, e: NameEntry) -> bool {
        let key = (e.name.clone(), e.node);
        match self.entries.get(&key) {
            Some(old) if old.version >= e.version => false,
            _ => {
                self.entries.insert(key, e);
                true
            }
        }
    }

    /// Forget every entry of a node that left or died.
    pub fn remove_node(&mut self, node: NodeId) {
        self.entries.retain(|(_, n), _| *n != node);
    }

    /// Live instances of `name` on other nodes.
    pub fn instances(&self, name: &str) -> Vec<NameEntry> {
        let mut v: Vec<NameEntry> = self
            .entries
            .values()
            .filter(|e| e.name == name && !e.tombstone)
            .cloned()
            .collect();
        v.sort_by_key(|e| e.node);
        v
    }

    /// Every entry, tombstones included (for push-pull).
    pub fn all(&self) -> Vec<NameEntry> {
        self.entries.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, node: u64, version: u64, tombstone: bool) -> NameEntry {
        NameEntry {
            name: name.into(),
            node: NodeId(node),
            local: 1,
            metadata: vec![],
            version,
            tombstone,
        }
    }

    #[test]
    fn versions_and_tombstones_merge_the_same_in_any_order() {
        let updates = [e("a", 2, 1, false), e("a", 2, 2, true), e("a", 3, 1, false)];
        let mut x = ClusterNames::default();
        let mut y = ClusterNames::default();
        for u in updates.iter() {
            x.merge(u.clone());
        }
        for u in updates.iter().rev() {
            y.merge(u.clone());
        }
        assert_eq!(x.instances("a"), y.instances("a"));
        assert_eq!(x.instances("a").len(), 1, "node 2 dropped it");
        assert!(
            !x.merge(e("a", 2, 1, false)),
            "an old entry cannot resurrect a name"
        );
        x.remove_node(NodeId(3));
        assert!(x.instances("a").is_empty());
    }
}
