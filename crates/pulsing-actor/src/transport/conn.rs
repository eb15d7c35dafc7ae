//! One connection: a reader task that decodes frames and hands them to a sink, and a writer
//! task that drains an outgoing queue, coalescing small frames into one write. The bytes of
//! large parts move on the bulk thread ([`super::bulk`]).
//!
//! On plain TCP, frames sent together ([`ConnHandle::send_all`]: a JS tick's calls or answers)
//! that find the writer idle (nothing queued, nothing unwritten) are written to the socket by
//! their sender, on its own thread: a lone request or reply leaves without waking the writer
//! first. Frames sent one by one, and large batches, still go to the writer, which coalesces
//! them. What the socket does not take at once goes to the
//! writer, which then has the socket until its queue is empty again; one lock orders the two.
//!
//! The reader holds a peer to its limits: the first frame must be a `Hello` and arrive within
//! the handshake deadline, a connection silent for the idle timeout is closed, and an
//! attachment is allocated as its bytes arrive, never on the word of its length prefix.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::bulk;
use super::frame::{encode_head, Decoder, Frame, Header, ProtocolError, MAGIC, RESERVE_AHEAD};
use super::lent::Returned;
use crate::id::NodeId;

/// Bodies up to this size are copied into the coalescing buffer; larger ones are written
/// from their own memory.
const INLINE_BODY: usize = 16 * 1024;
/// At most this many frames sent together are written in place. A larger batch (a busy
/// tick) goes to the writer: one wake-up is cheap spread over its frames, and the sender (the
/// JS thread, the busiest one then) is spared the write.
const IN_PLACE_FRAMES: usize = 4;
/// A sender's encoding buffer is kept for the next write in place up to this size.
const KEPT_BUF: usize = 64 * 1024;
/// Frames coalesced into one write at most.
const MAX_BATCH: usize = 256;

/// A byte stream a connection runs over: plain TCP or TLS over TCP.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncStream for T {}

/// A boxed [`AsyncStream`].
pub type BoxStream = Box<dyn AsyncStream>;

/// Receives what a connection reads.
pub trait FrameSink: Send + Sync + 'static {
    /// A frame arrived. Must not block: long work goes to a task.
    fn on_frame(&self, conn: &Arc<ConnHandle>, frame: Frame);
    /// The connection closed; `reason` is set when the peer broke the protocol or I/O failed,
    /// and the sink must log it.
    fn on_close(&self, conn: &Arc<ConnHandle>, reason: Option<String>);
    /// Take over reading a plain TCP connection, between frames, to spare each frame a
    /// wake-up of the reader: poll [`ConnHandle::lent_socket`] on your own thread and call
    /// [`ConnHandle::read_lent`] each time it is readable, until that returns false. The
    /// reader takes the reading back for large frames, busy connections, the end, and a
    /// borrower that leaves bytes unread for long. False: you cannot (the reader reads on).
    fn lend(&self, conn: &Arc<ConnHandle>) -> bool {
        let _ = conn;
        false
    }
}

/// What a connection allows its peer.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Largest body (and sum of attachments) of one frame.
    pub max_body: usize,
    /// Large parts are written in chunks of this size.
    pub chunk_bytes: usize,
    /// The magic and the peer's `Hello` must arrive within this.
    pub handshake: Duration,
    /// A connection that reads nothing for this long is closed.
    pub idle: Duration,
}

/// A live connection: send frames to it, learn who is on the other side.
pub struct ConnHandle {
    /// Unique among this node's connections, never reused.
    pub id: u32,
    /// Whether this node dialed it (so the address it reached was chosen by us).
    pub dialed: bool,
    /// The address dialed, or the peer's socket address when accepted (for logs).
    pub remote: String,
    writing: Mutex<Writing>,
    peer: Mutex<Option<NodeId>>,
    bulk: AtomicBool,
    closed: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    traffic: Arc<super::traffic::Traffic>,
    pub(super) lending: super::lent::Lending,
}

