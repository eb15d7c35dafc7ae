//! `system/queue`: the buckets this node holds, served to writers and readers on any node (or
//! behind `Connect`). Served in Rust whatever hosts the node's actors.
//!
//! - `put(queue, bucket, packed)` appends records (MessagePack each, packed into one binary:
//!   see `queue::pack`); answers the offset of the first.
//! - `get(queue, bucket, offset, limit, waitMs)` answers `{ packed, count, next }`: up to
//!   `limit` records from `offset`, waiting up to `waitMs` when there are none yet.
//! - `store` and `read` are `put` and `get` served here whoever owns the bucket (what a node
//!   that is not the owner passes on to the owner: never passed on again).
//! - `take(queue, bucket)` hands the bucket over: every record, and this node no longer holds
//!   it.
//!
//! Ownership moves with the members (rendezvous hashing), and the records follow it: the
//! first time a node serves a bucket it does not hold, it takes the bucket from the members
//! that do, whole, so offsets mean the same there and readers go on where they were. A put or
//! get that reaches a node which is not the owner (its sender's view is behind) is passed on.
//! And every second a node hands the buckets it holds but no longer owns to their owner
//! (`merge`, appended after what the owner has), so records written while two views of the
//! members disagreed are not left behind once they agree.
//!
//! Every argument is checked before anything is stored: a queue name within the name limit,
//! at most `MAX_PUT` records per put, `limit` and `waitMs` within their bounds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::Node;
use crate::cluster::queue::{bucket, pack, unpack};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::protocol::{MAX_NAME_BYTES, MSGPACK};
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};

/// The name of the service.
pub const SERVICE: &str = "system/queue";
/// Records one put may carry.
pub const MAX_PUT: usize = 100_000;
/// Records one get may ask for.
pub const MAX_GET: u32 = 100_000;
/// Longest a get may wait for records.
pub const MAX_WAIT_MS: u32 = 60_000;

/// What `get` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Got {
    /// The records, each MessagePack as its writer encoded it, packed (`queue::pack`).
    pub packed: serde_bytes::ByteBuf,
    /// How many records `packed` holds.
    pub count: u32,
    /// The offset after them: the next get starts there.
    pub next: u64,
}

type PutArgs = (String, u32, serde_bytes::ByteBuf);
type GetArgs = (String, u32, u64, u32, u32);

fn bad(msg: String) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Protocol, msg)
}

fn check_queue(queue: &str) -> Result<(), PulsingError> {
    if queue.is_empty() || queue.len() > MAX_NAME_BYTES {
        return Err(bad(format!(
            "a queue name must have 1 to {MAX_NAME_BYTES} bytes, got {}",
            queue.len()
        )));
    }
    Ok(())
}

/// Per bucket, the lock a node holds while it takes the bucket over (one take at a time).
#[derive(Default)]
pub(crate) struct Claims(Mutex<HashMap<(String, u32), ClaimLock>>);

type ClaimLock = Arc<tokio::sync::Mutex<()>>;

impl Claims {
    fn lock_of(&self, queue: &str, bucket: u32) -> ClaimLock {
        let mut m = self.0.lock();
        if m.len() > 4096 {
            // Locks nobody waits on are dropped (a claim holds its own Arc while it runs).
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        m.entry((queue.to_string(), bucket)).or_default().clone()
    }
}

fn call(method: &str, args: impl Serialize) -> Result<Message, PulsingError> {
    Message::call(method, args)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
}

impl Node {
    /// Serve one `system/queue` request on `c`.
    pub(super) fn serve_queue(&self, c: &Arc<ConnHandle>, f: Frame) {
        let Header::Ask { req, .. } = f.header else {
            return; // a tell asks for nothing
        };
        let msg = Message::single(MSGPACK, f.body);
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let conn = c.id;
        self.rt.spawn(async move {
            let answer = this.queue_request(msg).await;
            this.answer_queue(conn, req, answer);
        });
    }

