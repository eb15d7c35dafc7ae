//! Panics in actor code are supervised crashes (restart per policy, `Stopped` when restarts
//! run out), callers get an error and never hang, and the seed's builder example runs.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{node, wait_for};
use futures::StreamExt;
use pulsing_actor::prelude::*;
use pulsing_actor::system::SpawnOptions;

#[derive(Serialize, Deserialize)]
enum Cmd {
    Incr,
    Panic,
    Fatal,
    PanickyStream,
}

/// Counts its messages; `Panic` panics, `Fatal` returns a fatal error.
struct Fragile {
    n: i64,
}

#[async_trait]
impl Actor for Fragile {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        match msg.unpack::<Cmd>()? {
            Cmd::Incr => {
                self.n += 1;
                Message::pack(&self.n)
            }
            Cmd::Panic => panic!("fragile gave up"),
            Cmd::Fatal => Err(PulsingError::system("fatal", false).into()),
            Cmd::PanickyStream => Ok(Message::stream_of(futures::stream::iter(0..10u32).map(
                |i| {
                    if i == 3 {
                        panic!("stream broke at {i}");
                    }
                    i
                },
            ))),
        }
    }
}

fn is_panic_error(e: &PulsingError, what: &str) -> bool {
    matches!(e, PulsingError::System { error, recoverable: false } if error.contains(what))
}

/// Wait until calls to `r` fail with `Stopped`.
async fn wait_stopped(r: &ActorRef, what: &str) {
    wait_for(what, Duration::from_secs(5), || {
        let r = r.clone();
        async move {
            matches!(
                r.ask::<_, i64>(Cmd::Incr).await,
                Err(PulsingError::Runtime {
                    kind: RuntimeErrorKind::Stopped,
                    ..
                })
            )
        }
    })
    .await;
}

