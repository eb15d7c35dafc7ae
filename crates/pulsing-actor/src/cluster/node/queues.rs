//! `system/queue`: the buckets this node owns, served to writers and readers on any node (or
//! behind `Connect`). Served in Rust whatever hosts the node's actors.
//!
//! - `put(queue, bucket, packed)` appends records (MessagePack each, packed into one binary:
//!   see `queue::pack`); answers the offset of the first.
//! - `get(queue, bucket, offset, limit, waitMs)` answers `{ packed, count, next }`: up to
//!   `limit` records from `offset`, waiting up to `waitMs` when there are none yet.
//!
//! Every argument is checked before anything is stored: a queue name within the name limit,
//! at most `MAX_PUT` records per put, `limit` and `waitMs` within their bounds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Node;
use crate::cluster::queue::{bucket, pack, unpack};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::message::Message;
use crate::protocol::{MAX_NAME_BYTES, MSGPACK};
use crate::transport::conn::ConnHandle;
use crate::transport::frame::{Frame, Header, Target};
use crate::transport::WireError;

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

impl Node {
    /// Serve one `system/queue` request on `c`.
    pub(super) fn serve_queue(&self, c: &Arc<ConnHandle>, f: Frame) {
        let Header::Ask { req, .. } = f.header else {
            return; // a tell asks for nothing
        };
        let msg = Message::single(MSGPACK, f.body);
        let method: Result<String, PulsingError> = msg
            .unpack::<(String, serde::de::IgnoredAny)>()
            .map(|(m, _)| m);
        // A client (`Connect`) cannot place buckets: it asks its gateway, which passes the
        // request on to the owner. Members place them themselves, so nothing is passed twice.
        let forward = |queue: &str, bucket: u32| {
            let owner = self.queue_owner(queue, bucket);
            (self.is_client(c) && owner != self.me).then_some(owner)
        };
        let answer: Result<Bytes, PulsingError> = match method.as_deref() {
            Ok("put") => match msg.unpack::<(String, PutArgs)>() {
                Ok((_, a)) => match forward(&a.0, a.1) {
                    Some(owner) => {
                        return self.forward_queue(c.id, req, owner, msg, Duration::ZERO)
                    }
                    None => self.queue_put(a),
                },
                Err(e) => Err(e),
            },
            Ok("get") => match msg.unpack::<(String, GetArgs)>() {
                Ok((_, a)) => match forward(&a.0, a.1) {
                    Some(owner) => {
                        let wait = Duration::from_millis(a.4.min(MAX_WAIT_MS).into());
                        return self.forward_queue(c.id, req, owner, msg, wait);
                    }
                    None => return self.queue_get(c, req, a),
                },
                Err(e) => Err(e),
            },
            Ok(other) => Err(PulsingError::Unsupported {
                operation: format!("{SERVICE}.{other}: it serves put and get"),
            }),
            Err(e) => Err(e.clone()),
        };
        self.answer_queue(c.id, req, answer);
    }

    fn queue_put(&self, (queue, bucket, packed): PutArgs) -> Result<Bytes, PulsingError> {
        check_queue(&queue)?;
        let records = unpack(Bytes::from(packed.into_vec()), MAX_PUT)?;
        let first = self.queues.append(&queue, bucket, records)?;
        encode(&first)
    }

    fn queue_get(
        &self,
        c: &Arc<ConnHandle>,
        req: u64,
        (queue, bucket, offset, limit, wait_ms): GetArgs,
    ) {
        let checked = check_queue(&queue).and_then(|()| {
            if limit == 0 || limit > MAX_GET || wait_ms > MAX_WAIT_MS {
                Err(bad(format!(
                    "get: limit must be 1 to {MAX_GET} and waitMs at most {MAX_WAIT_MS}, got {limit} and {wait_ms}"
                )))
            } else {
                Ok(())
            }
        });
        if let Err(e) = checked {
            return self.answer_queue(c.id, req, Err(e));
        }
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let conn = c.id;
        self.rt.spawn(async move {
            let wait = Duration::from_millis(wait_ms.into());
            let (records, next) = this
                .queues
                .read_waiting(&queue, bucket, offset, limit as usize, wait)
                .await;
            let got = Got {
                packed: serde_bytes::ByteBuf::from(pack(&records)),
                count: records.len() as u32,
                next,
            };
            this.answer_queue(conn, req, encode(&got));
        });
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

    /// Pass a client's request on to the bucket's owner and its answer back.
    fn forward_queue(&self, conn: u32, req: u64, owner: NodeId, msg: Message, wait: Duration) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
        self.rt.spawn(async move {
            let timeout = this.cfg.idle_timeout + wait;
            let target = Target::Name(SERVICE.into());
            let answer = match this.ask_target(owner, target, msg, timeout).await {
                Ok(Message::Single { data, .. }) => Ok(data),
                Ok(Message::Stream(_)) => Err(bad("a queue answer cannot be a stream".into())),
                Err(e) => Err(e),
            };
            this.answer_queue(conn, req, answer);
        });
    }

    fn answer_queue(&self, conn: u32, req: u64, answer: Result<Bytes, PulsingError>) {
        let frame = match answer {
            Ok(body) => Frame::new(
                Header::Reply {
                    req,
                    tag: MSGPACK.into(),
                },
                body,
            ),
            Err(e) => Frame::bare(Header::Error {
                req,
                error: WireError::from(&e),
            }),
        };
        self.send_on(conn, frame);
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Bytes, PulsingError> {
    rmp_serde::to_vec_named(v)
        .map(Bytes::from)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
}
