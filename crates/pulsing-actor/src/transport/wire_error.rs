//! Errors as they travel: the class name and the fields of the class, never text to parse.
//! The conversions to and from [`PulsingError`] live here, once, for Rust callers and for
//! the binding alike.

use serde::{Deserialize, Serialize};

use crate::error::{PulsingError, RuntimeErrorKind};

/// An error as it travels: class, message and the fields of its class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// The error class (`PulsingRuntimeError`, `PulsingBusinessError`, ...).
    pub cls: String,
    /// The message.
    pub message: String,
    /// Runtime errors: the kind (`NodeDown`, `Config`, ...).
    pub kind: Option<String>,
    /// Business errors: the code.
    pub code: Option<i32>,
    /// Details of a business error, MessagePack-encoded.
    pub details: Option<Vec<u8>>,
    /// System errors: what failed.
    pub error: Option<String>,
    /// System errors: whether the actor may go on.
    pub recoverable: Option<bool>,
    /// Timeouts and unsupported operations: what was attempted.
    pub operation: Option<String>,
    /// Timeouts: how long it was allowed.
    pub duration_ms: Option<u64>,
    /// The actor that raised it, when known.
    pub actor_name: Option<String>,
}

impl WireError {
    /// A runtime error of `kind`.
    pub fn runtime(kind: RuntimeErrorKind, message: impl Into<String>) -> WireError {
        WireError::from(&PulsingError::runtime(kind, message))
    }
}

impl From<&PulsingError> for WireError {
    fn from(e: &PulsingError) -> Self {
        let mut w = WireError {
            message: match e {
                PulsingError::Runtime { message, .. } => message.clone(),
                PulsingError::Business { message, .. } => message.clone(),
                PulsingError::System { error, .. } => error.clone(),
                other => other.to_string(),
            },
            ..Default::default()
        };
        match e {
            PulsingError::Runtime { kind, .. } => {
                w.cls = "PulsingRuntimeError".into();
                w.kind = Some(kind.as_str().into());
            }
            PulsingError::Business { code, details, .. } => {
                w.cls = "PulsingBusinessError".into();
                w.code = Some(*code);
                w.details = details
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    .and_then(|v| rmp_serde::to_vec_named(&v).ok());
            }
            PulsingError::System { error, recoverable } => {
                w.cls = "PulsingSystemError".into();
                w.error = Some(error.clone());
                w.recoverable = Some(*recoverable);
            }
            PulsingError::Timeout {
                operation,
                duration_ms,
            } => {
                w.cls = "PulsingTimeoutError".into();
                w.operation = Some(operation.clone());
                w.duration_ms = Some(*duration_ms);
            }
            PulsingError::Unsupported { operation } => {
                w.cls = "PulsingUnsupportedError".into();
                w.operation = Some(operation.clone());
            }
        }
        w
    }
}

impl From<&WireError> for PulsingError {
    fn from(w: &WireError) -> Self {
        match w.cls.as_str() {
            "PulsingRuntimeError" => {
                let kind = w
                    .kind
                    .as_deref()
                    .and_then(RuntimeErrorKind::parse)
                    .unwrap_or(RuntimeErrorKind::Protocol);
                PulsingError::runtime(kind, w.message.clone())
            }
            "PulsingBusinessError" => PulsingError::Business {
                code: w.code.unwrap_or(0),
                message: w.message.clone(),
                // MessagePack on the wire, JSON text in Rust (what a TS caller passed).
                details: w
                    .details
                    .as_deref()
                    .and_then(|b| rmp_serde::from_slice::<serde_json::Value>(b).ok())
                    .map(|v| v.to_string()),
            },
            "PulsingTimeoutError" => PulsingError::Timeout {
                operation: w.operation.clone().unwrap_or_default(),
                duration_ms: w.duration_ms.unwrap_or(0),
            },
            "PulsingUnsupportedError" => PulsingError::Unsupported {
                operation: w.operation.clone().unwrap_or_else(|| w.message.clone()),
            },
            _ => PulsingError::system(
                w.error.clone().unwrap_or_else(|| w.message.clone()),
                w.recoverable.unwrap_or(true),
            ),
        }
    }
}