/// Who writes to the socket next: the writer task, or (a plain TCP connection whose writer is
/// idle) the sender itself, on its own thread. Writing in place saves waking the writer for a
/// lone call, the common case of a request and its reply; the lock keeps the two in order.
struct Writing {
    /// The writer's queue; `None` once draining.
    tx: Option<mpsc::UnboundedSender<Outgoing>>,
    /// A duplicate of a plain TCP socket (not TLS: its state lives in the writer); dropped as
    /// the connection closes, so its descriptor is never written to after that.
    sock: Option<std::net::TcpStream>,
    /// The writer is parked with nothing queued and nothing unwritten.
    idle: bool,
    /// Where a sender encodes what it writes in place (kept to reuse its memory).
    buf: BytesMut,
    /// Frames written in place, and how many times the socket took only part of them.
    in_place: (u64, u64),
}

impl ConnHandle {
    pub(super) fn count(&self, out: bool, f: &Frame) {
        let bytes = f.body.len() + f.attachments.iter().map(|a| a.len()).sum::<usize>();
        self.traffic
            .add(self.bulk.load(Ordering::Relaxed), out, bytes);
    }

    /// Queue a frame; false when the connection is closed. It goes to the writer, which
    /// coalesces frames sent one by one (a relay's, an actor's replies) into one write.
    /// Sent by a borrower in its turn (from [`FrameSink::on_frame`] on the thread that called
    /// [`ConnHandle::read_lent`]), it is written in place when the writer is idle, as
    /// [`ConnHandle::send_all`] does: the thread that read a frame sends its answer.
    pub fn send(&self, frame: Frame) -> bool {
        self.queue(Outgoing::One(frame), super::lent::in_turn())
            .is_none()
    }
    /// Send several frames, in order, as one hand-off: all its sender has for now (a JS
    /// tick's calls or answers for this connection). A few, on plain TCP with the writer idle,
    /// are written in place, on this thread; otherwise they reach the writer at once (one
    /// wake-up at most). Gives them back when the connection is closed.
    pub fn send_all(&self, frames: Vec<Frame>) -> Result<(), Vec<Frame>> {
        match self.queue(Outgoing::Many(frames), true) {
            None => Ok(()),
            Some(o) => Err(o.into_frames()),
        }
    }
    /// Hand `out` to the writer, or write it in place (when `in_place` and the writer is idle);
    /// what could not be handed over comes back.
    fn queue(&self, out: Outgoing, in_place: bool) -> Option<Outgoing> {
        if self.closed.load(Ordering::Relaxed) {
            return Some(out);
        }
        let mut w = self.writing.lock();
        if w.idle && w.tx.is_some() {
            if in_place
                && w.sock.is_some()
                && out.frames().count() <= IN_PLACE_FRAMES
                && out
                    .frames()
                    .all(|f| f.parts().all(|p| p.len() <= INLINE_BODY))
            {
                self.write_in_place(&mut w, out);
                return None;
            }
            w.idle = false;
        }
        match &w.tx {
            Some(tx) => tx.send(out).err().map(|e| e.0),
            None => Some(out),
        }
    }
    /// Encode `out` and write it to the socket from this thread. What the socket does not take
    /// now goes to the writer, which is then no longer idle; so does a write error, for the
    /// writer to meet and close on.
    fn write_in_place(&self, w: &mut Writing, out: Outgoing) {
        let mut buf = std::mem::take(&mut w.buf);
        for f in out.frames() {
            self.count(true, f);
            encode_frame(f, &mut buf);
        }
        let mut at = 0;
        if let Some(mut sock) = w.sock.as_ref() {
            while at < buf.len() {
                match sock.write(&buf[at..]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        w.in_place.0 += out.frames().count() as u64;
        if at < buf.len() {
            w.in_place.1 += 1;
            w.idle = false;
            // The writer is parked and the queue empty: this goes out before anything later.
            // (Without a queue the connection is closing, and its calls fail with it.)
            if let Some(tx) = &w.tx {
                let _ = tx.send(Outgoing::Written(Bytes::copy_from_slice(&buf[at..])));
            }
        }
        buf.clear();
        // Kept for the next write, unless a burst grew it: idle connections hold little.
        if buf.capacity() <= KEPT_BUF {
            w.buf = buf;
        }
    }
    /// Frames senders wrote to the socket themselves, and how many times the socket took only
    /// part of such a write (the writer sent the rest). For tests and diagnostics.
    #[doc(hidden)]
    pub fn in_place_stats(&self) -> (u64, u64) {
        self.writing.lock().in_place
    }
    /// Stop writing in place: the socket is about to close, or has.
    fn stop_in_place(&self) {
        let mut w = self.writing.lock();
        w.sock = None;
        w.idle = false;
        drop(w);
        self.lending.close();
    }
    /// The peer's node id, once its `Hello` arrived.
    pub fn peer(&self) -> Option<NodeId> {
        *self.peer.lock()
    }
    /// Record the peer's node id.
    pub fn set_peer(&self, node: NodeId) {
        *self.peer.lock() = Some(node);
    }
    /// Whether the peer said this is its bulk lane.
    pub fn is_bulk(&self) -> bool {
        self.bulk.load(Ordering::Relaxed)
    }
    /// Record which lane the peer said this is.
    pub fn set_bulk(&self, bulk: bool) {
        self.bulk.store(bulk, Ordering::Relaxed);
    }
    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
    /// Close now: stop reading and writing.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.stop_in_place();
        if let Some(r) = self.reader.lock().take() {
            r.abort();
        }
        if let Some(w) = self.writer.lock().take() {
            w.abort();
        }
    }
    /// Stop accepting frames, let the writer flush what is queued, then close.
    pub async fn drain_and_close(&self, within: std::time::Duration) {
        self.closed.store(true, Ordering::Relaxed);
        // Dropping our sender lets the writer see the end of the queue once it is flushed.
        self.writing.lock().tx.take();
        let writer = self.writer.lock().take();
        if let Some(w) = writer {
            // The writer ends once the queue is empty and every sender is gone; bound the wait.
            let _ = tokio::time::timeout(within, w).await;
        }
        self.close();
    }
}

/// What a connection's writer is handed: a frame, or several sent together (a foreign
/// host's batch for one node: one hand-off and one wake-up, not one per frame).
// A frame by value, as the queue held before: boxing it would be an allocation per frame.
#[allow(clippy::large_enum_variant)]
pub enum Outgoing {
    /// One frame.
    One(Frame),
    /// Frames in order.
    Many(Vec<Frame>),
    /// The end of frames a sender wrote in place, which the socket did not take at once.
    Written(Bytes),
}

impl Outgoing {
    /// The frames, in order (none for bytes already encoded).
    pub fn into_frames(self) -> Vec<Frame> {
        match self {
            Outgoing::One(f) => vec![f],
            Outgoing::Many(v) => v,
            Outgoing::Written(_) => Vec::new(),
        }
    }
    fn frames(&self) -> impl Iterator<Item = &Frame> {
        match self {
            Outgoing::One(f) => std::slice::from_ref(f).iter(),
            Outgoing::Many(v) => v.iter(),
            Outgoing::Written(_) => [].iter(),
        }
    }
}

/// A frame queue: frames buffered while dialing wait here for the connection.
pub type Queue = (
    mpsc::UnboundedSender<Outgoing>,
    mpsc::UnboundedReceiver<Outgoing>,
);

/// How to start a connection.
pub struct Opening {
    /// The connection's id.
    pub id: u32,
    /// Whether this node dialed it.
    pub dialed: bool,
    /// The address dialed, or the peer's socket address.
    pub remote: String,
    /// What the peer is allowed.
    pub limits: ConnLimits,
    /// Frames buffered while dialing (a new queue when `None`).
    pub queue: Option<Queue>,
    /// Frames sent right after the magic (our `Hello`).
    pub first: Vec<Frame>,
    /// Where its frames are counted (the node's counters).
    pub traffic: Arc<super::traffic::Traffic>,
    /// The socket when `stream` is plain TCP (see [`super::plain::open`]): senders then write
    /// to it in place while the writer is idle, and borrowers may read it. `None` for TLS (or
    /// anything else).
    pub plain: Option<super::plain::PlainSocket>,
}

/// Start a connection over `stream`.
pub fn start(stream: BoxStream, sink: Arc<dyn FrameSink>, open: Opening) -> Arc<ConnHandle> {
    let Opening {
        id,
        dialed,
        remote,
        limits,
        queue,
        first,
        traffic,
        plain,
    } = open;
    let (tx, rx) = queue.unwrap_or_else(mpsc::unbounded_channel);
    let (r, w) = tokio::io::split(stream);
    let (plain, lending) = match plain {
        Some(p) => {
            let lent = p.dup.try_clone().ok();
            (
                Some(p.dup),
                super::lent::Lending::new(lent, Some(p.reactor)),
            )
        }
        None => (None, super::lent::Lending::new(None, None)),
    };
    let handle = Arc::new(ConnHandle {
        id,
        dialed,
        remote,
        writing: Mutex::new(Writing {
            tx: Some(tx.clone()),
            sock: plain,
            idle: false,
            buf: BytesMut::new(),
            in_place: (0, 0),
        }),
        peer: Mutex::new(None),
        bulk: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        reader: Mutex::new(None),
        writer: Mutex::new(None),
        traffic,
        lending,
    });
    let h = handle.clone();
    let writer = tokio::spawn(async move {
        let wrote = write_loop(w, rx, first, limits, &h).await;
        h.stop_in_place();
        if let Err(e) = wrote {
            tracing::debug!(conn = h.id, "write failed: {e}");
        }
    });
    let h = handle.clone();
    let reader = tokio::spawn(async move {
        let reason = read_loop(r, &h, &sink, limits).await.err();
        // The sink logs `reason` (it knows whether the peer keeps retrying).
        h.closed.store(true, Ordering::Relaxed);
        h.stop_in_place();
        if let Some(w) = h.writer.lock().take() {
            w.abort();
        }
        sink.on_close(&h, reason);
    });
    *handle.writer.lock() = Some(writer);
    *handle.reader.lock() = Some(reader);
    drop(tx);
    handle
}

async fn write_loop(
    mut w: WriteHalf<BoxStream>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    first: Vec<Frame>,
    limits: ConnLimits,
    h: &ConnHandle,
) -> std::io::Result<()> {
    let chunk_bytes = limits.chunk_bytes.max(4096);
    // Well inside the peer's idle timeout (the same setting cluster-wide).
    let keepalive = limits.idle / 3;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.put_slice(MAGIC);
    let mut batch: Vec<Frame> = first;
    loop {
        if batch.is_empty() && buf.is_empty() && !park(h, &mut rx, &mut batch, &mut buf) {
            match tokio::time::timeout(keepalive, rx.recv()).await {
                Ok(Some(o)) => take(&mut batch, &mut buf, o),
                Ok(None) => break,
                Err(_) => keepalive_due(h, &mut batch),
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(o) => take(&mut batch, &mut buf, o),
                Err(_) => break,
            }
        }
        for f in batch.drain(..) {
            h.count(true, &f);
            if let Err(e) = encode_head(&f, &mut buf) {
                tracing::warn!("dropping an unencodable frame: {e}");
                continue;
            }
            for part in f.parts() {
                if part.len() <= INLINE_BODY {
                    buf.extend_from_slice(part);
                } else {
                    // Large: written from its own memory, never copied next to the header.
                    w.write_all(&buf).await?;
                    buf.clear();
                    w = if part.len() > chunk_bytes {
                        // On the bulk thread: this runtime's worker serves the other frames.
                        bulk::offload(write_part(w, part.clone(), chunk_bytes))
                            .await
                            .map_err(std::io::Error::other)??
                    } else {
                        write_part(w, part.clone(), chunk_bytes).await?
                    };
                }
            }
        }
        if !buf.is_empty() {
            w.write_all(&buf).await?;
            buf.clear();
        }
    }
    w.flush().await?;
    let _ = w.shutdown().await;
    Ok(())
}

/// With nothing in hand, take what is queued, or else mark the writer idle (senders may then
/// write in place) and return false: the caller waits on the queue.
fn park(
    h: &ConnHandle,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
    batch: &mut Vec<Frame>,
    buf: &mut BytesMut,
) -> bool {
    let mut w = h.writing.lock();
    match rx.try_recv() {
        Ok(o) => {
            take(batch, buf, o);
            true
        }
        Err(_) => {
            // Idle only while senders may write in place; otherwise they queue as before.
            w.idle = w.sock.is_some();
            drop(w);
            // Writing took the stream back into the reactor; a borrower still reads it.
            h.lending.park_if_lent();
            false
        }
    }
}

/// Nothing was sent for a while: a keepalive, unless a sender just woke the writer (its
/// frames are queued, and the loop takes them next).
fn keepalive_due(h: &ConnHandle, batch: &mut Vec<Frame>) {
    let mut w = h.writing.lock();
    if w.idle || w.sock.is_none() {
        w.idle = false;
        batch.push(Frame::bare(Header::Keepalive));
    }
}

fn take(batch: &mut Vec<Frame>, buf: &mut BytesMut, o: Outgoing) {
    match o {
        Outgoing::One(f) => batch.push(f),
        Outgoing::Many(v) if batch.is_empty() => *batch = v,
        Outgoing::Many(v) => batch.extend(v),
        // Only ever first after an idle spell (nothing in hand): nothing can precede it.
        Outgoing::Written(b) => buf.extend_from_slice(&b),
    }
}

/// Encode a frame whose parts are all small into `buf`; an unencodable one is dropped.
fn encode_frame(f: &Frame, buf: &mut BytesMut) {
    if let Err(e) = encode_head(f, buf) {
        tracing::warn!("dropping an unencodable frame: {e}");
        return;
    }
    for part in f.parts() {
        buf.extend_from_slice(part);
    }
}

/// Write one large part in chunks (`PULSING_ZEROCOPY_CHUNK_BYTES`), yielding between them
/// so one transfer does not hold its thread for its whole length.
async fn write_part(
    mut w: WriteHalf<BoxStream>,
    part: Bytes,
    chunk_bytes: usize,
) -> std::io::Result<WriteHalf<BoxStream>> {
    for chunk in part.chunks(chunk_bytes) {
        w.write_all(chunk).await?;
        tokio::task::yield_now().await;
    }
    Ok(w)
}

/// Read the rest of a large part of `len` bytes into `v` (which holds its first bytes): its
/// own allocation, grown as its bytes arrive (never on the word of the length prefix), so
/// it can be handed on (to JS too) without another copy. Gives the reader back.
async fn read_part(
    mut r: ReadHalf<BoxStream>,
    mut v: Vec<u8>,
    len: usize,
    chunk_bytes: usize,
    idle: Duration,
) -> (ReadHalf<BoxStream>, Result<Vec<u8>, String>) {
    while v.len() < len {
        let want = v.capacity().max(RESERVE_AHEAD).min(len - v.len());
        if v.capacity() - v.len() < want {
            v.reserve_exact(want);
        }
        // At most one chunk per read, then a yield: other transfers on this thread get a turn.
        let room = (len - v.len()).min(chunk_bytes) as u64;
        if !v.is_empty() {
            tokio::task::yield_now().await;
        }
        let n = match tokio::time::timeout(idle, (&mut r).take(room).read_buf(&mut v)).await {
            Err(_) => {
                let e = format!("idle for {} ms inside a frame", idle.as_millis());
                return (r, Err(e));
            }
            Ok(Err(e)) => return (r, Err(format!("read failed: {e}"))),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return (r, Err("connection closed inside a frame".into()));
        }
    }
    (r, Ok(v))
}

async fn read_loop(
    mut r: ReadHalf<BoxStream>,
    h: &Arc<ConnHandle>,
    sink: &Arc<dyn FrameSink>,
    limits: ConnLimits,
) -> Result<(), String> {
    let dec = Decoder::new(limits.max_body);
    let mut lender = super::lent::Lender::new(limits.max_body, limits.idle);
    // Whether the reading may be lent at the next wait: while frames come a few at a time
    // (a borrower spares each a wake-up; a busy connection is read here, in parallel with
    // JS), and not while a frame the borrower gave back is still coming.
    let mut lendable = true;
    let mut frames = 0;
    let chunk_bytes = limits.chunk_bytes.max(4096);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // The handshake: the magic, then a `Hello` (which has no body; anything else is refused
    // before much of it is read), within the deadline.
    let handshake = Decoder::new(4096);
    let hello = tokio::time::timeout(limits.handshake, async {
        let mut magic = [0u8; 4];
        match r.read_exact(&mut magic).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(format!("read failed: {e}")),
        }
        if &magic != MAGIC {
            return Err(ProtocolError::BadMagic(magic).to_string());
        }
        loop {
            match handshake.decode(&mut buf) {
                Ok(Some(f)) if matches!(f.header, Header::Hello { .. }) => return Ok(Some(f)),
                Ok(Some(_)) => {
                    return Err("protocol violation: the first frame must be a Hello".into())
                }
                Ok(None) => {}
                Err(e) => return Err(format!("protocol violation: {e}")),
            }
            match r.read_buf(&mut buf).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    })
    .await
    .map_err(|_| format!("no handshake within {} ms", limits.handshake.as_millis()))??;
    let Some(hello) = hello else {
        return Ok(());
    };
    h.count(false, &hello);
    sink.on_frame(h, hello);
    loop {
        loop {
            let p = match dec.decode_head(&mut buf) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol violation: {e}")),
            };
            let mut attachments = Vec::with_capacity(p.attachments.len().min(64));
            for len in p.attachments {
                let len = len as usize;
                if buf.len() >= len {
                    attachments.push(buf.split_to(len).freeze());
                    continue;
                }
                // Not all here yet (a large one): its own allocation, grown as its bytes
                // arrive, so it can be handed on (to JS too) without another copy.
                let mut v: Vec<u8> = Vec::new();
                v.extend_from_slice(&buf.split_to(buf.len()));
                let read = if len - v.len() > chunk_bytes {
                    // On the bulk thread: this runtime's worker serves the other connections.
                    bulk::offload(read_part(r, v, len, chunk_bytes, limits.idle)).await?
                } else {
                    read_part(r, v, len, chunk_bytes, limits.idle).await
                };
                r = read.0;
                attachments.push(Bytes::from(read.1?));
            }
            let f = Frame {
                header: p.header,
                body: p.body,
                attachments,
            };
            h.count(false, &f);
            frames += 1;
            if f.header == Header::Keepalive {
                continue;
            }
            sink.on_frame(h, f);
        }
        // Between frames: a borrower may read for a while (see `super::lent`).
        if frames > 0 {
            lendable = frames <= super::lent::QUIET_FRAMES;
            frames = 0;
        }
        let lent = if lendable {
            lender.lend(h, sink, &mut buf).await
        } else {
            Returned::NotLent
        };
        match lent {
            Returned::NotLent => {}
            Returned::Back => continue,
            Returned::Read => {
                lendable = false;
                continue;
            }
            Returned::Idle => {
                tracing::debug!(
                    conn = h.id,
                    "closing a connection idle for {} ms",
                    limits.idle.as_millis()
                );
                return Ok(());
            }
            Returned::Broke(e) => return Err(e),
        }
        match tokio::time::timeout(limits.idle, r.read_buf(&mut buf)).await {
            Err(_) => {
                tracing::debug!(
                    conn = h.id,
                    "closing a connection idle for {} ms",
                    limits.idle.as_millis()
                );
                return Ok(());
            }
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("read failed: {e}")),
        }
    }
}
