//! A plain TCP connection's socket: the stream the runtime reads and writes, a duplicate of
//! it for senders and borrowers on their own threads, and a way to take the stream out of the
//! runtime's reactor while a borrower reads it.
//!
//! A socket registered with the reactor wakes a runtime thread at each arrival of bytes, even
//! when no task waits to read them. While the JS thread reads a lent connection (see
//! `super::lent`) that was one needless wake-up of the runtime per message, on each side of a
//! call. So the reader parks the stream as it lends the reading; the next read or write the
//! runtime makes of it registers it again (at once, if it is readable then).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::conn::BoxStream;

/// A plain TCP connection's socket, as [`super::conn::Opening::plain`] takes it.
pub struct PlainSocket {
    /// A duplicate of the socket: senders write to it in place, borrowers read it.
    pub(crate) dup: std::net::TcpStream,
    /// Parks the stream the runtime uses.
    pub(crate) reactor: Reactor,
}

/// Wrap a plain TCP stream: what the runtime reads and writes, and (where a duplicate of the
/// descriptor can be made, on Unix) what senders and borrowers use on their own threads.
pub fn open(tcp: TcpStream) -> (Option<PlainSocket>, BoxStream) {
    let dup = duplicate(&tcp);
    let shared = Arc::new(Mutex::new(Inner {
        slot: Slot::Live(tcp),
        pending: [false; 2],
    }));
    let plain = dup.map(|dup| PlainSocket {
        dup,
        reactor: Reactor(Arc::downgrade(&shared)),
    });
    (plain, Box::new(ParkableTcp(shared)))
}

fn duplicate(tcp: &TcpStream) -> Option<std::net::TcpStream> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        tcp.as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::net::TcpStream::from)
    }
    #[cfg(not(unix))]
    {
        let _ = tcp;
        None
    }
}

enum Slot {
    /// Registered with a runtime's reactor.
    Live(TcpStream),
    /// Out of the reactor; registered again with this runtime's at its next use.
    Parked(std::net::TcpStream, tokio::runtime::Handle),
    /// Lost when taken out of or put back into the reactor: every use fails with this.
    Broken(io::ErrorKind),
}

struct Inner {
    slot: Slot,
    /// Whether the last read, and the last write (or flush), was left pending: a task then
    /// waits on the registration, which must stay.
    pending: [bool; 2],
}

const READ: usize = 0;
const WRITE: usize = 1;

impl Inner {
    /// The registered stream, registering it again if it was parked.
    fn live(&mut self) -> io::Result<&mut TcpStream> {
        if matches!(self.slot, Slot::Parked(..)) {
            let Slot::Parked(std, rt) =
                std::mem::replace(&mut self.slot, Slot::Broken(io::ErrorKind::Other))
            else {
                unreachable!("matched above");
            };
            let _in = rt.enter();
            self.slot = match TcpStream::from_std(std) {
                Ok(tcp) => Slot::Live(tcp),
                Err(e) => Slot::Broken(e.kind()),
            };
        }
        match &mut self.slot {
            Slot::Live(tcp) => Ok(tcp),
            Slot::Broken(kind) => Err(io::Error::new(
                *kind,
                "the socket was lost leaving or rejoining the reactor",
            )),
            Slot::Parked(..) => unreachable!("registered above"),
        }
    }

    fn poll<T>(
        &mut self,
        side: usize,
        f: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let r = match self.live() {
            Ok(tcp) => f(Pin::new(tcp)),
            Err(e) => Poll::Ready(Err(e)),
        };
        self.pending[side] = r.is_pending();
        r
    }
}

/// Takes a connection's stream out of the reactor (see the module docs). Weak: the stream
/// closes when the connection's reader and writer drop it.
pub(crate) struct Reactor(Weak<Mutex<Inner>>);

impl Reactor {
    /// Leave the reactor until the stream is used again, unless a task waits on it (a write
    /// the socket did not take yet). Must run on the runtime, which registers it again.
    pub(crate) fn park(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let mut inner = shared.lock();
        if inner.pending.iter().any(|p| *p) || !matches!(inner.slot, Slot::Live(_)) {
            return;
        }
        let Slot::Live(tcp) =
            std::mem::replace(&mut inner.slot, Slot::Broken(io::ErrorKind::Other))
        else {
            unreachable!("matched above");
        };
        inner.slot = match tcp.into_std() {
            Ok(std) => Slot::Parked(std, rt),
            Err(e) => Slot::Broken(e.kind()),
        };
    }

    /// Whether the stream is out of the reactor now.
    pub(crate) fn is_parked(&self) -> bool {
        self.0
            .upgrade()
            .is_some_and(|s| matches!(s.lock().slot, Slot::Parked(..)))
    }
}

/// The stream the runtime reads and writes.
struct ParkableTcp(Arc<Mutex<Inner>>);

impl AsyncRead for ParkableTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.lock().poll(READ, |s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for ParkableTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.lock().poll(WRITE, |s| s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0
            .lock()
            .poll(WRITE, |s| s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.lock().poll(WRITE, |s| s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.lock().poll(WRITE, |s| s.poll_shutdown(cx))
    }
}
