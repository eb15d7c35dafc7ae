//! One crossing per JS tick: the frames the TypeScript layer produced in a tick arrive packed
//! in one buffer, with their bodies and attachments as a list of Buffers, and are sent here
//! in order. Parsing the packed records is conversion; building and routing frames stays in
//! the core (`Node::foreign_*`).
//!
//! Record layout (little-endian), one per frame:
//! - `u8 op`: 0 ask, 1 tell, 2 flow (credit or cancel), 3 reply, 4 stream item, 5 stream end,
//!   6 stream items (a MessagePack array of several), 7 traced ask, 8 traced tell
//! - traced ask / tell: as ask / tell, then `u16 trace` (the W3C `traceparent`, an index
//!   into `names`) before the body
//! - ask / tell: `u16 node` (index into `nodes`), `f64 req` (ask; 0 for tell),
//!   `u8 target` (0 local id, 1 name), then `f64 local` or `u16 name` (index into `names`)
//! - flow: `u16 node`, `f64 req`, `u32 n` (0 cancels)
//! - reply / item / end / items: `u32 conn`, `f64 req`
//! - every op but flow then the body: `u8 0, u32 len, len bytes` (a small body, inline) or
//!   `u8 1, u32 index` (into `parts`), then `u16 count`, `count × u32` attachment indices
//!   into `parts`.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use pulsing_actor::cluster::node::{AnswerKind, Node};
use pulsing_actor::prelude::*;
use pulsing_actor::transport::frame::Frame;

use crate::convert::{to_wire, JsWireError};

/// A frame of a batch that could not be sent.
#[napi(object)]
pub struct JsBatchFailure {
    /// Its position in the batch.
    pub index: u32,
    /// Why.
    pub error: JsWireError,
}

/// What became of a batch: the connection each ask went on (in order; 0 when it failed),
/// and the frames that failed.
pub struct Outcome {
    /// One per ask, in batch order.
    pub conns: Vec<u32>,
    /// Frames that could not be sent.
    pub failures: Vec<JsBatchFailure>,
}

