//! Control requests: a queue of operations, sent in batches within the server's request
//! limit, on the WebSocket when the stream is a bound WS, else as HTTP control requests
//! (one at a time, so that they are executed in order); and their answers.
//!
//! Requests are built when they are sent, from the current state: an operation whose
//! subject is gone (a subscription removed meanwhile) is dropped. Request ids are
//! progressive for the life of the machine. Over WS (TLCP 2.3.0+) `add` and `delete` carry
//! `LS_ack=false`: their outcome is the `SUBOK`/`UNSUB` notification (or a `REQERR`).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::ClientSession;
use super::connection::{ConnKind, StreamState};
use super::error::{IssueAction, ProtocolError};
use super::event::{Event, MessageId, RequestFailure, RequestKind, ServerError, ServerErrorKind};
use super::timers::Timer;
use super::transmit::{ConnId, HttpKind, Transmit};
use crate::notification::Notification;
use crate::request::{Control, ControlOp, Heartbeat, Request, RequestBatch};
use crate::types::{Bandwidth, MaxFrequency, SessionId};

/// A control operation waiting to be sent, or waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    /// Subscribe this wire id (a subscription, or a second-level one).
    Add { wire: u32 },
    /// Unsubscribe this wire id.
    Delete { wire: u32 },
    /// Change the frequency of this wire id.
    Reconf { wire: u32, frequency: MaxFrequency },
    /// Change the session's bandwidth.
    Constrain(Option<Bandwidth>),
    /// Ask for a `LOOP`.
    ForceRebind,
    /// Send a message.
    Message(MessageId),
    /// A reverse heartbeat.
    Heartbeat,
}

/// The queue and the requests waiting for an answer.
#[derive(Debug, Default)]
pub(super) struct Controls {
    last_req: u64,
    queue: VecDeque<Op>,
    inflight: HashMap<u64, Op>,
    /// The HTTP control request in flight, if any.
    http_busy: Option<ConnId>,
    /// Requests wait in `queue` ([`ClientSession::hold_requests`](super::ClientSession::hold_requests)).
    pub(super) held: bool,
}

impl Controls {
    pub(super) fn push(&mut self, op: Op) {
        self.queue.push_back(op);
    }

    /// Removes a queued operation not sent yet; says whether it was there.
    pub(super) fn unqueue(&mut self, op: &Op) -> bool {
        match self.queue.iter().position(|o| o == op) {
            Some(i) => {
                self.queue.remove(i);
                true
            }
            None => false,
        }
    }

    pub(super) fn is_queued(&self, op: &Op) -> bool {
        self.queue.contains(op)
    }

    /// Forgets the answer expected for an operation (its outcome came another way).
    pub(super) fn settle(&mut self, op: &Op) {
        self.inflight.retain(|_, o| o != op);
    }

    pub(super) fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops everything (the session ended).
    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.inflight.clear();
        self.http_busy = None;
    }
}

/// Where control requests go now.
enum Channel {
    Ws(ConnId),
    Http,
}

impl ClientSession {
    fn control_channel(&self) -> Option<Channel> {
        self.session.as_ref()?;
        if self.recovery.is_some() {
            return None;
        }
        match &self.stream {
            Some(s) if s.kind.is_ws() => {
                let bound = matches!(s.state, StreamState::Bound | StreamState::Looped);
                let open = self.conn_index(s.conn).is_some();
                (bound && open).then_some(Channel::Ws(s.conn))
            }
            _ => Some(Channel::Http),
        }
    }

    /// `LS_session` for a request on `ws` or HTTP: always on HTTP, and on WS before 2.2.0.
    fn request_session(&self, ws: bool) -> Option<SessionId> {
        let omit = ws && self.config.protocol_version.supports_wsok();
        self.session
            .as_ref()
            .filter(|_| !omit)
            .map(|s| s.id.clone())
    }

