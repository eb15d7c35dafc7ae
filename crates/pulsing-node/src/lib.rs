//! napi-rs binding of the Pulsing runtime. It only converts: JS values become core types
//! at this edge (`Js*` types), core errors become JS errors whose `code` is the runtime
//! error kind, and all logic stays in `pulsing-actor`.
//!
//! What crosses here is deliberately coarse: node identity, blocks of actor ids, and the
//! name registry. Calls between TypeScript actors in one process never cross into Rust.

// Public so the exports count as reachable: napi registers them with Node, Rust never calls them.
pub mod batch;
pub mod convert;
pub mod host;
pub mod system;

/// One tokio runtime for the whole addon, sized for the machine (one core left to JS),
/// and the runtime's log on stderr: warnings by default (a peer breaking the protocol, a
/// failed accept), `PULSING_LOG=error|warn|info|debug|trace` to change it, `off` to silence it.
#[napi_derive::module_init]
fn init() {
    let level = match std::env::var("PULSING_LOG").as_deref() {
        Ok("off") => None,
        Ok("error") => Some(tracing::Level::ERROR),
        Ok("info") => Some(tracing::Level::INFO),
        Ok("debug") => Some(tracing::Level::DEBUG),
        Ok("trace") => Some(tracing::Level::TRACE),
        _ => Some(tracing::Level::WARN),
    };
    if let Some(level) = level {
        // Another copy of the addon in the process may have installed one already.
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    }
    // PULSING_THREADS overrides the size (the JS thread competes for the same cores).
    let threads = std::env::var("PULSING_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        // Leave one core to the JS thread: measured 122 vs 146 µs p50 per remote ask on 2 cores.
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .saturating_sub(1)
        })
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("pulsing-rt")
        .enable_all()
        .build()
        .expect("failed to start the tokio runtime");
    napi::bindgen_prelude::create_custom_tokio_runtime(rt);
}
