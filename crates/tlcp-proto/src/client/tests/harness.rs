//! A scripted driver in virtual time: scenario tests read like a script.
//!
//! ```text
//! let mut h = Script::new(config());
//! h.connect();
//! let ws = h.expect_ws_open();
//! h.open_ws(ws);
//! h.expect_ws_text(ws, "wsok");
//! h.server_sends(ws, "CONOK,S1,50000,5000,*");
//! h.advance(7000);
//! h.expect_events(&["status STALLED"]);
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::client::{
    ClientSession, CloseReason, ConnId, Event, HttpKind, MessageOutcome, SessionConfig,
    SessionEvent, Status, SubscriptionError, SubscriptionEvent, SubscriptionId, Target, Transmit,
};

/// The configuration most scenarios start from: adapter set DEMO, a fixed seed.
pub(super) fn config() -> SessionConfig {
    SessionConfig::new("DEMO").with_seed(42)
}

/// The percent-encoded custom client id, as sent in `LS_cid`.
pub(super) const CID: &str = "mgQkwtwdysogQz2BJ4Ji%20kOj2Bg";

/// An HTTP request the machine sent.
#[derive(Debug)]
pub(super) struct Http {
    pub(super) conn: ConnId,
    pub(super) target: Target,
    pub(super) path: String,
    pub(super) body: String,
    pub(super) kind: HttpKind,
}

pub(super) struct Script {
    pub(super) s: ClientSession,
    t0: Instant,
    pub(super) now: Instant,
    log: Vec<String>,
    tx: VecDeque<(u64, Transmit)>,
    /// When the last expected transmit was produced (ms since the start).
    pub(super) last_at: u64,
}

impl Script {
    pub(super) fn new(config: SessionConfig) -> Self {
        let t0 = Instant::now();
        Self {
            s: ClientSession::new(config),
            t0,
            now: t0,
            log: Vec::new(),
            tx: VecDeque::new(),
            last_at: 0,
        }
    }

    /// Milliseconds since the start.
    pub(super) fn at(&self) -> u64 {
        u64::try_from((self.now - self.t0).as_millis()).unwrap_or(u64::MAX)
    }

    /// Drains events (rendered into the log) and transmits (stamped with the time).
    pub(super) fn pump(&mut self) {
        while let Some(e) = self.s.poll_event() {
            self.log.push(render(&e));
        }
        let at = self.at();
        while let Some(t) = self.s.poll_transmit() {
            self.tx.push_back((at, t));
        }
    }

    pub(super) fn connect(&mut self) {
        self.s.connect(self.now);
        self.pump();
    }

    pub(super) fn disconnect(&mut self) {
        self.s.disconnect(self.now);
        self.pump();
    }

