//! [`ActorRef`]: the handle to one actor, local or on another node. `ask` and `tell` go to
//! its mailbox, or through the cluster transport; the system makes refs, callers hold them.

use std::sync::Arc;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::actor::ActorId;
use crate::cell::stopped;
use crate::cluster::local::{LocalMailbox, ReplyRx};
use crate::cluster::node::Node;
use crate::error::{PulsingError, RuntimeErrorKind};
use crate::mailbox::Envelope;
use crate::message::Message;

/// A reference to an actor: cheap to clone, safe to share.
#[derive(Clone)]
pub struct ActorRef {
    id: ActorId,
    route: Route,
    timeout: Duration,
}

/// How a ref reaches its actor: a local mailbox, or the cluster transport.
#[derive(Clone)]
enum Route {
    Local(mpsc::Sender<Envelope>),
    Remote(Arc<Node>),
}

impl std::fmt::Debug for ActorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorRef({})", self.id)
    }
}

impl ActorRef {
    pub(crate) fn local(
        id: ActorId,
        sender: mpsc::Sender<Envelope>,
        timeout: Duration,
    ) -> ActorRef {
        ActorRef {
            id,
            route: Route::Local(sender),
            timeout,
        }
    }

    pub(crate) fn remote(id: ActorId, node: Arc<Node>, timeout: Duration) -> ActorRef {
        ActorRef {
            id,
            route: Route::Remote(node),
            timeout,
        }
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// The same ref with another call timeout.
    pub fn with_timeout(&self, timeout: Duration) -> ActorRef {
        ActorRef {
            timeout,
            ..self.clone()
        }
    }

    /// Send a serde value (bincode) and decode the reply.
    pub async fn ask<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: Req,
    ) -> Result<Resp, PulsingError> {
        let msg = Message::pack(&req)
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        self.ask_message(msg).await?.unpack()
    }

    /// Put an ask into a local mailbox now (waiting while it is full) and return the
    /// receiver of its reply. Lets the transport keep a connection's arrival order.
    pub(crate) async fn enqueue_ask(
        &self,
        msg: Message,
    ) -> Result<oneshot::Receiver<Result<Message, PulsingError>>, PulsingError> {
        let Route::Local(sender) = &self.route else {
            return Err(PulsingError::runtime(
                RuntimeErrorKind::Protocol,
                "enqueue_ask on a remote ref",
            ));
        };
        let (tx, rx) = oneshot::channel();
        sender
            .send(Envelope::Ask { msg, reply: tx })
            .await
            .map_err(|_| stopped(self.id))?;
        Ok(rx)
    }

    /// Send a message and wait for the reply, within this ref's timeout.
    pub async fn ask_message(&self, msg: Message) -> Result<Message, PulsingError> {
        let sender = match &self.route {
            Route::Local(s) => s,
            Route::Remote(node) => return node.ask(self.id, msg, self.timeout).await,
        };
        let fut = async {
            let (tx, rx) = oneshot::channel();
            sender
                .send(Envelope::Ask { msg, reply: tx })
                .await
                .map_err(|_| stopped(self.id))?;
            rx.await.map_err(|_| stopped(self.id))?
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(PulsingError::Timeout {
                operation: format!("ask {}", self.id),
                duration_ms: self.timeout.as_millis() as u64,
            }),
        }
    }

    /// Call `method` of a TypeScript actor (MessagePack `[method, args]`) and decode its
    /// reply into a serde type.
    pub async fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: A,
    ) -> Result<R, PulsingError> {
        let msg = Message::call(method, args)
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        self.ask_message(msg).await?.unpack()
    }

    /// Send a serde value without waiting for a reply; resolves once the mailbox took it.
    pub async fn tell<T: Serialize>(&self, msg: T) -> Result<(), PulsingError> {
        let msg = Message::pack(&msg)
            .map_err(|e| PulsingError::runtime(RuntimeErrorKind::Serialization, e.to_string()))?;
        self.tell_message(msg).await
    }

    /// Send a message without waiting for a reply; waits while the mailbox is full.
    pub async fn tell_message(&self, msg: Message) -> Result<(), PulsingError> {
        match &self.route {
            Route::Local(sender) => sender
                .send(Envelope::Tell { msg })
                .await
                .map_err(|_| stopped(self.id)),
            Route::Remote(node) => node.tell(self.id, msg),
        }
    }
}

#[async_trait::async_trait]
impl LocalMailbox for ActorRef {
    async fn ask(&self, msg: Message) -> Result<ReplyRx, PulsingError> {
        self.enqueue_ask(msg).await
    }
    async fn tell(&self, msg: Message) -> Result<(), PulsingError> {
        self.tell_message(msg).await
    }
}
