//! The JS thread reads the connections the runtime lends it
//! ([`pulsing_actor::cluster::ForeignHost::borrow_reads`]): one libuv poll handle per
//! connection on the JS thread's own event loop. A message then wakes the JS thread alone, as
//! a plain Node server's does, instead of a runtime thread that then wakes JS. What the
//! frames make for JS is collected during the read and reaches JS in one batch.
//!
//! A poll handle is unreferenced (it never keeps the process alive) and closes itself once
//! the connection is not lent any more; the runtime shuts a closing connection's socket down,
//! so a lent one's poll fires and learns it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use pulsing_actor::cluster::ForeignEvent;
use pulsing_actor::transport::conn::ConnHandle;

use crate::host::{send, EventCallback, Packer};

// libuv, as Node exports it to addons (napi-sys declares `uv_run` the same way).
extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: Option<unsafe extern "C" fn(*mut c_void)>);
    fn uv_unref(handle: *mut c_void);
}
type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

/// Connections lent since the previous batch. Converted on the JS thread after the
/// batch's events (so those come first), where it starts their polls; JS sees `null`.
#[derive(Default)]
pub struct Lends(Vec<(Arc<ConnHandle>, Arc<EventCallback>)>);

impl Lends {
    pub(crate) fn add(&mut self, conn: Arc<ConnHandle>, callback: &Arc<EventCallback>) {
        self.0.push((conn, callback.clone()));
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TypeName for Lends {
    fn type_name() -> &'static str {
        "null"
    }
    fn value_type() -> ValueType {
        ValueType::Null
    }
}

impl ToNapiValue for Lends {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        if !val.0.is_empty() {
            let mut lp = std::ptr::null_mut();
            // SAFETY: on the JS thread, with its env.
            if unsafe { sys::napi_get_uv_event_loop(env, &mut lp) } == sys::Status::napi_ok {
                for (conn, callback) in val.0 {
                    // SAFETY: `lp` is this thread's loop.
                    unsafe { start(lp, conn, callback) };
                }
            }
        }
        unsafe { Null::to_napi_value(env, Null) }
    }
}

/// What a poll handle reads for.
struct Poll {
    conn: Arc<ConnHandle>,
    callback: Arc<EventCallback>,
    /// Its own duplicate of the socket, held open while libuv watches it (until the handle
    /// is closed).
    _sock: std::net::TcpStream,
}

thread_local! {
    /// Connections polled on this thread (by address): one poll each.
    static POLLED: RefCell<HashSet<usize>> = RefCell::new(HashSet::new());
    /// While a poll reads: the events its frames make for its host, by the host's callback.
    static COLLECTING: RefCell<Option<(usize, Vec<ForeignEvent>)>> = const { RefCell::new(None) };
}

fn key<T>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const u8 as usize
}

/// Keep `event` for the batch of the read under way on this thread, if it is for
/// `callback`; otherwise give it back (it goes through the pump).
pub(crate) fn collect(callback: &Arc<EventCallback>, event: ForeignEvent) -> Option<ForeignEvent> {
    COLLECTING.with(|c| match &mut *c.borrow_mut() {
        Some((k, evs)) if *k == key(callback) => {
            evs.push(event);
            None
        }
        _ => Some(event),
    })
}

/// Start polling `conn` on loop `lp` (unless it already is, or is not lent any more).
unsafe fn start(lp: *mut sys::uv_loop_s, conn: Arc<ConnHandle>, callback: Arc<EventCallback>) {
    if POLLED.with(|p| p.borrow().contains(&key(&conn))) {
        return;
    }
    let Some(sock) = conn.lent_socket() else {
        return;
    };
    let fd = sock.as_raw_fd();
    let handle = alloc_handle();
    // SAFETY: a fresh, zeroed handle of the size libuv asks; the loop is this thread's.
    if unsafe { uv_poll_init(lp, handle, fd) } != 0 {
        // The reader sees the bytes left waiting and reads them itself.
        tracing::debug!(conn = conn.id, "cannot poll a lent connection");
        unsafe { free_handle(handle) };
        return;
    }
    POLLED.with(|p| p.borrow_mut().insert(key(&conn)));
    let poll = Box::into_raw(Box::new(Poll {
        conn,
        callback,
        _sock: sock,
    }));
    // SAFETY: `data` is the first field of every libuv handle.
    unsafe {
        *(handle as *mut *mut c_void) = poll as *mut c_void;
        uv_unref(handle);
        if uv_poll_start(handle, UV_READABLE, on_readable) != 0 {
            stop(handle);
        }
    }
}

unsafe extern "C" fn on_readable(handle: *mut c_void, status: c_int, _events: c_int) {
    // SAFETY: set in `start`, freed only in `on_closed`.
    let poll = unsafe { &*(*(handle as *mut *mut Poll)) };
    let keep = status >= 0 && read(poll);
    if !keep {
        unsafe { stop(handle) };
    }
}

/// One read of a lent connection; what it makes for JS goes there in one batch.
fn read(poll: &Poll) -> bool {
    COLLECTING.with(|c| *c.borrow_mut() = Some((key(&poll.callback), Vec::new())));
    let keep = poll.conn.read_lent();
    let events = COLLECTING
        .with(|c| c.borrow_mut().take())
        .map(|(_, e)| e)
        .unwrap_or_default();
    if !events.is_empty() {
        let mut batch = Packer::default();
        for ev in events {
            batch.push(ev);
        }
        send(&poll.callback, batch);
    }
    keep
}

unsafe fn stop(handle: *mut c_void) {
    // SAFETY: a live poll handle of this thread.
    unsafe {
        let poll = &*(*(handle as *mut *mut Poll));
        POLLED.with(|p| p.borrow_mut().remove(&key(&poll.conn)));
        uv_poll_stop(handle);
        uv_close(handle, Some(on_closed));
    }
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: libuv is done with the handle; its data was boxed in `start`.
    unsafe {
        drop(Box::from_raw(*(handle as *mut *mut Poll)));
        free_handle(handle);
    }
}

fn layout() -> std::alloc::Layout {
    // SAFETY: a plain query of a constant.
    let size = unsafe { uv_handle_size(UV_POLL) };
    std::alloc::Layout::from_size_align(size.max(64), 16).expect("a valid layout")
}

fn alloc_handle() -> *mut c_void {
    // SAFETY: a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout()) };
    if p.is_null() {
        std::alloc::handle_alloc_error(layout());
    }
    p as *mut c_void
}

unsafe fn free_handle(handle: *mut c_void) {
    // SAFETY: allocated by `alloc_handle` with the same layout.
    unsafe { std::alloc::dealloc(handle as *mut u8, layout()) }
}
