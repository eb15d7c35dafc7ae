//! SWIM membership state: who is in the cluster and how alive they are. Pure logic, driven
//! by the node runtime, so the rules can be tested without sockets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::seq::IteratorRandom;

use super::gossip::{Liveness, MemberState, Update};
use crate::actor::NodeId;

/// What applying a claim changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing new.
    None,
    /// A member's state changed (to be disseminated further).
    Updated(MemberState),
    /// Someone claimed this node is suspect or dead: it refuted with a higher incarnation.
    Refuted(MemberState),
}

struct Entry {
    state: MemberState,
    since: Instant,
}

/// The member table of one node, itself included.
pub struct Membership {
    me: MemberState,
    others: HashMap<NodeId, Entry>,
    /// Updates waiting to be piggybacked, with how many more times to send each.
    outbox: Vec<(Update, u32)>,
}

/// Whether claim `new` overrides what we believe, `old` (SWIM ordering).
fn overrides(new: &MemberState, old: &MemberState) -> bool {
    if old.liveness == Liveness::Left {
        return false; // final: a node that left comes back (if ever) with a new node id
    }
    if old.liveness == Liveness::Dead {
        // A node wrongly declared dead (a partition that healed) refutes with a higher
        // incarnation; anything else about it is stale.
        return new.liveness == Liveness::Alive && new.incarnation > old.incarnation;
    }
    match new.liveness {
        Liveness::Alive => new.incarnation > old.incarnation,
        Liveness::Suspect => {
            new.incarnation > old.incarnation
                || (new.incarnation == old.incarnation && old.liveness == Liveness::Alive)
        }
        // A death claim must be about the current incarnation: a stale one (from before a
        // refutation) must not kill a member that came back.
        Liveness::Dead | Liveness::Left => new.incarnation >= old.incarnation,
    }
}

impl Membership {
    /// A table holding only this node.
    pub fn new(node: NodeId, addr: String) -> Self {
        Self {
            me: MemberState {
                node,
                addr,
                liveness: Liveness::Alive,
                incarnation: 0,
            },
            others: HashMap::new(),
            outbox: Vec::new(),
        }
    }

    /// This node's own state.
    pub fn me(&self) -> &MemberState {
        &self.me
    }

    /// Apply a claim about a member.
    pub fn apply(&mut self, claim: MemberState, now: Instant) -> Change {
        if claim.node == self.me.node {
            if claim.liveness != Liveness::Alive && claim.incarnation >= self.me.incarnation {
                self.me.incarnation = claim.incarnation + 1;
                let me = self.me.clone();
                self.enqueue(Update::Member(me.clone()));
                return Change::Refuted(me);
            }
            return Change::None;
        }
        let changed = match self.others.get(&claim.node) {
            None => true,
            Some(e) => overrides(&claim, &e.state),
        };
        if !changed {
            return Change::None;
        }
        self.others.insert(
            claim.node,
            Entry {
                state: claim.clone(),
                since: now,
            },
        );
        self.enqueue(Update::Member(claim.clone()));
        Change::Updated(claim)
    }

    /// Mark `node` suspect (a failed probe round). Returns the change, if any.
    pub fn suspect(&mut self, node: NodeId, now: Instant) -> Change {
        match self.others.get(&node) {
            Some(e) if e.state.liveness == Liveness::Alive => {
                let mut s = e.state.clone();
                s.liveness = Liveness::Suspect;
                self.apply(s, now)
            }
            _ => Change::None,
        }
    }

    /// Suspects whose suspicion outlived `timeout` become dead; returns them.
    pub fn expire_suspects(&mut self, timeout: Duration, now: Instant) -> Vec<MemberState> {
        let expired: Vec<MemberState> = self
            .others
            .values()
            .filter(|e| {
                e.state.liveness == Liveness::Suspect && now.duration_since(e.since) >= timeout
            })
            .map(|e| MemberState {
                liveness: Liveness::Dead,
                ..e.state.clone()
            })
            .collect();
        for d in &expired {
            self.apply(d.clone(), now);
        }
        expired
    }

    /// This node is leaving: the update to tell everyone.
    pub fn leave(&mut self) -> MemberState {
        self.me.liveness = Liveness::Left;
        self.me.clone()
    }

    /// A random member worth probing (alive or suspect).
    pub fn probe_target(&self) -> Option<MemberState> {
        self.others
            .values()
            .filter(|e| matches!(e.state.liveness, Liveness::Alive | Liveness::Suspect))
            .choose(&mut rand::rng())
            .map(|e| e.state.clone())
    }

    /// A random member believed dead (not one that left): gossiping to it now and then lets
    /// the two sides of a healed partition find each other again.
    pub fn dead_member(&self) -> Option<MemberState> {
        self.others
            .values()
            .filter(|e| e.state.liveness == Liveness::Dead)
            .choose(&mut rand::rng())
            .map(|e| e.state.clone())
    }

    /// Up to `k` alive members other than `except`, to ask for indirect probes.
    pub fn helpers(&self, except: NodeId, k: usize) -> Vec<MemberState> {
        self.others
            .values()
            .filter(|e| e.state.node != except && e.state.liveness == Liveness::Alive)
            .map(|e| e.state.clone())
            .choose_multiple(&mut rand::rng(), k)
    }

