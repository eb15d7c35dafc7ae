//! Typed errors. They keep their category end to end (actor → caller), so a caller can tell
//! a business error (bad input, the actor goes on) from a system error (may restart the
//! actor) from a framework error (actor not found, stopped, ...), as the public contract says.

use std::fmt;

/// The kind of a framework-level error ([`PulsingError::Runtime`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeErrorKind {
    ActorNotFound,
    NodeNotFound,
    NodeDown,
    Stopped,
    ConnectionFailed,
    Serialization,
    Config,
    Io,
    Tls,
    Protocol,
}

impl RuntimeErrorKind {
    /// Every kind, in the order of the public contract.
    pub const ALL: [RuntimeErrorKind; 10] = [
        Self::ActorNotFound,
        Self::NodeNotFound,
        Self::NodeDown,
        Self::Stopped,
        Self::ConnectionFailed,
        Self::Serialization,
        Self::Config,
        Self::Io,
        Self::Tls,
        Self::Protocol,
    ];

    /// The kind named `s` (as [`RuntimeErrorKind::as_str`] spells it).
    pub fn parse(s: &str) -> Option<RuntimeErrorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The name used in messages and by the JS layer (`PulsingRuntimeError.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActorNotFound => "ActorNotFound",
            Self::NodeNotFound => "NodeNotFound",
            Self::NodeDown => "NodeDown",
            Self::Stopped => "Stopped",
            Self::ConnectionFailed => "ConnectionFailed",
            Self::Serialization => "Serialization",
            Self::Config => "Config",
            Self::Io => "Io",
            Self::Tls => "Tls",
            Self::Protocol => "Protocol",
        }
    }
}

impl fmt::Display for RuntimeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error the runtime reports, by category.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PulsingError {
    /// Framework error: the runtime could not deliver or complete the call.
    #[error("{kind}: {message}")]
    Runtime {
        kind: RuntimeErrorKind,
        message: String,
    },
    /// Business error raised by actor code: bad input; the actor keeps going.
    #[error("business error {code}: {message}")]
    Business {
        code: i32,
        message: String,
        details: Option<String>,
    },
    /// Internal error raised by actor code; `recoverable: false` crashes the actor.
    #[error("system error: {error}")]
    System { error: String, recoverable: bool },
    /// An operation took longer than allowed.
    #[error("timeout: {operation} after {duration_ms} ms")]
    Timeout { operation: String, duration_ms: u64 },
    /// The operation is not supported by the target.
    #[error("unsupported: {operation}")]
    Unsupported { operation: String },
}

impl PulsingError {
    /// A framework error of `kind`.
    pub fn runtime(kind: RuntimeErrorKind, message: impl Into<String>) -> Self {
        Self::Runtime {
            kind,
            message: message.into(),
        }
    }

    /// A business error (the actor stays up).
    pub fn business(code: i32, message: impl Into<String>) -> Self {
        Self::Business {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// A system error; `recoverable: false` makes the actor crash (and maybe restart).
    pub fn system(error: impl Into<String>, recoverable: bool) -> Self {
        Self::System {
            error: error.into(),
            recoverable,
        }
    }

    /// The runtime kind, if this is a framework error.
    pub fn kind(&self) -> Option<RuntimeErrorKind> {
        match self {
            Self::Runtime { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether this error, raised by an actor, must crash it (supervision decides what next).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::System {
                recoverable: false,
                ..
            }
        )
    }

    /// Classify an error returned by actor code: a `PulsingError` keeps its category,
    /// anything else becomes a recoverable system error carrying the full context chain.
    pub fn from_actor(err: anyhow::Error) -> Self {
        match err.downcast::<PulsingError>() {
            Ok(e) => e,
            Err(other) => Self::system(format!("{other:#}"), true),
        }
    }
}

/// Result alias of the runtime.
pub type Result<T, E = PulsingError> = std::result::Result<T, E>;
