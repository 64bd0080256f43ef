//! Losing and getting back: session recovery (`LS_recovery_from`, `PROG`), replacement by a
//! new session (`LS_old_session`), retries with backoff, `CONERR` and `END` codes, shutdown.
//!
//! * The stream is lost while a session exists: `DISCONNECTED:TRYING-RECOVERY`. After a
//!   random pause below `first_retry_max_delay`, an HTTP polling `bind_session` asks to
//!   replay from the number of data notifications received; retried every `retry_delay`
//!   while `session_recovery_timeout` (counted from the loss) allows.
//! * `PROG,<m>` answers it: `m < n` means the first `n - m` replayed data notifications are
//!   duplicates, skipped; `m > n` means a gap: recovery is impossible.
//! * Recovery impossible (timeout, gap, `CONERR`/`END` on the bind, or no recovery in the
//!   protocol version): a new session with `LS_old_session`, every subscription sent again
//!   with a snapshot, and [`SessionEvent::Replaced`](super::SessionEvent::Replaced).
//! * Session creation attempts that fail are retried after `retry_delay` (counted from the
//!   start of the attempt) for 10 attempts, then the delay doubles up to
//!   `max_retry_delay`. A successful `CONOK` resets the count.

use std::time::{Duration, Instant};

use super::ClientSession;
use super::config::SessionConfig;
use super::connection::{Purpose, StreamKind};
use super::event::{Event, Lost, ServerError, ServerErrorKind, SessionEnd, SessionEvent};
use super::inbound::Flow;
use super::status::Status;
use super::timers::Timer;
use super::transmit::{ConnId, Transmit};
use crate::types::SessionId;

/// The server session.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) id: SessionId,
    /// The longest request the server takes, in bytes (`CONOK`).
    pub(super) request_limit: usize,
    /// The keepalive interval (`CONOK`).
    pub(super) keepalive: Duration,
    /// Where binds and control requests go (`CONOK`), unless ignored.
    pub(super) control_link: Option<String>,
    /// Data notifications received since the session started.
    pub(super) received: u64,
    /// Replayed duplicates still to skip.
    pub(super) skip: u64,
    /// A recovery bind got its `CONOK`; `PROG` is expected next.
    pub(super) awaiting_prog: bool,
}

impl Session {
    pub(super) fn new(
        id: SessionId,
        request_limit: usize,
        keepalive: Duration,
        control_link: Option<String>,
    ) -> Self {
        Self {
            id,
            request_limit,
            keepalive,
            control_link,
            received: 0,
            skip: 0,
            awaiting_prog: false,
        }
    }
}

/// A recovery in progress.
#[derive(Debug)]
pub(super) struct Recovery {
    /// No attempt starts after this.
    deadline: Instant,
    /// `LS_cause` of the recovery binds.
    cause: &'static str,
}

/// Retry state of session creation.
#[derive(Debug, Default)]
pub(super) struct Retry {
    /// Consecutive failed attempts.
    pub(super) failures: u32,
}

/// A lost session, to be replaced by the next creation.
#[derive(Debug)]
pub(super) struct Replacing {
    pub(super) old: SessionId,
    pub(super) lost: Lost,
}

/// How the machine reacts to a `CONERR` or `END` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reaction {
    /// Try again: a new session.
    Retry,
    /// Create over HTTP with `LS_ttl_millis=unlimited`.
    HttpWithTtl,
    /// Stop and report.
    Fatal,
}

/// The reaction to `CONERR,<code>`.
pub(super) fn conerr_reaction(code: i32) -> Reaction {
    match code {
        4 | 6 | 20 | 40 | 41 | 48 => Reaction::Retry,
        5 => Reaction::HttpWithTtl,
        _ => Reaction::Fatal,
    }
}

/// The reaction to `END,<code>`.
pub(super) fn end_reaction(code: i32) -> Reaction {
    match code {
        41 | 48 => Reaction::Retry,
        _ => Reaction::Fatal,
    }
}

/// The pause after the `failures`-th failed attempt: `retry_delay` for the first 10, then
/// doubling, capped at `max_retry_delay`.
pub(super) fn backoff(config: &SessionConfig, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(10).min(20);
    config
        .retry_delay
        .saturating_mul(1 << doublings)
        .min(config.max_retry_delay.max(config.retry_delay))
}

