//! The node's numbers as JS sees them (`system.metrics()`); the same as `/metrics`.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::stats::{ActorStats, Latency, LATENCY_BUCKETS};
use pulsing_actor::transport::traffic::LaneTraffic;

use crate::system::NativeSystem;

/// What one lane carried.
#[napi(object)]
pub struct JsLaneTraffic {
    pub frames_in: f64,
    pub frames_out: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
}

/// Members by status.
#[napi(object)]
pub struct JsMemberCounts {
    pub alive: u32,
    pub suspect: u32,
    pub dead: u32,
    pub left: u32,
}

/// A node's numbers.
#[napi(object)]
pub struct JsMetrics {
    pub node_id: String,
    pub members: JsMemberCounts,
    pub connections: u32,
    pub pending_calls: u32,
    pub named_here: u32,
    pub named_cluster: u32,
    pub control: JsLaneTraffic,
    pub bulk: JsLaneTraffic,
    pub gossip_bytes: f64,
    pub actors: Vec<JsActorStats>,
    /// The queue buckets this node keeps.
    pub queues: Vec<JsBucketStats>,
    /// The topics with subscribers here.
    pub topics: Vec<JsTopicStats>,
}

/// A queue bucket this node keeps.
#[napi(object)]
pub struct JsBucketStats {
    pub queue: String,
    pub bucket: u32,
    /// `owner`, `replica` or `recovered`.
    pub role: String,
    /// Records it holds.
    pub records: f64,
    /// The offset of the first (those before were trimmed by the queue's retention).
    pub first: f64,
    pub bytes: f64,
    pub disk: bool,
    pub replicas: u32,
    pub groups: Vec<JsGroupLag>,
}

/// A consumer group's place in a bucket.
#[napi(object)]
pub struct JsGroupLag {
    pub group: String,
    pub committed: f64,
    pub lag: f64,
    pub in_flight: f64,
}

/// The subscribers of a topic on this node.
#[napi(object)]
pub struct JsTopicStats {
    pub topic: String,
    pub subscribers: f64,
    pub waiting: f64,
}

fn bucket(b: pulsing_actor::stats::BucketStats) -> JsBucketStats {
    JsBucketStats {
        queue: b.queue,
        bucket: b.bucket,
        role: b.role,
        records: b.records as f64,
        first: b.first as f64,
        bytes: b.bytes as f64,
        disk: b.disk,
        replicas: b.replicas.into(),
        groups: b
            .groups
            .into_iter()
            .map(|g| JsGroupLag {
                group: g.group,
                committed: g.committed as f64,
                lag: g.lag as f64,
                in_flight: g.in_flight as f64,
            })
            .collect(),
    }
}

/// One named actor's figures.
#[napi(object)]
pub struct JsActorStats {
    pub name: String,
    pub local: f64,
    pub mailbox_depth: f64,
    pub handled: f64,
    pub errors: f64,
    pub restarts: f64,
    /// Calls per latency bucket, not cumulative (`+Inf` last).
    pub latency_buckets: Vec<f64>,
    pub latency_sum_seconds: f64,
    pub latency_count: f64,
}

fn actor(s: ActorStats) -> JsActorStats {
    JsActorStats {
        name: s.name,
        local: s.local as f64,
        mailbox_depth: s.mailbox_depth as f64,
        handled: s.handled as f64,
        errors: s.errors as f64,
        restarts: s.restarts as f64,
        latency_buckets: s.latency.buckets.iter().map(|b| *b as f64).collect(),
        latency_sum_seconds: s.latency.sum_seconds,
        latency_count: s.latency.count as f64,
    }
}

fn lane(t: LaneTraffic) -> JsLaneTraffic {
    JsLaneTraffic {
        frames_in: t.frames_in as f64,
        frames_out: t.frames_out as f64,
        bytes_in: t.bytes_in as f64,
        bytes_out: t.bytes_out as f64,
    }
}

#[napi]
impl NativeSystem {
    /// This node's numbers (what `/metrics` reports).
    #[napi]
    pub async fn metrics(&self) -> JsMetrics {
        let m = self.inner.metrics().await;
        JsMetrics {
            node_id: m.node_id.to_string(),
            members: JsMemberCounts {
                alive: m.members[0],
                suspect: m.members[1],
                dead: m.members[2],
                left: m.members[3],
            },
            connections: m.connections as u32,
            pending_calls: m.pending_calls as u32,
            named_here: m.named_here as u32,
            named_cluster: m.named_cluster as u32,
            control: lane(m.control),
            bulk: lane(m.bulk),
            gossip_bytes: m.gossip_bytes as f64,
            actors: m.actors.into_iter().map(actor).collect(),
            queues: m.queues.into_iter().map(bucket).collect(),
            topics: m
                .topics
                .into_iter()
                .map(|t| JsTopicStats {
                    topic: t.topic,
                    subscribers: t.subscribers as f64,
                    waiting: t.waiting as f64,
                })
                .collect(),
        }
    }
}

/// Values per actor in a stats report: depth, handled, errors, restarts, latency sum (ms),
/// latency count, then one count per latency bucket (`+Inf` last).
const REPORT_ROW: usize = 6 + LATENCY_BUCKETS.len() + 1;

#[napi]
impl NativeSystem {
    /// The JS layer's report of the named actors it hosts: `names[i]` (full name) and
    /// `locals[i]` own row `i` of `values` (`REPORT_ROW` numbers each); `removed` are gone.
    #[napi]
    pub fn report_actor_stats(
        &self,
        names: Vec<String>,
        locals: Vec<f64>,
        values: Float64Array,
        removed: Vec<String>,
    ) -> Result<()> {
        if values.len() != names.len() * REPORT_ROW || locals.len() != names.len() {
            return Err(Error::new(
                Status::InvalidArg,
                format!(
                    "a stats report of {} actors needs {} values and {} ids, not {} and {}",
                    names.len(),
                    names.len() * REPORT_ROW,
                    names.len(),
                    values.len(),
                    locals.len()
                ),
            ));
        }
        let updated = names
            .into_iter()
            .zip(locals)
            .zip(values.chunks(REPORT_ROW))
            .map(|((name, local), row)| {
                let buckets: Vec<u64> = row[6..].iter().map(|v| *v as u64).collect();
                ActorStats {
                    name,
                    local: local as u64,
                    mailbox_depth: row[0] as u64,
                    handled: row[1] as u64,
                    errors: row[2] as u64,
                    restarts: row[3] as u64,
                    latency: Latency {
                        sum_seconds: row[4] / 1e3,
                        count: buckets.iter().sum(),
                        buckets,
                    },
                }
            })
            .collect();
        self.inner.report_foreign_stats(updated, &removed);
        Ok(())
    }
}
