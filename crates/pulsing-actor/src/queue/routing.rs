//! Where a queue request goes. A member hands it to its node, which serves it or passes it on
//! to the bucket's owner; a client (`Connect`) sends it to its gateway, which does the same; a
//! system that does not listen serves it from its own store.
//!
//! A request that fails because the owner cannot be reached (it died, the connection broke)
//! is tried again, with the owner computed afresh, until the system's default timeout: once
//! the members agree the owner is gone, the next owner (the replica, with `replicas: 2`)
//! answers. A put tried again may be stored twice (at-least-once).

use crate::message::to_msgpack;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cluster::node::{
    check_dead_letters, check_get, check_name, check_placement, check_visibility, check_wanted,
    dead_letters_of, DescribeArgs, GetArgs, Got, GroupAckArgs, GroupGetArgs, GroupNackArgs,
    PutArgs, GATEWAY, QUEUE_MAX_NACK_DELAY_MS, QUEUE_SERVICE,
};
use crate::cluster::queue::settings::{self, Described, Wanted};
use crate::cluster::queue::store::{synced, Placement};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::message::Message;
use crate::protocol::MSGPACK;
use crate::system::ActorSystem;
use crate::transport::frame::Target;

/// Pause between two tries of a request whose owner could not be reached.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

fn retryable(e: &PulsingError) -> bool {
    matches!(
        e.kind(),
        Some(
            RuntimeErrorKind::ConnectionFailed
                | RuntimeErrorKind::NodeDown
                | RuntimeErrorKind::NodeNotFound
        )
    )
}

/// A system that does not listen is one node: a queue kept on two cannot be written there.
fn alone_keeps(queue: &str, replicas: u8) -> Result<(), PulsingError> {
    if replicas >= 2 {
        return Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!("queue {queue}: replicas 2 needs a cluster (a second node keeps the replica); this system does not listen: give it an addr"),
        ));
    }
    Ok(())
}

