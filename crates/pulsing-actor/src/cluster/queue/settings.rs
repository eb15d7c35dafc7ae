//! A queue's settings (backend, replicas, buckets): fixed by its first writer, then the
//! queue's. They live with bucket 0 (its owner answers `describe`), and every bucket carries
//! them ([`super::store::Placement`]): a put checks them, so a writer that asks otherwise is
//! refused, and a reader that came first never decides how records are kept.

use serde::{Deserialize, Serialize};

use super::store::Placement;
use crate::error::{PulsingError, RuntimeErrorKind};

/// Buckets of a queue when its first writer does not say.
pub const DEFAULT_NUM_BUCKETS: u32 = 4;

/// What a writer or reader asks for; `None` takes the queue's (or the default, for a queue
/// nobody wrote to yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    /// `'disk'` (true) or `'memory'` (false).
    pub disk: Option<bool>,
    /// 1 or 2.
    pub replicas: Option<u8>,
    /// 1 to 65 536.
    pub num_buckets: Option<u32>,
    /// Milliseconds records are kept (0: forever).
    pub retain_ms: Option<u64>,
    /// Whether records every group acknowledged are trimmed.
    pub trim_acked: Option<bool>,
}

impl Wanted {
    /// Everything said (a Rust writer's options).
    pub fn all(p: Placement) -> Wanted {
        Wanted {
            disk: Some(p.disk),
            replicas: Some(p.replicas),
            num_buckets: Some(p.num_buckets),
            retain_ms: Some(p.retain_ms),
            trim_acked: Some(p.trim_acked),
        }
    }

    /// What it asks, the defaults where it says nothing.
    pub fn or_defaults(&self) -> Placement {
        Placement {
            disk: self.disk.unwrap_or(false),
            replicas: self.replicas.unwrap_or(1),
            num_buckets: self.num_buckets.unwrap_or(DEFAULT_NUM_BUCKETS),
            retain_ms: self.retain_ms.unwrap_or(0),
            trim_acked: self.trim_acked.unwrap_or(false),
        }
    }

    /// What it says that `kept` is not, named as the options are (`None`: nothing).
    fn differs(&self, kept: &Placement) -> Option<String> {
        let mut out = Vec::new();
        if self.disk.is_some_and(|d| d != kept.disk) {
            out.push(format!(
                "backend '{}'",
                if self.disk == Some(true) {
                    "disk"
                } else {
                    "memory"
                }
            ));
        }
        if let Some(r) = self.replicas.filter(|r| *r != kept.replicas) {
            out.push(format!("replicas {r}"));
        }
        if let Some(n) = self
            .num_buckets
            .filter(|n| kept.num_buckets != 0 && *n != kept.num_buckets)
        {
            out.push(format!("numBuckets {n}"));
        }
        if let Some(r) = self.retain_ms.filter(|r| *r != kept.retain_ms) {
            out.push(format!("retainMs {r}"));
        }
        if let Some(t) = self.trim_acked.filter(|t| *t != kept.trim_acked) {
            out.push(format!("trimAcked {t}"));
        }
        (!out.is_empty()).then(|| out.join(", "))
    }
}

/// A queue's settings as its bucket 0's owner answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Described {
    /// How its buckets are kept, and how many there are.
    pub placement: Placement,
    /// Whether a writer fixed them (otherwise they are what was asked, or the defaults).
    pub settled: bool,
}

/// What `describe` answers, given how bucket 0 is kept now (`kept`, `settled`) and what is
/// asked: the settings, and whether bucket 0 must be settled to them (a writer first).
pub fn describe(
    queue: &str,
    kept: Placement,
    settled: bool,
    wanted: &Wanted,
    writer: bool,
) -> Result<(Described, bool), PulsingError> {
    if settled {
        if let Some(asked) = wanted.differs(&kept) {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Config,
                format!(
                    "queue {queue} is kept with {kept}, as its first writer asked; this one asks for {asked}: open it with the same options, or leave them unset to take the queue's"
                ),
            ));
        }
        let mut placement = kept;
        if placement.num_buckets == 0 {
            // Settled by a version that did not record it: the asker's, or the default.
            placement.num_buckets = wanted.num_buckets.unwrap_or(DEFAULT_NUM_BUCKETS);
        }
        return Ok((
            Described {
                placement,
                settled: true,
            },
            false,
        ));
    }
    Ok((
        Described {
            placement: wanted.or_defaults(),
            settled: writer,
        },
        writer,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(disk: bool, replicas: u8, num_buckets: u32) -> Placement {
        Placement {
            disk,
            replicas,
            num_buckets,
            ..Placement::default()
        }
    }

    #[test]
    fn the_first_writer_settles_a_reader_never_does_and_a_later_writer_must_agree() {
        let none = Wanted::default();
        let two = Wanted {
            replicas: Some(2),
            ..Wanted::default()
        };
        // Nobody wrote yet: a reader learns the defaults and settles nothing.
        let (d, settle) = describe("q", Placement::default(), false, &none, false).unwrap();
        assert_eq!(
            (d.placement, d.settled, settle),
            (p(false, 1, 4), false, false)
        );
        // The first writer's wishes are the queue's.
        let (d, settle) = describe("q", Placement::default(), false, &two, true).unwrap();
        assert_eq!(
            (d.placement, d.settled, settle),
            (p(false, 2, 4), true, true)
        );
        // Then: unset options take the queue's, the same ones pass, others are refused by name.
        let kept = p(false, 2, 8);
        let (d, settle) = describe("q", kept, true, &none, true).unwrap();
        assert_eq!((d.placement, settle), (kept, false));
        assert!(describe("q", kept, true, &two, true).is_ok());
        let e = describe(
            "q",
            kept,
            true,
            &Wanted {
                disk: Some(true),
                num_buckets: Some(4),
                ..Wanted::default()
            },
            false,
        )
        .unwrap_err();
        assert_eq!(e.kind(), Some(RuntimeErrorKind::Config));
        let msg = e.to_string();
        assert!(
            msg.contains("kept with backend 'memory', replicas 2, numBuckets 8")
                && msg.contains("asks for backend 'disk', numBuckets 4"),
            "{msg}"
        );
        // Retention is a setting like the others.
        let trims = Placement {
            retain_ms: 60_000,
            ..kept
        };
        let e = describe(
            "q",
            trims,
            true,
            &Wanted {
                retain_ms: Some(1000),
                trim_acked: Some(true),
                ..Wanted::default()
            },
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("retainMs 60000") && e.contains("asks for retainMs 1000, trimAcked true"),
            "{e}"
        );
        assert!(!trims.admits(&kept) && trims.admits(&trims));
    }
}
