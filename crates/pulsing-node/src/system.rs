//! `NativeSystem`: the core `ActorSystem` as JavaScript sees it.

use std::collections::HashMap;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::naming;
use pulsing_actor::prelude::*;

use crate::convert::{to_napi, JsMember, JsNamedActor, JsNamedInstance, JsSystemConfig};

/// The core actor system of one node.
#[napi]
pub struct NativeSystem {
    inner: ActorSystem,
}

/// Create a system (standalone until the cluster transport lands).
#[napi]
pub async fn create_system(config: Option<JsSystemConfig>) -> Result<NativeSystem> {
    let mut b = ActorSystem::builder();
    if let Some(c) = config {
        if let Some(id) = c.node_id {
            b = b.node_id(id.parse::<NodeId>().map_err(to_napi)?);
        }
        if let Some(ms) = c.default_timeout_ms {
            b = b.default_timeout(Duration::from_millis(ms.into()));
        }
    }
    let inner = b
        .build()
        .await
        .map_err(|e| napi::Error::from_reason(format!("[Config] {e:#}")))?;
    Ok(NativeSystem { inner })
}

/// Normalise an actor name (`x` → `actors/x`); `forSpawn` also refuses `system/*`.
#[napi]
pub fn normalize_name(name: String, for_spawn: bool) -> Result<String> {
    if for_spawn {
        naming::normalize_for_spawn(&name)
    } else {
        naming::normalize(&name)
    }
    .map_err(to_napi)
}

#[napi]
impl NativeSystem {
    /// This node's id (16 hex digits).
    #[napi(getter)]
    pub fn node_id(&self) -> String {
        self.inner.node_id().to_string()
    }

    /// The listening address, `null` when standalone.
    #[napi(getter)]
    pub fn addr(&self) -> Option<String> {
        self.inner.addr().map(str::to_string)
    }

    /// Reserve `count` local ids for actors hosted in JS; returns the first.
    #[napi]
    pub fn reserve_ids(&self, count: u32) -> i64 {
        self.inner.reserve_local_ids(count.into()) as i64
    }

    /// Register a JS-hosted actor under `name`; returns its actor id.
    #[napi]
    pub fn register_name(
        &self,
        name: String,
        local: i64,
        metadata: HashMap<String, String>,
    ) -> Result<String> {
        self.inner
            .register_foreign(&name, local as u64, metadata)
            .map(|id| id.to_string())
            .map_err(to_napi)
    }

    /// Point `name` at a new incarnation (a restart) or update its metadata.
    #[napi]
    pub fn update_name(
        &self,
        name: String,
        local: i64,
        metadata: HashMap<String, String>,
    ) -> Result<()> {
        self.inner
            .update_foreign(&name, local as u64, metadata)
            .map_err(to_napi)
    }

    /// Drop `name` if `local` still holds it; returns whether it was dropped.
    #[napi]
    pub fn unregister_name(&self, name: String, local: i64) -> Result<bool> {
        self.inner
            .unregister_foreign(&name, local as u64)
            .map_err(to_napi)
    }

    /// The instance registered under `name`, if any.
    #[napi]
    pub fn lookup(&self, name: String) -> Result<Option<JsNamedInstance>> {
        let node = self.inner.node_id().to_string();
        Ok(self
            .inner
            .lookup(&name)
            .map_err(to_napi)?
            .map(|r| JsNamedInstance {
                node_id: node,
                actor_id: r.actor_id.to_string(),
                metadata: r.metadata,
            }))
    }

    /// Members of the cluster, this node included.
    #[napi]
    pub async fn members(&self) -> Vec<JsMember> {
        self.inner
            .members()
            .await
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Every named actor with its instances.
    #[napi]
    pub async fn all_named_actors(&self) -> Vec<JsNamedActor> {
        self.inner
            .all_named_actors()
            .await
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Stop Rust-hosted actors and refuse new names. Idempotent.
    #[napi]
    pub async fn shutdown(&self) -> Result<()> {
        self.inner
            .shutdown()
            .await
            .map_err(|e| napi::Error::from_reason(format!("[Io] {e:#}")))
    }
}
