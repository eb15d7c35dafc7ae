//! A thread of its own for moving the bytes of large parts.
//!
//! A node's runtime often has one worker (the JS thread takes the other core). Copying a
//! 64 MiB attachment to or from the socket there kept every other connection's frames
//! waiting behind it, even with a yield between chunks: small asks on the control lane
//! took 1.2 ms at the median while a transfer ran, against 0.2 ms at rest. Large parts are
//! therefore read and written on a separate thread, at a lower scheduling priority (on
//! Linux), so the runtime's worker, the JS thread and the garbage collector are served
//! first whenever they have work and the transfer gets the rest of the CPU.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// How much lower the bulk thread runs (a nice value: 0 is normal, 19 the lowest).
#[cfg(target_os = "linux")]
const NICENESS: libc::c_int = 10;

/// The bulk runtime, started on first use; `None` when its thread could not be started
/// (then large parts are moved where they are, as before).
fn runtime() -> Option<&'static Runtime> {
    static BULK: OnceLock<Option<Runtime>> = OnceLock::new();
    BULK.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pulsing-bulk")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .map_err(|e| tracing::warn!("no bulk thread, large parts share the runtime: {e}"))
            .ok()
    })
    .as_ref()
}

/// Lower the calling thread's priority: Linux applies a nice value to one thread, macOS a
/// quality-of-service class.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread, no memory handed over. The thread id
    // comes from the syscall itself: glibc's `gettid()` wrapper is 2.30's, and the addon
    // runs on glibc 2.17.
    let failed = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS) != 0
    };
    #[cfg(target_os = "macos")]
    // SAFETY: sets the calling thread's own class, no memory handed over.
    let failed =
        unsafe { libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_UTILITY, 0) }
            != 0;
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let failed = false;
    if failed {
        tracing::debug!(
            "the bulk thread keeps its priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A task on the bulk thread, aborted when its awaiter is dropped (a closed connection).
struct Offloaded<T>(JoinHandle<T>);

impl<T> Drop for Offloaded<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Run `work` (moving a large part's bytes) on the bulk thread and wait for it; where
/// there is no bulk thread, run it here.
pub async fn offload<F, T>(work: F) -> Result<T, String>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let Some(rt) = runtime() else {
        return Ok(work.await);
    };
    let mut task = Offloaded(rt.spawn(work));
    (&mut task.0)
        .await
        .map_err(|e| format!("the bulk thread lost a transfer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_bulk_thread_and_its_result_comes_back() {
        let name = offload(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("pulsing-bulk"));
    }

    #[tokio::test]
    async fn dropping_the_awaiter_aborts_the_work() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let work = offload(async move {
            // Holds `tx` until aborted: its drop is what the receiver sees.
            let _tx = tx;
            std::future::pending::<()>().await
        });
        // Start it, then drop the awaiter.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(20), work).await;
        assert!(rx.await.is_err(), "the aborted work dropped its sender");
    }
}