impl Outcome {
    /// Write the asks' connection ids into `to` (u32s in this machine's byte order, as a JS
    /// `Uint32Array` over the same memory reads them), in order: no JS array is built per
    /// batch.
    pub fn write_conns(&self, to: &mut [u8]) -> Result<(), PulsingError> {
        if to.len() < 4 * self.conns.len() {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                format!(
                    "a send batch of {} asks has room for the connections of {}",
                    self.conns.len(),
                    to.len() / 4
                ),
            ));
        }
        for (slot, conn) in to.chunks_exact_mut(4).zip(&self.conns) {
            slot.copy_from_slice(&conn.to_ne_bytes());
        }
        Ok(())
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], PulsingError> {
        let end = self.at + N;
        let bytes = self.b.get(self.at..end).ok_or_else(|| {
            PulsingError::runtime(RuntimeErrorKind::Protocol, "a truncated send batch")
        })?;
        self.at = end;
        Ok(bytes.try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> Result<u8, PulsingError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<usize, PulsingError> {
        Ok(u16::from_le_bytes(self.take()?) as usize)
    }
    fn u32(&mut self) -> Result<u32, PulsingError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn f64(&mut self) -> Result<u64, PulsingError> {
        Ok(f64::from_le_bytes(self.take()?) as u64)
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], PulsingError> {
        let end = self.at + n;
        let bytes = self.b.get(self.at..end).ok_or_else(|| {
            PulsingError::runtime(RuntimeErrorKind::Protocol, "a truncated send batch")
        })?;
        self.at = end;
        Ok(bytes)
    }
}

fn bad(what: &str) -> PulsingError {
    PulsingError::runtime(
        RuntimeErrorKind::Protocol,
        format!("a send batch refers to a missing {what}"),
    )
}

/// The parts of a batch, each handed over (without a copy) to the frame that uses it.
struct Parts(Vec<Option<Buffer>>);

impl Parts {
    fn take(&mut self, i: u32) -> Result<bytes::Bytes, PulsingError> {
        let b = self
            .0
            .get_mut(i as usize)
            .and_then(Option::take)
            .ok_or_else(|| bad("part"))?;
        Ok(bytes::Bytes::from_owner(b))
    }

    /// A frame's body and attachments; a small body is a slice of `ops` (its copy, `shared`).
    fn body_and_attachments(
        &mut self,
        r: &mut Reader,
        shared: &bytes::Bytes,
    ) -> Result<(bytes::Bytes, Vec<bytes::Bytes>), PulsingError> {
        let body = match r.u8()? {
            0 => {
                let len = r.u32()? as usize;
                let at = r.at;
                r.bytes(len)?;
                shared.slice(at..at + len)
            }
            _ => {
                let i = r.u32()?;
                self.take(i)?
            }
        };
        let count = r.u16()?;
        let mut atts = Vec::with_capacity(count);
        for _ in 0..count {
            atts.push(r.u32()?);
        }
        if count == 0 {
            return Ok((body, Vec::new()));
        }
        let atts = atts
            .into_iter()
            .map(|i| self.take(i))
            .collect::<Result<_, _>>()?;
        Ok((body, atts))
    }
}

/// Send every frame of a batch, in order.
pub fn send(
    node: &Node,
    ops: &[u8],
    parts: Vec<Buffer>,
    nodes: &[String],
    names: &[String],
) -> Result<Outcome, PulsingError> {
    let node_ids = nodes
        .iter()
        .map(|n| n.parse::<NodeId>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut parts = Parts(parts.into_iter().map(Some).collect());
    // One copy of the records for the whole batch: small bodies are slices of it, not an
    // allocation each (`ops` is JS memory, reused once this call returns).
    let shared = bytes::Bytes::copy_from_slice(ops);
    let mut r = Reader { b: ops, at: 0 };
    let mut out = Outcome {
        conns: Vec::new(),
        failures: Vec::new(),
    };
    let mut group = Group::default();
    let mut index = 0u32;
    while r.at < ops.len() {
        let op = r.u8()?;
        if !matches!(op, 0 | 1 | 3..=8) {
            group.flush(node, &mut out);
        }
        let sent = match op {
            0 | 1 | 7 | 8 => {
                let to = *node_ids.get(r.u16()?).ok_or_else(|| bad("node"))?;
                let req = r.f64()?;
                let (local, name) = match r.u8()? {
                    0 => (Some(r.f64()?), None),
                    _ => (
                        None,
                        Some(names.get(r.u16()?).ok_or_else(|| bad("name"))?.clone()),
                    ),
                };
                let trace = match op {
                    7 | 8 => Some(names.get(r.u16()?).ok_or_else(|| bad("trace"))?.clone()),
                    _ => None,
                };
                let (body, atts) = parts.body_and_attachments(&mut r, &shared)?;
                let req = (op == 0 || op == 7).then_some(req);
                let asks = req.is_some();
                match node.foreign_request_frame(to, req, (local, name), (body, atts), trace) {
                    Ok((to, frame)) => {
                        if group.to != Some(Dest::Node(to)) {
                            group.flush(node, &mut out);
                            group.to = Some(Dest::Node(to));
                        }
                        group.frames.push(frame);
                        group.slots.push((index, asks));
                        Ok(())
                    }
                    Err(e) => {
                        // Its connection id (none) keeps its place among the asks' ids.
                        group.flush(node, &mut out);
                        if asks {
                            out.conns.push(0);
                        }
                        Err(e)
                    }
                }
            }
            2 => {
                let to = *node_ids.get(r.u16()?).ok_or_else(|| bad("node"))?;
                let req = r.f64()?;
                let n = r.u32()?;
                node.foreign_flow(to, req, n)
            }
            3..=6 => {
                let conn = r.u32()?;
                let req = r.f64()?;
                let kind = match op {
                    3 => AnswerKind::Reply,
                    4 => AnswerKind::Item,
                    5 => AnswerKind::End,
                    _ => AnswerKind::Items,
                };
                let (body, atts) = parts.body_and_attachments(&mut r, &shared)?;
                if group.to != Some(Dest::Conn(conn)) {
                    group.flush(node, &mut out);
                    group.to = Some(Dest::Conn(conn));
                }
                group
                    .frames
                    .push(Node::foreign_answer_frame(kind, req, body, atts));
                Ok(())
            }
            other => {
                return Err(PulsingError::runtime(
                    RuntimeErrorKind::Protocol,
                    format!("unknown op {other} in a send batch"),
                ))
            }
        };
        if let Err(e) = sent {
            out.failures.push(JsBatchFailure {
                index,
                error: to_wire(&e),
            });
        }
        index += 1;
    }
    group.flush(node, &mut out);
    Ok(out)
}

/// Where a group of frames goes: requests to a node, answers on a connection.
#[derive(Clone, Copy, PartialEq)]
enum Dest {
    Node(NodeId),
    Conn(u32),
}

/// Consecutive frames of a batch for one node (requests) or one connection (answers): they
/// leave together, in one hand-off to the connection (one wake-up of its writer, not one per
/// frame).
#[derive(Default)]
struct Group {
    to: Option<Dest>,
    frames: Vec<Frame>,
    /// Per request: its position in the batch, and whether it is an ask.
    slots: Vec<(u32, bool)>,
    sent: Vec<Result<u32, PulsingError>>,
}

impl Group {
    fn flush(&mut self, node: &Node, out: &mut Outcome) {
        let to = match self.to.take() {
            None => return,
            Some(Dest::Conn(conn)) => {
                // A closed connection took its caller with it: nothing to report.
                node.foreign_answer_all(conn, std::mem::take(&mut self.frames));
                return;
            }
            Some(Dest::Node(to)) => to,
        };
        node.foreign_send_all(to, std::mem::take(&mut self.frames), &mut self.sent);
        for ((index, asks), sent) in self.slots.drain(..).zip(self.sent.drain(..)) {
            // Every ask, traced or not, gets its connection id (JS pairs them by position).
            if asks {
                out.conns.push(*sent.as_ref().unwrap_or(&0));
            }
            if let Err(e) = sent {
                out.failures.push(JsBatchFailure {
                    index,
                    error: to_wire(&e),
                });
            }
        }
    }
}
