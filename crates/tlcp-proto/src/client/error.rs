//! Errors, split by whose fault they are: [`ClientError`] (the application asked for
//! something invalid) and [`ProtocolError`] (the server sent something malformed or
//! unexpected, reported in an [`Event::Protocol`](super::Event::Protocol) with what the
//! machine did about it).

use super::event::SubscriptionId;
use super::transmit::ConnId;
use crate::framing::FrameError;
use crate::model::ModelError;
use crate::notification::NotificationError;

/// The application asked for something the machine cannot do. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A message sequence name with characters outside `[A-Za-z0-9_]`.
    #[error("invalid message sequence name {0:?} (allowed: letters, digits and _)")]
    InvalidSequence(String),
    /// A subscription without items or without fields.
    #[error("a subscription needs at least one {0}")]
    Empty(&'static str),
    /// An item or field name that cannot be in a space-separated list.
    #[error("invalid {what} name {name:?} (empty or with a space)")]
    InvalidName {
        /// `"item"` or `"field"`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A second level on a subscription that is not in COMMAND mode.
    #[error("only COMMAND subscriptions have a second level")]
    SecondLevelNotCommand,
    /// A snapshot length on a subscription that is not in DISTINCT mode.
    #[error("a snapshot length is only allowed in DISTINCT mode")]
    SnapshotLengthNotDistinct,
    /// A snapshot request on a RAW subscription.
    #[error("RAW subscriptions have no snapshot")]
    SnapshotInRaw,
    /// A subscription id the machine does not know (never issued, or already gone).
    #[error("unknown subscription {0}")]
    UnknownSubscription(SubscriptionId),
    /// A subscription id already in use ([`ClientSession::subscribe_as`](super::ClientSession::subscribe_as)).
    #[error("subscription {0} exists already")]
    SubscriptionIdInUse(SubscriptionId),
    /// A frequency change from or to unfiltered dispatching (the server refuses it).
    #[error("the maximum frequency cannot be changed from or to unfiltered")]
    UnfilteredReconf,
    /// A requested maximum frequency or bandwidth that is not a positive finite number
    /// (0 would stop the flow for good; servers refuse it with error 65).
    #[error("the requested maximum {what} must be a positive finite number, not {value}")]
    NotPositive {
        /// `"frequency"` or `"bandwidth"`.
        what: &'static str,
        /// The number given, as written by `f64`'s `Display`.
        value: String,
    },
}

impl ClientError {
    /// Checks a requested frequency: a number of updates per second must be above 0.
    pub fn check_frequency(f: Option<crate::MaxFrequency>) -> Result<(), Self> {
        match f {
            Some(crate::MaxFrequency::PerSecond(v)) => positive("frequency", v),
            _ => Ok(()),
        }
    }

    /// Checks a requested bandwidth: a number of kbit/s must be above 0.
    pub fn check_bandwidth(b: Option<crate::Bandwidth>) -> Result<(), Self> {
        match b {
            Some(crate::Bandwidth::Kbps(v)) => positive("bandwidth", v),
            _ => Ok(()),
        }
    }
}

fn positive(what: &'static str, value: f64) -> Result<(), ClientError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ClientError::NotPositive {
            what,
            value: value.to_string(),
        })
    }
}

/// What the server did wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A line too long (the machine cannot tell what it was).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A line that does not parse.
    #[error(transparent)]
    Notification(#[from] NotificationError),
    /// A line for a subscription that does not fit its model (e.g. an undecodable `U`).
    #[error("{subscription}: {error}")]
    Model {
        /// The subscription.
        subscription: SubscriptionId,
        /// What does not fit.
        error: ModelError,
    },
    /// A subscription notification for an `LS_subId` the session does not have.
    #[error("notification {tag} for unknown subscription {sub_id}")]
    UnknownSubscription {
        /// The tag of the line.
        tag: &'static str,
        /// The wire subscription id.
        sub_id: u32,
    },
    /// A line that makes no sense in the machine's state (e.g. `CONOK` on a bound stream).
    #[error("unexpected {tag} ({context})")]
    Unexpected {
        /// The tag of the line.
        tag: &'static str,
        /// What the machine was doing.
        context: &'static str,
    },
}

/// What the machine did about a [`ProtocolError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueAction {
    /// Nothing: the line was skipped.
    Ignored,
    /// The subscription's data could no longer be trusted: it is being unsubscribed and
    /// subscribed again, with a snapshot (a new
    /// [`Subscribed`](super::SubscriptionEvent::Subscribed) follows).
    Resubscribed(SubscriptionId),
    /// The connection was dropped and is being replaced (as after a network error).
    ConnectionDropped,
}

/// A protocol error, where it happened, and what the machine did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolIssue {
    /// The connection the line came from.
    pub conn: ConnId,
    /// What was wrong.
    pub error: ProtocolError,
    /// What the machine did.
    pub action: IssueAction,
}

impl std::fmt::Display for ProtocolIssue {
    /// The error, then what was done about it: `bad field count ... (Ignored)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.error, self.action)
    }
}
