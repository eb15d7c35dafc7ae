//! SWIM on the wire: the probe loop (direct, then indirect probes, then suspicion), the
//! push-pull loop, proving members by dialing their address, and applying what peers claim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::Node;
use crate::cluster::config::Topology;
use crate::cluster::foreign::ForeignEvent;
use crate::cluster::gossip::{Gossip, Liveness, MemberState, Update, MAX_MEMBERS};
use crate::cluster::membership::{Change, Membership};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::transport::conn::ConnHandle;

/// A probe relayed for another node: who asked, their sequence number, and since when.
type Relay = (Arc<ConnHandle>, u64, Instant);

/// Updates piggybacked on one ping or ack.
const PIGGYBACK: usize = 8;

/// SWIM state of one node.
pub(crate) struct Swim {
    pub(super) membership: Mutex<Membership>,
    next_seq: AtomicU64,
    acks: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    relays: Mutex<HashMap<u64, Relay>>,
    /// Nodes found by dialing an address: (node → address).
    found: Mutex<HashMap<NodeId, String>>,
    /// Members being proven (dialed), since when.
    proving: Mutex<HashMap<NodeId, Instant>>,
    /// Gossip body bytes sent, all kinds.
    gossip_bytes: AtomicU64,
    /// Seeds that did not answer (see `super::seeds`).
    pub(super) seeds: super::seeds::SeedWatch,
    /// A member's full list of members has reached this node (a sync).
    synced: std::sync::atomic::AtomicBool,
    /// When this node started.
    started: Instant,
}

impl Swim {
    pub(super) fn new(me: NodeId, addr: String) -> Self {
        Swim {
            membership: Mutex::new(Membership::new(me, addr)),
            next_seq: AtomicU64::new(1),
            acks: Mutex::new(HashMap::new()),
            relays: Mutex::new(HashMap::new()),
            found: Mutex::new(HashMap::new()),
            proving: Mutex::new(HashMap::new()),
            gossip_bytes: AtomicU64::new(0),
            seeds: Default::default(),
            synced: Default::default(),
            started: Instant::now(),
        }
    }

    pub(super) fn count_gossip(&self, bytes: usize) {
        self.gossip_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl Node {
    /// Whether this node knows the members the cluster knows: it is alone, or a member's
    /// full list reached it (a sync). A node that has just joined may know of a member or
    /// two through probes before that; what it does from its view of the members (taking a
    /// queue bucket over from every node that has it) waits until then.
    pub(crate) fn knows_members(&self) -> bool {
        if self.swim.synced.load(Ordering::Relaxed) {
            return true;
        }
        // Nothing heard from anyone: alone, if it has no seed to join through, or if none
        // answered for a while (it is the cluster, until someone joins it).
        let alone = self.swim.membership.lock().all().iter().all(|m| {
            m.node == self.me || !matches!(m.liveness, Liveness::Alive | Liveness::Suspect)
        });
        alone
            && (self.cfg.seeds.iter().all(|s| *s == self.addr)
                || self.swim.started.elapsed() >= super::seeds::WARN_AFTER)
    }

    /// Bytes of gossip (membership and names) this node has sent since it started.
    pub fn gossip_bytes_sent(&self) -> u64 {
        self.swim.gossip_bytes.load(Ordering::Relaxed)
    }

    /// Updates still waiting to be piggybacked (0 once a change has been disseminated).
    pub fn queued_updates(&self) -> usize {
        self.swim.membership.lock().queued()
    }
}

impl Node {
    pub(super) async fn probe_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.cfg.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            match self.cfg.topology {
                Topology::Gossip => {}
                // A worker watches no one: the head tells it who is gone.
                Topology::Worker { .. } => continue,
                // A client has no loops (it does not start them).
                Topology::Client { .. } => return,
                Topology::Head => {
                    self.expire_workers();
                    continue;
                }
            }
            let target = self.swim.membership.lock().probe_target();
            if let Some(t) = target {
                let this = self.clone();
                // Each probe round runs on its own so a slow one never delays the next tick.
                tokio::spawn(async move { this.probe(t).await });
            }
            let dead = self
                .swim
                .membership
                .lock()
                .expire_suspects(self.cfg.suspicion_timeout, Instant::now());
            for d in dead {
                self.on_gone(d.node);
            }
            let stale = Instant::now() - self.cfg.probe_interval * 4;
            self.swim.relays.lock().retain(|_, (_, _, at)| *at > stale);
        }
    }

