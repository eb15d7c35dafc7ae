//! Protocol constants shared by every caller of the wire (Rust and, through the binding,
//! TypeScript): defined here once.

/// Items a stream producer may send ahead of its consumer. Large enough that token-sized
/// items keep both ends busy across a round trip (256 held a stream to ~600k items/s).
pub const STREAM_WINDOW: u32 = 4096;
/// Credit is returned this many items at a time (half the window keeps the producer busy).
pub const CREDIT_BATCH: u32 = STREAM_WINDOW / 2;
/// Bytes a stream producer may have ahead of its consumer (bodies and out-of-band parts of
/// what it sent and has not had credited back): with the item window, it bounds what a
/// stream of large items holds. An item goes whenever less than this is ahead, so an item
/// larger than the window still travels, alone.
pub const STREAM_WINDOW_BYTES: usize = 16 << 20;
/// A consumer also returns credit once the items it used since its last credit came to this
/// many bytes: a producer stopped by [`STREAM_WINDOW_BYTES`] with fewer than
/// [`CREDIT_BATCH`] items ahead gets credit back (a quarter of the window leaves room for
/// the two ends counting a frame's bytes slightly differently).
pub const CREDIT_BYTES: usize = STREAM_WINDOW_BYTES / 4;
/// Request ids are drawn at random below this (they fit a JS number exactly).
pub const REQ_ID_SPACE: u64 = 1 << 52;
/// Request ids of Rust callers have this bit set; the foreign host uses the others.
pub const RUST_REQ_BIT: u64 = REQ_ID_SPACE;
/// Longest actor name, in bytes, once normalised (enforced at spawn and on receipt).
pub const MAX_NAME_BYTES: usize = 1024;
/// Largest metadata of one named actor: keys and values summed, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The codec tag of MessagePack bodies.
pub const MSGPACK: &str = "msgpack";

/// A fresh request id for a Rust caller: random, so a peer cannot guess the ids of calls
/// made to other peers.
pub fn rust_request_id() -> u64 {
    RUST_REQ_BIT | (rand::random::<u64>() % REQ_ID_SPACE).max(1)
}
