//! The binary transport: one TCP port per node, framed and multiplexed. Many requests are
//! in flight per connection and replies come back in any order (matched by request id);
//! writes are coalesced, and large bodies are written from their own buffers, never copied
//! next to the header. See [`frame`] for the wire format.

pub mod bulk;
pub mod conn;
pub mod frame;
mod lent;
pub mod plain;
pub mod sniff;
pub mod tls;
pub mod traffic;
pub mod wire_error;

pub use frame::{Frame, Header, Target, WireError};
