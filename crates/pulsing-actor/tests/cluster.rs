//! Several systems in one process, on loopback ports chosen by the OS: membership, naming,
//! remote calls and failure detection.

use std::time::{Duration, Instant};

use futures::StreamExt;
use pulsing_actor::prelude::*;

mod common;
use common::{fast, node, wait_for};

#[derive(Serialize, Deserialize)]
enum Cmd {
    Add(i64),
    Stream(u32),
    Fail,
    Hang,
    Blob(Vec<u8>),
}

struct Counter(i64);

/// Set once a `Hang` request is running (so a test knows it reached its node).
static HANGING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[async_trait]
impl Actor for Counter {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        if let (Some("raw"), Message::Single { data, .. }) = (msg.msg_type(), &msg) {
            // Raw bytes, not MessagePack: its length back (the bulk-lane test times the wire).
            return Message::pack(&(data.len() as i64));
        }
        match msg.unpack::<Cmd>()? {
            Cmd::Add(n) => {
                self.0 += n;
                Message::pack(&self.0)
            }
            Cmd::Stream(n) => Ok(Message::stream_of(futures::stream::iter(0..n))),
            Cmd::Fail => Err(PulsingError::business(418, "teapot").into()),
            Cmd::Blob(b) => {
                Message::pack(&(b.len() as i64 + b.iter().map(|x| *x as i64).sum::<i64>() % 7))
            }
            Cmd::Hang => {
                HANGING.store(true, std::sync::atomic::Ordering::SeqCst);
                futures::future::pending::<()>().await;
                unreachable!()
            }
        }
    }
}

/// Resolve `name` from `s` and add `n` to that counter; returns the new value.
async fn add_via(s: &ActorSystem, name: &str, n: i64) -> i64 {
    s.resolve(name)
        .await
        .unwrap()
        .ask::<_, i64>(Cmd::Add(n))
        .await
        .unwrap()
}

