//! A bucket's records on disk: one append-only file, each record framed as
//! `u32 length LE | u32 CRC-32 LE | bytes`. A file written whole ([`Log::create`]) starts
//! with a header frame, `u32::MAX | CRC-32 of the base | u64 base LE`: the offset of its
//! first record (those before were trimmed); a file without one starts at offset 0.
//!
//! Writes go to the file in the order records are appended (the caller holds the bucket's
//! lock); [`Log::sync_to`] makes them durable with `fdatasync` before a put is acknowledged.
//! Concurrent puts share a sync: the first to sync covers every record written before it
//! (group commit), so the cost is one sync per batch at most and fewer under load.
//!
//! Opening a log reads it back and stops at the first record that is cut short or whose
//! checksum does not match: that is the tail a crash left half written, never acknowledged
//! (its sync had not returned). The file is cut there, so the next append starts clean.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

/// Bytes in front of each record: its length and its checksum.
const FRAME: usize = 8;
/// The length field of a header frame (no record is that long).
const HEADER_MARK: u32 = u32::MAX;
/// Bytes of a header frame.
const HEADER: usize = FRAME + 8;

/// What a test puts in the place of `fdatasync` for the logs under one directory: it is given
/// the log's path and the sync itself, which it must call. Tests gate it to prove a put is
/// acknowledged only after its records were synced (deleting the sync fails them).
#[doc(hidden)]
pub type SyncHook = Arc<dyn Fn(&Path, &dyn Fn() -> io::Result<()>) -> io::Result<()> + Send + Sync>;

/// The hooks by directory (tests of one process each use their own directory).
static SYNC_HOOKS: Mutex<Vec<(PathBuf, SyncHook)>> = Mutex::new(Vec::new());

/// Run `hook` in place of each `fdatasync` of a log under `dir` (`None` removes it). For
/// tests; nothing in the product sets one.
#[doc(hidden)]
pub fn hook_syncs_under(dir: impl Into<PathBuf>, hook: Option<SyncHook>) {
    let dir = dir.into();
    let mut hooks = SYNC_HOOKS.lock();
    hooks.retain(|(d, _)| *d != dir);
    if let Some(h) = hook {
        hooks.push((dir, h));
    }
}

/// `fdatasync` of the log at `path`, through a test's hook when one covers it.
fn sync_data(path: &Path, file: &File) -> io::Result<()> {
    let hook = {
        let hooks = SYNC_HOOKS.lock();
        hooks
            .iter()
            .find(|(d, _)| path.starts_with(d))
            .map(|(_, h)| h.clone())
    };
    match hook {
        Some(h) => h(path, &|| file.sync_data()),
        None => file.sync_data(),
    }
}

/// The file of one bucket.
pub struct Log {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes written to the file (not all of them synced yet).
    written: AtomicU64,
    /// Bytes known to be on disk; held while a sync runs, so one sync runs at a time.
    synced: tokio::sync::Mutex<u64>,
}

/// A log read back ([`Log::open`]).
pub struct Opened {
    /// The log, to append to.
    pub log: Log,
    /// The offset of the first record (0 without a header).
    pub base: u64,
    /// Its valid records, the torn tail cut off.
    pub records: Vec<Bytes>,
    /// Bytes before the first record (its header).
    pub head: u64,
}

impl Log {
    /// Bytes `records` take in a log.
    pub fn framed(records: &[Bytes]) -> u64 {
        records.iter().map(|r| (FRAME + r.len()) as u64).sum()
    }

