//! `POST /v1/actors/<name>/<method>` with `{"args": [...]}`: a call for any language. The
//! node calls the actor as a `Connect` client of itself would (so the actor may be a Rust or
//! a TypeScript one, here or on any node): `{"result": ...}`, or the error object with its
//! class and fields and an HTTP status that fits it. A streaming method answers NDJSON, one
//! item per line (an error ends it as a last `{"error": ...}` line); a client that closes the
//! response cancels the generator.
//!
//! `X-Pulsing-Timeout-Ms` sets the call's timeout (the system's default otherwise; a stream's
//! first item must come within it).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{json as j, reply, Body, MAX_BODY};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::message::Message;
use crate::system::ActorSystem;

/// Longest timeout a caller may ask for.
const MAX_TIMEOUT_MS: u64 = 3_600_000;

fn bad(msg: String) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Config, msg)
}

fn failed(e: &PulsingError) -> Response<Body> {
    let (status, body) = j::error(e);
    reply(status, body)
}

pub(super) async fn call(system: &ActorSystem, req: Request<Incoming>) -> Response<Body> {
    match call_inner(system, req).await {
        Ok(r) => r,
        Err(e) => failed(&e),
    }
}

/// The name and method of `/v1/actors/<name>/<method>` (the name may hold `/`).
fn target(path: &str) -> Result<(String, String), PulsingError> {
    let rest = path.strip_prefix("/v1/actors/").unwrap_or("");
    let (name, method) = rest
        .rsplit_once('/')
        .filter(|(n, m)| !n.is_empty() && !m.is_empty())
        .ok_or_else(|| bad(format!("expected /v1/actors/<name>/<method>, got {path}")))?;
    let name = percent_decode(name)?;
    let method = percent_decode(method)?;
    let full = crate::naming::normalize_for_spawn(&name)?;
    Ok((full, method))
}

fn percent_decode(s: &str) -> Result<String, PulsingError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("bad percent-encoding in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("{s:?} is not UTF-8 once decoded")))
}

async fn call_inner(
    system: &ActorSystem,
    req: Request<Incoming>,
) -> Result<Response<Body>, PulsingError> {
    let (name, method) = target(req.uri().path())?;
    let timeout = match req.headers().get("x-pulsing-timeout-ms") {
        None => system.default_timeout(),
        Some(v) => {
            let ms = v
                .to_str()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                .ok_or_else(|| {
                    bad(format!(
                        "X-Pulsing-Timeout-Ms must be 1 to {MAX_TIMEOUT_MS}"
                    ))
                })?;
            Duration::from_millis(ms)
        }
    };
    // An incoming trace is carried on the call; one that is not W3C `traceparent` is ignored,
    // as the W3C Trace Context says a receiver must.
    let trace = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|t| crate::transport::frame::is_traceparent(t))
        .map(str::to_string);
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| bad(format!("the request body: {e} (at most {MAX_BODY} bytes)")))?
        .to_bytes();
    let args: Vec<Value> = if body.is_empty() {
        Vec::new()
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the request body is not JSON: {e}")))?;
        match v.get("args") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => return Err(bad(format!("args must be an array, got {other}"))),
        }
    };
    let msg = Message::call(&method, &args)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
    let answer = system.call_by_name(&name, msg, timeout, trace).await?;
    match answer {
        Message::Single { data, .. } => Ok(reply(
            StatusCode::OK,
            json!({ "result": j::from_msgpack(&data)? }),
        )),
        Message::Stream(s) => {
            // One JSON line per item; an error is the last line. Dropping the body (the
            // client went away) drops the stream, which cancels the generator.
            let lines = s.scan(false, |ended, item| {
                if *ended {
                    return futures::future::ready(None);
                }
                let v = match item.and_then(|m| match m {
                    Message::Single { data, .. } => j::from_msgpack(&data),
                    Message::Stream(_) => Err(PulsingError::runtime(
                        RuntimeErrorKind::Serialization,
                        "a stream item cannot itself be a stream",
                    )),
                }) {
                    Ok(v) => v,
                    Err(e) => {
                        *ended = true;
                        j::error(&e).1
                    }
                };
                let mut line = v.to_string().into_bytes();
                line.push(b'\n');
                futures::future::ready(Some(Ok(Frame::data(Bytes::from(line)))))
            });
            let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(lines)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                "application/x-ndjson".parse().expect("ascii"),
            );
            Ok(r)
        }
    }
}

impl ActorSystem {
    /// Call the actor named `name` (normalised) wherever it lives, as a client of this node:
    /// the same path for Rust and TypeScript actors, here or elsewhere.
    async fn call_by_name(
        &self,
        name: &str,
        msg: Message,
        timeout: Duration,
        trace: Option<String>,
    ) -> Result<Message, PulsingError> {
        let node = self.cluster().ok_or_else(|| {
            PulsingError::runtime(RuntimeErrorKind::Config, "this system does not listen")
        })?;
        let client = self
            .http_client()
            .get_or_try_init(|| async {
                crate::connect::Connect::with_options(
                    [node.addr().to_string()],
                    crate::connect::ConnectOptions {
                        passphrase: node.passphrase().map(str::to_string),
                        ..Default::default()
                    },
                )
                .await
            })
            .await?;
        client
            .node()
            .ask_traced(
                crate::cluster::node::GATEWAY,
                crate::transport::frame::Target::Name(name.to_string()),
                msg,
                timeout,
                trace,
            )
            .await
    }
}
