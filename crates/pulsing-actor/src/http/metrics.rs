//! The node's numbers: [`ActorSystem::metrics`] (also `system.metrics()` in JS) and
//! `/metrics` in the Prometheus text format (version 0.0.4). Every sample carries
//! `node="<id>"`, so one scrape config covers every node of a cluster.

use std::fmt::Write;

use crate::cluster::gossip::Liveness;
use crate::id::NodeId;
use crate::stats::{ActorStats, LATENCY_BUCKETS};
use crate::system::ActorSystem;
use crate::transport::traffic::LaneTraffic;

/// What a node reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// The node.
    pub node_id: NodeId,
    /// Members it knows of, by status: alive, suspect, dead, left.
    pub members: [u32; 4],
    /// Connections open (peers, clients, HTTP, handshakes in progress).
    pub connections: usize,
    /// Calls it sent and waits for.
    pub pending_calls: usize,
    /// Named actors hosted here.
    pub named_here: usize,
    /// Names registered in the cluster.
    pub named_cluster: usize,
    /// What the control lane carried.
    pub control: LaneTraffic,
    /// What the bulk lane carried.
    pub bulk: LaneTraffic,
    /// Bytes of gossip it sent (membership updates piggybacked on probes and syncs).
    pub gossip_bytes: u64,
    /// The named actors hosted here, by name.
    pub actors: Vec<ActorStats>,
    /// The queue buckets kept here (owned, replicas, read back from disk).
    pub queues: Vec<crate::stats::BucketStats>,
    /// The topics with subscribers here.
    pub topics: Vec<crate::stats::TopicStats>,
}

impl ActorSystem {
    /// This node's numbers, as `/metrics` reports them.
    pub async fn metrics(&self) -> Metrics {
        let mut members = [0u32; 4];
        let gossip_bytes = self.cluster().map_or(0, |n| n.gossip_bytes_sent());
        let (connections, pending_calls, (control, bulk)) = match self.cluster() {
            Some(n) => {
                for m in n.all_members() {
                    members[match m.liveness {
                        Liveness::Alive => 0,
                        Liveness::Suspect => 1,
                        Liveness::Dead => 2,
                        Liveness::Left => 3,
                    }] += 1;
                }
                (n.open_connections(), n.pending_calls(), n.traffic())
            }
            None => {
                members[0] = 1;
                (0, 0, Default::default())
            }
        };
        let named = self.all_named_actors().await;
        let named_here = named
            .iter()
            .flat_map(|a| &a.instances)
            .filter(|i| i.node_id == self.node_id())
            .count();
        Metrics {
            node_id: self.node_id(),
            members,
            connections,
            pending_calls,
            named_here,
            named_cluster: named.len(),
            control,
            bulk,
            gossip_bytes,
            actors: self.actor_stats(),
            queues: self.queue_store().stats(),
            topics: self.subscribers().stats(),
        }
    }
}

