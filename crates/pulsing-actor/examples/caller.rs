//! A Rust node that makes calls on command, so one test suite can hold Rust callers and
//! TypeScript callers to the same behaviour (`__test__/callers.spec.ts`).
//!
//! Usage: `caller <seed host:port>` joins the cluster as a node; `caller --connect <gateway
//! host:port>` calls through that gateway with `Connect` instead, as a client. Prints
//! `{"ready":...}` once joined (or connected), then reads one JSON command per line on stdin
//! and answers each with one JSON line carrying the command's `id`:
//!
//! - `{"id","op":"call","name","method","args"}` → `{"id","ok":value}` or `{"id","err":{...}}`
//! - `{"id","op":"tells","name","method","args","times"}` → `{"id","ok":null}` once sent
//! - `{"id","op":"stream","name","method","args","take"}` → `{"id","items":[...],"ended":bool}`
//!   (`take: null` reads to the end; otherwise the stream is dropped after `take` items)
//! - `{"id","op":"count","name","method","args"}` → `{"id","ok":n}`: reads the stream to its end
//!   and counts its items without decoding them
//! - `{"id","op":"hold",...,"take"}` → `{"id","held":n}` after `take` items, keeping the stream
//!   open without reading; `{"id","op":"release","of":holdId}` drops it → `{"id","ok":null}`

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use pulsing_actor::prelude::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

fn err_json(e: &PulsingError) -> Value {
    match e {
        PulsingError::Runtime { kind, message } => {
            json!({ "category": "runtime", "kind": kind.as_str(), "message": message })
        }
        PulsingError::Business { code, message, .. } => {
            json!({ "category": "business", "code": code, "message": message })
        }
        PulsingError::Timeout { .. } => json!({ "category": "timeout", "message": e.to_string() }),
        other => json!({ "category": "other", "message": other.to_string() }),
    }
}

/// Where calls leave from: a node of the cluster, or a client through a gateway.
#[derive(Clone)]
enum Caller {
    Node(ActorSystem),
    Client(Arc<Connect>),
}

async fn target(caller: &Caller, cmd: &Value) -> Result<ActorRef, PulsingError> {
    let name = cmd["name"].as_str().unwrap_or_default();
    match caller {
        Caller::Node(system) => system.resolve(name).await,
        Caller::Client(conn) => conn.resolve(name).await,
    }
}

fn call_msg(cmd: &Value) -> Result<Message, PulsingError> {
    let method = cmd["method"].as_str().unwrap_or_default();
    let args = cmd["args"].as_array().cloned().unwrap_or_default();
    Message::call(method, args)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
}

/// Held streams, by the id of the `hold` command that opened them.
type Held = Arc<Mutex<HashMap<u64, MessageStream>>>;

async fn run(system: Caller, cmd: Value, held: Held) -> Value {
    let id = cmd["id"].clone();
    let r: Result<Value, PulsingError> = async {
        match cmd["op"].as_str().unwrap_or_default() {
            "call" => {
                let reply = target(&system, &cmd)
                    .await?
                    .ask_message(call_msg(&cmd)?)
                    .await?;
                Ok(json!({ "ok": reply.unpack::<Value>()? }))
            }
            "tells" => {
                let to = target(&system, &cmd).await?;
                for _ in 0..cmd["times"].as_u64().unwrap_or(1) {
                    to.tell_message(call_msg(&cmd)?).await?;
                }
                Ok(json!({ "ok": null }))
            }
            "stream" | "hold" => {
                let reply = target(&system, &cmd)
                    .await?
                    .ask_message(call_msg(&cmd)?)
                    .await?;
                let mut s = reply.into_stream()?;
                let take = cmd["take"].as_u64().map(|n| n as usize);
                let mut items = Vec::new();
                let mut ended = false;
                while take.is_none_or(|t| items.len() < t) {
                    match s.next().await {
                        Some(item) => items.push(item?.unpack::<Value>()?),
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
                if cmd["op"] == "hold" {
                    held.lock().await.insert(id.as_u64().unwrap_or(0), s);
                    return Ok(json!({ "held": items.len() }));
                }
                // Dropping `s` here cancels what is left of the stream.
                Ok(json!({ "items": items, "ended": ended }))
            }
            "count" => {
                let reply = target(&system, &cmd)
                    .await?
                    .ask_message(call_msg(&cmd)?)
                    .await?;
                let mut s = reply.into_stream()?;
                let mut n = 0u64;
                while let Some(item) = s.next().await {
                    item?;
                    n += 1;
                }
                Ok(json!({ "ok": n }))
            }
            "release" => {
                let of = cmd["of"].as_u64().unwrap_or(0);
                drop(held.lock().await.remove(&of));
                Ok(json!({ "ok": null }))
            }
            other => Err(PulsingError::Unsupported {
                operation: format!("caller has no op {other:?}"),
            }),
        }
    }
    .await;
    let mut out = r.unwrap_or_else(|e| json!({ "err": err_json(&e) }));
    out["id"] = id;
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: caller <seed host:port> | caller --connect <gateway host:port>";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let system = match args.as_slice() {
        [flag, gateway] if flag == "--connect" => {
            let conn = Connect::to([gateway.clone()]).await?;
            println!("{}", json!({ "ready": true, "gateway": conn.gateway() }));
            Caller::Client(Arc::new(conn))
        }
        [seed] => {
            let system = ActorSystem::builder()
                .addr("127.0.0.1:0")
                .seeds([seed.clone()])
                .build()
                .await?;
            println!(
                "{}",
                json!({ "ready": true, "addr": system.addr(), "nodeId": system.node_id().to_string() })
            );
            Caller::Node(system)
        }
        _ => anyhow::bail!(usage),
    };
    let held: Held = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    // One writer keeps answers whole lines even when commands finish concurrently.
    tokio::spawn(async move {
        while let Some(v) = rx.recv().await {
            println!("{v}");
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let cmd: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("caller: not a JSON command ({e}): {line}");
                continue;
            }
        };
        let (system, held, tx) = (system.clone(), held.clone(), tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(run(system, cmd, held).await);
        });
    }
    // Stdin closed: the test is over.
    match system {
        Caller::Node(system) => system.shutdown().await?,
        Caller::Client(conn) => {
            if let Ok(conn) = Arc::try_unwrap(conn) {
                conn.close().await;
            }
        }
    }
    Ok(())
}
