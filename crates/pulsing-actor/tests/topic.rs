//! Topics across nodes: subscribers on three nodes, the four publish modes, a dead
//! subscriber node, and a slow subscriber that never slows the others.

mod common;

use std::time::{Duration, Instant};

use common::{fast, node, wait_for};
use pulsing_actor::cluster::node::SUBSCRIBER_BUFFER;
use pulsing_actor::prelude::*;
use pulsing_actor::topic::{PublishMode, Published, Subscription, BEST_EFFORT_WAIT};

/// The next message of `s`, as a string, within a deadline (a lost message fails the test
/// instead of hanging it).
async fn next(s: &mut Subscription) -> String {
    tokio::time::timeout(Duration::from_secs(10), s.recv())
        .await
        .expect("a message within 10 s")
        .expect("the subscription lives")
        .unpack()
        .unwrap()
}

fn published(delivered: u32, failed: u32) -> Published {
    Published { delivered, failed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_subscribers_on_every_node_and_each_mode_counts_what_it_waited_for() {
    let a = node(vec![]).await;
    let seed = vec![a.addr().unwrap().to_string()];
    let b = node(seed.clone()).await;
    let c = node(seed).await;
    let b_id = b.node_id();
    let mut sa = a.topics().subscribe("events").unwrap();
    let mut sb = b.topics().subscribe("events").unwrap();
    let mut sc = c.topics().subscribe("events").unwrap();
    wait_for(
        "every node to know the subscribers",
        Duration::from_secs(10),
        || {
            let a = a.clone();
            async move { a.instances("system/topics/events").unwrap().len() == 3 }
        },
    )
    .await;
    let t = a.topics();
    let all = t
        .publish_value("events", &"one", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!(
        all,
        Published {
            delivered: 3,
            failed: 0
        }
    );
    for s in [&mut sa, &mut sb, &mut sc] {
        assert_eq!(next(s).await, "one");
    }
    let best = t
        .publish_value("events", &"two", PublishMode::BestEffort)
        .await
        .unwrap();
    assert_eq!(
        best,
        Published {
            delivered: 3,
            failed: 0
        }
    );
    // a has a subscriber of its own: it has the message at once, and the others are not
    // waited for (the remote path is `wait_any_ack_returns_on_the_first_node...` below).
    let any = t
        .publish_value("events", &"three", PublishMode::WaitAnyAck)
        .await
        .unwrap();
    assert_eq!(any, published(1, 0));
    let fire = t
        .publish_value("events", &"four", PublishMode::FireAndForget)
        .await
        .unwrap();
    assert_eq!(fire.failed, 0);
    // Every subscriber got all four, in order.
    for s in [&mut sa, &mut sb, &mut sc] {
        for want in ["two", "three", "four"] {
            assert_eq!(next(s).await, want);
        }
    }

    // A subscriber node gone (a crash: no leave) while still registered: waiting modes count
    // it one failure (its connection is refused), and do not hang. Then, once failure
    // detection dropped it, nobody is waited for.
    c.cluster().unwrap().halt_without_leave();
    assert_eq!(
        a.instances("system/topics/events").unwrap().len(),
        3,
        "c is still registered (failure detection takes a suspicion timeout)"
    );
    let all = t
        .publish_value("events", &"five", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!(all, published(2, 1));
    let a2 = a.clone();
    wait_for(
        "a to drop c's subscription",
        Duration::from_secs(10),
        || {
            let a = a2.clone();
            async move { a.instances("system/topics/events").unwrap().len() == 2 }
        },
    )
    .await;
    let all = t
        .publish_value("events", &"six", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!(all, published(2, 0));

    // A subscriber that never reads fills its buffer and then loses messages; the other
    // subscriber on the same node gets every one.
    let slow = b.topics().subscribe("burst").unwrap();
    let mut fast = b.topics().subscribe("burst").unwrap();
    wait_for(
        "the burst subscribers to be known",
        Duration::from_secs(10),
        || {
            let a = a.clone();
            async move { a.instances("system/topics/burst").unwrap().len() == 1 }
        },
    )
    .await;
    let n = SUBSCRIBER_BUFFER + 50;
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            got += fast.recv_many(256).await.len();
        }
        got
    });
    let mut failed = 0;
    for i in 0..n {
        failed += t
            .publish_value("burst", &i, PublishMode::WaitAllAcks)
            .await
            .unwrap()
            .failed;
    }
    assert_eq!(failed, 50, "the slow subscriber loses what does not fit");
    let got = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the quick subscriber got them within 20 s");
    assert_eq!(got.unwrap(), n);
    // Unsubscribed: the node stops announcing a topic once its last subscriber there is gone
    // (`fast` went with the reader task).
    assert_eq!(a.instances("system/topics/burst").unwrap().len(), 1);
    drop(slow);
    drop(sb);
    let a2 = a.clone();
    wait_for("b to withdraw both topics", Duration::from_secs(10), || {
        let a = a2.clone();
        let on_b = move |t: &str| a.instances(t).unwrap().iter().any(|i| i.node_id == b_id);
        async move { !on_b("system/topics/burst") && !on_b("system/topics/events") }
    })
    .await;
    let all = t
        .publish_value("events", &"seven", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!(all, published(1, 0), "only a's own subscriber is left");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_any_ack_returns_on_the_first_node_and_best_effort_gives_up_on_a_silent_one() {
    // The publisher has no subscriber of its own: every mode goes over the wire. Its calls
    // time out after 2 s. No node declares another dead during the test: a's probes of c are
    // slowed or dropped below, so a suspects c, and with the usual test timings the others
    // could confirm it before c's refutation reaches them (a NodeDown then fails the
    // deliveries to c early, which is not what is tested here).
    let steady = |seeds: Vec<String>| {
        let mut cfg = fast(seeds);
        cfg.suspicion_timeout = Duration::from_secs(60);
        cfg
    };
    let a = ActorSystem::builder()
        .cluster(steady(vec![]))
        .default_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let seed = vec![a.addr().unwrap().to_string()];
    let b = ActorSystem::builder()
        .cluster(steady(seed.clone()))
        .build()
        .await
        .unwrap();
    let c = ActorSystem::builder()
        .cluster(steady(seed))
        .build()
        .await
        .unwrap();
    let mut sb = b.topics().subscribe("news").unwrap();
    let mut sc = c.topics().subscribe("news").unwrap();
    let a2 = a.clone();
    wait_for(
        "a to know both subscribers",
        Duration::from_secs(10),
        || {
            let a = a2.clone();
            async move { a.instances("system/topics/news").unwrap().len() == 2 }
        },
    )
    .await;
    let t = a.topics();
    let c_id = c.node_id();
    assert_eq!(
        t.publish_value("news", &"all", PublishMode::WaitAllAcks)
            .await
            .unwrap(),
        published(2, 0)
    );
    assert_eq!(next(&mut sb).await, "all");
    assert_eq!(next(&mut sc).await, "all");

    // c answers 3 s late: wait-any-ack returns with b's ack alone (waiting for all would
    // have counted 2), and best-effort gives up on c at its 1 s cap (waiting longer would
    // have counted c delivered).
    let faults = a.cluster().unwrap().faults();
    faults.delay(c_id, Duration::from_secs(3));
    assert_eq!(
        t.publish_value("news", &"any", PublishMode::WaitAnyAck)
            .await
            .unwrap(),
        published(1, 0)
    );
    let t0 = Instant::now();
    let best = t
        .publish_value("news", &"best", PublishMode::BestEffort)
        .await
        .unwrap();
    let waited = t0.elapsed();
    assert_eq!(best, published(1, 1));
    assert!(
        waited >= BEST_EFFORT_WAIT - Duration::from_millis(5),
        "best-effort waited its cap for c: {waited:?}"
    );
    assert_eq!(next(&mut sb).await, "any");
    assert_eq!(next(&mut sb).await, "best");
    // Late, but delivered: c gets both, in order.
    faults.heal();
    assert_eq!(next(&mut sc).await, "any");
    assert_eq!(next(&mut sc).await, "best");

    // c silent (every frame to it dropped): wait-all-acks counts it one failure at the call
    // timeout; fire-and-forget counts nothing it could not know.
    faults.partition([c_id]);
    let all = t
        .publish_value("news", &"silent", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!(all, published(1, 1));
    assert_eq!(
        t.publish_value("news", &"fire", PublishMode::FireAndForget)
            .await
            .unwrap(),
        published(0, 0)
    );
    assert_eq!(next(&mut sb).await, "silent");
    assert_eq!(next(&mut sb).await, "fire");
    faults.heal();
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}
