//! Names across the cluster: publishing this node's, and anti-entropy for everyone's.
//!
//! Every `Sync` carries a digest (per node, the version up to which its names are held).
//! A side that sees a newer version than it holds asks the sender (`NamesWanted`) and gets
//! the entries it lacks in bounded chunks on the same connection (`Names`), the last of
//! which marks how far it now holds everything. Nothing is sent when nothing changed, so
//! steady-state traffic depends on the number of nodes, not of names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Node;
use crate::cluster::gossip::{Gossip, Liveness, NameEntry, Update, NAMES_PER_CHUNK};
use crate::cluster::names::NameBook;
use crate::id::NodeId;
use crate::naming::Registration;
use crate::transport::conn::ConnHandle;

/// Bytes of name entries per `Names` chunk (well below the gossip limit).
const CHUNK_BYTES: usize = 1024 * 1024;
/// A request for a node's names is not repeated within this while it is answered.
const WANTED_FOR: Duration = Duration::from_secs(5);
/// Nodes one `NamesWanted` may ask about.
const MAX_WANTED: usize = 4096;

/// The name state of one node.
pub(crate) struct NameSync {
    pub(super) book: Mutex<NameBook>,
    version: AtomicU64,
    /// Nodes whose names were asked for: on which connection, and when.
    wanted: Mutex<HashMap<NodeId, (u32, Instant)>>,
}

impl Default for NameSync {
    fn default() -> Self {
        NameSync {
            book: Mutex::new(NameBook::default()),
            version: AtomicU64::new(1),
            wanted: Mutex::new(HashMap::new()),
        }
    }
}

impl Node {
    /// A name on this node changed (registered, moved, metadata, or dropped): gossip it.
    pub(crate) fn publish_name(&self, name: &str, reg: Option<&Registration>) {
        let version = self.names.version.fetch_add(1, Ordering::Relaxed);
        let entry = NameEntry {
            name: name.to_string(),
            node: self.me,
            local: reg.map(|r| r.actor_id.local).unwrap_or(0),
            metadata: reg
                .map(|r| {
                    let mut v: Vec<(String, String)> = r.metadata.clone().into_iter().collect();
                    v.sort();
                    v
                })
                .unwrap_or_default(),
            version,
            tombstone: reg.is_none(),
        };
        self.names.book.lock().merge(entry.clone());
        self.swim.membership.lock().enqueue(Update::Name(entry));
    }

    pub(super) fn name_digest(&self) -> Vec<(NodeId, u64)> {
        let mut d = self.names.book.lock().digest();
        if !d.iter().any(|(n, _)| *n == self.me) {
            d.push((self.me, 0));
        }
        d
    }

    /// A peer's digest: ask it for what it holds and we lack.
    pub(super) fn compare_digest(&self, c: &Arc<ConnHandle>, digest: &[(NodeId, u64)]) {
        let now = Instant::now();
        let mut since = Vec::new();
        {
            let book = self.names.book.lock();
            let members = self.swim.membership.lock();
            let mut wanted = self.names.wanted.lock();
            for (node, version) in digest.iter().take(MAX_WANTED) {
                if *node == self.me {
                    continue;
                }
                let held = book.complete_up_to(*node);
                if *version <= held {
                    continue;
                }
                let live = members
                    .get(*node)
                    .is_some_and(|m| matches!(m.liveness, Liveness::Alive | Liveness::Suspect));
                if !live {
                    continue;
                }
                if wanted
                    .get(node)
                    .is_some_and(|(_, t)| now.duration_since(*t) < WANTED_FOR)
                {
                    continue;
                }
                wanted.insert(*node, (c.id, now));
                since.push((*node, held));
            }
        }
        if !since.is_empty() {
            self.send_gossip_on(c, &Gossip::NamesWanted { since });
        }
    }

    /// Answer `NamesWanted`: the entries newer than asked, in chunks, then the marks.
    pub(super) fn send_names(&self, c: &Arc<ConnHandle>, since: Vec<(NodeId, u64)>) {
        let mut complete = Vec::new();
        let mut entries = Vec::new();
        {
            let book = self.names.book.lock();
            for (node, version) in since.into_iter().take(MAX_WANTED) {
                entries.extend(book.since(node, version));
                complete.push((node, book.complete_up_to(node)));
            }
        }
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for e in entries {
            bytes += 48
                + e.name.len()
                + e.metadata
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 4)
                    .sum::<usize>();
            chunk.push(e);
            if chunk.len() >= NAMES_PER_CHUNK || bytes >= CHUNK_BYTES {
                self.send_gossip_on(
                    c,
                    &Gossip::Names {
                        entries: std::mem::take(&mut chunk),
                        complete: vec![],
                    },
                );
                bytes = 0;
            }
        }
        self.send_gossip_on(
            c,
            &Gossip::Names {
                entries: chunk,
                complete,
            },
        );
    }

    /// A chunk of names. Completeness marks count only from the connection we asked.
    pub(super) fn receive_names(
        &self,
        c: &Arc<ConnHandle>,
        entries: Vec<NameEntry>,
        complete: Vec<(NodeId, u64)>,
    ) {
        for e in entries {
            self.apply_name_quietly(e);
        }
        let mut book = self.names.book.lock();
        let mut wanted = self.names.wanted.lock();
        for (node, version) in complete {
            if matches!(wanted.get(&node), Some((conn, _)) if *conn == c.id) {
                wanted.remove(&node);
                book.mark_complete(node, version);
            }
        }
    }

    /// A piggybacked name update: merge it and pass it on.
    pub(super) fn apply_name(&self, e: NameEntry) {
        if let Some(e) = self.apply_name_quietly(e) {
            self.swim.membership.lock().enqueue(Update::Name(e));
        }
    }

    /// Merge an entry about another node when it is acceptable; returns it when it changed
    /// what this node knows.
    fn apply_name_quietly(&self, e: NameEntry) -> Option<NameEntry> {
        if e.node == self.me || !e.within_limits() {
            return None;
        }
        let gone = matches!(
            self.swim.membership.lock().get(e.node).map(|m| m.liveness),
            Some(Liveness::Dead | Liveness::Left)
        );
        if gone {
            return None;
        }
        self.names.book.lock().merge(e.clone()).then_some(e)
    }

    pub(super) fn forget_names_of(&self, node: NodeId) {
        self.names.book.lock().remove_node(node);
        self.names.wanted.lock().remove(&node);
    }
}
