//! Gossip messages: what nodes tell each other about members and names.
//!
//! Gossip travels in a frame's body (the header only says `Gossip`), bincode-encoded under
//! [`MAX_GOSSIP_BYTES`]. Steady-state traffic does not grow with the number of names: a
//! `Sync` carries the members and one *digest* entry per node (the newest name version of
//! that node this side holds completely); a side that is behind asks for what it lacks
//! (`NamesWanted`) and gets it in bounded chunks (`Names`).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::id::NodeId;
use crate::protocol::{MAX_METADATA_BYTES, MAX_NAME_BYTES};

/// Largest gossip body accepted (and sent: senders chunk below it).
pub const MAX_GOSSIP_BYTES: usize = 4 * 1024 * 1024;
/// Name entries per `Names` chunk.
pub const NAMES_PER_CHUNK: usize = 2048;
/// Most members one `Sync` may list (a larger claim is refused as a whole).
pub const MAX_MEMBERS: usize = 65_536;

/// Liveness of a member as gossiped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Liveness {
    /// Answering probes.
    Alive,
    /// A probe round failed; it has `suspicion_timeout` to refute.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully (final).
    Left,
}

/// One member's state, with the incarnation that orders claims about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// Its id.
    pub node: NodeId,
    /// The address it is dialed at.
    pub addr: String,
    /// How alive it is.
    pub liveness: Liveness,
    /// Raised only by the member itself, to refute a suspicion.
    pub incarnation: u64,
}

/// One (name, node) registration; the highest `version` from its node wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameEntry {
    /// The normalised name.
    pub name: String,
    /// The node hosting it.
    pub node: NodeId,
    /// Its local actor id there.
    pub local: u64,
    /// Sorted key/value metadata.
    pub metadata: Vec<(String, String)>,
    /// The node's name counter when this changed (one counter per node, for all its names).
    pub version: u64,
    /// The name was dropped on `node` (kept so older entries cannot resurrect it).
    pub tombstone: bool,
}

impl NameEntry {
    /// Whether the entry is within the documented limits.
    pub fn within_limits(&self) -> bool {
        self.name.len() <= MAX_NAME_BYTES
            && self
                .metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
                <= MAX_METADATA_BYTES
    }
}

/// A piggybacked update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Update {
    /// A claim about a member.
    Member(MemberState),
    /// A name changed.
    Name(NameEntry),
}

/// Membership and naming traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gossip {
    /// Are you there? (direct probe)
    Ping {
        /// Matched by the `Ack`.
        seq: u64,
        /// Piggybacked updates.
        updates: Vec<Update>,
    },
    /// Yes (answers a `Ping` with the same `seq`).
    Ack {
        /// The `Ping`'s.
        seq: u64,
        /// Piggybacked updates.
        updates: Vec<Update>,
    },
    /// Please probe `target` for me and tell me with an `Ack` carrying `seq`.
    PingReq {
        /// Matched by the relayed `Ack`.
        seq: u64,
        /// Who to probe.
        target: NodeId,
        /// Piggybacked updates.
        updates: Vec<Update>,
    },
    /// State exchange (push-pull): members, and a digest of the names held.
    Sync {
        /// Every member the sender knows.
        members: Vec<MemberState>,
        /// Per node, the newest name version the sender holds completely.
        digest: Vec<(NodeId, u64)>,
        /// Whether the receiver should answer with its own `Sync`.
        reply: bool,
    },
    /// Send me the names of these nodes newer than these versions.
    NamesWanted {
        /// (node, version held).
        since: Vec<(NodeId, u64)>,
    },
    /// A chunk of name entries. The last chunk of an answer says, per node, up to which
    /// version the receiver now holds everything (`complete`).
    Names {
        /// The entries.
        entries: Vec<NameEntry>,
        /// (node, version): everything of `node` up to `version` has been sent.
        complete: Vec<(NodeId, u64)>,
    },
}

/// Why a gossip body was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GossipError {
    /// Not a gossip message, or over [`MAX_GOSSIP_BYTES`].
    #[error("undecodable gossip: {0}")]
    Undecodable(String),
}

fn config() -> bincode::config::Configuration<
    bincode::config::BigEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_GOSSIP_BYTES>,
> {
    bincode::config::standard()
        .with_big_endian()
        .with_limit::<MAX_GOSSIP_BYTES>()
}

impl Gossip {
    /// Encode as a frame body; `None` when it would exceed [`MAX_GOSSIP_BYTES`] (the caller
    /// sends less, it never sends what the peer must refuse).
    pub fn encode(&self) -> Option<Bytes> {
        bincode::serde::encode_to_vec(self, config())
            .ok()
            .filter(|v| v.len() <= MAX_GOSSIP_BYTES)
            .map(Bytes::from)
    }

    /// Decode a frame body. Allocation is bounded by the body's size and the limit.
    pub fn decode(body: &[u8]) -> Result<Gossip, GossipError> {
        if body.len() > MAX_GOSSIP_BYTES {
            return Err(GossipError::Undecodable(format!(
                "{} bytes exceed the {MAX_GOSSIP_BYTES}-byte limit",
                body.len()
            )));
        }
        let (g, used): (Gossip, usize) = bincode::serde::decode_from_slice(body, config())
            .map_err(|e| GossipError::Undecodable(e.to_string()))?;
        if used != body.len() {
            return Err(GossipError::Undecodable(format!(
                "{} trailing bytes",
                body.len() - used
            )));
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gossip_round_trips_and_garbage_is_refused() {
        let g = Gossip::Sync {
            members: vec![MemberState {
                node: NodeId(3),
                addr: "127.0.0.1:1".into(),
                liveness: Liveness::Alive,
                incarnation: 2,
            }],
            digest: vec![(NodeId(3), 9)],
            reply: true,
        };
        let b = g.encode().unwrap();
        assert_eq!(Gossip::decode(&b).unwrap(), g);
        assert!(Gossip::decode(&[0xff; 16]).is_err());
        // A length prefix announcing a huge vector allocates nothing: the limit refuses it.
        let mut huge = vec![4u8];
        huge.extend_from_slice(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(Gossip::decode(&huge).is_err());
    }
}
