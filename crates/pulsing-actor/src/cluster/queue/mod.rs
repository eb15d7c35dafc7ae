//! Queue storage and placement on the cluster side: which bucket a record goes to and which
//! node owns it ([`bucket`]), and the records a node keeps for the buckets it owns
//! ([`store`]). The node serves them as `system/queue`; writers and readers are in
//! [`crate::queue`].

pub mod bucket;
pub mod store;