fn fast_restarts(n: u32) -> SupervisionSpec {
    SupervisionSpec::on_failure()
        .max_restarts(n)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_receive_is_a_crash_that_supervision_restarts() {
    let system = ActorSystem::builder().build().await.unwrap();
    let built = Arc::new(AtomicU32::new(0));
    let b = built.clone();
    let r = system
        .spawn_named_factory(
            "fragile",
            move || {
                b.fetch_add(1, Ordering::SeqCst);
                Ok(Fragile { n: 0 })
            },
            SpawnOptions::default().supervision(fast_restarts(2)),
        )
        .await
        .unwrap();
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    // The caller gets an error naming the panic, not a hang.
    let e = r.ask::<_, i64>(Cmd::Panic).await.unwrap_err();
    assert!(is_panic_error(&e, "fragile gave up"), "{e:?}");
    // The factory ran again, and the name answers with a fresh instance.
    let fresh = system.resolve("fragile").await.unwrap();
    assert_eq!(fresh.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    assert_eq!(built.load(Ordering::SeqCst), 2);
    // Restarts run out: Stopped, and the runtime keeps serving others.
    let _ = r.ask::<_, i64>(Cmd::Panic).await.unwrap_err();
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    let _ = r.ask::<_, i64>(Cmd::Panic).await.unwrap_err();
    wait_stopped(&r, "restarts to run out").await;
    let other = system
        .spawn_named("other", Fragile { n: 41 })
        .await
        .unwrap();
    assert_eq!(other.ask::<_, i64>(Cmd::Incr).await.unwrap(), 42);
    system.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_caller_gets_the_panic_as_an_error() {
    let a = node(vec![]).await;
    let b = node(vec![a.addr().unwrap().to_string()]).await;
    b.spawn_named_factory(
        "remote-fragile",
        || Ok(Fragile { n: 0 }),
        SpawnOptions::default().supervision(fast_restarts(3)),
    )
    .await
    .unwrap();
    wait_for("the name to reach a", Duration::from_secs(5), || {
        let a = a.clone();
        async move { a.resolve("remote-fragile").await.is_ok() }
    })
    .await;
    let r = a.resolve("remote-fragile").await.unwrap();
    let e = r.ask::<_, i64>(Cmd::Panic).await.unwrap_err();
    assert!(is_panic_error(&e, "fragile gave up"), "{e:?}");
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_on_start_a_behavior_and_a_stream_are_caught() {
    struct BadStart;
    #[async_trait]
    impl Actor for BadStart {
        async fn on_start(&mut self, _ctx: &mut ActorContext) -> anyhow::Result<()> {
            panic!("no start today");
        }
        async fn receive(&mut self, m: Message, _c: &mut ActorContext) -> anyhow::Result<Message> {
            Ok(m)
        }
    }
    let system = ActorSystem::builder().build().await.unwrap();
    let e = system.spawn_named("bad-start", BadStart).await.unwrap_err();
    assert!(format!("{e:#}").contains("no start today"), "{e:#}");

    let b = system
        .spawn_named(
            "bad-behavior",
            stateless(|n: i32, _ctx| {
                if n < 0 {
                    panic!("negative");
                }
                BehaviorAction::Same
            }),
        )
        .await
        .unwrap();
    let e = b.ask::<_, ()>(-1).await.unwrap_err();
    assert!(is_panic_error(&e, "negative"), "{e:?}");

    let s = system
        .spawn_named("streamer", Fragile { n: 0 })
        .await
        .unwrap();
    let mut items = s
        .ask_message(Message::pack(&Cmd::PanickyStream).unwrap())
        .await
        .unwrap()
        .into_stream()
        .unwrap();
    let mut got = Vec::new();
    let mut err = None;
    while let Some(item) = items.next().await {
        match item {
            Ok(m) => got.push(m.unpack::<u32>().unwrap()),
            Err(e) => err = Some(e),
        }
    }
    assert_eq!(got, vec![0, 1, 2]);
    assert!(is_panic_error(&err.unwrap(), "stream broke at 3"));
    system.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_returned_stream_is_a_crash_of_its_actor() {
    let system = ActorSystem::builder().build().await.unwrap();
    let built = Arc::new(AtomicU32::new(0));
    let b = built.clone();
    let r = system
        .spawn_named_factory(
            "stream-fragile",
            move || {
                b.fetch_add(1, Ordering::SeqCst);
                Ok(Fragile { n: 0 })
            },
            SpawnOptions::default().supervision(fast_restarts(3)),
        )
        .await
        .unwrap();
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    let items = r
        .ask_message(Message::pack(&Cmd::PanickyStream).unwrap())
        .await
        .unwrap()
        .into_stream()
        .unwrap();
    let last = items.collect::<Vec<_>>().await.pop().unwrap();
    assert!(matches!(last, Err(ref e) if is_panic_error(e, "stream broke at 3")));
    // The actor was restarted from its factory: a fresh count.
    wait_for("the restart", Duration::from_secs(5), || {
        let built = built.clone();
        async move { built.load(Ordering::SeqCst) == 2 }
    })
    .await;
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    system.shutdown().await.unwrap();
}

/// The seed's builder example, as written: supervision on an instance (no factory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_example_with_supervision_runs_and_restarts_in_place() {
    let system = ActorSystem::builder().build().await.unwrap();
    let actor = Fragile { n: 0 };
    let r = system
        .spawning()
        .name("services/counter")
        .supervision(SupervisionSpec::on_failure().max_restarts(3))
        .mailbox_capacity(256)
        .spawn(actor)
        .await
        .unwrap();
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 1);
    // A fatal error crashes it; without a factory it restarts in place, state kept.
    let _ = r.ask::<_, i64>(Cmd::Fatal).await.unwrap_err();
    assert_eq!(r.ask::<_, i64>(Cmd::Incr).await.unwrap(), 2);
    // After a panic its state cannot be trusted: without a factory it stops.
    let _ = r.ask::<_, i64>(Cmd::Panic).await.unwrap_err();
    wait_stopped(&r, "the actor to stop").await;
    system.shutdown().await.unwrap();
}
