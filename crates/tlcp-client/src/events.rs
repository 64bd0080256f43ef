//! What the client tells the application: [`SubscriptionEvent`] (per subscription, in
//! order with its updates) and [`ConnectionEvent`] (about the session and the server).

use tlcp_proto::client::{
    Lost, ProtocolIssue, RequestFailure, ServerError, ServerInfo, SessionEnd, SessionEvent,
    SubscriptionError,
};
use tlcp_proto::{BandwidthLimit, RealMaxFrequency, SessionId};

use crate::update::ItemUpdate;

/// Something that happened to a subscription, delivered in order by its
/// [`SubscriptionStream`](crate::SubscriptionStream).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubscriptionEvent {
    /// The server accepted the subscription (`SUBOK`/`SUBCMD`), with its dimensions. Comes
    /// again after every new session (the subscription is sent again).
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
    /// A real-time (or snapshot) update.
    Update(ItemUpdate),
    /// The snapshot of this item is complete (`EOS`).
    EndOfSnapshot {
        /// 1-based item position.
        item: usize,
        /// The item's name, when the subscription listed its items.
        item_name: Option<String>,
    },
    /// The snapshot of this item was cleared (`CS`): DISTINCT, forget the history;
    /// COMMAND, every row is gone.
    ClearSnapshot {
        /// 1-based item position.
        item: usize,
        /// The item's name, when the subscription listed its items.
        item_name: Option<String>,
    },
    /// The **server** dropped updates of this item (`OV`), e.g. because of a bandwidth
    /// limit or its buffer size.
    LostUpdates {
        /// 1-based item position.
        item: usize,
        /// The item's name, when the subscription listed its items.
        item_name: Option<String>,
        /// How many.
        count: u64,
        /// Two-level COMMAND: the key whose second-level updates were lost.
        key: Option<String>,
    },
    /// **This client** dropped `count` updates here because the reader of this
    /// subscription fell behind and its queue was full (see
    /// [`Delivery::Queue`](crate::Delivery::Queue)). Delivered exactly where the gap is.
    Dropped {
        /// How many updates were dropped.
        count: u64,
    },
    /// **This client** dropped `count` informational events (end or clear of snapshot,
    /// server-side losses, `CONF`, second-level errors) here because the reader of this
    /// subscription did not read and [`MAX_INFO_EVENTS`](crate::delivery::MAX_INFO_EVENTS)
    /// of them were already waiting. Only a server repeating such events to a reader that
    /// never reads causes this. Delivered exactly where the gap is.
    EventsDropped {
        /// How many events were dropped.
        count: u64,
    },
    /// The maximum frequency the server applies (`CONF`).
    RealMaxFrequency {
        /// Updates per second, or unlimited.
        frequency: RealMaxFrequency,
        /// `false` for unfiltered dispatching.
        filtered: bool,
    },
    /// The session ended; the subscription is kept and sent again (with a snapshot) in
    /// the next session, where a new [`Subscribed`](Self::Subscribed) follows.
    Interrupted,
    /// Two-level COMMAND: the second-level subscription of a key failed.
    SecondLevelError {
        /// The key.
        key: String,
        /// What went wrong.
        error: SubscriptionError,
    },
    /// The subscription failed and is over: the stream ends after this event.
    Error(SubscriptionError),
    /// Unsubscribed, as asked: the stream ends after this event.
    Unsubscribed,
}

impl SubscriptionEvent {
    /// Whether nothing follows this event.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Error(_) | Self::Unsubscribed)
    }

    /// The update, if this is one.
    pub fn as_update(&self) -> Option<&ItemUpdate> {
        match self {
            Self::Update(u) => Some(u),
            _ => None,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The application disconnected.
    Client,
    /// The server refused or closed the session with an error the client does not retry
    /// (`CONERR`, `END`).
    Server(ServerError),
}

/// Something that happened to the connection or the session, from
/// [`Client::events`](crate::Client::events).
///
/// The status itself (`CONNECTED:WS-STREAMING`, ...) is in
/// [`Client::status`](crate::Client::status); these events say what the status alone
/// cannot: whether data was lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A new session (the first one, or one after a disconnection by the application).
    SessionCreated {
        /// Its id (`Debug` shows only a prefix).
        session_id: SessionId,
    },
    /// The stream connection was lost and the session **recovered**: no update was lost
    /// nor duplicated.
    SessionRecovered {
        /// The session.
        session_id: SessionId,
        /// Notifications the server sent twice and the client skipped.
        duplicates_skipped: u64,
    },
    /// The session was lost and could not be recovered: a new one replaces it, and every
    /// subscription is sent again with a snapshot. Continuity is lost.
    SessionReplaced {
        /// The new session.
        session_id: SessionId,
        /// How many notifications may have been lost ([`Lost::Unknown`] when the server
        /// could not say).
        lost: Lost,
    },
    /// The session ended and the client is `DISCONNECTED` (it does not retry).
    SessionClosed {
        /// Why.
        cause: CloseCause,
    },
    /// The server reported an error (`CONERR`, `END`, `ERROR`). Errors the client
    /// retries on are reported here too, before the retry.
    ServerError(ServerError),
    /// The stream went silent longer than the keepalive allows (status `STALLED`): the
    /// client will drop and recover the connection if the silence goes on.
    Stalled,
    /// `SERVNAME`: the server's configured name.
    ServerName(String),
    /// `CLIENTIP`: the client's address as the server sees it.
    ClientIp(String),
    /// `CONS`: the bandwidth the server applies to the session.
    Bandwidth(BandwidthLimit),
    /// A session-level request (`constrain`, `reconf`, `heartbeat`, ...) failed.
    RequestFailed(RequestFailure),
    /// The server sent something malformed; the client coped: the issue says what was
    /// wrong, on which connection, and what was done ([`IssueAction`]: the line
    /// skipped, the subscription resubscribed with a snapshot, or the connection
    /// replaced). Its `Display` is one line for logs.
    ///
    /// [`IssueAction`]: tlcp_proto::client::IssueAction
    ProtocolIssue(ProtocolIssue),
    /// A replayed recording ([`ClientBuilder::replay`](crate::ClientBuilder::replay))
    /// does not match the session it is fed to (edited, or recorded with other
    /// options): the replay stopped there.
    ReplayDiverged(String),
    /// This receiver fell behind and missed this many connection events (they are few:
    /// only a reader that never reads gets this).
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

impl ConnectionEvent {
    pub(crate) fn from_session(e: SessionEvent) -> Option<Self> {
        Some(match e {
            SessionEvent::Created { session_id } => Self::SessionCreated { session_id },
            SessionEvent::Recovered {
                session_id,
                duplicates_skipped,
            } => Self::SessionRecovered {
                session_id,
                duplicates_skipped,
            },
            SessionEvent::Replaced { session_id, lost } => {
                Self::SessionReplaced { session_id, lost }
            }
            SessionEvent::Closed { cause } => Self::SessionClosed {
                cause: match cause {
                    SessionEnd::Server(e) => CloseCause::Server(e),
                    _ => CloseCause::Client,
                },
            },
            _ => return None,
        })
    }

    pub(crate) fn from_info(i: ServerInfo) -> Option<Self> {
        Some(match i {
            ServerInfo::ServerName(n) => Self::ServerName(n),
            ServerInfo::ClientIp(ip) => Self::ClientIp(ip),
            ServerInfo::Bandwidth(b) => Self::Bandwidth(b),
            _ => return None,
        })
    }
}
