//! JSON for HTTP callers: errors as objects with their class and fields (the same classes
//! TypeScript callers get), and MessagePack values as JSON.

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::cluster::gossip::Liveness;
use crate::error::{PulsingError, RuntimeErrorKind};

/// A member's status as the API spells it.
pub fn liveness(l: Liveness) -> &'static str {
    match l {
        Liveness::Alive => "alive",
        Liveness::Suspect => "suspect",
        Liveness::Dead => "dead",
        Liveness::Left => "left",
    }
}

/// The HTTP status and the `{"error": {...}}` object of `e`.
pub fn error(e: &PulsingError) -> (StatusCode, Value) {
    let (status, body) = match e {
        PulsingError::Runtime { kind, message } => (
            match kind {
                RuntimeErrorKind::ActorNotFound | RuntimeErrorKind::NodeNotFound => {
                    StatusCode::NOT_FOUND
                }
                RuntimeErrorKind::Config
                | RuntimeErrorKind::Serialization
                | RuntimeErrorKind::Protocol => StatusCode::BAD_REQUEST,
                RuntimeErrorKind::NodeDown
                | RuntimeErrorKind::ConnectionFailed
                | RuntimeErrorKind::Stopped => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            json!({ "class": "PulsingRuntimeError", "kind": kind.as_str(), "message": message }),
        ),
        PulsingError::Business {
            code,
            message,
            details,
        } => (
            u16::try_from(*code)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            json!({
                "class": "PulsingBusinessError",
                "code": code,
                "message": message,
                "details": details.as_deref().map(|d| serde_json::from_str::<Value>(d).unwrap_or_else(|_| Value::String(d.to_string()))),
            }),
        ),
        PulsingError::System { error, recoverable } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "class": "PulsingSystemError", "error": error, "recoverable": recoverable, "message": error }),
        ),
        PulsingError::Timeout {
            operation,
            duration_ms,
        } => (
            StatusCode::GATEWAY_TIMEOUT,
            json!({ "class": "PulsingTimeoutError", "operation": operation, "durationMs": duration_ms, "message": e.to_string() }),
        ),
        PulsingError::Unsupported { operation } => (
            StatusCode::NOT_IMPLEMENTED,
            json!({ "class": "PulsingUnsupportedError", "operation": operation, "message": e.to_string() }),
        ),
    };
    (status, json!({ "error": body }))
}

/// A MessagePack value as JSON; values JSON cannot show (binary, extension types: a `Map`,
/// a `Date`) are an error naming that.
pub fn from_msgpack(bytes: &[u8]) -> Result<Value, PulsingError> {
    rmp_serde::from_slice::<Value>(bytes).map_err(|e| {
        PulsingError::runtime(
            RuntimeErrorKind::Serialization,
            format!("the result cannot be shown as JSON: {e}"),
        )
    })
}
