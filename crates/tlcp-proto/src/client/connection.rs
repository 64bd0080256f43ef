//! The stream connection: transport selection (stream-sense), create and bind requests,
//! `CONOK`, `LOOP`, failures and fallbacks, stall detection.
//!
//! Without a forced transport: create over WS; no answer in time, or a failed WS, and the
//! session is created over HTTP (a polling request answered at once with `LOOP`, status
//! `CONNECTED:STREAM-SENSING`), then the stream is bound over WS, falling back to HTTP
//! streaming, then to HTTP polling when streaming gets no `CONOK` in time.
//!
//! Forced `HTTP` does the HTTP part of that; forced `WS` streams over WebSocket and falls
//! back to WS polling when an open WebSocket gets no `CONOK` for a streaming request in
//! time (a proxy that buffers the stream).
//!
//! What failed is remembered in the [`Plan`] for the rest of the session, and forgotten
//! when a new session is to be created: after a lost session, after a failed creation
//! attempt (the retry starts over with WebSocket), and on
//! [`connect`](super::ClientSession::connect) or a forced-transport change. So one
//! WebSocket failure never moves the client to HTTP for good.

use std::time::{Duration, Instant};

use super::config::{ForcedTransport, millis};
use super::error::ProtocolError;
use super::event::{Event, SessionEvent};
use super::inbound::Flow;
use super::status::Status;
use super::timers::Timer;
use super::transmit::{CloseReason, ConnId, HttpKind, Target, Transmit};
use super::{ClientSession, IssueAction};
use crate::framing::LineDecoder;
use crate::request::{BindSession, CreateSession, Request, SessionTtl};
use crate::types::SessionId;

/// The WebSocket path.
const WS_PATH: &str = "/lightstreamer";

/// What carries the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamKind {
    WsStreaming,
    WsPolling,
    HttpStreaming,
    HttpPolling,
}

impl StreamKind {
    pub(super) fn is_ws(self) -> bool {
        matches!(self, Self::WsStreaming | Self::WsPolling)
    }

    pub(super) fn is_polling(self) -> bool {
        matches!(self, Self::WsPolling | Self::HttpPolling)
    }

    pub(super) fn status(self) -> Status {
        match self {
            Self::WsStreaming => Status::WsStreaming,
            Self::WsPolling => Status::WsPolling,
            Self::HttpStreaming => Status::HttpStreaming,
            Self::HttpPolling => Status::HttpPolling,
        }
    }

    pub(super) fn cause(self, what: Cause) -> &'static str {
        match (self.is_ws(), what) {
            (true, Cause::Loop) => "ws.loop",
            (false, Cause::Loop) => "http.loop",
            (true, Cause::Error) => "ws.error",
            (false, Cause::Error) => "http.error",
            (true, Cause::Stalled) => "ws.stalled",
            (false, Cause::Stalled) => "http.stalled",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Cause {
    Loop,
    Error,
    Stalled,
}

/// Why a stream request was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// `create_session`.
    Create,
    /// `bind_session` of a live session.
    Bind,
    /// `bind_session` with `LS_recovery_from`.
    Recover,
}

/// Where a stream connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamState {
    /// WS: the socket is being opened.
    Opening,
    /// The request is sent; waiting for `CONOK`.
    Requested,
    /// `CONOK` received: data flows.
    Bound,
    /// `LOOP` received: waiting to bind again.
    Looped,
}

/// The stream connection.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) conn: ConnId,
    pub(super) kind: StreamKind,
    pub(super) purpose: Purpose,
    pub(super) state: StreamState,
    /// Part of stream-sense: the status stays `CONNECTED:STREAM-SENSING`.
    pub(super) sensing: bool,
    /// WS: the request to send once the socket is open.
    pending: Option<String>,
}

/// Transport selection state of a session (see the [module documentation](self)).
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// WebSocket attempts that failed since the last WS `CONOK`.
    ws_failures: u8,
    /// HTTP streaming got no `CONOK` in time: poll.
    streaming_failed: bool,
    /// Forced `WS`: WS streaming got no `CONOK` in time on an open socket: poll over WS.
    ws_streaming_failed: bool,
    /// `CONERR,5`: create over HTTP with `LS_ttl_millis=unlimited`.
    pub(super) http_ttl: bool,
    /// The keepalive of the last streaming `CONOK`, asked for again on later binds.
    keepalive_hint: Option<u64>,
}

/// What a connection is.
#[derive(Debug)]
pub(super) enum ConnKind {
    Ws {
        open: bool,
    },
    HttpStream,
    /// An HTTP control request carrying these request ids.
    HttpControl(Vec<u64>),
}

