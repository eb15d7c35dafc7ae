//! A stream producer's credit: how far it may run ahead of its consumer, in items (what the
//! consumer grants) and in bytes (what it has sent and not yet had credited back).
//!
//! The item window alone would let a stream of large items hold window × item size at the
//! consumer; the byte window bounds that. One item always goes when nothing is ahead, so an
//! item larger than the byte window still travels (alone).

use std::collections::VecDeque;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::protocol::{STREAM_WINDOW, STREAM_WINDOW_BYTES};

/// Items and bytes a producer has ahead of its consumer.
#[derive(Default)]
struct Ahead {
    /// Item credit left.
    items: usize,
    /// The size of every item sent and not yet credited, oldest first.
    sizes: VecDeque<usize>,
    /// The sum of `sizes`.
    bytes: usize,
    closed: bool,
}

/// The credit of one stream being served.
pub(super) struct Credit {
    ahead: Mutex<Ahead>,
    room: Notify,
}

impl Credit {
    /// A full window: [`STREAM_WINDOW`] items, nothing ahead.
    pub(super) fn new() -> Credit {
        Credit {
            ahead: Mutex::new(Ahead {
                items: STREAM_WINDOW as usize,
                ..Ahead::default()
            }),
            room: Notify::new(),
        }
    }

    /// Wait until an item of `size` bytes may go, and count it as ahead. False once closed.
    pub(super) async fn send(&self, size: usize) -> bool {
        loop {
            {
                let mut a = self.ahead.lock();
                if a.closed {
                    return false;
                }
                if a.items > 0 && a.bytes < STREAM_WINDOW_BYTES {
                    a.items -= 1;
                    a.sizes.push_back(size);
                    a.bytes += size;
                    return true;
                }
            }
            // notify_one keeps a permit when nobody waits: a grant between the check and
            // this await still wakes us.
            self.room.notified().await;
        }
    }

    /// The consumer used `n` more items: they are no longer ahead.
    pub(super) fn grant(&self, n: usize) {
        let mut a = self.ahead.lock();
        // Never more outstanding than a window: a peer cannot overflow the count.
        let granted = n.min(a.sizes.len());
        for _ in 0..granted {
            if let Some(s) = a.sizes.pop_front() {
                a.bytes -= s;
            }
        }
        a.items = (a.items + granted).min(STREAM_WINDOW as usize);
        drop(a);
        self.room.notify_one();
    }

    /// Stop: a waiting [`Credit::send`] returns false.
    pub(super) fn close(&self) {
        self.ahead.lock().closed = true;
        self.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn items_run_out_and_come_back() {
        let c = Credit::new();
        for _ in 0..STREAM_WINDOW {
            assert!(c.send(1).await);
        }
        let blocked = tokio::time::timeout(Duration::from_millis(50), c.send(1)).await;
        assert!(
            blocked.is_err(),
            "a producer past its item window must wait"
        );
        c.grant(1);
        assert!(c.send(1).await);
    }

    #[tokio::test]
    async fn bytes_bound_large_items_but_one_always_goes() {
        let c = Credit::new();
        // Larger than the whole byte window, with nothing ahead: it goes.
        assert!(c.send(2 * STREAM_WINDOW_BYTES).await);
        let blocked = tokio::time::timeout(Duration::from_millis(50), c.send(10)).await;
        assert!(
            blocked.is_err(),
            "a producer past its byte window must wait"
        );
        c.grant(1);
        assert!(c.send(10).await);
    }

    #[tokio::test]
    async fn a_grant_beyond_what_was_sent_adds_nothing() {
        let c = Credit::new();
        assert!(c.send(1).await);
        c.grant(1_000_000);
        assert_eq!(c.ahead.lock().items, STREAM_WINDOW as usize);
        assert_eq!(c.ahead.lock().bytes, 0);
    }

    #[tokio::test]
    async fn close_releases_a_waiting_producer() {
        let c = std::sync::Arc::new(Credit::new());
        assert!(c.send(2 * STREAM_WINDOW_BYTES).await);
        let w = tokio::spawn({
            let c = c.clone();
            async move { c.send(1).await }
        });
        c.close();
        assert!(!w.await.unwrap());
    }
}
