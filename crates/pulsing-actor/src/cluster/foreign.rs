//! The seam to a host of actors that are not Rust (the JS binding): what the node hands it.

use bytes::Bytes;

use std::sync::Arc;

use crate::id::NodeId;
use crate::transport::conn::ConnHandle;
use crate::transport::Header;

/// What the transport hands to the host of foreign (non-Rust) actors.
#[derive(Debug)]
pub enum ForeignEvent {
    /// A request (`Ask`, `Tell`, `Credit`, `Cancel`) for something the host serves.
    /// `local` is the target's local id when known (0 otherwise, see `name`).
    Request {
        /// The connection it came on (answers go back there).
        conn: u32,
        /// The request.
        header: Header,
        /// The target's local id, 0 when addressed by name.
        local: u64,
        /// The target's name, when addressed by name.
        name: Option<String>,
        /// The payload.
        body: Bytes,
        /// Out-of-band parts.
        attachments: Vec<Bytes>,
    },
    /// A reply frame for a request the host sent, with where it came from: the host accepts
    /// it only from the node its request went to.
    Response {
        /// The connection it arrived on.
        conn: u32,
        /// The node on the other side of that connection, when known.
        node: Option<NodeId>,
        /// The reply.
        header: Header,
        /// The payload.
        body: Bytes,
        /// Out-of-band parts.
        attachments: Vec<Bytes>,
    },
    /// A connection closed: calls sent on it fail now.
    ConnClosed(u32),
    /// A node was declared dead or left: fail what is pending on it.
    NodeDown(NodeId),
}

/// The host of foreign actors (the JS binding implements it).
pub trait ForeignHost: Send + Sync + 'static {
    /// Deliver an event; must not block.
    fn deliver(&self, event: ForeignEvent);
    /// Read `conn` on your own thread from now on, between frames (see
    /// [`crate::transport::conn::FrameSink::lend`]): its frames are then handed on there,
    /// and what they make for you arrives through [`ForeignHost::deliver`] on that thread.
    /// Events delivered before this call must reach your actors before any read after it.
    /// False (the default): you cannot, and the node's reader reads on.
    fn borrow_reads(&self, conn: &Arc<ConnHandle>) -> bool {
        let _ = conn;
        false
    }
}
