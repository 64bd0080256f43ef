//! Client requests: a typed model of every TLCP request, its encoding (client side) and
//! its parsing (server side).
//!
//! # The model
//!
//! A [`Request`] is one request as the server executes it: a session creation (possibly
//! with combo controls), a binding, a control operation, a message, a reverse heartbeat or
//! the WebSocket `wsok` handshake. Optional parameters are `Option`s; `None` is never
//! written on the wire.
//!
//! # Encoding
//!
//! * WebSocket: [`Request::encode_ws`] writes `<name>\r\n<params>`; several control or
//!   message requests share one WS message through a [`RequestBatch`].
//! * HTTP POST: [`Request::encode_http_post`] writes the path with its query string
//!   (`/lightstreamer/<name>.txt?LS_protocol=TLCP-x.y.z[&LS_session=...]`) and the body.
//! * HTTP GET: [`Request::encode_http_get`] puts every parameter in the query string.
//!
//! Parameter values are percent-encoded with [`crate::percent::encode_param`], and
//! parameters come in a fixed order close to what the official clients send
//! (`LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=...`).
//!
//! # Parsing
//!
//! [`parse_ws_message`] and [`parse_http`] turn what a client sent into requests, or into a
//! [`RequestError`] that says what is wrong, where, with the request id when it could be
//! read and the TLCP error code a server answers with ([`RequestError::code`]).
//! [`parse_ws_message_each`] and [`parse_http_each`] keep going after a bad line of a batch,
//! so that a server can answer each request of the batch on its own.
//!
//! Parameter names are matched without regard to ASCII case (the specification's own
//! examples send `LS_reqID`); unknown parameters are ignored; the alias `LS_max_frequency`
//! (used by one example of the specification) is accepted for
//! `LS_requested_max_frequency`.

use crate::types::{Bandwidth, BufferSize, MaxFrequency, Mode, Secret, SessionId, Snapshot};

mod batch;
mod encode;
mod error;
mod param;
mod parse;

pub use batch::{BatchError, Pushed, RequestBatch};
pub use encode::{GetFormError, write_http_path};
pub use error::{Location, RequestError, RequestErrorKind};
pub use parse::{
    HttpRequest, ParsedRequests, parse_http, parse_http_each, parse_ws_message,
    parse_ws_message_each,
};

/// The client identifier (`LS_cid`) the specification assigns to every custom client.
pub const CUSTOM_CLIENT_CID: &str = "mgQkwtwdysogQz2BJ4Ji kOj2Bg";

/// One client request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// `wsok`: the WebSocket handshake check (TLCP 2.2.0), answered by `WSOK`.
    Wsok,
    /// `create_session`, possibly combined with control operations.
    CreateSession(CreateSession),
    /// `bind_session`: rebinds an existing session to this stream connection.
    BindSession(BindSession),
    /// `control`: subscriptions and session operations.
    Control(Control),
    /// `msg`: a message for the Metadata Adapter.
    Message(Message),
    /// `heartbeat`: a reverse heartbeat, to keep the session alive from the client side.
    Heartbeat(Heartbeat),
}

impl Request {
    /// The request name: `wsok`, `create_session`, `bind_session`, `control`, `msg` or
    /// `heartbeat` (the HTTP path adds `.txt`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Wsok => "wsok",
            Self::CreateSession(_) => "create_session",
            Self::BindSession(_) => "bind_session",
            Self::Control(_) => "control",
            Self::Message(_) => "msg",
            Self::Heartbeat(_) => "heartbeat",
        }
    }

    /// Whether several requests of this kind may share one WS message or HTTP body
    /// (`control` with `control`, `msg` with `msg`).
    pub fn is_batchable(&self) -> bool {
        matches!(self, Self::Control(_) | Self::Message(_))
    }

    /// The session the request addresses, if it names one (`LS_session`).
    pub fn session(&self) -> Option<&SessionId> {
        match self {
            Self::BindSession(b) => b.session.as_ref(),
            Self::Control(c) => c.session.as_ref(),
            Self::Message(m) => m.session.as_ref(),
            Self::Heartbeat(h) => h.session.as_ref(),
            Self::Wsok | Self::CreateSession(_) => None,
        }
    }

    /// The request id (`LS_reqId`), for the requests that carry one.
    pub fn req_id(&self) -> Option<&str> {
        match self {
            Self::Control(c) => c.req_id.as_deref(),
            Self::Message(m) => m.req_id.as_deref(),
            Self::Heartbeat(h) => h.req_id.as_deref(),
            Self::Wsok | Self::CreateSession(_) | Self::BindSession(_) => None,
        }
    }
}

