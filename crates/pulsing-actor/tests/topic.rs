//! Topics across nodes: subscribers on three nodes, the four publish modes, a dead
//! subscriber node, and a slow subscriber that never slows the others.

mod common;

use std::time::Duration;

use common::{node, wait_for};
use pulsing_actor::cluster::node::SUBSCRIBER_BUFFER;
use pulsing_actor::topic::{PublishMode, Published};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_subscribers_on_every_node_and_each_mode_counts_what_it_waited_for() {
    let a = node(vec![]).await;
    let seed = vec![a.addr().unwrap().to_string()];
    let b = node(seed.clone()).await;
    let c = node(seed).await;
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
        let m: String = s.recv().await.unwrap().unpack().unwrap();
        assert_eq!(m, "one");
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
    let any = t
        .publish_value("events", &"three", PublishMode::WaitAnyAck)
        .await
        .unwrap();
    assert!(any.delivered >= 1 && any.failed == 0, "{any:?}");
    let fire = t
        .publish_value("events", &"four", PublishMode::FireAndForget)
        .await
        .unwrap();
    assert_eq!(fire.failed, 0);
    // Every subscriber got all four, in order.
    for s in [&mut sa, &mut sb, &mut sc] {
        for want in ["two", "three", "four"] {
            let m: String = tokio::time::timeout(Duration::from_secs(5), s.recv())
                .await
                .unwrap()
                .unwrap()
                .unpack()
                .unwrap();
            assert_eq!(m, want);
        }
    }

    // A subscriber node killed: waiting modes count it failed, and do not hang.
    c.cluster().unwrap().halt_without_leave();
    let all = t
        .publish_value("events", &"five", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!(all.delivered, 2, "{all:?}");
    assert!(all.failed <= 1, "{all:?}");

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
    assert_eq!(reader.await.unwrap(), n);
    drop(slow);
    // Unsubscribed: the node stops announcing the topic once its last subscriber is gone.
    drop(sb);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
