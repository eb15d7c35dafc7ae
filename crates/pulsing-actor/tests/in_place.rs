//! Frames sent together (`send_all`) are written to a plain TCP socket by their sender while
//! the connection's writer is idle.
//! Frames written that way and frames the writer sends (large ones, the rest of a write the
//! socket did not take) must reach the peer whole and in each sender's order, and a closed
//! connection must really close: the duplicate socket senders write to goes with it.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pulsing_actor::prelude::*;
use pulsing_actor::transport::conn::{self, ConnHandle, ConnLimits, FrameSink, Opening};
use pulsing_actor::transport::frame::{Decoder, Frame, Header, Target, MAGIC};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Bodies above this are written by the writer task, never in place (the connection's
/// inline limit is 16 KiB).
const LARGE: usize = 64 * 1024;

struct Ignore;

impl FrameSink for Ignore {
    fn on_frame(&self, _: &Arc<ConnHandle>, _: Frame) {}
    fn on_close(&self, _: &Arc<ConnHandle>, _: Option<String>) {}
}

/// A connection over a dialed socket (which writes in place), and the accepted socket.
async fn pair() -> (Arc<ConnHandle>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let tcp = dialed.unwrap();
    let (plain, stream) = pulsing_actor::transport::plain::open(tcp);
    assert!(plain.is_some(), "a duplicate of the socket");
    let c = conn::start(
        stream,
        Arc::new(Ignore),
        Opening {
            id: 1,
            dialed: true,
            remote: addr.to_string(),
            limits: ConnLimits {
                max_body: 1 << 20,
                chunk_bytes: 1 << 16,
                // The peer here never says `Hello`: the deadline must outlast each test.
                handshake: Duration::from_secs(60),
                idle: Duration::from_secs(60),
            },
            queue: None,
            first: vec![Frame::bare(Header::Hello {
                node: NodeId::random(),
                addr: String::new(),
                bulk: false,
                to: None,
            })],
            traffic: Default::default(),
            plain,
        },
    );
    (c, accepted.unwrap().0)
}

/// A tell whose body says who sent it and its place in that sender's order.
fn numbered(sender: u32, seq: u32, size: usize) -> Frame {
    let mut body = vec![0u8; size.max(8)];
    body[..4].copy_from_slice(&sender.to_le_bytes());
    body[4..8].copy_from_slice(&seq.to_le_bytes());
    Frame::new(
        Header::Tell {
            target: Target::Name("t".into()),
            tag: "msgpack".into(),
            trace: None,
        },
        Bytes::from(body),
    )
}

/// Send small tells (as sender `id`) until one is written in place: the writer has sent the
/// magic and the `Hello`, and is idle. How many were sent.
async fn until_idle(c: &ConnHandle, id: u32) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seq = 0;
    while c.in_place_stats().0 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer never went idle"
        );
        assert!(c.send_all(vec![numbered(id, seq, 16)]).is_ok());
        seq += 1;
        // A moment for the writer to drain it and park (this loop runs on its own thread).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    seq
}

/// Read `n` tells from `s` (after the magic and the `Hello`); each body checked whole.
async fn read_tells(s: &mut TcpStream, n: usize) -> Vec<(u32, u32)> {
    let mut magic = [0u8; 4];
    s.read_exact(&mut magic).await.unwrap();
    assert_eq!(&magic, MAGIC);
    let dec = Decoder::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut got = Vec::with_capacity(n);
    loop {
        while let Some(f) = dec.decode(&mut buf).expect("well-formed frames") {
            if let Header::Tell { .. } = f.header {
                let b = &f.body;
                let sender = u32::from_le_bytes(b[..4].try_into().unwrap());
                let seq = u32::from_le_bytes(b[4..8].try_into().unwrap());
                assert!(b[8..].iter().all(|&x| x == 0), "the body arrived intact");
                got.push((sender, seq));
            }
        }
        if got.len() >= n {
            return got;
        }
        let read = tokio::time::timeout(Duration::from_secs(20), s.read_buf(&mut buf)).await;
        assert!(
            read.expect("frames within 20 s").unwrap() > 0,
            "no early close"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn frames_written_in_place_and_by_the_writer_arrive_whole_and_in_each_senders_order() {
    let (c, mut peer) = pair().await;
    const SENDERS: u32 = 4;
    const EACH: u32 = 4000;
    let probes = until_idle(&c, SENDERS).await;
    // Four threads of their own (as the JS thread is), each sending small frames with a large
    // one now and then. The peer reads nothing until all are sent, so the socket fills: some
    // writes in place are taken only in part, and the writer sends the rest.
    let threads: Vec<_> = (0..SENDERS)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for seq in 0..EACH {
                    // Small ones first: written in place until the socket is full (16 MiB
                    // here, more than it holds); large ones, for the writer, later.
                    let size = if seq > EACH / 2 && seq % 97 == 0 {
                        LARGE
                    } else {
                        2048
                    };
                    assert!(c.send_all(vec![numbered(t, seq, size)]).is_ok());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let got = read_tells(&mut peer, (SENDERS * EACH + probes) as usize).await;
    let mut next = [0u32; SENDERS as usize + 1];
    for (sender, seq) in got {
        assert_eq!(seq, next[sender as usize], "sender {sender}'s order");
        next[sender as usize] += 1;
    }
    let (frames, partial) = c.in_place_stats();
    assert!(frames > 0, "some frames were written in place");
    assert!(
        partial > 0,
        "the socket filled up and the writer took over at least once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_few_frames_sent_together_are_written_in_place_once_the_writer_is_idle() {
    let (c, mut peer) = pair().await;
    let probes = until_idle(&c, 0).await;
    let before = c.in_place_stats().0;
    let two = vec![numbered(0, probes, 16), numbered(0, probes + 1, 16)];
    assert!(c.send_all(two).is_ok());
    assert_eq!(
        c.in_place_stats().0,
        before + 2,
        "written before send_all returned"
    );
    // One by one, frames go to the writer (which coalesces them), idle or not; so does a
    // large batch.
    assert!(c.send(numbered(0, probes + 2, 16)));
    let many = (probes + 3..probes + 103)
        .map(|i| numbered(0, i, 16))
        .collect();
    assert!(c.send_all(many).is_ok());
    assert_eq!(
        c.in_place_stats().0,
        before + 2,
        "a lone frame and a large batch go to the writer"
    );
    let got = read_tells(&mut peer, probes as usize + 103).await;
    let order: Vec<u32> = got.iter().map(|g| g.1).collect();
    assert_eq!(order, (0..probes + 103).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn closing_a_connection_closes_its_socket_and_stops_writes_in_place() {
    let (c, mut peer) = pair().await;
    assert!(c.send(numbered(0, 0, 16)));
    read_tells(&mut peer, 1).await;
    c.close();
    assert!(
        !c.send(numbered(0, 1, 16)),
        "a closed connection takes nothing"
    );
    // The duplicate senders wrote to is closed too, or the peer would never see the end.
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(20), peer.read_to_end(&mut rest)).await;
    end.expect("the peer sees the connection end within 20 s")
        .expect("a clean end");
}
