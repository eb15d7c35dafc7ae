//! The task that runs one actor: start, serve its mailbox one message at a time, stop,
//! and — under supervision — restart from the factory with backoff.
//!
//! The mailbox and the actor id outlive restarts, so refs held by callers keep working
//! and messages sent during a backoff wait in the mailbox for the next incarnation.
//!
//! A panic in actor code is a crash like a fatal error (see [`crate::panics`]). An actor
//! spawned from an instance, without a factory, is restarted in place: the same instance gets
//! `on_stop` and then `on_start` again, and keeps its fields. After a panic its state cannot
//! be trusted, so without a factory it stops instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::actor::{Actor, ActorContext, ActorId};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::mailbox::Envelope;
use crate::message::Message;
use crate::panics;
use crate::stats::ActorCounters;
use crate::supervision::SupervisionSpec;
use crate::system::ActorSystem;

/// Creates a fresh actor instance for each (re)start.
pub(crate) type Factory = Box<dyn FnMut() -> anyhow::Result<Box<dyn Actor>> + Send>;

/// How one incarnation ended.
enum Outcome {
    /// `stop`/shutdown asked for it: never restarted.
    StopRequested,
    /// The actor stopped by itself (`ctx.stop()`).
    SelfStopped,
    /// `on_start` failed or a method raised a fatal error.
    Crashed(PulsingError),
    /// Actor code panicked: a crash whose instance is not reused.
    Panicked(PulsingError),
}

pub(crate) struct CellRun {
    pub system: ActorSystem,
    pub id: ActorId,
    pub name: Option<String>,
    pub first: Option<Box<dyn Actor>>,
    pub factory: Option<Factory>,
    pub spec: SupervisionSpec,
    /// A named actor's counters (none when anonymous or metrics are off).
    pub counters: Option<Arc<ActorCounters>>,
    pub rx: mpsc::Receiver<Envelope>,
    pub stop_rx: watch::Receiver<bool>,
    /// Told once whether the first start succeeded (spawn waits on it).
    pub started: Option<oneshot::Sender<Result<(), PulsingError>>>,
}

impl CellRun {
    pub(crate) async fn run(mut self) {
        let mut restarts = 0u32;
        // Without a factory, the instance to restart in place.
        let mut kept: Option<Box<dyn Actor>> = None;
        loop {
            let instance = match self.first.take().or_else(|| kept.take()) {
                Some(a) => Ok(a),
                None => match self.factory.as_mut() {
                    Some(f) => {
                        panics::guarded_sync(&format!("the factory of actor {}", self.id), f)
                            .and_then(|r| r.map_err(PulsingError::from_actor))
                    }
                    None => break,
                },
            };
            let (outcome, survivor) = match instance {
                Err(e) => (Outcome::Crashed(e), None),
                Ok(mut actor) => {
                    let mut ctx =
                        ActorContext::new(self.id, self.name.clone(), self.system.clone());
                    let what = format!("actor {} on_start", self.id);
                    let outcome = match panics::guarded(&what, actor.on_start(&mut ctx)).await {
                        Err(p) => Outcome::Panicked(p),
                        Ok(Err(e)) => Outcome::Crashed(PulsingError::from_actor(e)),
                        Ok(Ok(())) => {
                            if let Some(name) = &self.name {
                                self.system
                                    .publish_metadata(name, self.id, actor.metadata());
                            }
                            if let Some(tx) = self.started.take() {
                                let _ = tx.send(Ok(()));
                            }
                            let grace = self.system.shutdown_timeout();
                            let outcome = serve(
                                &mut *actor,
                                &mut ctx,
                                &mut self.rx,
                                &mut self.stop_rx,
                                grace,
                                self.counters.as_deref(),
                            )
                            .await;
                            let what = format!("actor {} on_stop", self.id);
                            match panics::guarded(&what, actor.on_stop(&mut ctx)).await {
                                Ok(Ok(())) => {}
                                Ok(Err(e)) => {
                                    tracing::warn!(actor = %self.id, "on_stop failed: {e:#}")
                                }
                                Err(p) => tracing::warn!("{p}"),
                            }
                            outcome
                        }
                    };
                    (outcome, Some(actor))
                }
            };
            let (crashed, cause, reusable) = match outcome {
                Outcome::StopRequested => break,
                Outcome::SelfStopped => (false, None, true),
                Outcome::Crashed(e) => (true, Some(e), true),
                Outcome::Panicked(e) => (true, Some(e), false),
            };
            if let Some(e) = &cause {
                tracing::warn!(actor = %self.id, "actor crashed: {e}");
            }
            if reusable && self.factory.is_none() {
                kept = survivor;
            }
            let can_restart = (self.factory.is_some() || kept.is_some())
                && self.spec.should_restart(crashed, restarts);
            if !can_restart {
                if let (Some(tx), Some(e)) = (self.started.take(), cause) {
                    let _ = tx.send(Err(e));
                }
                break;
            }
            // A first start that crashed but will be retried still counts as spawned.
            if let Some(tx) = self.started.take() {
                let _ = tx.send(Ok(()));
            }
            if *self.stop_rx.borrow() {
                break;
            }
            let wait = self.spec.backoff_for(restarts);
            restarts += 1;
            if let Some(c) = &self.counters {
                c.restarted();
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop_rx.changed() => break,
            }
        }
        self.finish();
    }

