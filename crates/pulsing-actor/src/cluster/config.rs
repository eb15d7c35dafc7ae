//! Cluster settings, their defaults, and their validation: a setting that would switch a
//! safety off (a zero probe period, a timeout that cannot be armed) is refused at start with
//! an error naming the field and the accepted range.

use std::time::Duration;

use crate::error::{PulsingError, RuntimeErrorKind};
use crate::transport::conn::ConnLimits;
use crate::transport::frame::DEFAULT_MAX_BODY;

/// How a node learns about the others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topology {
    /// SWIM among peers, joined through seeds (the default).
    #[default]
    Gossip,
    /// The head of a head-node cluster: workers report to it, it tells them everything.
    Head,
    /// A worker of the head at this address: heartbeats to it, takes its view.
    Worker {
        /// The head's address.
        head: String,
    },
    /// Not a member: a client (`Connect`) that calls actors through one of these gateways
    /// (cluster nodes, tried in order). It binds nothing, gossips nothing, hosts nothing.
    Client {
        /// Gateway addresses (`host:port`).
        gateways: Vec<String>,
    },
}

impl Topology {
    /// The topology the options `isHeadNode` / `headAddr` describe (they are exclusive).
    pub fn from_options(
        is_head: bool,
        head_addr: Option<String>,
    ) -> Result<Topology, PulsingError> {
        match (is_head, head_addr) {
            (true, Some(_)) => Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                "isHeadNode and headAddr are exclusive: a head node has no head",
            )),
            (true, None) => Ok(Topology::Head),
            (false, Some(head)) => Ok(Topology::Worker { head }),
            (false, None) => Ok(Topology::Gossip),
        }
    }
}

/// Longest duration any timer accepts (about 24.8 days, what a JS timer can arm).
pub const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// Cluster settings. Every time-based value is configurable; the defaults suit a LAN.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Address to bind (`host:port`, port 0 picks one).
    pub bind: String,
    /// Address peers dial, when it differs from the bound one.
    pub advertise: Option<String>,
    /// Nodes to join through.
    pub seeds: Vec<String>,
    /// One member is probed per period.
    pub probe_interval: Duration,
    /// A probe without an ack within this goes indirect.
    pub probe_timeout: Duration,
    /// A suspect that does not refute within this is dead.
    pub suspicion_timeout: Duration,
    /// State is exchanged with one member per period.
    pub sync_interval: Duration,
    /// Members asked to probe for us when a direct probe fails.
    pub indirect_probes: usize,
    /// Largest frame body accepted (and sent).
    pub max_body: usize,
    /// Mutual TLS for the whole cluster, from this shared secret (see `transport::tls`).
    pub passphrase: Option<String>,
    /// Without a passphrase, a node bound to a non-loopback address accepts peers from
    /// loopback only unless this is set (protected mode).
    pub insecure: bool,
    /// Frames whose payload exceeds this go on the peer's bulk lane.
    pub bulk_threshold: usize,
    /// Gossip among peers, or head-node mode.
    pub topology: Topology,
    /// Large bodies and attachments are written in chunks of this size.
    pub chunk_bytes: usize,
    /// Connections open at once at most (accepted and dialed); more are refused.
    pub max_connections: usize,
    /// A connection must complete its handshake (TLS and `Hello`) within this.
    pub handshake_timeout: Duration,
    /// A connection that receives nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Serve HTTP on the node's port too (health, members, actors, metrics, a JSON gateway).
    pub http: bool,
}

impl ClusterConfig {
    /// Defaults for a node binding `bind`.
    pub fn new(bind: impl Into<String>) -> Self {
        Self {
            bind: bind.into(),
            advertise: None,
            seeds: Vec::new(),
            probe_interval: Duration::from_millis(300),
            probe_timeout: Duration::from_millis(150),
            suspicion_timeout: Duration::from_millis(900),
            sync_interval: Duration::from_millis(500),
            indirect_probes: 3,
            max_body: DEFAULT_MAX_BODY,
            passphrase: None,
            insecure: false,
            bulk_threshold: 64 * 1024,
            topology: Topology::Gossip,
            chunk_bytes: 256 * 1024,
            max_connections: 512,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            http: true,
        }
    }

    /// Whether this is a client's (`Connect`): it reaches the cluster through gateways.
    pub fn is_client(&self) -> bool {
        matches!(self.topology, Topology::Client { .. })
    }

