//! Small event batches cross to JS inside a slab: one Buffer per 32 KiB of batches, not one
//! per batch.
//!
//! A Buffer of its own for each batch cost a few microseconds at every message of a
//! sequential ask (an allocation, an `ArrayBuffer`, its backing store, and the Buffer
//! prototype set on a new object): as much as decoding the message. The slab is made once,
//! batches are copied into it one after another, and JS is handed the slab with the range
//! of its batch. Nothing in a slab is ever written twice, so a value decoded from a batch
//! may keep a view of it (a small binary does) as long as it likes: the slab lives as long
//! as one of them does, as Node's own Buffer pool does.
//!
//! One slab per JS thread (a JS environment has one thread), kept by a reference that is
//! deleted when the environment is torn down.

use std::cell::RefCell;
use std::ffi::c_void;

use napi::sys;

/// Bytes in a slab.
const SLAB: usize = 32 * 1024;
/// Batches up to this size go into the slab; larger ones get a Buffer of their own.
const SLAB_UP_TO: usize = 4 * 1024;

/// The slab being filled on this thread.
struct Slab {
    env: sys::napi_env,
    buf: sys::napi_ref,
    data: *mut u8,
    used: usize,
}

enum State {
    /// No slab yet, and no cleanup hook.
    Unused,
    /// The hook is registered; the slab, once there is one.
    Open(Option<Slab>),
    /// The environment is being torn down: no more slabs.
    Closed,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State::Unused) };
}

/// Copy `bytes` into this thread's slab: the slab Buffer and where they start in it.
/// `None` when they do not go there (too large, or the environment is going away).
///
/// # Safety
/// `env` must be the current napi environment, on the JS thread.
pub(crate) unsafe fn place(
    env: sys::napi_env,
    bytes: &[u8],
) -> napi::Result<Option<(sys::napi_value, u32)>> {
    if bytes.len() > SLAB_UP_TO {
        return Ok(None);
    }
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        if matches!(*state, State::Unused) {
            // SAFETY: on the JS thread, with its env; the hook takes no data.
            let status = unsafe {
                sys::napi_add_env_cleanup_hook(env, Some(on_teardown), std::ptr::null_mut())
            };
            check(status)?;
            *state = State::Open(None);
        }
        let State::Open(slot) = &mut *state else {
            return Ok(None);
        };
        match slot {
            // A slab of another instance of the addon (its own environment) is not used here.
            Some(s) if s.env != env => return Ok(None),
            Some(s) if s.used + bytes.len() <= SLAB => {}
            _ => {
                // SAFETY: on the JS thread, with its env.
                let fresh = unsafe { Slab::new(env)? };
                if let Some(old) = slot.replace(fresh) {
                    // SAFETY: the old slab was made on this env; views of it keep it alive.
                    unsafe { old.release() };
                }
            }
        }
        let s = slot.as_mut().expect("a slab was just made");
        let start = s.used;
        // SAFETY: `data` points at SLAB bytes that JS never writes (the slab is ours to
        // fill), kept alive by our reference, and `start + len <= SLAB`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), s.data.add(start), bytes.len()) };
        s.used += bytes.len();
        let mut value = std::ptr::null_mut();
        // SAFETY: `s.buf` is a live reference made on this env.
        check(unsafe { sys::napi_get_reference_value(env, s.buf, &mut value) })?;
        Ok(Some((value, start as u32)))
    })
}

impl Slab {
    unsafe fn new(env: sys::napi_env) -> napi::Result<Slab> {
        let mut data = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // SAFETY: the caller is on the JS thread with `env`; out-pointers are ours.
        check(unsafe { sys::napi_create_buffer(env, SLAB, &mut data, &mut value) })?;
        let mut buf = std::ptr::null_mut();
        // SAFETY: `value` was just made on this env.
        check(unsafe { sys::napi_create_reference(env, value, 1, &mut buf) })?;
        Ok(Slab {
            env,
            buf,
            data: data.cast(),
            used: 0,
        })
    }

    /// Let JS collect the slab once no batch view keeps it.
    unsafe fn release(self) {
        // Nothing to do if it fails: the environment is going away and frees it.
        // SAFETY: the caller is on the JS thread of the env that made the reference.
        let _ = unsafe { sys::napi_delete_reference(self.env, self.buf) };
    }
}

/// The environment is torn down: drop the slab while its reference can still be deleted.
unsafe extern "C" fn on_teardown(_: *mut c_void) {
    let slab =
        STATE.with(
            |state| match std::mem::replace(&mut *state.borrow_mut(), State::Closed) {
                State::Open(slab) => slab,
                _ => None,
            },
        );
    if let Some(s) = slab {
        // SAFETY: the teardown hook runs on the env's own thread, before it is gone.
        unsafe { s.release() };
    }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    crate::external::ok(status, "cannot place an event batch in a Buffer")
}
