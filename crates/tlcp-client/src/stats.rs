//! [`Stats`]: counters of a client, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a client's counters, from [`Client::stats`](crate::Client::stats).
///
/// Counters only grow, for the life of the client (across sessions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Updates received from the server (all subscriptions).
    pub updates: u64,
    /// Bytes received on stream connections.
    pub bytes: u64,
    /// Chunks (socket reads' worth of data) received on stream connections.
    pub chunks: u64,
    /// Sessions created (the first one included).
    pub sessions: u64,
    /// Times a lost session was replaced by a new one (continuity lost).
    pub reconnects: u64,
    /// Times a lost stream connection was recovered without loss.
    pub recoveries: u64,
    /// Updates the server reported lost (`OV`: its buffer or bandwidth limit dropped
    /// them), all subscriptions together.
    pub lost_updates: u64,
    /// Data notifications known lost when a session could not be recovered and was
    /// replaced (the server had sent this many more than the client received, see
    /// [`Lost::AtLeast`](tlcp_proto::client::Lost::AtLeast)). Not only updates: every
    /// notification the recovery count covers (`U`, `SUBOK`, `CONF`, `EOS`, `MSGDONE`,
    /// ...) counts, and it is a lower bound: a replacement whose loss is unknown adds
    /// nothing (see [`reconnects`](Self::reconnects)).
    pub lost_notifications: u64,
    /// Updates this client dropped because a subscription's reader was behind and its
    /// queue was full ([`Delivery::Queue`](crate::Delivery::Queue)).
    pub dropped_by_slow_consumers: u64,
    /// Updates folded into a newer one because a reader was behind
    /// ([`Delivery::Conflate`](crate::Delivery::Conflate)).
    pub conflated: u64,
    /// Times reading paused because a [`Delivery::Backpressure`](crate::Delivery::Backpressure)
    /// subscription's queue was full.
    pub backpressure_pauses: u64,
    /// Messages sent.
    pub messages: u64,
}

/// The live counters, updated by the driver.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) updates: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) chunks: AtomicU64,
    pub(crate) sessions: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    pub(crate) lost_updates: AtomicU64,
    pub(crate) lost_notifications: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) conflated: AtomicU64,
    pub(crate) pauses: AtomicU64,
    pub(crate) messages: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            updates: self.updates.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            chunks: self.chunks.load(Relaxed),
            sessions: self.sessions.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            recoveries: self.recoveries.load(Relaxed),
            lost_updates: self.lost_updates.load(Relaxed),
            lost_notifications: self.lost_notifications.load(Relaxed),
            dropped_by_slow_consumers: self.dropped.load(Relaxed),
            conflated: self.conflated.load(Relaxed),
            backpressure_pauses: self.pauses.load(Relaxed),
            messages: self.messages.load(Relaxed),
        }
    }
}