    /// Check every setting; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<(), PulsingError> {
        let bad = |field: &str, range: &str, got: String| {
            Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!("{field} must be {range}, got {got}"),
            ))
        };
        let ms = |d: Duration| format!("{} ms", d.as_secs_f64() * 1000.0);
        let durations = [
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("suspicion_timeout", self.suspicion_timeout),
            ("sync_interval", self.sync_interval),
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
        ];
        for (field, d) in durations {
            if d < Duration::from_millis(1) || d > MAX_DURATION {
                return bad(field, "from 1 ms to 2147483647 ms", ms(d));
            }
        }
        if self.probe_timeout > self.probe_interval {
            return bad(
                "probe_timeout",
                "at most probe_interval",
                format!("{} > {}", ms(self.probe_timeout), ms(self.probe_interval)),
            );
        }
        if self.idle_timeout < self.probe_interval * 2 {
            return bad(
                "idle_timeout",
                "at least twice probe_interval (probes keep links busy)",
                ms(self.idle_timeout),
            );
        }
        if self.indirect_probes > 64 {
            return bad(
                "indirect_probes",
                "at most 64",
                self.indirect_probes.to_string(),
            );
        }
        if !(4096..=u32::MAX as usize).contains(&self.max_body) {
            return bad(
                "max_body",
                "from 4096 to 4294967295 bytes",
                self.max_body.to_string(),
            );
        }
        if !(4096..=1 << 31).contains(&self.chunk_bytes) {
            return bad(
                "chunk_bytes",
                "from 4096 to 2147483648 bytes",
                self.chunk_bytes.to_string(),
            );
        }
        if !(8..=1_000_000).contains(&self.max_connections) {
            return bad(
                "max_connections",
                "from 8 to 1000000",
                self.max_connections.to_string(),
            );
        }
        if let Some(s) = self.seeds.iter().find(|s| !is_host_port(s)) {
            return bad(
                "seeds",
                "\"host:port\" addresses (no scheme, no path)",
                format!("{s:?}"),
            );
        }
        if let Topology::Client { gateways } = &self.topology {
            if gateways.is_empty() {
                return bad("gateways", "at least one address", "none".into());
            }
            if let Some(g) = gateways.iter().find(|g| !is_host_port(g)) {
                return bad("gateways", "\"host:port\" addresses", format!("{g:?}"));
            }
        }
        if self.passphrase.as_deref() == Some("") {
            return bad("passphrase", "a non-empty string", "\"\"".into());
        }
        Ok(())
    }

    /// What each connection allows its peer.
    pub(crate) fn limits(&self) -> ConnLimits {
        ConnLimits {
            max_body: self.max_body,
            chunk_bytes: self.chunk_bytes,
            handshake: self.handshake_timeout,
            idle: self.idle_timeout,
        }
    }
}

/// `host:port` with a port number (the host is checked when it is dialed).
/// `host:port` (a name, an IPv4 address, or `[v6]`), with no scheme and no path.
fn is_host_port(s: &str) -> bool {
    s.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty()
            && !h.contains('/')
            && !h.contains(char::is_whitespace)
            && p.parse::<u16>().is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_is_host_port_not_a_url() {
        let mut c = ClusterConfig::new("127.0.0.1:0");
        c.seeds = vec![
            "10.0.0.1:7000".into(),
            "node-a.local:7000".into(),
            "[::1]:7000".into(),
        ];
        assert!(c.validate().is_ok());
        for bad in ["http://127.0.0.1:9000", "127.0.0.1", "host:port", "a/b:1"] {
            c.seeds = vec![bad.into()];
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("seeds") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn settings_that_disable_safety_are_refused_by_name() {
        assert!(ClusterConfig::new("127.0.0.1:0").validate().is_ok());
        let mut c = ClusterConfig::new("127.0.0.1:0");
        c.probe_interval = Duration::from_micros(500);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("probe_interval") && e.contains("1 ms"), "{e}");
        let mut c = ClusterConfig::new("127.0.0.1:0");
        c.sync_interval = Duration::ZERO;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("sync_interval"));
        let mut c = ClusterConfig::new("127.0.0.1:0");
        c.idle_timeout = Duration::from_millis(u32::MAX as u64);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("idle_timeout"));
        let mut c = ClusterConfig::new("127.0.0.1:0");
        c.max_connections = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_connections"));
    }
}
