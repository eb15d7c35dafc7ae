//! The cluster: SWIM membership, the cluster-wide name registry, and the node runtime that
//! joins them to the transport.
//!
//! Model: each node probes one member per `probe_interval` (a `Ping` over its connection).
//! No `Ack` within `probe_timeout` → it asks `indirect_k` other members to probe for it
//! (`PingReq`); still nothing by the end of the round → the member is *suspect*. A suspect
//! that does not refute (by gossiping a higher incarnation) within `suspicion_timeout` is
//! *dead*: its names are dropped and every call pending on it fails with `NodeDown`.
//! Updates ride on pings and acks (piggybacked dissemination, each retransmitted a bounded
//! number of times); every `sync_interval` a node also exchanges its full state with one
//! random member (push-pull), so the cluster converges even when updates were missed.

pub mod config;
pub mod faults;
pub mod foreign;
pub mod gossip;
pub mod local;
pub mod membership;
pub mod names;
pub mod node;
pub mod queue;

pub use config::{ClusterConfig, Topology};
pub use faults::Faults;
pub use foreign::{ForeignEvent, ForeignHost};
