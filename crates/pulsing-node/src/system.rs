//! `NativeSystem`: the core `ActorSystem` as JavaScript sees it.

use std::collections::HashMap;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::naming;
use pulsing_actor::prelude::*;

use crate::convert::{
    to_napi, JsMember, JsNamedActor, JsNamedInstance, JsSystemConfig, JsWireError,
};
use crate::host::{EventCallback, JsHost};
use pulsing_actor::cluster::node::Node;
use pulsing_actor::cluster::Topology;
use pulsing_actor::transport::{Frame, Header, Target};

/// The core actor system of one node.
#[napi]
pub struct NativeSystem {
    inner: ActorSystem,
}

/// Create a system (standalone until the cluster transport lands).
#[napi]
pub async fn create_system(config: Option<JsSystemConfig>) -> Result<NativeSystem> {
    let mut b = ActorSystem::builder();
    if let Some(c) = config {
        if let Some(id) = c.node_id {
            b = b.node_id(id.parse::<NodeId>().map_err(to_napi)?);
        }
        if let Some(ms) = c.default_timeout_ms {
            b = b.default_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(addr) = c.addr {
            let mut cfg = ClusterConfig::new(addr);
            cfg.seeds = c.seeds.unwrap_or_default();
            cfg.advertise = c.advertise_addr;
            cfg.passphrase = c.passphrase;
            if let Some(n) = c.chunk_bytes {
                cfg.chunk_bytes = n as usize;
            }
            if let Some(n) = c.bulk_threshold {
                cfg.bulk_threshold = n as usize;
            }
            cfg.topology =
                match (c.is_head_node.unwrap_or(false), c.head_addr) {
                    (true, Some(_)) => return Err(napi::Error::from_reason(
                        "[Config] isHeadNode and headAddr are exclusive: a head node has no head",
                    )),
                    (true, None) => Topology::Head,
                    (false, Some(head)) => Topology::Worker { head },
                    (false, None) => Topology::Gossip,
                };
            let ms = |v: Option<u32>, d: Duration| {
                v.map(|v| Duration::from_millis(v.into())).unwrap_or(d)
            };
            cfg.probe_interval = ms(c.probe_interval_ms, cfg.probe_interval);
            cfg.probe_timeout = ms(c.probe_timeout_ms, cfg.probe_timeout);
            cfg.suspicion_timeout = ms(c.suspicion_timeout_ms, cfg.suspicion_timeout);
            cfg.sync_interval = ms(c.sync_interval_ms, cfg.sync_interval);
            b = b.cluster(cfg);
        }
    }
    let inner = b
        .build()
        .await
        .map_err(|e| match e.downcast::<PulsingError>() {
            Ok(pe) => to_napi(pe),
            Err(other) => napi::Error::from_reason(format!("[Config] {other:#}")),
        })?;
    Ok(NativeSystem { inner })
}

/// Normalise an actor name (`x` → `actors/x`); `forSpawn` also refuses `system/*`.
#[napi]
pub fn normalize_name(name: String, for_spawn: bool) -> Result<String> {
    if for_spawn {
        naming::normalize_for_spawn(&name)
    } else {
        naming::normalize(&name)
    }
    .map_err(to_napi)
}

#[napi]
impl NativeSystem {
    /// This node's id (16 hex digits).
    #[napi(getter)]
    pub fn node_id(&self) -> String {
        self.inner.node_id().to_string()
    }

    /// The listening address, `null` when standalone.
    #[napi(getter)]
    pub fn addr(&self) -> Option<String> {
        self.inner.addr().map(str::to_string)
    }

    /// Reserve `count` local ids for actors hosted in JS; returns the first.
    #[napi]
    pub fn reserve_ids(&self, count: u32) -> i64 {
        self.inner.reserve_local_ids(count.into()) as i64
    }

    /// Register a JS-hosted actor under `name`; returns its actor id.
    #[napi]
    pub fn register_name(
        &self,
        name: String,
        local: i64,
        metadata: HashMap<String, String>,
    ) -> Result<String> {
        self.inner
            .register_foreign(&name, local as u64, metadata)
            .map(|id| id.to_string())
            .map_err(to_napi)
    }

    /// Point `name` at a new incarnation (a restart) or update its metadata.
    #[napi]
    pub fn update_name(
        &self,
        name: String,
        local: i64,
        metadata: HashMap<String, String>,
    ) -> Result<()> {
        self.inner
            .update_foreign(&name, local as u64, metadata)
            .map_err(to_napi)
    }

    /// Drop `name` if `local` still holds it; returns whether it was dropped.
    #[napi]
    pub fn unregister_name(&self, name: String, local: i64) -> Result<bool> {
        self.inner
            .unregister_foreign(&name, local as u64)
            .map_err(to_napi)
    }

    /// The instance registered under `name`, if any.
    #[napi]
    pub fn lookup(&self, name: String) -> Result<Option<JsNamedInstance>> {
        let node = self.inner.node_id().to_string();
        Ok(self
            .inner
            .lookup(&name)
            .map_err(to_napi)?
            .map(|r| JsNamedInstance {
                node_id: node,
                actor_id: r.actor_id.to_string(),
                metadata: r.metadata,
            }))
    }

    /// Every live instance of `name` in the cluster, this node's first.
    #[napi]
    pub fn instances(&self, name: String) -> Result<Vec<JsNamedInstance>> {
        Ok(self
            .inner
            .instances(&name)
            .map_err(to_napi)?
            .into_iter()
            .map(|i| JsNamedInstance {
                node_id: i.node_id.to_string(),
                actor_id: i.actor_id.to_string(),
                metadata: i.metadata,
            })
            .collect())
    }

    /// Receive transport events for JS actors and JS calls, in batches.
    #[napi(ts_args_type = "callback: (events: Array<JsEvent>) => void")]
    pub fn set_host(&self, callback: EventCallback) -> Result<()> {
        let node = self.node()?;
        node.set_foreign_host(std::sync::Arc::new(JsHost::start(callback)));
        Ok(())
    }

    /// Send an ask (`req` set) or a tell to an actor on another node, by local id or by name.
    #[napi]
    pub fn send_request(
        &self,
        node: String,
        req: Option<i64>,
        local: Option<i64>,
        name: Option<String>,
        body: Buffer,
        attachments: Option<Vec<Buffer>>,
    ) -> Result<()> {
        let target = match (local, name) {
            (Some(l), _) => Target::Local(l as u64),
            (None, Some(n)) => Target::Name(n),
            (None, None) => {
                return Err(napi::Error::from_reason(
                    "[Config] a request needs a target",
                ))
            }
        };
        let tag = "msgpack".to_string();
        let header = match req {
            Some(req) => Header::Ask {
                req: req as u64,
                target,
                tag,
            },
            None => Header::Tell { target, tag },
        };
        self.send(
            &node,
            Frame {
                header,
                body: bytes::Bytes::from_owner(body),
                attachments: owned(attachments),
            },
        )
    }

    /// Grant `n` stream credits (`n > 0`) or cancel (`n == 0`) a call to another node.
    #[napi]
    pub fn send_flow(&self, node: String, req: i64, n: u32) -> Result<()> {
        let header = if n == 0 {
            Header::Cancel { req: req as u64 }
        } else {
            Header::Credit { req: req as u64, n }
        };
        self.send(&node, Frame::bare(header))
    }

    /// Answer a request: `kind` is `reply`, `item` or `end`.
    #[napi]
    pub fn reply(
        &self,
        conn: u32,
        kind: String,
        req: i64,
        body: Buffer,
        attachments: Option<Vec<Buffer>>,
    ) -> Result<bool> {
        let req = req as u64;
        let tag = "msgpack".to_string();
        let header = match kind.as_str() {
            "reply" => Header::Reply { req, tag },
            "item" => Header::StreamItem { req, tag },
            "end" => Header::StreamEnd { req, tag },
            other => {
                return Err(napi::Error::from_reason(format!(
                    "[Protocol] unknown reply kind {other:?}"
                )))
            }
        };
        Ok(self.node()?.send_on(
            conn,
            Frame {
                header,
                body: bytes::Bytes::from_owner(body),
                attachments: owned(attachments),
            },
        ))
    }

    /// Answer a request with a typed error.
    #[napi]
    pub fn reply_error(&self, conn: u32, req: i64, error: JsWireError) -> Result<bool> {
        let header = Header::Error {
            req: req as u64,
            error: error.into(),
        };
        Ok(self.node()?.send_on(conn, Frame::bare(header)))
    }

    /// Fault injection: drop all traffic with these nodes, both ways.
    #[napi]
    pub fn fault_partition(&self, nodes: Vec<String>) -> Result<()> {
        let ids = nodes
            .iter()
            .map(|n| n.parse::<NodeId>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(to_napi)?;
        self.node()?.faults().partition(ids);
        Ok(())
    }

    /// Fault injection: delay every frame sent to `node` by `ms`.
    #[napi]
    pub fn fault_delay(&self, node: String, ms: u32) -> Result<()> {
        let id = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?
            .faults()
            .delay(id, Duration::from_millis(ms.into()));
        Ok(())
    }

    /// Fault injection: drop each frame sent to `node` with probability `rate`.
    #[napi]
    pub fn fault_drop(&self, node: String, rate: f64) -> Result<()> {
        let id = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?.faults().drop_rate(id, rate);
        Ok(())
    }

    /// Fault injection: remove every fault.
    #[napi]
    pub fn fault_heal(&self) -> Result<()> {
        self.node()?.faults().heal();
        Ok(())
    }

    fn node(&self) -> Result<&std::sync::Arc<Node>> {
        self.inner.cluster().ok_or_else(|| {
            napi::Error::from_reason(
                "[Config] this system is standalone: it has no cluster transport",
            )
        })
    }

    fn send(&self, node: &str, frame: Frame) -> Result<()> {
        let id = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?.send_to(id, frame).map_err(to_napi)
    }

    /// Members of the cluster, this node included.
    #[napi]
    pub async fn members(&self) -> Vec<JsMember> {
        self.inner
            .members()
            .await
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Every named actor with its instances.
    #[napi]
    pub async fn all_named_actors(&self) -> Vec<JsNamedActor> {
        self.inner
            .all_named_actors()
            .await
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Stop Rust-hosted actors and refuse new names. Idempotent.
    #[napi]
    pub async fn shutdown(&self) -> Result<()> {
        self.inner
            .shutdown()
            .await
            .map_err(|e| napi::Error::from_reason(format!("[Io] {e:#}")))
    }
}

/// Hand JS memory to the writer without a copy: a napi `Buffer` holds a reference that
/// keeps the JS Buffer alive (and is released safely from any thread), so the bytes are
/// written from where JS put them. The caller must not mutate what it sent.
fn owned(attachments: Option<Vec<Buffer>>) -> Vec<bytes::Bytes> {
    attachments
        .unwrap_or_default()
        .into_iter()
        .map(bytes::Bytes::from_owner)
        .collect()
}
