//! The [`Actor`] trait, actor identity and the context an actor sees while it runs.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::message::Message;
use crate::system::ActorSystem;

pub use crate::id::{ActorId, NodeId};

/// What an actor sees while it handles a message.
pub struct ActorContext {
    id: ActorId,
    name: Option<String>,
    system: ActorSystem,
    pub(crate) stop_requested: bool,
    pub(crate) reply: Option<Message>,
}

impl ActorContext {
    pub(crate) fn new(id: ActorId, name: Option<String>, system: ActorSystem) -> Self {
        Self {
            id,
            name,
            system,
            stop_requested: false,
            reply: None,
        }
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// This actor's registered name (`None` when anonymous).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The system hosting this actor, to spawn or resolve other actors.
    pub fn system(&self) -> &ActorSystem {
        &self.system
    }

    /// Ask the runtime to stop this actor after the current message.
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// Set the reply of the current message (used by [`crate::behavior::Behavior`] actors,
    /// whose handlers return an action rather than a message).
    pub fn reply<T: serde::Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        self.reply = Some(Message::pack(value)?);
        Ok(())
    }
}

/// An actor: private state plus a message handler. The runtime calls `receive` for one
/// message at a time, in mailbox order.
///
/// Returning an error from `receive` answers the caller with it and keeps the actor alive,
/// unless the error is a [`PulsingError::System`](crate::error::PulsingError::System) with `recoverable: false`, which crashes
/// the actor (and lets supervision restart it). An error from `on_start` is a crash too.
#[async_trait]
pub trait Actor: Send + 'static {
    /// Runs once before the first message.
    async fn on_start(&mut self, _ctx: &mut ActorContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs when the actor stops (by `stop`, by itself, or at system shutdown).
    async fn on_stop(&mut self, _ctx: &mut ActorContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// Diagnostic key/values published with the actor's name.
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::new()
    }

    /// Handle one message and produce the reply (a single message or a stream).
    async fn receive(&mut self, msg: Message, ctx: &mut ActorContext) -> anyhow::Result<Message>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_id_round_trips_through_its_string_form() {
        let id = ActorId {
            node: NodeId(0xabc),
            local: 42,
        };
        assert_eq!(id.to_string(), "0000000000000abc:42");
        assert_eq!(id.to_string().parse::<ActorId>().unwrap(), id);
        assert!("nope".parse::<ActorId>().is_err());
    }
}
