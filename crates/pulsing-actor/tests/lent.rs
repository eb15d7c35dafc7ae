//! A plain TCP connection's reader lends the reading to a borrower (the JS thread, in the
//! binding) while frames come a few at a time, and takes it back for what the borrower should
//! not do: large frames, a busy connection, a borrower that stopped reading, the end.
//! Whoever reads, every frame must reach the sink whole and in order, and a closed
//! connection must end the borrower's turns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pulsing_actor::prelude::*;
use pulsing_actor::transport::conn::{self, ConnHandle, ConnLimits, FrameSink, Opening};
use pulsing_actor::transport::frame::{encode_head, Frame, Header, Target, MAGIC};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const BORROWER: &str = "borrower";
/// An idle timeout no test reaches.
const LONG_IDLE: Duration = Duration::from_secs(60);

/// A tell that arrived: its number, its size, and whether the borrower handed it on.
type Arrival = (u32, usize, bool);

/// A sink with a borrower: a thread of its own that reads while the reading is lent, as the
/// JS thread does between its callbacks.
#[derive(Default)]
struct Borrowing {
    arrivals: parking_lot::Mutex<Option<mpsc::UnboundedSender<Arrival>>>,
    closed: parking_lot::Mutex<Option<mpsc::UnboundedSender<Option<String>>>>,
    lends: AtomicUsize,
    /// Borrower threads that saw the reading end and left.
    left: Arc<AtomicUsize>,
    /// While set, the borrower takes no turn (a JS method running long).
    stall: Arc<AtomicBool>,
    /// A borrower saw `stall` between turns.
    stalled: Arc<AtomicBool>,
    /// While set, each tell is answered with a tell of the same number, sent from `on_frame`
    /// (as a gateway relays a call).
    echo: AtomicBool,
    /// While set, a borrower that finds the socket in error leaves without a turn, as libuv
    /// stops a poll on `POLLERR` (a reset peer) and reports only an error status.
    quit_on_error: Arc<AtomicBool>,
}