    async fn probe(self: Arc<Self>, t: MemberState) {
        let seq = self.swim.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = oneshot::channel();
        self.swim.acks.lock().insert(seq, tx);
        let updates = self.swim.membership.lock().piggyback(PIGGYBACK);
        let sent = self.send_gossip_to(t.node, &Gossip::Ping { seq, updates });
        let direct = sent.is_ok()
            && tokio::time::timeout(self.cfg.probe_timeout, &mut rx)
                .await
                .is_ok();
        if !direct {
            let helpers = self
                .swim
                .membership
                .lock()
                .helpers(t.node, self.cfg.indirect_probes);
            for h in helpers {
                let updates = self.swim.membership.lock().piggyback(PIGGYBACK);
                let _ = self.send_gossip_to(
                    h.node,
                    &Gossip::PingReq {
                        seq,
                        target: t.node,
                        updates,
                    },
                );
            }
            let rest = self
                .cfg
                .probe_interval
                .saturating_sub(self.cfg.probe_timeout)
                .max(self.cfg.probe_timeout);
            if tokio::time::timeout(rest, &mut rx).await.is_err() {
                let change = self.swim.membership.lock().suspect(t.node, Instant::now());
                if let Change::Updated(s) = change {
                    tracing::info!(node = %s.node, "member suspect");
                }
            }
        }
        self.swim.acks.lock().remove(&seq);
    }

