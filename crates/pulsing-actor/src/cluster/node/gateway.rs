//! What every node serves its clients itself, in Rust, whatever hosts its actors: the
//! `system/gateway` service (resolve a name to an actor id anywhere in the cluster; list the
//! members, so a client can refresh its gateways), and requests addressed to an actor on a
//! named node (`Target::Remote`), relayed there.

use crate::message::to_msgpack;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Node;
use crate::cluster::gossip::Liveness;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::naming;
use crate::protocol::MSGPACK;
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header};
use crate::transport::WireError;

/// The name of the service.
pub const SERVICE: &str = "system/gateway";

/// One member as `system/gateway` `members` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayMember {
    /// The member's node id (16 hex digits).
    pub node_id: String,
    /// The address it is dialed at.
    pub addr: String,
    /// `alive` or `suspect`.
    pub status: String,
}

/// Where a name resolves, as `system/gateway` `resolve` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    /// The full name.
    pub name: String,
    /// `<nodeId>:<localId>` of the instance.
    pub actor_id: String,
    /// The node hosting it.
    pub node_id: String,
}

impl Node {
    /// Serve one `system/gateway` request on `c`.
    pub(super) fn serve_gateway(&self, c: &Arc<ConnHandle>, f: Frame) {
        let Header::Ask { req, .. } = f.header else {
            return; // a tell asks for nothing
        };
        let answer = Message::single(MSGPACK, f.body)
            .unpack::<(String, Option<Vec<String>>)>()
            .and_then(|(method, args)| self.gateway_call(&method, &args.unwrap_or_default()));
        c.send(answer_frame(req, answer));
    }

    fn gateway_call(&self, method: &str, args: &[String]) -> Result<Bytes, PulsingError> {
        match (method, args) {
            ("resolve", [name]) => to_msgpack(&self.resolve_for_client(name)?),
            ("members", []) => {
                let members: Vec<GatewayMember> = self
                    .members()
                    .into_iter()
                    .map(|m| GatewayMember {
                        node_id: m.node.to_string(),
                        addr: m.addr,
                        status: match m.liveness {
                            Liveness::Alive => "alive",
                            _ => "suspect",
                        }
                        .into(),
                    })
                    .collect();
                to_msgpack(&members)
            }
            _ => Err(PulsingError::Unsupported {
                operation: format!(
                    "{SERVICE}.{method} with {} arguments: it serves resolve(name) and members()",
                    args.len()
                ),
            }),
        }
    }

    /// `name` on this node first, then the first live instance elsewhere.
    fn resolve_for_client(&self, name: &str) -> Result<Resolved, PulsingError> {
        let full = naming::normalize(name)?;
        let (node, local) = match self.local.lookup(&full) {
            Some(local) => (self.me, local),
            None => match self.relay_host(&full) {
                Some(e) => (e.node, e.local),
                None => {
                    return Err(PulsingError::runtime(
                        RuntimeErrorKind::ActorNotFound,
                        format!(
                            "no actor named {full} in the cluster (asked node {})",
                            self.me
                        ),
                    ))
                }
            },
        };
        Ok(Resolved {
            actor_id: format!("{node}:{local}"),
            node_id: node.to_string(),
            name: full,
        })
    }

    /// Why a request for an actor on `node` cannot be relayed there, if it cannot.
    pub(super) fn unreachable(&self, node: NodeId) -> Option<WireError> {
        match self.member(node).map(|m| m.liveness) {
            Some(Liveness::Alive | Liveness::Suspect) => None,
            Some(_) => Some(WireError::runtime(
                RuntimeErrorKind::NodeDown,
                format!("node {node} is down"),
            )),
            None => Some(WireError::runtime(
                RuntimeErrorKind::NodeNotFound,
                format!(
                    "node {node} is not a member of the cluster of node {}",
                    self.me
                ),
            )),
        }
    }
}

/// The answer to request `req` of a service this node serves itself: the MessagePack reply,
/// or the error.
pub(super) fn answer_frame(req: u64, answer: Result<Bytes, PulsingError>) -> Frame {
    match answer {
        Ok(body) => Frame::new(
            Header::Reply {
                req,
                tag: MSGPACK.into(),
            },
            body,
        ),
        Err(e) => Frame::bare(Header::Error {
            req,
            error: Box::new(WireError::from(&e)),
        }),
    }
}
