//! A node as a gateway for clients: a peer that is not a member asks node A for an actor
//! that lives on node B, and A relays the request and every answer, with end-to-end credit,
//! cancel, and fail-fast when B dies.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{node, wait_for, Ticker};
use parking_lot::Mutex;
use pulsing_actor::prelude::*;
use pulsing_actor::protocol::STREAM_WINDOW;
use pulsing_actor::transport::conn::{self, ConnHandle, ConnLimits, FrameSink, Opening};
use pulsing_actor::transport::frame::{Frame, Header, Target};
use tokio::net::TcpStream;

struct Echo;

#[async_trait]
impl Actor for Echo {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        Ok(msg)
    }
}

/// A client: a raw connection that says hello with a node id no member knows.
#[derive(Default)]
struct Client(Mutex<Vec<Frame>>);

impl FrameSink for Client {
    fn on_frame(&self, _: &Arc<ConnHandle>, f: Frame) {
        self.0.lock().push(f);
    }
    fn on_close(&self, _: &Arc<ConnHandle>, _: Option<String>) {}
}

impl Client {
    fn answers(&self, req: u64) -> Vec<Frame> {
        self.0
            .lock()
            .iter()
            .filter(|f| f.header.answers() == Some(req))
            .cloned()
            .collect()
    }
}

/// Wait until `n` answers to request `req` arrived.
async fn wait_answers(got: &Arc<Client>, req: u64, n: usize, what: &str) {
    wait_for(what, Duration::from_secs(10), || {
        let got = got.clone();
        async move { got.answers(req).len() >= n }
    })
    .await;
}

async fn client(addr: &str, me: NodeId) -> (Arc<ConnHandle>, Arc<Client>) {
    let sink = Arc::new(Client::default());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let c = conn::start(
        Box::new(tcp),
        sink.clone(),
        Opening {
            id: 1,
            dialed: true,
            remote: addr.into(),
            limits: ConnLimits {
                max_body: 1 << 20,
                chunk_bytes: 1 << 16,
                handshake: Duration::from_secs(5),
                idle: Duration::from_secs(60),
            },
            queue: None,
            first: vec![Frame::bare(Header::Hello {
                node: me,
                addr: String::new(),
                bulk: false,
                to: None,
            })],
            traffic: Default::default(),
            plain: None,
        },
    );
    (c, sink)
}

fn ask(req: u64, name: &str, body: Message) -> Frame {
    let Message::Single { msg_type, data } = body else {
        unreachable!()
    };
    Frame::new(
        Header::Ask {
            req,
            target: Target::Name(name.into()),
            tag: msg_type,
            trace: None,
        },
        data,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reaches_an_actor_on_another_node_through_a_gateway() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    let made = Arc::new(AtomicU64::new(0));
    b.spawn_named("svc/echo", Echo).await.unwrap();
    b.spawn_named("svc/ticker", Ticker(made.clone()))
        .await
        .unwrap();
    wait_for("the names to reach the gateway", Duration::from_secs(5), || {
        let a = a.clone();
        async move { a.resolve("svc/echo").await.is_ok() && a.resolve("svc/ticker").await.is_ok() }
    })
    .await;
    let (c, got) = client(a.addr().unwrap(), NodeId(0x00c1_1e47)).await;

    // A call: the reply comes back under the client's own request id.
    let body = Message::pack(&"hello through A".to_string()).unwrap();
    assert!(c.send(ask(11, "svc/echo", body)));
    wait_answers(&got, 11, 1, "the reply").await;
    let reply = got.answers(11).remove(0);
    let Header::Reply { req: 11, tag } = reply.header else {
        panic!("expected the reply to request 11, got {:?}", reply.header)
    };
    let text: String = Message::single(tag, reply.body).unpack().unwrap();
    assert_eq!(text, "hello through A");

    // The client is not a member anywhere.
    assert_eq!(a.members().await.len(), 2);

    // A stream: without credit from the client, the producer on B stops after one window.
    assert!(c.send(ask(12, "svc/ticker", Message::pack(&1_000_000u64).unwrap())));
    wait_answers(&got, 12, STREAM_WINDOW as usize, "a window of items").await;
    let first = made.load(Ordering::SeqCst);
    assert!(
        first <= 2 * STREAM_WINDOW as u64 + 1,
        "the producer ran ahead of the client's credit: {first} items"
    );
    // Credit from the client reaches the producer: more items come.
    assert!(c.send(Frame::bare(Header::Credit { req: 12, n: 128 })));
    wait_answers(&got, 12, STREAM_WINDOW as usize + 128, "items after credit").await;
    // Cancel from the client stops the producer.
    assert!(c.send(Frame::bare(Header::Cancel { req: 12 })));
    let settled = made.load(Ordering::SeqCst);
    assert!(c.send(ask(
        13,
        "svc/echo",
        Message::pack(&"after".to_string()).unwrap()
    )));
    wait_answers(&got, 13, 1, "a later call").await;
    assert!(made.load(Ordering::SeqCst) <= settled + 2 * STREAM_WINDOW as u64);
    assert!(made.load(Ordering::SeqCst) < 1_000_000);

    // A call in flight when the hosting node dies fails at once for the client.
    assert!(c.send(ask(14, "svc/ticker", Message::pack(&0u64).unwrap())));
    // Wait until B has it (a later call through the same path answered).
    assert!(c.send(ask(
        15,
        "svc/echo",
        Message::pack(&"x".to_string()).unwrap()
    )));
    wait_answers(&got, 15, 1, "the call to be in flight").await;
    b.cluster().unwrap().halt_without_leave();
    wait_answers(&got, 14, 1, "the relayed call to fail").await;
    match &got.answers(14)[0].header {
        Header::Error { error, .. } => assert!(
            matches!(
                error.kind.as_deref(),
                Some("ConnectionFailed") | Some("NodeDown")
            ),
            "{error:?}"
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_never_relayed_for() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    b.spawn_named("svc/echo", Echo).await.unwrap();
    wait_for("the name to reach a", Duration::from_secs(5), || {
        let a = a.clone();
        async move { a.resolve("svc/echo").await.is_ok() }
    })
    .await;
    // A connection that says it is B (a member) asks A by name: A does not host the actor
    // and does not forward for members, so the answer is ActorNotFound (no loops).
    let (c, got) = client(a.addr().unwrap(), b.node_id()).await;
    assert!(c.send(ask(21, "svc/echo", Message::pack(&1u8).unwrap())));
    wait_answers(&got, 21, 1, "the answer").await;
    match &got.answers(21)[0].header {
        Header::Error { error, .. } => assert_eq!(error.kind.as_deref(), Some("ActorNotFound")),
        other => panic!("expected ActorNotFound, got {other:?}"),
    }
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
