//! The stream connection of a session: what is written on it and when.
//!
//! The same loop serves WebSocket and HTTP stream connections, streaming and polling:
//! `CONOK` and the session preamble, the recovery replay, then the session's output as it
//! comes, `PROBE` after `keepalive` of silence, `SYNC` periodically, `LOOP` when an HTTP
//! content length is about to be exceeded or a poll is over, `END` when the session
//! closes. A bandwidth constraint is enforced here with a token bucket.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use tlcp_proto::BandwidthLimit;
use tlcp_proto::notification::Notification;
use tokio::time::{Duration, Instant};

use super::dispatch::later;
use super::{Output, Session};

/// Where a stream connection's bytes go (a WebSocket text message or an HTTP chunk).
pub(crate) trait Sink {
    /// Writes complete lines.
    fn send(&mut self, data: String) -> impl Future<Output = io::Result<()>> + Send;

    /// Writes the connection's last line (`LOOP`, `END` or `CONERR`): the stream is over
    /// once it is out, and the client may send its next request on receiving it.
    fn send_last(&mut self, data: String) -> impl Future<Output = io::Result<()>> + Send {
        self.send(data)
    }

    /// Cuts the connection without a proper end (test hook).
    fn abort(&mut self) -> impl Future<Output = ()> + Send;
}

/// The stream connection's parameters, from `create_session` or `bind_session`.
#[derive(Debug, Clone)]
pub(crate) struct StreamParams {
    pub(crate) polling: bool,
    /// `LS_polling_millis`: announced in the final `LOOP` of a poll.
    pub(crate) polling_millis: u64,
    /// `LS_idle_millis`: how long a poll may wait for data.
    pub(crate) idle: Duration,
    pub(crate) keepalive: Duration,
    pub(crate) send_sync: bool,
    /// HTTP streaming: the response's content length.
    pub(crate) content_length: Option<u64>,
    pub(crate) recovery_from: Option<u64>,
    /// `LS_inactivity_millis`: the client promised to send something (at least a
    /// `heartbeat`) this often; a longer silence means the connection is dead.
    pub(crate) inactivity: Option<Duration>,
    /// HTTP: send the `NOOP` preamble.
    pub(crate) http: bool,
}

/// How a stream connection ended.
#[derive(Debug)]
pub(crate) enum StreamEnd {
    /// `LOOP` was sent: the session waits for a rebind.
    Looped,
    /// Another connection took the session over.
    Superseded,
    /// `END` was sent: the session is over.
    Closed,
    /// The bind was refused (`CONERR` was sent).
    Refused,
    /// Writing failed: the connection is gone (the session waits, unbound, for recovery).
    Io(io::Error),
    /// The connection was cut on purpose (test hook).
    Dropped,
}

