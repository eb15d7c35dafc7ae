//! What a connection speaks, told from its first bytes: the node's own frames open with the
//! magic `PLS1`, TLS with a handshake record (`0x16`), HTTP with the method (upper-case
//! letters: `GET`, `POST`, ...). The bytes read to tell are put back in front of the stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::conn::BoxStream;
use super::frame::MAGIC;

/// What the first byte says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// A TLS client hello.
    Tls,
    /// An HTTP request.
    Http,
    /// Anything else: the node's frames (or garbage, which their decoder refuses).
    Frames,
}

/// Tell a connection apart by its first bytes (`None`: more are needed).
pub fn speaks(first: &[u8]) -> Option<Speaks> {
    match first {
        [] => None,
        [0x16, ..] => Some(Speaks::Tls),
        // `POST`, `PUT`, `PATCH` and the magic share the `P`: four bytes tell them apart.
        [b'P', ..] if first.len() < MAGIC.len() => None,
        m if m.starts_with(MAGIC) => Some(Speaks::Frames),
        [b'A'..=b'Z', ..] => Some(Speaks::Http),
        _ => Some(Speaks::Frames),
    }
}

/// Read the first bytes of `stream` (within `timeout`): what it speaks, and the stream with
/// those bytes put back. A stream that closes first, or says too little in time, is an error.
pub async fn sniff(
    mut stream: BoxStream,
    timeout: std::time::Duration,
) -> io::Result<(Speaks, BoxStream)> {
    let mut first = Vec::with_capacity(MAGIC.len());
    let told = async {
        loop {
            if let Some(what) = speaks(&first) {
                return Ok(what);
            }
            let mut b = [0u8; 4];
            let want = MAGIC.len() - first.len();
            match stream.read(&mut b[..want]).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed before saying what it speaks",
                    ))
                }
                n => first.extend_from_slice(&b[..n]),
            }
        }
    };
    match tokio::time::timeout(timeout, told).await {
        Ok(Ok(what)) => Ok((
            what,
            Box::new(Rewound {
                first,
                at: 0,
                inner: stream,
            }),
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "said too little within the handshake timeout",
        )),
    }
}

/// A stream whose first bytes were read already and are handed out again first.
struct Rewound {
    first: Vec<u8>,
    at: usize,
    inner: BoxStream,
}

impl AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.first.len() {
            let n = buf.remaining().min(self.first.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.first[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_first_byte_tells_the_protocol_and_is_read_again() {
        assert_eq!(speaks(b"PLS1"), Some(Speaks::Frames));
        assert_eq!(speaks(b"PL"), None);
        assert_eq!(speaks(b"POST"), Some(Speaks::Http));
        assert_eq!(speaks(&[0x16]), Some(Speaks::Tls));
        assert_eq!(speaks(b"G"), Some(Speaks::Http));
        assert_eq!(speaks(&[0]), Some(Speaks::Frames));
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let (what, mut s) = sniff(Box::new(b), std::time::Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(what, Speaks::Http);
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"GET /");
        // The magic arrives a byte at a time: still told apart, and read again whole.
        let (mut a, b) = tokio::io::duplex(64);
        let sniffing = tokio::spawn(sniff(Box::new(b), std::time::Duration::from_secs(5)));
        for byte in b"PLS1xy" {
            a.write_all(&[*byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        let (what, mut s) = sniffing.await.unwrap().unwrap();
        assert_eq!(what, Speaks::Frames);
        let mut got = [0u8; 6];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"PLS1xy");
        let (_quiet, c) = tokio::io::duplex(64);
        assert!(sniff(Box::new(c), std::time::Duration::from_millis(10))
            .await
            .is_err());
    }
}
