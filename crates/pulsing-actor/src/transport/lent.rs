//! Reading a plain TCP connection on a borrower's thread: the JS binding's, whose event loop
//! then polls the socket itself.
//!
//! A frame this runtime's reader reads reaches JS after two wake-ups: the reader's, then the
//! JS thread's. A plain Node server has one. So between frames the reader may lend the reading
//! to a borrower ([`FrameSink::lend`]), which polls the socket on its own thread and calls
//! [`ConnHandle::read_lent`] when it is readable; whole frames go to the sink there, in order.
//! The reader takes the reading back for what a borrower should not do:
//! - a large frame: its bytes are read on the bulk thread, as always;
//! - the end of the connection, a read error, a peer breaking the protocol: the reader meets
//!   them and closes, as it does when it reads itself;
//! - a busy connection, many frames a turn: the reader then decodes and routes them in
//!   parallel with JS, which has enough to do; it lends again once frames come a few at a
//!   time ([`QUIET_FRAMES`] or fewer a read), and not before [`BUSY_KEEP`] (lending at every
//!   lull of a busy connection had JS decode most of its frames, at a cost to throughput);
//! - a borrower that left bytes waiting unread for a whole watch interval (JS busy in a long
//!   method). Gossip and Rust actors' calls share the connection and must still be read; the
//!   reading is then not lent again for a while.
//!
//! The reader watches a lent connection for its idle timeout too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use socket2::SockRef;
use tokio::sync::Notify;

use super::conn::{ConnHandle, FrameSink};
use super::frame::{Decoder, Header};

/// A frame this big, not whole yet, goes back to the reader (its bytes to the bulk thread).
const LENT_FRAME: usize = 256 * 1024;
/// A read bringing at most this many frames finds a connection quiet enough to lend.
pub(crate) const QUIET_FRAMES: usize = 4;
/// A borrower's turn that handed on this many frames gives the reading back.
const BUSY_FRAMES: usize = 32;
/// After a busy connection gave the reading back, keep it at least this long.
const BUSY_KEEP: Duration = Duration::from_millis(20);
/// A borrower's turn reads at most this much, then lets its loop serve others.
const TURN_BYTES: usize = 256 * 1024;
/// Read this much at a time.
const READ_CHUNK: usize = 16 * 1024;
/// How often the reader looks at a lent connection.
const WATCH: Duration = Duration::from_millis(50);
/// After taking the reading back from a stalled borrower, keep it this long.
const STALLED_KEEP: Duration = Duration::from_secs(1);
/// After a sink had no borrower, ask again after this long.
const NO_BORROWER_RETRY: Duration = Duration::from_secs(1);

