//! Identities: of a node in the cluster and of an actor on a node. The lowest layer with
//! the error types: the transport, the cluster and the system all name nodes and actors.

use std::fmt;
use std::str::FromStr;

use crate::error::{PulsingError, RuntimeErrorKind};

/// A node's identity in the cluster: random at start, shown as 16 hex digits.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct NodeId(pub u64);

/// Logs and errors show the same 16 hex digits as the API.
impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl NodeId {
    /// A fresh random node id (never 0: a client addresses its gateway as node 0).
    pub fn random() -> Self {
        NodeId(rand::random::<u64>().max(1))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = PulsingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(NodeId).map_err(|_| {
            PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!("invalid node id {s:?}: expected 16 hex digits"),
            )
        })
    }
}

/// An actor's identity: the node hosting it and a number unique on that node.
/// Its string form is `<nodeId>:<localId>`, so the host is visible in every id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId {
    /// The node hosting the actor.
    pub node: NodeId,
    /// The actor's id on that node.
    pub local: u64,
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.local)
    }
}

impl FromStr for ActorId {
    type Err = PulsingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!("invalid actor id {s:?}: expected \"<nodeId>:<localId>\""),
            )
        };
        let (node, local) = s.split_once(':').ok_or_else(bad)?;
        Ok(ActorId {
            node: node.parse().map_err(|_| bad())?,
            local: local.parse().map_err(|_| bad())?,
        })
    }
}