    async fn queue_request(&self, msg: Message) -> Result<Bytes, PulsingError> {
        let (method, _) = msg.unpack::<(String, serde::de::IgnoredAny)>()?;
        match method.as_str() {
            "put" | "store" => {
                let (_, (queue, bucket, packed)) = msg.unpack::<(String, PutArgs)>()?;
                check_queue(&queue)?;
                let owner = self.queue_owner(&queue, bucket);
                if method == "put" && owner != self.me {
                    let fwd = call("store", (&queue, bucket, &packed))?;
                    return self.forward_queue(owner, fwd, Duration::ZERO).await;
                }
                let records = unpack(Bytes::from(packed.into_vec()), MAX_PUT)?;
                encode(&self.queue_put_here(&queue, bucket, records).await?)
            }
            "get" | "read" => {
                let (_, (queue, bucket, offset, limit, wait_ms)) =
                    msg.unpack::<(String, GetArgs)>()?;
                check_queue(&queue)?;
                if limit == 0 || limit > MAX_GET || wait_ms > MAX_WAIT_MS {
                    return Err(bad(format!(
                        "get: limit must be 1 to {MAX_GET} and waitMs at most {MAX_WAIT_MS}, got {limit} and {wait_ms}"
                    )));
                }
                let wait = Duration::from_millis(wait_ms.into());
                let owner = self.queue_owner(&queue, bucket);
                if method == "get" && owner != self.me {
                    let fwd = call("read", (&queue, bucket, offset, limit, wait_ms))?;
                    return self.forward_queue(owner, fwd, wait).await;
                }
                let (records, next) = self
                    .queue_get_here(&queue, bucket, offset, limit as usize, wait)
                    .await?;
                encode(&Got {
                    packed: serde_bytes::ByteBuf::from(pack(&records)),
                    count: records.len() as u32,
                    next,
                })
            }
            "merge" => {
                let (_, (queue, bucket, packed)) = msg.unpack::<(String, PutArgs)>()?;
                check_queue(&queue)?;
                let records = unpack(Bytes::from(packed.into_vec()), usize::MAX)?;
                encode(&self.queue_put_here(&queue, bucket, records).await?)
            }
            "take" => {
                let (_, (queue, bucket)) = msg.unpack::<(String, (String, u32))>()?;
                let records = self.queues.take(&queue, bucket);
                if !records.is_empty() {
                    tracing::debug!(%queue, bucket, n = records.len(), "handing a bucket over");
                }
                encode(&Got {
                    packed: serde_bytes::ByteBuf::from(pack(&records)),
                    count: records.len() as u32,
                    next: records.len() as u64,
                })
            }
            other => Err(PulsingError::Unsupported {
                operation: format!(
                    "{SERVICE}.{other}: it serves put, get, store, read, take and merge"
                ),
            }),
        }
    }

    /// Append to `bucket` of `queue` on this node, taking the bucket over first if it is held
    /// elsewhere.
    pub(crate) async fn queue_put_here(
        &self,
        queue: &str,
        bucket: u32,
        records: Vec<Bytes>,
    ) -> Result<u64, PulsingError> {
        self.hold_bucket(queue, bucket).await?;
        match self.queues.append(queue, bucket, records.clone()) {
            // Taken by another node in between: take it back once.
            Err(_) if !self.queues.holds(queue, bucket) => {
                self.hold_bucket(queue, bucket).await?;
                self.queues.append(queue, bucket, records)
            }
            r => r,
        }
    }

