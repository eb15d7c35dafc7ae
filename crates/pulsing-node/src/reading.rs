//! The JS thread reads the connections the runtime lends it
//! ([`pulsing_actor::cluster::ForeignHost::borrow_reads`]): one libuv poll handle per
//! connection on the JS thread's own event loop. A message then wakes the JS thread alone, as
//! a plain Node server's does, instead of a runtime thread that then wakes JS. What the
//! frames make for JS is collected during the read and reaches JS in one batch, called at
//! once from the poll's callback (as Node calls a socket's `data` listeners), not queued on
//! the threadsafe function for another turn of the loop.
//!
//! A poll handle is unreferenced (it never keeps the process alive) and closes itself once
//! the connection is not lent any more; the runtime shuts a closing connection's socket down,
//! so a lent one's poll fires and learns it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use pulsing_actor::cluster::ForeignEvent;
use pulsing_actor::transport::conn::ConnHandle;

use crate::host::{send, Callback, Packer};

// libuv, as Node exports it to addons (napi-sys declares `uv_run` the same way).
extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: Option<unsafe extern "C" fn(*mut c_void)>);
    fn uv_unref(handle: *mut c_void);
    // Node-API 8, which Node 20 has (napi-sys declares them only with its `napi8` feature).
    fn napi_add_async_cleanup_hook(
        env: sys::napi_env,
        hook: unsafe extern "C" fn(*mut c_void, *mut c_void),
        arg: *mut c_void,
        remove_handle: *mut *mut c_void,
    ) -> sys::napi_status;
    fn napi_remove_async_cleanup_hook(remove_handle: *mut c_void) -> sys::napi_status;
}
type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

/// Connections lent since the previous batch. Converted on the JS thread after the
/// batch's events (so those come first), where it starts their polls; JS sees `null`.
#[derive(Default)]
pub struct Lends(Vec<(Arc<ConnHandle>, Arc<Callback>)>);

impl Lends {
    pub(crate) fn add(&mut self, conn: Arc<ConnHandle>, callback: &Arc<Callback>) {
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
                    // SAFETY: `lp` is this thread's loop, `env` its environment.
                    unsafe { start(env, lp, conn, callback) };
                }
            }
        }
        // SAFETY: on the JS thread, with its env (napi calls us there).
        unsafe { Null::to_napi_value(env, Null) }
    }
}

/// What a poll handle reads for.
struct Poll {
    conn: Arc<ConnHandle>,
    callback: Arc<Callback>,
    env: sys::napi_env,
    /// What the callback runs in, for async hooks (async local storage): one per poll,
    /// destroyed as it stops.
    context: sys::napi_async_context,
    /// Its own duplicate of the socket, held open while libuv watches it (until the handle
    /// is closed).
    _sock: std::net::TcpStream,
}

thread_local! {
    /// Connections polled on this thread (by address): each one's poll handle.
    static POLLED: RefCell<HashMap<usize, *mut c_void>> = RefCell::new(HashMap::new());
    /// Poll handles of this thread not yet closed (polling, or closing).
    static OPEN: Cell<usize> = const { Cell::new(0) };
    /// This thread's environment's cleanup (see [`on_cleanup`]).
    static CLEANUP: Cell<Cleanup> = const { Cell::new(Cleanup::None) };
    /// While a poll reads: the events its frames make for its host, by the host's callback.
    static COLLECTING: RefCell<Option<(usize, Vec<ForeignEvent>)>> = const { RefCell::new(None) };
}

/// Where this thread's environment is in its cleanup, for its poll handles.
#[derive(Clone, Copy)]
enum Cleanup {
    /// No poll started yet: no hook.
    None,
    /// A hook closes the polls when the environment is torn down.
    Registered,
    /// Torn down: the polls are closing; the hook is removed (with this handle) once all are
    /// closed. No poll starts any more.
    Closing(*mut c_void),
}