/// `m` in the Prometheus text format.
pub fn render(m: &Metrics) -> String {
    let node = m.node_id.to_string();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(out, "{name}{{node=\"{node}\"{sep}{labels}}} {v}");
        }
    };
    let statuses = ["alive", "suspect", "dead", "left"];
    family(
        "pulsing_members",
        "gauge",
        "Members this node knows of, by status.",
        &statuses
            .iter()
            .zip(m.members)
            .map(|(s, n)| (format!("status=\"{s}\""), n as u64))
            .collect::<Vec<_>>(),
    );
    family(
        "pulsing_connections",
        "gauge",
        "Connections open on this node (peers, clients, HTTP, handshakes).",
        &[(String::new(), m.connections as u64)],
    );
    family(
        "pulsing_pending_calls",
        "gauge",
        "Calls this node sent and waits for.",
        &[(String::new(), m.pending_calls as u64)],
    );
    family(
        "pulsing_named_actors",
        "gauge",
        "Named actors: hosted on this node, and in the cluster.",
        &[
            ("scope=\"node\"".into(), m.named_here as u64),
            ("scope=\"cluster\"".into(), m.named_cluster as u64),
        ],
    );
    let lanes = [("control", m.control), ("bulk", m.bulk)];
    let per = |f: fn(&LaneTraffic) -> (u64, u64)| {
        lanes
            .iter()
            .flat_map(|(lane, t)| {
                let (i, o) = f(t);
                [
                    (format!("lane=\"{lane}\",direction=\"in\""), i),
                    (format!("lane=\"{lane}\",direction=\"out\""), o),
                ]
            })
            .collect::<Vec<_>>()
    };
    family(
        "pulsing_frames_total",
        "counter",
        "Frames this node's connections carried, per lane and direction.",
        &per(|t| (t.frames_in, t.frames_out)),
    );
    family(
        "pulsing_frame_bytes_total",
        "counter",
        "Bytes of frame bodies and attachments carried, per lane and direction.",
        &per(|t| (t.bytes_in, t.bytes_out)),
    );
    family(
        "pulsing_gossip_bytes_total",
        "counter",
        "Bytes of gossip this node sent.",
        &[(String::new(), m.gossip_bytes)],
    );
    let per_actor = |f: fn(&ActorStats) -> u64| {
        m.actors
            .iter()
            .map(|a| (format!("actor=\"{}\"", label(&a.name)), f(a)))
            .collect::<Vec<_>>()
    };
    type Field = fn(&ActorStats) -> u64;
    let per_actor_families: [(&str, &str, &str, Field); 4] = [
        (
            "pulsing_actor_mailbox_depth",
            "gauge",
            "Messages waiting in a named actor's mailbox.",
            |a| a.mailbox_depth,
        ),
        (
            "pulsing_actor_messages_total",
            "counter",
            "Messages a named actor was given to handle.",
            |a| a.handled,
        ),
        (
            "pulsing_actor_errors_total",
            "counter",
            "Messages a named actor handled that ended in an error.",
            |a| a.errors,
        ),
        (
            "pulsing_actor_restarts_total",
            "counter",
            "Times a named actor was restarted by its supervision.",
            |a| a.restarts,
        ),
    ];
    for (name, kind, help, field) in per_actor_families {
        family(name, kind, help, &per_actor(field));
    }
    let per_bucket = |f: fn(&crate::stats::BucketStats) -> u64| {
        m.queues
            .iter()
            .map(|b| {
                let labels = format!(
                    "queue=\"{}\",bucket=\"{}\",role=\"{}\"",
                    label(&b.queue),
                    b.bucket,
                    b.role
                );
                (labels, f(b))
            })
            .collect::<Vec<_>>()
    };
    family(
        "pulsing_queue_records",
        "gauge",
        "Records of a queue bucket this node keeps (role: owner, replica, recovered).",
        &per_bucket(|b| b.records),
    );
    family(
        "pulsing_queue_first_offset",
        "gauge",
        "Offset of the first record of a queue bucket this node keeps (those before were trimmed by retention).",
        &per_bucket(|b| b.first),
    );
    family(
        "pulsing_queue_bytes",
        "gauge",
        "Bytes of the records of a queue bucket this node keeps.",
        &per_bucket(|b| b.bytes),
    );
    let per_group = |f: fn(&crate::stats::GroupLag) -> u64| {
        m.queues
            .iter()
            .filter(|b| b.role == "owner")
            .flat_map(|b| {
                b.groups.iter().map(move |g| {
                    let labels = format!(
                        "queue=\"{}\",bucket=\"{}\",group=\"{}\"",
                        label(&b.queue),
                        b.bucket,
                        label(&g.group)
                    );
                    (labels, f(g))
                })
            })
            .collect::<Vec<_>>()
    };
    family(
        "pulsing_queue_group_lag",
        "gauge",
        "Records of a bucket its consumer group has not acknowledged yet (on the bucket's owner).",
        &per_group(|g| g.lag),
    );
    family(
        "pulsing_queue_group_in_flight",
        "gauge",
        "Records of a bucket handed to its consumer group (or held back by a delay) and not acknowledged.",
        &per_group(|g| g.in_flight),
    );
    let per_topic = |f: fn(&crate::stats::TopicStats) -> u64| {
        m.topics
            .iter()
            .map(|t| (format!("topic=\"{}\"", label(&t.topic)), f(t)))
            .collect::<Vec<_>>()
    };
    family(
        "pulsing_topic_subscribers",
        "gauge",
        "Subscribers of a topic on this node.",
        &per_topic(|t| t.subscribers),
    );
    family(
        "pulsing_topic_waiting",
        "gauge",
        "Messages of a topic given to this node's subscribers and not read yet.",
        &per_topic(|t| t.waiting),
    );
    histogram(&mut out, &node, &m.actors);
    out
}

/// `pulsing_actor_latency_seconds`: one histogram per named actor.
fn histogram(out: &mut String, node: &str, actors: &[ActorStats]) {
    let name = "pulsing_actor_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} How long a named actor took to handle a message (JS actors time one call in 128).\n# TYPE {name} histogram"
    );
    for a in actors {
        let actor = label(&a.name);
        let mut cumulative = 0;
        for (i, n) in a.latency.buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{node=\"{node}\",actor=\"{actor}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_sum{{node=\"{node}\",actor=\"{actor}\"}} {}\n{name}_count{{node=\"{node}\",actor=\"{actor}\"}} {}",
            a.latency.sum_seconds, a.latency.count
        );
    }
}

/// A label value, escaped as the text format wants (`\\`, `\"`, `\n`).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