    pub(super) async fn sync_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.cfg.sync_interval);
        loop {
            tick.tick().await;
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            self.prove_members();
            match &self.cfg.topology {
                Topology::Gossip => {}
                // The head waits for its workers' reports.
                Topology::Head => continue,
                Topology::Client { .. } => return,
                Topology::Worker { head } => {
                    let head = head.clone();
                    self.clone().heartbeat(head).await;
                    continue;
                }
            }
            // One round in four also goes to a member believed dead, if any: after a
            // partition heals, this is how the two sides learn of each other again.
            let dead = if rand::random_ratio(1, 4) {
                self.swim.membership.lock().dead_member()
            } else {
                None
            };
            if let Some(d) = dead {
                let this = self.clone();
                tokio::spawn(async move {
                    let _ = this.sync_with_addr(d.addr).await;
                });
            }
            let target = self.swim.membership.lock().probe_target();
            match target {
                Some(t) => {
                    let _ = self.send_gossip_to(t.node, &self.sync_message(true));
                }
                // Not joined yet: go through the seeds.
                None => {
                    for seed in self.cfg.seeds.clone() {
                        if seed == self.addr {
                            continue;
                        }
                        let this = self.clone();
                        tokio::spawn(async move { this.join_through_seed(seed).await });
                    }
                }
            }
        }
    }

    /// Dial every member not proven yet (once per few rounds each): finding it at its
    /// address under its id proves it, and the exchange brings its names.
    fn prove_members(self: &Arc<Self>) {
        let unproven = self.swim.membership.lock().unproven();
        let now = Instant::now();
        let retry = self.cfg.sync_interval * 4;
        for m in unproven {
            {
                let mut proving = self.swim.proving.lock();
                if proving
                    .get(&m.node)
                    .is_some_and(|t| now.duration_since(*t) < retry)
                {
                    continue;
                }
                proving.insert(m.node, now);
            }
            let this = self.clone();
            tokio::spawn(async move {
                let _ = this.sync_with_addr(m.addr).await;
            });
        }
    }

    /// A dialed connection's `Hello` says `node` is at `addr`.
    pub(super) fn found_at(&self, node: NodeId, addr: &str) {
        self.swim.found.lock().insert(node, addr.to_string());
        if self.swim.membership.lock().prove(node, addr) {
            tracing::debug!(%node, %addr, "member proven");
            self.swim.proving.lock().remove(&node);
        }
    }

    /// A one-off exchange with an address (a seed, a member to prove, one believed dead).
    /// What went wrong, if nothing answered as a node does: the dial's error, or `None` for
    /// a connection on which no `Hello` came back.
    pub(super) async fn sync_with_addr(
        self: Arc<Self>,
        addr: String,
    ) -> Result<(), Option<String>> {
        match self.dial_addr(&addr).await {
            Ok(c) => {
                self.send_gossip_on(&c, &self.sync_message(true));
                // Close it after the answer unless it became the link to that peer, so
                // repeated attempts do not pile up connections.
                tokio::time::sleep(self.cfg.sync_interval * 4).await;
                let said_hello = c.peer().is_some();
                let kept = c.peer().is_some_and(|p| {
                    matches!(self.links.peers.lock().get(&(p, false)), Some(super::links::PeerLink::Connected(x)) if x.id == c.id)
                });
                if !kept {
                    c.drain_and_close(Duration::from_millis(100)).await;
                    self.links.forget(&c);
                }
                if said_hello {
                    Ok(())
                } else {
                    Err(None)
                }
            }
            Err(why) => {
                tracing::debug!(%addr, "not reachable: {why}");
                Err(Some(why))
            }
        }
    }

    pub(super) fn sync_message(&self, reply: bool) -> Gossip {
        let members = self.swim.membership.lock().all();
        Gossip::Sync {
            members,
            digest: self.name_digest(),
            reply,
        }
    }

    fn apply_updates(&self, updates: Vec<Update>, from: Option<NodeId>) {
        for u in updates {
            match u {
                Update::Member(m) => self.apply_member(m, from),
                Update::Name(e) => self.apply_name(e),
            }
        }
    }

    pub(super) fn apply_member(&self, m: MemberState, from: Option<NodeId>) {
        let change = self
            .swim
            .membership
            .lock()
            .apply(m.clone(), from, Instant::now());
        match change {
            Change::Updated(s) => {
                if matches!(s.liveness, Liveness::Dead | Liveness::Left) {
                    self.on_gone(s.node);
                } else if self.swim.found.lock().get(&s.node) == Some(&s.addr) {
                    self.swim.membership.lock().prove(s.node, &s.addr);
                }
            }
            Change::Refused(why) => {
                let key = format!("{from:?}");
                self.links.warn_once(
                    &key,
                    why,
                    format!(
                        "ignored a claim from {} that node {} is {:?} at incarnation {}: {why}",
                        from.map(|n| n.to_string())
                            .unwrap_or_else(|| "an unknown peer".into()),
                        m.node,
                        m.liveness,
                        m.incarnation
                    ),
                );
            }
            Change::None | Change::Refuted(_) => {}
        }
    }

    /// A node died or left: drop its names and links, fail what waits on it.
    pub(super) fn on_gone(&self, node: NodeId) {
        tracing::info!(%node, "member gone");
        self.forget_names_of(node);
        self.swim.found.lock().remove(&node);
        self.links.drop_node(node);
        self.calls.node_down(node);
        self.relay_node_down(node);
        self.deliver(ForeignEvent::NodeDown(node));
    }

    pub(super) fn on_gossip(&self, c: &Arc<ConnHandle>, g: Gossip) {
        let from = c.peer();
        match g {
            Gossip::Ping { seq, updates } => {
                self.apply_updates(updates, from);
                let updates = self.swim.membership.lock().piggyback(PIGGYBACK);
                self.send_gossip_on(c, &Gossip::Ack { seq, updates });
            }
            Gossip::Ack { seq, updates } => {
                self.apply_updates(updates, from);
                if let Some(tx) = self.swim.acks.lock().remove(&seq) {
                    let _ = tx.send(());
                }
                if let Some((origin, their_seq, _)) = self.swim.relays.lock().remove(&seq) {
                    self.send_gossip_on(
                        &origin,
                        &Gossip::Ack {
                            seq: their_seq,
                            updates: vec![],
                        },
                    );
                }
            }
            Gossip::PingReq {
                seq,
                target,
                updates,
            } => {
                self.apply_updates(updates, from);
                let my_seq = self.swim.next_seq.fetch_add(1, Ordering::Relaxed);
                self.swim
                    .relays
                    .lock()
                    .insert(my_seq, (c.clone(), seq, Instant::now()));
                let ping = Gossip::Ping {
                    seq: my_seq,
                    updates: vec![],
                };
                if self.send_gossip_to(target, &ping).is_err() {
                    tracing::debug!(%target, "cannot relay a probe to an unknown member");
                }
            }
            Gossip::Sync {
                members,
                digest,
                reply,
            } => {
                if members.len() > MAX_MEMBERS {
                    self.links.warn_once(
                        &c.remote,
                        "members",
                        format!(
                            "ignored a sync from {} listing {} members (limit {MAX_MEMBERS})",
                            c.remote,
                            members.len()
                        ),
                    );
                    return;
                }
                if self.cfg.topology == Topology::Head {
                    if let Some(peer) = from {
                        self.head.beat(peer);
                    }
                }
                for m in members {
                    self.apply_member(m, from);
                }
                // From now on this node knows whom the cluster knows (see `Node::knows_members`).
                if from.is_some() {
                    self.swim.synced.store(true, Ordering::Relaxed);
                }
                self.compare_digest(c, &digest);
                if reply {
                    self.send_gossip_on(c, &self.sync_message(false));
                }
            }
            Gossip::NamesWanted { since } => self.send_names(c, since),
            Gossip::Names { entries, complete } => self.receive_names(c, entries, complete),
        }
    }
}

/// A pending call failed because its node is gone.
pub(super) fn node_down(node: NodeId) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::NodeDown, format!("node {node} is down"))
}
