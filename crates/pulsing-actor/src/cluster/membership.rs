//! SWIM membership state: who is in the cluster and how alive they are. Pure logic, driven
//! by the node runtime, so the rules can be tested without sockets.
//!
//! Claims are checked before they count, because any peer can send any claim:
//! - `Left` outranks everything (final); other claims rank by incarnation, then
//!   alive < suspect < dead: a total order, so the same claims in any order end in the
//!   same state (a property test holds it to that);
//! - only a member raises its own incarnation, one past a claim it refutes; a third party
//!   relaying a claim may not raise a known incarnation by more than
//!   [`MAX_INCARNATION_STEP`] (a forged `Dead` at `u64::MAX` would otherwise be final);
//!   the member itself may;
//! - `Left` is only accepted from the member itself;
//! - incarnations saturate at `u64::MAX`: they never wrap;
//! - a member is *proven* once this node dialed its address and found it there under its
//!   id: names of members that are not proven are not resolved.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::seq::IteratorRandom;

use super::gossip::{Liveness, MemberState, Update};
use crate::id::NodeId;

/// Name updates queued for piggybacking at most (the rest travel by anti-entropy).
const MAX_QUEUED_NAMES: usize = 256;

/// Members one table holds at most (claims about more are refused).
const MAX_TABLE: usize = 65_536;

/// How far a relayed claim may raise an incarnation past the one we know.
pub const MAX_INCARNATION_STEP: u64 = 1024;

/// What applying a claim changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing new.
    None,
    /// The claim breaks the rules (see the module docs); it was ignored.
    Refused(&'static str),
    /// A member's state changed (to be disseminated further).
    Updated(MemberState),
    /// Someone claimed this node is suspect or dead: it refuted with a higher incarnation.
    Refuted(MemberState),
}

struct Entry {
    state: MemberState,
    since: Instant,
    proven: bool,
}

/// The member table of one node, itself included.
pub struct Membership {
    me: MemberState,
    others: HashMap<NodeId, Entry>,
    /// Updates waiting to be piggybacked, with how many more times to send each.
    outbox: Vec<(Update, u32)>,
}

/// How claims about the same member rank: `Left` above all (final, and only the member
/// says it); then a higher incarnation wins; at the same one, alive < suspect < dead.
fn rank(s: &MemberState) -> (bool, u64, u8) {
    let l = match s.liveness {
        Liveness::Alive => 0,
        Liveness::Suspect => 1,
        Liveness::Dead => 2,
        Liveness::Left => 3,
    };
    (s.liveness == Liveness::Left, s.incarnation, l)
}

