//! Large parts move on the bulk thread: the runtime's worker is left to the other frames.
//! Two connections over an in-memory pipe whose ends record the threads that moved bytes.

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use pulsing_actor::prelude::*;
use pulsing_actor::transport::conn::{self, ConnHandle, ConnLimits, FrameSink, Opening};
use pulsing_actor::transport::frame::{Frame, Header, Target};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;

/// One end of the pipe; notes the thread of every read or write that moved a chunk's worth.
struct Recording {
    inner: DuplexStream,
    threads: Arc<Mutex<HashSet<String>>>,
}

impl Recording {
    fn note(&self, n: usize) {
        if n >= CHUNK / 2 {
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            self.threads.lock().insert(name);
        }
    }
}

impl AsyncRead for Recording {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.note(buf.filled().len() - before);
        r
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.note(*n);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Hands frames to the test, and the reason a connection closed.
struct Sink(mpsc::UnboundedSender<Result<Frame, Option<String>>>);

impl FrameSink for Sink {
    fn on_frame(&self, _: &Arc<ConnHandle>, f: Frame) {
        let _ = self.0.send(Ok(f));
    }
    fn on_close(&self, _: &Arc<ConnHandle>, reason: Option<String>) {
        let _ = self.0.send(Err(reason));
    }
}

type Events = mpsc::UnboundedReceiver<Result<Frame, Option<String>>>;

fn open(stream: Recording, id: u32) -> (Arc<ConnHandle>, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let c = conn::start(
        Box::new(stream),
        Arc::new(Sink(tx)),
        Opening {
            id,
            dialed: id == 1,
            remote: "pipe".into(),
            limits: ConnLimits {
                max_body: 64 << 20,
                chunk_bytes: CHUNK,
                handshake: Duration::from_secs(5),
                idle: Duration::from_secs(60),
            },
            queue: None,
            first: vec![Frame::bare(Header::Hello {
                node: NodeId::random(),
                addr: String::new(),
                bulk: true,
                to: None,
            })],
            traffic: Default::default(),
            plain: None,
        },
    );
    (c, rx)
}

/// The next frame that is not the peer's `Hello`, or why the connection closed.
async fn next(rx: &mut Events) -> Result<Frame, Option<String>> {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an event within 20 s")
            .expect("the sink is alive");
        match ev {
            Ok(f) if matches!(f.header, Header::Hello { .. }) => continue,
            other => return other,
        }
    }
}

fn tell_with(attachment: Bytes) -> Frame {
    let mut f = Frame::new(
        Header::Tell {
            target: Target::Name("big".into()),
            tag: "msgpack".into(),
            trace: None,
        },
        Bytes::from_static(b"\x90"),
    );
    f.attachments.push(attachment);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_large_part_is_written_and_read_on_the_bulk_thread_and_arrives_whole() {
    let (a, b) = tokio::io::duplex(CHUNK);
    let wrote = Arc::new(Mutex::new(HashSet::new()));
    let read = Arc::new(Mutex::new(HashSet::new()));
    let (sender, _sender_events) = open(
        Recording {
            inner: a,
            threads: wrote.clone(),
        },
        1,
    );
    let (_receiver, mut got) = open(
        Recording {
            inner: b,
            threads: read.clone(),
        },
        2,
    );

    let big: Bytes = (0..8 * CHUNK)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    assert!(sender.send(tell_with(big.clone())));
    let f = next(&mut got).await.expect("the frame, not a close");
    assert_eq!(f.attachments.len(), 1);
    assert!(
        f.attachments[0] == big,
        "the attachment arrived byte for byte"
    );

    assert_eq!(
        *wrote.lock(),
        HashSet::from(["pulsing-bulk".to_owned()]),
        "who wrote the chunks"
    );
    assert_eq!(
        *read.lock(),
        HashSet::from(["pulsing-bulk".to_owned()]),
        "who read the chunks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_connection_closed_inside_a_large_part_reports_it_and_frees_the_reader() {
    let (a, b) = tokio::io::duplex(CHUNK);
    let read = Arc::new(Mutex::new(HashSet::new()));
    let (sender, _sender_events) = open(
        Recording {
            inner: a,
            threads: Default::default(),
        },
        1,
    );
    let (_receiver, mut got) = open(
        Recording {
            inner: b,
            threads: read.clone(),
        },
        2,
    );

    // 512 chunks, far more than the pipe holds: closed once the first chunks were read.
    let big: Bytes = vec![7u8; 512 * CHUNK].into();
    assert!(sender.send(tell_with(big)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while read.lock().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the transfer never started"
        );
        tokio::task::yield_now().await;
    }
    // The writer's task ends; the transfer it handed to the bulk thread must end with it,
    // or the pipe stays open and the receiver waits for the rest forever.
    sender.close();
    let why = next(&mut got).await.expect_err("a close, not a frame");
    let why = why.expect("a reason: the peer left inside a frame");
    assert!(
        why.contains("inside a frame") || why.contains("read failed"),
        "{why}"
    );
}
