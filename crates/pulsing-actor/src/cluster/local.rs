//! The seam to the system above: the Rust actors this node hosts, as the cluster sees them.
//! The system implements these traits, so the cluster depends on nothing above it.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::error::PulsingError;
use crate::message::Message;

/// A reply the node waits for.
pub type ReplyRx = oneshot::Receiver<Result<Message, PulsingError>>;

/// The mailbox of one Rust actor on this node.
#[async_trait]
pub trait LocalMailbox: Send + Sync {
    /// Enqueue an ask (waiting while the mailbox is full); the receiver gets the reply.
    async fn ask(&self, msg: Message) -> Result<ReplyRx, PulsingError>;
    /// Enqueue a tell (waiting while the mailbox is full).
    async fn tell(&self, msg: Message) -> Result<(), PulsingError>;
}

/// What the node needs of the system that hosts it. Held without keeping the system alive.
pub trait LocalActors: Send + Sync + 'static {
    /// The local id registered under `name` (normalised) on this node, if any.
    fn lookup(&self, name: &str) -> Option<u64>;
    /// The mailbox of the Rust actor `local`; `None` when it is not a Rust actor here.
    fn mailbox(&self, local: u64) -> Option<Arc<dyn LocalMailbox>>;
    /// The figures of the named actors on this node.
    fn actor_stats(&self) -> Vec<crate::stats::ActorStats>;
    /// The system is gone (the node stops serving).
    fn is_gone(&self) -> bool;
    /// Serve an HTTP connection that reached the node's port (`secure`: it came over mutual
    /// TLS with the cluster's certificate).
    /// `slot` counts the connection as open until it is dropped.
    fn serve_http(
        &self,
        stream: crate::transport::conn::BoxStream,
        peer: String,
        secure: bool,
        slot: crate::cluster::node::HttpSlot,
    );
    /// Subscribe to `topic` on this node for a client of this gateway: the messages as a
    /// stream (MessagePack each); dropping the stream unsubscribes.
    fn topic_subscribe(&self, topic: &str) -> Result<Message, PulsingError>;
    /// Publish MessagePack `message` to `topic` for a client of this gateway, in `mode`
    /// (`"wait-all-acks"`, ...): subscribers that got it and that did not.
    fn topic_publish(
        &self,
        topic: String,
        message: bytes::Bytes,
        mode: String,
    ) -> futures::future::BoxFuture<'static, Result<(u32, u32), PulsingError>>;
}