/// Whether claim `new` overrides what we believe, `old` (SWIM ordering). The order is a
/// total one, so the same claims applied in any order end in the same state.
fn overrides(new: &MemberState, old: &MemberState) -> bool {
    // Nothing but `Left` outranks `Left`: a node that left comes back (if ever) with a new id.
    rank(new) > rank(old)
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

    /// Apply a claim about a member; `from` is the node that sent it, when known.
    pub fn apply(&mut self, claim: MemberState, from: Option<NodeId>, now: Instant) -> Change {
        if claim.node == self.me.node {
            if claim.liveness == Liveness::Alive || claim.incarnation < self.me.incarnation {
                return Change::None; // nothing to refute, or stale
            }
            if claim.incarnation > self.me.incarnation.saturating_add(MAX_INCARNATION_STEP) {
                return Change::Refused("a claim about an incarnation of ours that never was");
            }
            if claim.incarnation == u64::MAX {
                return Change::None; // nothing higher to refute with
            }
            // Refute: one past whatever was claimed.
            self.me.incarnation = claim.incarnation + 1;
            let me = self.me.clone();
            self.enqueue(Update::Member(me.clone()));
            return Change::Refuted(me);
        }
        let from_itself = from == Some(claim.node);
        if claim.liveness == Liveness::Left && !from_itself {
            // Only the member itself says it left; third parties list what they believe in
            // their syncs, which is no reason to warn.
            return Change::None;
        }
        let proven = match self.others.get(&claim.node) {
            None if self.others.len() >= MAX_TABLE => {
                return Change::Refused("the member table is full");
            }
            None => false,
            Some(e) => {
                let old = &e.state;
                if !from_itself
                    && claim.incarnation > old.incarnation.saturating_add(MAX_INCARNATION_STEP)
                {
                    return Change::Refused("an incarnation jump no refutation makes");
                }
                // An address is only changed by a new incarnation.
                let same_addr = claim.addr == old.addr;
                if !overrides(&claim, old) || (!same_addr && claim.incarnation <= old.incarnation) {
                    return Change::None;
                }
                e.proven && same_addr
            }
        };
        self.others.insert(
            claim.node,
            Entry {
                state: claim.clone(),
                since: now,
                proven,
            },
        );
        // `Left` counts only from the member itself, which told everyone it knew: relaying
        // it would only be refused.
        if claim.liveness != Liveness::Left {
            self.enqueue(Update::Member(claim.clone()));
        }
        Change::Updated(claim)
    }

    /// This node dialed `node`'s address and found it there: its names can be resolved.
    pub fn prove(&mut self, node: NodeId, addr: &str) -> bool {
        match self.others.get_mut(&node) {
            Some(e) if e.state.addr == addr && !e.proven => {
                e.proven = true;
                true
            }
            _ => false,
        }
    }

    /// Whether `node` is this node or a member this node found at its address.
    pub fn is_proven(&self, node: NodeId) -> bool {
        node == self.me.node || self.others.get(&node).is_some_and(|e| e.proven)
    }

    /// Alive or suspect members not proven yet.
    pub fn unproven(&self) -> Vec<MemberState> {
        self.others
            .values()
            .filter(|e| {
                !e.proven && matches!(e.state.liveness, Liveness::Alive | Liveness::Suspect)
            })
            .map(|e| e.state.clone())
            .collect()
    }

    /// Mark `node` suspect (a failed probe round). Returns the change, if any.
    pub fn suspect(&mut self, node: NodeId, now: Instant) -> Change {
        match self.others.get(&node) {
            Some(e) if e.state.liveness == Liveness::Alive => {
                let mut s = e.state.clone();
                s.liveness = Liveness::Suspect;
                self.apply(s, None, now)
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
            self.apply(d.clone(), None, now);
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
        // Names past a bound wait for anti-entropy (digests and chunked deltas): the outbox
        // stays small and every ping stays cheap, however many names change at once.
        if matches!(u, Update::Name(_))
            && self
                .outbox
                .iter()
                .filter(|(o, _)| matches!(o, Update::Name(_)))
                .count()
                >= MAX_QUEUED_NAMES
        {
            return;
        }
        // Retransmit about λ·log(n) times, as SWIM suggests.
        let n = self.others.len() + 1;
        let times = 3 * (usize::BITS - n.leading_zeros()).max(1);
        self.outbox.push((u, times));
    }

    /// Updates waiting to be piggybacked.
    pub fn queued(&self) -> usize {
        self.outbox.len()
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
        let up = |c: Change| matches!(c, Change::Updated(_));
        assert!(up(m.apply(st(2, Liveness::Alive, 0), None, now)));
        // Suspect at the same incarnation overrides alive; alive needs a higher incarnation.
        assert!(up(m.apply(st(2, Liveness::Suspect, 0), None, now)));
        assert_eq!(m.apply(st(2, Liveness::Alive, 0), None, now), Change::None);
        assert!(up(m.apply(st(2, Liveness::Alive, 1), None, now)));
        assert!(up(m.apply(st(2, Liveness::Dead, 1), None, now)));
        // Dead yields to a higher incarnation only (a refutation).
        assert_eq!(m.apply(st(2, Liveness::Alive, 1), None, now), Change::None);
        assert!(up(m.apply(st(2, Liveness::Alive, 2), None, now)));
        // A stale death claim (older incarnation) does not kill it again.
        assert_eq!(m.apply(st(2, Liveness::Dead, 1), None, now), Change::None);
        // Left (from the member itself) is final.
        assert!(up(m.apply(st(2, Liveness::Left, 2), Some(NodeId(2)), now)));
        assert_eq!(m.apply(st(2, Liveness::Alive, 9), None, now), Change::None);
    }

    #[test]
    fn a_node_refutes_suspicion_about_itself() {
        let now = Instant::now();
        let mut m = Membership::new(NodeId(1), "me".into());
        match m.apply(st(1, Liveness::Suspect, 0), None, now) {
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
    fn forged_claims_are_refused() {
        let now = Instant::now();
        let mut m = Membership::new(NodeId(1), "me".into());
        m.apply(st(2, Liveness::Alive, 3), None, now);
        // Death at an incarnation never seen (u64::MAX would be final): refused.
        assert!(matches!(
            m.apply(st(2, Liveness::Dead, u64::MAX), None, now),
            Change::Refused(_)
        ));
        // Left from a third party: ignored; from the node itself: accepted.
        assert_eq!(
            m.apply(st(2, Liveness::Left, 3), Some(NodeId(9)), now),
            Change::None
        );
        assert_eq!(m.get(NodeId(2)).unwrap().liveness, Liveness::Alive);
        // A relayed refutation may not leap.
        assert!(matches!(
            m.apply(st(2, Liveness::Alive, 1 << 40), None, now),
            Change::Refused(_)
        ));
        // About this node: a claim far beyond our incarnation is a lie, not a reason to jump;
        // one within reach is refuted one past it.
        assert!(matches!(
            m.apply(st(1, Liveness::Dead, u64::MAX), None, now),
            Change::Refused(_)
        ));
        assert_eq!(m.me().incarnation, 0);
        assert!(matches!(
            m.apply(st(1, Liveness::Dead, 77), None, now),
            Change::Refuted(_)
        ));
        assert_eq!(m.me().incarnation, 78);
        // Proof: only at the address the member is known by.
        assert!(!m.is_proven(NodeId(2)));
        assert!(!m.prove(NodeId(2), "elsewhere"));
        assert!(m.prove(NodeId(2), "127.0.0.1:2"));
        assert!(m.is_proven(NodeId(2)));
    }

    #[test]
    fn suspects_expire_into_dead() {
        let t0 = Instant::now();
        let mut m = Membership::new(NodeId(1), "me".into());
        m.apply(st(2, Liveness::Alive, 0), None, t0);
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
        m.apply(st(2, Liveness::Alive, 0), None, Instant::now());
        let mut sent = 0;
        while !m.piggyback(10).is_empty() {
            sent += 1;
            assert!(sent < 100);
        }
        assert!(sent >= 3);
    }
}

#[cfg(test)]
mod convergence {
    //! Property: the same claims, applied in any order, leave every table in the same state.
    use super::*;
    use proptest::prelude::*;

    /// Claims as a legitimate cluster produces them: per member, incarnations that grow by
    /// refutation, failure claims about incarnations that exist, `Left` from the member.
    fn claims() -> impl Strategy<Value = Vec<(MemberState, Option<NodeId>)>> {
        let one = (2u64..6, 0u64..20, 0u8..4, any::<bool>()).prop_map(|(n, inc, l, own)| {
            let liveness = match l {
                0 => Liveness::Alive,
                1 => Liveness::Suspect,
                2 => Liveness::Dead,
                _ => Liveness::Left,
            };
            let from = (own || liveness == Liveness::Left).then_some(NodeId(n));
            let s = MemberState {
                node: NodeId(n),
                addr: format!("127.0.0.1:{n}"),
                liveness,
                incarnation: inc,
            };
            (s, from)
        });
        proptest::collection::vec(one, 1..40)
    }

    fn state(m: &Membership) -> Vec<(u64, Liveness, u64)> {
        let mut v: Vec<_> = m
            .all()
            .into_iter()
            .map(|s| (s.node.0, s.liveness, s.incarnation))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    proptest! {
        #[test]
        fn any_order_of_the_same_claims_converges(cs in claims(), seed in any::<u64>()) {
            let now = Instant::now();
            let mut a = Membership::new(NodeId(1), "me".into());
            for (c, from) in &cs {
                a.apply(c.clone(), *from, now);
            }
            // The same claims shuffled (a deterministic shuffle from the seed).
            let mut shuffled = cs.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut b = Membership::new(NodeId(1), "me".into());
            for (c, from) in &shuffled {
                b.apply(c.clone(), *from, now);
            }
            prop_assert_eq!(state(&a), state(&b));
        }
    }
}
