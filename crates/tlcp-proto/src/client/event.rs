//! What the machine tells the application: [`Event`].

use std::fmt;
use std::ops::Deref;

use super::error::ProtocolIssue;
use super::status::Status;
use crate::model::{ItemUpdate, ModelError};
use crate::types::{BandwidthLimit, RealMaxFrequency, SessionId};

/// A subscription, as numbered by the machine (stable across sessions; the wire
/// `LS_subId` is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub(super) u64);

impl SubscriptionId {
    /// The number (unique for the life of the machine).
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id numbered `n`, for [`ClientSession::subscribe_as`](super::ClientSession::subscribe_as)
    /// (whoever numbers subscriptions that way must keep the numbers unique; 0 is never
    /// a subscription's).
    pub fn from_number(n: u64) -> Self {
        Self(n)
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sub#{}", self.0)
    }
}

/// A message, as numbered by the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub(super) u64);

impl MessageId {
    /// The number (unique for the life of the machine).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "msg#{}", self.0)
    }
}

/// One event, from [`ClientSession::poll_event`](super::ClientSession::poll_event).
///
/// Only [`Event::Update`] borrows the machine (the subscription's data model); every other
/// variant owns its data.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The status changed.
    Status(Status),
    /// A session was created, recovered, replaced or closed.
    Session(SessionEvent),
    /// The server refused a session or closed it (`CONERR`, `END`), or could not
    /// interpret a request (`ERROR`).
    ServerError(ServerError),
    /// Something the server said about itself or the session.
    ServerInfo(ServerInfo),
    /// Something happened to a subscription.
    Subscription {
        /// The subscription.
        id: SubscriptionId,
        /// What happened.
        event: SubscriptionEvent,
    },
    /// A real-time update (the hot path): borrows the subscription's model.
    Update(Update<'a>),
    /// The outcome of a message.
    Message {
        /// The message.
        id: MessageId,
        /// Its outcome.
        outcome: MessageOutcome,
    },
    /// A session-level control request failed (`REQERR`).
    RequestFailed(RequestFailure),
    /// The server sent something malformed or unexpected; the machine coped as
    /// [`ProtocolIssue::action`] says.
    Protocol(ProtocolIssue),
}

/// A real-time update of a subscription: the subscription and the model's
/// [`ItemUpdate`], which it dereferences to.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    pub(super) subscription: SubscriptionId,
    pub(super) update: ItemUpdate<'a>,
}

impl<'a> Update<'a> {
    /// The subscription.
    pub fn subscription(&self) -> SubscriptionId {
        self.subscription
    }

    /// The update itself (values, changed fields, snapshot flag, key and command).
    pub fn item_update(&self) -> ItemUpdate<'a> {
        self.update
    }
}

impl<'a> Deref for Update<'a> {
    type Target = ItemUpdate<'a>;

    fn deref(&self) -> &ItemUpdate<'a> {
        &self.update
    }
}

/// The life of a session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A new session, not replacing a lost one.
    Created {
        /// Its id (`Debug` shows only a prefix).
        session_id: SessionId,
    },
    /// The stream connection was lost and the session recovered: nothing was lost.
    Recovered {
        /// The session.
        session_id: SessionId,
        /// Data notifications the server sent again and the machine skipped.
        duplicates_skipped: u64,
    },
    /// A session was lost and could not be recovered: this new one replaces it. Every
    /// subscription is being sent again with a snapshot request: continuity is lost.
    Replaced {
        /// The new session.
        session_id: SessionId,
        /// What may have been lost in between.
        lost: Lost,
    },
    /// The session ended for good: the machine is `DISCONNECTED`.
    Closed {
        /// Why.
        cause: SessionEnd,
    },
}

/// How much was lost between two sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Unknown: the connection was lost and the server could not say.
    Unknown,
    /// At least this many data notifications (updates and others): the server had gone
    /// this far past what the client received.
    AtLeast(u64),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The application called [`disconnect`](super::ClientSession::disconnect).
    Client,
    /// The server refused or closed the session with an error the machine does not retry
    /// (also reported as [`Event::ServerError`]).
    Server(ServerError),
}

/// Which server line carried an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerErrorKind {
    /// `CONERR`: a session could not be created or bound.
    ConErr,
    /// `END`: the server closed the session.
    End,
    /// `ERROR`: a request could not be interpreted.
    Error,
}

/// An error code and message from the server (Appendix A and B of the specification;
/// codes `<= 0` come from the Metadata Adapter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Which line carried it.
    pub kind: ServerErrorKind,
    /// The code.
    pub code: i32,
    /// The message.
    pub message: String,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.kind {
            ServerErrorKind::ConErr => "CONERR",
            ServerErrorKind::End => "END",
            ServerErrorKind::Error => "ERROR",
        };
        write!(f, "{tag} {}: {}", self.code, self.message)
    }
}

