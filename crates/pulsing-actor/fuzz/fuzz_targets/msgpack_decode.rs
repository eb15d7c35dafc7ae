//! A MessagePack body for a Rust actor: decoding into a message type either works or is a
//! `Serialization` error; no input panics, overflows the stack or allocates what it claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsing_actor::prelude::*;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Cmd {
    Add(i64),
    Name(String),
    Blob(Vec<u8>),
    Many(Vec<u64>),
    Nested(Vec<Cmd>),
    Pairs(std::collections::HashMap<String, Vec<i32>>),
}

fuzz_target!(|data: &[u8]| {
    let m = Message::single(MSGPACK, data.to_vec());
    if let Err(e) = m.unpack::<Cmd>() {
        assert_eq!(e.kind(), Some(RuntimeErrorKind::Serialization));
    }
    let _ = m.unpack::<(String, Vec<Cmd>)>();
});
