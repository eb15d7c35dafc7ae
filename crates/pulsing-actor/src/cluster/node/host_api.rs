//! What the foreign host (the JS binding) calls: frames are built here, in the core, so the
//! binding only converts values. Not part of the Rust API (`#[doc(hidden)]`).

use bytes::Bytes;

use super::Node;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::id::NodeId;
use crate::protocol::MSGPACK;
use crate::transport::frame::{Frame, Header, Target};
use crate::transport::WireError;

/// How a foreign answer to a request ends.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// The single reply.
    Reply,
    /// One stream item.
    Item,
    /// The end of the stream (the body is the generator's return value).
    End,
    /// Several stream items (the body is a MessagePack array of them).
    Items,
}

impl AnswerKind {
    /// `reply`, `item` or `end`.
    pub fn parse(s: &str) -> Result<AnswerKind, PulsingError> {
        match s {
            "reply" => Ok(AnswerKind::Reply),
            "item" => Ok(AnswerKind::Item),
            "end" => Ok(AnswerKind::End),
            "items" => Ok(AnswerKind::Items),
            other => Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                format!("unknown answer kind {other:?}: reply, item or end"),
            )),
        }
    }
}

impl Node {
    /// Send a foreign ask (`req` set) or tell to `node`, by local id or by name, with its
    /// body and attachments (`payload`) and the caller's W3C `traceparent`; returns the
    /// connection it went on.
    #[doc(hidden)]
    pub fn foreign_request(
        &self,
        node: NodeId,
        req: Option<u64>,
        (local, name): (Option<u64>, Option<String>),
        (body, attachments): (Bytes, Vec<Bytes>),
        trace: Option<String>,
    ) -> Result<u32, PulsingError> {
        let (node, frame) =
            self.foreign_request_frame(node, req, (local, name), (body, attachments), trace)?;
        self.send_to(node, frame)
    }

    /// The frame [`Node::foreign_request`] sends, and the node it goes to (a client's go
    /// to its gateway): for a host that sends several with [`Node::foreign_send_all`].
    #[doc(hidden)]
    pub fn foreign_request_frame(
        &self,
        node: NodeId,
        req: Option<u64>,
        (local, name): (Option<u64>, Option<String>),
        (body, attachments): (Bytes, Vec<Bytes>),
        trace: Option<String>,
    ) -> Result<(NodeId, Frame), PulsingError> {
        let (node, target) = match (local, name) {
            (Some(l), _) => self.route(node, l),
            (None, Some(n)) => (node, Target::Name(crate::naming::normalize(&n)?)),
            (None, None) => {
                return Err(PulsingError::runtime(
                    RuntimeErrorKind::Config,
                    "a request needs a target: a local id or a name",
                ))
            }
        };
        let tag = MSGPACK.to_string();
        let header = match req {
            Some(req) => Header::Ask {
                req,
                target,
                tag,
                trace,
            },
            None => Header::Tell { target, tag, trace },
        };
        Ok((
            node,
            Frame {
                header,
                body,
                attachments,
            },
        ))
    }

    /// Send `frames`, all for `node`, in order; `sent` gets the outcome of each, in order.
    /// To a live connection they go in one hand-off, otherwise one by one as `send_to` would.
    #[doc(hidden)]
    pub fn foreign_send_all(
        &self,
        node: NodeId,
        frames: Vec<Frame>,
        sent: &mut Vec<Result<u32, PulsingError>>,
    ) {
        let n = frames.len();
        match self.send_all_now(node, frames) {
            Ok(id) => sent.extend(std::iter::repeat_n(id, n).map(Ok)),
            Err(frames) => sent.extend(frames.into_iter().map(|f| self.send_to(node, f))),
        }
    }

    /// Grant `n` stream credits (`n > 0`) or cancel (`n == 0`) a foreign call to `node`.
    #[doc(hidden)]
    pub fn foreign_flow(&self, node: NodeId, req: u64, n: u32) -> Result<(), PulsingError> {
        let header = if n == 0 {
            Header::Cancel { req }
        } else {
            Header::Credit { req, n }
        };
        self.send_to(node, Frame::bare(header)).map(|_| ())
    }

    /// Answer a request served by the foreign host.
    #[doc(hidden)]
    pub fn foreign_answer(
        &self,
        conn: u32,
        kind: AnswerKind,
        req: u64,
        body: Bytes,
        attachments: Vec<Bytes>,
    ) -> bool {
        self.send_on(
            conn,
            Self::foreign_answer_frame(kind, req, body, attachments),
        )
    }

    /// The frame [`Node::foreign_answer`] sends: for a host that sends several with
    /// [`Node::foreign_answer_all`].
    #[doc(hidden)]
    pub fn foreign_answer_frame(
        kind: AnswerKind,
        req: u64,
        body: Bytes,
        attachments: Vec<Bytes>,
    ) -> Frame {
        let tag = MSGPACK.to_string();
        let header = match kind {
            AnswerKind::Reply => Header::Reply { req, tag },
            AnswerKind::Item => Header::StreamItem { req, tag },
            AnswerKind::End => Header::StreamEnd { req, tag },
            AnswerKind::Items => Header::StreamItems { req, tag },
        };
        Frame {
            header,
            body,
            attachments,
        }
    }

    /// Send answers on connection `conn`, in order: in one hand-off to its writer when they
    /// are plain, otherwise one by one as [`Node::foreign_answer`] would.
    #[doc(hidden)]
    pub fn foreign_answer_all(&self, conn: u32, frames: Vec<Frame>) {
        if let Err(frames) = self.send_all_on(conn, frames) {
            for f in frames {
                self.send_on(conn, f);
            }
        }
    }

    /// Answer a request served by the foreign host with an error.
    #[doc(hidden)]
    pub fn foreign_error(&self, conn: u32, req: u64, error: WireError) -> bool {
        self.send_on(
            conn,
            Frame::bare(Header::Error {
                req,
                error: Box::new(error),
            }),
        )
    }
}