    /// Open (or create) the log at `path`.
    pub fn open(path: &Path) -> io::Result<Opened> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut all = Vec::new();
        file.read_to_end(&mut all)?;
        let all = Bytes::from(all);
        let (base, head) = header(&all);
        let (records, good) = parse(&all.slice(head..));
        let good = head + good;
        if good < all.len() {
            tracing::warn!(
                path = %path.display(),
                kept = records.len(),
                cut = all.len() - good,
                "queue log: cut a torn or corrupt tail (records never acknowledged)"
            );
            file.set_len(good as u64)?;
            sync_data(path, &file)?;
        }
        Ok(Opened {
            log: Log {
                path: path.to_path_buf(),
                file: Arc::new(file),
                written: AtomicU64::new(good as u64),
                synced: tokio::sync::Mutex::new(good as u64),
            },
            base,
            records,
            head: head as u64,
        })
    }

    /// Create the log at `path` holding exactly `records` from offset `base`, replacing any
    /// file there, synced. Written beside it first and renamed over it, so a crash leaves
    /// the old or the new.
    pub fn create(path: &Path, base: u64, records: &[Bytes]) -> io::Result<Log> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("log.tmp");
        {
            let mut f = File::create(&tmp)?;
            let mut buf = Vec::with_capacity(HEADER + Self::framed(records) as usize);
            buf.extend_from_slice(&HEADER_MARK.to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&base.to_le_bytes()).to_le_bytes());
            buf.extend_from_slice(&base.to_le_bytes());
            for r in records {
                frame_into(&mut buf, r);
            }
            f.write_all(&buf)?;
            sync_data(&tmp, &f)?;
        }
        std::fs::rename(&tmp, path)?;
        sync_dir(path)?;
        Ok(Log::open(path)?.log)
    }

    /// Bytes before the first record of a log just created (its header).
    pub fn head(&self) -> u64 {
        HEADER as u64
    }

    /// Write `records` at the end of the file (not synced); the file's length after them.
    pub fn write(&self, records: &[Bytes]) -> io::Result<u64> {
        let mut buf = Vec::with_capacity(records.iter().map(|r| FRAME + r.len()).sum());
        for r in records {
            frame_into(&mut buf, r);
        }
        (&*self.file).write_all(&buf)?;
        Ok(self.written.fetch_add(buf.len() as u64, Ordering::AcqRel) + buf.len() as u64)
    }

    /// Cut the file to its first `len` bytes (a header, records).
    pub fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        sync_data(&self.path, &self.file)?;
        self.written.store(len, Ordering::Release);
        Ok(())
    }

    /// Return once the first `end` bytes are on disk.
    pub async fn sync_to(&self, end: u64) -> io::Result<()> {
        let mut synced = self.synced.lock().await;
        if *synced >= end {
            return Ok(());
        }
        let upto = self.written.load(Ordering::Acquire);
        let (file, path) = (self.file.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || sync_data(&path, &file))
            .await
            .map_err(io::Error::other)??;
        *synced = upto;
        Ok(())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn frame_into(buf: &mut Vec<u8>, r: &[u8]) {
    buf.extend_from_slice(&(r.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(r).to_le_bytes());
    buf.extend_from_slice(r);
}

/// The base a file's header says and the header's length (0 and 0 without a valid one).
fn header(all: &Bytes) -> (u64, usize) {
    let Some(h) = all.get(..HEADER) else {
        return (0, 0);
    };
    let mark = u32::from_le_bytes(h[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    if mark != HEADER_MARK || crc32fast::hash(&h[8..]) != crc {
        return (0, 0);
    }
    (
        u64::from_le_bytes(h[8..].try_into().expect("8 bytes")),
        HEADER,
    )
}

/// The valid records at the start of `all`, and how many bytes they take.
fn parse(all: &Bytes) -> (Vec<Bytes>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(head) = all.get(at..at + FRAME) {
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        let start = at + FRAME;
        let Some(body) = all.get(start..start.saturating_add(len)) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        out.push(all.slice(start..start + len));
        at = start + len;
    }
    (out, at)
}

/// Make a rename in `path`'s directory durable.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pulsing-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d.join("b.log")
    }

    #[tokio::test]
    async fn records_come_back_after_reopen_and_a_torn_or_corrupt_tail_is_cut() {
        let p = tmp("torn");
        let Opened {
            log, records: none, ..
        } = Log::open(&p).unwrap();
        assert!(none.is_empty());
        let end = log
            .write(&[Bytes::from_static(b"one"), Bytes::from_static(b"two")])
            .unwrap();
        log.sync_to(end).await.unwrap();
        drop(log);
        // A crash in the middle of a write: half a frame at the end.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let Opened {
            log, records: got, ..
        } = Log::open(&p).unwrap();
        assert_eq!(
            got,
            vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")]
        );
        log.write(&[Bytes::from_static(b"three")]).unwrap();
        drop(log);
        // A flipped byte in the last record: it and what follows are dropped.
        let mut raw = std::fs::read(&p).unwrap();
        let n = raw.len();
        raw[n - 1] ^= 0xff;
        std::fs::write(&p, &raw).unwrap();
        let Opened {
            log, records: got, ..
        } = Log::open(&p).unwrap();
        assert_eq!(got.len(), 2);
        log.truncate(Log::framed(&got[..1])).unwrap();
        drop(log);
        assert_eq!(
            Log::open(&p).unwrap().records,
            vec![Bytes::from_static(b"one")]
        );
        assert_eq!(Log::open(&p).unwrap().base, 0, "no header: from offset 0");
    }

    #[tokio::test]
    async fn a_log_written_whole_says_where_it_starts_and_a_bad_header_is_no_header() {
        let p = tmp("base");
        let log = Log::create(&p, 7, &[Bytes::from_static(b"x")]).unwrap();
        assert_eq!(log.path(), p.as_path());
        let end = log.write(&[Bytes::from_static(b"y")]).unwrap();
        log.sync_to(end).await.unwrap();
        drop(log);
        let o = Log::open(&p).unwrap();
        assert_eq!((o.base, o.head), (7, HEADER as u64));
        assert_eq!(
            o.records,
            vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")]
        );
        drop(o);
        // A flipped bit in the base: the header is not trusted, and what follows is not a
        // record either (its length is u32::MAX): nothing is read, rather than misplaced.
        let mut raw = std::fs::read(&p).unwrap();
        raw[9] ^= 1;
        std::fs::write(&p, &raw).unwrap();
        let o = Log::open(&p).unwrap();
        assert_eq!((o.base, o.records.len()), (0, 0));
    }
}