impl FrameSink for Borrowing {
    fn on_frame(&self, conn: &Arc<ConnHandle>, f: Frame) {
        if let Header::Tell { .. } = f.header {
            let seq = u32::from_le_bytes(f.body[..4].try_into().unwrap());
            if self.echo.load(Ordering::Relaxed) {
                assert!(conn.send(tell(seq, 16)));
            }
            let intact = f.body[4..]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == pattern(seq, i));
            assert!(intact, "tell {seq} arrived intact");
            let lent = std::thread::current().name() == Some(BORROWER);
            if let Some(tx) = &*self.arrivals.lock() {
                let _ = tx.send((seq, f.body.len(), lent));
            }
        }
    }
    fn on_close(&self, _: &Arc<ConnHandle>, reason: Option<String>) {
        if let Some(tx) = &*self.closed.lock() {
            let _ = tx.send(reason);
        }
    }
    fn lend(&self, conn: &Arc<ConnHandle>) -> bool {
        self.lends.fetch_add(1, Ordering::Relaxed);
        let (c, left) = (conn.clone(), self.left.clone());
        let (stall, stalled) = (self.stall.clone(), self.stalled.clone());
        let quit_on_error = self.quit_on_error.clone();
        std::thread::Builder::new()
            .name(BORROWER.into())
            .spawn(move || {
                // As the binding does: hold a duplicate of the socket, wait until it is
                // readable (here by peeking in a loop: it shares the original's non-blocking
                // mode), then take a turn; until the reading is not lent any more.
                let Some(sock) = c.lent_socket() else {
                    left.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                loop {
                    if stall.load(Ordering::Relaxed) {
                        stalled.store(true, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_micros(100));
                        continue;
                    }
                    let peeked = sock.peek(&mut [0u8; 1]);
                    if quit_on_error.load(Ordering::Relaxed)
                        && matches!(&peeked, Err(e) if e.kind() != std::io::ErrorKind::WouldBlock)
                    {
                        break;
                    }
                    let readable = !matches!(
                        peeked,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                    );
                    if !readable {
                        std::thread::sleep(Duration::from_micros(100));
                        continue;
                    }
                    if !c.read_lent() {
                        break;
                    }
                }
                drop(sock);
                left.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        true
    }
}

fn pattern(seq: u32, i: usize) -> u8 {
    (seq as usize).wrapping_add(i).wrapping_mul(31) as u8
}

/// Tell number `seq` with a body of `size` bytes its receiver can check.
fn tell(seq: u32, size: usize) -> Frame {
    let mut body = vec![0u8; size.max(4)];
    body[..4].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in body[4..].iter_mut().enumerate() {
        *b = pattern(seq, i);
    }
    Frame::new(
        Header::Tell {
            target: Target::Name("t".into()),
            tag: "msgpack".into(),
            trace: None,
        },
        Bytes::from(body),
    )
}

fn hello() -> Frame {
    Frame::bare(Header::Hello {
        node: NodeId::random(),
        addr: String::new(),
        bulk: false,
        to: None,
    })
}

fn limits(idle: Duration) -> ConnLimits {
    ConnLimits {
        max_body: 8 << 20,
        chunk_bytes: 1 << 16,
        handshake: Duration::from_secs(60),
        idle,
    }
}

struct Pair {
    /// The connection under test (it lends its reading).
    conn: Arc<ConnHandle>,
    sink: Arc<Borrowing>,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    closed: mpsc::UnboundedReceiver<Option<String>>,
}

/// Start the connection under test over the accepted end of a loopback socket.
async fn accept(listener: TcpListener, idle: Duration) -> Pair {
    let addr = listener.local_addr().unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let (plain, stream) = pulsing_actor::transport::plain::open(tcp);
    assert!(plain.is_some(), "a duplicate of the socket");
    let (atx, arrivals) = mpsc::unbounded_channel();
    let (ctx, closed) = mpsc::unbounded_channel();
    let sink = Arc::new(Borrowing::default());
    *sink.arrivals.lock() = Some(atx);
    *sink.closed.lock() = Some(ctx);
    let conn = conn::start(
        stream,
        sink.clone(),
        Opening {
            id: 1,
            dialed: false,
            remote: addr.to_string(),
            limits: limits(idle),
            queue: None,
            first: vec![hello()],
            traffic: Default::default(),
            plain,
        },
    );
    Pair {
        conn,
        sink,
        arrivals,
        closed,
    }
}

struct Ignore;

impl FrameSink for Ignore {
    fn on_frame(&self, _: &Arc<ConnHandle>, _: Frame) {}
    fn on_close(&self, _: &Arc<ConnHandle>, _: Option<String>) {}
}

/// A peer's sink that records the numbers of the tells it gets.
struct Record(mpsc::UnboundedSender<u32>);

impl FrameSink for Record {
    fn on_frame(&self, _: &Arc<ConnHandle>, f: Frame) {
        if let Header::Tell { .. } = f.header {
            let _ = self
                .0
                .send(u32::from_le_bytes(f.body[..4].try_into().unwrap()));
        }
    }
    fn on_close(&self, _: &Arc<ConnHandle>, _: Option<String>) {}
}

/// The connection under test, and a peer connection (which sends the frames).
async fn pair() -> (Pair, Arc<ConnHandle>) {
    pair_with(Arc::new(Ignore)).await
}

/// [`pair`], with the peer's frames going to `peer_sink`.
async fn pair_with(peer_sink: Arc<dyn FrameSink>) -> (Pair, Arc<ConnHandle>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (dialed, p) = tokio::join!(TcpStream::connect(addr), accept(listener, LONG_IDLE));
    let peer = conn::start(
        Box::new(dialed.unwrap()),
        peer_sink,
        Opening {
            id: 2,
            dialed: true,
            remote: addr.to_string(),
            limits: limits(LONG_IDLE),
            queue: None,
            first: vec![hello()],
            traffic: Default::default(),
            plain: None,
        },
    );
    (p, peer)
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Arrival>) -> Arrival {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a frame within 20 s")
        .expect("the sink lives")
}

/// The next tell number the peer got back.
async fn answer(back: &mut mpsc::UnboundedReceiver<u32>) -> u32 {
    tokio::time::timeout(Duration::from_secs(20), back.recv())
        .await
        .expect("an answer within 20 s")
        .expect("the peer lives")
}

/// Send tells one at a time, each once the previous arrived, from number `seq`, until one arrives
/// through the borrower (within a deadline). The next number to send.
async fn until_lent(p: &mut Pair, peer: &ConnHandle, mut seq: u32) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "never lent");
        assert!(peer.send(tell(seq, 64)));
        let (got, _, lent) = next(&mut p.arrivals).await;
        assert_eq!(got, seq);
        seq += 1;
        if lent {
            return seq;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_frames_go_through_the_borrower_busy_and_large_ones_through_the_reader_in_order() {
    let (mut p, peer) = pair().await;
    let mut seq = until_lent(&mut p, &peer, 0).await;

    // Quiet: one at a time, all through the borrower.
    let mut through_borrower = 0;
    for _ in 0..100 {
        assert!(peer.send(tell(seq, 200)));
        let (got, _, lent) = next(&mut p.arrivals).await;
        assert_eq!(got, seq);
        through_borrower += lent as u32;
        seq += 1;
    }
    assert!(
        through_borrower >= 90,
        "quiet frames are read by the borrower ({through_borrower} of 100)"
    );
    assert!(p.conn.lent_stats().1 >= 90);
    // Their bytes woke the borrower only: the runtime's stream is out of its reactor.
    assert!(p.conn.is_parked(), "a lent stream leaves the reactor");

    // Busy: many frames a read. The borrower gives the reading back, and the reader reads
    // them in parallel with it.
    let first = seq;
    let frames: Vec<Frame> = (first..first + 3000).map(|i| tell(i, 100)).collect();
    seq += 3000;
    assert!(peer.send_all(frames).is_ok());
    let mut by_reader = 0;
    for want in first..seq {
        let (got, _, lent) = next(&mut p.arrivals).await;
        assert_eq!(got, want, "in order, whoever read it");
        by_reader += !lent as u32;
    }
    assert!(by_reader > 0, "a busy connection is read by its reader");

    // Quiet again: lent again.
    let seq = until_lent(&mut p, &peer, seq).await;

    // A large frame, while lent: its bytes go back to the reader (and to the bulk thread),
    // and what follows it still arrives after it.
    assert!(peer.send(tell(seq, 3 << 20)));
    assert!(peer.send(tell(seq + 1, 10)));
    let (got, size, lent) = next(&mut p.arrivals).await;
    assert_eq!((got, size), (seq, 3 << 20), "a large frame arrives whole");
    assert!(!lent, "the reader read the large frame");
    assert_eq!(next(&mut p.arrivals).await.0, seq + 1);
    let seq = until_lent(&mut p, &peer, seq + 2).await;
    assert!(p.conn.is_parked(), "lent again, out of the reactor again");
    // Back with the reader (a busy burst), it is registered and read again.
    let frames: Vec<Frame> = (seq..seq + 500).map(|i| tell(i, 100)).collect();
    assert!(peer.send_all(frames).is_ok());
    for want in seq..seq + 500 {
        assert_eq!(next(&mut p.arrivals).await.0, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrower_that_stops_reading_loses_the_reading_and_frames_still_arrive() {
    let (mut p, peer) = pair().await;
    let seq = until_lent(&mut p, &peer, 0).await;
    let lends = p.sink.lends.load(Ordering::Relaxed);
    // The borrower stops taking turns, as JS does in a long method: the reader must see bytes
    // waiting unread and read them itself (gossip and Rust actors share the connection).
    p.sink.stall.store(true, Ordering::Relaxed);
    // Not inside a turn (which would read the next frame too).
    wait_until("the borrower stalls", || {
        p.sink.stalled.load(Ordering::Relaxed)
    })
    .await;
    assert!(peer.send(tell(seq, 64)));
    let (got, _, lent) = next(&mut p.arrivals).await;
    assert_eq!(got, seq);
    assert!(!lent, "the reader read it");
    p.sink.stall.store(false, Ordering::Relaxed);
    // Lent again a while later (the reader asks the sink again).
    until_lent(&mut p, &peer, seq + 1).await;
    assert!(p.sink.lends.load(Ordering::Relaxed) > lends);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_lent_connection_ends_the_borrowers_turns_and_the_socket() {
    // Closed here: the borrower leaves and the peer sees the end (the borrower's duplicate
    // of the socket must not hold it open).
    let (mut p, peer) = pair().await;
    until_lent(&mut p, &peer, 0).await;
    let left = p.sink.left.load(Ordering::Relaxed);
    p.conn.close();
    wait_until("the borrower leaves", || {
        p.sink.left.load(Ordering::Relaxed) > left
    })
    .await;
    wait_until("the peer sees the end", || peer.is_closed()).await;

    // Closed by the peer: the borrower reads the end, gives the reading back, and the
    // connection closes cleanly.
    let (mut p, peer) = pair().await;
    until_lent(&mut p, &peer, 0).await;
    let left = p.sink.left.load(Ordering::Relaxed);
    peer.close();
    let reason = tokio::time::timeout(Duration::from_secs(20), p.closed.recv())
        .await
        .expect("closed within 20 s");
    assert_eq!(reason, Some(None), "a clean end");
    wait_until("the borrower leaves", || {
        p.sink.left.load(Ordering::Relaxed) > left
    })
    .await;
}

/// A raw peer (the magic, a `Hello`, one tell, by hand) of the connection under test (idle
/// timeout `idle`), once that tell arrived and the reading is lent.
async fn raw_peer_lent(idle: Duration) -> (TcpStream, Pair) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (raw, mut p) = tokio::join!(TcpStream::connect(addr), accept(listener, idle));
    let mut raw = raw.unwrap();
    let mut out = BytesMut::new();
    out.extend_from_slice(MAGIC);
    encode_head(&hello(), &mut out).unwrap();
    let t = tell(0, 16);
    encode_head(&t, &mut out).unwrap();
    out.extend_from_slice(&t.body);
    raw.write_all(&out).await.unwrap();
    assert_eq!(next(&mut p.arrivals).await.0, 0);
    wait_until("lent", || p.sink.lends.load(Ordering::Relaxed) > 0).await;
    (raw, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lent_connection_still_closes_when_idle_and_on_a_broken_frame() {
    for broken in [false, true] {
        // Then nothing from the peer (it sends no keepalives).
        let (mut raw, mut p) = raw_peer_lent(Duration::from_millis(300)).await;
        if broken {
            // Not a frame: the borrower meets it, and the connection closes saying why.
            raw.write_all(&[0xff; 64]).await.unwrap();
        }
        let reason = tokio::time::timeout(Duration::from_secs(20), p.closed.recv())
            .await
            .expect("closed within 20 s")
            .expect("a close");
        if broken {
            let reason = reason.expect("a reason");
            assert!(reason.contains("protocol violation"), "{reason}");
        } else {
            assert_eq!(reason, None, "idle: a clean close");
        }
        // The peer sees the end.
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), raw.read_to_end(&mut rest))
            .await
            .expect("the end within 20 s")
            .ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lent_connection_reset_by_its_peer_closes_even_when_the_borrower_quits_and_a_write_fails_first(
) {
    // What a SIGKILLed peer with unread bytes does: it resets the connection. The JS thread's
    // poll then stops without a turn (libuv's `POLLERR`), and a frame sent meanwhile (a probe,
    // a call) fails its write first. The reader must still take the reading back, close, and
    // so fail the calls pending on the connection at once (not at failure detection).
    let (raw, mut p) = raw_peer_lent(LONG_IDLE).await;
    let left = p.sink.left.load(Ordering::Relaxed);
    p.sink.quit_on_error.store(true, Ordering::Relaxed);
    // A reset, not a clean end: no linger.
    socket2::SockRef::from(&raw)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(raw);
    wait_until("the borrower quits on the error", || {
        p.sink.left.load(Ordering::Relaxed) > left
    })
    .await;
    // Writes now fail (the writer ends, and takes the socket from the lending with it).
    for i in 1..4 {
        p.conn.send(tell(i, 16));
    }
    let reason = tokio::time::timeout(Duration::from_secs(20), p.closed.recv())
        .await
        .expect("closed within 20 s, not left lent until the idle timeout")
        .expect("a close");
    if let Some(r) = reason {
        assert!(r.contains("read failed"), "{r}");
    }
    assert!(p.conn.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_in_a_borrowers_turn_are_written_in_place_and_keep_their_order() {
    let (tx, mut back) = mpsc::unbounded_channel();
    let (mut p, peer) = pair_with(Arc::new(Record(tx))).await;
    let mut seq = until_lent(&mut p, &peer, 0).await;
    p.sink.echo.store(true, Ordering::Relaxed);

    // Quiet: each tell is read by the borrower, whose answer leaves from its turn, on its
    // thread, without waking the writer.
    let before = p.conn.in_place_stats().0;
    let mut lent = 0;
    for _ in 0..100 {
        assert!(peer.send(tell(seq, 64)));
        let (got, _, by_borrower) = next(&mut p.arrivals).await;
        assert_eq!(got, seq);
        assert_eq!(answer(&mut back).await, seq);
        lent += by_borrower as u64;
        seq += 1;
    }
    assert!(
        lent >= 90,
        "quiet frames are read by the borrower ({lent} of 100)"
    );
    let in_place = p.conn.in_place_stats().0 - before;
    // A keepalive the writer is sending can take a turn's answer to the writer instead.
    assert!(
        in_place + 5 >= lent && in_place <= lent,
        "the borrower's answers were written in place ({in_place} of {lent})"
    );

    // Sent from elsewhere (here: a task on the runtime, not a turn), a lone frame goes to the
    // writer, which coalesces such frames.
    let before = p.conn.in_place_stats().0;
    assert!(p.conn.send(tell(seq, 16)));
    assert_eq!(answer(&mut back).await, seq);
    assert_eq!(p.conn.in_place_stats().0, before, "not written in place");
    seq += 1;

    // Busy, then quiet again: the answers, from the reader's thread and the borrower's, in
    // place and through the writer, all arrive in order.
    let first = seq;
    let frames: Vec<Frame> = (first..first + 2000).map(|i| tell(i, 100)).collect();
    assert!(peer.send_all(frames).is_ok());
    seq += 2000;
    for want in first..seq {
        assert_eq!(next(&mut p.arrivals).await.0, want);
    }
    let seq = until_lent(&mut p, &peer, seq).await;
    for want in first..seq {
        assert_eq!(answer(&mut back).await, want, "answers in order");
    }
}