const MAX_CHUNK: usize = 256 * 1024;
/// The longest a bandwidth limit pauses the stream connection before looking again.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(1);
/// Room kept for the final `LOOP` within a content length.
const LOOP_RESERVE: u64 = 32;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Runs a stream connection for `session` until it loops, ends or fails.
pub(crate) async fn run_stream<S: Sink>(
    session: &Arc<Session>,
    p: &StreamParams,
    sink: &mut S,
) -> StreamEnd {
    let grace = if p.polling {
        Duration::from_millis(p.polling_millis)
    } else {
        Duration::ZERO
    };
    let (generation, wake, replay) = match session.bind(grace, p.recovery_from) {
        Ok(b) => b,
        Err(c) => {
            let mut line = String::new();
            // A session that was closed but is still known answers `END` with its cause
            // (Chapter 3, bind_session responses: "the requested session has just been
            // forcibly closed on the Server side"); other refusals are `CONERR`.
            let end = match session.closed_reason() {
                Some(closed) => {
                    // (Releases what its close may have left to release.)
                    session.close(closed.code, closed.message.clone());
                    Notification::End {
                        code: closed.code,
                        message: Cow::Borrowed(&closed.message),
                    }
                    .encode(&mut line);
                    StreamEnd::Closed
                }
                None => {
                    Notification::ConErr {
                        code: c.code,
                        message: Cow::Borrowed(&c.message),
                    }
                    .encode(&mut line);
                    StreamEnd::Refused
                }
            };
            let _ = sink.send_last(line).await;
            return end;
        }
    };
    // Whatever ends this connection (including the task being aborted when the socket
    // drops), the session becomes unbound and waits for a rebind or a recovery.
    let _unbind = UnbindGuard {
        session,
        generation,
    };
    let bound_at = Instant::now();
    session.heard_from_client(bound_at);
    // Allow for scheduling and network jitter before declaring the client gone.
    let silence_limit = p
        .inactivity
        .map(|d| d.saturating_add((d / 2).max(Duration::from_millis(500))));
    let mut head = String::new();
    Notification::ConOk {
        session_id: Cow::Borrowed(session.id.expose()),
        request_limit: session.config.request_limit as u64,
        keepalive_ms: p.keepalive.as_millis() as u64,
        control_link: None,
    }
    .encode(&mut head);
    Notification::ServName {
        name: Cow::Borrowed(&session.config.server_name),
    }
    .encode(&mut head);
    Notification::ClientIp {
        ip: Cow::Owned(session.client.remote.ip().to_string()),
    }
    .encode(&mut head);
    if p.http {
        let mut written = 0;
        while written < session.config.http_preamble_bytes {
            let start = head.len();
            Notification::Noop {
                preamble: Cow::Borrowed("sending placeholder data"),
            }
            .encode(&mut head);
            written += head.len() - start;
        }
    }
    Notification::Cons {
        bandwidth: session.lock().bandwidth,
    }
    .encode(&mut head);
    head.push_str(&replay);
    let mut sent = head.len() as u64;
    if let Err(e) = sink.send(head).await {
        session.unbind(generation, Instant::now());
        return StreamEnd::Io(e);
    }
    let mut last_write = Instant::now();
    let sync_interval = session.config.sync_interval;
    let mut next_sync = bound_at.checked_add(sync_interval);
    let idle_deadline = later(bound_at, p.idle);
    let mut wrote_data = false;
    let mut bucket = Bucket {
        tokens: 0.0,
        last: bound_at,
    };
    loop {
        let now = Instant::now();
        if let Some(limit) = silence_limit
            && now.duration_since(session.last_heard_from_client()) > limit
        {
            tracing::debug!(session = %session.id.redacted(), "client silent beyond LS_inactivity_millis: cutting the stream connection");
            sink.abort().await;
            return StreamEnd::Dropped;
        }
        let mut budget = MAX_CHUNK;
        if let Some(cl) = p.content_length {
            let left = cl.saturating_sub(sent + LOOP_RESERVE);
            if left == 0 {
                return finish_loop(session, generation, sink, 0).await;
            }
            budget = budget.min(left as usize);
        }
        // SYNC is due whatever else is going on: a busy stream gets it between chunks
        // (within the content length, like any other line).
        if p.send_sync
            && !p.polling
            && let Some(due) = next_sync
            && now >= due
        {
            let mut line = String::new();
            Notification::Sync {
                seconds: (now - bound_at).as_secs(),
            }
            .encode(&mut line);
            if line.len() < budget {
                next_sync = now.checked_add(sync_interval);
                sent += line.len() as u64;
                if let Err(e) = sink.send(line).await {
                    session.unbind(generation, Instant::now());
                    return StreamEnd::Io(e);
                }
                last_write = Instant::now();
                continue;
            }
        }
        let rate = match session.lock().bandwidth {
            BandwidthLimit::Kbps(k) if k > 0.0 && k.is_finite() => Some(k * 1000.0 / 8.0),
            _ => None,
        };
        if let Some(rate) = rate {
            let burst = (rate / 10.0).max(512.0);
            bucket.tokens = (bucket.tokens + (now - bucket.last).as_secs_f64() * rate).min(burst);
            bucket.last = now;
            if bucket.tokens < 256.0 && session.paces(generation) {
                // However small the rate, the wait is a valid duration; and a wake-up
                // (the session closed, or another connection took it) ends it early.
                let wait = Duration::try_from_secs_f64((256.0 - bucket.tokens) / rate)
                    .unwrap_or(MAX_THROTTLE_WAIT)
                    .min(MAX_THROTTLE_WAIT);
                let mut deadline = later(now, wait);
                if let Some(due) = next_sync.filter(|_| p.send_sync && !p.polling) {
                    deadline = deadline.min(due);
                }
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
                continue;
            }
            budget = budget.min((bucket.tokens.max(1.0)) as usize);
        }
        match session.take_output(generation, budget, now) {
            Output::Data(d, since) => {
                sent += d.len() as u64;
                if rate.is_some() {
                    bucket.tokens -= d.len() as f64;
                }
                let lines = memchr::memchr_iter(b'\n', d.as_bytes()).count() as u64;
                if let Err(e) = sink.send(d).await {
                    session.unbind(generation, Instant::now());
                    return StreamEnd::Io(e);
                }
                if let Some(since) = since {
                    session.delays.record(since.elapsed(), lines);
                }
                last_write = Instant::now();
                wrote_data = true;
            }
            Output::Idle(timer) => {
                if p.polling && (wrote_data || now >= idle_deadline) {
                    return finish_loop(session, generation, sink, p.polling_millis).await;
                }
                let mut deadline = if p.polling {
                    idle_deadline
                } else {
                    later(last_write, p.keepalive)
                };
                if p.send_sync
                    && !p.polling
                    && let Some(due) = next_sync
                {
                    deadline = deadline.min(due);
                }
                if let Some(t) = timer {
                    deadline = deadline.min(t);
                }
                if let Some(limit) = silence_limit {
                    deadline = deadline.min(later(
                        session.last_heard_from_client(),
                        limit + Duration::from_millis(1),
                    ));
                }
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
                // (A due SYNC goes at the top of the loop.)
                let now = Instant::now();
                let mut extra = String::new();
                if !p.polling && now >= later(last_write, p.keepalive) {
                    Notification::Probe.encode(&mut extra);
                }
                if !extra.is_empty() {
                    sent += extra.len() as u64;
                    if let Err(e) = sink.send(extra).await {
                        session.unbind(generation, Instant::now());
                        return StreamEnd::Io(e);
                    }
                    last_write = Instant::now();
                }
            }
            Output::Loop(delay) => {
                return finish_loop(session, generation, sink, delay).await;
            }
            Output::Superseded => return StreamEnd::Superseded,
            Output::Drop => {
                sink.abort().await;
                return StreamEnd::Dropped;
            }
            Output::Closed(c) => {
                let mut line = String::new();
                Notification::End {
                    code: c.code,
                    message: Cow::Borrowed(&c.message),
                }
                .encode(&mut line);
                let _ = sink.send_last(line).await;
                return StreamEnd::Closed;
            }
        }
    }
}

struct UnbindGuard<'a> {
    session: &'a Arc<Session>,
    generation: u64,
}

impl Drop for UnbindGuard<'_> {
    fn drop(&mut self) {
        self.session.unbind(self.generation, Instant::now());
    }
}

async fn finish_loop<S: Sink>(
    session: &Arc<Session>,
    generation: u64,
    sink: &mut S,
    delay_ms: u64,
) -> StreamEnd {
    session.unbind(generation, Instant::now());
    let mut line = String::new();
    Notification::Loop {
        expected_delay_ms: delay_ms,
    }
    .encode(&mut line);
    match sink.send_last(line).await {
        Ok(()) => StreamEnd::Looped,
        Err(e) => StreamEnd::Io(e),
    }
}
