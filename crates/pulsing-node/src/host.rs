//! The foreign host: delivers transport events for TypeScript actors to JS in batches.
//!
//! One weak ThreadsafeFunction per system: events are packed as they come, by the thread
//! that has them (a connection's reader, mostly), into the batch being filled; the first
//! event of a batch wakes a pump task, which takes everything packed by the time it runs and
//! wakes JS once for it, never once per message. Packed at once rather than queued for the
//! pump: no channel hop per event (remote tells/s +14%). The function is weak, so it never
//! keeps the process alive.
//!
//! A batch crosses as one packed buffer (records, small bodies inside), not as one JS object
//! and one Buffer per event: the JS side reads the records itself, which costs far less
//! than napi building objects. Record layout (little-endian), one per event:
//! `u8 kind` (0 ask, 1 tell, 2 credit, 3 cancel, 4 reply, 5 item, 6 end, 7 error, 8 closed,
//! 9 nodeDown, 10 items), `u32 conn`, `f64 req`, `f64 local`, `u32 n`, `u16 node` and `u16 name`
//! (1 + index into `strings`, 0 for none), `u32 error` (1 + index into `errors`, 0 for
//! none), `u16 trace` (the request's W3C `traceparent`: 1 + index into `strings`), the body (`u8 0, u32 len, bytes` inline, or `u8 1, u32 index` into `parts`),
//! then `u16 count` and `count × u32` attachment indices into `parts`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use pulsing_actor::cluster::{ForeignEvent, ForeignHost};
use pulsing_actor::prelude::NodeId;
use tokio::sync::Notify;

use crate::convert::JsWireError;
use crate::external::{CopiedBytes, ExternalBytes};
use crate::reading::{self, Lends};
use crate::slab;
use pulsing_actor::transport::conn::ConnHandle;
use pulsing_actor::transport::Header;

/// Events per batch at most.
const MAX_BATCH: usize = 4096;
/// A record's bytes before its body's, and after: kind to trace, the body's tag and length,
/// the attachment count.
const RECORD_HEAD: usize = 35 + 5 + 2;
/// Bodies up to this size are copied into the packed buffer; larger ones cross on their own.
const INLINE_BODY: usize = 64 * 1024;

/// One packed batch of events, as the callback's arguments: the records (small bodies
/// inside) as `packed[start, end)` (a small batch in this thread's slab, see
/// [`crate::slab`]), the large bodies and attachments (`null` when none), the node ids and
/// names the records refer to, and their errors (`null` when none). Arguments, not an
/// object: napi would build the object property by property on every batch. The last,
/// always `null` for JS, starts reading connections lent since the previous batch on the
/// JS thread (see [`crate::reading`]), after the events before them.
pub struct EventBatch {
    packed: Vec<u8>,
    parts: Option<Vec<ExternalBytes>>,
    strings: Vec<String>,
    errors: Option<Vec<JsWireError>>,
    lends: Lends,
}

impl JsValuesTupleIntoVec for EventBatch {
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    fn into_vec(self, env: sys::napi_env) -> napi::Result<Vec<sys::napi_value>> {
        let len = self.packed.len() as u32;
        // SAFETY (all): napi calls this with the current environment, on the JS thread.
        let (packed, start) = match unsafe { slab::place(env, &self.packed)? } {
            Some(placed) => placed,
            None => (
                unsafe { CopiedBytes::to_napi_value(env, CopiedBytes(self.packed))? },
                0,
            ),
        };
        unsafe {
            Ok(vec![
                packed,
                u32::to_napi_value(env, start)?,
                u32::to_napi_value(env, start + len)?,
                Option::to_napi_value(env, self.parts)?,
                Vec::to_napi_value(env, self.strings)?,
                Option::to_napi_value(env, self.errors)?,
                Lends::to_napi_value(env, self.lends)?,
            ])
        }
    }
}

/// The JS callback, as other threads call it: one packed batch of events at a time.
pub type EventCallback =
    ThreadsafeFunction<EventBatch, Unknown<'static>, EventBatch, Status, false, true>;

/// The JS callback, both ways: through the threadsafe function from any thread, and called
/// at once on the JS thread where that thread reads a lent connection (see
/// [`crate::reading`]), which spares each message a loop turn and three system calls.
pub struct Callback {
    pub(crate) tsfn: EventCallback,
    pub(crate) func: FunctionRef<EventBatch, Unknown<'static>>,
}

