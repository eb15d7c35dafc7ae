//! Which bucket a record goes to, and which node owns a bucket. Both are pure functions that
//! every writer, reader and node computes the same way, in Rust and in TypeScript
//! (`src/queue.ts` has the same two functions): no coordination is needed to agree.
//!
//! - bucket = FNV-1a (32 bit) of the bucket column's value as UTF-8 text, modulo the number
//!   of buckets. Stable across processes, versions and languages (unlike a seeded hasher).
//! - owner = the member with the highest FNV-1a of `"<queue>/<bucket>/<nodeId>"`
//!   (rendezvous hashing): when a member leaves, only the buckets it owned move; when one
//!   joins, it takes about its share and nothing else moves.

use crate::id::NodeId;

/// FNV-1a, 32 bits, of `bytes`.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The bucket of a record whose bucket column is `key`, out of `num_buckets` (at least 1).
pub fn bucket_of(key: &str, num_buckets: u32) -> u32 {
    fnv1a32(key.as_bytes()) % num_buckets.max(1)
}

/// The owner of `bucket` of `queue` among `members` (`None` when there are none).
pub fn owner(queue: &str, bucket: u32, members: &[NodeId]) -> Option<NodeId> {
    members
        .iter()
        .copied()
        .max_by_key(|n| (fnv1a32(format!("{queue}/{bucket}/{n}").as_bytes()), n.0))
}

/// The `k` members that rank highest for `bucket` of `queue`, best first: the owner, then
/// its replicas. Losing the owner makes the first replica the owner, so a replica already
/// holds what its new owner needs.
pub fn ranked(queue: &str, bucket: u32, members: &[NodeId], k: usize) -> Vec<NodeId> {
    let mut all: Vec<(u32, u64, NodeId)> = members
        .iter()
        .map(|n| (fnv1a32(format!("{queue}/{bucket}/{n}").as_bytes()), n.0, *n))
        .collect();
    all.sort_unstable_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    all.dedup_by_key(|e| e.2);
    all.into_iter().take(k).map(|e| e.2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_as_published() {
        // Reference values of FNV-1a 32 (the TypeScript side is tested against the same).
        assert_eq!(fnv1a32(b""), 0x811c9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9cf968);
        assert_eq!(bucket_of("u1", 4), fnv1a32(b"u1") % 4);
        assert_eq!(bucket_of("anything", 1), 0);
        assert_eq!(bucket_of("anything", 0), 0);
    }

    #[test]
    fn ownership_moves_only_for_the_buckets_of_a_member_that_left() {
        let members: Vec<NodeId> = (1..=5).map(|i| NodeId(i * 0x1111_1111)).collect();
        let before: Vec<NodeId> = (0..64).map(|b| owner("q", b, &members).unwrap()).collect();
        let gone = members[2];
        let rest: Vec<NodeId> = members.iter().copied().filter(|n| *n != gone).collect();
        for (b, was) in before.iter().enumerate() {
            let now = owner("q", b as u32, &rest).unwrap();
            if *was != gone {
                assert_eq!(now, *was, "bucket {b} moved although its owner stayed");
            }
        }
        // Every member owns some of 64 buckets.
        for m in &members {
            assert!(before.contains(m));
        }
        assert_eq!(owner("q", 0, &[]), None);
    }

    #[test]
    fn the_first_ranked_is_the_owner_and_the_second_owns_once_the_first_is_gone() {
        let members: Vec<NodeId> = (1..=5).map(|i| NodeId(i * 0x1111_1111)).collect();
        for b in 0..32 {
            let r = ranked("q", b, &members, 2);
            assert_eq!(r.len(), 2);
            assert_eq!(Some(r[0]), owner("q", b, &members));
            let rest: Vec<NodeId> = members.iter().copied().filter(|n| *n != r[0]).collect();
            assert_eq!(Some(r[1]), owner("q", b, &rest));
        }
        assert_eq!(ranked("q", 0, &members[..1], 2), vec![members[0]]);
    }
}
