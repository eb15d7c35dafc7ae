//! Head-node mode: workers report to the head and take its view; the head expires workers
//! that stop reporting. Workers run no probes, so a brief head outage takes no worker down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::Node;
use crate::cluster::gossip::{Liveness, MemberState};
use crate::id::NodeId;
use crate::transport::conn::ConnHandle;

/// Head-mode state of one node.
#[derive(Default)]
pub(crate) struct HeadState {
    /// Head mode: when each worker last reported.
    heartbeats: Mutex<HashMap<NodeId, Instant>>,
    /// Worker mode: the connection to the head.
    link: Mutex<Option<Arc<ConnHandle>>>,
}

impl HeadState {
    /// A worker reported.
    pub(super) fn beat(&self, worker: NodeId) {
        self.heartbeats.lock().insert(worker, Instant::now());
    }
}

impl Node {
    /// Worker mode: report to the head (our state, our name digest) and ask for its view.
    /// An unreachable head changes nothing here: the worker keeps its view and tries again.
    pub(super) async fn heartbeat(self: Arc<Self>, head: String) {
        let link = self.head.link.lock().clone().filter(|c| !c.is_closed());
        let link = match link {
            Some(c) => c,
            None => match self.dial_addr(&head).await {
                Ok(c) => {
                    *self.head.link.lock() = Some(c.clone());
                    c
                }
                Err(why) => {
                    tracing::debug!(%head, "head not reachable: {why}");
                    return;
                }
            },
        };
        self.send_gossip_on(&link, &self.sync_message(true));
    }

    /// Head mode: a worker silent for longer than the suspicion timeout plus two heartbeats
    /// is dead.
    pub(super) fn expire_workers(&self) {
        let limit = self.cfg.suspicion_timeout + self.cfg.sync_interval * 2;
        let now = Instant::now();
        let silent: Vec<MemberState> = {
            let beats = self.head.heartbeats.lock();
            self.swim
                .membership
                .lock()
                .all()
                .into_iter()
                .filter(|m| {
                    m.node != self.me && matches!(m.liveness, Liveness::Alive | Liveness::Suspect)
                })
                .filter(|m| {
                    beats
                        .get(&m.node)
                        .is_none_or(|t| now.duration_since(*t) > limit)
                })
                .collect()
        };
        for m in silent {
            tracing::info!(node = %m.node, "worker stopped reporting");
            self.apply_member(
                MemberState {
                    liveness: Liveness::Dead,
                    ..m
                },
                None,
            );
        }
    }
}
