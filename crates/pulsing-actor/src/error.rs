//! Typed errors. They keep their category end to end (actor → caller), so a caller can tell
//! a business error (bad input, the actor goes on) from a system error (may restart the
//! actor) from a framework error (actor not found, stopped, ...), as the public contract says.

use std::fmt;

/// The kind of a framework-level error ([`PulsingError::Runtime`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeErrorKind {
    /// No actor with that id or name.
    ActorNotFound,
    /// The node is not a live member.
    NodeNotFound,
    /// The node was declared dead or left while the call was pending.
    NodeDown,
    /// The actor or the system is stopped.
    Stopped,
    /// The node could not be reached, or the connection closed before the reply.
    ConnectionFailed,
    /// A value could not be encoded, or bytes could not be decoded (or exceeded the decoding budget).
    Serialization,
    /// A setting or an argument is invalid.
    Config,
    /// An I/O operation failed (bind, accept).
    Io,
    /// TLS set-up or a handshake failed.
    Tls,
    /// A peer broke the wire protocol.
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
        /// What went wrong.
        kind: RuntimeErrorKind,
        /// What went wrong, for people.
        message: String,
    },
    /// Business error raised by actor code: bad input; the actor keeps going.
    #[error("business error {code}: {message}")]
    Business {
        /// An application-defined code (HTTP-like by convention).
        code: i32,
        /// What went wrong, for people.
        message: String,
        /// Structured details, when given.
        details: Option<String>,
    },
    /// Internal error raised by actor code; `recoverable: false` crashes the actor.
    #[error("system error: {error}")]
    System {
        /// What failed.
        error: String,
        /// Whether the actor may go on (`false` crashes it; supervision may restart it).
        recoverable: bool,
    },
    /// An operation took longer than allowed.
    #[error("timeout: {operation} after {duration_ms} ms")]
    Timeout {
        /// What timed out.
        operation: String,
        /// How long it was allowed.
        duration_ms: u64,
    },
    /// The operation is not supported by the target.
    #[error("unsupported: {operation}")]
    Unsupported {
        /// What was attempted.
        operation: String,
    },
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
