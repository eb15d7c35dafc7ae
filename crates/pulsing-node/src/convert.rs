//! Conversions between core types and the `Js*` shapes napi passes to JavaScript.

use std::collections::HashMap;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use pulsing_actor::prelude::*;
use pulsing_actor::system::{MemberInfo, NamedActorInfo};
use pulsing_actor::transport::WireError;

/// The `code` of a JS error thrown by the binding: the error kind of the core
/// (`RuntimeErrorKind` names, or `Business`, `System`, `Timeout`, `Unsupported`), so the
/// TypeScript layer rebuilds the typed error class from a field, never from text.
#[derive(Debug, Clone, Copy)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// Turn a core error into a JS error whose `code` is the error's kind.
pub fn to_napi(err: PulsingError) -> napi::Error<Code> {
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
    napi::Error::new(Code(code), message)
}

/// A core error as a value (for async entry points, whose rejections napi types by status).
pub fn to_wire(err: &PulsingError) -> JsWireError {
    WireError::from(err).into()
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
    /// How long shutdown gives messages still being handled, and the node's queue buckets
    /// to be handed over, in milliseconds.
    pub shutdown_timeout_ms: Option<u32>,
    /// Serve HTTP on the node's port too (default true).
    pub http: Option<bool>,
    /// Where this node keeps `disk` queue buckets (default `.pulsing/queues`).
    pub storage_path: Option<String>,
    /// Count named Rust actors' messages, errors and latency (default true).
    pub actor_metrics: Option<bool>,
    /// Address to bind; absent = standalone.
    pub addr: Option<String>,
    /// Nodes to join through.
    pub seeds: Option<Vec<String>>,
    /// Address peers dial, when it differs from `addr`.
    pub advertise_addr: Option<String>,
    /// Mutual TLS for the whole cluster from this shared secret.
    pub passphrase: Option<String>,
    /// Large payloads are written in chunks of this many bytes (PULSING_ZEROCOPY_CHUNK_BYTES).
    pub chunk_bytes: Option<u32>,
    /// Frames over this many bytes take the bulk lane (PULSING_ZEROCOPY_STREAM_THRESHOLD).
    pub bulk_threshold: Option<u32>,
    /// Head-node mode: this node is the head.
    pub is_head_node: Option<bool>,
    /// Head-node mode: this node is a worker of the head at this address.
    pub head_addr: Option<String>,
    /// SWIM: one member probed per period.
    pub probe_interval_ms: Option<u32>,
    /// SWIM: a probe goes indirect after this.
    pub probe_timeout_ms: Option<u32>,
    /// SWIM: a suspect is dead after this.
    pub suspicion_timeout_ms: Option<u32>,
    /// Push-pull period.
    pub sync_interval_ms: Option<u32>,
    /// Accept peers from any address without a passphrase (protected mode off).
    pub insecure: Option<bool>,
    /// Connections open at once at most.
    pub max_connections: Option<u32>,
    /// Handshake deadline of a connection.
    pub handshake_timeout_ms: Option<u32>,
    /// A silent connection is closed after this.
    pub idle_timeout_ms: Option<u32>,
}

/// Protocol constants, defined once in the core.
#[napi(object)]
pub struct JsProtocol {
    /// Items a stream producer may send ahead of its consumer.
    pub stream_window: u32,
    /// Credit is returned this many items at a time.
    pub credit_batch: u32,
    /// Bytes a stream producer may have ahead of its consumer.
    pub stream_window_bytes: u32,
    /// Credit is also returned once the items used since the last credit came to this many bytes.
    pub credit_bytes: u32,
    /// Request ids of foreign callers are drawn below this.
    pub req_id_space: f64,
    /// Longest actor name in bytes.
    pub max_name_bytes: u32,
    /// Largest metadata of a named actor in bytes.
    pub max_metadata_bytes: u32,
    /// Error kinds of runtime errors.
    pub error_kinds: Vec<String>,
}

/// A typed error as it travels (see `WireError` in the core).
#[napi(object)]
pub struct JsWireError {
    pub cls: String,
    pub message: String,
    pub kind: Option<String>,
    pub code: Option<i32>,
    pub details: Option<Buffer>,
    pub error: Option<String>,
    pub recoverable: Option<bool>,
    pub operation: Option<String>,
    pub duration_ms: Option<f64>,
    pub actor_name: Option<String>,
}

impl From<WireError> for JsWireError {
    fn from(w: WireError) -> Self {
        JsWireError {
            cls: w.cls,
            message: w.message,
            kind: w.kind,
            code: w.code,
            details: w.details.map(Buffer::from),
            error: w.error,
            recoverable: w.recoverable,
            operation: w.operation,
            duration_ms: w.duration_ms.map(|d| d as f64),
            actor_name: w.actor_name,
        }
    }
}

impl From<JsWireError> for WireError {
    fn from(w: JsWireError) -> Self {
        WireError {
            cls: w.cls,
            message: w.message,
            kind: w.kind,
            code: w.code,
            details: w.details.map(|b| b.to_vec()),
            error: w.error,
            recoverable: w.recoverable,
            operation: w.operation,
            duration_ms: w.duration_ms.map(|d| d as u64),
            actor_name: w.actor_name,
        }
    }
}
