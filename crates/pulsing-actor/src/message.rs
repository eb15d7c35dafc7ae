//! Messages: opaque bytes tagged with a type name, or a stream of messages.
//!
//! `pack`/`unpack` use bincode for Rust-to-Rust traffic; `single(type, bytes)` carries any
//! other encoding. MessagePack (the tag [`MSGPACK`]) is what TypeScript actors speak:
//! `unpack` decodes it into serde types too, [`Message::msgpack`] answers a TS caller, and
//! [`Message::call`] calls a method of a TS actor (`[method, args]`).

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{PulsingError, RuntimeErrorKind};

/// Type tag of MessagePack bodies (TypeScript actors and callers).
pub use crate::protocol::MSGPACK;

/// A boxed stream of messages, as returned by a streaming actor.
pub type MessageStream = Pin<Box<dyn Stream<Item = Result<Message, PulsingError>> + Send>>;

/// A message: one typed payload, or a stream of them.
pub enum Message {
    /// One payload: a type tag (for versioning and codec selection) and its bytes.
    Single {
        /// The codec of `data` ([`MSGPACK`] for TypeScript peers).
        msg_type: String,
        /// The encoded value.
        data: Bytes,
    },
    /// A stream of messages; dropping it cancels the producer (best effort).
    Stream(MessageStream),
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Nesting depth a MessagePack body may have (the TypeScript codec enforces the same kind
/// of bound before decoding).
const MAX_DEPTH: usize = 128;

/// Decoding is bounded like a frame body: a length prefix cannot claim more than this.
fn bincode_decode_config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ 256 * 1024 * 1024 }>,
> {
    bincode::config::standard().with_limit::<{ 256 * 1024 * 1024 }>()
}

/// A serde value as MessagePack with field names (what the node's own services answer).
pub(crate) fn to_msgpack<T: Serialize>(value: &T) -> Result<Bytes, PulsingError> {
    rmp_serde::to_vec_named(value)
        .map(Bytes::from)
        .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
}

impl Message {
    /// Encode a serde value with bincode; the type tag is the value's type name.
    pub fn pack<T: Serialize>(value: &T) -> anyhow::Result<Message> {
        let data = bincode::serde::encode_to_vec(value, bincode_config())?;
        Ok(Message::Single {
            msg_type: short_type_name::<T>().to_string(),
            data: Bytes::from(data),
        })
    }

    /// Encode a serde value as MessagePack with field names, so a struct arrives in
    /// TypeScript as a plain object. Use it to answer TS callers.
    pub fn msgpack<T: Serialize>(value: &T) -> anyhow::Result<Message> {
        Ok(Message::Single {
            msg_type: MSGPACK.to_string(),
            data: Bytes::from(rmp_serde::to_vec_named(value)?),
        })
    }

    /// A call of `method` on a TypeScript actor: MessagePack `[method, args]`, where `args`
    /// serialises as a sequence (a tuple or a `Vec`).
    pub fn call<A: Serialize>(method: &str, args: A) -> anyhow::Result<Message> {
        Message::msgpack(&(method, args))
    }

    /// A message with an explicit type tag and already-encoded bytes.
    pub fn single(msg_type: impl Into<String>, data: impl Into<Bytes>) -> Message {
        Message::Single {
            msg_type: msg_type.into(),
            data: data.into(),
        }
    }

    /// A streaming message from any stream of message results.
    pub fn stream<S>(stream: S) -> Message
    where
        S: Stream<Item = Result<Message, PulsingError>> + Send + 'static,
    {
        Message::Stream(Box::pin(stream))
    }

