//! The node's numbers as JS sees them (`system.metrics()`); the same as `/metrics`.

use napi_derive::napi;
use pulsing_actor::transport::traffic::LaneTraffic;

use crate::system::NativeSystem;

/// What one lane carried.
#[napi(object)]
pub struct JsLaneTraffic {
    pub frames_in: f64,
    pub frames_out: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
}

/// Members by status.
#[napi(object)]
pub struct JsMemberCounts {
    pub alive: u32,
    pub suspect: u32,
    pub dead: u32,
    pub left: u32,
}

/// A node's numbers.
#[napi(object)]
pub struct JsMetrics {
    pub node_id: String,
    pub members: JsMemberCounts,
    pub connections: u32,
    pub pending_calls: u32,
    pub named_here: u32,
    pub named_cluster: u32,
    pub control: JsLaneTraffic,
    pub bulk: JsLaneTraffic,
    pub gossip_bytes: f64,
}

fn lane(t: LaneTraffic) -> JsLaneTraffic {
    JsLaneTraffic {
        frames_in: t.frames_in as f64,
        frames_out: t.frames_out as f64,
        bytes_in: t.bytes_in as f64,
        bytes_out: t.bytes_out as f64,
    }
}

#[napi]
impl NativeSystem {
    /// This node's numbers (what `/metrics` reports).
    #[napi]
    pub async fn metrics(&self) -> JsMetrics {
        let m = self.inner.metrics().await;
        JsMetrics {
            node_id: m.node_id.to_string(),
            members: JsMemberCounts {
                alive: m.members[0],
                suspect: m.members[1],
                dead: m.members[2],
                left: m.members[3],
            },
            connections: m.connections as u32,
            pending_calls: m.pending_calls as u32,
            named_here: m.named_here as u32,
            named_cluster: m.named_cluster as u32,
            control: lane(m.control),
            bulk: lane(m.bulk),
            gossip_bytes: m.gossip_bytes as f64,
        }
    }
}