impl From<CreateSession> for Request {
    fn from(r: CreateSession) -> Self {
        Self::CreateSession(r)
    }
}

impl From<BindSession> for Request {
    fn from(r: BindSession) -> Self {
        Self::BindSession(r)
    }
}

impl From<Control> for Request {
    fn from(r: Control) -> Self {
        Self::Control(r)
    }
}

impl From<Message> for Request {
    fn from(r: Message) -> Self {
        Self::Message(r)
    }
}

impl From<Heartbeat> for Request {
    fn from(r: Heartbeat) -> Self {
        Self::Heartbeat(r)
    }
}

/// How long an unbound session may wait for a bind (`LS_ttl_millis`, TLCP 2.2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTtl {
    /// `unlimited`: as long as the server allows.
    Unlimited,
    /// At most this many milliseconds.
    Millis(u64),
}

/// `create_session`: creates a session and its first stream connection.
///
/// [`CreateSession::new`] (also `Default`) sets `cid` to [`CUSTOM_CLIENT_CID`] and leaves
/// everything else unset. A parsed request that carries no `LS_cid` has `cid: None`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSession {
    /// `LS_cid`: the client identifier.
    pub cid: Option<String>,
    /// `LS_user`: the user name, checked by the Metadata Adapter.
    pub user: Option<String>,
    /// `LS_password`: the password, checked by the Metadata Adapter.
    pub password: Option<Secret>,
    /// `LS_adapter_set`: the Adapter Set (`DEFAULT` when absent).
    pub adapter_set: Option<String>,
    /// `LS_requested_max_bandwidth`: the bandwidth the session should not exceed.
    pub requested_max_bandwidth: Option<Bandwidth>,
    /// `LS_content_length`: the content length of an HTTP stream, in bytes.
    pub content_length: Option<u64>,
    /// `LS_polling`: `true` for a polling connection.
    pub polling: Option<bool>,
    /// `LS_polling_millis`: expected time between two polls.
    pub polling_millis: Option<u64>,
    /// `LS_idle_millis`: how long a poll may wait for something to send.
    pub idle_millis: Option<u64>,
    /// `LS_keepalive_millis`: the longest silence before a `PROBE` (streaming).
    pub keepalive_millis: Option<u64>,
    /// `LS_inactivity_millis`: the longest silence from the client (reverse heartbeats).
    pub inactivity_millis: Option<u64>,
    /// `LS_send_sync`: `false` to receive no `SYNC` notifications.
    pub send_sync: Option<bool>,
    /// `LS_ttl_millis`: how long the session may stay unbound (HTTP).
    pub ttl_millis: Option<SessionTtl>,
    /// `LS_reduce_head`: `true` to receive a shorter preamble after `CONOK`.
    pub reduce_head: Option<bool>,
    /// `LS_old_session`: the session this one replaces.
    pub old_session: Option<SessionId>,
    /// `LS_cause`: free text explaining why the client makes the request.
    pub cause: Option<String>,
    /// Control operations executed atomically with the creation (combo request); they
    /// carry no session and no request id.
    pub controls: Vec<ControlOp>,
}

impl Default for CreateSession {
    fn default() -> Self {
        Self {
            cid: Some(CUSTOM_CLIENT_CID.to_owned()),
            user: None,
            password: None,
            adapter_set: None,
            requested_max_bandwidth: None,
            content_length: None,
            polling: None,
            polling_millis: None,
            idle_millis: None,
            keepalive_millis: None,
            inactivity_millis: None,
            send_sync: None,
            ttl_millis: None,
            reduce_head: None,
            old_session: None,
            cause: None,
            controls: Vec::new(),
        }
    }
}

impl CreateSession {
    /// A creation request with the custom-client `LS_cid` and nothing else.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `LS_adapter_set`.
    pub fn with_adapter_set(mut self, adapter_set: impl Into<String>) -> Self {
        self.adapter_set = Some(adapter_set.into());
        self
    }

    /// Sets `LS_user` and `LS_password`.
    pub fn with_credentials(mut self, user: impl Into<String>, password: Secret) -> Self {
        self.user = Some(user.into());
        self.password = Some(password);
        self
    }

    /// Sets `LS_cause`.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Appends a combo control operation.
    pub fn with_control(mut self, op: ControlOp) -> Self {
        self.controls.push(op);
        self
    }
}

