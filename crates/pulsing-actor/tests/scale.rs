//! Names at scale: a cluster holding 100,000 names lets a new node learn them all in a sync
//! (how fast is `npm run bench`'s `names_join_ms`, target 5 s; the deadlines here catch a
//! join that trickles names through gossip, which takes minutes), and gossip costs the same
//! whether a node holds ten names or a hundred thousand.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pulsing_actor::prelude::*;

mod common;
use common::{node, wait_for};

/// Register `n` names on `s` (as the JS layer does for its actors: no Rust actor needed).
fn register(s: &ActorSystem, prefix: &str, n: usize) {
    let first = s.reserve_local_ids(n as u64);
    for i in 0..n {
        s.register_foreign(&format!("{prefix}{i}"), first + i as u64, HashMap::new())
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_a_cluster_of_100k_names_learns_them_all() {
    let a = node(vec![]).await;
    let seed = a.addr().unwrap().to_string();
    let b = node(vec![seed.clone()]).await;
    let c = node(vec![seed.clone()]).await;
    register(&a, "a", 34_000);
    register(&b, "b", 33_000);
    register(&c, "c", 33_000);
    let c2 = c.clone();
    wait_for("c knows every name", Duration::from_secs(30), || {
        let c = c2.clone();
        async move { c.all_named_actors().await.len() == 100_000 }
    })
    .await;
    let t0 = Instant::now();
    let d = node(vec![seed]).await;
    let d2 = d.clone();
    wait_for("d resolves the last name", Duration::from_secs(30), || {
        let d = d2.clone();
        async move { d.instances("c32999").map(|i| i.len() == 1).unwrap_or(false) }
    })
    .await;
    eprintln!(
        "names_join: d resolved the last of 100k names in {:?}",
        t0.elapsed()
    );
    assert_eq!(d.instances("c32999").unwrap()[0].node_id, c.node_id());
    wait_for("d knows every name", Duration::from_secs(30), || {
        let d = d2.clone();
        async move { d.all_named_actors().await.len() == 100_000 }
    })
    .await;
    // Each with its node (the others' names may come in other syncs than c's).
    assert_eq!(d.instances("a0").unwrap()[0].node_id, a.node_id());
    assert_eq!(d.instances("b32999").unwrap()[0].node_id, b.node_id());
    for s in [a, b, c, d] {
        s.shutdown().await.unwrap();
    }
}

/// Gossip bytes `s` sends over `window`, once every change has been disseminated.
async fn gossip_over(s: &ActorSystem, window: Duration) -> u64 {
    let n = s.cluster().unwrap().clone();
    wait_for(
        "the updates to be disseminated",
        Duration::from_secs(30),
        || {
            let n = n.clone();
            async move { n.queued_updates() == 0 }
        },
    )
    .await;
    let before = n.gossip_bytes_sent();
    tokio::time::sleep(window).await; // a measuring window, not a wait for a condition
    n.gossip_bytes_sent() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_gossip_does_not_grow_with_the_number_of_names() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    register(&a, "x", 10);
    let b2 = b.clone();
    wait_for("10 names spread", Duration::from_secs(5), || {
        let b = b2.clone();
        async move { b.all_named_actors().await.len() == 10 }
    })
    .await;
    let few = gossip_over(&a, Duration::from_secs(1)).await;
    register(&a, "y", 100_000);
    wait_for("100k names spread", Duration::from_secs(30), || {
        let b = b2.clone();
        async move { b.all_named_actors().await.len() == 100_010 }
    })
    .await;
    let many = gossip_over(&a, Duration::from_secs(1)).await;
    assert!(few > 0);
    assert!(
        many < few * 2,
        "steady gossip grew from {few} to {many} bytes/s with 100k names"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
