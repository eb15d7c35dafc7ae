//! Large received parts become JS Buffers without a copy, and their memory is freed off the
//! JS thread.
//!
//! A Buffer over Rust memory is freed by its finalizer, which Node runs on the JS thread.
//! A 64 MiB allocation is its own mapping, and unmapping it took 6 to 20 ms on the 2-core
//! machine the benches run on: the JS thread stopped for that long after each large
//! message was collected, and every call to that node waited. Parts from
//! 1 MiB up are therefore handed to a thread that only frees memory.

use std::sync::mpsc;
use std::sync::OnceLock;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;

/// Parts this large are freed on the freeing thread; smaller ones are cheap to free here.
const OFF_THREAD_FROM: usize = 1 << 20;

/// Bytes that cross to JS as an external Buffer (no copy).
pub struct ExternalBytes(pub Vec<u8>);

impl From<bytes::Bytes> for ExternalBytes {
    /// Takes over the allocation when `b` is its only owner (a part read from the socket).
    fn from(b: bytes::Bytes) -> Self {
        ExternalBytes(Vec::from(b))
    }
}

impl TypeName for ExternalBytes {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for ExternalBytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut out = std::ptr::null_mut();
        let v = val.0;
        if v.is_empty() {
            // SAFETY: napi calls us with the current env, on the JS thread.
            let status = unsafe { sys::napi_create_buffer(env, 0, std::ptr::null_mut(), &mut out) };
            return check(status, out);
        }
        let (ptr, len) = (v.as_ptr(), v.len());
        let hint = Box::into_raw(Box::new(v));
        // SAFETY: the bytes stay where they are (their Vec is boxed in `hint`) until
        // `finalize` frees them, which Node calls once, after the Buffer is collected.
        let status = unsafe {
            sys::napi_create_external_buffer(
                env,
                len,
                ptr as *mut _,
                Some(finalize),
                hint.cast(),
                &mut out,
            )
        };
        if status == sys::Status::napi_no_external_buffers_allowed {
            // A runtime without external buffers (Electron): a copy, and ours is freed now.
            // SAFETY: Node refused the buffer, so `finalize` never runs: `hint` is ours again.
            let v = unsafe { Box::from_raw(hint) };
            // SAFETY: the current env, on the JS thread.
            return unsafe { copy(env, &v) };
        }
        check(status, out)
    }
}

/// A batch of records up to this size crosses as a copy (see [`CopiedBytes`]).
const COPY_UP_TO: usize = 256 * 1024;

/// Bytes that cross to JS as a copy in a Buffer of their own, when small: a copy of a few
/// hundred bytes costs less than an external Buffer, whose finalizer Node tracks with a weak
/// handle and runs later on the JS thread. Larger ones cross as [`ExternalBytes`].
pub struct CopiedBytes(pub Vec<u8>);

impl TypeName for CopiedBytes {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for CopiedBytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY (both): napi calls us with the current env, on the JS thread.
        if val.0.len() > COPY_UP_TO {
            return unsafe { ExternalBytes::to_napi_value(env, ExternalBytes(val.0)) };
        }
        unsafe { copy(env, &val.0) }
    }
}

/// A JS Buffer of its own holding a copy of `bytes`.
///
/// # Safety
/// `env` must be the current napi environment, on the JS thread.
unsafe fn copy(env: sys::napi_env, bytes: &[u8]) -> napi::Result<sys::napi_value> {
    let mut out = std::ptr::null_mut();
    // SAFETY: the caller's env; Node copies `bytes` before returning.
    let status = unsafe {
        sys::napi_create_buffer_copy(
            env,
            bytes.len(),
            bytes.as_ptr().cast(),
            std::ptr::null_mut(),
            &mut out,
        )
    };
    check(status, out)
}

fn check(status: sys::napi_status, out: sys::napi_value) -> napi::Result<sys::napi_value> {
    ok(status, "could not create a Buffer for a received part").map(|()| out)
}

/// A napi call's status as a result; `what` says what failed.
pub(crate) fn ok(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), what))
    }
}

unsafe extern "C" fn finalize(
    _env: sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the box made in `to_napi_value`; Node finalizes a Buffer once.
    let v = unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) };
    free(*v);
}

/// Free `v`: large ones on the freeing thread, the rest (or all, without that thread) here.
fn free(v: Vec<u8>) {
    if v.capacity() < OFF_THREAD_FROM {
        return; // dropped here
    }
    static FREER: OnceLock<Option<mpsc::Sender<Vec<u8>>>> = OnceLock::new();
    let freer = FREER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("pulsing-free".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .map_err(|e| {
                tracing::warn!("no freeing thread, large parts are freed on the JS thread: {e}")
            })
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = freer {
        // The thread lives as long as the process; should it be gone, `v` is dropped here.
        let _ = tx.send(v);
    }
}
