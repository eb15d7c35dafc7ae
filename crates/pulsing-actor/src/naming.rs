//! Actor names: normalisation and the registry of named actors on this node.
//!
//! A name without `/` is stored as `actors/<name>`; a name with `/` is kept; `system/*` is
//! reserved for the runtime. The registry maps a normalised name to the instance hosting it;
//! entries for actors hosted outside Rust (TypeScript actors) are kept here too, so the node
//! has one view of its names whatever language implements them.

use std::collections::{BTreeMap, HashMap};

use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::ActorId;
use crate::protocol::{MAX_METADATA_BYTES, MAX_NAME_BYTES};

/// Normalise a user-supplied name (`counter` → `actors/counter`).
pub fn normalize(name: &str) -> Result<String, PulsingError> {
    let bad = |why: &str| {
        PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!("invalid actor name {name:?}: {why}"),
        )
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err(bad("segments must be non-empty"));
    }
    let full = if name.contains('/') {
        name.to_string()
    } else {
        format!("actors/{name}")
    };
    if full.len() > MAX_NAME_BYTES {
        return Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!(
                "invalid actor name {:?}...: {} bytes, the limit is {MAX_NAME_BYTES}",
                name.chars().take(32).collect::<String>(),
                full.len()
            ),
        ));
    }
    Ok(full)
}

/// Check the metadata of a named actor against the documented limit.
pub fn check_metadata(name: &str, metadata: &HashMap<String, String>) -> Result<(), PulsingError> {
    let size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!(
                "metadata of {name} is {size} bytes (keys and values), the limit is {MAX_METADATA_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// Normalise a name for spawning: as [`normalize`], and `system/*` is refused.
pub fn normalize_for_spawn(name: &str) -> Result<String, PulsingError> {
    let n = normalize(name)?;
    if n.starts_with("system/") {
        return Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!("invalid actor name {name:?}: the system/ prefix is reserved"),
        ));
    }
    Ok(n)
}

/// One registered instance of a name.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The actor holding the name.
    pub actor_id: ActorId,
    /// Its metadata (limited to `MAX_METADATA_BYTES`).
    pub metadata: HashMap<String, String>,
}

/// Names hosted on this node. Ordered so listings are stable.
#[derive(Debug, Default)]
pub struct Registry {
    entries: BTreeMap<String, Registration>,
}

impl Registry {
    /// Register `name` (already normalised); a taken name is an error naming it.
    pub fn insert(&mut self, name: String, reg: Registration) -> Result<(), PulsingError> {
        check_metadata(&name, &reg.metadata)?;
        if self.entries.contains_key(&name) {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!("actor name {name:?} is already taken on this node"),
            ));
        }
        self.entries.insert(name, reg);
        Ok(())
    }

    /// Replace the registration of `name` (a restart under the same name).
    pub fn replace(&mut self, name: String, reg: Registration) {
        self.entries.insert(name, reg);
    }

    /// Remove `name` if it is still held by `actor_id` (a stale incarnation removes nothing).
    pub fn remove_if(&mut self, name: &str, actor_id: ActorId) -> bool {
        if self.entries.get(name).map(|r| r.actor_id) == Some(actor_id) {
            self.entries.remove(name);
            true
        } else {
            false
        }
    }

    /// Remove `name` whoever holds it.
    pub fn remove(&mut self, name: &str) -> Option<Registration> {
        self.entries.remove(name)
    }

    /// The instance registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Registration> {
        self.entries.get(name)
    }

    /// Every registration, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Registration)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_system_is_reserved() {
        assert_eq!(normalize("counter").unwrap(), "actors/counter");
        assert_eq!(normalize("services/calc").unwrap(), "services/calc");
        assert_eq!(normalize("actors/x").unwrap(), normalize("x").unwrap());
        assert!(normalize("").is_err());
        assert!(normalize("a//b").is_err());
        let long = "n".repeat(70_000);
        let err = normalize(&long).unwrap_err();
        assert!(err.to_string().contains("limit is 1024"), "{err}");
        let mut big = HashMap::new();
        big.insert("k".to_string(), "v".repeat(20_000));
        assert!(check_metadata("actors/x", &big).is_err());
        let err = normalize_for_spawn("system/core").unwrap_err();
        assert_eq!(err.kind(), Some(RuntimeErrorKind::Config));
        assert!(err.to_string().contains("reserved"));
    }
}
