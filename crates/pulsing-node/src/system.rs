//! `NativeSystem`: the core `ActorSystem` as JavaScript sees it.

use std::collections::HashMap;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::naming;
use pulsing_actor::prelude::*;

use crate::batch::JsBatchFailure;
use crate::convert::{
    to_napi, to_wire, Code, JsMember, JsNamedActor, JsNamedInstance, JsProtocol, JsSystemConfig,
    JsWireError,
};
use crate::host::{Callback, EventBatch, JsHost};
use pulsing_actor::cluster::node::{AnswerKind, Node};
use pulsing_actor::cluster::Topology;

/// The core actor system of one node.
#[napi]
pub struct NativeSystem {
    pub(crate) inner: ActorSystem,
}

fn ms(v: Option<u32>, d: Duration) -> Duration {
    v.map(|v| Duration::from_millis(v.into())).unwrap_or(d)
}

fn cluster_config(
    c: &mut JsSystemConfig,
    addr: String,
) -> std::result::Result<ClusterConfig, PulsingError> {
    let mut cfg = ClusterConfig::new(addr);
    cfg.seeds = c.seeds.take().unwrap_or_default();
    cfg.advertise = c.advertise_addr.take();
    cfg.passphrase = c.passphrase.take();
    cfg.insecure = c.insecure.unwrap_or(false);
    cfg.http = c.http.unwrap_or(true);
    if let Some(n) = c.chunk_bytes {
        cfg.chunk_bytes = n as usize;
    }
    if let Some(n) = c.bulk_threshold {
        cfg.bulk_threshold = n as usize;
    }
    if let Some(n) = c.max_connections {
        cfg.max_connections = n as usize;
    }
    cfg.topology = Topology::from_options(c.is_head_node.unwrap_or(false), c.head_addr.take())?;
    cfg.probe_interval = ms(c.probe_interval_ms, cfg.probe_interval);
    cfg.probe_timeout = ms(c.probe_timeout_ms, cfg.probe_timeout);
    cfg.suspicion_timeout = ms(c.suspicion_timeout_ms, cfg.suspicion_timeout);
    cfg.sync_interval = ms(c.sync_interval_ms, cfg.sync_interval);
    cfg.handshake_timeout = ms(c.handshake_timeout_ms, cfg.handshake_timeout);
    cfg.idle_timeout = ms(c.idle_timeout_ms, cfg.idle_timeout);
    cfg.validate()?;
    Ok(cfg)
}

