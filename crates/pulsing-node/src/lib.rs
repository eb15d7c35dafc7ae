//! napi-rs binding of the Pulsing runtime. It only converts: JS values become core types
//! at this edge (`Js*` types), core errors become JS errors whose `code` is the runtime
//! error kind, and all logic stays in `pulsing-actor`.
//!
//! What crosses here is deliberately coarse: node identity, blocks of actor ids, and the
//! name registry. Calls between TypeScript actors in one process never cross into Rust.

// Public so the exports count as reachable: napi registers them with Node, Rust never calls them.
pub mod batch;
pub mod connect;
pub mod convert;
pub mod external;
pub mod host;
pub mod metrics;
pub mod queue;
pub mod reading;
pub mod slab;
pub mod system;
pub mod topic;

/// One tokio runtime for the whole addon, sized for the machine (one core left to JS),
/// and the runtime's log on stderr. `PULSING_LOG` takes the usual `tracing` filter syntax:
/// a level (`warn`, the default; `off` silences it) or per-module directives such as
/// `warn,pulsing_actor::cluster=debug`. An invalid value is reported once, and the default
/// applies.
#[napi_derive::module_init]
fn init() {
    init_log(std::env::var("PULSING_LOG").ok().as_deref());
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

fn init_log(spec: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("warn");
    let (filter, bad) = match EnvFilter::try_new(spec) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("warn"), Some(e)),
    };
    // Another copy of the addon in the process may have installed one already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
    if let Some(e) = bad {
        tracing::warn!("PULSING_LOG={spec:?} is not a valid filter ({e}); logging warnings only");
    }
}