    /// Unregister, then answer everything still queued with `Stopped`.
    fn finish(mut self) {
        self.system.forget_cell(self.id, self.name.as_deref());
        self.rx.close();
        while let Ok(env) = self.rx.try_recv() {
            if let (_, Some(reply)) = env.split() {
                let _ = reply.send(Err(stopped(self.id)));
            }
        }
    }
}

/// Resolves `grace` after a stop is asked for (never, if none is).
async fn stop_after(stop_rx: &mut watch::Receiver<bool>, grace: Duration) {
    if stop_rx.wait_for(|stop| *stop).await.is_err() {
        // The system is gone: nothing will ask again.
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
}

pub(crate) fn stopped(id: ActorId) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Stopped, format!("actor {id} is stopped"))
}

/// Serve the mailbox until a stop, a crash or the actor's own stop. A message still being
/// handled when a stop is asked for gets `grace` to finish; then it is cancelled (its caller
/// gets `Stopped`), so a handler that never returns cannot hold up `stop` or shutdown.
async fn serve(
    actor: &mut dyn Actor,
    ctx: &mut ActorContext,
    rx: &mut mpsc::Receiver<Envelope>,
    stop_rx: &mut watch::Receiver<bool>,
    grace: Duration,
    counters: Option<&ActorCounters>,
) -> Outcome {
    // Panics in streams this incarnation returned (they are read after `receive` returned).
    let (crash_tx, mut crashes) = mpsc::unbounded_channel();
    loop {
        // Also seen by `stop_after` while a message ran: `changed()` would not fire again.
        if *stop_rx.borrow() {
            return Outcome::StopRequested;
        }
        let env = tokio::select! {
            biased;
            _ = stop_rx.changed() => return Outcome::StopRequested,
            Some(e) = crashes.recv() => return Outcome::Panicked(e),
            env = rx.recv() => match env {
                Some(env) => env,
                None => return Outcome::StopRequested,
            },
        };
        let (msg, reply) = env.split();
        ctx.reply = None;
        let what = format!("actor {} receive", ctx.id());
        let began = counters.map(|_| Instant::now());
        let handled = tokio::select! {
            r = panics::guarded(&what, actor.receive(msg, ctx)) => Some(r),
            _ = stop_after(stop_rx, grace) => None,
        };
        if let (Some(c), Some(t)) = (counters, began) {
            c.handled(t.elapsed(), !matches!(handled, Some(Ok(Ok(_)))));
        }
        let Some(handled) = handled else {
            tracing::warn!(
                actor = %ctx.id(),
                "stopping: cancelled the message still running after {} ms",
                grace.as_millis()
            );
            if let Some(r) = reply {
                let _ = r.send(Err(stopped(ctx.id())));
            }
            return Outcome::StopRequested;
        };
        let result = match handled {
            Ok(r) => r,
            Err(p) => {
                if let Some(r) = reply {
                    let _ = r.send(Err(p.clone()));
                }
                return Outcome::Panicked(p);
            }
        };
        match result {
            Ok(m) => {
                // Panics while the stream is read end it with an error item.
                let m = match m {
                    Message::Stream(s) => Message::Stream(panics::guarded_stream(
                        format!("actor {}", ctx.id()),
                        s,
                        crash_tx.clone(),
                    )),
                    single => single,
                };
                if let Some(r) = reply {
                    let _ = r.send(Ok(m));
                }
            }
            Err(e) => {
                let err = PulsingError::from_actor(e);
                let fatal = err.is_fatal();
                match reply {
                    Some(r) => {
                        let _ = r.send(Err(err.clone()));
                    }
                    // A tell has nobody to answer: the error must at least be seen.
                    None => tracing::warn!(actor = %ctx.id(), "error handling a tell: {err}"),
                }
                if fatal {
                    return Outcome::Crashed(err);
                }
            }
        }
        if ctx.stop_requested {
            return Outcome::SelfStopped;
        }
    }
}