impl ClientSession {
    /// The stream of a live session is gone: recover it if possible, else replace it.
    pub(super) fn lose_stream(&mut self, now: Instant, cause: &'static str) {
        self.drop_stream();
        if self.session.is_none() {
            return self.create_failed(now);
        }
        let pause = self.jitter.below(self.config.first_retry_max_delay);
        let recoverable = self.config.protocol_version.supports_recovery()
            && !self.config.session_recovery_timeout.is_zero();
        if recoverable {
            self.recovery = Some(Recovery {
                deadline: now + self.config.session_recovery_timeout,
                cause,
            });
            self.set_status(Status::TryingRecovery);
            self.timers.set(Timer::Retry, now + pause);
        } else {
            self.session_lost(now, Lost::Unknown, pause);
        }
    }

    /// The retry timer: the next recovery or creation attempt.
    pub(super) fn on_retry(&mut self, now: Instant) {
        if let Some(cause) = self.recovery.as_ref().map(|r| r.cause) {
            self.start_bind(now, StreamKind::HttpPolling, Purpose::Recover, cause, true);
        } else if self.session.is_some() && self.stream.is_none() {
            // Defensive: a session without a stream is a lost stream.
            self.lose_stream(now, "recovery");
        } else if self.want && self.session.is_none() {
            let cause = if self.replacing.is_some() {
                "recovery.error"
            } else {
                "api"
            };
            self.start_create(now, cause);
        }
    }

    pub(super) fn recovery_attempt_failed(&mut self, now: Instant) {
        let Some(deadline) = self.recovery.as_ref().map(|r| r.deadline) else {
            return;
        };
        let start = self.attempt_started.unwrap_or(now);
        let next = (start + self.config.retry_delay).max(now);
        if next > deadline {
            self.session_lost(now, Lost::Unknown, Duration::ZERO);
        } else {
            self.timers.set(Timer::Retry, next);
            self.set_status(Status::TryingRecovery);
        }
    }

    /// `PROG,<m>` after a recovery `CONOK`.
    pub(super) fn on_prog(&mut self, conn: ConnId, m: u64, now: Instant) -> Flow {
        let Some(session) = self.session.as_mut().filter(|s| s.awaiting_prog) else {
            let error = super::ProtocolError::Unexpected {
                tag: "PROG",
                context: "no recovery in progress",
            };
            self.report(conn, error, super::IssueAction::Ignored);
            return Flow::Continue;
        };
        session.awaiting_prog = false;
        let n = session.received;
        if m > n {
            self.session_lost(now, Lost::AtLeast(m - n), Duration::ZERO);
            return Flow::End;
        }
        session.skip = n - m;
        let event = SessionEvent::Recovered {
            session_id: session.id.clone(),
            duplicates_skipped: n - m,
        };
        self.emit(Event::Session(event));
        Flow::Continue
    }

    /// A recovered stream said nothing about duplicates: there were none.
    pub(super) fn finish_recovery_without_prog(&mut self) {
        if let Some(session) = self.session.as_mut().filter(|s| s.awaiting_prog) {
            session.awaiting_prog = false;
            let event = SessionEvent::Recovered {
                session_id: session.id.clone(),
                duplicates_skipped: 0,
            };
            self.emit(Event::Session(event));
        }
    }

    /// The session is gone for good: a new one replaces it after `pause`.
    pub(super) fn session_lost(&mut self, now: Instant, lost: Lost, pause: Duration) {
        let old = self.session.take();
        self.recovery = None;
        self.drop_stream();
        self.end_session_state();
        if let Some(old) = old {
            self.replacing = Some(Replacing { old: old.id, lost });
        }
        // The replacement tries every transport again (WebSocket first).
        self.plan.forget_failures();
        self.set_status(Status::WillRetry);
        if pause.is_zero() {
            self.start_create(now, "recovery.error");
        } else {
            self.timers.set(Timer::Retry, now + pause);
        }
    }

    /// A creation attempt failed: retry with backoff, trying every transport again.
    pub(super) fn create_failed(&mut self, now: Instant) {
        self.drop_stream();
        self.plan.forget_failures();
        self.retry.failures = self.retry.failures.saturating_add(1);
        let delay = backoff(&self.config, self.retry.failures);
        let start = self.attempt_started.unwrap_or(now);
        self.timers.set(Timer::Retry, (start + delay).max(now));
        self.set_status(Status::WillRetry);
    }

