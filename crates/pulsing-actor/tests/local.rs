//! Behaviour of one actor system in one process: the Rust API of the public contract.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pulsing_actor::prelude::*;
use pulsing_actor::system::SpawnOptions as Opts;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Cmd {
    Add(i64),
    Get,
    Fail,
    Fatal,
    Sleep(u64),
    Stream(u32),
    /// Wait until the test opens the actor's gate (one permit per `Hold`).
    Hold,
}

struct Counter {
    value: i64,
    stops: Arc<AtomicU32>,
    gate: Arc<tokio::sync::Semaphore>,
}

#[async_trait]
impl Actor for Counter {
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([("role".to_string(), "counter".to_string())])
    }
    async fn on_stop(&mut self, _ctx: &mut ActorContext) -> anyhow::Result<()> {
        self.stops.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        match msg.unpack::<Cmd>()? {
            Cmd::Add(n) => {
                self.value += n;
                Message::pack(&self.value)
            }
            Cmd::Get => Message::pack(&self.value),
            Cmd::Fail => Err(PulsingError::business(400, "bad input").into()),
            Cmd::Fatal => Err(PulsingError::system("corrupt", false).into()),
            Cmd::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Message::pack(&ms)
            }
            Cmd::Stream(n) => Ok(Message::stream_of(futures::stream::iter(0..n))),
            Cmd::Hold => {
                self.gate.acquire().await?.forget();
                Message::pack(&self.value)
            }
        }
    }
}