/// The environment of this thread is torn down (a worker terminated, the process ending):
/// its loop must have no handles left, so every poll is closed, and Node waits for that
/// until the hook is removed. A lent connection left unpolled is read by its reader (it
/// sees bytes waiting), as after any stalled borrower.
unsafe extern "C" fn on_cleanup(remove: *mut c_void, _arg: *mut c_void) {
    CLEANUP.with(|c| c.set(Cleanup::Closing(remove)));
    let handles: Vec<*mut c_void> = POLLED.with(|p| p.borrow().values().copied().collect());
    for h in handles {
        // SAFETY: live poll handles of this thread; no JS runs any more, so no async
        // context is destroyed (the environment goes with them).
        unsafe { close(h, false) };
    }
    if OPEN.with(Cell::get) == 0 {
        // SAFETY: the handle this hook was given.
        unsafe { napi_remove_async_cleanup_hook(remove) };
    }
}

fn key<T>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const u8 as usize
}

/// Keep `event` for the batch of the read under way on this thread, if it is for
/// `callback`; otherwise give it back (it goes through the pump).
pub(crate) fn collect(callback: &Arc<Callback>, event: ForeignEvent) -> Option<ForeignEvent> {
    COLLECTING.with(|c| match &mut *c.borrow_mut() {
        Some((k, evs)) if *k == key(callback) => {
            evs.push(event);
            None
        }
        _ => Some(event),
    })
}

/// Start polling `conn` on loop `lp` (unless it already is, or is not lent any more).
unsafe fn start(
    env: sys::napi_env,
    lp: *mut sys::uv_loop_s,
    conn: Arc<ConnHandle>,
    callback: Arc<Callback>,
) {
    if POLLED.with(|p| p.borrow().contains_key(&key(&conn))) {
        return;
    }
    match CLEANUP.with(Cell::get) {
        Cleanup::Closing(_) => return,
        Cleanup::Registered => {}
        Cleanup::None => {
            let mut remove = std::ptr::null_mut();
            // SAFETY: on the JS thread, with its env.
            let ok = unsafe {
                napi_add_async_cleanup_hook(env, on_cleanup, std::ptr::null_mut(), &mut remove)
            } == sys::Status::napi_ok;
            if !ok {
                // Without the hook a poll would outlive its loop: the reader reads.
                return;
            }
            CLEANUP.with(|c| c.set(Cleanup::Registered));
        }
    }
    let Some(sock) = conn.lent_socket() else {
        return;
    };
    // SAFETY: on the JS thread, with its env.
    let Some(context) = (unsafe { async_context(env) }) else {
        return;
    };
    let fd = sock.as_raw_fd();
    let handle = alloc_handle();
    // SAFETY: a fresh, zeroed handle of the size libuv asks; the loop is this thread's.
    if unsafe { uv_poll_init(lp, handle, fd) } != 0 {
        // The reader sees the bytes left waiting and reads them itself.
        tracing::debug!(conn = conn.id, "cannot poll a lent connection");
        // SAFETY: the context was made above on this env; libuv never took the handle.
        unsafe {
            sys::napi_async_destroy(env, context);
            free_handle(handle);
        }
        return;
    }
    POLLED.with(|p| p.borrow_mut().insert(key(&conn), handle));
    OPEN.with(|o| o.set(o.get() + 1));
    let poll = Box::into_raw(Box::new(Poll {
        conn,
        callback,
        env,
        context,
        _sock: sock,
    }));
    // SAFETY: `data` is the first field of every libuv handle.
    unsafe {
        *(handle as *mut *mut c_void) = poll as *mut c_void;
        uv_unref(handle);
        if uv_poll_start(handle, UV_READABLE, on_readable) != 0 {
            close(handle, true);
        }
    }
}

