//! Helpers shared by the integration tests: fast cluster timings, a node, and waiting for a
//! condition with a deadline (never a fixed sleep).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use pulsing_actor::prelude::*;

/// Timings fast enough for tests on loopback.
pub fn fast(seeds: Vec<String>) -> ClusterConfig {
    let mut c = ClusterConfig::new("127.0.0.1:0");
    c.seeds = seeds;
    c.probe_interval = Duration::from_millis(50);
    c.probe_timeout = Duration::from_millis(30);
    c.suspicion_timeout = Duration::from_millis(300);
    c.sync_interval = Duration::from_millis(50);
    c
}

/// A node on a port chosen by the OS, joining through `seeds`.
pub async fn node(seeds: Vec<String>) -> ActorSystem {
    ActorSystem::builder()
        .cluster(fast(seeds))
        .build()
        .await
        .unwrap()
}

/// Wait until `cond` holds, or fail after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `fut`'s output, or a failed test after 10 s: a message that never comes must fail the
/// test that waits for it, not hang the suite.
pub async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("an answer within 10 s")
}

/// `n` → a stream of `0..n`, counting in the shared counter what it produced (how far
/// credit let it run); `0` never answers (a call in flight).
pub struct Ticker(pub Arc<AtomicU64>);

#[async_trait]
impl Actor for Ticker {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        let n: u64 = msg.unpack()?;
        if n == 0 {
            futures::future::pending::<()>().await;
        }
        let made = self.0.clone();
        Ok(Message::stream_of(futures::stream::iter(0..n).map(
            move |i| {
                made.fetch_add(1, Ordering::SeqCst);
                i
            },
        )))
    }
}
