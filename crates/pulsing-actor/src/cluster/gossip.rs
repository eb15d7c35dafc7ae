//! Gossip messages: what nodes tell each other about members and names.

use serde::{Deserialize, Serialize};

use crate::actor::NodeId;

/// Liveness of a member as gossiped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Liveness {
    Alive,
    Suspect,
    Dead,
    Left,
}

/// One member's state, with the incarnation that orders claims about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub node: NodeId,
    pub addr: String,
    pub liveness: Liveness,
    pub incarnation: u64,
}

/// One (name, node) registration; the highest `version` from its node wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameEntry {
    pub name: String,
    pub node: NodeId,
    pub local: u64,
    pub metadata: Vec<(String, String)>,
    pub version: u64,
    /// The name was dropped on `node` (kept so older entries cannot resurrect it).
    pub tombstone: bool,
}

/// A piggybacked update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Update {
    Member(MemberState),
    Name(NameEntry),
}

/// Membership and naming traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gossip {
    /// Are you there? (direct probe)
    Ping { seq: u64, updates: Vec<Update> },
    /// Yes (answers a `Ping` with the same `seq`).
    Ack { seq: u64, updates: Vec<Update> },
    /// Please probe `target` for me and tell me with an `Ack` carrying `seq`.
    PingReq {
        seq: u64,
        target: NodeId,
        target_addr: String,
        updates: Vec<Update>,
    },
    /// Full state exchange (push-pull). `reply: true` asks for the receiver's state back.
    Sync {
        members: Vec<MemberState>,
        names: Vec<NameEntry>,
        reply: bool,
    },
}
