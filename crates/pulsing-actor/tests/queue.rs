//! Queues across nodes: writers on two nodes, readers by rank on three, every record read
//! once, in order within its bucket, from the bucket's owner.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{node, wait_for};
use pulsing_actor::prelude::*;
use pulsing_actor::queue::{ReadOptions, WriteOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_two_nodes_and_readers_by_rank_on_three_see_every_record_once_in_order() {
    let a = node(vec![]).await;
    let seed = vec![a.addr().unwrap().to_string()];
    let b = node(seed.clone()).await;
    let c = node(seed).await;
    let nodes = [a.clone(), b.clone(), c.clone()];
    for n in &nodes {
        let n = n.clone();
        wait_for("3 members", Duration::from_secs(10), || {
            let n = n.clone();
            async move { n.members().await.len() == 3 }
        })
        .await;
    }
    // Every node agrees on the owners. The 8 buckets of a name may all land on one node
    // (1 name in 2187): the test takes the first name whose buckets are spread.
    let owners_of = |n: &ActorSystem, q: &str| -> Vec<NodeId> {
        (0..8).map(|bk| n.queue_owner(q, bk)).collect()
    };
    let jobs = (0..)
        .map(|k| format!("jobs-{k}"))
        .find(|q| {
            let o = owners_of(&a, q);
            o.iter().any(|x| *x != o[0])
        })
        .unwrap();
    let jobs = jobs.as_str();
    let owners = owners_of(&a, jobs);
    for n in &nodes[1..] {
        assert_eq!(owners_of(n, jobs), owners);
    }

    let opts = WriteOptions {
        num_buckets: 8,
        batch_size: 7,
        ..WriteOptions::new("id")
    };
    let wa = a.queues().writer(jobs, opts.clone()).unwrap();
    let wb = b.queues().writer(jobs, opts).unwrap();
    for i in 0..500u32 {
        let (w, who) = if i % 2 == 0 { (&wa, "a") } else { (&wb, "b") };
        let key = format!("user-{}", i % 37);
        w.put(&key, &(key.clone(), who, i)).await.unwrap();
    }
    wa.flush().await.unwrap();
    wb.flush().await.unwrap();

    let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
    let mut total = 0;
    for (rank, n) in nodes.iter().enumerate() {
        let mut r = n
            .queues()
            .reader(jobs, ReadOptions::rank_of(rank as u32, 3, 8))
            .unwrap();
        loop {
            let got = r.get(64, Duration::ZERO).await.unwrap();
            if got.is_empty() {
                break;
            }
            for m in got {
                let (key, _who, i): (String, String, u32) = m.unpack().unwrap();
                let bucket = pulsing_actor::cluster::queue::bucket::bucket_of(&key, 8);
                assert_eq!(bucket % 3, rank as u32, "rank {rank} read bucket {bucket}");
                seen.entry(key).or_default().push(i);
                total += 1;
            }
        }
    }
    assert_eq!(total, 500, "every record exactly once");
    // Within a key (so within its bucket), a writer's records keep their order.
    for (key, is) in &seen {
        for who in [0, 1] {
            let mine: Vec<u32> = is.iter().copied().filter(|i| i % 2 == who).collect();
            let mut sorted = mine.clone();
            sorted.sort();
            assert_eq!(mine, sorted, "{key}");
        }
    }

    // A reader waiting on an empty bucket wakes when a record arrives.
    let mut r = c.queues().reader(jobs, ReadOptions::buckets([3])).unwrap();
    while !r.get(1000, Duration::ZERO).await.unwrap().is_empty() {}
    let waiting = tokio::spawn(async move { r.get(10, Duration::from_secs(10)).await });
    let key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| pulsing_actor::cluster::queue::bucket::bucket_of(k, 8) == 3)
        .unwrap();
    let w = a
        .queues()
        .writer(
            jobs,
            WriteOptions {
                num_buckets: 8,
                batch_size: 1,
                ..WriteOptions::new("id")
            },
        )
        .unwrap();
    w.put(&key, &(key.clone(), "late", 0u32)).await.unwrap();
    let got = waiting.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);

    // Bad input is refused by name.
    let e = a
        .queues()
        .writer("", WriteOptions::new("id"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("queue name"), "{e}");
    let e = a
        .queues()
        .reader(jobs, ReadOptions::rank_of(5, 3, 8))
        .err()
        .unwrap();
    assert!(e.to_string().contains("rank"), "{e}");
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_node_joins_the_buckets_it_takes_over_bring_their_records_and_readers_go_on() {
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
    let opts = WriteOptions {
        num_buckets: 32,
        batch_size: 5,
        ..WriteOptions::new("id")
    };
    let w = a.queues().writer("moving", opts.clone()).unwrap();
    let put = |from: u32, to: u32| {
        let w = &w;
        async move {
            for i in from..to {
                let key = format!("key-{}", i % 29);
                w.put(&key, &(key.clone(), i)).await.unwrap();
            }
            w.flush().await.unwrap();
        }
    };
    put(0, 200).await;
    // A reader part way through every bucket.
    let mut early = b
        .queues()
        .reader("moving", ReadOptions::rank_of(0, 1, 32))
        .unwrap();
    let mut seen: Vec<u32> = Vec::new();
    for m in early.get(120, Duration::ZERO).await.unwrap() {
        seen.push(m.unpack::<(String, u32)>().unwrap().1);
    }
    let owners_before: Vec<NodeId> = (0..32).map(|bk| a.queue_owner("moving", bk)).collect();

    // C joins: it becomes the owner of some buckets.
    let c = node(vec![a.addr().unwrap().to_string()]).await;
    for n in [&a, &b, &c] {
        let n = n.clone();
        wait_for("3 members", Duration::from_secs(10), || {
            let n = n.clone();
            async move { n.members().await.len() == 3 }
        })
        .await;
    }
    let moved: Vec<u32> = (0..32)
        .filter(|bk| a.queue_owner("moving", *bk) == c.node_id())
        .collect();
    assert!(!moved.is_empty(), "C took no bucket: {owners_before:?}");
    put(200, 400).await;

    // The early reader goes on where it was: every record once, nothing skipped.
    loop {
        let got = early.get(100, Duration::ZERO).await.unwrap();
        if got.is_empty() {
            break;
        }
        seen.extend(got.iter().map(|m| m.unpack::<(String, u32)>().unwrap().1));
    }
    seen.sort();
    assert_eq!(seen, (0..400).collect::<Vec<_>>());
    // A reader from the start, on the newcomer, sees them all too, in order per key.
    let mut fresh = c
        .queues()
        .reader("moving", ReadOptions::rank_of(0, 1, 32))
        .unwrap();
    let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
    loop {
        let got = fresh.get(1000, Duration::ZERO).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            let (k, i): (String, u32) = m.unpack().unwrap();
            by_key.entry(k).or_default().push(i);
        }
    }
    assert_eq!(by_key.values().map(Vec::len).sum::<usize>(), 400);
    for (k, is) in by_key {
        let mut sorted = is.clone();
        sorted.sort();
        assert_eq!(is, sorted, "{k}");
    }
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_on_both_sides_of_a_partition_all_reach_the_owner_once_it_heals() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    let sees = |n: &ActorSystem, k: usize, what: &'static str| {
        let n = n.clone();
        async move {
            wait_for(what, Duration::from_secs(15), || {
                let n = n.clone();
                async move { n.members().await.len() == k }
            })
            .await
        }
    };
    sees(&a, 2, "a to see b").await;
    sees(&b, 2, "b to see a").await;
    // Each side declares the other dead, and owns every bucket in its own view.
    a.cluster().unwrap().faults().partition([b.node_id()]);
    b.cluster().unwrap().faults().partition([a.node_id()]);
    sees(&a, 1, "a alone").await;
    sees(&b, 1, "b alone").await;
    let opts = WriteOptions {
        num_buckets: 8,
        batch_size: 10,
        ..WriteOptions::new("id")
    };
    for (side, n) in [("a", &a), ("b", &b)] {
        let w = n.queues().writer("split", opts.clone()).unwrap();
        for i in 0..100u32 {
            let key = format!("key-{i}");
            w.put(&key, &(side.to_string(), i)).await.unwrap();
        }
        w.flush().await.unwrap();
    }
    a.cluster().unwrap().faults().heal();
    b.cluster().unwrap().faults().heal();
    sees(&a, 2, "a to see b again").await;
    sees(&b, 2, "b to see a again").await;
    // Once the views agree, each side hands the buckets it holds but does not own to their
    // owner: a reader sees all 200 records.
    wait_for("every record at its owner", Duration::from_secs(15), || {
        let a = a.clone();
        async move {
            let mut r = a
                .queues()
                .reader("split", ReadOptions::rank_of(0, 1, 8))
                .unwrap();
            let mut n = 0;
            loop {
                let got = r.get(1000, Duration::ZERO).await.unwrap_or_default();
                if got.is_empty() {
                    break;
                }
                n += got.len();
            }
            n == 200
        }
    })
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_a_gib_of_records_and_refuses_the_put_past_it_losing_nothing() {
    use pulsing_actor::cluster::queue::store::MEMORY_LIMIT;
    let sys = ActorSystem::builder().build().await.unwrap();
    let opts = WriteOptions {
        num_buckets: 1,
        batch_size: 1,
        ..WriteOptions::new("id")
    };
    let w = sys.queues().writer("full", opts).unwrap();
    // 4 MiB records (and a few bytes of encoding each): 255 fit in 1 GiB, the 256th does not.
    let big = serde_bytes::ByteBuf::from(vec![7u8; 4 << 20]);
    let mut accepted = 0u32;
    let refused = loop {
        assert!(
            accepted < 300,
            "{accepted} records of 4 MiB accepted: no limit"
        );
        match w.put("k", &(accepted, &big)).await {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(accepted, 255);
    assert_eq!(refused.kind(), Some(RuntimeErrorKind::Stopped), "{refused}");
    assert!(
        refused.to_string().contains(&format!(
            "keeps {MEMORY_LIMIT} bytes of records at most and is full"
        )),
        "{refused}"
    );
    // Nothing accepted was dropped, nothing refused was kept; the node still serves reads.
    let mut r = sys
        .queues()
        .reader("full", ReadOptions::buckets([0]))
        .unwrap();
    let mut ids = Vec::new();
    loop {
        let got = r.get(16, Duration::ZERO).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            let (id, bytes): (u32, serde_bytes::ByteBuf) = m.unpack().unwrap();
            assert_eq!(bytes.len(), 4 << 20);
            ids.push(id);
        }
    }
    assert_eq!(ids, (0..255).collect::<Vec<u32>>());
    sys.shutdown().await.unwrap();
}