thread_local! {
    /// Whether this thread is in a borrower's turn now (see [`in_turn`]).
    static IN_TURN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is a borrower's, in a turn: handing on the frames it read. A frame it
/// sends then (a relay's, an answer to gossip) is written in place when its
/// connection's writer is idle: waking the writer would make a second thread handle what
/// this one read, while the turn's frames are a few (a busy connection is read at home).
pub(crate) fn in_turn() -> bool {
    IN_TURN.with(|t| t.get())
}

/// Marks this thread as in a borrower's turn until dropped.
struct TurnMark(bool);

impl TurnMark {
    fn set() -> Self {
        TurnMark(IN_TURN.with(|t| t.replace(true)))
    }
}

impl Drop for TurnMark {
    fn drop(&mut self) {
        IN_TURN.with(|t| t.set(self.0));
    }
}

/// A connection's lending state (see the module docs).
pub(crate) struct Lending {
    state: Mutex<State>,
    back: Notify,
    /// The borrower's turns so far: the reader tells a stalled borrower by it.
    turns: AtomicU64,
    /// Frames borrowers handed on.
    frames: AtomicU64,
    /// Whether the reading was ever lent (a borrower may hold a duplicate of the socket).
    ever: AtomicBool,
    /// A duplicate of the socket, read from while lent; `None` where there is none (TLS) and
    /// once the connection closed. Never held while frames go to the sink.
    sock: Mutex<Option<std::net::TcpStream>>,
    /// Takes the runtime's stream out of its reactor while lent (see `super::plain`).
    reactor: Option<super::plain::Reactor>,
}

enum State {
    /// The reader reads.
    Home,
    /// A borrower reads.
    Lent(Box<Lent>),
    /// The borrower gave it back.
    Back(Box<Lent>, Back),
}

/// What a borrower needs to read on the reader's behalf.
struct Lent {
    /// Read but not yet decoded (a frame's first bytes), handed back and forth.
    buf: BytesMut,
    sink: Arc<dyn FrameSink>,
    dec: Decoder,
    /// The reader's runtime: the sink may spawn tasks.
    rt: tokio::runtime::Handle,
    /// When bytes were last read (the idle timeout).
    read_at: Instant,
}

/// Why a borrower gave the reading back.
enum Back {
    Large,
    Busy,
    Ended,
    Broke(String),
}

/// What came of lending, for the reader.
pub(crate) enum Returned {
    /// Not lent now (no borrower, a bulk lane, or lately stalled): read on.
    NotLent,
    /// Back; `buf` holds what was read and not decoded. Decode and read on.
    Back,
    /// Back for the reader to read itself (a large frame, a busy connection, the end of the
    /// connection): decode, and do not lend again before reads are quiet.
    Read,
    /// Nothing read for the idle timeout: close.
    Idle,
    /// The peer broke the protocol: close with this reason.
    Broke(String),
}

impl Lending {
    pub(crate) fn new(
        sock: Option<std::net::TcpStream>,
        reactor: Option<super::plain::Reactor>,
    ) -> Self {
        Self {
            state: Mutex::new(State::Home),
            back: Notify::new(),
            turns: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            ever: AtomicBool::new(false),
            sock: Mutex::new(sock),
            reactor,
        }
    }

    /// Take the runtime's stream out of its reactor again if the reading is lent (the writer,
    /// going idle, calls this: its writes had put the stream back).
    pub(crate) fn park_if_lent(&self) {
        if let Some(r) = &self.reactor {
            if matches!(*self.state.lock(), State::Lent(_)) {
                r.park();
            }
        }
    }

    /// The connection is closing: a borrower's duplicate of the socket must not keep it open,
    /// so the socket is shut down (its poll then fires, and it learns it is not lent).
    pub(crate) fn close(&self) {
        if let Some(s) = self.sock.lock().take() {
            if self.ever.load(Ordering::Relaxed) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        // A reader waiting on a lent reading takes it back now and meets the end itself:
        // the borrower may have stopped polling without a turn (libuv stops a poll on a
        // socket error), and nobody else would tell it.
        self.back.notify_one();
    }
}

/// The reader's side: when to lend, and what to do while lent.
pub(crate) struct Lender {
    not_before: Instant,
    max_body: usize,
    idle: Duration,
}

impl Lender {
    pub(crate) fn new(max_body: usize, idle: Duration) -> Self {
        Self {
            not_before: Instant::now(),
            max_body,
            idle,
        }
    }

    /// Lend `h`'s reading (with `buf`, what was read and not decoded) if a borrower takes it,
    /// and wait until it is back.
    pub(crate) async fn lend(
        &mut self,
        h: &Arc<ConnHandle>,
        sink: &Arc<dyn FrameSink>,
        buf: &mut BytesMut,
    ) -> Returned {
        let l = &h.lending;
        if Instant::now() < self.not_before || h.is_bulk() || l.sock.lock().is_none() {
            return Returned::NotLent;
        }
        *l.state.lock() = State::Lent(Box::new(Lent {
            buf: std::mem::take(buf),
            sink: sink.clone(),
            dec: Decoder::new(self.max_body),
            rt: tokio::runtime::Handle::current(),
            read_at: Instant::now(),
        }));
        l.ever.store(true, Ordering::Relaxed);
        if !sink.lend(h) {
            *buf = take_back(&mut l.state.lock()).0;
            self.not_before = Instant::now() + NO_BORROWER_RETRY;
            return Returned::NotLent;
        }
        // The borrower reads now: the runtime need not be woken by the bytes it reads.
        if let Some(r) = &l.reactor {
            r.park();
        }
        // The borrower's turn count when bytes were first seen waiting, if they still are.
        let mut waiting_at: Option<u64> = None;
        loop {
            tokio::select! {
                _ = l.back.notified() => {}
                _ = tokio::time::sleep(WATCH) => {}
            }
            let mut st = l.state.lock();
            let read_at = match &*st {
                State::Lent(lent) => lent.read_at,
                _ => {
                    let (b, why) = take_back(&mut st);
                    *buf = b;
                    return match why {
                        Some(Back::Broke(e)) => Returned::Broke(e),
                        Some(Back::Busy) => {
                            self.not_before = Instant::now() + BUSY_KEEP;
                            Returned::Read
                        }
                        Some(Back::Large | Back::Ended) => Returned::Read,
                        None => Returned::Back,
                    };
                }
            };
            if h.is_closed() {
                *buf = take_back(&mut st).0;
                return Returned::Back;
            }
            if read_at.elapsed() >= self.idle {
                *buf = take_back(&mut st).0;
                return Returned::Idle;
            }
            let turns = l.turns.load(Ordering::Relaxed);
            let w = waiting(&l.sock);
            if w == Waiting::Ended {
                // The end, a reset, or the socket taken away (the writer failed): read it
                // here, where it closes the connection and fails what was pending on it.
                *buf = take_back(&mut st).0;
                return Returned::Read;
            }
            if w == Waiting::Nothing {
                waiting_at = None;
            } else if waiting_at == Some(turns) {
                // A whole interval with bytes waiting and no turn: the borrower is stuck.
                tracing::debug!(conn = h.id, "taking back the reading from a busy borrower");
                *buf = take_back(&mut st).0;
                self.not_before = Instant::now() + STALLED_KEEP;
                return Returned::Back;
            } else {
                waiting_at = Some(turns);
            }
        }
    }
}

/// Take the reading home; what was read, and why it came back (if the borrower gave it).
fn take_back(st: &mut State) -> (BytesMut, Option<Back>) {
    match std::mem::replace(st, State::Home) {
        State::Lent(l) => (l.buf, None),
        State::Back(l, why) => (l.buf, Some(why)),
        State::Home => (BytesMut::new(), None),
    }
}

/// What a lent socket has waiting to be read.
#[derive(PartialEq)]
enum Waiting {
    Nothing,
    Bytes,
    /// Its end or an error, or no socket any more (the connection is closing).
    Ended,
}

fn waiting(sock: &Mutex<Option<std::net::TcpStream>>) -> Waiting {
    let Some(s) = &*sock.lock() else {
        return Waiting::Ended;
    };
    match s.peek(&mut [0u8; 1]) {
        Ok(0) => Waiting::Ended,
        Ok(_) => Waiting::Bytes,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Waiting::Nothing,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Waiting::Nothing,
        Err(_) => Waiting::Ended,
    }
}

impl ConnHandle {
    /// A borrower's turn, on its thread, once the socket is readable (see
    /// [`FrameSink::lend`]): read what is there and hand the whole frames to the sink. False
    /// once the reading is not lent (any more): the borrower stops polling and closes its
    /// duplicate of the socket then.
    pub fn read_lent(self: &Arc<Self>) -> bool {
        let l = &self.lending;
        let mut st = l.state.lock();
        let State::Lent(lent) = &mut *st else {
            return false;
        };
        if self.is_closed() {
            return false;
        }
        l.turns.fetch_add(1, Ordering::Relaxed);
        let back = {
            let _rt = lent.rt.enter();
            let _mark = TurnMark::set();
            self.turn(lent)
        };
        match back {
            None => true,
            Some(why) => {
                if let State::Lent(lent) = std::mem::replace(&mut *st, State::Home) {
                    *st = State::Back(lent, why);
                }
                l.back.notify_one();
                false
            }
        }
    }

    /// Borrowers' turns on this connection so far, and the frames they handed on (for tests
    /// and diagnostics).
    pub fn lent_stats(&self) -> (u64, u64) {
        let l = &self.lending;
        (
            l.turns.load(Ordering::Relaxed),
            l.frames.load(Ordering::Relaxed),
        )
    }

    /// Whether the runtime's stream of this connection is out of its reactor now (while lent,
    /// see `super::plain`). For tests and diagnostics.
    #[doc(hidden)]
    pub fn is_parked(&self) -> bool {
        self.lending.reactor.as_ref().is_some_and(|r| r.is_parked())
    }

    /// A duplicate of the socket for a borrower to poll (it closes it when done). `None` when
    /// the reading is not lent.
    pub fn lent_socket(&self) -> Option<std::net::TcpStream> {
        if !matches!(*self.lending.state.lock(), State::Lent(_)) {
            return None;
        }
        self.lending.sock.lock().as_ref()?.try_clone().ok()
    }

    /// Decode whole frames for the sink, read, and again, until the socket is empty (`None`)
    /// or the reading must go back.
    fn turn(self: &Arc<Self>, lent: &mut Lent) -> Option<Back> {
        let mut read = 0;
        let mut frames = 0;
        let mut drained = false;
        loop {
            loop {
                match lent.dec.decode(&mut lent.buf) {
                    Ok(Some(f)) => {
                        frames += 1;
                        self.lending.frames.fetch_add(1, Ordering::Relaxed);
                        self.count(false, &f);
                        if f.header != Header::Keepalive {
                            lent.sink.on_frame(self, f);
                        }
                        if self.is_closed() {
                            return Some(Back::Ended);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Some(Back::Broke(format!("protocol violation: {e}"))),
                }
            }
            if lent.buf.len() >= LENT_FRAME {
                return Some(Back::Large);
            }
            if frames >= BUSY_FRAMES {
                return Some(Back::Busy);
            }
            // A short read emptied the socket: not another read to learn it (the borrower's
            // poll fires again for what comes next).
            if drained || read >= TURN_BYTES {
                return None;
            }
            // Into the buffer's spare room as it is: zeroing 16 KiB first cost more than the
            // read of a small message.
            lent.buf.reserve(READ_CHUNK);
            let got = match self.lending.sock.lock().as_ref() {
                Some(s) => SockRef::from(s).recv(&mut lent.buf.spare_capacity_mut()[..READ_CHUNK]),
                None => Ok(0),
            };
            if let Ok(n) = got {
                // SAFETY: `recv` initialised the first `n` bytes of the spare room.
                unsafe { lent.buf.set_len(lent.buf.len() + n) };
            }
            match got {
                Ok(0) => return Some(Back::Ended),
                Ok(n) => {
                    read += n;
                    drained = n < READ_CHUNK;
                    lent.read_at = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The reader reads again and meets (and reports) it.
                Err(_) => return Some(Back::Ended),
            }
        }
    }
}
