//! The foreign host: delivers transport events for TypeScript actors to JS in batches.
//!
//! One weak ThreadsafeFunction per system: events queue in a channel, and a pump task wakes
//! JS once per batch (everything queued at that moment, up to `MAX_BATCH`), never once per
//! message. The function is weak, so it never keeps the process alive.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use pulsing_actor::cluster::{ForeignEvent, ForeignHost};
use tokio::sync::mpsc;

use crate::convert::{JsEvent, JsWireError};
use pulsing_actor::transport::Header;

const MAX_BATCH: usize = 4096;

/// The JS callback: receives an array of events.
pub type EventCallback =
    ThreadsafeFunction<Vec<JsEvent>, Unknown<'static>, Vec<JsEvent>, Status, false, true>;

/// Queues events for the pump.
pub struct JsHost {
    tx: mpsc::UnboundedSender<ForeignEvent>,
}

impl JsHost {
    /// Start the pump that calls `callback` with batches.
    pub fn start(callback: EventCallback) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<ForeignEvent>();
        napi::bindgen_prelude::spawn(async move {
            let mut batch = Vec::new();
            while let Some(ev) = rx.recv().await {
                batch.push(to_js(ev));
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(ev) => batch.push(to_js(ev)),
                        Err(_) => break,
                    }
                }
                let status = callback.call(
                    std::mem::take(&mut batch),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
                if status != Status::Ok {
                    // The environment is going away: nothing can receive events any more.
                    break;
                }
            }
        });
        Self { tx }
    }
}

impl ForeignHost for JsHost {
    fn deliver(&self, event: ForeignEvent) {
        let _ = self.tx.send(event);
    }
}

fn event(kind: &str) -> JsEvent {
    JsEvent {
        kind: kind.to_string(),
        conn: 0,
        req: 0,
        local: 0,
        name: None,
        n: 0,
        body: None,
        attachments: None,
        node: None,
        error: None,
    }
}

fn to_js(ev: ForeignEvent) -> JsEvent {
    match ev {
        ForeignEvent::NodeDown(node) => JsEvent {
            node: Some(node.to_string()),
            ..event("nodeDown")
        },
        ForeignEvent::ConnClosed(conn) => JsEvent {
            conn,
            ..event("closed")
        },
        ForeignEvent::Request {
            conn,
            header,
            local,
            name,
            body,
            attachments,
        } => {
            let (kind, req, n) = match header {
                Header::Ask { req, .. } => ("ask", req, 0),
                Header::Tell { .. } => ("tell", 0, 0),
                Header::Credit { req, n } => ("credit", req, n),
                Header::Cancel { req } => ("cancel", req, 0),
                _ => ("unknown", 0, 0),
            };
            JsEvent {
                conn,
                req: req as i64,
                local: local as i64,
                name,
                n,
                body: Some(Buffer::from(body.to_vec())),
                attachments: buffers(attachments),
                ..event(kind)
            }
        }
        ForeignEvent::Response {
            conn,
            node,
            header,
            body,
            attachments,
        } => {
            let (kind, req, error) = match header {
                Header::Reply { req, .. } => ("reply", req, None),
                Header::StreamItem { req, .. } => ("item", req, None),
                Header::StreamEnd { req, .. } => ("end", req, None),
                Header::Error { req, error } => ("error", req, Some(JsWireError::from(error))),
                _ => ("unknown", 0, None),
            };
            JsEvent {
                conn,
                req: req as i64,
                node: node.map(|n| n.to_string()),
                body: Some(Buffer::from(body.to_vec())),
                attachments: buffers(attachments),
                error,
                ..event(kind)
            }
        }
    }
}

/// Attachments as JS Buffers. A large attachment was read into its own allocation, so
/// `Vec::from` takes it over and the Buffer is external memory: no copy.
fn buffers(attachments: Vec<bytes::Bytes>) -> Option<Vec<Buffer>> {
    if attachments.is_empty() {
        return None;
    }
    Some(
        attachments
            .into_iter()
            .map(|a| Buffer::from(Vec::<u8>::from(a)))
            .collect(),
    )
}
