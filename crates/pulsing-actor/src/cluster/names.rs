//! The cluster-wide book of names: every node's registrations (this node's own included),
//! merged by version, indexed by name (to resolve) and by node and version (to answer
//! "what is newer than v" for anti-entropy), with the digest that says how far each node's
//! names are held completely.

use std::collections::{BTreeMap, HashMap};

use super::gossip::NameEntry;
use crate::id::NodeId;

/// Every known registration of the cluster.
#[derive(Default)]
pub struct NameBook {
    by_name: HashMap<String, BTreeMap<NodeId, NameEntry>>,
    /// Per node, its entries by version (the name each version belongs to).
    by_node: HashMap<NodeId, BTreeMap<u64, String>>,
    /// Per node, the newest version up to which every entry of that node is held.
    complete: HashMap<NodeId, u64>,
}

impl NameBook {
    /// Merge an entry; the highest version per (name, node) wins. Returns whether it changed.
    /// An entry right after what is held completely extends it (updates arrive in order
    /// over one connection, so a stream of them keeps the digest current).
    pub fn merge(&mut self, e: NameEntry) -> bool {
        let per_node = self.by_name.entry(e.name.clone()).or_default();
        if per_node
            .get(&e.node)
            .is_some_and(|old| old.version >= e.version)
        {
            return false;
        }
        let versions = self.by_node.entry(e.node).or_default();
        if let Some(old) = per_node.get(&e.node) {
            versions.remove(&old.version);
        }
        versions.insert(e.version, e.name.clone());
        let done = self.complete.entry(e.node).or_insert(0);
        if e.version == *done + 1 {
            *done = e.version;
            while versions.contains_key(&(*done + 1)) {
                *done += 1;
            }
        }
        per_node.insert(e.node, e);
        true
    }

    /// Everything of `node` up to `version` is now held.
    pub fn mark_complete(&mut self, node: NodeId, version: u64) {
        let done = self.complete.entry(node).or_insert(0);
        *done = (*done).max(version);
    }

    /// Up to which version `node`'s names are held completely (0: none).
    pub fn complete_up_to(&self, node: NodeId) -> u64 {
        self.complete.get(&node).copied().unwrap_or(0)
    }

    /// One entry per node: how far its names are held.
    pub fn digest(&self) -> Vec<(NodeId, u64)> {
        let mut d: Vec<(NodeId, u64)> = self.complete.iter().map(|(n, v)| (*n, *v)).collect();
        d.sort();
        d
    }

    /// Entries of `node` newer than `version`, oldest first.
    pub fn since(&self, node: NodeId, version: u64) -> Vec<NameEntry> {
        let Some(versions) = self.by_node.get(&node) else {
            return Vec::new();
        };
        versions
            .range(version + 1..)
            .filter_map(|(_, name)| self.by_name.get(name)?.get(&node).cloned())
            .collect()
    }

    /// Forget every entry of a node that left or died.
    pub fn remove_node(&mut self, node: NodeId) {
        if let Some(versions) = self.by_node.remove(&node) {
            for name in versions.into_values() {
                if let Some(per_node) = self.by_name.get_mut(&name) {
                    per_node.remove(&node);
                    if per_node.is_empty() {
                        self.by_name.remove(&name);
                    }
                }
            }
        }
        self.complete.remove(&node);
    }

    /// Live instances of `name`, by node id.
    pub fn instances(&self, name: &str) -> Vec<NameEntry> {
        self.by_name
            .get(name)
            .map(|m| m.values().filter(|e| !e.tombstone).cloned().collect())
            .unwrap_or_default()
    }

    /// Every live entry.
    pub fn live(&self) -> Vec<NameEntry> {
        self.by_name
            .values()
            .flat_map(|m| m.values())
            .filter(|e| !e.tombstone)
            .cloned()
            .collect()
    }

    /// Entries held, tombstones included.
    pub fn len(&self) -> usize {
        self.by_node.values().map(BTreeMap::len).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn e(name: &str, node: u64, version: u64, tombstone: bool) -> NameEntry {
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
        let mut x = NameBook::default();
        let mut y = NameBook::default();
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

    #[test]
    fn digest_follows_contiguous_updates_and_deltas_answer_what_is_missing() {
        let mut b = NameBook::default();
        b.merge(e("a", 2, 1, false));
        b.merge(e("b", 2, 2, false));
        b.merge(e("c", 2, 4, false)); // 3 is missing: the digest stays at 2
        assert_eq!(b.digest(), vec![(NodeId(2), 2)]);
        b.merge(e("d", 2, 3, false)); // the gap closes: 4 was held already
        assert_eq!(b.digest(), vec![(NodeId(2), 4)]);
        b.merge(e("a", 2, 5, true)); // supersedes version 1
        let names: Vec<String> = b.since(NodeId(2), 1).into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["b", "d", "c", "a"]);
        assert_eq!(b.complete_up_to(NodeId(2)), 5);
        assert_eq!(b.len(), 4);
    }
}