/// `bind_session`: binds an existing session to this stream connection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BindSession {
    /// `LS_session`: required over HTTP; over WS it defaults to the connection's session.
    pub session: Option<SessionId>,
    /// `LS_recovery_from`: recover the session, replaying from this data notification on
    /// (TLCP 2.1.0).
    pub recovery_from: Option<u64>,
    /// `LS_content_length`: the content length of an HTTP stream, in bytes.
    pub content_length: Option<u64>,
    /// `LS_polling`: `true` for a polling connection.
    pub polling: Option<bool>,
    /// `LS_polling_millis`: expected time between two polls.
    pub polling_millis: Option<u64>,
    /// `LS_idle_millis`: how long a poll may wait for something to send.
    pub idle_millis: Option<u64>,
    /// `LS_keepalive_millis`: the longest silence before a `PROBE` (streaming).
    pub keepalive_millis: Option<u64>,
    /// `LS_inactivity_millis`: the longest silence from the client (reverse heartbeats).
    pub inactivity_millis: Option<u64>,
    /// `LS_send_sync`: `false` to receive no `SYNC` notifications.
    pub send_sync: Option<bool>,
    /// `LS_reduce_head`: `true` to receive a shorter preamble after `CONOK`.
    pub reduce_head: Option<bool>,
    /// `LS_cause`: free text explaining why the client makes the request.
    pub cause: Option<String>,
}

impl BindSession {
    /// A binding of `session`, with nothing else set.
    pub fn new(session: SessionId) -> Self {
        Self {
            session: Some(session),
            ..Self::default()
        }
    }
}

/// `control`: one control operation on a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// `LS_session`: required over HTTP (or given in the query string); optional over WS.
    pub session: Option<SessionId>,
    /// `LS_reqId`: the id the server answers with in `REQOK`/`REQERR`.
    pub req_id: Option<String>,
    /// `LS_op` and its parameters.
    pub op: ControlOp,
    /// `LS_cause`: free text explaining why the client makes the request.
    pub cause: Option<String>,
}

impl Control {
    /// A control request for `op` with the request id `req_id` and no session.
    pub fn new(req_id: impl Into<String>, op: ControlOp) -> Self {
        Self {
            session: None,
            req_id: Some(req_id.into()),
            op,
            cause: None,
        }
    }

    /// Sets `LS_session`.
    pub fn with_session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }

    /// Sets `LS_cause`.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }
}

/// A control operation (`LS_op`) with its own parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ControlOp {
    /// `add`: a new subscription.
    Add(Subscribe),
    /// `delete`: an unsubscription.
    Delete {
        /// `LS_subId`: the subscription to delete.
        sub_id: u32,
        /// `LS_ack`: `false` for no `REQOK` (WS, TLCP 2.3.0).
        ack: Option<bool>,
    },
    /// `reconf`: changes a subscription's maximum frequency.
    Reconf {
        /// `LS_subId`: the subscription to reconfigure.
        sub_id: u32,
        /// `LS_requested_max_frequency`: the new frequency; `None` changes nothing.
        requested_max_frequency: Option<MaxFrequency>,
    },
    /// `constrain`: changes the session's maximum bandwidth.
    Constrain {
        /// `LS_requested_max_bandwidth`: the new bandwidth; `None` changes nothing.
        requested_max_bandwidth: Option<Bandwidth>,
    },
    /// `force_rebind`: asks the server to end the stream with `LOOP`.
    ForceRebind {
        /// `LS_polling_millis`: expected time before the next bind.
        polling_millis: Option<u64>,
        /// `LS_close_socket`: `true` to have the server close the connection.
        close_socket: Option<bool>,
    },
    /// `destroy`: ends the session.
    Destroy {
        /// `LS_cause_code`: the code of the `END` notification (0 or negative).
        cause_code: Option<i32>,
        /// `LS_cause_message`: the message of the `END` notification.
        cause_message: Option<String>,
        /// `LS_close_socket`: `true` to have the server close the connection.
        close_socket: Option<bool>,
    },
}

impl ControlOp {
    /// The `LS_op` value: `add`, `delete`, `reconf`, `constrain`, `force_rebind` or
    /// `destroy`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Add(_) => "add",
            Self::Delete { .. } => "delete",
            Self::Reconf { .. } => "reconf",
            Self::Constrain { .. } => "constrain",
            Self::ForceRebind { .. } => "force_rebind",
            Self::Destroy { .. } => "destroy",
        }
    }

    /// `delete` of `sub_id`, acknowledged.
    pub fn delete(sub_id: u32) -> Self {
        Self::Delete { sub_id, ack: None }
    }

    /// `destroy` with no cause and no socket closing.
    pub fn destroy() -> Self {
        Self::Destroy {
            cause_code: None,
            cause_message: None,
            close_socket: None,
        }
    }
}