    /// `CONERR` in answer to a create or bind request.
    pub(super) fn on_conerr(
        &mut self,
        conn: ConnId,
        code: i32,
        message: &str,
        now: Instant,
    ) -> Flow {
        let waiting = |s: &mut super::connection::Stream| {
            s.conn == conn && s.state == super::connection::StreamState::Requested
        };
        let Some(stream) = self.stream.take_if(waiting) else {
            let error = super::ProtocolError::Unexpected {
                tag: "CONERR",
                context: "no create or bind request waiting",
            };
            self.report(conn, error, super::IssueAction::Ignored);
            return Flow::Continue;
        };
        self.close_conn(conn);
        self.timers.stop(Timer::Connect);
        match (conerr_reaction(code), stream.purpose) {
            (Reaction::Fatal, _) => self.fatal(ServerErrorKind::ConErr, code, message),
            // Once only, and only where HTTP is allowed: else retry with backoff.
            (Reaction::HttpWithTtl, Purpose::Create)
                if !self.plan.http_ttl
                    && self.config.forced_transport.is_none_or(|t| t.allows_http()) =>
            {
                self.plan.http_ttl = true;
                self.start_create(now, "ttl.required");
            }
            (_, Purpose::Create) => self.create_failed(now),
            (_, Purpose::Bind | Purpose::Recover) => {
                self.session_lost(now, Lost::Unknown, Duration::ZERO);
            }
        }
        Flow::End
    }

    /// `END` on the stream (or in answer to a bind).
    pub(super) fn on_end(&mut self, conn: ConnId, code: i32, message: &str, now: Instant) {
        if self.stream.as_ref().is_none_or(|s| s.conn != conn) {
            return self.close_conn(conn);
        }
        self.drop_stream();
        match end_reaction(code) {
            Reaction::Fatal => self.fatal(ServerErrorKind::End, code, message),
            _ => self.session_lost(now, Lost::Unknown, Duration::ZERO),
        }
    }

    /// A server error the machine does not retry: report, stop.
    fn fatal(&mut self, kind: ServerErrorKind, code: i32, message: &str) {
        let error = ServerError {
            kind,
            code,
            message: message.to_owned(),
        };
        self.emit(Event::ServerError(error.clone()));
        self.shutdown(SessionEnd::Server(error));
    }

    /// Everything tied to a session that ends: subscriptions interrupted, messages
    /// aborted, control requests dropped.
    pub(super) fn end_session_state(&mut self) {
        self.ctrl.clear();
        self.subs_on_session_end();
        self.msgs_on_session_end();
        self.timers.stop(Timer::Heartbeat);
    }

    /// Stops everything: `DISCONNECTED`.
    pub(super) fn shutdown(&mut self, cause: SessionEnd) {
        self.want = false;
        for conn in std::mem::take(&mut self.conns) {
            self.transmits.push_back(Transmit::Close { conn: conn.id });
        }
        self.stream = None;
        self.session = None;
        self.recovery = None;
        self.replacing = None;
        self.rebind = None;
        self.timers.stop_all();
        self.end_session_state();
        self.emit(Event::Session(SessionEvent::Closed { cause }));
        self.set_status(Status::Disconnected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_tables() {
        for code in [4, 6, 20, 40, 41, 48] {
            assert_eq!(conerr_reaction(code), Reaction::Retry, "CONERR {code}");
        }
        assert_eq!(conerr_reaction(5), Reaction::HttpWithTtl);
        for code in [1, 2, 3, 7, 8, 9, 10, 11, 60, 65, 0, -3] {
            assert_eq!(conerr_reaction(code), Reaction::Fatal, "CONERR {code}");
        }
        for code in [41, 48] {
            assert_eq!(end_reaction(code), Reaction::Retry, "END {code}");
        }
        for code in [4, 20, 31, 32, 35, 40, 0, -1] {
            assert_eq!(end_reaction(code), Reaction::Fatal, "END {code}");
        }
    }

    #[test]
    fn backoff_doubles_after_ten_attempts_up_to_the_cap() {
        let c = SessionConfig::default();
        let ms: Vec<u64> = (1..=16)
            .map(|f| super::super::config::millis(backoff(&c, f)))
            .collect();
        assert_eq!(
            ms,
            [
                4000, 4000, 4000, 4000, 4000, 4000, 4000, 4000, 4000, 4000, 8000, 16000, 32000,
                60000, 60000, 60000
            ]
        );
        assert_eq!(backoff(&c, u32::MAX), Duration::from_secs(60));
    }
}