impl ActorSystem {
    /// Send `method(args)` to `system/queue` as this system reaches it; the answer.
    async fn queue_call<A: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        args: A,
        wait: Duration,
    ) -> Result<T, PulsingError> {
        let msg = || {
            Message::call(method, &args)
                .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
        };
        let Some(node) = self.cluster() else {
            return self.queue_alone(msg()?).await?.unpack();
        };
        let deadline = tokio::time::Instant::now() + self.default_timeout();
        loop {
            let answer = if node.in_client_mode() {
                node.ask_target(
                    GATEWAY,
                    Target::Name(QUEUE_SERVICE.into()),
                    msg()?,
                    self.default_timeout() + wait,
                )
                .await
            } else {
                // Bounded like any call: an owner that never answers is a timeout.
                let within = self.default_timeout() + wait;
                match tokio::time::timeout(within, node.queue_request(msg()?)).await {
                    Ok(r) => r.map(|b| Message::single(MSGPACK, b)),
                    Err(_) => Err(PulsingError::Timeout {
                        operation: format!("{QUEUE_SERVICE}.{method}"),
                        duration_ms: within.as_millis() as u64,
                    }),
                }
            };
            match answer {
                Err(e) if retryable(&e) && tokio::time::Instant::now() + RETRY_PAUSE < deadline => {
                    tracing::debug!("queue {method}: owner not reached, trying again: {e}");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other?.unpack(),
            }
        }
    }

    /// Serve a queue request from this system's own store (it does not listen: it owns every
    /// bucket).
    async fn queue_alone(&self, msg: Message) -> Result<Message, PulsingError> {
        let store = self.queue_store();
        let (method, _) = msg.unpack::<(String, serde::de::IgnoredAny)>()?;
        let hold = |queue: &str, bucket: u32| {
            if store.holds(queue, bucket) {
                Ok(())
            } else {
                store.install(queue, bucket, Vec::new())
            }
        };
        // The node's argument types and checks: the same requests, served from one store.
        let out = match method.as_str() {
            "describe" => {
                let (_, (queue, wanted, writer)) = msg.unpack::<(String, DescribeArgs)>()?;
                check_name("queue", &queue)?;
                check_wanted(&wanted)?;
                alone_keeps(&queue, wanted.replicas.unwrap_or(1))?;
                hold(&queue, 0)?;
                let (kept, settled) = store.settings(&queue, 0).unwrap_or_default();
                let (described, settle) =
                    settings::describe(&queue, kept, settled, &wanted, writer)?;
                if settle {
                    store.settle(&queue, 0, described.placement)?;
                }
                to_msgpack(&described)
            }
            "put" => {
                let (_, (queue, bucket, packed, placement, delays)) =
                    msg.unpack::<(String, PutArgs)>()?;
                check_name("queue", &queue)?;
                check_placement(&placement)?;
                alone_keeps(&queue, placement.replicas)?;
                hold(&queue, bucket)?;
                store.settle(&queue, bucket, placement)?;
                let records = crate::cluster::queue::unpack(
                    Bytes::from(packed.into_vec()),
                    crate::cluster::node::QUEUE_MAX_PUT,
                )?;
                let (first, sync) = store.append_delayed(&queue, bucket, records, &delays)?;
                synced(sync).await?;
                to_msgpack(&first)
            }
            "get" => {
                let (_, (queue, bucket, offset, limit, wait_ms)) =
                    msg.unpack::<(String, GetArgs)>()?;
                check_name("queue", &queue)?;
                let wait = check_get(limit, wait_ms)?;
                hold(&queue, bucket)?;
                let (records, next) = store
                    .read_waiting(&queue, bucket, offset, limit as usize, wait)
                    .await;
                to_msgpack(&Got::of(&records, next, Vec::new()))
            }
            "gget" => {
                let (_, (queue, bucket, group, limit, wait_ms, vis_ms, max)) =
                    msg.unpack::<(String, GroupGetArgs)>()?;
                check_name("queue", &queue)?;
                check_name("group", &group)?;
                check_dead_letters(&queue, max)?;
                let wait = check_get(limit, wait_ms)?;
                let visibility = check_visibility(vis_ms)?;
                hold(&queue, bucket)?;
                let got = store
                    .group_get(
                        &queue,
                        bucket,
                        &group,
                        limit as usize,
                        visibility,
                        wait,
                        max,
                    )
                    .await?;
                self.dead_letter_alone(&queue, bucket, &group, got.dead)
                    .await;
                to_msgpack(&Got::handed_out(&got.give))
            }
            "gnack" => {
                let (_, (queue, bucket, group, offsets, delay_ms, max)) =
                    msg.unpack::<(String, GroupNackArgs)>()?;
                check_name("queue", &queue)?;
                check_name("group", &group)?;
                check_dead_letters(&queue, max)?;
                if delay_ms > QUEUE_MAX_NACK_DELAY_MS {
                    return Err(PulsingError::runtime(
                        RuntimeErrorKind::Config,
                        format!(
                            "delayMs must be at most {QUEUE_MAX_NACK_DELAY_MS}, got {delay_ms}"
                        ),
                    ));
                }
                hold(&queue, bucket)?;
                let delay = Duration::from_millis(delay_ms.into());
                let dead = store.group_nack(&queue, bucket, &group, &offsets, delay, max)?;
                self.dead_letter_alone(&queue, bucket, &group, dead).await;
                to_msgpack(&())
            }
            "gack" => {
                let (_, (queue, bucket, group, offsets)) =
                    msg.unpack::<(String, GroupAckArgs)>()?;
                check_name("queue", &queue)?;
                check_name("group", &group)?;
                hold(&queue, bucket)?;
                to_msgpack(&store.group_ack(&queue, bucket, &group, &offsets)?.0)
            }
            other => {
                return Err(PulsingError::Unsupported {
                    operation: format!("{QUEUE_SERVICE}.{other} on a system that does not listen"),
                })
            }
        }?;
        Ok(Message::single(MSGPACK, out))
    }

    /// [`Node`]'s dead-lettering for a system that does not listen (one store holds both).
    async fn dead_letter_alone(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        dead: Vec<(u64, Bytes)>,
    ) {
        if dead.is_empty() {
            return;
        }
        let store = self.queue_store();
        let Some((placement, _)) = store.settings(queue, bucket) else {
            return;
        };
        let dlq = dead_letters_of(queue);
        let (offsets, records): (Vec<u64>, Vec<Bytes>) = dead.into_iter().unzip();
        let moved = async {
            if !store.holds(&dlq, bucket) {
                store.install(&dlq, bucket, Vec::new())?;
            }
            store.settle(&dlq, bucket, placement)?;
            let (_, sync) = store.append(&dlq, bucket, records)?;
            synced(sync).await?;
            store.group_ack(queue, bucket, group, &offsets)
        };
        if let Err(e) = moved.await {
            tracing::warn!(%queue, bucket, %group, "records given up on are not in {dlq} yet (tried again shortly): {e}");
        }
    }

    /// The settings of `queue` (backend, replicas, buckets), asked of its bucket 0's owner:
    /// a `writer` that finds none fixes them to what it `wanted` (defaults where it says
    /// nothing); one that asks otherwise than the queue's first writer gets a `Config` error.
    #[doc(hidden)]
    pub async fn queue_describe(
        &self,
        queue: &str,
        wanted: Wanted,
        writer: bool,
    ) -> Result<Described, PulsingError> {
        self.queue_call("describe", (queue, wanted, writer), Duration::ZERO)
            .await
    }

    /// Store the records of `packed` (MessagePack each, packed: see
    /// [`crate::cluster::queue::pack`]) in `bucket` of `queue` on its owner, kept as
    /// `placement` says; the offset of the first.
    #[doc(hidden)]
    pub async fn queue_put(
        &self,
        queue: &str,
        bucket: u32,
        packed: Bytes,
        placement: Placement,
    ) -> Result<u64, PulsingError> {
        self.queue_put_delayed(queue, bucket, packed, placement, &[])
            .await
    }

    /// [`ActorSystem::queue_put`], some records held back from consumer groups until a time:
    /// `delays` lists (index among the records, Unix time in milliseconds).
    #[doc(hidden)]
    pub async fn queue_put_delayed(
        &self,
        queue: &str,
        bucket: u32,
        packed: Bytes,
        placement: Placement,
        delays: &[(u32, u64)],
    ) -> Result<u64, PulsingError> {
        self.queue_call(
            "put",
            (
                queue,
                bucket,
                serde_bytes::Bytes::new(&packed),
                placement,
                delays,
            ),
            Duration::ZERO,
        )
        .await
    }

    /// Up to `limit` records of `bucket` of `queue` from `offset`, from its owner (waiting up
    /// to `wait` for one), packed, with their count and the offset after them.
    #[doc(hidden)]
    pub async fn queue_get(
        &self,
        queue: &str,
        bucket: u32,
        offset: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<(Bytes, u32, u64), PulsingError> {
        let limit = limit.min(crate::cluster::node::QUEUE_MAX_GET as usize) as u32;
        let wait_ms = wait.as_millis().min(60_000) as u32;
        let got: Got = self
            .queue_call("get", (queue, bucket, offset, limit, wait_ms), wait)
            .await?;
        Ok((Bytes::from(got.packed.into_vec()), got.count, got.next))
    }

    /// Hand up to `limit` records of `bucket` of `queue` out to consumer `group` (waiting up
    /// to `wait` for one), each invisible to the group's other readers for `visibility`:
    /// packed, with their offsets.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_group_get(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        limit: usize,
        wait: Duration,
        visibility: Duration,
        max_deliveries: u32,
    ) -> Result<(Bytes, Vec<u64>, Vec<u32>), PulsingError> {
        let limit = limit.min(crate::cluster::node::QUEUE_MAX_GET as usize) as u32;
        let wait_ms = wait.as_millis().min(60_000) as u32;
        let vis_ms = visibility.as_millis().clamp(1, 3_600_000) as u32;
        let got: Got = self
            .queue_call(
                "gget",
                (queue, bucket, group, limit, wait_ms, vis_ms, max_deliveries),
                wait,
            )
            .await?;
        Ok((
            Bytes::from(got.packed.into_vec()),
            got.offsets,
            got.deliveries,
        ))
    }

    /// Give records of `bucket` of `queue` back for consumer `group` (they failed): each is
    /// handed out again after `delay`, or moved to the dead letters (`<queue>.dead`) if it was
    /// handed out `max_deliveries` times already (0: never).
    #[doc(hidden)]
    pub async fn queue_group_nack(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        offsets: &[u64],
        delay: Duration,
        max_deliveries: u32,
    ) -> Result<(), PulsingError> {
        let delay_ms = delay.as_millis().min(QUEUE_MAX_NACK_DELAY_MS as u128) as u32;
        self.queue_call(
            "gnack",
            (queue, bucket, group, offsets, delay_ms, max_deliveries),
            Duration::ZERO,
        )
        .await
    }

    /// Acknowledge `offsets` of `bucket` of `queue` for consumer `group`; the group's
    /// committed offset in that bucket (every record before it acknowledged).
    #[doc(hidden)]
    pub async fn queue_group_ack(
        &self,
        queue: &str,
        bucket: u32,
        group: &str,
        offsets: &[u64],
    ) -> Result<u64, PulsingError> {
        self.queue_call("gack", (queue, bucket, group, offsets), Duration::ZERO)
            .await
    }
}
