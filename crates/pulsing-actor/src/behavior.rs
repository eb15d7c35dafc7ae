//! Typed behaviors (Akka Typed style): an actor is a function from a message to the next
//! behavior. `Same` keeps it, `Become` swaps it, `Stop` ends the actor.
//!
//! ```
//! use pulsing_actor::prelude::*;
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! fn counter(init: i32) -> Behavior<i32> {
//!     stateful(init, |count, n, ctx| { *count += n; ctx.reply(count).ok(); BehaviorAction::Same })
//! }
//! let system = ActorSystem::builder().build().await?;
//! let c = system.spawn_named("actors/counter", counter(0)).await?;
//! let total: i32 = c.ask(5).await?;
//! assert_eq!(total, 5);
//! # system.shutdown().await?; Ok(()) }
//! ```

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::actor::{Actor, ActorContext};
use crate::message::Message;

type Handler<M> = Box<dyn FnMut(M, &mut ActorContext) -> BehaviorAction<M> + Send>;

/// What a behavior does after a message.
pub enum BehaviorAction<M> {
    /// Keep the current behavior.
    Same,
    /// Handle the next messages with another behavior.
    Become(Behavior<M>),
    /// Stop the actor.
    Stop,
}

/// A typed actor: handles messages of type `M` (decoded with `Message::unpack`).
/// The reply is what the handler set with `ctx.reply(..)`, or `()`.
pub struct Behavior<M> {
    handler: Handler<M>,
}

/// A behavior with state `S` owned by the handler.
pub fn stateful<S, M, F>(mut state: S, mut f: F) -> Behavior<M>
where
    S: Send + 'static,
    M: 'static,
    F: FnMut(&mut S, M, &mut ActorContext) -> BehaviorAction<M> + Send + 'static,
{
    Behavior {
        handler: Box::new(move |m, ctx| f(&mut state, m, ctx)),
    }
}

/// A behavior without state.
pub fn stateless<M, F>(f: F) -> Behavior<M>
where
    F: FnMut(M, &mut ActorContext) -> BehaviorAction<M> + Send + 'static,
{
    Behavior {
        handler: Box::new(f),
    }
}

#[async_trait]
impl<M> Actor for Behavior<M>
where
    M: DeserializeOwned + Send + 'static,
{
    async fn receive(&mut self, msg: Message, ctx: &mut ActorContext) -> anyhow::Result<Message> {
        let m: M = msg.unpack()?;
        match (self.handler)(m, ctx) {
            BehaviorAction::Same => {}
            BehaviorAction::Become(next) => self.handler = next.handler,
            BehaviorAction::Stop => ctx.stop(),
        }
        match ctx.reply.take() {
            Some(r) => Ok(r),
            None => Message::pack(&()),
        }
    }
}
