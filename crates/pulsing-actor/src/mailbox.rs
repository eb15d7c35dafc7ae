//! What travels through a mailbox. The mailbox itself is a bounded tokio channel: a full
//! one makes `send(...).await` wait, so nothing accepted is ever dropped.

use tokio::sync::oneshot;

use crate::error::PulsingError;
use crate::message::Message;

pub(crate) type Reply = oneshot::Sender<Result<Message, PulsingError>>;

pub(crate) enum Envelope {
    Ask { msg: Message, reply: Reply },
    Tell { msg: Message },
}

impl Envelope {
    pub(crate) fn split(self) -> (Message, Option<Reply>) {
        match self {
            Envelope::Ask { msg, reply } => (msg, Some(reply)),
            Envelope::Tell { msg } => (msg, None),
        }
    }
}
