//! The system as the cluster sees it: the node reaches this system's Rust actors, and the
//! topic services it runs for its clients, through [`LocalActors`] (the cluster knows
//! nothing above it).

use std::sync::Arc;

use crate::cluster::local::{LocalActors, LocalMailbox};
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::message::Message;
use crate::system::WeakSystem;

/// The cluster reaches this system's Rust actors through this seam (it knows nothing above).
impl LocalActors for WeakSystem {
    fn lookup(&self, name: &str) -> Option<u64> {
        let reg = self.upgrade()?.lookup(name).ok().flatten()?;
        Some(reg.actor_id.local)
    }
    fn mailbox(&self, local: u64) -> Option<Arc<dyn LocalMailbox>> {
        let r = self.upgrade()?.local_ref(local)?;
        Some(Arc::new(r))
    }
    fn actor_stats(&self) -> Vec<crate::stats::ActorStats> {
        self.upgrade().map(|s| s.actor_stats()).unwrap_or_default()
    }
    fn is_gone(&self) -> bool {
        self.upgrade().is_none()
    }
    fn serve_http(
        &self,
        stream: crate::transport::conn::BoxStream,
        peer: String,
        secure: bool,
        slot: crate::cluster::node::HttpSlot,
    ) {
        crate::http::serve(self.clone(), stream, peer, secure, slot);
    }
    fn topic_subscribe(&self, topic: &str) -> Result<Message, PulsingError> {
        let system = self.upgrade().ok_or_else(gone)?;
        Ok(system.topics().subscribe(topic)?.into_message())
    }
    fn topic_publish(
        &self,
        topic: String,
        message: bytes::Bytes,
        mode: String,
    ) -> futures::future::BoxFuture<'static, Result<(u32, u32), PulsingError>> {
        let system = self.upgrade();
        Box::pin(async move {
            let system = system.ok_or_else(gone)?;
            let mode = mode.parse::<crate::topic::PublishMode>()?;
            let p = system.topics().publish(&topic, message, mode).await?;
            Ok((p.delivered, p.failed))
        })
    }
}

fn gone() -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Stopped, "the actor system is shut down")
}
