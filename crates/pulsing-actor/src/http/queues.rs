//! `GET /queues`: every queue bucket and topic of the cluster, asked of each live member (at
//! most `STATS_WAIT` each; one that does not answer is listed in `unanswered`).
//!
//! ```text
//! { "queues": [ { "name", "buckets": [ { "bucket", "owner", "replicas": [nodeId],
//!                 "records", "first", "bytes", "disk", "groups": [ { "group", "committed", "lag",
//!                 "inFlight" } ] } ] } ],
//!   "topics": [ { "name", "nodes": [ { "nodeId", "subscribers", "waiting" } ] } ],
//!   "unanswered": [nodeId] }
//! ```
//!
//! A bucket's `owner` is the node that holds it as its owner (`null` while none does: nobody
//! wrote to it yet, or it is moving); its figures are the owner's. `replicas` are the nodes
//! keeping a copy for it (and, flagged `recovered`, copies read back from a disk). `first` is
//! the offset of its first record (those before were trimmed by the queue's retention).

use std::collections::BTreeMap;

use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::{reply, Body, STATS_WAIT};
use crate::id::NodeId;
use crate::stats::QueueNodeStats;
use crate::system::ActorSystem;

pub(super) async fn queues(system: &ActorSystem) -> Response<Body> {
    let nodes: Vec<NodeId> = match system.cluster() {
        Some(n) => n.members().into_iter().map(|m| m.node).collect(),
        None => vec![system.node_id()],
    };
    let asks = nodes.iter().map(|node| async move {
        let got = match system.cluster() {
            Some(n) => n.queue_stats_of(*node, STATS_WAIT).await,
            None => Ok(QueueNodeStats {
                buckets: system.queue_store().stats(),
                topics: system.subscribers().stats(),
            }),
        };
        (*node, got)
    });
    let mut buckets: BTreeMap<(String, u32), Value> = BTreeMap::new();
    let mut topics: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut unanswered = Vec::new();
    for (node, got) in futures::future::join_all(asks).await {
        let s = match got {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%node, "no queue figures from node: {e}");
                unanswered.push(node.to_string());
                continue;
            }
        };
        for b in s.buckets {
            let entry = buckets
                .entry((b.queue.clone(), b.bucket))
                .or_insert_with(|| {
                    json!({ "bucket": b.bucket, "owner": null, "replicas": [], "recovered": [],
                        "records": 0, "first": 0, "bytes": 0, "disk": b.disk, "groups": [] })
                });
            match b.role.as_str() {
                "owner" => {
                    entry["owner"] = json!(node.to_string());
                    entry["records"] = json!(b.records);
                    entry["first"] = json!(b.first);
                    entry["bytes"] = json!(b.bytes);
                    entry["disk"] = json!(b.disk);
                    entry["groups"] = json!(b
                        .groups
                        .iter()
                        .map(|g| json!({ "group": g.group, "committed": g.committed,
                                         "lag": g.lag, "inFlight": g.in_flight }))
                        .collect::<Vec<_>>());
                }
                "replica" => push(&mut entry["replicas"], node),
                _ => push(&mut entry["recovered"], node),
            }
        }
        for t in s.topics {
            topics.entry(t.topic).or_default().push(json!({
                "nodeId": node.to_string(), "subscribers": t.subscribers, "waiting": t.waiting,
            }));
        }
    }
    let mut queues: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ((name, _), b) in buckets {
        queues.entry(name).or_default().push(b);
    }
    reply(
        StatusCode::OK,
        json!({
            "queues": queues.into_iter().map(|(name, buckets)| json!({ "name": name, "buckets": buckets })).collect::<Vec<_>>(),
            "topics": topics.into_iter().map(|(name, nodes)| json!({ "name": name, "nodes": nodes })).collect::<Vec<_>>(),
            "unanswered": unanswered,
        }),
    )
}

fn push(list: &mut Value, node: NodeId) {
    if let Some(a) = list.as_array_mut() {
        a.push(json!(node.to_string()));
    }
}