impl From<Subscribe> for ControlOp {
    fn from(s: Subscribe) -> Self {
        Self::Add(s)
    }
}

/// The parameters of a subscription (`LS_op=add`).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    /// `LS_subId`: progressive from 1, unique in the session.
    pub sub_id: u32,
    /// `LS_mode`.
    pub mode: Mode,
    /// `LS_group`: the item group, interpreted by the Metadata Adapter.
    pub group: String,
    /// `LS_schema`: the field schema, interpreted by the Metadata Adapter.
    pub schema: String,
    /// `LS_data_adapter`: the Data Adapter (`DEFAULT` when absent).
    pub data_adapter: Option<String>,
    /// `LS_selector`: a selector, interpreted by the Metadata Adapter.
    pub selector: Option<String>,
    /// `LS_requested_buffer_size`.
    pub requested_buffer_size: Option<BufferSize>,
    /// `LS_requested_max_frequency`.
    pub requested_max_frequency: Option<MaxFrequency>,
    /// `LS_snapshot`.
    pub snapshot: Option<Snapshot>,
    /// `LS_ack`: `false` for no `REQOK` (WS, TLCP 2.3.0).
    pub ack: Option<bool>,
}

impl Subscribe {
    /// A subscription with only the mandatory parameters.
    pub fn new(
        sub_id: u32,
        mode: Mode,
        group: impl Into<String>,
        schema: impl Into<String>,
    ) -> Self {
        Self {
            sub_id,
            mode,
            group: group.into(),
            schema: schema.into(),
            data_adapter: None,
            selector: None,
            requested_buffer_size: None,
            requested_max_frequency: None,
            snapshot: None,
            ack: None,
        }
    }

    /// Sets `LS_data_adapter`.
    pub fn with_data_adapter(mut self, data_adapter: impl Into<String>) -> Self {
        self.data_adapter = Some(data_adapter.into());
        self
    }

    /// Sets `LS_selector`.
    pub fn with_selector(mut self, selector: impl Into<String>) -> Self {
        self.selector = Some(selector.into());
        self
    }

    /// Sets `LS_snapshot`.
    pub fn with_snapshot(mut self, snapshot: Snapshot) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// Sets `LS_requested_max_frequency`.
    pub fn with_max_frequency(mut self, frequency: MaxFrequency) -> Self {
        self.requested_max_frequency = Some(frequency);
        self
    }

    /// Sets `LS_requested_buffer_size`.
    pub fn with_buffer_size(mut self, size: BufferSize) -> Self {
        self.requested_buffer_size = Some(size);
        self
    }

    /// Sets `LS_ack`.
    pub fn with_ack(mut self, ack: bool) -> Self {
        self.ack = Some(ack);
        self
    }
}

/// `msg`: a message for the Metadata Adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `LS_session`: required over HTTP (or given in the query string); optional over WS.
    pub session: Option<SessionId>,
    /// `LS_reqId`: the id the server answers with in `REQOK`/`REQERR`.
    pub req_id: Option<String>,
    /// `LS_message`: the text of the message.
    pub message: String,
    /// `LS_sequence`: messages of a sequence are processed in `LS_msg_prog` order.
    pub sequence: Option<String>,
    /// `LS_msg_prog`: the progressive number within the sequence, from 1.
    pub msg_prog: Option<u64>,
    /// `LS_max_wait`: how long the server may wait for missing predecessors, in ms.
    pub max_wait: Option<u64>,
    /// `LS_ack`: `false` for no `REQOK` (WS only).
    pub ack: Option<bool>,
    /// `LS_outcome`: `false` for no `MSGDONE`/`MSGFAIL`.
    pub outcome: Option<bool>,
}

impl Message {
    /// A message with the request id `req_id` and nothing else set.
    pub fn new(req_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            session: None,
            req_id: Some(req_id.into()),
            message: message.into(),
            sequence: None,
            msg_prog: None,
            max_wait: None,
            ack: None,
            outcome: None,
        }
    }

    /// Sets `LS_sequence` and `LS_msg_prog`.
    pub fn in_sequence(mut self, sequence: impl Into<String>, msg_prog: u64) -> Self {
        self.sequence = Some(sequence.into());
        self.msg_prog = Some(msg_prog);
        self
    }

    /// Sets `LS_session`.
    pub fn with_session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }
}

/// `heartbeat`: a reverse heartbeat.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Heartbeat {
    /// `LS_session`: required over HTTP (or given in the query string); optional over WS.
    pub session: Option<SessionId>,
    /// `LS_reqId`: the id the server answers with, if any.
    pub req_id: Option<String>,
}