/// A connection the driver holds for the machine.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) id: ConnId,
    pub(super) kind: ConnKind,
    pub(super) decoder: LineDecoder,
}

impl Plan {
    /// A new session is to be created: what failed for the last one is tried again.
    /// (`http_ttl` stays: `CONERR,5` says what the server requires.)
    pub(super) fn forget_failures(&mut self) {
        self.ws_failures = 0;
        self.streaming_failed = false;
        self.ws_streaming_failed = false;
    }
}

impl ClientSession {
    pub(super) fn open_conn(&mut self, kind: ConnKind) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        let decoder = LineDecoder::new(self.config.max_line_len);
        self.conns.push(Conn { id, kind, decoder });
        id
    }

    pub(super) fn conn_index(&self, id: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    /// Forgets a connection that ended by itself.
    pub(super) fn forget_conn(&mut self, id: ConnId) -> Option<Conn> {
        self.conn_index(id).map(|i| self.conns.swap_remove(i))
    }

    /// Closes a connection (if the machine still holds it) and forgets it.
    pub(super) fn close_conn(&mut self, id: ConnId) {
        if self.forget_conn(id).is_some() {
            self.transmits.push_back(Transmit::Close { conn: id });
        }
    }

    fn ws_open(&self, id: ConnId) -> bool {
        self.conn_index(id)
            .is_some_and(|i| matches!(self.conns[i].kind, ConnKind::Ws { open: true }))
    }

    /// Drops the stream connection, closing it.
    pub(super) fn drop_stream(&mut self) {
        if let Some(s) = self.stream.take() {
            self.close_conn(s.conn);
        }
        for t in [
            Timer::Connect,
            Timer::Stalled,
            Timer::Reconnect,
            Timer::Rebind,
        ] {
            self.timers.stop(t);
        }
        self.rebind = None;
    }

    /// Where binds and control requests go: the control link, unless ignored.
    pub(super) fn target(&self) -> Target {
        match self.session.as_ref().and_then(|s| s.control_link.as_ref()) {
            Some(link) => Target::ControlLink(link.clone()),
            None => Target::Server,
        }
    }

    fn keepalive_hint(&self) -> Option<u64> {
        self.config
            .keepalive_interval
            .map(millis)
            .or(self.plan.keepalive_hint)
    }

    /// Sends a create request on a new connection.
    pub(super) fn start_create(&mut self, now: Instant, cause: &'static str) {
        self.drop_stream();
        self.timers.stop(Timer::Retry);
        self.attempt_started = Some(now);
        let forced = self.config.forced_transport;
        let ws = match forced {
            Some(t) => t.allows_ws(),
            None => self.plan.ws_failures == 0 && !self.plan.http_ttl,
        };
        let kind = match (ws, forced) {
            (true, Some(ForcedTransport::WsPolling)) => StreamKind::WsPolling,
            (true, Some(ForcedTransport::Ws)) if self.plan.ws_streaming_failed => {
                StreamKind::WsPolling
            }
            (true, _) => StreamKind::WsStreaming,
            (false, _) => StreamKind::HttpPolling,
        };
        let request = self.create_request(kind, cause);
        self.send_stream_request(now, request, kind, Purpose::Create, Target::Server, !ws);
        self.set_status(Status::Connecting);
    }

    fn create_request(&self, kind: StreamKind, cause: &str) -> Request {
        let c = &self.config;
        let mut r = CreateSession::new();
        r.cid = Some(c.cid.clone());
        r.user.clone_from(&c.user);
        r.password.clone_from(&c.password);
        r.adapter_set.clone_from(&c.adapter_set);
        r.requested_max_bandwidth = c.requested_max_bandwidth;
        r.inactivity_millis = c.reverse_heartbeat_interval.map(millis);
        if kind.is_polling() {
            r.polling = Some(true);
            // Over HTTP the creation is the first step of stream-sense: answered at once.
            let (polling, idle) = if kind.is_ws() {
                (millis(c.polling_interval), millis(c.idle_timeout))
            } else {
                (0, 0)
            };
            r.polling_millis = Some(polling);
            r.idle_millis = Some(idle);
        } else {
            r.keepalive_millis = self.keepalive_hint();
            r.send_sync = (!c.send_sync).then_some(false);
        }
        r.old_session = self.replacing.as_ref().map(|r| r.old.clone());
        if !kind.is_ws() && self.plan.http_ttl {
            r.ttl_millis = Some(SessionTtl::Unlimited);
        }
        r.cause = Some(cause.to_owned());
        r.into()
    }

    fn bind_request(
        &self,
        session: &SessionId,
        kind: StreamKind,
        purpose: Purpose,
        cause: &str,
    ) -> Request {
        let c = &self.config;
        let mut b = BindSession::new(session.clone());
        if purpose == Purpose::Recover {
            b.recovery_from = self.session.as_ref().map(|s| s.received);
        }
        if kind.is_polling() {
            b.polling = Some(true);
            let (polling, idle) = if purpose == Purpose::Recover {
                (0, 0)
            } else {
                (millis(c.polling_interval), millis(c.idle_timeout))
            };
            b.polling_millis = Some(polling);
            b.idle_millis = Some(idle);
        } else {
            b.keepalive_millis = self.keepalive_hint();
            if !kind.is_ws() {
                b.content_length = Some(c.content_length);
            }
            b.send_sync = (!c.send_sync).then_some(false);
        }
        b.inactivity_millis = c.reverse_heartbeat_interval.map(millis);
        b.cause = Some(cause.to_owned());
        b.into()
    }

    /// Binds the session: on the open WS of the stream when there is one and WS is
    /// wanted, else on a new connection.
    pub(super) fn start_bind(
        &mut self,
        now: Instant,
        kind: StreamKind,
        purpose: Purpose,
        cause: &'static str,
        sensing: bool,
    ) {
        let Some(id) = self.session.as_ref().map(|s| s.id.clone()) else {
            return;
        };
        self.timers.stop(Timer::Rebind);
        self.rebind = None;
        self.attempt_started = Some(now);
        let request = self.bind_request(&id, kind, purpose, cause);
        let reusable = self
            .stream
            .as_ref()
            .filter(|s| kind.is_ws() && s.kind.is_ws() && self.ws_open(s.conn))
            .map(|s| s.conn);
        if let Some(conn) = reusable {
            let mut text = String::new();
            request.encode_ws(&mut text);
            self.transmits.push_back(Transmit::WsText { conn, text });
            self.stream = Some(Stream {
                conn,
                kind,
                purpose,
                state: StreamState::Requested,
                sensing,
                pending: None,
            });
            self.timers
                .set(Timer::Connect, now + self.config.retry_delay);
        } else {
            let target = self.target();
            self.send_stream_request(now, request, kind, purpose, target, sensing);
        }
        self.note_tx(now);
    }

    /// Opens a connection for a stream request: a WS (the request goes once it is open) or
    /// an HTTP request.
    fn send_stream_request(
        &mut self,
        now: Instant,
        request: Request,
        kind: StreamKind,
        purpose: Purpose,
        target: Target,
        sensing: bool,
    ) {
        self.drop_stream();
        self.attempt_started = Some(now);
        self.announced_heartbeat = match &request {
            Request::CreateSession(c) => c.inactivity_millis,
            Request::BindSession(b) => b.inactivity_millis,
            _ => None,
        }
        .filter(|m| *m > 0)
        .map(std::time::Duration::from_millis);
        let version = self.config.protocol_version;
        let (conn, state, pending, timeout) = if kind.is_ws() {
            let mut text = String::new();
            request.encode_ws(&mut text);
            let conn = self.open_conn(ConnKind::Ws { open: false });
            self.transmits.push_back(Transmit::OpenWs {
                conn,
                target,
                path: WS_PATH,
                subprotocol: version.ws_subprotocol(),
                creates_session: matches!(request, Request::CreateSession(_)),
            });
            (
                conn,
                StreamState::Opening,
                Some(text),
                self.config.ws_timeout(),
            )
        } else {
            let (mut path, mut body) = (String::new(), String::new());
            request.encode_http_post(version, &mut path, &mut body);
            let conn = self.open_conn(ConnKind::HttpStream);
            self.transmits.push_back(Transmit::Http {
                conn,
                target,
                path,
                body,
                kind: HttpKind::Stream,
            });
            (conn, StreamState::Requested, None, self.config.retry_delay)
        };
        self.stream = Some(Stream {
            conn,
            kind,
            purpose,
            state,
            sensing,
            pending,
        });
        self.timers.set(Timer::Connect, now + timeout);
    }

    pub(super) fn on_ws_opened(&mut self, conn: ConnId, now: Instant) {
        let Some(i) = self.conn_index(conn) else {
            return;
        };
        if let ConnKind::Ws { open } = &mut self.conns[i].kind {
            *open = true;
        }
        let Some(stream) = self
            .stream
            .as_mut()
            .filter(|s| s.conn == conn && s.state == StreamState::Opening)
        else {
            return;
        };
        stream.state = StreamState::Requested;
        let text = stream.pending.take().unwrap_or_default();
        if self.config.protocol_version.supports_wsok() {
            self.transmits.push_back(Transmit::WsText {
                conn,
                text: "wsok".to_owned(),
            });
        }
        self.transmits.push_back(Transmit::WsText { conn, text });
        self.note_tx(now);
    }

    /// `CONOK` on the stream connection.
    pub(super) fn on_conok(
        &mut self,
        conn: ConnId,
        sid: &str,
        request_limit: u64,
        keepalive_ms: u64,
        link: Option<&str>,
        now: Instant,
    ) {
        let Some(stream) = self
            .stream
            .as_mut()
            .filter(|s| s.conn == conn && s.state == StreamState::Requested)
        else {
            let error = ProtocolError::Unexpected {
                tag: "CONOK",
                context: "no create or bind request waiting",
            };
            return self.report(conn, error, IssueAction::Ignored);
        };
        stream.state = StreamState::Bound;
        let (kind, purpose, sensing) = (stream.kind, stream.purpose, stream.sensing);
        self.timers.stop(Timer::Connect);
        self.retry.failures = 0;
        if kind.is_ws() {
            self.plan.ws_failures = 0;
        }
        if !kind.is_polling() && self.config.keepalive_interval.is_none() {
            self.plan.keepalive_hint = Some(keepalive_ms);
        }
        let link = link
            .filter(|_| !self.config.ignore_control_link)
            .map(str::to_owned);
        let limit = usize::try_from(request_limit).unwrap_or(usize::MAX);
        let keepalive = Duration::from_millis(keepalive_ms);
        if purpose == Purpose::Create {
            let id = SessionId::new(sid);
            self.session = Some(super::recovery::Session::new(
                id.clone(),
                limit,
                keepalive,
                link,
            ));
            let event = match self.replacing.take() {
                Some(r) => SessionEvent::Replaced {
                    session_id: id,
                    lost: r.lost,
                },
                None => SessionEvent::Created { session_id: id },
            };
            self.emit(Event::Session(event));
            self.subs_on_new_session();
            self.msgs_on_new_session();
        } else if let Some(session) = self.session.as_mut() {
            session.request_limit = limit;
            session.keepalive = keepalive;
            session.control_link = link;
            let other = session.id.expose() != sid;
            if purpose == Purpose::Recover {
                session.awaiting_prog = true;
                self.recovery = None;
            }
            if other {
                let error = ProtocolError::Unexpected {
                    tag: "CONOK",
                    context: "another session id on a bind",
                };
                self.report(conn, error, IssueAction::Ignored);
            }
        }
        self.set_status(if sensing {
            Status::StreamSensing
        } else {
            kind.status()
        });
        self.arm_silence(now);
        self.flush(now);
    }

    /// `LOOP` on the stream connection: bind again after the delay.
    pub(super) fn on_loop(&mut self, conn: ConnId, delay_ms: u64, now: Instant) -> Flow {
        let Some(stream) = self
            .stream
            .as_mut()
            .filter(|s| s.conn == conn && s.state == StreamState::Bound)
        else {
            let error = ProtocolError::Unexpected {
                tag: "LOOP",
                context: "no bound stream",
            };
            self.report(conn, error, IssueAction::Ignored);
            return Flow::Continue;
        };
        stream.state = StreamState::Looped;
        let ws = stream.kind.is_ws();
        let cause = stream.kind.cause(Cause::Loop);
        self.finish_recovery_without_prog();
        self.timers.stop(Timer::Stalled);
        self.timers.stop(Timer::Reconnect);
        if !ws {
            // The server ends the response after LOOP; whatever follows is to be ignored.
            self.forget_conn(conn);
        }
        if delay_ms == 0 {
            let next = self.choose_bind_kind();
            self.start_bind(now, next, Purpose::Bind, cause, false);
        } else {
            self.rebind = Some(cause);
            self.timers
                .set(Timer::Rebind, now + Duration::from_millis(delay_ms));
        }
        self.flush(now);
        if ws { Flow::Continue } else { Flow::End }
    }

    /// The transport of the next bind.
    pub(super) fn choose_bind_kind(&self) -> StreamKind {
        use ForcedTransport as F;
        match self.config.forced_transport {
            Some(F::Ws) if self.plan.ws_streaming_failed => StreamKind::WsPolling,
            Some(F::Ws | F::WsStreaming) => StreamKind::WsStreaming,
            Some(F::WsPolling) => StreamKind::WsPolling,
            Some(F::HttpStreaming) => StreamKind::HttpStreaming,
            Some(F::HttpPolling) => StreamKind::HttpPolling,
            Some(F::Http) | None if self.plan.streaming_failed => StreamKind::HttpPolling,
            Some(F::Http) => StreamKind::HttpStreaming,
            None if self.plan.ws_failures < 2 => StreamKind::WsStreaming,
            None => StreamKind::HttpStreaming,
        }
    }

    /// After `set_forced_transport`: a bound stream on a transport no longer wanted is
    /// asked to `LOOP`, and the rebind takes the new one.
    pub(super) fn move_stream_if_needed(&mut self, now: Instant) {
        let next = self.choose_bind_kind();
        let bound_elsewhere = self
            .stream
            .as_ref()
            .is_some_and(|s| s.state == StreamState::Bound && !s.sensing && s.kind != next);
        if bound_elsewhere {
            self.ctrl.push(super::control::Op::ForceRebind);
            self.flush(now);
        }
    }

    pub(super) fn on_closed(&mut self, conn: ConnId, _reason: CloseReason, now: Instant) {
        let Some(closed) = self.forget_conn(conn) else {
            return;
        };
        if let ConnKind::HttpControl(reqs) = closed.kind {
            return self.control_conn_failed(conn, reqs, now);
        }
        self.on_stream_failure(now, conn, false);
    }

    pub(super) fn on_connect_timeout(&mut self, now: Instant) {
        if let Some(conn) = self.stream.as_ref().map(|s| s.conn) {
            self.on_stream_failure(now, conn, true);
        }
    }

    /// The stream connection failed, ended, or its request timed out.
    pub(super) fn on_stream_failure(&mut self, now: Instant, conn: ConnId, timed_out: bool) {
        let Some(stream) = self.stream.take_if(|s| s.conn == conn) else {
            return;
        };
        self.close_conn(conn);
        for t in [Timer::Connect, Timer::Stalled, Timer::Reconnect] {
            self.timers.stop(t);
        }
        let free = self.config.forced_transport.is_none();
        let attempt = matches!(stream.state, StreamState::Opening | StreamState::Requested);
        // Forced WS: the socket is open but the streaming request got no answer in time.
        let ws_stream_unanswered = timed_out
            && stream.state == StreamState::Requested
            && stream.kind == StreamKind::WsStreaming
            && self.config.forced_transport == Some(ForcedTransport::Ws);
        match (stream.purpose, stream.kind) {
            // Between a LOOP and the rebind: the rebind opens a new connection.
            _ if stream.state == StreamState::Looped => self.stream = Some(stream),
            // A bound stream: the session lives on, unbound.
            (_, kind) if !attempt => self.lose_stream(now, kind.cause(Cause::Error)),
            (Purpose::Recover, _) => self.recovery_attempt_failed(now),
            (Purpose::Create, _) if ws_stream_unanswered => {
                self.plan.ws_streaming_failed = true;
                self.start_create(now, "ws.streaming.unavailable");
            }
            (Purpose::Bind, _) if ws_stream_unanswered => {
                self.plan.ws_streaming_failed = true;
                let cause = "ws.streaming.unavailable";
                self.start_bind(
                    now,
                    StreamKind::WsPolling,
                    Purpose::Bind,
                    cause,
                    stream.sensing,
                );
            }
            (Purpose::Create, kind) if attempt && kind.is_ws() && free => {
                self.plan.ws_failures = self.plan.ws_failures.saturating_add(1);
                self.start_create(now, "ws.unavailable");
            }
            (Purpose::Create, _) => self.create_failed(now),
            (Purpose::Bind, kind) if attempt && kind.is_ws() && free => {
                self.plan.ws_failures = self.plan.ws_failures.max(1).saturating_add(1);
                let next = self.choose_bind_kind();
                self.start_bind(now, next, Purpose::Bind, "ws.unavailable", stream.sensing);
            }
            (Purpose::Bind, StreamKind::HttpStreaming)
                if attempt
                    && timed_out
                    && matches!(
                        self.config.forced_transport,
                        None | Some(ForcedTransport::Http)
                    ) =>
            {
                self.plan.streaming_failed = true;
                let cause = "http.streaming.unavailable";
                self.start_bind(
                    now,
                    StreamKind::HttpPolling,
                    Purpose::Bind,
                    cause,
                    stream.sensing,
                );
            }
            (Purpose::Bind, kind) => self.lose_stream(now, kind.cause(Cause::Error)),
        }
    }
}