impl Callback {
    /// The callback `f` (on the JS thread).
    pub fn new(f: &Function<'_, EventBatch, Unknown<'static>>) -> napi::Result<Self> {
        Ok(Self {
            tsfn: f
                .build_threadsafe_function::<EventBatch>()
                .weak::<true>()
                .callee_handled::<false>()
                .build()?,
            func: f.create_ref()?,
        })
    }
}

/// Packs events into the batch being filled, for the pump; on the JS thread, while it reads
/// a lent connection, they are collected there instead and go to JS without leaving the
/// thread.
pub struct JsHost {
    filling: Arc<Filling>,
}

/// The batch being filled, shared by the threads that deliver and the pump.
struct Filling {
    batch: Mutex<Packer>,
    callback: Arc<Callback>,
    /// Told when an event lands in an empty batch (a permit waits if the pump is busy).
    ready: Notify,
    /// The pump stops (or has): the host was dropped, or the environment is going away.
    stopped: AtomicBool,
}

impl Filling {
    /// Add to the batch with `add`; the first addition to an empty batch wakes the pump, and
    /// a full batch leaves at once (a long burst reaches JS in pieces it can interleave with
    /// its other work, and the batch stays bounded).
    fn add(&self, add: impl FnOnce(&mut Packer)) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return false;
        }
        let mut batch = self.lock();
        let first = batch.is_empty();
        add(&mut batch);
        if batch.records >= MAX_BATCH {
            self.send(&mut batch);
        }
        drop(batch);
        if first {
            self.ready.notify_one();
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Packer> {
        self.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send what `batch` holds, under its lock: batches reach JS in the order they were filled.
    fn send(&self, batch: &mut Packer) {
        if !batch.is_empty() && !send(&self.callback, std::mem::take(batch)) {
            // The environment is going away: nothing can receive events any more (and the
            // pump, woken, ends).
            self.stopped.store(true, Ordering::Relaxed);
            self.ready.notify_one();
        }
    }
}

impl JsHost {
    /// Start the pump that calls `callback` with batches.
    pub fn start(callback: Callback) -> Self {
        let filling = Arc::new(Filling {
            batch: Mutex::new(Packer::default()),
            callback: Arc::new(callback),
            ready: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        let f = filling.clone();
        napi::bindgen_prelude::spawn(async move {
            loop {
                f.ready.notified().await;
                f.send(&mut f.lock());
                if f.stopped.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
        Self { filling }
    }
}

impl Drop for JsHost {
    /// The system is done with its host: the pump sends what is packed, then ends (and
    /// releases the callback).
    fn drop(&mut self) {
        self.filling.stopped.store(true, Ordering::Relaxed);
        self.filling.ready.notify_one();
    }
}

/// Call JS with a batch (from any thread); false once the environment is going away.
pub(crate) fn send(callback: &Callback, batch: Packer) -> bool {
    callback
        .tsfn
        .call(batch.finish(), ThreadsafeFunctionCallMode::NonBlocking)
        == Status::Ok
}

impl ForeignHost for JsHost {
    fn deliver(&self, event: ForeignEvent) {
        if let Some(event) = reading::collect(&self.filling.callback, event) {
            self.filling.add(|b| b.push(event));
        }
    }
    fn borrow_reads(&self, conn: &Arc<ConnHandle>) -> bool {
        let callback = &self.filling.callback;
        self.filling.add(|b| b.lends.add(conn.clone(), callback))
    }
}

/// One batch being packed.
#[derive(Default)]
pub(crate) struct Packer {
    lends: Lends,
    records: usize,
    packed: Vec<u8>,
    parts: Vec<ExternalBytes>,
    strings: Vec<String>,
    nodes: HashMap<NodeId, u16>,
    names: HashMap<String, u16>,
    errors: Vec<JsWireError>,
}

struct Record {
    kind: u8,
    conn: u32,
    req: u64,
    local: u64,
    n: u32,
    node: Option<NodeId>,
    name: Option<String>,
    error: Option<JsWireError>,
    trace: Option<String>,
    body: bytes::Bytes,
    attachments: Vec<bytes::Bytes>,
}

impl Record {
    fn new(kind: u8) -> Record {
        Record {
            kind,
            conn: 0,
            req: 0,
            local: 0,
            n: 0,
            node: None,
            name: None,
            error: None,
            trace: None,
            body: bytes::Bytes::new(),
            attachments: Vec::new(),
        }
    }
}

impl Packer {
    fn is_empty(&self) -> bool {
        self.packed.is_empty() && self.lends.is_empty()
    }

    pub(crate) fn push(&mut self, ev: ForeignEvent) {
        let r = match ev {
            ForeignEvent::NodeDown(node) => Record {
                node: Some(node),
                ..Record::new(9)
            },
            ForeignEvent::ConnClosed(conn) => Record {
                conn,
                ..Record::new(8)
            },
            ForeignEvent::Request {
                conn,
                header,
                local,
                name,
                body,
                attachments,
            } => {
                let (kind, req, n, trace) = match header {
                    Header::Ask { req, trace, .. } => (0, req, 0, trace),
                    Header::Tell { trace, .. } => (1, 0, 0, trace),
                    Header::Credit { req, n } => (2, req, n, None),
                    Header::Cancel { req } => (3, req, 0, None),
                    _ => return,
                };
                Record {
                    conn,
                    req,
                    local,
                    n,
                    name,
                    trace,
                    body,
                    attachments,
                    ..Record::new(kind)
                }
            }
            ForeignEvent::Response {
                conn,
                node,
                header,
                body,
                attachments,
            } => {
                let (kind, req, error) = match header {
                    Header::Reply { req, .. } => (4, req, None),
                    Header::StreamItem { req, .. } => (5, req, None),
                    Header::StreamEnd { req, .. } => (6, req, None),
                    Header::StreamItems { req, .. } => (10, req, None),
                    Header::Error { req, error } => (7, req, Some(JsWireError::from(*error))),
                    _ => return,
                };
                Record {
                    conn,
                    req,
                    node,
                    error,
                    body,
                    attachments,
                    ..Record::new(kind)
                }
            }
        };
        self.record(r);
    }

    fn record(&mut self, r: Record) {
        let node = r.node.map(|n| self.node(n)).unwrap_or(0);
        let name = r.name.map(|n| self.name(n)).unwrap_or(0);
        let error = match r.error {
            Some(e) => {
                self.errors.push(e);
                self.errors.len() as u32
            }
            None => 0,
        };
        let trace = match r.trace {
            Some(t) => {
                self.strings.push(t);
                self.strings.len() as u16
            }
            None => 0,
        };
        self.records += 1;
        // Room for the whole record at once: a batch of one event is one allocation.
        let inline = if r.body.len() <= INLINE_BODY {
            r.body.len()
        } else {
            0
        };
        self.packed
            .reserve(RECORD_HEAD + inline + 4 * r.attachments.len());
        let p = &mut self.packed;
        p.push(r.kind);
        p.extend_from_slice(&r.conn.to_le_bytes());
        p.extend_from_slice(&(r.req as f64).to_le_bytes());
        p.extend_from_slice(&(r.local as f64).to_le_bytes());
        p.extend_from_slice(&r.n.to_le_bytes());
        p.extend_from_slice(&node.to_le_bytes());
        p.extend_from_slice(&name.to_le_bytes());
        p.extend_from_slice(&error.to_le_bytes());
        p.extend_from_slice(&trace.to_le_bytes());
        if r.body.len() <= INLINE_BODY {
            p.push(0);
            p.extend_from_slice(&(r.body.len() as u32).to_le_bytes());
            p.extend_from_slice(&r.body);
        } else {
            let i = self.part(r.body);
            self.packed.push(1);
            self.packed.extend_from_slice(&i.to_le_bytes());
        }
        self.packed
            .extend_from_slice(&(r.attachments.len() as u16).to_le_bytes());
        for a in r.attachments {
            let i = self.part(a);
            self.packed.extend_from_slice(&i.to_le_bytes());
        }
    }

    /// A large body or attachment: its own allocation was read from the socket, so it is
    /// taken over and the Buffer is external memory, without a copy.
    fn part(&mut self, b: bytes::Bytes) -> u32 {
        self.parts.push(ExternalBytes::from(b));
        (self.parts.len() - 1) as u32
    }

    fn node(&mut self, n: NodeId) -> u16 {
        if let Some(i) = self.nodes.get(&n) {
            return *i;
        }
        self.strings.push(n.to_string());
        let i = self.strings.len() as u16;
        self.nodes.insert(n, i);
        i
    }

    fn name(&mut self, n: String) -> u16 {
        if let Some(i) = self.names.get(&n) {
            return *i;
        }
        self.strings.push(n.clone());
        let i = self.strings.len() as u16;
        self.names.insert(n, i);
        i
    }

    pub(crate) fn finish(self) -> EventBatch {
        fn some<T>(v: Vec<T>) -> Option<Vec<T>> {
            (!v.is_empty()).then_some(v)
        }
        EventBatch {
            packed: self.packed,
            parts: some(self.parts),
            strings: self.strings,
            errors: some(self.errors),
            lends: self.lends,
        }
    }
}
