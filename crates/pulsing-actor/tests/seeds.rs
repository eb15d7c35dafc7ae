//! The Rust snippets of the original system's docs (the LLM binding guide and the API
//! reference), each written as those docs show it, inside the scaffolding a program needs
//! (a system, an actor to spawn). Code copied from the docs must run.

mod common;

use std::time::Duration;

use common::{node, wait_for};
use pulsing_actor::prelude::*;

#[derive(Serialize, Deserialize)]
struct Ping(i32);
#[derive(Serialize, Deserialize)]
struct Pong(i32);
struct Echo;

#[async_trait]
impl Actor for Echo {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        let Ping(x) = msg.unpack()?;
        Message::pack(&Pong(x))
    }
}

/// The docs' `Service::new()`: an actor answering like `Echo`.
struct Service;

impl Service {
    fn new() -> Self {
        Service
    }
}

#[async_trait]
impl Actor for Service {
    async fn receive(&mut self, msg: Message, ctx: &mut ActorContext) -> anyhow::Result<Message> {
        Echo.receive(msg, ctx).await
    }
}

#[tokio::test]
async fn quick_start() -> anyhow::Result<()> {
    let system = ActorSystem::builder().build().await?;
    let echo = system.spawn_named("services/echo", Echo).await?;
    let Pong(x): Pong = echo.ask(Ping(1)).await?;
    assert_eq!(x, 1);
    system.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn spawn_and_resolve() -> anyhow::Result<()> {
    let system = ActorSystem::builder().build().await?;
    let (actor, name) = (Echo, "services/named");

    // Simple
    system.spawn(actor).await?; // anonymous
    system.spawn_named(name, Echo).await?; // named (resolvable)

    // Builder pattern
    let actor = Echo;
    system
        .spawning()
        .name("services/counter")
        .supervision(SupervisionSpec::on_failure().max_restarts(3))
        .mailbox_capacity(256)
        .spawn(actor)
        .await?;

    // Named + factory (restartable supervision)
    let options =
        SpawnOptions::default().supervision(SupervisionSpec::on_failure().max_restarts(3));
    system
        .spawn_named_factory("services/factory", || Ok(Service::new()), options)
        .await?;

    // Resolve
    let one = system.resolve(name).await?; // one-shot
    let Pong(x): Pong = one.ask(Ping(2)).await?;
    assert_eq!(x, 2);
    let lazy = system.resolving().lazy(name)?; // lazy + auto-refresh (~5s TTL)
    let Pong(x): Pong = lazy.get().await?.ask(Ping(3)).await?;
    assert_eq!(x, 3);
    let node_id = system.node_id();
    let r = system
        .resolving()
        .node(node_id)
        .policy(RoundRobinPolicy::new())
        .resolve(name)
        .await?;
    assert_eq!(r.id().node, node_id);

    // By id, and the builder's other options.
    let actor_id = r.id();
    system.actor_ref(&actor_id).await?;
    system
        .resolving()
        .node(node_id)
        .policy(RoundRobinPolicy::new())
        .filter_alive(true)
        .resolve(name)
        .await?;
    assert_eq!(system.resolving().list(name).await?.len(), 1);
    system.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations() -> anyhow::Result<()> {
    let system = node(vec![]).await;
    let other = node(vec![system.addr().unwrap().to_string()]).await;
    let name = "services/ops";
    system.spawn_named(name, Echo).await?;
    wait_for("two members", Duration::from_secs(5), || {
        let s = system.clone();
        async move { s.members().await.len() == 2 }
    })
    .await;

    let me = system.node_id();
    assert_ne!(me, other.node_id());
    let addr = system.addr().expect("a node has an address");
    assert!(addr.to_string().starts_with("127.0.0.1:"), "{addr}");
    let mut members: Vec<NodeId> = system.members().await.iter().map(|m| m.node_id).collect();
    members.sort();
    let mut both = vec![me, other.node_id()];
    both.sort();
    assert_eq!(members, both);
    let named = system.all_named_actors().await;
    assert!(named.iter().any(|n| n.name == name));
    system.stop(name).await?;
    assert!(
        system.resolve(name).await.is_err(),
        "a stopped actor's name is gone"
    );
    other.shutdown().await?;
    system.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn behavior() -> anyhow::Result<()> {
    let system = ActorSystem::builder().build().await?;
    // The docs' counter, with one line added to let the test see its count.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(-1));
    let counter =
        |init: i32, seen: std::sync::Arc<std::sync::atomic::AtomicI32>| -> Behavior<i32> {
            stateful(init, move |count, n, _ctx| {
                *count += n;
                seen.store(*count, std::sync::atomic::Ordering::SeqCst);
                BehaviorAction::Same
            })
        };
    let c = system
        .spawn_named("actors/counter", counter(0, seen.clone()))
        .await?;
    c.tell(5).await?;
    c.ask::<_, ()>(2).await?; // after the tell: a mailbox is handled in order
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 7);
    // The guide's own convention: cross-version messages as named byte payloads.
    let raw = Message::single("TypeV1", vec![1u8, 2, 3]);
    assert_eq!(raw.msg_type(), Some("TypeV1"));
    system.shutdown().await?;
    Ok(())
}
