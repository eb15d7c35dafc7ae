//! # pulsing-actor — the Pulsing actor runtime core
//!
//! The model: every actor owns private state and a bounded FIFO mailbox, and handles one
//! message at a time on a tokio task. Callers hold an [`ActorRef`](system::ActorRef) and `ask` (request/reply)
//! or `tell` (fire-and-forget); a full mailbox makes the sender wait, it never drops.
//! Named actors live in the system's registry (`actors/<name>` when the name has no `/`),
//! can be supervised (restarted from a factory with exponential backoff) and resolved by
//! name. This crate knows nothing about Node: the napi binding (`pulsing-node`) converts
//! JS values into these types at its edge.
//!
//! ```
//! use pulsing_actor::prelude::*;
//!
//! #[derive(Serialize, Deserialize)] struct Ping(i32);
//! #[derive(Serialize, Deserialize)] struct Pong(i32);
//! struct Echo;
//!
//! #[async_trait]
//! impl Actor for Echo {
//!     async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
//!         let Ping(x) = msg.unpack()?;
//!         Message::pack(&Pong(x))
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! let system = ActorSystem::builder().build().await?;
//! let echo = system.spawn_named("services/echo", Echo).await?;
//! let Pong(x): Pong = echo.ask(Ping(1)).await?;
//! assert_eq!(x, 1);
//! system.shutdown().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod actor;
mod actor_ref;
pub mod behavior;
mod cell;
pub mod cluster;
pub mod connect;
pub mod error;
pub mod http;
pub mod id;
mod mailbox;
pub mod message;
pub mod naming;
mod panics;
pub mod protocol;
pub mod queue;
pub mod resolving;
mod seam;
mod spawning;
pub mod stats;
pub mod supervision;
pub mod system;
pub mod topic;
pub mod transport;

/// Everything an application needs: `use pulsing_actor::prelude::*;`.
pub mod prelude {
    pub use crate::actor::{Actor, ActorContext, ActorId, NodeId};
    pub use crate::behavior::{stateful, stateless, Behavior, BehaviorAction};
    pub use crate::cluster::{ClusterConfig, Topology};
    pub use crate::connect::{Connect, ConnectOptions};
    pub use crate::error::{PulsingError, RuntimeErrorKind};
    pub use crate::message::{Message, MessageStream, MSGPACK};
    pub use crate::resolving::{
        ConsistentHashPolicy, LazyRef, LoadBalancingPolicy, PowerOfTwoPolicy, RandomPolicy,
        Resolving, RoundRobinPolicy,
    };
    pub use crate::supervision::{RestartPolicy, SupervisionSpec};
    pub use crate::system::{
        ActorRef, ActorSystem, ActorSystemBuilder, MemberInfo, MemberStatus, NamedActorInfo,
        NamedInstance, SpawnOptions, Spawning,
    };
    pub use async_trait::async_trait;
    pub use serde::{Deserialize, Serialize};
}

/// The README's examples, compiled (and, unless marked `no_run`, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
