//! Frames of the binary protocol.
//!
//! A connection opens with the 4-byte magic `PLS1`, then carries frames:
//! `[u32 header_len][u32 body_len][header: bincode][body][attachments...]`, big-endian lengths.
//! The header holds the frame's kind and the lengths of its attachments: large binary values
//! that travel out of band, each written from its own buffer and never copied into the body.
//! The header says what the frame is (ask, reply, stream item, gossip, ...); the body is the
//! payload, never decoded by the transport (gossip too travels in the body, so the header
//! stays small whatever the cluster holds). A frame over the limits is a protocol violation:
//! the connection is closed with a logged reason and nothing it sent is decoded further.
//! Memory follows bytes: nothing is allocated on a length's word beyond [`RESERVE_AHEAD`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::id::NodeId;
pub use crate::transport::wire_error::WireError;

/// First bytes of every connection.
pub const MAGIC: &[u8; 4] = b"PLS1";
/// Largest header accepted.
pub const MAX_HEADER: usize = 64 * 1024;
/// Largest body accepted by default.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024 * 1024;
/// At most this much is reserved ahead of bytes that a length prefix announces: a peer that
/// announces 256 MiB and sends nothing costs us this, not 256 MiB.
pub const RESERVE_AHEAD: usize = 1024 * 1024;

/// Whether `t` is a W3C `traceparent` of version 00: `00-<32 hex>-<16 hex>-<2 hex>`, with
/// neither id all zeros (lowercase, as the Trace Context requires).
pub fn is_traceparent(t: &str) -> bool {
    let b = t.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            && b[r].iter().any(|c| *c != b'0')
    };
    b.len() == 55
        && b.starts_with(b"00-")
        && b[35] == b'-'
        && b[52] == b'-'
        && hex(3..35)
        && hex(36..52)
        && b[53..55].iter().all(|c| c.is_ascii_hexdigit())
}

/// Who a request is for, on the receiving node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// A local actor id on the receiving node.
    Local(u64),
    /// A registered name on the receiving node.
    Name(String),
    /// An actor on node `node`, reached through the receiving node: a client (`Connect`)
    /// addresses actors this way, and its gateway relays the request to `node`.
    Remote {
        /// The node hosting the actor.
        node: crate::id::NodeId,
        /// The actor's id on that node.
        local: u64,
    },
}

/// What a frame is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Header {
    /// First frame each way: who is on the other side, and whether this connection is its
    /// bulk lane (large frames) or its control lane (everything else).
    Hello {
        /// The sender's node id.
        node: NodeId,
        /// The address it is dialed at.
        addr: String,
        /// Whether this is its bulk lane.
        bulk: bool,
        /// On a connection the sender dialed, the node it dialed for (`None` for an address
        /// whose node it does not know yet, such as a seed, and on accepted connections). A
        /// node that is not that one serves nothing on the connection: a node restarted at a
        /// former member's address must not answer for it.
        to: Option<NodeId>,
    },
    /// A request expecting a reply (or a stream of replies).
    Ask {
        /// The request id.
        req: u64,
        /// Who it is for.
        target: Target,
        /// The codec of the body.
        tag: String,
        /// The caller's W3C `traceparent`, when the call is traced.
        trace: Option<String>,
    },
    /// A request expecting nothing back.
    Tell {
        /// Who it is for.
        target: Target,
        /// The codec of the body.
        tag: String,
        /// The caller's W3C `traceparent`, when the call is traced.
        trace: Option<String>,
    },
    /// The single reply of `req`.
    Reply {
        /// The request id.
        req: u64,
        /// The codec of the body.
        tag: String,
    },
    /// `req` failed.
    Error {
        /// The request id.
        req: u64,
        /// The error (boxed: it is the largest field of any header, and errors are rare;
        /// every frame is moved several times on its way, at the size of its largest kind).
        error: Box<WireError>,
    },
    /// One item of the stream answering `req`.
    StreamItem {
        /// The request id.
        req: u64,
        /// The codec of the body.
        tag: String,
    },
    /// End of the stream answering `req`; the body is the generator's return value.
    StreamEnd {
        /// The request id.
        req: u64,
        /// The codec of the body.
        tag: String,
    },
    /// The caller gave up on `req` (stream `break`, timeout, abort).
    Cancel {
        /// The request id.
        req: u64,
    },
    /// The caller consumed `n` more items of the stream answering `req`.
    Credit {
        /// The request id.
        req: u64,
        /// Items the consumer took (credit returned).
        n: u32,
    },
    /// Membership and naming; the body is the cluster's gossip message.
    Gossip,
    /// Nothing to say: sent on a connection that wrote nothing for a while, so a quiet but
    /// healthy link is not taken for a dead one by the peer's idle timeout.
    Keepalive,
    /// Several items of the stream answering `req`: the body is a MessagePack array of them.
    /// Sent only to foreign (TypeScript) callers, whose request ids have no `RUST_REQ_BIT`.
    StreamItems {
        /// The request id.
        req: u64,
        /// The codec of the body.
        tag: String,
    },
}