fn counter() -> (Counter, Arc<AtomicU32>) {
    let stops = Arc::new(AtomicU32::new(0));
    (
        Counter {
            value: 0,
            stops: stops.clone(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        },
        stops,
    )
}

/// A counter whose `Hold` messages wait for a permit of the gate returned with it.
fn gated() -> (Counter, Arc<tokio::sync::Semaphore>) {
    let (c, _) = counter();
    let gate = c.gate.clone();
    (c, gate)
}

async fn system() -> ActorSystem {
    ActorSystem::builder().build().await.unwrap()
}

#[tokio::test]
async fn ask_tell_and_state_in_order() {
    let sys = system().await;
    let (c, _) = counter();
    let r = sys.spawn(c).await.unwrap();
    for _ in 0..10 {
        r.tell(Cmd::Add(1)).await.unwrap();
    }
    let v: i64 = r.ask(Cmd::Get).await.unwrap();
    assert_eq!(v, 10, "tells are handled in order before the ask");
    assert_eq!(r.id().node, sys.node_id());
    assert!(r.id().to_string().starts_with(&sys.node_id().to_string()));
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn names_resolve_normalised_and_list_with_metadata() {
    let sys = system().await;
    let (c, _) = counter();
    let r = sys.spawn_named("counter", c).await.unwrap();
    let a = sys.resolve("counter").await.unwrap();
    let b = sys.resolve("actors/counter").await.unwrap();
    assert_eq!(a.id(), r.id());
    assert_eq!(b.id(), r.id());
    let _: i64 = a.ask(Cmd::Add(2)).await.unwrap();
    let v: i64 = b.ask(Cmd::Get).await.unwrap();
    assert_eq!(v, 2);
    let all = sys.all_named_actors().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "actors/counter");
    assert_eq!(
        all[0].instances[0].metadata.get("role").map(String::as_str),
        Some("counter")
    );
    let by_id = sys.actor_ref(&r.id()).await.unwrap();
    assert_eq!(by_id.ask::<_, i64>(Cmd::Get).await.unwrap(), 2);
    let err = sys.resolve("missing").await.unwrap_err();
    assert_eq!(err.kind(), Some(RuntimeErrorKind::ActorNotFound));
    let members = sys.members().await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].node_id, sys.node_id());
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn duplicate_and_reserved_names_are_refused() {
    let sys = system().await;
    sys.spawn_named("x", counter().0).await.unwrap();
    let dup = sys.spawn_named("x", counter().0).await.unwrap_err();
    assert!(dup.to_string().contains("already taken"), "{dup}");
    let reserved = sys.spawn_named("system/x", counter().0).await.unwrap_err();
    assert!(reserved.to_string().contains("reserved"), "{reserved}");
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn business_error_reaches_caller_and_actor_keeps_state() {
    let sys = system().await;
    let r = sys.spawn(counter().0).await.unwrap();
    let _: i64 = r.ask(Cmd::Add(5)).await.unwrap();
    let err = r.ask::<_, i64>(Cmd::Fail).await.unwrap_err();
    assert!(
        matches!(err, PulsingError::Business { code: 400, .. }),
        "{err:?}"
    );
    assert_eq!(r.ask::<_, i64>(Cmd::Get).await.unwrap(), 5);
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn stop_runs_on_stop_fails_old_refs_and_frees_the_name() {
    let sys = system().await;
    let (c, stops) = counter();
    let r = sys.spawn_named("svc", c).await.unwrap();
    sys.stop("svc").await.unwrap();
    assert_eq!(stops.load(Ordering::SeqCst), 1);
    let err = r.ask::<_, i64>(Cmd::Get).await.unwrap_err();
    assert_eq!(err.kind(), Some(RuntimeErrorKind::Stopped));
    assert_eq!(
        sys.resolve("svc").await.unwrap_err().kind(),
        Some(RuntimeErrorKind::ActorNotFound)
    );
    sys.spawn_named("svc", counter().0).await.unwrap();
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn supervision_restarts_fresh_instance_then_gives_up() {
    let sys = system().await;
    let made = Arc::new(AtomicU32::new(0));
    let m = made.clone();
    let spec = SupervisionSpec::on_failure()
        .max_restarts(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(5));
    let r = sys
        .spawn_named_factory(
            "worker",
            move || {
                m.fetch_add(1, Ordering::SeqCst);
                Ok(counter().0)
            },
            Opts::default().supervision(spec),
        )
        .await
        .unwrap();
    let _: i64 = r.ask(Cmd::Add(3)).await.unwrap();
    for round in 1..=2 {
        let err = r.ask::<_, i64>(Cmd::Fatal).await.unwrap_err();
        assert!(matches!(
            err,
            PulsingError::System {
                recoverable: false,
                ..
            }
        ));
        // The same ref reaches the new incarnation, whose state is fresh.
        assert_eq!(r.ask::<_, i64>(Cmd::Get).await.unwrap(), 0);
        assert_eq!(made.load(Ordering::SeqCst), 1 + round);
        let figures = &sys.actor_stats()[0];
        assert_eq!(
            (figures.restarts, figures.errors),
            (round as u64, round as u64),
            "restarts and errors are counted"
        );
    }
    let _ = r.ask::<_, i64>(Cmd::Fatal).await.unwrap_err();
    let err = r.ask::<_, i64>(Cmd::Get).await.unwrap_err();
    assert_eq!(err.kind(), Some(RuntimeErrorKind::Stopped));
    assert_eq!(
        made.load(Ordering::SeqCst),
        3,
        "max_restarts bounds the restarts"
    );
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn supervision_needs_a_name() {
    let sys = system().await;
    // An instance under a restart policy is accepted (restarted in place, tests/panics.rs).
    sys.spawning()
        .name("a")
        .supervision(SupervisionSpec::on_failure())
        .spawn(counter().0)
        .await
        .unwrap();
    let err = sys
        .spawning()
        .supervision(SupervisionSpec::on_failure())
        .spawn(counter().0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("named"), "{err}");
    let err = sys
        .spawning()
        .supervision(SupervisionSpec::on_failure())
        .spawn_factory(|| Ok(counter().0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("named"), "{err}");
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn on_start_failure_without_restart_fails_spawn() {
    struct Bad;
    #[async_trait]
    impl Actor for Bad {
        async fn on_start(&mut self, _ctx: &mut ActorContext) -> anyhow::Result<()> {
            anyhow::bail!("no database")
        }
        async fn receive(&mut self, m: Message, _: &mut ActorContext) -> anyhow::Result<Message> {
            Ok(m)
        }
    }
    let sys = system().await;
    let err = sys.spawn_named("bad", Bad).await.unwrap_err();
    assert!(err.to_string().contains("no database"), "{err}");
    assert!(
        sys.resolve("bad").await.is_err(),
        "a failed spawn leaves no name behind"
    );
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn full_mailbox_makes_tell_wait() {
    let sys = system().await;
    let (c, gate) = gated();
    let r = sys.spawning().mailbox_capacity(1).spawn(c).await.unwrap();
    // One message runs (held until the gate opens), one waits in the mailbox; the third tell
    // must wait for room, however long the window it is given (nothing can make room).
    r.tell(Cmd::Hold).await.unwrap();
    r.tell(Cmd::Add(1)).await.unwrap();
    let mut third = Box::pin(r.tell(Cmd::Add(1)));
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut third)
            .await
            .is_err(),
        "a full mailbox pushes back instead of accepting"
    );
    gate.add_permits(1);
    third.await.unwrap();
    assert_eq!(
        r.ask::<_, i64>(Cmd::Get).await.unwrap(),
        2,
        "nothing accepted was lost"
    );
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn ask_times_out_with_timeout_error() {
    let sys = system().await;
    let r = sys.spawn(counter().0).await.unwrap();
    let err = r
        .with_timeout(Duration::from_millis(20))
        .ask::<_, u64>(Cmd::Sleep(500))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PulsingError::Timeout {
                duration_ms: 20,
                ..
            }
        ),
        "{err:?}"
    );
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn streams_deliver_items_in_order() {
    let sys = system().await;
    let r = sys.spawn(counter().0).await.unwrap();
    let m = r
        .ask_message(Message::pack(&Cmd::Stream(5)).unwrap())
        .await
        .unwrap();
    let items: Vec<u32> = m
        .into_stream()
        .unwrap()
        .map(|m| m.unwrap().unpack::<u32>().unwrap())
        .collect()
        .await;
    assert_eq!(items, vec![0, 1, 2, 3, 4]);
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_every_actor_and_refuses_spawns() {
    let sys = system().await;
    let (a, sa) = counter();
    let (b, sb) = counter();
    let ra = sys.spawn_named("a", a).await.unwrap();
    sys.spawn(b).await.unwrap();
    sys.shutdown().await.unwrap();
    assert_eq!(sa.load(Ordering::SeqCst) + sb.load(Ordering::SeqCst), 2);
    assert!(ra.ask::<_, i64>(Cmd::Get).await.is_err());
    let err = sys.spawn(counter().0).await.unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn behavior_same_become_stop() {
    #[derive(Serialize, Deserialize)]
    enum Light {
        Flip,
        Query,
        Off,
    }
    fn on() -> Behavior<Light> {
        stateless(|m, ctx| match m {
            Light::Flip => BehaviorAction::Become(off()),
            Light::Query => {
                ctx.reply(&"on").unwrap();
                BehaviorAction::Same
            }
            Light::Off => BehaviorAction::Stop,
        })
    }
    fn off() -> Behavior<Light> {
        stateless(|m, ctx| match m {
            Light::Flip => BehaviorAction::Become(on()),
            Light::Query => {
                ctx.reply(&"off").unwrap();
                BehaviorAction::Same
            }
            Light::Off => BehaviorAction::Stop,
        })
    }
    let sys = system().await;
    let l = sys.spawn_named("light", on()).await.unwrap();
    assert_eq!(l.ask::<_, String>(Light::Query).await.unwrap(), "on");
    l.tell(Light::Flip).await.unwrap();
    assert_eq!(l.ask::<_, String>(Light::Query).await.unwrap(), "off");
    l.ask::<_, ()>(Light::Off).await.unwrap();
    let err = l.ask::<_, String>(Light::Query).await.unwrap_err();
    assert_eq!(err.kind(), Some(RuntimeErrorKind::Stopped));

    let c = sys
        .spawn(stateful(0i32, |n, add: i32, ctx| {
            *n += add;
            ctx.reply(n).unwrap();
            BehaviorAction::Same
        }))
        .await
        .unwrap();
    c.tell(2).await.unwrap();
    assert_eq!(c.ask::<_, i32>(3).await.unwrap(), 5);
    sys.shutdown().await.unwrap();
}

#[tokio::test]
async fn foreign_actors_share_the_registry_and_id_space() {
    let sys = system().await;
    let first = sys.reserve_local_ids(100);
    let id = sys
        .register_foreign("js-echo", first, HashMap::new())
        .unwrap();
    assert_eq!(id.local, first);
    let r = sys.spawn(counter().0).await.unwrap();
    assert!(
        r.id().local >= first + 100,
        "Rust ids never collide with reserved ones"
    );
    assert!(sys.lookup("js-echo").unwrap().is_some());
    let err = sys.resolve("js-echo").await.unwrap_err();
    assert!(matches!(err, PulsingError::Unsupported { .. }), "{err:?}");
    assert!(
        !sys.unregister_foreign("js-echo", first + 1).unwrap(),
        "a stale id removes nothing"
    );
    assert!(sys.unregister_foreign("js-echo", first).unwrap());
    assert!(sys.lookup("js-echo").unwrap().is_none());
    sys.shutdown().await.unwrap();
}

/// `hang` never answers; `ping` does. Counts its `on_stop` and the hangs it is in.
struct Hanger(Arc<AtomicU32>, Arc<AtomicU32>);

#[async_trait]
impl Actor for Hanger {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        let what: String = msg.unpack()?;
        if what == "hang" {
            self.1.fetch_add(1, Ordering::SeqCst);
            futures::future::pending::<()>().await;
        }
        Message::pack(&what)
    }
    async fn on_stop(&mut self, _ctx: &mut ActorContext) -> anyhow::Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_that_never_returns_cannot_hold_up_stop_or_shutdown() {
    let sys = ActorSystem::builder()
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let stops = Arc::new(AtomicU32::new(0));
    let hanging = Arc::new(AtomicU32::new(0));
    let a = sys
        .spawn_named("a", Hanger(stops.clone(), hanging.clone()))
        .await
        .unwrap();
    let b = sys
        .spawn_named("b", Hanger(stops.clone(), hanging.clone()))
        .await
        .unwrap();
    let hangs = |n: u32| {
        let hanging = hanging.clone();
        async move {
            while hanging.load(Ordering::SeqCst) < n {
                tokio::task::yield_now().await;
            }
        }
    };
    // A message that finishes within the grace is answered, and the actor still stops.
    assert_eq!(
        a.ask::<_, String>("ping".to_string()).await.unwrap(),
        "ping"
    );

    let stuck = tokio::spawn({
        let a = a.clone();
        async move { a.ask::<_, String>("hang".to_string()).await }
    });
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.ask::<_, String>("ping".to_string()).await }
    });
    // The hang is running (and the ping queued behind it) before the stop.
    hangs(1).await;
    tokio::task::yield_now().await;
    // The hang never ends by itself: stop returns only because it cancels it.
    tokio::time::timeout(Duration::from_secs(20), sys.stop("a"))
        .await
        .expect("stop cancels the running message instead of waiting for it")
        .unwrap();
    for r in [stuck.await.unwrap(), waiting.await.unwrap()] {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), Some(RuntimeErrorKind::Stopped), "{e}");
    }
    assert_eq!(
        stops.load(Ordering::SeqCst),
        1,
        "on_stop runs after the cancel"
    );

    // The same at shutdown.
    let stuck = tokio::spawn(async move { b.ask::<_, String>("hang".to_string()).await });
    hangs(2).await;
    tokio::time::timeout(Duration::from_secs(20), sys.shutdown())
        .await
        .expect("shutdown cancels the running message instead of waiting for it")
        .unwrap();
    assert_eq!(
        stuck.await.unwrap().unwrap_err().kind(),
        Some(RuntimeErrorKind::Stopped)
    );
    assert_eq!(stops.load(Ordering::SeqCst), 2);
}

/// A node shows the actors that did something, at most `MAX_ACTOR_SERIES` (the busiest);
/// a restart is counted; with `actor_metrics(false)` nothing is.
#[tokio::test]
async fn actor_figures_are_bounded_and_idle_actors_left_out() {
    use pulsing_actor::stats::MAX_ACTOR_SERIES;
    let s = system().await;
    let busy = s.spawn_named("figures/busy", counter().0).await.unwrap();
    let _idle = s.spawn_named("figures/idle", counter().0).await.unwrap();
    for _ in 0..3 {
        busy.ask::<_, i64>(Cmd::Add(1)).await.unwrap();
    }
    let names: Vec<_> = s.actor_stats().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["figures/busy"]);

    let mut refs = Vec::new();
    for i in 0..MAX_ACTOR_SERIES + 5 {
        let r = s
            .spawn_named(&format!("figures/n{i}"), counter().0)
            .await
            .unwrap();
        r.ask::<_, i64>(Cmd::Get).await.unwrap();
        refs.push(r);
    }
    let all = s.actor_stats();
    assert_eq!(all.len(), MAX_ACTOR_SERIES);
    assert!(
        all.iter()
            .any(|a| a.name == "figures/busy" && a.handled == 3),
        "the busiest are kept"
    );
    s.shutdown().await.unwrap();

    let off = ActorSystem::builder()
        .actor_metrics(false)
        .build()
        .await
        .unwrap();
    let r = off.spawn_named("figures/off", counter().0).await.unwrap();
    r.ask::<_, i64>(Cmd::Get).await.unwrap();
    assert!(off.actor_stats().is_empty());
    off.shutdown().await.unwrap();
}