    /// Sends what the queue holds, as far as the channel allows.
    pub(super) fn flush(&mut self, now: Instant) {
        if self.ctrl.held {
            return;
        }
        let mut sent = false;
        while !self.ctrl.queue.is_empty() {
            let Some(channel) = self.control_channel() else {
                break;
            };
            let limit = self
                .session
                .as_ref()
                .map_or(usize::MAX, |s| s.request_limit);
            let ws = matches!(channel, Channel::Ws(_));
            if !ws && self.ctrl.http_busy.is_some() {
                break;
            }
            let mut batch = if ws {
                RequestBatch::ws(limit)
            } else {
                RequestBatch::http(self.config.protocol_version, limit)
            };
            let mut ids = Vec::new();
            while let Some(op) = self.ctrl.queue.pop_front() {
                let req_id = self.ctrl.last_req + 1;
                let Some(request) = self.build_request(&op, req_id, ws) else {
                    continue;
                };
                if batch.push(&request).is_err() {
                    self.ctrl.queue.push_front(op);
                    break;
                }
                self.ctrl.last_req = req_id;
                if self.commit(&op, ws) {
                    self.ctrl.inflight.insert(req_id, op);
                    ids.push(req_id);
                }
            }
            if batch.is_empty() {
                break;
            }
            sent = true;
            match channel {
                Channel::Ws(conn) => {
                    let text = batch.take_payload();
                    self.transmits.push_back(Transmit::WsText { conn, text });
                }
                Channel::Http => {
                    let mut path = String::new();
                    batch.write_http_path(&mut path);
                    let conn = self.open_conn(ConnKind::HttpControl(ids));
                    self.ctrl.http_busy = Some(conn);
                    self.transmits.push_back(Transmit::Http {
                        conn,
                        target: self.target(),
                        path,
                        body: batch.take_payload(),
                        kind: HttpKind::Control,
                    });
                }
            }
        }
        if sent {
            self.note_tx(now);
        }
    }

    /// The request for `op`, or `None` when it no longer applies.
    fn build_request(&self, op: &Op, req_id: u64, ws: bool) -> Option<Request> {
        let session = self.request_session(ws);
        let control = |op: ControlOp| {
            let mut c = Control::new(req_id.to_string(), op);
            c.session.clone_from(&session);
            Some(Request::Control(c))
        };
        match op {
            Op::Add { wire } => control(ControlOp::Add(self.subscribe_params(*wire, ws)?)),
            Op::Delete { wire } => control(ControlOp::Delete {
                sub_id: *wire,
                ack: self.ack_flag(ws),
            }),
            Op::Reconf { wire, frequency } => control(ControlOp::Reconf {
                sub_id: *wire,
                requested_max_frequency: Some(*frequency),
            }),
            Op::Constrain(bandwidth) => control(ControlOp::Constrain {
                requested_max_bandwidth: *bandwidth,
            }),
            Op::ForceRebind => control(ControlOp::ForceRebind {
                polling_millis: None,
                close_socket: None,
            }),
            Op::Message(id) => self
                .message_request(*id, req_id, ws, session)
                .map(Request::Message),
            Op::Heartbeat => Some(Request::Heartbeat(Heartbeat {
                session,
                req_id: None,
            })),
        }
    }

    /// `LS_ack=false` on WS `add`/`delete` where the version allows it.
    pub(super) fn ack_flag(&self, ws: bool) -> Option<bool> {
        (ws && self
            .config
            .protocol_version
            .supports_subscription_ack_flag())
        .then_some(false)
    }

    /// The request for `op` is sent: says whether an answer is expected.
    fn commit(&mut self, op: &Op, ws: bool) -> bool {
        match op {
            Op::Message(id) => self.message_sent(*id, ws),
            Op::Heartbeat => false,
            _ => true,
        }
    }

    /// The `destroy` of [`disconnect`](ClientSession::disconnect), fire and forget.
    pub(super) fn send_destroy(&mut self, _now: Instant) {
        // While the stream is being recovered (or bound), HTTP still reaches the session.
        let channel = match self.control_channel() {
            Some(channel) => channel,
            None if self.session.is_some() => Channel::Http,
            None => return,
        };
        self.ctrl.last_req += 1;
        let op = ControlOp::Destroy {
            cause_code: None,
            cause_message: None,
            close_socket: Some(true),
        };
        let ws = matches!(channel, Channel::Ws(_));
        let mut control = Control::new(self.ctrl.last_req.to_string(), op).with_cause("api");
        control.session = self.request_session(ws);
        let request = Request::Control(control);
        match channel {
            Channel::Ws(conn) => {
                let mut text = String::new();
                request.encode_ws(&mut text);
                self.transmits.push_back(Transmit::WsText { conn, text });
            }
            Channel::Http => {
                // Not registered: the answer does not matter, and the connection must
                // survive the shutdown that follows.
                self.next_conn += 1;
                let (mut path, mut body) = (String::new(), String::new());
                request.encode_http_post(self.config.protocol_version, &mut path, &mut body);
                self.transmits.push_back(Transmit::Http {
                    conn: ConnId(self.next_conn),
                    target: self.target(),
                    path,
                    body,
                    kind: HttpKind::Control,
                });
            }
        }
    }

    /// Reverse heartbeat: sent when nothing else went out for the interval.
    pub(super) fn on_heartbeat(&mut self, now: Instant) {
        if self.session.is_some() && self.ctrl.is_idle() {
            self.ctrl.push(Op::Heartbeat);
            self.flush(now);
        }
        if !self.timers.is_set(Timer::Heartbeat) && self.session.is_some() {
            self.note_tx(now);
        }
    }