async fn build(config: Option<JsSystemConfig>) -> std::result::Result<ActorSystem, PulsingError> {
    let mut b = ActorSystem::builder();
    if let Some(mut c) = config {
        if let Some(id) = &c.node_id {
            b = b.node_id(id.parse::<NodeId>()?);
        }
        if let Some(ms) = c.default_timeout_ms {
            b = b.default_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(ms) = c.shutdown_timeout_ms {
            b = b.shutdown_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(on) = c.actor_metrics {
            b = b.actor_metrics(on);
        }
        if let Some(path) = c.storage_path.take() {
            b = b.storage_path(path);
        }
        if let Some(addr) = c.addr.take() {
            b = b.cluster(cluster_config(&mut c, addr)?);
        }
    }
    b.build()
        .await
        .map_err(|e| match e.downcast::<PulsingError>() {
            Ok(pe) => pe,
            Err(other) => PulsingError::runtime(RuntimeErrorKind::Config, format!("{other:#}")),
        })
}

/// Create a system: standalone, or a node of a cluster when `addr` is set. Resolves to the
/// system, or to the typed error that prevented it (async rejections cannot carry a code).
#[napi]
pub async fn create_system(config: Option<JsSystemConfig>) -> Either<NativeSystem, JsWireError> {
    match build(config).await {
        Ok(inner) => Either::A(NativeSystem { inner }),
        Err(e) => Either::B(to_wire(&e)),
    }
}

/// The bearer token that opens the HTTP surface of a cluster with `passphrase` to clients
/// without its certificate.
#[napi]
pub fn http_token(passphrase: String) -> String {
    pulsing_actor::transport::tls::http_token(&passphrase)
}

/// Protocol constants shared with the TypeScript layer.
#[napi]
pub fn protocol() -> JsProtocol {
    use pulsing_actor::protocol as p;
    JsProtocol {
        stream_window: p::STREAM_WINDOW,
        credit_batch: p::CREDIT_BATCH,
        stream_window_bytes: p::STREAM_WINDOW_BYTES as u32,
        credit_bytes: p::CREDIT_BYTES as u32,
        req_id_space: p::REQ_ID_SPACE as f64,
        max_name_bytes: p::MAX_NAME_BYTES as u32,
        max_metadata_bytes: p::MAX_METADATA_BYTES as u32,
        error_kinds: RuntimeErrorKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
    }
}

/// Normalise an actor name (`x` → `actors/x`); `forSpawn` also refuses `system/*`.
#[napi]
pub fn normalize_name(name: String, for_spawn: bool) -> napi::Result<String, Code> {
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
    ) -> napi::Result<String, Code> {
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
    ) -> napi::Result<(), Code> {
        self.inner
            .update_foreign(&name, local as u64, metadata)
            .map_err(to_napi)
    }

    /// Drop `name` if `local` still holds it; returns whether it was dropped.
    #[napi]
    pub fn unregister_name(&self, name: String, local: i64) -> napi::Result<bool, Code> {
        self.inner
            .unregister_foreign(&name, local as u64)
            .map_err(to_napi)
    }

    /// The instance registered under `name`, if any.
    #[napi]
    pub fn lookup(&self, name: String) -> napi::Result<Option<JsNamedInstance>, Code> {
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
    pub fn instances(&self, name: String) -> napi::Result<Vec<JsNamedInstance>, Code> {
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
    #[napi(
        ts_args_type = "callback: (packed: Buffer, start: number, end: number, parts: Array<Buffer> | null, strings: Array<string>, errors: Array<JsWireError> | null, lends: null) => void"
    )]
    pub fn set_host(
        &self,
        callback: Function<'_, EventBatch, Unknown<'static>>,
    ) -> napi::Result<(), Code> {
        let node = self.node()?;
        let callback =
            Callback::new(&callback).map_err(|e| napi::Error::new(Code("Internal"), e.reason))?;
        node.set_foreign_host(std::sync::Arc::new(JsHost::start(callback)));
        Ok(())
    }

    /// Send an ask (`req` set) or a tell to an actor on another node, by local id or by
    /// name; returns the id of the connection it went on (0 when not bound to one).
    #[napi]
    pub fn send_request(
        &self,
        node: String,
        req: Option<i64>,
        local: Option<i64>,
        name: Option<String>,
        body: Buffer,
        attachments: Option<Vec<Buffer>>,
    ) -> napi::Result<u32, Code> {
        let node = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?
            .foreign_request(
                node,
                req.map(|r| r as u64),
                (local.map(|l| l as u64), name),
                (bytes::Bytes::from_owner(body), owned(attachments)),
                None,
            )
            .map_err(to_napi)
    }

    /// Send every frame a JS tick produced, in one crossing: its records are `ops[0, len)`
    /// (see `batch` for the layout). The connection each ask went on is written into `conns`
    /// (a `Uint32Array`'s memory, in batch order; 0 when it failed); returns the frames that
    /// failed, null when none did.
    ///
    /// `ops` and `conns` are borrowed for the call, not referenced (a napi reference each
    /// per batch showed in the profile): the core copies what it keeps of `ops`, and JS runs
    /// nothing meanwhile. `parts` are kept, so they are referenced.
    #[napi]
    pub fn send_batch(
        &self,
        ops: BufferSlice,
        len: u32,
        parts: Vec<Buffer>,
        nodes: Vec<String>,
        names: Vec<String>,
        mut conns: BufferSlice,
    ) -> napi::Result<Option<Vec<JsBatchFailure>>, Code> {
        let (a, b) = (ops.as_ptr_range(), conns.as_ptr_range());
        if !ops.is_empty() && !conns.is_empty() && a.start < b.end && b.start < a.end {
            return Err(napi::Error::new(
                Code("Config"),
                "sendBatch: ops and conns must not share memory".to_string(),
            ));
        }
        // The whole batch buffer is passed with the length it holds: no view is made per send.
        let ops = ops.get(..len as usize).ok_or_else(|| {
            napi::Error::new(
                Code("Protocol"),
                format!("a batch of {len} bytes in a buffer of {}", ops.len()),
            )
        })?;
        let out = crate::batch::send(self.node()?, ops, parts, &nodes, &names).map_err(to_napi)?;
        out.write_conns(&mut conns).map_err(to_napi)?;
        Ok((!out.failures.is_empty()).then_some(out.failures))
    }

    /// Grant `n` stream credits (`n > 0`) or cancel (`n == 0`) a call to another node.
    #[napi]
    pub fn send_flow(&self, node: String, req: i64, n: u32) -> napi::Result<(), Code> {
        let node = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?
            .foreign_flow(node, req as u64, n)
            .map_err(to_napi)
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
    ) -> napi::Result<bool, Code> {
        let kind = AnswerKind::parse(&kind).map_err(to_napi)?;
        Ok(self.node()?.foreign_answer(
            conn,
            kind,
            req as u64,
            bytes::Bytes::from_owner(body),
            owned(attachments),
        ))
    }

    /// Answer a request with a typed error.
    #[napi]
    pub fn reply_error(&self, conn: u32, req: i64, error: JsWireError) -> napi::Result<bool, Code> {
        Ok(self.node()?.foreign_error(conn, req as u64, error.into()))
    }

    /// Fault injection: drop all traffic with these nodes, both ways.
    #[napi]
    pub fn fault_partition(&self, nodes: Vec<String>) -> napi::Result<(), Code> {
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
    pub fn fault_delay(&self, node: String, ms: u32) -> napi::Result<(), Code> {
        let id = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?
            .faults()
            .delay(id, Duration::from_millis(ms.into()));
        Ok(())
    }

    /// Fault injection: drop each frame sent to `node` with probability `rate`.
    #[napi]
    pub fn fault_drop(&self, node: String, rate: f64) -> napi::Result<(), Code> {
        let id = node.parse::<NodeId>().map_err(to_napi)?;
        self.node()?.faults().drop_rate(id, rate);
        Ok(())
    }

    /// Fault injection: remove every fault.
    #[napi]
    pub fn fault_heal(&self) -> napi::Result<(), Code> {
        self.node()?.faults().heal();
        Ok(())
    }

    pub(crate) fn node(&self) -> napi::Result<&std::sync::Arc<Node>, Code> {
        self.inner.cluster().ok_or_else(|| {
            napi::Error::new(
                Code("Config"),
                "this system is standalone: it has no cluster transport",
            )
        })
    }

    /// Bytes of gossip this node has sent (0 when standalone).
    #[napi]
    pub fn gossip_bytes_sent(&self) -> f64 {
        self.inner
            .cluster()
            .map(|n| n.gossip_bytes_sent() as f64)
            .unwrap_or(0.0)
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

    /// Stop Rust-hosted actors and refuse new names. Idempotent. Resolves to `null`, or to
    /// the typed error that stopped it.
    #[napi]
    pub async fn shutdown(&self) -> Option<JsWireError> {
        self.inner.shutdown().await.err().map(|e| {
            let pe = match e.downcast::<PulsingError>() {
                Ok(pe) => pe,
                Err(other) => PulsingError::runtime(RuntimeErrorKind::Io, format!("{other:#}")),
            };
            to_wire(&pe)
        })
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
