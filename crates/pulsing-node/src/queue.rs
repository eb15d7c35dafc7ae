//! Queue storage and routing of the core, as JS sees it: the TypeScript writer and reader
//! (`src/queue.ts`) batch and decode; placement and storage stay in the core.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{to_wire, JsWireError};
use crate::system::NativeSystem;

/// What a queue read returned.
#[napi(object)]
pub struct JsQueueGot {
    /// The records, MessagePack each, packed (`u32` little-endian length, then the bytes).
    pub packed: Buffer,
    /// How many records `packed` holds.
    pub count: u32,
    /// The offset after them.
    pub next: f64,
}

#[napi]
impl NativeSystem {
    /// Store the packed records in `bucket` of `queue` on its owner; resolves to the first
    /// one's offset, or to the typed error.
    #[napi]
    pub async fn queue_put(
        &self,
        queue: String,
        bucket: u32,
        packed: Buffer,
    ) -> Either<f64, JsWireError> {
        match self
            .inner
            .queue_put(&queue, bucket, bytes::Bytes::from_owner(packed))
            .await
        {
            Ok(first) => Either::A(first as f64),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// Up to `limit` records of `bucket` of `queue` from `offset`, waiting up to `waitMs`
    /// for one; resolves to them and the next offset, or to the typed error.
    #[napi]
    pub async fn queue_get(
        &self,
        queue: String,
        bucket: u32,
        offset: f64,
        limit: u32,
        wait_ms: u32,
    ) -> Either<JsQueueGot, JsWireError> {
        let wait = Duration::from_millis(wait_ms.into());
        match self
            .inner
            .queue_get(&queue, bucket, offset as u64, limit as usize, wait)
            .await
        {
            Ok((packed, count, next)) => Either::A(JsQueueGot {
                packed: Buffer::from(Vec::<u8>::from(packed)),
                count,
                next: next as f64,
            }),
            Err(e) => Either::B(to_wire(&e)),
        }
    }

    /// The node owning `bucket` of `queue`.
    #[napi]
    pub fn queue_owner(&self, queue: String, bucket: u32) -> String {
        self.inner.queue_owner(&queue, bucket).to_string()
    }
}