impl Header {
    /// The request this frame answers, for answers (a reply, an error, stream frames).
    pub fn answers(&self) -> Option<u64> {
        match self {
            Header::Reply { req, .. }
            | Header::Error { req, .. }
            | Header::StreamItem { req, .. }
            | Header::StreamEnd { req, .. }
            | Header::StreamItems { req, .. } => Some(*req),
            _ => None,
        }
    }
}

/// One frame: header, body, and out-of-band attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// What the frame is.
    pub header: Header,
    /// The payload.
    pub body: Bytes,
    /// Out-of-band parts, written from their own memory.
    pub attachments: Vec<Bytes>,
}

impl Frame {
    /// A frame with an empty body.
    pub fn bare(header: Header) -> Frame {
        Frame::new(header, Bytes::new())
    }

    /// A frame with a body and no attachments.
    pub fn new(header: Header, body: Bytes) -> Frame {
        Frame {
            header,
            body,
            attachments: Vec::new(),
        }
    }

    /// Bytes on the wire after the prefix: body plus attachments.
    pub fn payload_len(&self) -> usize {
        self.body.len() + self.attachments.iter().map(Bytes::len).sum::<usize>()
    }

    /// The body, then the attachments: what follows the head on the wire.
    pub fn parts(&self) -> impl Iterator<Item = &Bytes> {
        std::iter::once(&self.body).chain(self.attachments.iter())
    }
}

/// What precedes the body on the wire: the header and the attachment lengths.
#[derive(Serialize, Deserialize)]
struct Head {
    header: Header,
    attachments: Vec<u32>,
}

/// Why bytes from a peer were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The connection did not start with `PLS1`.
    #[error("bad magic {0:02x?}: not a Pulsing peer")]
    BadMagic([u8; 4]),
    /// A header over [`MAX_HEADER`].
    #[error("header of {0} bytes exceeds the {MAX_HEADER}-byte limit")]
    HeaderTooLarge(usize),
    /// A body (or attachments) over the limit.
    #[error("body of {0} bytes exceeds the {1}-byte limit")]
    BodyTooLarge(usize, usize),
    /// A header that does not decode.
    #[error("undecodable header: {0}")]
    BadHeader(String),
}

fn config() -> bincode::config::Configuration<
    bincode::config::BigEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_HEADER>,
> {
    bincode::config::standard()
        .with_big_endian()
        .with_limit::<MAX_HEADER>()
}

/// Encode a frame's header and lengths into `out`; the body follows as its own buffer so
/// large payloads are written without being copied next to the header.
pub fn encode_head(frame: &Frame, out: &mut BytesMut) -> Result<(), ProtocolError> {
    let head = Head {
        header: frame.header.clone(),
        attachments: frame.attachments.iter().map(|a| a.len() as u32).collect(),
    };
    let header = bincode::serde::encode_to_vec(&head, config())
        .map_err(|e| ProtocolError::BadHeader(e.to_string()))?;
    if header.len() > MAX_HEADER {
        return Err(ProtocolError::HeaderTooLarge(header.len()));
    }
    out.reserve(8 + header.len());
    out.put_u32(header.len() as u32);
    out.put_u32(frame.body.len() as u32);
    out.put_slice(&header);
    Ok(())
}

/// Incremental decoder: feed bytes, take frames.
#[derive(Debug)]
pub struct Decoder {
    max_body: usize,
}

