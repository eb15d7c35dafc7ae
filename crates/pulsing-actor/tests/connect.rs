//! `Connect` from Rust: a process that is not a node calls actors anywhere in the cluster
//! through a gateway, streams with cancel, and fails over to the next gateway when the
//! active one dies.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fast, node, wait_for, within, Ticker};
use futures::StreamExt;
use pulsing_actor::prelude::*;
use pulsing_actor::protocol::STREAM_WINDOW;

struct Echo;

#[async_trait]
impl Actor for Echo {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        let s: String = msg.unpack()?;
        if s == "fail" {
            anyhow::bail!("asked to fail");
        }
        Message::pack(&s)
    }
}

type Call =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Message, PulsingError>> + Send>>;

/// A call to the ticker that never answers, sent (polled once) before this returns: a call
/// made after it on the same link is behind it.
async fn in_flight(ticker: &ActorRef) -> Call {
    let t = ticker.clone();
    let mut call: Call =
        Box::pin(async move { t.ask_message(Message::pack(&0u64).unwrap()).await });
    assert!(futures::poll!(&mut call).is_pending());
    call
}

/// Three nodes; `svc/echo` and `svc/ticker` live on the third.
async fn cluster() -> (Vec<ActorSystem>, Arc<AtomicU64>) {
    let a = node(vec![]).await;
    let seed = vec![a.addr().unwrap().to_string()];
    let b = node(seed.clone()).await;
    let c = node(seed).await;
    let made = Arc::new(AtomicU64::new(0));
    c.spawn_named("svc/echo", Echo).await.unwrap();
    c.spawn_named("svc/ticker", Ticker(made.clone()))
        .await
        .unwrap();
    let all = vec![a, b, c];
    for s in &all {
        let s = s.clone();
        wait_for("the cluster and its names", Duration::from_secs(10), || {
            let s = s.clone();
            async move { s.members().await.len() == 3 && s.resolve("svc/ticker").await.is_ok() }
        })
        .await;
    }
    (all, made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_calls_and_streams_through_a_gateway_it_is_not_a_member_of() {
    let (nodes, made) = cluster().await;
    let conn = Connect::to([nodes[0].addr().unwrap()]).await.unwrap();
    assert_eq!(conn.gateway().as_deref(), nodes[0].addr());

    // An actor on node C, reached through gateway A.
    let echo = conn.resolve("svc/echo").await.unwrap();
    assert_eq!(echo.id().node, nodes[2].node_id());
    let back: String = echo.ask("through A".to_string()).await.unwrap();
    assert_eq!(back, "through A");
    // Errors arrive with their class.
    let e = echo.ask::<_, String>("fail".to_string()).await.unwrap_err();
    assert!(matches!(e, PulsingError::System { .. }), "{e:?}");
    assert!(e.to_string().contains("asked to fail"), "{e}");
    let e = conn.resolve("svc/nobody").await.unwrap_err();
    assert_eq!(e.kind(), Some(RuntimeErrorKind::ActorNotFound), "{e}");

    // A stream, dropped early: the producer on C stops instead of running on.
    let ticker = conn.resolve("svc/ticker").await.unwrap();
    let Message::Stream(mut items) = ticker
        .ask_message(Message::pack(&1_000_000u64).unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a stream")
    };
    let mut seen = 0u64;
    while let Some(item) = items.next().await {
        let i: u64 = item.unwrap().unpack().unwrap();
        assert_eq!(i, seen);
        seen += 1;
        if seen == 3 * STREAM_WINDOW as u64 {
            break;
        }
    }
    drop(items);
    let stopped_at = made.load(Ordering::SeqCst);
    // Wait for a later call through the same path: the cancel went before it.
    let _: String = echo.ask("after".to_string()).await.unwrap();
    let _: String = echo.ask("after".to_string()).await.unwrap();
    assert!(made.load(Ordering::SeqCst) <= stopped_at + 2 * STREAM_WINDOW as u64);
    assert!(made.load(Ordering::SeqCst) < 1_000_000);

    // Never a member, anywhere.
    for n in &nodes {
        assert_eq!(n.members().await.len(), 3);
    }

    // The hosting node cut off from the cluster (its connections stay open): once the
    // gateway declares it dead, the call in flight fails with NodeDown, not at its timeout.
    let mut stuck = in_flight(&ticker).await;
    let _: String = echo.ask("ready".to_string()).await.unwrap();
    nodes[2]
        .cluster()
        .unwrap()
        .faults()
        .partition([nodes[0].node_id(), nodes[1].node_id()]);
    let e = match (&mut stuck).await {
        Err(e) => e,
        Ok(_) => panic!("a call to a node declared dead must fail"),
    };
    assert_eq!(e.kind(), Some(RuntimeErrorKind::NodeDown), "{e}");
    conn.close().await;
    // Not `shutdown` for C: it would wait for the ticker, still inside the call.
    nodes[2].cluster().unwrap().halt_without_leave();
    for n in &nodes[..2] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_active_gateway_dies_calls_in_flight_fail_at_once_and_the_next_go_elsewhere() {
    let (nodes, _) = cluster().await;
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| n.addr().unwrap().to_string())
        .collect();
    let conn = Connect::to([addrs[0].clone(), addrs[1].clone()])
        .await
        .unwrap();
    let ticker = conn.resolve("svc/ticker").await.unwrap();
    let echo = conn.resolve("svc/echo").await.unwrap();
    let mut stuck = in_flight(&ticker).await;
    // The stuck call went out on the link before this one, which came back.
    let _: String = echo.ask("ready".to_string()).await.unwrap();
    nodes[0].cluster().unwrap().halt_without_leave();
    let e = match (&mut stuck).await {
        Err(e) => e,
        Ok(_) => panic!("a call in flight on a dead gateway must fail"),
    };
    // As its link closed (a client has no failure detector; a timeout would be Timeout).
    assert_eq!(e.kind(), Some(RuntimeErrorKind::ConnectionFailed), "{e}");
    // The next call goes through the other gateway, by itself.
    let back: String = echo.ask("via B".to_string()).await.unwrap();
    assert_eq!(back, "via B");
    assert_eq!(conn.gateway().as_deref(), Some(addrs[1].as_str()));

    // The gateway list, refreshed from the cluster, is the live members.
    wait_for(
        "A to be gone from B's view",
        Duration::from_secs(10),
        || {
            let b = nodes[1].clone();
            async move { b.members().await.len() == 2 }
        },
    )
    .await;
    let mut list = conn.refresh_gateways().await.unwrap();
    list.sort();
    let mut expect = vec![addrs[1].clone(), addrs[2].clone()];
    expect.sort();
    assert_eq!(list, expect);
    // B dies too: the refreshed list brings C in.
    nodes[1].cluster().unwrap().halt_without_leave();
    let mut tries = 0;
    let back: String = loop {
        // The first call may be the one in flight when B's link closed.
        match echo.ask::<_, String>("via C".to_string()).await {
            Ok(v) => break v,
            Err(e) if tries == 0 => {
                assert_eq!(e.kind(), Some(RuntimeErrorKind::ConnectionFailed), "{e}");
                tries += 1;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(back, "via C");
    assert_eq!(conn.gateway().as_deref(), Some(addrs[2].as_str()));
    conn.close().await;
    // Not `shutdown`: it would wait for the ticker, still inside the call that never ends.
    nodes[2].cluster().unwrap().halt_without_leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_needs_the_clusters_passphrase_and_counts_against_its_connection_cap() {
    let mut cfg = fast(vec![]);
    cfg.passphrase = Some("s3cret".into());
    cfg.max_connections = 8;
    let gw = ActorSystem::builder().cluster(cfg).build().await.unwrap();
    gw.spawn_named("svc/echo", Echo).await.unwrap();
    let addr = gw.addr().unwrap().to_string();
    let with = |p: Option<&str>| ConnectOptions {
        passphrase: p.map(str::to_string),
        connect_timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    };

    let wrong = Connect::with_options([addr.clone()], with(Some("guess"))).await;
    let e = wrong.err().expect("a wrong passphrase must not connect");
    assert_eq!(e.kind(), Some(RuntimeErrorKind::ConnectionFailed), "{e}");
    let none = Connect::with_options([addr.clone()], with(None)).await;
    assert!(none.is_err(), "no passphrase must not connect either");

    let conn = Connect::with_options([addr.clone()], with(Some("s3cret")))
        .await
        .unwrap();
    let back: String = conn
        .resolve("svc/echo")
        .await
        .unwrap()
        .ask("secure".to_string())
        .await
        .unwrap();
    assert_eq!(back, "secure");

    // Connectors take connections like anyone: past the cap, the gateway refuses them.
    let mut open = vec![conn];
    let refused = loop {
        match Connect::with_options([addr.clone()], with(Some("s3cret"))).await {
            Ok(c) => open.push(c),
            Err(e) => break e,
        }
        assert!(open.len() <= 8, "more connectors than max_connections");
    };
    assert_eq!(refused.kind(), Some(RuntimeErrorKind::ConnectionFailed));
    // The gateway still serves the ones it took.
    let back: String = open[0]
        .resolve("svc/echo")
        .await
        .unwrap()
        .ask("still".to_string())
        .await
        .unwrap();
    assert_eq!(back, "still");
    for c in open {
        c.close().await;
    }
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn connecting_to_nothing_fails_with_every_reason() {
    let e = Connect::to(["127.0.0.1:1", "127.0.0.1:2"])
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind(), Some(RuntimeErrorKind::ConnectionFailed), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("127.0.0.1:1") && msg.contains("127.0.0.1:2"),
        "{msg}"
    );
    let e = Connect::to(Vec::<String>::new()).await.err().unwrap();
    assert_eq!(e.kind(), Some(RuntimeErrorKind::Config), "{e}");
    let e = Connect::to(["nowhere"]).await.err().unwrap();
    assert!(e.to_string().contains("gateways"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_publishes_and_subscribes_to_topics_through_its_gateway() {
    use pulsing_actor::topic::PublishMode;
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    let mut on_b = b.topics().subscribe("news").unwrap();
    let conn = Connect::to([a.addr().unwrap()]).await.unwrap();
    // Published by the client: the gateway fans out to the member's subscriber.
    wait_for(
        "b's subscriber to be known",
        Duration::from_secs(10),
        || {
            let t = conn.topics();
            async move {
                t.publish_value("news", &"probe", PublishMode::WaitAllAcks)
                    .await
                    .unwrap()
                    .delivered
                    == 1
            }
        },
    )
    .await;
    let sent = conn
        .topics()
        .publish_value("news", &"from the client", PublishMode::WaitAllAcks)
        .await
        .unwrap();
    assert_eq!((sent.delivered, sent.failed), (1, 0));
    loop {
        let m: String = within(on_b.recv()).await.unwrap().unpack().unwrap();
        if m == "from the client" {
            break;
        }
    }
    // Subscribed by the client: the gateway subscribes for it and streams here; dropping
    // the subscription unsubscribes there.
    let mut mine = conn.topics().subscribe("alerts").unwrap();
    wait_for("the client's subscription", Duration::from_secs(10), || {
        let t = b.topics();
        async move {
            t.publish_value("alerts", &"hello", PublishMode::WaitAllAcks)
                .await
                .unwrap()
                .delivered
                == 1
        }
    })
    .await;
    let m: String = within(mine.recv()).await.unwrap().unpack().unwrap();
    assert_eq!(m, "hello");
    drop(mine);
    wait_for(
        "the gateway to unsubscribe",
        Duration::from_secs(10),
        || {
            let t = b.topics();
            async move {
                t.publish_value("alerts", &"gone", PublishMode::WaitAllAcks)
                    .await
                    .unwrap()
                    .delivered
                    == 0
            }
        },
    )
    .await;
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connectors_batches_are_written_to_its_gateway_link_in_place() {
    let (nodes, _) = cluster().await;
    let conn = Connect::to([nodes[0].addr().unwrap()]).await.unwrap();
    let echo = conn.resolve("svc/echo").await.unwrap().id();
    let sys = conn.into_system();
    let client = sys.cluster().unwrap();
    // What a JS tick's calls become (one batch for one node): on a client, they go to its
    // gateway link at once, written by the sending thread while that link's writer is idle,
    // as a member's go to the node's link. A writer busy with a keepalive takes them instead,
    // so a few batches may be needed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (to, frame) = client
            .foreign_request_frame(
                echo.node,
                None,
                (Some(echo.local), None),
                (bytes::Bytes::from_static(b"\xa2hi"), vec![]),
                None,
            )
            .unwrap();
        let mut sent = Vec::new();
        client.foreign_send_all(to, vec![frame], &mut sent);
        let link = *sent[0].as_ref().unwrap();
        if client.in_place_stats(link).unwrap().0 > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a client's batch was never written in place"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sys.shutdown().await.unwrap();
    for n in &nodes {
        n.shutdown().await.unwrap();
    }
}
