//! HTTP on every node's port (the node tells HTTP from its own frames by the first byte, see
//! `transport::sniff`): for operators and for callers in any language.
//!
//! | request | answer |
//! |---|---|
//! | `GET /health` | `{ status, nodeId, addr, members }` |
//! | `GET /cluster/members` | every member this node knows of, with its status |
//! | `GET /actors` | every named actor in the cluster, with its instances (node, id, metadata) |
//! | `GET /queues` | every queue bucket (owner, replicas, records, groups' lag) and topic (the `queues` module) |
//! | `GET /metrics` | Prometheus text format ([`metrics`]) |
//! | `GET /` | a live dashboard (one page, no build step) |
//! | `POST /v1/actors/<name>/<method>` | calls the actor with `{"args": [...]}` (see the `call` module) |
//!
//! With a passphrase, a request that did not come over mutual TLS with the cluster's
//! certificate needs `Authorization: Bearer <token>` (`transport::tls::http_token`); without
//! it the answer is 401 and nothing else. Bodies are bounded (`MAX_BODY`).

mod call;
mod json;
pub mod metrics;
mod queues;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::cluster::node::HttpSlot;
use crate::system::{ActorSystem, WeakSystem};
use crate::transport::conn::BoxStream;

/// Bytes a request body may have.
pub const MAX_BODY: usize = 16 << 20;

/// A response body: whole, or streamed (NDJSON).
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Serve one HTTP connection (keep-alive: many requests) for `system`.
pub(crate) fn serve(
    system: WeakSystem,
    stream: BoxStream,
    peer: String,
    secure: bool,
    slot: HttpSlot,
) {
    tokio::spawn(async move {
        let _slot = slot;
        let io = hyper_util::rt::TokioIo::new(stream);
        let service = hyper::service::service_fn(move |req| {
            let system = system.clone();
            async move { Ok::<_, Infallible>(handle(system, req, secure).await) }
        });
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
        {
            tracing::debug!(%peer, "http connection ended: {e}");
        }
    });
}

async fn handle(system: WeakSystem, req: Request<Incoming>, secure: bool) -> Response<Body> {
    let Some(system) = system.upgrade() else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "the node is shutting down" }),
        );
    };
    if !secure && !authorized(&system, &req) {
        let mut r = reply(StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }));
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("ascii"),
        );
        return r;
    }
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => health(&system).await,
        (&Method::GET, "/cluster/members") => members(&system).await,
        (&Method::GET, "/actors") => actors(&system).await,
        (&Method::GET, "/queues") => queues::queues(&system).await,
        (&Method::GET, "/metrics") => {
            let text = metrics::render(&system.metrics().await);
            let mut r = Response::new(full(Bytes::from(text)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8"
                    .parse()
                    .expect("ascii"),
            );
            r
        }
        (&Method::GET, "/") => {
            let mut r = Response::new(full(Bytes::from_static(DASHBOARD.as_bytes())));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                "text/html; charset=utf-8".parse().expect("ascii"),
            );
            r
        }
        (&Method::POST, p) if p.starts_with("/v1/actors/") => call::call(&system, req).await,
        (_, "/health" | "/cluster/members" | "/actors" | "/queues" | "/metrics" | "/") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": format!("{} takes GET", path) }),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no such endpoint: {} {}", req.method(), path) }),
        ),
    }
}

/// Whether `req` may be served: always without a passphrase; with one, it must carry the
/// bearer token.
fn authorized(system: &ActorSystem, req: &Request<Incoming>) -> bool {
    let Some(pass) = system
        .cluster()
        .and_then(|n| n.passphrase().map(str::to_string))
    else {
        return true;
    };
    let want = crate::transport::tls::http_token(&pass);
    let got = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compared in constant time: the token is a secret.
    got.len() == want.len()
        && got
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn health(system: &ActorSystem) -> Response<Body> {
    reply(
        StatusCode::OK,
        json!({
            "status": "ok",
            "nodeId": system.node_id().to_string(),
            "addr": system.addr(),
            "members": system.members().await.len(),
        }),
    )
}

async fn members(system: &ActorSystem) -> Response<Body> {
    let all: Vec<_> = match system.cluster() {
        Some(n) => n
            .all_members()
            .into_iter()
            .map(|m| json!({ "nodeId": m.node.to_string(), "addr": m.addr, "status": json::liveness(m.liveness) }))
            .collect(),
        None => vec![json!({ "nodeId": system.node_id().to_string(), "addr": null, "status": "alive" })],
    };
    reply(StatusCode::OK, json!(all))
}

async fn actors(system: &ActorSystem) -> Response<Body> {
    let named = system.all_named_actors().await;
    let stats = stats_of(system, named.iter().flat_map(|a| &a.instances)).await;
    let all: Vec<_> = named
        .into_iter()
        .map(|a| {
            json!({
                "name": a.name,
                "instances": a.instances.iter().map(|i| {
                    let s = stats.get(&(i.node_id, i.actor_id.local));
                    json!({
                        "nodeId": i.node_id.to_string(),
                        "actorId": i.actor_id.to_string(),
                        "metadata": i.metadata,
                        "mailboxDepth": s.map(|s| s.mailbox_depth),
                        "handled": s.map(|s| s.handled),
                        "errors": s.map(|s| s.errors),
                        "restarts": s.map(|s| s.restarts),
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    reply(StatusCode::OK, json!(all))
}

/// How long `/actors` waits for another node's figures; a node that does not answer in time
/// is shown without them (`null`).
pub(crate) const STATS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The figures of `instances`, asked of their nodes at once, by (node, local id).
async fn stats_of<'a>(
    system: &ActorSystem,
    instances: impl Iterator<Item = &'a crate::system::NamedInstance>,
) -> std::collections::HashMap<(crate::id::NodeId, u64), crate::stats::ActorStats> {
    let mut nodes: Vec<_> = instances.map(|i| i.node_id).collect();
    nodes.sort();
    nodes.dedup();
    let asks = nodes.into_iter().map(|node| async move {
        let got = match system.cluster() {
            Some(n) => n.actor_stats_of(node, STATS_WAIT).await,
            None => Ok(system.actor_stats()),
        };
        match got {
            Ok(all) => all.into_iter().map(|s| ((node, s.local), s)).collect(),
            Err(e) => {
                tracing::debug!(%node, "no actor figures from node: {e}");
                Vec::new()
            }
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

pub(crate) fn full(b: Bytes) -> Body {
    Full::new(b).boxed_unsync()
}

/// A JSON answer.
pub(crate) fn reply(status: StatusCode, v: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        "application/json".parse().expect("ascii"),
    );
    r
}

/// The dashboard: members with their status and the named actors per node, refreshed every
/// second from `/cluster/members` and `/actors` (same origin, same token).
const DASHBOARD: &str = include_str!("dashboard.html");
