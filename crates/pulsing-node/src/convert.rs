//! Conversions between core types and the `Js*` shapes napi passes to JavaScript.

use std::collections::HashMap;

use napi_derive::napi;
use pulsing_actor::prelude::*;
use pulsing_actor::system::{MemberInfo, NamedActorInfo};

/// Turn a core error into a JS error whose `code` is the error's kind, so the TypeScript
/// layer can rebuild the typed error class without parsing text.
pub fn to_napi(err: PulsingError) -> napi::Error {
    let code = match &err {
        PulsingError::Runtime { kind, .. } => kind.as_str(),
        PulsingError::Business { .. } => "Business",
        PulsingError::System { .. } => "System",
        PulsingError::Timeout { .. } => "Timeout",
        PulsingError::Unsupported { .. } => "Unsupported",
    };
    let message = match err {
        PulsingError::Runtime { message, .. } => message,
        other => other.to_string(),
    };
    napi::Error::new(napi::Status::GenericFailure, format!("[{code}] {message}"))
}

/// A member of the cluster.
#[napi(object)]
pub struct JsMember {
    pub node_id: String,
    pub addr: Option<String>,
    pub status: String,
}

impl From<MemberInfo> for JsMember {
    fn from(m: MemberInfo) -> Self {
        JsMember {
            node_id: m.node_id.to_string(),
            addr: m.addr,
            status: m.status.as_str().to_string(),
        }
    }
}

/// One instance of a named actor.
#[napi(object)]
pub struct JsNamedInstance {
    pub node_id: String,
    pub actor_id: String,
    pub metadata: HashMap<String, String>,
}

/// A name and its instances.
#[napi(object)]
pub struct JsNamedActor {
    pub name: String,
    pub instances: Vec<JsNamedInstance>,
}

impl From<NamedActorInfo> for JsNamedActor {
    fn from(n: NamedActorInfo) -> Self {
        JsNamedActor {
            name: n.name,
            instances: n
                .instances
                .into_iter()
                .map(|i| JsNamedInstance {
                    node_id: i.node_id.to_string(),
                    actor_id: i.actor_id.to_string(),
                    metadata: i.metadata,
                })
                .collect(),
        }
    }
}

/// Options of a new system.
#[napi(object)]
pub struct JsSystemConfig {
    /// Fixed node id (16 hex digits); random when absent.
    pub node_id: Option<String>,
    /// Default call timeout in milliseconds.
    pub default_timeout_ms: Option<u32>,
}
