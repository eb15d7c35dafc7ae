//! A node's queue directory: per bucket a record log ([`super::log`]) and a small metadata
//! file (where the bucket comes from, its replicas, its groups' committed offsets), under
//! `<root>/q-<queue name in hex>/`. Hex keeps any queue name (slashes, dots) inside the
//! directory.
//!
//! One node uses a directory at a time: it holds an exclusive lock on `<root>/.lock` (and
//! writes who it is there), and a second node pointed at the same directory is refused with
//! an error naming it and its holder (two writers to one log would corrupt it). Nodes that
//! share a default location take numbered directories under it, each the lowest one free
//! ([`Disk::open_slot`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{PulsingError, RuntimeErrorKind};

/// What a bucket's metadata file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// The bucket's lineage (see `store::Snapshot::origin`).
    pub origin: u64,
    /// How many nodes keep it.
    pub replicas: u8,
    /// How many buckets its queue has (0 in files of earlier versions: not said).
    #[serde(default)]
    pub num_buckets: u32,
    /// Records older than this are trimmed (ms; 0: kept).
    #[serde(default)]
    pub retain_ms: u64,
    /// Records every group acknowledged are trimmed.
    #[serde(default)]
    pub trim_acked: bool,
    /// The offset of the first record kept: the log's records before it were trimmed (the
    /// log is rewritten without them later).
    #[serde(default)]
    pub base: u64,
    /// Per consumer group, its committed offset.
    pub committed: BTreeMap<String, u64>,
    /// Records held back from consumer groups until a time (offset → Unix ms).
    #[serde(default)]
    pub not_before: BTreeMap<u64, u64>,
    /// When records were appended, coarsely (offset → Unix ms; see `store`).
    #[serde(default)]
    pub times: BTreeMap<u64, u64>,
}

/// An open, locked queue directory.
pub struct Disk {
    root: PathBuf,
    _lock: File,
}

fn io_err(what: String, e: io::Error) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Io, format!("{what}: {e}"))
}

/// Numbered directories a default location holds at most (nodes of one working directory).
const SLOTS: u32 = 1024;