unsafe extern "C" fn on_readable(handle: *mut c_void, status: c_int, _events: c_int) {
    // SAFETY: set in `start`, freed only in `on_closed`.
    let poll = unsafe { &*(*(handle as *mut *mut Poll)) };
    // libuv reports a socket error (a peer that reset the connection) as a negative status
    // and stops the poll: the turn still runs, so its read meets the error and gives the
    // reading back to the connection's reader, which closes it and fails its calls now.
    let keep = read(poll) && status >= 0;
    if !keep {
        // SAFETY: our handle, on its loop's thread; `close` frees it once libuv is done.
        unsafe { close(handle, true) };
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
        // SAFETY: on the JS thread (a libuv callback), with the env the poll started in.
        if let Some(batch) = unsafe { call(poll, batch) } {
            // No scope to call JS in: through the threadsafe function, as from elsewhere.
            let _ = send(&poll.callback, batch);
        }
    }
    keep
}

/// An async context for the callback, as `napi_make_callback` wants (resource `{}`).
unsafe fn async_context(env: sys::napi_env) -> Option<sys::napi_async_context> {
    let mut name = std::ptr::null_mut();
    let mut out = std::ptr::null_mut();
    // SAFETY: on the JS thread, with its env.
    unsafe {
        (sys::napi_create_string_utf8(env, c"pulsing:read".as_ptr(), 12, &mut name)
            == sys::Status::napi_ok
            && sys::napi_async_init(env, std::ptr::null_mut(), name, &mut out)
                == sys::Status::napi_ok)
            .then_some(out)
    }
}

/// Call the JS callback with `batch` now, from a libuv callback: in a handle scope, through
/// `napi_make_callback` (which then runs the microtasks and ticks the call queued, as after
/// any event). A callback that throws is an uncaught exception, as from a threadsafe call.
/// The batch comes back when JS cannot be called from here.
unsafe fn call(poll: &Poll, batch: Packer) -> Option<Packer> {
    let env = poll.env;
    let mut scope = std::ptr::null_mut();
    // SAFETY: on the JS thread, with its env; the scope is closed below.
    if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
        return Some(batch);
    }
    let e = Env::from_raw(env);
    let made = poll.callback.func.borrow_back(&e).and_then(|func| {
        // Made in the scope opened above.
        let argv = batch.finish().into_vec(env)?;
        let mut recv = std::ptr::null_mut();
        let mut result = std::ptr::null_mut();
        // SAFETY: as above; `poll.context` lives as long as the poll.
        unsafe {
            // An object (`napi_make_callback` converts it): the global, as for a plain call.
            sys::napi_get_global(env, &mut recv);
            let status = sys::napi_make_callback(
                env,
                poll.context,
                recv,
                func.value().value,
                argv.len(),
                argv.as_ptr(),
                &mut result,
            );
            if status == sys::Status::napi_pending_exception {
                let mut err = std::ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut err);
                sys::napi_fatal_exception(env, err);
            }
        }
        Ok(())
    });
    if let Err(err) = made {
        // Only while the environment is going away: nothing can receive events any more.
        tracing::debug!("events of a lent connection not delivered: {err}");
    }
    // SAFETY: the scope opened above.
    unsafe { sys::napi_close_handle_scope(env, scope) };
    None
}

/// Stop polling and close a live poll handle of this thread (once); `destroy_context` while
/// JS may still run (the context is the environment's, and goes with it otherwise).
unsafe fn close(handle: *mut c_void, destroy_context: bool) {
    // SAFETY: a live poll handle of this thread.
    unsafe {
        let poll = &*(*(handle as *mut *mut Poll));
        POLLED.with(|p| p.borrow_mut().remove(&key(&poll.conn)));
        // Here, not in `on_closed`, which may run as the environment is torn down.
        let mut scope = std::ptr::null_mut();
        if destroy_context
            && sys::napi_open_handle_scope(poll.env, &mut scope) == sys::Status::napi_ok
        {
            sys::napi_async_destroy(poll.env, poll.context);
            sys::napi_close_handle_scope(poll.env, scope);
        }
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
    let open = OPEN.with(|o| {
        o.set(o.get() - 1);
        o.get()
    });
    if let (0, Cleanup::Closing(remove)) = (open, CLEANUP.with(Cell::get)) {
        // The last poll of a torn-down environment: Node may close its loop now.
        // SAFETY: the handle `on_cleanup` was given.
        unsafe { napi_remove_async_cleanup_hook(remove) };
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