async fn three() -> (ActorSystem, ActorSystem, ActorSystem) {
    let a = node(vec![]).await;
    let seed = a.addr().unwrap().to_string();
    let b = node(vec![seed.clone()]).await;
    let c = node(vec![seed]).await;
    for s in [&a, &b, &c] {
        let s = s.clone();
        wait_for("3 members everywhere", Duration::from_secs(5), || {
            let s = s.clone();
            async move { s.members().await.len() == 3 }
        })
        .await;
    }
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_and_list_each_other() {
    let (a, b, c) = three().await;
    let m = b.members().await;
    for s in [&a, &b, &c] {
        let me = m
            .iter()
            .find(|x| x.node_id == s.node_id())
            .expect("every node listed");
        assert_eq!(me.addr.as_deref(), s.addr());
        assert_eq!(me.status, MemberStatus::Alive);
    }
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolve_from_every_node_and_calls_cross_nodes() {
    let (a, b, c) = three().await;
    b.spawn_named("counter", Counter(10)).await.unwrap();
    for s in [&a, &c] {
        let s = s.clone();
        wait_for("the name to spread", Duration::from_secs(5), || {
            let s = s.clone();
            async move { s.resolve("counter").await.is_ok() }
        })
        .await;
    }
    let r = a.resolve("actors/counter").await.unwrap();
    assert_eq!(r.id().node, b.node_id());
    assert_eq!(r.ask::<_, i64>(Cmd::Add(5)).await.unwrap(), 15);
    let r2 = c.actor_ref(&r.id()).await.unwrap();
    r2.tell(Cmd::Add(1)).await.unwrap();
    assert_eq!(r2.ask::<_, i64>(Cmd::Add(0)).await.unwrap(), 16);

    // Typed errors cross the wire.
    let err = r.ask::<_, i64>(Cmd::Fail).await.unwrap_err();
    assert!(
        matches!(err, PulsingError::Business { code: 418, .. }),
        "{err:?}"
    );

    // Streams cross the wire in order, under flow control (more items than the window).
    let m = r
        .ask_message(Message::pack(&Cmd::Stream(100)).unwrap())
        .await
        .unwrap();
    let items: Vec<u32> = m
        .into_stream()
        .unwrap()
        .map(|m| m.unwrap().unpack::<u32>().unwrap())
        .collect()
        .await;
    assert_eq!(items, (0..100).collect::<Vec<_>>());

    let named = c.all_named_actors().await;
    assert!(named
        .iter()
        .any(|n| n.name == "actors/counter" && n.instances[0].node_id == b.node_id()));

    // Stopping the actor drops the name everywhere.
    b.stop("counter").await.unwrap();
    let a2 = a.clone();
    wait_for("the name to vanish", Duration::from_secs(5), || {
        let a = a2.clone();
        async move { a.resolve("counter").await.is_err() }
    })
    .await;
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_leave_is_seen_at_once() {
    let (a, b, c) = three().await;
    c.shutdown().await.unwrap();
    let a2 = a.clone();
    wait_for("c to be dropped", Duration::from_secs(2), || {
        let a = a2.clone();
        async move { a.members().await.len() == 2 }
    })
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_node_is_detected_and_its_pending_calls_fail_at_once() {
    let (a, b, c) = three().await;
    c.spawn_named("victim", Counter(0)).await.unwrap();
    let a2 = a.clone();
    wait_for("victim visible", Duration::from_secs(5), || {
        let a = a2.clone();
        async move { a.resolve("victim").await.is_ok() }
    })
    .await;
    let r = a
        .resolve("victim")
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(30));
    let pending = tokio::spawn(async move { r.ask::<_, i64>(Cmd::Hang).await });
    wait_for(
        "the request to run on c",
        Duration::from_secs(5),
        || async { HANGING.load(std::sync::atomic::Ordering::SeqCst) },
    )
    .await;
    c.cluster().unwrap().halt_without_leave();
    let err = pending.await.unwrap().unwrap_err();
    // Its sockets closed with it: the call fails as its connection does (ConnectionFailed),
    // not at its 30 s timeout (Timeout) nor when c is declared dead (NodeDown).
    assert_eq!(
        err.kind(),
        Some(RuntimeErrorKind::ConnectionFailed),
        "{err:?}"
    );
    for s in [&a, &b] {
        let s = s.clone();
        wait_for("c dropped from members", Duration::from_secs(5), || {
            let s = s.clone();
            async move { s.members().await.len() == 2 }
        })
        .await;
    }
    assert!(
        a.resolve("victim").await.is_err(),
        "names of a dead node are dropped"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_port_closes_that_connection_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, b, c) = three().await;
    b.spawn_named("svc", Counter(1)).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(b.addr().unwrap())
        .await
        .unwrap();
    s.write_all(b"GARBAGE BYTES\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 64];
    // b sends its greeting, then closes on our bad magic: the read ends with EOF.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the bad connection was closed");
    let a2 = a.clone();
    wait_for("svc visible", Duration::from_secs(5), || {
        let a = a2.clone();
        async move { a.resolve("svc").await.is_ok() }
    })
    .await;
    let r = a.resolve("svc").await.unwrap();
    assert_eq!(
        r.ask::<_, i64>(Cmd::Add(1)).await.unwrap(),
        2,
        "b keeps serving everyone else"
    );
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_picks_among_instances_on_several_nodes() {
    let (a, b, c) = three().await;
    for s in [&a, &b, &c] {
        s.spawn_named("svc", Counter(0)).await.unwrap();
    }
    let a2 = a.clone();
    wait_for("3 instances of svc", Duration::from_secs(5), || {
        let a = a2.clone();
        async move {
            a.resolving()
                .list("svc")
                .await
                .map(|v| v.len())
                .unwrap_or(0)
                == 3
        }
    })
    .await;
    let nodes = |v: Vec<ActorRef>| v.into_iter().map(|r| r.id().node).collect::<Vec<_>>();

    // Round robin visits every node.
    let rr = a.resolving().policy(RoundRobinPolicy::new());
    let mut seen = vec![];
    for _ in 0..3 {
        seen.push(rr.resolve("svc").await.unwrap().id().node);
    }
    seen.sort();
    let mut all = nodes(a.resolving().list("svc").await.unwrap());
    all.sort();
    assert_eq!(seen, all);

    // A given node; random and power-of-two return one of the instances.
    let on_b = a
        .resolving()
        .node(b.node_id())
        .resolve("svc")
        .await
        .unwrap();
    assert_eq!(on_b.id().node, b.node_id());
    assert_eq!(on_b.ask::<_, i64>(Cmd::Add(1)).await.unwrap(), 1);
    for r in [
        a.resolving()
            .policy(RandomPolicy::new())
            .resolve("svc")
            .await
            .unwrap(),
        a.resolving()
            .policy(PowerOfTwoPolicy::new())
            .resolve("svc")
            .await
            .unwrap(),
    ] {
        assert!(all.contains(&r.id().node));
    }

    // Consistent hashing: the same key, the same node; the keys spread over nodes.
    let ch = |k: String| {
        let a = a.clone();
        async move {
            a.resolving()
                .policy(ConsistentHashPolicy::new())
                .key(k)
                .resolve("svc")
                .await
                .unwrap()
                .id()
                .node
        }
    };
    assert_eq!(ch("user-7".into()).await, ch("user-7".into()).await);
    let mut spread = std::collections::HashSet::new();
    for i in 0..50 {
        spread.insert(ch(format!("user-{i}")).await);
    }
    assert!(spread.len() > 1, "keys spread over nodes");

    // Lazy refs resolve on use and again after invalidation.
    let lazy = a.resolving().node(c.node_id()).lazy("svc").unwrap();
    assert_eq!(lazy.get().await.unwrap().id().node, c.node_id());
    lazy.invalidate();
    assert_eq!(lazy.get().await.unwrap().id().node, c.node_id());
    assert_eq!(
        a.resolving().resolve("nothing").await.unwrap_err().kind(),
        Some(RuntimeErrorKind::ActorNotFound)
    );
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_made_with_the_fault_hook_heals_without_lost_or_duplicate_names() {
    let (a, b, c) = three().await;
    for (s, n) in [(&a, "on-a"), (&b, "on-b"), (&c, "on-c")] {
        s.spawn_named(n, Counter(0)).await.unwrap();
    }
    let sees_all = |s: ActorSystem| async move {
        let names = s.all_named_actors().await;
        ["actors/on-a", "actors/on-b", "actors/on-c"]
            .iter()
            .all(|n| names.iter().any(|x| x.name == *n && x.instances.len() == 1))
    };
    for s in [&a, &b, &c] {
        let s = s.clone();
        wait_for("all names everywhere", Duration::from_secs(5), || {
            sees_all(s.clone())
        })
        .await;
    }

    // Cut c off from a and b, on both sides.
    a.cluster().unwrap().faults().partition([c.node_id()]);
    b.cluster().unwrap().faults().partition([c.node_id()]);
    c.cluster()
        .unwrap()
        .faults()
        .partition([a.node_id(), b.node_id()]);
    for (s, n) in [(&a, 2), (&b, 2), (&c, 1)] {
        let s = s.clone();
        wait_for(
            "the sides to drop each other",
            Duration::from_secs(5),
            || {
                let s = s.clone();
                async move { s.members().await.len() == n }
            },
        )
        .await;
    }
    assert!(
        a.resolve("on-c").await.is_err(),
        "c's names are gone on a's side"
    );

    for s in [&a, &b, &c] {
        s.cluster().unwrap().faults().heal();
    }
    for s in [&a, &b, &c] {
        let s = s.clone();
        wait_for(
            "the cluster to converge again",
            Duration::from_secs(10),
            || {
                let s = s.clone();
                async move { s.members().await.len() == 3 && sees_all(s.clone()).await }
            },
        )
        .await;
    }
    let r = a.resolve("on-c").await.unwrap();
    assert_eq!(
        r.ask::<_, i64>(Cmd::Add(1)).await.unwrap(),
        1,
        "calls across the healed link work"
    );
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}

async fn tls_node(seeds: Vec<String>, passphrase: Option<&str>) -> ActorSystem {
    let mut cfg = fast(seeds);
    cfg.passphrase = passphrase.map(str::to_string);
    ActorSystem::builder().cluster(cfg).build().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_same_passphrase_joins_others_never_see_or_call_anything() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let a = tls_node(vec![], Some("open sesame")).await;
    let seed = a.addr().unwrap().to_string();
    let b = tls_node(vec![seed.clone()], Some("open sesame")).await;
    let b2 = b.clone();
    wait_for("the TLS cluster to form", Duration::from_secs(5), || {
        let b = b2.clone();
        async move { b.members().await.len() == 2 }
    })
    .await;
    let r = a.spawn_named("vault", Counter(100)).await.unwrap();
    let b3 = b.clone();
    wait_for("vault visible on b", Duration::from_secs(5), || {
        let b = b3.clone();
        async move { b.resolve("vault").await.is_ok() }
    })
    .await;
    assert_eq!(add_via(&b, "vault", 1).await, 101);

    // A wrong passphrase and no passphrase: no handshake, so no member and no call.
    let wrong = tls_node(vec![seed.clone()], Some("open sesame!")).await;
    let plain = tls_node(vec![seed.clone()], None).await;
    // Proving that nothing happens needs a window: 20 sync rounds of the intruders.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for intruder in [&wrong, &plain] {
        assert_eq!(
            intruder.members().await.len(),
            1,
            "an intruder learns no member"
        );
        assert!(intruder.resolve("vault").await.is_err());
        let err = intruder.actor_ref(&r.id()).await.unwrap_err();
        assert_eq!(err.kind(), Some(RuntimeErrorKind::NodeNotFound));
    }
    assert_eq!(
        a.members().await.len(),
        2,
        "the cluster never admitted them"
    );

    // Plaintext bytes to a TLS node: at most a TLS alert comes back, never the protocol,
    // and the connection ends.
    let mut s = tokio::net::TcpStream::connect(&seed).await.unwrap();
    s.write_all(b"PLS1\0\0\0\x05\0\0\0\0hello").await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(6), s.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection was closed, not left hanging");
    assert!(
        !got.starts_with(b"PLS1"),
        "no plaintext protocol answer: {got:?}"
    );
    assert!(
        got.is_empty() || got[0] == 0x15,
        "only a TLS alert record: {got:?}"
    );
    assert_eq!(
        r.ask::<_, i64>(Cmd::Add(0)).await.unwrap(),
        101,
        "a keeps serving"
    );
    for s in [a, b, wrong, plain] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_takes_the_bulk_lane_while_small_asks_keep_flowing() {
    let (a, b, c) = three().await;
    b.spawn_named("sink", Counter(0)).await.unwrap();
    b.spawn_named("pinger", Counter(0)).await.unwrap();
    let a2 = a.clone();
    wait_for("names", Duration::from_secs(5), || {
        let a = a2.clone();
        async move { a.resolve("sink").await.is_ok() && a.resolve("pinger").await.is_ok() }
    })
    .await;
    let sink = a.resolve("sink").await.unwrap();
    let pinger = a.resolve("pinger").await.unwrap();
    let blob: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let expect = blob.len() as i64 + blob.iter().map(|x| *x as i64).sum::<i64>() % 7;
    let big = tokio::spawn(async move { sink.ask::<_, i64>(Cmd::Blob(blob)).await });
    while !big.is_finished() {
        pinger.ask::<_, i64>(Cmd::Add(1)).await.unwrap();
    }
    assert_eq!(
        big.await.unwrap().unwrap(),
        expect,
        "the large message arrived intact"
    );

    // Isolation, against a baseline of the same run: small asks sent one after another while
    // 256 MiB are on the wire (raw bytes: no encoding, the time is the transfer's). Queued
    // behind them on one lane, the first would wait for nearly all of it and few would fit.
    let ask = || async {
        let t0 = Instant::now();
        pinger.ask::<_, i64>(Cmd::Add(0)).await.unwrap();
        t0.elapsed()
    };
    let mut quiet = Vec::new();
    for _ in 0..50 {
        quiet.push(ask().await);
    }
    quiet.sort();
    let sink = a.resolve("sink").await.unwrap();
    let raw = bytes::Bytes::from(vec![7u8; 256 << 20]);
    let t0 = Instant::now();
    let big = tokio::spawn(async move { sink.ask_message(Message::single("raw", raw)).await });
    let mut during = Vec::new();
    while !big.is_finished() {
        let l = ask().await;
        if !big.is_finished() {
            during.push(l);
        }
    }
    let took = t0.elapsed();
    let len: i64 = big.await.unwrap().unwrap().unpack().unwrap();
    assert_eq!(len, 256 << 20);
    during.sort();
    let p99 = during.get(during.len() * 99 / 100).copied();
    eprintln!(
        "256 MiB in {took:?}; quiet p50 {:?}; during it n={} p99={p99:?}",
        quiet[25],
        during.len()
    );
    assert!(
        took > quiet[25] * 20,
        "the transfer ({took:?}) lasts what 20 quiet asks take ({:?} each) at least",
        quiet[25]
    );
    assert!(
        during.len() >= 10,
        "small asks kept flowing during the transfer: {} in {took:?}",
        during.len()
    );
    assert!(
        p99.unwrap() < took / 4,
        "small asks during the transfer: p99 {p99:?} against the transfer's {took:?}"
    );
    for s in [a, b, c] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_node_mode_names_resolve_both_ways_and_survive_a_brief_head_outage() {
    let mut head_cfg = fast(vec![]);
    head_cfg.topology = Topology::Head;
    let head = ActorSystem::builder()
        .cluster(head_cfg)
        .build()
        .await
        .unwrap();
    let worker = |h: String| {
        let mut c = fast(vec![]);
        c.topology = Topology::Worker { head: h };
        ActorSystem::builder().cluster(c).build()
    };
    let w1 = worker(head.addr().unwrap().to_string()).await.unwrap();
    let w2 = worker(head.addr().unwrap().to_string()).await.unwrap();
    for s in [&head, &w1, &w2] {
        let s = s.clone();
        wait_for("3 members", Duration::from_secs(5), || {
            let s = s.clone();
            async move { s.members().await.len() == 3 }
        })
        .await;
    }
    head.spawn_named("on-head", Counter(0)).await.unwrap();
    w1.spawn_named("on-w1", Counter(10)).await.unwrap();
    let (h2, w22) = (head.clone(), w2.clone());
    wait_for("names both ways", Duration::from_secs(5), || {
        let (h, w) = (h2.clone(), w22.clone());
        async move {
            h.resolve("on-w1").await.is_ok()
                && w.resolve("on-head").await.is_ok()
                && w.resolve("on-w1").await.is_ok()
        }
    })
    .await;
    assert_eq!(add_via(&head, "on-w1", 1).await, 11);
    assert_eq!(add_via(&w2, "on-head", 1).await, 1);
    assert_eq!(add_via(&w2, "on-w1", 1).await, 12, "worker to worker");

    // The head is unreachable for a while (longer than any suspicion timeout): workers stay up.
    for w in [&w1, &w2] {
        w.cluster().unwrap().faults().partition([head.node_id()]);
    }
    head.cluster()
        .unwrap()
        .faults()
        .partition([w1.node_id(), w2.node_id()]);
    tokio::time::sleep(Duration::from_millis(800)).await; // an outage is a duration
    for w in [&w1, &w2] {
        assert_eq!(
            w.members().await.len(),
            3,
            "a worker does not drop anyone on its own"
        );
        w.cluster().unwrap().faults().heal();
    }
    head.cluster().unwrap().faults().heal();
    let h3 = head.clone();
    wait_for(
        "the head to take its workers back",
        Duration::from_secs(5),
        || {
            let h = h3.clone();
            async move { h.members().await.len() == 3 && h.resolve("on-w1").await.is_ok() }
        },
    )
    .await;

    // A crashed worker stops reporting: the head declares it dead and tells the others.
    w1.cluster().unwrap().halt_without_leave();
    let w23 = w2.clone();
    wait_for("w1 gone everywhere", Duration::from_secs(5), || {
        let w = w23.clone();
        async move { w.members().await.len() == 2 && w.resolve("on-w1").await.is_err() }
    })
    .await;
    for s in [head, w2] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_the_peer_must_refuse_is_never_sent() {
    let small = |seeds| {
        let mut c = fast(seeds);
        c.max_body = 4096;
        c
    };
    let a = ActorSystem::builder()
        .cluster(small(vec![]))
        .build()
        .await
        .unwrap();
    let b = ActorSystem::builder()
        .cluster(small(vec![a.addr().unwrap().to_string()]))
        .build()
        .await
        .unwrap();
    a.spawn_named("blob", Counter(0)).await.unwrap();
    let b2 = b.clone();
    wait_for("blob visible", Duration::from_secs(5), || {
        let b = b2.clone();
        async move { b.resolve("blob").await.is_ok() }
    })
    .await;
    let r = b.resolve("blob").await.unwrap();
    let err = r
        .ask::<_, i64>(Cmd::Blob(vec![1; 10_000]))
        .await
        .unwrap_err();
    // Refused by the sender, which knows the limit (the peer would close the connection).
    assert_eq!(err.kind(), Some(RuntimeErrorKind::Serialization), "{err:?}");
    assert!(err.to_string().contains("4096-byte limit"), "{err}");
    // The link is fine: small asks still work.
    assert_eq!(r.ask::<_, i64>(Cmd::Blob(vec![1; 10])).await.unwrap(), 13);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_never_ride_a_connection_the_peer_closes_after_its_exchange() {
    // Joining and proving members open one-off connections that their dialer closes once
    // the exchange is over; calls made meanwhile, from the moment a node joins, must not
    // be lost with them.
    let a = node(vec![]).await;
    a.spawn_named("on-a", Counter(0)).await.unwrap();
    let seed = a.addr().unwrap().to_string();
    let mut n = 0;
    let mut nodes = vec![a.clone()];
    for round in 0..4 {
        let joiner = node(vec![seed.clone()]).await;
        joiner
            .spawn_named(&format!("on-{round}"), Counter(0))
            .await
            .unwrap();
        // From its first moment, the joiner calls everyone (third parties prove it by
        // dialing it meanwhile), and everyone calls it.
        let until = Instant::now() + Duration::from_millis(600);
        while Instant::now() < until {
            for (i, other) in nodes.iter().enumerate() {
                let theirs = if i == 0 {
                    "on-a".to_string()
                } else {
                    format!("on-{}", i - 1)
                };
                let pairs = [(&joiner, theirs), (other, format!("on-{round}"))];
                for (from, name) in pairs {
                    if let Ok(r) = from.resolve(&name).await {
                        r.ask::<_, i64>(Cmd::Add(1))
                            .await
                            .unwrap_or_else(|e| panic!("call {n} to {name} failed: {e:?}"));
                        n += 1;
                    }
                }
            }
        }
        nodes.push(joiner);
    }
    assert!(n > 100, "{n} calls");
    for s in nodes {
        s.shutdown().await.unwrap();
    }
}

/// A named Rust actor's figures: counted by its cell, in `metrics()`, and asked of its node
/// by another one (`system/stats`).
#[tokio::test]
async fn a_named_actors_figures_are_counted_and_asked_across_nodes() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    a.spawn_named("stats/counter", Counter(0)).await.unwrap();
    let _anonymous = a.spawn(Counter(0)).await.unwrap();
    wait_for("b to see the name", Duration::from_secs(10), || async {
        b.resolve("stats/counter").await.is_ok()
    })
    .await;
    for _ in 0..3 {
        add_via(&b, "stats/counter", 1).await;
    }
    let r = b.resolve("stats/counter").await.unwrap();
    assert!(r.ask::<_, i64>(Cmd::Fail).await.is_err());

    let m = a.metrics().await;
    assert_eq!(m.actors.len(), 1, "anonymous actors are not counted");
    let s = &m.actors[0];
    assert_eq!(
        (s.name.as_str(), s.handled, s.errors, s.mailbox_depth),
        ("stats/counter", 4, 1, 0)
    );
    assert_eq!(s.latency.count, 4, "a Rust actor times every message");
    assert!(s.latency.is_well_formed());

    let asked = b
        .cluster()
        .unwrap()
        .actor_stats_of(a.node_id(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(asked, m.actors);
    let text = pulsing_actor::http::metrics::render(&m);
    assert!(text.contains("pulsing_actor_messages_total{node=\""));
    assert!(text.contains("actor=\"stats/counter\"} 4\n"));
    assert!(text.contains("pulsing_actor_latency_seconds_count{"));
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

/// What a raw peer gets from `addr` after saying `Hello` (dialed for `to`) and asking
/// "counter" to add 1: the reply's body, or `None` once the node closes the connection.
async fn ask_raw(addr: &str, to: Option<NodeId>) -> Option<i64> {
    use bytes::BytesMut;
    use pulsing_actor::transport::frame::{encode_head, Decoder, Frame, Header, Target, MAGIC};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let Message::Single { msg_type, data } = Message::pack(&Cmd::Add(1)).unwrap() else {
        unreachable!()
    };
    let mut out = BytesMut::from(&MAGIC[..]);
    for f in [
        Frame::bare(Header::Hello {
            node: NodeId::random(),
            addr: "127.0.0.1:1".into(),
            bulk: false,
            to,
        }),
        Frame::new(
            Header::Ask {
                req: 1,
                target: Target::Name("counter".into()),
                tag: msg_type,
                trace: None,
            },
            data,
        ),
    ] {
        encode_head(&f, &mut out).unwrap();
        out.extend_from_slice(&f.body);
    }
    s.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    let dec = Decoder::new(1 << 20);
    loop {
        if buf.len() >= 4 && &buf[..4] == MAGIC {
            let _ = buf.split_to(4);
        }
        while let Some(f) = dec.decode(&mut buf).expect("well-formed frames") {
            if let Header::Reply { tag, .. } = f.header {
                return Some(Message::single(tag, f.body).unpack::<i64>().unwrap());
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_buf(&mut buf)).await;
        if read.expect("an answer or a close within 10 s").unwrap() == 0 {
            return None;
        }
    }
}

/// A node restarted at the address of a member that was there before (a new node id) may
/// get connections dialed for that member. It serves nothing on them: what they carry is
/// meant for the other node (a queue bucket handed over on such a connection, its answer
/// dropped by the dialer that finds the wrong node, was lost).
#[tokio::test]
async fn a_connection_dialed_for_another_node_is_served_nothing() {
    let b = node(vec![]).await;
    b.spawn_named("counter", Counter(0)).await.unwrap();
    let addr = b.addr().unwrap().to_string();
    assert_eq!(
        ask_raw(&addr, Some(NodeId::random())).await,
        None,
        "closed, unanswered"
    );
    assert_eq!(
        ask_raw(&addr, Some(b.node_id())).await,
        Some(1),
        "for it: served"
    );
    assert_eq!(
        ask_raw(&addr, None).await,
        Some(2),
        "for an address: served"
    );
    assert_eq!(
        add_via(&b, "counter", 0).await,
        2,
        "the refused ask never ran"
    );
    b.shutdown().await.unwrap();
}
