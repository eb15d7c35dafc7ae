//! `system/stats`: the figures of the named actors on this node, for another node that shows
//! the whole cluster's actors (`/actors`, the dashboard).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Node;
use crate::error::PulsingError;
use crate::id::NodeId;
use crate::message::{to_msgpack, Message};
use crate::protocol::{MAX_NAME_BYTES, MSGPACK};
use crate::stats::{ActorStats, QueueNodeStats};
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};

/// The name of the service.
pub const SERVICE: &str = "system/stats";

impl Node {
    /// Answer a `system/stats` ask on `c` with this node's actors' figures.
    pub(super) fn serve_stats(&self, c: &Arc<ConnHandle>, f: Frame) {
        let Header::Ask { req, .. } = f.header else {
            return; // a tell asks for nothing
        };
        let answer = to_msgpack(&self.local.actor_stats());
        c.send(super::gateway::answer_frame(req, answer));
    }

    /// The figures of the named actors on `node`, waiting at most `timeout`. Entries that are
    /// not well formed are left out: the answer comes from the network.
    pub async fn actor_stats_of(
        &self,
        node: NodeId,
        timeout: Duration,
    ) -> Result<Vec<ActorStats>, PulsingError> {
        if node == self.me {
            return Ok(self.local.actor_stats());
        }
        let ask = Message::single(MSGPACK, Bytes::from_static(&[0xc0])); // nil: no arguments
        let reply = self
            .ask_target(node, Target::Name(SERVICE.into()), ask, timeout)
            .await?;
        let mut all: Vec<ActorStats> = reply.unpack()?;
        all.retain(|s| s.latency.is_well_formed() && s.name.len() <= MAX_NAME_BYTES);
        all.truncate(crate::stats::MAX_ACTOR_SERIES);
        Ok(all)
    }

    /// The queue buckets and topics this node keeps.
    pub fn queue_stats(&self) -> QueueNodeStats {
        QueueNodeStats {
            buckets: self.queues.stats(),
            topics: self.subscribers.stats(),
        }
    }

    /// The queue buckets and topics `node` keeps, waiting at most `timeout`. Entries that
    /// are not well formed are left out: the answer comes from the network.
    pub async fn queue_stats_of(
        &self,
        node: NodeId,
        timeout: Duration,
    ) -> Result<QueueNodeStats, PulsingError> {
        if node == self.me {
            return Ok(self.queue_stats());
        }
        let ask = super::queues::call("stats", ())?;
        let reply = self
            .ask_target(
                node,
                Target::Name(super::queues::SERVICE.into()),
                ask,
                timeout,
            )
            .await?;
        let mut s: QueueNodeStats = reply.unpack()?;
        let named = |n: &str| !n.is_empty() && n.len() <= MAX_NAME_BYTES;
        s.buckets.retain(|b| {
            named(&b.queue)
                && matches!(b.role.as_str(), "owner" | "replica" | "recovered")
                && b.groups.iter().all(|g| named(&g.group))
        });
        s.buckets.truncate(crate::stats::MAX_BUCKET_SERIES);
        s.topics.retain(|t| named(&t.topic));
        s.topics.truncate(crate::stats::MAX_BUCKET_SERIES);
        Ok(s)
    }
}
