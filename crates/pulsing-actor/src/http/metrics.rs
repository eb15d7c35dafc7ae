//! `/metrics`: the node's numbers in the Prometheus text format (version 0.0.4). Every
//! sample carries `node="<id>"`, so one scrape config covers every node of a cluster.

use std::fmt::Write;

use crate::cluster::gossip::Liveness;
use crate::system::ActorSystem;

/// The text of `/metrics` for `system`.
pub async fn render(system: &ActorSystem) -> String {
    let node = system.node_id().to_string();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in samples {
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(out, "{name}{{node=\"{node}\"{sep}{labels}}} {v}");
        }
    };
    let (mut alive, mut suspect, mut dead, mut left) = (0, 0, 0, 0);
    let (connections, pending) = match system.cluster() {
        Some(n) => {
            for m in n.all_members() {
                match m.liveness {
                    Liveness::Alive => alive += 1,
                    Liveness::Suspect => suspect += 1,
                    Liveness::Dead => dead += 1,
                    Liveness::Left => left += 1,
                }
            }
            (n.open_connections(), n.pending_calls())
        }
        None => {
            alive = 1;
            (0, 0)
        }
    };
    gauge(
        "pulsing_members",
        "Members this node knows of, by status.",
        &[
            ("status=\"alive\"", alive as f64),
            ("status=\"suspect\"", suspect as f64),
            ("status=\"dead\"", dead as f64),
            ("status=\"left\"", left as f64),
        ],
    );
    gauge(
        "pulsing_connections",
        "Connections open on this node (peers, clients, HTTP, handshakes).",
        &[("", connections as f64)],
    );
    gauge(
        "pulsing_pending_calls",
        "Calls this node sent and waits for.",
        &[("", pending as f64)],
    );
    let named = system.all_named_actors().await;
    let here = named
        .iter()
        .flat_map(|a| &a.instances)
        .filter(|i| i.node_id == system.node_id())
        .count();
    gauge(
        "pulsing_named_actors",
        "Named actors: hosted on this node, and in the cluster.",
        &[
            ("scope=\"node\"", here as f64),
            ("scope=\"cluster\"", named.len() as f64),
        ],
    );
    out
}
