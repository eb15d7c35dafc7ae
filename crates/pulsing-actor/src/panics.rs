//! Panics in actor code are crashes, not the end of the task: a panic inside `on_start`,
//! `receive` (a `Behavior` closure included) or a stream an actor returned is caught at the
//! actor's boundary and becomes a fatal [`PulsingError::System`], which supervision handles
//! like any other crash. The caller gets that error, never a hang.
//!
//! Such a panic is reported as one warning line by the actor's supervisor. The process's
//! panic hook stays in charge of every other panic: this module only keeps it from also
//! printing (with a backtrace) the ones it catches.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::error::PulsingError;
use crate::message::MessageStream;

thread_local! {
    /// Set while actor code runs on this thread (during one poll).
    static IN_ACTOR: Cell<bool> = const { Cell::new(false) };
    /// What the last caught panic said, with its location.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_ACTOR.with(Cell::get) {
                // Caught at the actor's boundary: the supervisor logs it, in one line.
                let text = info.to_string().replace('\n', " ");
                LAST.with(|l| *l.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Marks the thread as running actor code while `F` is polled.
struct InActor<F>(F);

struct Reset(bool);

impl Drop for Reset {
    fn drop(&mut self) {
        IN_ACTOR.with(|f| f.set(self.0));
    }
}

impl<F: Future + Unpin> Future for InActor<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _reset = Reset(IN_ACTOR.with(|f| f.replace(true)));
        Pin::new(&mut self.0).poll(cx)
    }
}

fn crash(what: &str) -> PulsingError {
    let detail = LAST
        .with(|l| l.borrow_mut().take())
        .unwrap_or_else(|| "panicked".into());
    PulsingError::system(format!("{what} {detail}"), false)
}

/// Run actor code; a panic becomes a fatal system error naming `what` and the panic.
pub(crate) async fn guarded<T>(
    what: &str,
    f: impl Future<Output = T> + Send,
) -> Result<T, PulsingError> {
    install_hook();
    let f = Box::pin(f);
    AssertUnwindSafe(InActor(f))
        .catch_unwind()
        .await
        .map_err(|_| crash(what))
}

/// Run a synchronous piece of actor code (a factory) the same way.
pub(crate) fn guarded_sync<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, PulsingError> {
    install_hook();
    let before = IN_ACTOR.with(|f| f.replace(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    IN_ACTOR.with(|f| f.set(before));
    r.map_err(|_| crash(what))
}

/// A stream an actor returned, whose panics end it with a fatal system error item and are
/// reported on `crashes`, so the actor's supervisor handles them as a crash of the actor.
pub(crate) fn guarded_stream(
    label: String,
    s: MessageStream,
    crashes: mpsc::UnboundedSender<PulsingError>,
) -> MessageStream {
    install_hook();
    Box::pin(Guarded {
        label,
        inner: Some(s),
        crashes,
    })
}

struct Guarded {
    label: String,
    inner: Option<MessageStream>,
    crashes: mpsc::UnboundedSender<PulsingError>,
}

impl Stream for Guarded {
    type Item = <MessageStream as Stream>::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = {
            let _reset = Reset(IN_ACTOR.with(|f| f.replace(true)));
            std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx)))
        };
        match polled {
            Ok(p) => p,
            Err(_) => {
                self.inner = None;
                let err = crash(&format!("a stream of {}", self.label));
                // The incarnation that made the stream may be gone: then nobody listens.
                let _ = self.crashes.send(err.clone());
                Poll::Ready(Some(Err(err)))
            }
        }
    }
}
