//! Bytes from a peer, fed to the frame decoder in pieces of any size: it returns frames or
//! a protocol error, never panics, and never holds more than what arrived plus its bounded
//! reserve.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pulsing_actor::transport::frame::{Decoder, RESERVE_AHEAD};

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let dec = Decoder::new(1 << 20);
    let mut buf = BytesMut::new();
    for chunk in rest.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.capacity() <= rest.len() + 2 * RESERVE_AHEAD + 64 * 1024);
    }
});
