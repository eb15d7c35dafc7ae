//! Joining through seeds. A node that knows no member dials its seeds every sync round. A
//! seed that does not answer as a node does is reported at warn level once it has failed for
//! [`WARN_AFTER`] (a seed still starting is not an error), then once a minute while the node
//! is alone, naming the seed and why: nothing listens there, no answer at all, a TLS
//! handshake that failed, or something there that is not a Pulsing node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Node;

/// How long a seed may fail before it is reported.
pub(super) const WARN_AFTER: Duration = Duration::from_secs(3);
/// How often one failing seed is reported again.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Per seed that has not answered: since when, and when it was last reported.
#[derive(Default)]
pub(crate) struct SeedWatch(Mutex<HashMap<String, (Instant, Option<Instant>)>>);

impl Node {
    /// One attempt to join through `seed`; a failure is counted, and reported in time.
    pub(super) async fn join_through_seed(self: Arc<Self>, seed: String) {
        let failed = self.clone().sync_with_addr(seed.clone()).await.err();
        let mut failing = self.swim.seeds.0.lock();
        let Some(dial_error) = failed else {
            failing.remove(&seed);
            return;
        };
        let now = Instant::now();
        let (since, warned) = failing.entry(seed.clone()).or_insert((now, None));
        let due = now.duration_since(*since) >= WARN_AFTER
            && warned.is_none_or(|w| now.duration_since(w) >= WARN_EVERY);
        if !due {
            return;
        }
        *warned = Some(now);
        let secs = now.duration_since(*since).as_secs();
        drop(failing);
        let why = why(dial_error, self.cfg.handshake_timeout);
        tracing::warn!(
            "seed {seed} has not answered for {secs} s: {why}; this node stays alone until a seed answers"
        );
    }
}

/// Why a seed did not answer, as its operator would put it.
fn why(dial_error: Option<String>, handshake: Duration) -> String {
    let Some(e) = dial_error else {
        return "not a Pulsing node: something there took the connection but did not answer with the cluster's handshake (another service on that port?)".into();
    };
    let lower = e.to_lowercase();
    if lower.contains("refused") {
        format!("connection refused: nothing listens there ({e})")
    } else if lower.contains("timed out") {
        format!("unreachable: no answer within {} ms", handshake.as_millis())
    } else if lower.contains("unreachable") || lower.contains("no route") {
        format!("unreachable ({e})")
    } else if lower.contains("tls") {
        format!("{e}: does it have the same passphrase?")
    } else {
        e
    }
}