impl Disk {
    /// Open `root` (created if missing) and lock it for `holder` (this node, as the error a
    /// second node gets names it).
    pub fn open(root: &Path, holder: &str) -> Result<Disk, PulsingError> {
        match Self::try_open(root, holder)? {
            Ok(d) => Ok(d),
            Err(held_by) => Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!(
                    "queue directory {} is in use by {held_by}: give each node its own storagePath",
                    root.display()
                ),
            )),
        }
    }

    /// Open the lowest-numbered directory `<base>/node-<k>` no other node holds: nodes that
    /// share a working directory (and the default location) each get one, and a node that
    /// restarts alone gets the one it had (its buckets come back).
    pub fn open_slot(base: &Path, holder: &str) -> Result<Disk, PulsingError> {
        for k in 0..SLOTS {
            if let Ok(d) = Self::try_open(&base.join(format!("node-{k}")), holder)? {
                return Ok(d);
            }
        }
        Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            format!(
                "queue directory {}: all {SLOTS} node directories are in use: give this node its own storagePath",
                base.display()
            ),
        ))
    }

    /// Lock `root` for `holder`; who holds it when another node does.
    fn try_open(root: &Path, holder: &str) -> Result<Result<Disk, String>, PulsingError> {
        std::fs::create_dir_all(root)
            .map_err(|e| io_err(format!("queue directory {}", root.display()), e))?;
        let lock_path = root.join(".lock");
        let mut lock = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(format!("queue directory lock {}", lock_path.display()), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut who = String::new();
                let _ = io::Read::read_to_string(&mut lock, &mut who);
                let who = who.trim();
                return Ok(Err(if who.is_empty() {
                    "another node".to_string()
                } else {
                    who.to_string()
                }));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err(format!("locking {}", lock_path.display()), e))
            }
        }
        // Who holds it, for the error another node gets (best effort: the lock is what counts).
        let _ = lock.set_len(0);
        let _ = io::Write::write_all(&mut lock, holder.as_bytes());
        Ok(Ok(Disk {
            root: root.to_path_buf(),
            _lock: lock,
        }))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, queue: &str) -> PathBuf {
        let hex: String = queue.bytes().map(|b| format!("{b:02x}")).collect();
        self.root.join(format!("q-{hex}"))
    }

    /// The record log of `bucket` of `queue`.
    pub fn log_path(&self, queue: &str, bucket: u32) -> PathBuf {
        self.dir(queue).join(format!("{bucket}.log"))
    }

    fn meta_path(&self, queue: &str, bucket: u32) -> PathBuf {
        self.dir(queue).join(format!("{bucket}.meta"))
    }

    /// Write the metadata of `bucket` of `queue`, durably (beside it, synced, renamed).
    pub fn write_meta(&self, queue: &str, bucket: u32, meta: &Meta) -> Result<(), PulsingError> {
        let path = self.meta_path(queue, bucket);
        let tmp = path.with_extension("meta.tmp");
        let bytes = crate::message::to_msgpack(meta)?;
        (|| {
            std::fs::create_dir_all(self.dir(queue))?;
            let f = File::create(&tmp)?;
            io::Write::write_all(&mut &f, &bytes)?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)?;
            super::log::sync_dir(&path)
        })()
        .map_err(|e| io_err(format!("writing {}", path.display()), e))
    }

    /// Every bucket with a log here, with its metadata (defaults when the file is missing or
    /// unreadable: the records matter, the metadata can be rebuilt).
    pub fn scan(&self) -> Vec<(String, u32, Meta)> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return out;
        };
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let Some(queue) = name.strip_prefix("q-").and_then(unhex) else {
                continue;
            };
            let Ok(files) = std::fs::read_dir(d.path()) else {
                continue;
            };
            for f in files.flatten() {
                let fname = f.file_name().to_string_lossy().into_owned();
                let Some(bucket) = fname
                    .strip_suffix(".log")
                    .and_then(|b| b.parse::<u32>().ok())
                else {
                    continue;
                };
                let meta = std::fs::read(self.meta_path(&queue, bucket))
                    .ok()
                    .and_then(|b| rmp_serde::from_slice(&b).ok())
                    .unwrap_or_default();
                out.push((queue.clone(), bucket, meta));
            }
        }
        out
    }

    /// Delete the files of `bucket` of `queue` (it lives elsewhere now).
    pub fn remove(&self, queue: &str, bucket: u32) {
        for p in [self.log_path(queue, bucket), self.meta_path(queue, bucket)] {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), "queue: cannot remove a bucket file: {e}");
                }
            }
        }
    }
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_locked_to_one_node_and_lists_its_buckets_with_their_metadata() {
        let root = std::env::temp_dir().join(format!("pulsing-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let d = Disk::open(&root, "node 00000000000000aa (pid 1)").unwrap();
        let err = Disk::open(&root, "node b")
            .err()
            .expect("locked")
            .to_string();
        assert!(
            err.contains("is in use by node 00000000000000aa (pid 1)"),
            "{err}"
        );
        // A default location: the next free numbered directory.
        let base = root.join("slots");
        let s0 = Disk::open_slot(&base, "x").unwrap();
        let s1 = Disk::open_slot(&base, "y").unwrap();
        assert_eq!(
            (s0.root().to_path_buf(), s1.root().to_path_buf()),
            (base.join("node-0"), base.join("node-1"))
        );
        drop(s0);
        assert_eq!(
            Disk::open_slot(&base, "z").unwrap().root(),
            base.join("node-0")
        );
        let log = super::super::log::Log::open(&d.log_path("a/b..", 3))
            .unwrap()
            .log;
        drop(log);
        let meta = Meta {
            origin: 7,
            replicas: 2,
            num_buckets: 8,
            committed: [("g".to_string(), 4)].into(),
            ..Meta::default()
        };
        d.write_meta("a/b..", 3, &meta).unwrap();
        let found = d.scan();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0.as_str(), found[0].1), ("a/b..", 3));
        assert_eq!(found[0].2.committed["g"], 4);
        d.remove("a/b..", 3);
        assert!(d.scan().is_empty());
        drop(d);
        Disk::open(&root, "node c").expect("free once the first is gone");
    }
}