    /// Read `bucket` of `queue` on this node, taking it over first if it is held elsewhere.
    pub(crate) async fn queue_get_here(
        &self,
        queue: &str,
        bucket: u32,
        offset: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<(Vec<Bytes>, u64), PulsingError> {
        self.hold_bucket(queue, bucket).await?;
        Ok(self
            .queues
            .read_waiting(queue, bucket, offset, limit, wait)
            .await)
    }

    /// Hold `bucket` of `queue` here: take it from the members that hold it (all of them are
    /// asked; each hands over what it has). If one cannot be asked, nothing is taken and the
    /// call fails: records are never left behind on a member that still holds them.
    async fn hold_bucket(&self, queue: &str, bucket: u32) -> Result<(), PulsingError> {
        if self.queues.holds(queue, bucket) {
            return Ok(());
        }
        let lock = self.claims.lock_of(queue, bucket);
        let _claiming = lock.lock().await;
        if self.queues.holds(queue, bucket) {
            return Ok(());
        }
        let others: Vec<NodeId> = self
            .members()
            .into_iter()
            .map(|m| m.node)
            .filter(|n| *n != self.me)
            .collect();
        let within = self.cfg.handshake_timeout;
        let takes = others.iter().map(|n| async move {
            let msg = call("take", (queue, bucket))?;
            let got: Got = self
                .ask_target(*n, Target::Name(SERVICE.into()), msg, within)
                .await?
                .unpack()?;
            unpack(Bytes::from(got.packed.into_vec()), usize::MAX)
        });
        let mut records = Vec::new();
        for (node, got) in others.iter().zip(futures::future::join_all(takes).await) {
            match got {
                Ok(r) => records.extend(r),
                Err(e) => {
                    return Err(PulsingError::runtime(
                        RuntimeErrorKind::ConnectionFailed,
                        format!(
                            "queue {queue}: cannot take bucket {bucket} over from node {node}: {e}"
                        ),
                    ))
                }
            }
        }
        if !records.is_empty() {
            tracing::debug!(%queue, bucket, n = records.len(), "took a bucket over");
        }
        self.queues.install(queue, bucket, records);
        Ok(())
    }

    /// Every second: hand the buckets this node holds but does not own to their owner.
    pub(super) async fn queue_sweep_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (queue, bucket) in self.queues.held() {
                let owner = self.queue_owner(&queue, bucket);
                if owner == self.me {
                    continue;
                }
                let records = self.queues.take(&queue, bucket);
                if records.is_empty() {
                    continue;
                }
                let n = records.len();
                let sent = match call(
                    "merge",
                    (&queue, bucket, serde_bytes::Bytes::new(&pack(&records))),
                ) {
                    Ok(msg) => self
                        .ask_target(
                            owner,
                            Target::Name(SERVICE.into()),
                            msg,
                            self.cfg.handshake_timeout,
                        )
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(()) => {
                        tracing::debug!(%queue, bucket, n, %owner, "handed a bucket to its owner")
                    }
                    Err(e) => {
                        // Kept here, at their offsets, for the next sweep or the owner's take.
                        tracing::debug!(%queue, bucket, "could not hand a bucket over yet: {e}");
                        self.queues.install(&queue, bucket, records);
                    }
                }
            }
        }
    }

    /// The owner of `bucket` of `queue`: the rendezvous winner among the live members, this
    /// node included (for a client, its gateway: it places buckets for it).
    pub fn queue_owner(&self, queue: &str, bucket: u32) -> NodeId {
        if self.client().is_some() {
            return super::GATEWAY;
        }
        let mut ids: Vec<NodeId> = self.members().into_iter().map(|m| m.node).collect();
        if !ids.contains(&self.me) {
            ids.push(self.me);
        }
        bucket::owner(queue, bucket, &ids).unwrap_or(self.me)
    }

    /// Pass a request this node does not own on to the owner; its answer.
    async fn forward_queue(
        &self,
        owner: NodeId,
        msg: Message,
        wait: Duration,
    ) -> Result<Bytes, PulsingError> {
        let timeout = self.cfg.idle_timeout + wait;
        match self
            .ask_target(owner, Target::Name(SERVICE.into()), msg, timeout)
            .await?
        {
            Message::Single { data, .. } => Ok(data),
            Message::Stream(_) => Err(bad("a queue answer cannot be a stream".into())),
        }
    }

    fn answer_queue(&self, conn: u32, req: u64, answer: Result<Bytes, PulsingError>) {
        self.send_on(conn, super::gateway::answer_frame(req, answer));
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Bytes, PulsingError> {
    rmp_serde::to_vec_named(v)
        .map(Bytes::from)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
}