    /// A streaming message whose items are packed from serde values.
    pub fn stream_of<T, S>(items: S) -> Message
    where
        T: Serialize,
        S: Stream<Item = T> + Send + 'static,
    {
        Message::stream(items.map(|v| {
            Message::pack(&v)
                .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))
        }))
    }

    /// Decode a single message: MessagePack when tagged [`MSGPACK`] (from TypeScript),
    /// bincode otherwise (packed with [`Message::pack`]).
    pub fn unpack<T: DeserializeOwned>(&self) -> Result<T, PulsingError> {
        match self {
            Message::Single { msg_type, data } if msg_type == MSGPACK => {
                let mut de = rmp_serde::Deserializer::from_read_ref(data.as_ref());
                // Deep enough for any real value, shallow enough for a debug-build stack.
                de.set_max_depth(MAX_DEPTH);
                T::deserialize(&mut de).map_err(|e| {
                    PulsingError::runtime(
                        RuntimeErrorKind::Serialization,
                        format!(
                            "cannot decode MessagePack as {}: {e}",
                            short_type_name::<T>()
                        ),
                    )
                })
            }
            Message::Single { data, .. } => {
                bincode::serde::decode_from_slice(data, bincode_decode_config())
                    .map(|(v, _)| v)
                    .map_err(|e| {
                        PulsingError::runtime(
                            RuntimeErrorKind::Serialization,
                            format!("cannot decode {}: {e}", short_type_name::<T>()),
                        )
                    })
            }
            Message::Stream(_) => Err(PulsingError::runtime(
                RuntimeErrorKind::Serialization,
                "expected a single message, got a stream",
            )),
        }
    }

    /// The type tag of a single message (`None` for a stream).
    pub fn msg_type(&self) -> Option<&str> {
        match self {
            Message::Single { msg_type, .. } => Some(msg_type),
            Message::Stream(_) => None,
        }
    }

    /// The stream of a streaming message, or an error for a single one.
    pub fn into_stream(self) -> Result<MessageStream, PulsingError> {
        match self {
            Message::Stream(s) => Ok(s),
            Message::Single { .. } => Err(PulsingError::runtime(
                RuntimeErrorKind::Serialization,
                "expected a stream, got a single message",
            )),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Single { msg_type, data } => f
                .debug_struct("Single")
                .field("msg_type", msg_type)
                .field("len", &data.len())
                .finish(),
            Message::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    // Keep the last path segment of the outer type: tags stay stable across module moves.
    let outer = full.split('<').next().unwrap_or(full);
    outer.rsplit("::").next().unwrap_or(outer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Ping {
        n: i32,
        s: String,
    }

    #[test]
    fn pack_unpack_round_trip_and_tag() {
        let m = Message::pack(&Ping {
            n: 7,
            s: "x".into(),
        })
        .unwrap();
        assert_eq!(m.msg_type(), Some("Ping"));
        assert_eq!(
            m.unpack::<Ping>().unwrap(),
            Ping {
                n: 7,
                s: "x".into()
            }
        );
    }

    #[test]
    fn msgpack_round_trip_with_field_names() {
        let m = Message::msgpack(&Ping {
            n: 3,
            s: "y".into(),
        })
        .unwrap();
        assert_eq!(m.msg_type(), Some(MSGPACK));
        assert_eq!(
            m.unpack::<Ping>().unwrap(),
            Ping {
                n: 3,
                s: "y".into()
            }
        );
        let Message::Single { data, .. } = &m else {
            unreachable!()
        };
        // A map with field names: what a TS peer decodes as `{ n: 3, s: 'y' }`.
        assert_eq!(data[0], 0x82);
        let call = Message::call("mul", (6, 7)).unwrap();
        let (method, args): (String, (i32, i32)) = call.unpack().unwrap();
        assert_eq!((method.as_str(), args), ("mul", (6, 7)));
    }

    /// A value nested as deep as its bytes allow.
    #[derive(Deserialize, Debug)]
    struct Deep(#[allow(dead_code)] Vec<Deep>);

    #[test]
    fn hostile_bodies_are_errors_not_crashes() {
        // 100k nested one-element arrays: a depth limit, not a stack overflow.
        let deep = Message::single(MSGPACK, vec![0x91; 100_000]);
        let err = deep.unpack::<Deep>().unwrap_err();
        assert_eq!(err.kind(), Some(RuntimeErrorKind::Serialization));
        // An array announcing 2^32-1 elements in 5 bytes: nothing is allocated for them.
        let liar = Message::single(MSGPACK, vec![0xdd, 0xff, 0xff, 0xff, 0xff]);
        assert!(liar.unpack::<Vec<u64>>().is_err());
        // The same lie in bincode.
        let mut b = vec![253u8];
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(Message::single("Vec", b).unpack::<Vec<u64>>().is_err());
    }

    #[test]
    fn unpack_wrong_type_is_serialization_error() {
        let m = Message::single("Raw", vec![0xff, 0xff, 0xff]);
        let err = m.unpack::<Ping>().unwrap_err();
        assert_eq!(err.kind(), Some(RuntimeErrorKind::Serialization));
    }
}
