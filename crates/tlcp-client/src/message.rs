//! Messages to the Metadata Adapter: [`MessageBuilder`], awaited for its
//! [`MessageOutcome`].

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use tlcp_proto::client::{MessageOutcome, MessageSpec};
use tokio::sync::oneshot;

use crate::client::{Command, Commands};
use crate::error::Error;

/// Where the driver sends a message's outcome.
#[derive(Debug)]
pub(crate) enum MessageReply {
    /// The outcome is wanted.
    Outcome(oneshot::Sender<Result<MessageOutcome, Error>>),
    /// Only whether the message was accepted for sending.
    Accepted(oneshot::Sender<Result<(), Error>>),
}

/// A message about to be sent, from [`Client::send_message`](crate::Client::send_message).
/// Set its options, then `.await` it for its [`MessageOutcome`]:
///
/// * `Processed { response }`: the Metadata Adapter handled it (with its response, in
///   TLCP 2.5.0);
/// * `Denied { code, message }`: the adapter refused it;
/// * `Discarded`: it timed out waiting for its predecessors in the sequence;
/// * `Error { code, message }`: the server failed to handle it;
/// * `Aborted`: the session was lost before an outcome came (or there was no session
///   and it was not to be enqueued).
///
/// ```no_run
/// # async fn demo(client: tlcp_client::Client) -> Result<(), tlcp_client::Error> {
/// use std::time::Duration;
/// let outcome = client
///     .send_message("ECHO|hello")
///     .sequence("orders")
///     .delay_timeout(Duration::from_millis(500))
///     .await?;
/// println!("{outcome:?}");
/// client.send_message("PING").without_outcome().await?;
/// # Ok(()) }
/// ```
#[must_use = "a message is sent when awaited"]
#[derive(Debug)]
pub struct MessageBuilder {
    commands: Commands,
    spec: MessageSpec,
}

impl MessageBuilder {
    pub(crate) fn new(commands: Commands, text: String) -> Self {
        Self {
            commands,
            spec: MessageSpec::new(text),
        }
    }

    /// `LS_sequence`: messages of one sequence are processed in the order they were
    /// sent. The name is made of letters, digits and `_`.
    pub fn sequence(mut self, sequence: impl Into<String>) -> Self {
        self.spec.sequence = Some(sequence.into());
        self
    }

    /// `delayTimeout` (`LS_max_wait`): how long the server may wait for a missing
    /// predecessor in the sequence before processing this message anyway.
    pub fn delay_timeout(mut self, timeout: Duration) -> Self {
        self.spec.max_wait = Some(timeout);
        self
    }

    /// `enqueueWhileDisconnected`: without a session, keep the message until one exists
    /// (instead of aborting it at once).
    pub fn enqueue_while_disconnected(mut self, enqueue: bool) -> Self {
        self.spec.enqueue_while_disconnected = enqueue;
        self
    }

    /// No outcome wanted (`LS_outcome=false`): awaiting only says whether the message was
    /// accepted for sending.
    pub fn without_outcome(mut self) -> FireAndForget {
        self.spec.outcome = false;
        FireAndForget(self)
    }
}

impl IntoFuture for MessageBuilder {
    type Output = Result<MessageOutcome, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let (tx, rx) = oneshot::channel();
        let sent = self.commands.send(Command::Message {
            spec: self.spec,
            reply: MessageReply::Outcome(tx),
        });
        Box::pin(async move {
            sent?;
            rx.await.map_err(|_| Error::Stopped)?
        })
    }
}

/// A message sent without asking for its outcome; see
/// [`MessageBuilder::without_outcome`].
#[must_use = "a message is sent when awaited"]
#[derive(Debug)]
pub struct FireAndForget(MessageBuilder);

impl IntoFuture for FireAndForget {
    type Output = Result<(), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let (tx, rx) = oneshot::channel();
        let sent = self.0.commands.send(Command::Message {
            spec: self.0.spec,
            reply: MessageReply::Accepted(tx),
        });
        Box::pin(async move {
            sent?;
            rx.await.map_err(|_| Error::Stopped)?
        })
    }
}
