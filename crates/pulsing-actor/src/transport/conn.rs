//! One connection: a reader task that decodes frames and hands them to a sink, and a writer
//! task that drains an outgoing queue, coalescing small frames into one write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::frame::{encode_head, Decoder, Frame, ProtocolError, MAGIC};
use crate::actor::NodeId;

/// Bodies up to this size are copied into the coalescing buffer; larger ones are written
/// from their own memory.
const INLINE_BODY: usize = 16 * 1024;
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
}

/// A live connection: send frames to it, learn who is on the other side.
pub struct ConnHandle {
    pub id: u32,
    tx: Mutex<Option<mpsc::UnboundedSender<Frame>>>,
    peer: Mutex<Option<NodeId>>,
    closed: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl ConnHandle {
    /// Queue a frame; false when the connection is closed.
    pub fn send(&self, frame: Frame) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        match &*self.tx.lock() {
            Some(tx) => tx.send(frame).is_ok(),
            None => false,
        }
    }
    /// The peer's node id, once its `Hello` arrived.
    pub fn peer(&self) -> Option<NodeId> {
        *self.peer.lock()
    }
    /// Record the peer's node id.
    pub fn set_peer(&self, node: NodeId) {
        *self.peer.lock() = Some(node);
    }
    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
    /// Close now: stop reading and writing.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
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
        self.tx.lock().take();
        let writer = self.writer.lock().take();
        if let Some(w) = writer {
            // The writer ends once the queue is empty and every sender is gone; bound the wait.
            let _ = tokio::time::timeout(within, w).await;
        }
        self.close();
    }
}

/// Start a connection over `stream` with `first` frames sent right after the magic, and
/// an optional existing queue (frames buffered while dialing).
pub fn start(
    stream: BoxStream,
    id: u32,
    sink: Arc<dyn FrameSink>,
    max_body: usize,
    chunk_bytes: usize,
    queue: Option<(mpsc::UnboundedSender<Frame>, mpsc::UnboundedReceiver<Frame>)>,
    first: Vec<Frame>,
) -> Arc<ConnHandle> {
    let (tx, rx) = queue.unwrap_or_else(mpsc::unbounded_channel);
    let (r, w) = tokio::io::split(stream);
    let handle = Arc::new(ConnHandle {
        id,
        tx: Mutex::new(Some(tx.clone())),
        peer: Mutex::new(None),
        closed: AtomicBool::new(false),
        reader: Mutex::new(None),
        writer: Mutex::new(None),
    });
    let h = handle.clone();
    let writer = tokio::spawn(async move {
        if let Err(e) = write_loop(w, rx, first, chunk_bytes.max(4096)).await {
            tracing::debug!(conn = h.id, "write failed: {e}");
        }
    });
    let h = handle.clone();
    let reader = tokio::spawn(async move {
        let reason = read_loop(r, &h, &*sink, max_body).await.err();
        // The sink logs `reason` (it knows whether the peer keeps retrying).
        h.closed.store(true, Ordering::Relaxed);
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
    mut rx: mpsc::UnboundedReceiver<Frame>,
    first: Vec<Frame>,
    chunk_bytes: usize,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.put_slice(MAGIC);
    let mut batch: Vec<Frame> = first;
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(f) => batch.push(f),
                None => break,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        for f in batch.drain(..) {
            if let Err(e) = encode_head(&f, &mut buf) {
                tracing::warn!("dropping an unencodable frame: {e}");
                continue;
            }
            for part in std::iter::once(&f.body).chain(f.attachments.iter()) {
                if part.len() <= INLINE_BODY {
                    buf.extend_from_slice(part);
                } else {
                    // Large: written from its own memory, never copied next to the header.
                    w.write_all(&buf).await?;
                    buf.clear();
                    // In chunks (PULSING_ZEROCOPY_CHUNK_BYTES), yielding between them so one
                    // transfer does not hold a runtime thread for its whole length.
                    for chunk in part.chunks(chunk_bytes) {
                        w.write_all(chunk).await?;
                        tokio::task::yield_now().await;
                    }
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

async fn read_loop(
    mut r: ReadHalf<BoxStream>,
    h: &Arc<ConnHandle>,
    sink: &dyn FrameSink,
    max_body: usize,
) -> Result<(), String> {
    let mut magic = [0u8; 4];
    match r.read_exact(&mut magic).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
        Err(e) => return Err(format!("read failed: {e}")),
    }
    if &magic != MAGIC {
        return Err(ProtocolError::BadMagic(magic).to_string());
    }
    let dec = Decoder::new(max_body);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        loop {
            let p = match dec.decode_head(&mut buf) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol violation: {e}")),
            };
            let mut attachments = Vec::with_capacity(p.attachments.len());
            for len in p.attachments {
                let len = len as usize;
                if buf.len() >= len {
                    attachments.push(buf.split_to(len).freeze());
                    continue;
                }
                // Not all here yet (a large one): its own allocation, filled from the socket,
                // so it can be handed on (to JS too) without another copy.
                let mut v = Vec::with_capacity(len);
                v.extend_from_slice(&buf.split_to(buf.len()));
                let have = v.len();
                v.resize(len, 0);
                r.read_exact(&mut v[have..])
                    .await
                    .map_err(|e| format!("read failed: {e}"))?;
                attachments.push(Bytes::from(v));
            }
            sink.on_frame(
                h,
                Frame {
                    header: p.header,
                    body: p.body,
                    attachments,
                },
            );
        }
        match r.read_buf(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}
