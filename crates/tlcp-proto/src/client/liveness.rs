//! Liveness: the silence timer of a bound stream (`STALLED` after keepalive + stalled
//! timeout, the connection dropped and recovered after the reconnect timeout more), and the
//! outbound silence that reverse heartbeats fill.
//!
//! Any byte from the stream connection restarts the count and ends `STALLED`. Polling
//! streams may stay silent while the server holds the poll: their limit is the larger of
//! the keepalive and the idle timeout.

use std::time::{Duration, Instant};

use super::ClientSession;
use super::connection::{Cause, StreamKind, StreamState};
use super::status::Status;
use super::timers::Timer;
use super::transmit::ConnId;

impl ClientSession {
    /// Starts the silence timer of a bound stream.
    pub(super) fn arm_silence(&mut self, now: Instant) {
        let Some(kind) = self.bound_kind() else {
            return;
        };
        let keepalive = self
            .session
            .as_ref()
            .map_or(Duration::ZERO, |s| s.keepalive);
        let limit = if kind.is_polling() {
            keepalive.max(self.config.idle_timeout)
        } else {
            keepalive
        };
        self.timers
            .set(Timer::Stalled, now + limit + self.config.stalled_timeout);
        self.timers.stop(Timer::Reconnect);
    }

    fn bound_kind(&self) -> Option<StreamKind> {
        self.stream
            .as_ref()
            .filter(|s| s.state == StreamState::Bound)
            .map(|s| s.kind)
    }

    /// Bytes arrived on `conn`: a bound stream is alive.
    pub(super) fn note_rx(&mut self, conn: ConnId, now: Instant) {
        let Some(s) = self
            .stream
            .as_ref()
            .filter(|s| s.conn == conn && s.state == StreamState::Bound)
        else {
            return;
        };
        let status = if s.sensing {
            Status::StreamSensing
        } else {
            s.kind.status()
        };
        self.arm_silence(now);
        if self.status == Status::Stalled {
            self.set_status(status);
        }
    }

    pub(super) fn on_stalled(&mut self, now: Instant) {
        if self.bound_kind().is_some() {
            self.set_status(Status::Stalled);
            self.timers
                .set(Timer::Reconnect, now + self.config.reconnect_timeout);
        }
    }

    pub(super) fn on_reconnect_timeout(&mut self, now: Instant) {
        if let Some(kind) = self.bound_kind() {
            self.drop_stream();
            self.lose_stream(now, kind.cause(Cause::Stalled));
        }
    }

    /// Something was sent to the server: reverse heartbeats count from now.
    pub(super) fn note_tx(&mut self, now: Instant) {
        if let Some(every) = self.heartbeat_every() {
            self.timers.set(Timer::Heartbeat, now + every);
        }
    }

    /// The reverse heartbeat interval in force: the configured one, but never longer than
    /// the one announced to the server for the current binding.
    pub(super) fn heartbeat_every(&self) -> Option<std::time::Duration> {
        let wanted = self
            .config
            .reverse_heartbeat_interval
            .filter(|d| !d.is_zero());
        match (wanted, self.announced_heartbeat) {
            (Some(w), Some(a)) => Some(w.min(a)),
            (w, a) => w.or(a),
        }
    }
}
