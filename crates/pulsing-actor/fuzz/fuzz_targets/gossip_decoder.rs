//! A gossip body from a peer: it decodes or is refused, never panics, and what decodes
//! encodes back to something that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsing_actor::cluster::gossip::Gossip;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Gossip::decode(data) {
        let again = g.encode().expect("a decoded message fits the limit it came under");
        assert_eq!(Gossip::decode(&again).unwrap(), g);
    }
});
