//! Actors hosted outside Rust (the JS layer): they take their ids from this system and
//! register their names in its registry, so ids and names never collide on a node.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::ActorSystem;
use crate::actor::ActorId;
use crate::error::PulsingError;
use crate::naming::{self, Registration};

impl ActorSystem {
    #[doc(hidden)]
    /// Reserve `count` consecutive local ids and return the first. Actors hosted outside
    /// Rust (the JS layer) take their ids from here, so ids never collide on a node.
    pub fn reserve_local_ids(&self, count: u64) -> u64 {
        self.inner
            .next_local
            .fetch_add(count.max(1), Ordering::Relaxed)
    }

    #[doc(hidden)]
    /// Register a name for an actor hosted outside Rust (its id from `reserve_local_ids`).
    pub fn register_foreign(
        &self,
        name: &str,
        local: u64,
        metadata: HashMap<String, String>,
    ) -> Result<ActorId, PulsingError> {
        self.check_open()?;
        let full = naming::normalize_for_spawn(name)?;
        let actor_id = self.local_id(local);
        self.inner
            .registry
            .lock()
            .insert(full.clone(), Registration { actor_id, metadata })?;
        self.name_changed(&full);
        Ok(actor_id)
    }

    #[doc(hidden)]
    /// Point an existing name at a new incarnation, or update its metadata.
    pub fn update_foreign(
        &self,
        name: &str,
        local: u64,
        metadata: HashMap<String, String>,
    ) -> Result<(), PulsingError> {
        let full = naming::normalize(name)?;
        naming::check_metadata(&full, &metadata)?;
        let actor_id = self.local_id(local);
        self.inner
            .registry
            .lock()
            .replace(full.clone(), Registration { actor_id, metadata });
        self.name_changed(&full);
        Ok(())
    }

    #[doc(hidden)]
    /// Drop the name of an actor hosted outside Rust, if `local` still holds it.
    pub fn unregister_foreign(&self, name: &str, local: u64) -> Result<bool, PulsingError> {
        let full = naming::normalize(name)?;
        let actor_id = self.local_id(local);
        let removed = self.inner.registry.lock().remove_if(&full, actor_id);
        if removed {
            self.name_changed(&full);
        }
        Ok(removed)
    }
}