    /// The state of `node`, if known.
    pub fn get(&self, node: NodeId) -> Option<&MemberState> {
        if node == self.me.node {
            return Some(&self.me);
        }
        self.others.get(&node).map(|e| &e.state)
    }

    /// Every member including this node (dead and left ones included).
    pub fn all(&self) -> Vec<MemberState> {
        std::iter::once(self.me.clone())
            .chain(self.others.values().map(|e| e.state.clone()))
            .collect()
    }

    /// Number of members not known to be gone, this node included.
    pub fn live_count(&self) -> usize {
        1 + self
            .others
            .values()
            .filter(|e| matches!(e.state.liveness, Liveness::Alive | Liveness::Suspect))
            .count()
    }

    /// Queue an update for dissemination, replacing an older one about the same subject.
    pub fn enqueue(&mut self, u: Update) {
        let same_subject = |a: &Update, b: &Update| match (a, b) {
            (Update::Member(x), Update::Member(y)) => x.node == y.node,
            (Update::Name(x), Update::Name(y)) => x.node == y.node && x.name == y.name,
            _ => false,
        };
        self.outbox.retain(|(o, _)| !same_subject(o, &u));
        // Retransmit about λ·log(n) times, as SWIM suggests.
        let n = self.others.len() + 1;
        let times = 3 * (usize::BITS - n.leading_zeros()).max(1);
        self.outbox.push((u, times));
    }

    /// Take up to `max` updates to piggyback on an outgoing message.
    pub fn piggyback(&mut self, max: usize) -> Vec<Update> {
        let mut out = Vec::new();
        for (u, left) in self.outbox.iter_mut().take(max) {
            out.push(u.clone());
            *left -= 1;
        }
        self.outbox.retain(|(_, left)| *left > 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(n: u64, l: Liveness, inc: u64) -> MemberState {
        MemberState {
            node: NodeId(n),
            addr: format!("127.0.0.1:{n}"),
            liveness: l,
            incarnation: inc,
        }
    }

    #[test]
    fn swim_precedence_rules() {
        let now = Instant::now();
        let mut m = Membership::new(NodeId(1), "me".into());
        assert!(matches!(
            m.apply(st(2, Liveness::Alive, 0), now),
            Change::Updated(_)
        ));
        // Suspect at the same incarnation overrides alive; alive needs a higher incarnation.
        assert!(matches!(
            m.apply(st(2, Liveness::Suspect, 0), now),
            Change::Updated(_)
        ));
        assert_eq!(m.apply(st(2, Liveness::Alive, 0), now), Change::None);
        assert!(matches!(
            m.apply(st(2, Liveness::Alive, 1), now),
            Change::Updated(_)
        ));
        assert!(matches!(
            m.apply(st(2, Liveness::Dead, 1), now),
            Change::Updated(_)
        ));
        // Dead yields only to a refutation: alive with a higher incarnation.
        assert_eq!(m.apply(st(2, Liveness::Alive, 1), now), Change::None);
        assert_eq!(m.apply(st(2, Liveness::Suspect, 5), now), Change::None);
        assert!(matches!(
            m.apply(st(2, Liveness::Alive, 2), now),
            Change::Updated(_)
        ));
        // A stale death claim (older incarnation) does not kill it again.
        assert_eq!(m.apply(st(2, Liveness::Dead, 1), now), Change::None);
        // Left is final.
        assert!(matches!(
            m.apply(st(2, Liveness::Left, 2), now),
            Change::Updated(_)
        ));
        assert_eq!(m.apply(st(2, Liveness::Alive, 9), now), Change::None);
    }

    #[test]
    fn a_node_refutes_suspicion_about_itself() {
        let now = Instant::now();
        let mut m = Membership::new(NodeId(1), "me".into());
        match m.apply(st(1, Liveness::Suspect, 0), now) {
            Change::Refuted(me) => {
                assert_eq!(me.incarnation, 1);
                assert_eq!(me.liveness, Liveness::Alive);
            }
            other => panic!("expected a refutation, got {other:?}"),
        }
        assert!(m
            .piggyback(10)
            .iter()
            .any(|u| matches!(u, Update::Member(s) if s.node == NodeId(1) && s.incarnation == 1)));
    }

    #[test]
    fn suspects_expire_into_dead() {
        let t0 = Instant::now();
        let mut m = Membership::new(NodeId(1), "me".into());
        m.apply(st(2, Liveness::Alive, 0), t0);
        m.suspect(NodeId(2), t0);
        assert!(m.expire_suspects(Duration::from_secs(1), t0).is_empty());
        let dead = m.expire_suspects(Duration::from_secs(1), t0 + Duration::from_secs(2));
        assert_eq!(dead.len(), 1);
        assert_eq!(m.get(NodeId(2)).unwrap().liveness, Liveness::Dead);
        assert_eq!(m.live_count(), 1);
    }

    #[test]
    fn updates_are_retransmitted_a_bounded_number_of_times() {
        let mut m = Membership::new(NodeId(1), "me".into());
        m.apply(st(2, Liveness::Alive, 0), Instant::now());
        let mut sent = 0;
        while !m.piggyback(10).is_empty() {
            sent += 1;
            assert!(sent < 100);
        }
        assert!(sent >= 3);
    }
}