impl Decoder {
    /// A decoder accepting bodies up to `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        Self { max_body }
    }

    /// Take one frame's header and body from the front of `buf`, if complete. The caller
    /// then reads the attachments ([`Pending::attachments`]) so that large ones can go
    /// straight into their own allocation.
    pub fn decode_head(&self, buf: &mut BytesMut) -> Result<Option<Pending>, ProtocolError> {
        let Some((hlen, blen)) = self.lengths(buf)? else {
            return Ok(None);
        };
        let head = decode_header(&buf[8..8 + hlen])?;
        let total: usize = head.attachments.iter().map(|l| *l as usize).sum();
        if total > self.max_body {
            return Err(ProtocolError::BodyTooLarge(total, self.max_body));
        }
        buf.advance(8 + hlen);
        let body = buf.split_to(blen).freeze();
        Ok(Some(Pending {
            header: head.header,
            body,
            attachments: head.attachments,
        }))
    }

    /// Take one whole frame (attachments included) from `buf`, if complete. For the
    /// handshake, tests and callers that hold everything in memory. Nothing is consumed or
    /// copied until the whole frame is there (a peer trickling bytes costs no rework).
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let Some((hlen, blen)) = self.lengths(buf)? else {
            return Ok(None);
        };
        let head = decode_header(&buf[8..8 + hlen])?;
        let need: usize = head.attachments.iter().map(|l| *l as usize).sum();
        if need > self.max_body {
            return Err(ProtocolError::BodyTooLarge(need, self.max_body));
        }
        if buf.len() < 8 + hlen + blen + need {
            buf.reserve((8 + hlen + blen + need - buf.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        buf.advance(8 + hlen);
        let body = buf.split_to(blen).freeze();
        let attachments = head
            .attachments
            .iter()
            .map(|l| buf.split_to(*l as usize).freeze())
            .collect();
        Ok(Some(Frame {
            header: head.header,
            body,
            attachments,
        }))
    }

    /// The header and body lengths of the frame at the front of `buf`, once its header and
    /// body are all there.
    fn lengths(&self, buf: &mut BytesMut) -> Result<Option<(usize, usize)>, ProtocolError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let hlen = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let blen = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if hlen > MAX_HEADER {
            return Err(ProtocolError::HeaderTooLarge(hlen));
        }
        if blen > self.max_body {
            return Err(ProtocolError::BodyTooLarge(blen, self.max_body));
        }
        if buf.len() < 8 + hlen + blen {
            // Room for what is announced, up to a bound: the rest is allocated as it arrives.
            buf.reserve((8 + hlen + blen - buf.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        Ok(Some((hlen, blen)))
    }
}

fn decode_header(bytes: &[u8]) -> Result<Head, ProtocolError> {
    let (head, used): (Head, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| ProtocolError::BadHeader(e.to_string()))?;
    if used != bytes.len() {
        return Err(ProtocolError::BadHeader(format!(
            "{} trailing bytes after the header",
            bytes.len() - used
        )));
    }
    Ok(head)
}

/// A frame whose header and body arrived; its attachments (these lengths) follow.
#[derive(Debug)]
pub struct Pending {
    /// What the frame is.
    pub header: Header,
    /// The payload.
    pub body: Bytes,
    /// Lengths of the attachments that follow on the wire.
    pub attachments: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(frame: &Frame) -> BytesMut {
        let mut out = BytesMut::new();
        encode_head(frame, &mut out).unwrap();
        out.extend_from_slice(&frame.body);
        for a in &frame.attachments {
            out.extend_from_slice(a);
        }
        out
    }

    #[test]
    fn traceparents_are_checked() {
        assert!(is_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            assert!(!is_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn frames_round_trip_and_split_anywhere() {
        let frames = vec![
            Frame::new(
                Header::Ask {
                    req: 7,
                    target: Target::Name("actors/x".into()),
                    tag: "msgpack".into(),
                    trace: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
                },
                Bytes::from_static(b"hello"),
            ),
            Frame::bare(Header::Cancel { req: 9 }),
            Frame {
                header: Header::Reply {
                    req: 1,
                    tag: "msgpack".into(),
                },
                body: Bytes::from_static(b"b"),
                attachments: vec![
                    Bytes::from(vec![7u8; 300]),
                    Bytes::new(),
                    Bytes::from_static(b"xyz"),
                ],
            },
        ];
        let mut all = BytesMut::new();
        for f in &frames {
            all.extend_from_slice(&wire(f));
        }
        // Feed one byte at a time: the decoder must wait for whole frames.
        let d = Decoder::new(1024);
        let mut buf = BytesMut::new();
        let mut got = vec![];
        for b in all.iter() {
            buf.put_u8(*b);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn limits_and_garbage_are_protocol_errors() {
        let d = Decoder::new(16);
        let mut big = BytesMut::new();
        big.put_u32(4);
        big.put_u32(17);
        assert_eq!(d.decode(&mut big), Err(ProtocolError::BodyTooLarge(17, 16)));
        let mut huge = BytesMut::new();
        huge.put_u32(u32::MAX);
        huge.put_u32(0);
        assert!(matches!(
            d.decode(&mut huge),
            Err(ProtocolError::HeaderTooLarge(_))
        ));
        let mut junk = BytesMut::new();
        junk.put_u32(3);
        junk.put_u32(0);
        junk.put_slice(&[0xff, 0xff, 0xff]);
        assert!(matches!(
            d.decode(&mut junk),
            Err(ProtocolError::BadHeader(_))
        ));
    }
}
