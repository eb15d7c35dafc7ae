//! Queue storage and placement on the cluster side: which bucket a record goes to and which
//! node owns it ([`bucket`]), the records a node keeps for the buckets it owns or replicates
//! ([`store`]), on disk for `disk` buckets ([`log`], [`disk`]), consumer groups' places in
//! them ([`groups`]), and the settings a queue's first writer fixed ([`settings`]). The node serves them as `system/queue`; writers and readers are in
//! [`crate::queue`].

pub mod bucket;
pub mod disk;
pub mod groups;
pub mod log;
pub mod settings;
pub mod store;

use bytes::Bytes;

use crate::error::{PulsingError, RuntimeErrorKind};

/// Records travel packed into one buffer, each as `u32` little-endian length then its bytes:
/// one buffer per batch crosses into JS and onto the wire, not one per record.
pub fn pack(records: &[Bytes]) -> Vec<u8> {
    let size = records.iter().map(|r| 4 + r.len()).sum();
    let mut out = Vec::with_capacity(size);
    for r in records {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// The records of a packed buffer, as slices of it (no copy). At most `max` records; a length
/// that runs past the end is an error naming the record.
pub fn unpack(buf: Bytes, max: usize) -> Result<Vec<Bytes>, PulsingError> {
    let bad = |msg: String| PulsingError::runtime(RuntimeErrorKind::Protocol, msg);
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        if out.len() == max {
            return Err(bad(format!("more than {max} records in one batch")));
        }
        let Some(head) = buf.get(at..at + 4) else {
            return Err(bad(format!("record {} of a batch is cut short", out.len())));
        };
        let len = u32::from_le_bytes(head.try_into().expect("4 bytes")) as usize;
        let start = at + 4;
        let end = start
            .checked_add(len)
            .filter(|e| *e <= buf.len())
            .ok_or_else(|| bad(format!("record {} of a batch runs past its end", out.len())))?;
        out.push(buf.slice(start..end));
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_records_round_trip_and_a_short_or_long_batch_is_refused() {
        let recs = vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"xyz"),
        ];
        let p = Bytes::from(pack(&recs));
        assert_eq!(unpack(p.clone(), 10).unwrap(), recs);
        assert!(unpack(p.slice(..p.len() - 1), 10).is_err());
        assert!(unpack(p.slice(..2), 10).is_err());
        assert!(unpack(p, 2)
            .unwrap_err()
            .to_string()
            .contains("more than 2"));
        assert_eq!(unpack(Bytes::new(), 1).unwrap(), Vec::<Bytes>::new());
    }
}
