//! How to spawn: [`SpawnOptions`] (supervision, mailbox bound) and the [`Spawning`] builder
//! that [`ActorSystem::spawning`] starts.

use crate::actor::Actor;
use crate::cell::Factory;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::supervision::SupervisionSpec;
use crate::system::{ActorRef, ActorSystem};

/// Options of a spawn.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// Restart policy and backoff.
    pub supervision: SupervisionSpec,
    /// Mailbox bound (the default when `None`).
    pub mailbox_capacity: Option<usize>,
}

impl SpawnOptions {
    /// Set the supervision spec.
    pub fn supervision(mut self, spec: SupervisionSpec) -> Self {
        self.supervision = spec;
        self
    }
    /// Set the mailbox capacity (at least 1).
    pub fn mailbox_capacity(mut self, n: usize) -> Self {
        self.mailbox_capacity = Some(n);
        self
    }
}

/// A spawn builder, from [`ActorSystem::spawning`].
pub struct Spawning {
    pub(crate) system: ActorSystem,
    pub(crate) name: Option<String>,
    pub(crate) options: SpawnOptions,
}

impl Spawning {
    /// Register the actor under this name (resolvable; `actors/` is prepended without `/`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Supervision of the actor. Restarts need a name. With [`Spawning::spawn_factory`] each
    /// restart gets a fresh instance; with [`Spawning::spawn`] the same instance is restarted
    /// in place (`on_stop`, then `on_start` again; its fields keep their values), except after
    /// a panic, when it stops.
    pub fn supervision(mut self, spec: SupervisionSpec) -> Self {
        self.options.supervision = spec;
        self
    }
    /// Bound of the mailbox; senders wait when it is full.
    pub fn mailbox_capacity(mut self, n: usize) -> Self {
        self.options.mailbox_capacity = Some(n);
        self
    }
    /// Spawn one instance. Under a restart policy it is restarted in place: there is
    /// nothing to rebuild a fresh one from (use [`Spawning::spawn_factory`] for that).
    pub async fn spawn<A: Actor>(self, actor: A) -> Result<ActorRef, PulsingError> {
        if self.name.is_none()
            && self.options.supervision.policy != crate::supervision::RestartPolicy::Never
        {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                "only named actors can be restarted: give the actor a name",
            ));
        }
        self.system
            .spawn_cell(self.name, Some(Box::new(actor)), None, self.options)
            .await
    }
    /// Spawn from a factory, called again for every restart. Supervision needs a name.
    pub async fn spawn_factory<A, F>(self, mut factory: F) -> Result<ActorRef, PulsingError>
    where
        A: Actor,
        F: FnMut() -> anyhow::Result<A> + Send + 'static,
    {
        if self.name.is_none()
            && self.options.supervision.policy != crate::supervision::RestartPolicy::Never
        {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                "only named actors can be restarted: give the actor a name",
            ));
        }
        let boxed: Factory = Box::new(move || factory().map(|a| Box::new(a) as Box<dyn Actor>));
        self.system
            .spawn_cell(self.name, None, Some(boxed), self.options)
            .await
    }
}
