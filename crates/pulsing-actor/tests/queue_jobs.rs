//! A queue as a job queue: a consumer group's reader gives a record back with a delay
//! (`nack`), each delivery says how many times the record was handed out, a record that
//! keeps failing goes to the dead letters (`<queue>.dead`, a queue like any other), and a
//! record put with a delay reaches the group only then. On one node and across two (the
//! dead letters' bucket may live on another node than the record's).

mod common;

use std::time::{Duration, Instant};

use common::{node, wait_for};
use pulsing_actor::prelude::*;
use pulsing_actor::queue::{Delivery, GroupOptions, GroupReader, ReadOptions, WriteOptions};

/// The next records of `g`, waiting up to 10 s for one.
async fn next(g: &mut GroupReader) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = g.get(10, Duration::from_millis(200)).await.unwrap();
        if !got.is_empty() {
            return got;
        }
        assert!(Instant::now() < deadline, "no record within 10 s");
    }
}

fn value(d: &Delivery) -> (String, u32) {
    d.message.unpack().unwrap()
}

async fn jobs_on(writer: &ActorSystem, reader: &ActorSystem, q: &str) {
    let opts = WriteOptions {
        num_buckets: 1,
        batch_size: 1,
        ..WriteOptions::new("id")
    };
    let w = writer.queues().writer(q, opts).unwrap();
    let group = GroupOptions {
        max_deliveries: 2,
        ..GroupOptions::all(1)
    };
    let mut g = reader.queues().group_reader(q, "workers", group).unwrap();

    // Handed out once; given back with a delay: not before it, then a second time.
    w.put("k", &("k".to_string(), 1u32)).await.unwrap();
    w.flush().await.unwrap();
    let first = next(&mut g).await;
    assert_eq!((value(&first[0]).1, first[0].deliveries), (1, 1));
    let given_back = Instant::now();
    g.nack(&first, Duration::from_millis(300)).await.unwrap();
    assert!(
        g.get(10, Duration::ZERO).await.unwrap().is_empty(),
        "held back for its delay"
    );
    let second = next(&mut g).await;
    assert!(given_back.elapsed() >= Duration::from_millis(290));
    assert_eq!((value(&second[0]).1, second[0].deliveries), (1, 2));

    // It fails a second time, at its limit: moved to the dead letters, and the group goes on.
    g.nack(&second, Duration::ZERO).await.unwrap();
    let dead = format!("{q}.dead");
    let mut dr = reader
        .queues()
        .reader(&dead, ReadOptions::buckets([0]))
        .unwrap();
    let dlq = tokio::time::timeout(Duration::from_secs(10), dr.get(10, Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].unpack::<(String, u32)>().unwrap(),
        ("k".to_string(), 1)
    );
    w.put("k", &("k".to_string(), 2u32)).await.unwrap();
    w.flush().await.unwrap();
    let after = next(&mut g).await;
    assert_eq!(
        value(&after[0]).1,
        2,
        "the given-up record is not handed out again"
    );
    g.ack(&after).await.unwrap();

    // Put with a delay: a plain reader sees it at once; the group only after the delay.
    let put_at = Instant::now();
    w.put_delayed("k", &("k".to_string(), 3u32), Duration::from_millis(400))
        .await
        .unwrap();
    w.flush().await.unwrap();
    let mut plain = reader
        .queues()
        .reader(q, ReadOptions::buckets([0]))
        .unwrap();
    let all: Vec<u32> = plain
        .get(10, Duration::ZERO)
        .await
        .unwrap()
        .iter()
        .map(|m| m.unpack::<(String, u32)>().unwrap().1)
        .collect();
    assert_eq!(all, vec![1, 2, 3]);
    assert!(
        g.get(10, Duration::ZERO).await.unwrap().is_empty(),
        "not yet"
    );
    let delayed = next(&mut g).await;
    assert!(put_at.elapsed() >= Duration::from_millis(390));
    assert_eq!((value(&delayed[0]).1, delayed[0].deliveries), (3, 1));
    g.ack(&delayed).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queue_on_one_node() {
    let sys = ActorSystem::builder().build().await.unwrap();
    jobs_on(&sys, &sys, "jobs-one").await;
    sys.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queue_across_two_nodes() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    for n in [&a, &b] {
        let n = n.clone();
        wait_for("2 members", Duration::from_secs(10), || {
            let n = n.clone();
            async move { n.members().await.len() == 2 }
        })
        .await;
    }
    // The queue's bucket on one node, its dead letters' on the other: the hand-off crosses.
    let q = (0..)
        .map(|k| format!("jobs-{k}"))
        .find(|q| a.queue_owner(q, 0) != a.queue_owner(&format!("{q}.dead"), 0))
        .unwrap();
    jobs_on(&a, &b, &q).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