/// What the server says about itself or the session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerInfo {
    /// `SERVNAME`: the server's configured name.
    ServerName(String),
    /// `CLIENTIP`: the client address as the server sees it.
    ClientIp(String),
    /// `CONS`: the bandwidth limit applied to the session.
    Bandwidth(BandwidthLimit),
}

/// Something that happened to a subscription.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SubscriptionEvent {
    /// `SUBOK`/`SUBCMD`: active, with these dimensions. Sent again after each new session.
    Subscribed {
        /// Number of items.
        items: usize,
        /// Number of (first-level) fields.
        fields: usize,
        /// COMMAND mode: 1-based position of the key field.
        key_pos: Option<usize>,
        /// COMMAND mode: 1-based position of the command field.
        command_pos: Option<usize>,
    },
    /// The subscription failed and is gone (its id is dead).
    Error(SubscriptionError),
    /// Unsubscribed, as asked: the id is dead.
    Unsubscribed,
    /// The session ended: the subscription is kept, and will be sent again (with a
    /// snapshot) in the next session, followed by a new
    /// [`Subscribed`](SubscriptionEvent::Subscribed).
    Interrupted,
    /// `EOS`: the snapshot of this item is complete.
    EndOfSnapshot {
        /// 1-based item.
        item: usize,
    },
    /// `CS`: the snapshot of this item was cleared (DISTINCT: forget the history; COMMAND:
    /// the rows are gone).
    ClearSnapshot {
        /// 1-based item.
        item: usize,
    },
    /// `OV`: the server dropped updates of this item.
    LostUpdates {
        /// 1-based item.
        item: usize,
        /// How many.
        lost: u64,
        /// Two-level COMMAND: the key whose second-level updates were lost.
        key: Option<String>,
    },
    /// `CONF`: the frequency the server applies.
    RealMaxFrequency {
        /// Updates per second, or unlimited.
        frequency: RealMaxFrequency,
        /// `false` for unfiltered dispatching.
        filtered: bool,
    },
    /// Two-level COMMAND: the second-level subscription of a key failed (the key's row
    /// keeps its first-level fields).
    SecondLevelError {
        /// The key.
        key: String,
        /// What went wrong.
        error: SubscriptionError,
    },
}

/// Why a subscription failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The server refused it (`REQERR`, or `ERROR` for its request).
    Server {
        /// The code (Appendix B; `<= 0` from the Metadata Adapter).
        code: i32,
        /// The message.
        message: String,
    },
    /// The server's answer does not fit the subscription (e.g. 3 items for 2 item names).
    Model(ModelError),
}

/// The outcome of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageOutcome {
    /// `MSGDONE`: processed, with the Metadata Adapter's response (TLCP 2.5.0).
    Processed {
        /// The response; `None` before 2.5.0.
        response: Option<String>,
    },
    /// Refused by the Metadata Adapter (code `<= 0`).
    Denied {
        /// The code.
        code: i32,
        /// The message.
        message: String,
    },
    /// Skipped by timeout in its sequence (codes 38 and 39).
    Discarded,
    /// Failed on the server.
    Error {
        /// The code.
        code: i32,
        /// The message.
        message: String,
    },
    /// The session was lost before an outcome came, or the message could not be sent
    /// while disconnected.
    Aborted,
}

impl MessageOutcome {
    /// The outcome of a `MSGFAIL` (or `REQERR`) code, as the official clients map it.
    pub(super) fn from_failure(code: i32, message: &str) -> Self {
        match code {
            38 | 39 => Self::Discarded,
            c if c <= 0 => Self::Denied {
                code,
                message: message.to_owned(),
            },
            _ => Self::Error {
                code,
                message: message.to_owned(),
            },
        }
    }
}

/// Which session-level request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// `reconf` of a subscription's frequency.
    Reconf(SubscriptionId),
    /// `constrain` of the bandwidth.
    Constrain,
    /// `force_rebind`.
    ForceRebind,
    /// `heartbeat`.
    Heartbeat,
}

/// A control request that failed (`REQERR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFailure {
    /// The request.
    pub request: RequestKind,
    /// The code.
    pub code: i32,
    /// The message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_map_like_the_official_clients() {
        assert_eq!(
            MessageOutcome::from_failure(38, "x"),
            MessageOutcome::Discarded
        );
        assert_eq!(
            MessageOutcome::from_failure(39, "2"),
            MessageOutcome::Discarded
        );
        assert!(matches!(
            MessageOutcome::from_failure(0, "no"),
            MessageOutcome::Denied { code: 0, .. }
        ));
        assert!(matches!(
            MessageOutcome::from_failure(-5, "no"),
            MessageOutcome::Denied { code: -5, .. }
        ));
        assert!(matches!(
            MessageOutcome::from_failure(34, "boom"),
            MessageOutcome::Error { code: 34, .. }
        ));
        let e = ServerError {
            kind: ServerErrorKind::ConErr,
            code: 2,
            message: "Requested Adapter Set not available".into(),
        };
        assert_eq!(
            e.to_string(),
            "CONERR 2: Requested Adapter Set not available"
        );
    }
}