    /// Moves virtual time forward by `ms`, firing every timer on the way, in order.
    pub(super) fn advance(&mut self, ms: u64) {
        let target = self.now + Duration::from_millis(ms);
        while let Some(t) = self.s.poll_timeout().filter(|t| *t <= target) {
            self.now = self.now.max(t);
            self.s.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    /// Runs virtual time to the next timer (at most `max_ms` away); returns how long.
    pub(super) fn advance_to_next_timer(&mut self, max_ms: u64) -> u64 {
        let before = self.at();
        match self.s.poll_timeout() {
            Some(t) if t <= self.now + Duration::from_millis(max_ms) => {
                let ms = u64::try_from((t.max(self.now) - self.now).as_millis()).unwrap_or(0);
                self.advance(ms);
            }
            _ => self.advance(max_ms),
        }
        self.at() - before
    }

    /// The server sends `lines` (one per script line, CRLF added) on `conn`, in one chunk.
    pub(super) fn server_sends(&mut self, conn: ConnId, lines: &str) {
        let mut bytes = String::new();
        for line in lines.lines() {
            bytes.push_str(line.trim_start());
            bytes.push_str("\r\n");
        }
        self.server_bytes(conn, bytes.as_bytes());
    }

    /// Raw bytes from the server on `conn`, handled the way a driver must.
    pub(super) fn server_bytes(&mut self, conn: ConnId, mut chunk: &[u8]) {
        let mut guard = 0;
        while !chunk.is_empty() {
            self.s.handle_bytes(conn, &mut chunk, self.now);
            self.pump();
            guard += 1;
            assert!(guard < 100_000, "handle_bytes makes no progress");
        }
        self.pump();
    }

    pub(super) fn open_ws(&mut self, conn: ConnId) {
        self.s.handle_opened(conn, self.now);
        self.pump();
    }

    pub(super) fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.s.handle_closed(conn, reason, self.now);
        self.pump();
    }

    pub(super) fn fail(&mut self, conn: ConnId) {
        self.close(conn, CloseReason::Failed("connection reset".into()));
    }

    pub(super) fn control_response(&mut self, conn: ConnId, lines: &str) {
        let body: String = lines
            .lines()
            .map(|l| format!("{}\r\n", l.trim_start()))
            .collect();
        self.s
            .handle_control_response(conn, body.as_bytes(), self.now);
        self.pump();
    }

    pub(super) fn subscribe(&mut self, spec: crate::client::SubscriptionSpec) -> SubscriptionId {
        let id = self.s.subscribe(spec, self.now).unwrap();
        self.pump();
        id
    }

    // ---- transmits ----

    pub(super) fn expect_transmit(&mut self) -> Transmit {
        let (at, t) = self
            .tx
            .pop_front()
            .unwrap_or_else(|| panic!("no transmit at {} ms; events: {:?}", self.at(), self.log));
        self.last_at = at;
        t
    }

    pub(super) fn expect_no_transmit(&mut self) {
        self.pump();
        assert!(self.tx.is_empty(), "unexpected transmits: {:?}", self.tx);
    }

    /// Whether a transmit is pending.
    pub(super) fn has_transmit(&mut self) -> bool {
        self.pump();
        !self.tx.is_empty()
    }

    /// Takes every pending transmit.
    pub(super) fn take_transmits(&mut self) -> Vec<Transmit> {
        self.pump();
        self.tx.drain(..).map(|(_, t)| t).collect()
    }

    /// Drops every pending transmit.
    pub(super) fn discard_transmits(&mut self) {
        self.tx.clear();
    }

    pub(super) fn expect_ws_open(&mut self) -> ConnId {
        self.expect_ws_open_to().0
    }

    pub(super) fn expect_ws_open_to(&mut self) -> (ConnId, Target) {
        match self.expect_transmit() {
            Transmit::OpenWs {
                conn,
                target,
                path,
                subprotocol,
                ..
            } => {
                assert_eq!(path, "/lightstreamer");
                assert!(subprotocol.ends_with(".lightstreamer.com"), "{subprotocol}");
                (conn, target)
            }
            other => panic!("expected OpenWs, got {other:?}"),
        }
    }

    /// The next transmit is a WS message on `conn`, equal to `expected`.
    pub(super) fn expect_ws_text(&mut self, conn: ConnId, expected: &str) {
        assert_eq!(self.ws_text(conn), expected);
    }

    /// The next transmit is a WS message on `conn`: its text.
    pub(super) fn ws_text(&mut self, conn: ConnId) -> String {
        match self.expect_transmit() {
            Transmit::WsText { conn: c, text } if c == conn => text,
            other => panic!("expected WsText on {conn}, got {other:?}"),
        }
    }

    /// The next transmit is an HTTP request for `name` (`create_session`, `control`, ...).
    pub(super) fn expect_http(&mut self, name: &str) -> Http {
        match self.expect_transmit() {
            Transmit::Http {
                conn,
                target,
                path,
                body,
                kind,
            } => {
                let prefix = format!("/lightstreamer/{name}.txt?LS_protocol=TLCP-");
                assert!(path.starts_with(&prefix), "{path} is not {name}");
                Http {
                    conn,
                    target,
                    path,
                    body,
                    kind,
                }
            }
            other => panic!("expected HTTP {name}, got {other:?}"),
        }
    }

    pub(super) fn expect_close(&mut self, conn: ConnId) {
        match self.expect_transmit() {
            Transmit::Close { conn: c } if c == conn => {}
            other => panic!("expected Close of {conn}, got {other:?}"),
        }
    }

    // ---- events ----

    /// Takes the events logged so far.
    pub(super) fn events(&mut self) -> Vec<String> {
        self.pump();
        std::mem::take(&mut self.log)
    }

    /// The events logged so far are exactly these.
    pub(super) fn expect_events(&mut self, expected: &[&str]) {
        assert_eq!(self.events(), expected, "at {} ms", self.at());
    }

    /// Among the events logged so far is one starting with `prefix`; drops them all.
    pub(super) fn expect_event(&mut self, prefix: &str) {
        let events = self.events();
        assert!(
            events.iter().any(|e| e.starts_with(prefix)),
            "no event {prefix:?} in {events:?}"
        );
    }

    pub(super) fn status(&self) -> Status {
        self.s.status()
    }

    /// Connects over WS and gets `CONOK,S1,<limit>,5000,*`; every event and transmit up to
    /// there is consumed. Returns the WS connection.
    pub(super) fn ws_session(&mut self, limit: u64) -> ConnId {
        self.connect();
        let ws = self.expect_ws_open();
        self.open_ws(ws);
        self.expect_ws_text(ws, "wsok");
        let create = self.ws_text(ws);
        assert!(create.starts_with("create_session\r\n"), "{create}");
        self.server_sends(ws, &format!("WSOK\nCONOK,S1,{limit},5000,*"));
        assert_eq!(self.status(), Status::WsStreaming);
        self.events();
        ws
    }
}

/// One event, as a short line of text.
pub(super) fn render(e: &Event<'_>) -> String {
    match e {
        Event::Status(s) => format!("status {s}"),
        Event::Session(s) => match s {
            SessionEvent::Created { .. } => "session created".into(),
            SessionEvent::Recovered {
                duplicates_skipped, ..
            } => format!("session recovered skipping {duplicates_skipped}"),
            SessionEvent::Replaced { lost, .. } => format!("session replaced, lost {lost:?}"),
            SessionEvent::Closed { cause } => format!("session closed {cause:?}"),
        },
        Event::ServerError(e) => format!("server error {e}"),
        Event::ServerInfo(i) => format!("info {i:?}"),
        Event::Subscription { id, event } => format!("sub{} {}", id.get(), render_sub(event)),
        Event::Update(u) => {
            let values: Vec<&str> = u.values().map(|v| v.unwrap_or("#")).collect();
            let changed: Vec<usize> = u.changed_positions().collect();
            let mut s = format!("sub{} update {}", u.subscription().get(), u.item_pos());
            if let (Some(k), Some(c)) = (u.key(), u.command()) {
                s.push_str(&format!(" {c} {k}"));
            }
            s.push_str(&format!(" [{}] changed {changed:?}", values.join("|")));
            if u.is_snapshot() {
                s.push_str(" snapshot");
            }
            s
        }
        Event::Message { id, outcome } => match outcome {
            MessageOutcome::Processed { response } => {
                format!("msg{} processed {response:?}", id.get())
            }
            other => format!("msg{} {other:?}", id.get()),
        },
        Event::RequestFailed(f) => {
            format!("request failed {:?} {} {}", f.request, f.code, f.message)
        }
        Event::Protocol(p) => format!("protocol error ({}) -> {:?}", p.error, p.action),
    }
}

fn render_sub(e: &SubscriptionEvent) -> String {
    match e {
        SubscriptionEvent::Subscribed {
            items,
            fields,
            key_pos,
            command_pos,
        } => match (key_pos, command_pos) {
            (Some(k), Some(c)) => format!("subscribed {items}x{fields} key {k} command {c}"),
            _ => format!("subscribed {items}x{fields}"),
        },
        SubscriptionEvent::Error(SubscriptionError::Server { code, message }) => {
            format!("error {code} {message}")
        }
        SubscriptionEvent::Error(e) => format!("error {e:?}"),
        SubscriptionEvent::Unsubscribed => "unsubscribed".into(),
        SubscriptionEvent::Interrupted => "interrupted".into(),
        SubscriptionEvent::EndOfSnapshot { item } => format!("end of snapshot {item}"),
        SubscriptionEvent::ClearSnapshot { item } => format!("clear snapshot {item}"),
        SubscriptionEvent::LostUpdates { item, lost, key } => match key {
            Some(k) => format!("lost {lost} of {item} key {k}"),
            None => format!("lost {lost} of {item}"),
        },
        SubscriptionEvent::RealMaxFrequency {
            frequency,
            filtered,
        } => format!("frequency {frequency:?} filtered {filtered}"),
        SubscriptionEvent::SecondLevelError { key, error } => {
            format!("second-level error {key} {error:?}")
        }
    }
}