    /// `REQOK,<id>`.
    pub(super) fn on_reqok(&mut self, id: Option<&str>) {
        let Some(op) = id
            .and_then(|id| id.parse::<u64>().ok())
            .and_then(|id| self.ctrl.inflight.remove(&id))
        else {
            return;
        };
        if let Op::Message(m) = op {
            self.message_acknowledged(m);
        }
    }

    /// `REQERR,<id>,<code>,<message>`.
    pub(super) fn on_reqerr(&mut self, id: &str, code: i32, message: &str) {
        let Some(op) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.ctrl.inflight.remove(&id))
        else {
            return;
        };
        self.request_failed(op, code, message);
    }

    fn request_failed(&mut self, op: Op, code: i32, message: &str) {
        let failure = |request| {
            Event::RequestFailed(RequestFailure {
                request,
                code,
                message: message.to_owned(),
            })
        };
        match op {
            Op::Add { wire } => self.add_failed(wire, code, message),
            Op::Delete { wire } => self.on_unsub(wire),
            Op::Reconf { wire, .. } => {
                if let Some(id) = self.subs.main_of(wire) {
                    self.emit(failure(RequestKind::Reconf(id)));
                }
            }
            Op::Constrain(_) => self.emit(failure(RequestKind::Constrain)),
            Op::ForceRebind => self.emit(failure(RequestKind::ForceRebind)),
            Op::Heartbeat => self.emit(failure(RequestKind::Heartbeat)),
            Op::Message(m) => self.message_failed(m, code, message),
        }
    }

    /// The whole body of an HTTP control response.
    pub(super) fn on_control_response(&mut self, conn: ConnId, body: &[u8], now: Instant) {
        let Some(ConnKind::HttpControl(ids)) = self.forget_conn(conn).map(|c| c.kind) else {
            return;
        };
        if self.ctrl.http_busy == Some(conn) {
            self.ctrl.http_busy = None;
        }
        let mut error = None;
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            match Notification::parse_bytes(line) {
                Ok(Notification::ReqOk { request_id }) => self.on_reqok(request_id.as_deref()),
                Ok(Notification::ReqErr {
                    request_id,
                    code,
                    message,
                }) => self.on_reqerr(&request_id, code, &message),
                Ok(Notification::Error { code, message }) => {
                    error = Some((code, message.into_owned()));
                }
                Ok(other) => {
                    let error = ProtocolError::Unexpected {
                        tag: static_tag(other.tag()),
                        context: "in a control response",
                    };
                    self.report(conn, error, IssueAction::Ignored);
                }
                Err(e) => self.report(conn, e.into(), IssueAction::Ignored),
            }
        }
        // Requests the response did not answer one by one.
        let unanswered: Vec<(u64, Op)> = ids
            .into_iter()
            .filter_map(|id| self.ctrl.inflight.remove(&id).map(|op| (id, op)))
            .collect();
        if let Some((code, message)) = &error {
            self.emit(Event::ServerError(ServerError {
                kind: ServerErrorKind::Error,
                code: *code,
                message: message.clone(),
            }));
        }
        for (_, op) in unanswered {
            match &error {
                Some((code, message)) => self.request_failed(op, *code, message),
                None if matches!(op, Op::Add { .. } | Op::Delete { .. }) => {}
                None => {
                    if let Op::Message(m) = op {
                        self.message_acknowledged(m);
                    }
                }
            }
        }
        self.flush(now);
    }

    /// An HTTP control request failed on the network: its requests go back to the queue.
    pub(super) fn control_conn_failed(&mut self, conn: ConnId, ids: Vec<u64>, now: Instant) {
        if self.ctrl.http_busy == Some(conn) {
            self.ctrl.http_busy = None;
        }
        for id in ids.into_iter().rev() {
            // A message keeps its progressive number: the server may have seen it.
            if let Some(op) = self.ctrl.inflight.remove(&id) {
                self.ctrl.queue.push_front(op);
            }
        }
        self.flush(now);
    }
}

/// The tag of a known notification, as a `'static` string (unknown tags map to `"?"`).
pub(super) fn static_tag(tag: &str) -> &'static str {
    const TAGS: [&str; 25] = [
        "CONOK", "CONERR", "END", "LOOP", "PROG", "WSOK", "PROBE", "NOOP", "SYNC", "CONS",
        "CLIENTIP", "SERVNAME", "REQOK", "REQERR", "ERROR", "SUBOK", "SUBCMD", "UNSUB", "CONF",
        "EOS", "CS", "OV", "U", "MSGDONE", "MSGFAIL",
    ];
    TAGS.into_iter().find(|t| *t == tag).unwrap_or("?")
}
