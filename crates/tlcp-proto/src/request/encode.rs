//! Encoding requests (the client side): WS messages, HTTP POST and GET forms.

use std::fmt::Write as _;

use super::param::P;
use super::{
    BindSession, Control, ControlOp, CreateSession, Heartbeat, Message, Request, SessionTtl,
    Subscribe,
};
use crate::percent::encode_param;
use crate::types::{Bandwidth, BufferSize, MaxFrequency, SessionId, Snapshot, format_decimal};
use crate::version::ProtocolVersion;

/// A request that the HTTP GET form cannot carry.
///
/// The GET form puts a whole request on one query string, so a session creation can carry
/// at most one combo control, and that control must not need a different value for a
/// parameter it shares with the creation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GetFormError {
    /// A creation with more than one combo control.
    #[error("the GET form carries at most one combo control ({count} given)")]
    TooManyControls {
        /// How many controls the creation carries.
        count: usize,
    },
    /// The creation and its combo control both set a parameter, to different values.
    #[error("the creation and its combo control disagree on {param}")]
    AmbiguousCombo {
        /// The shared parameter.
        param: &'static str,
    },
}

/// Appends `/lightstreamer/<name>.txt?LS_protocol=TLCP-x.y.z`, then
/// `&LS_session=<id>` when `default_session` is given (the default session of every line
/// of the body).
///
/// ```
/// use tlcp_proto::{ProtocolVersion, SessionId, request::write_http_path};
/// let mut path = String::new();
/// write_http_path("control", ProtocolVersion::V2_5_0, Some(&SessionId::new("S1")), &mut path);
/// assert_eq!(path, "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1");
/// ```
pub fn write_http_path(
    name: &str,
    version: ProtocolVersion,
    default_session: Option<&SessionId>,
    out: &mut String,
) {
    out.push_str("/lightstreamer/");
    out.push_str(name);
    out.push_str(".txt?");
    out.push_str(P::Protocol.name());
    out.push('=');
    out.push_str(version.protocol_param());
    if let Some(s) = default_session {
        out.push('&');
        out.push_str(P::Session.name());
        out.push('=');
        encode_param(s.expose(), out);
    }
}

impl Request {
    /// Appends the WS form: `<name>\r\n<params>` (`wsok` alone; a heartbeat without
    /// parameters is `heartbeat\r\n\r\n`, as the official clients send it). A creation's
    /// combo controls follow on their own lines.
    ///
    /// ```
    /// use tlcp_proto::{Mode, request::{Control, Request, Subscribe}};
    /// let sub = Subscribe::new(1, Mode::Merge, "item1", "field1");
    /// let mut ws = String::new();
    /// Request::from(Control::new("1", sub.into())).encode_ws(&mut ws);
    /// assert_eq!(ws, "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&LS_schema=field1");
    /// ```
    pub fn encode_ws(&self, out: &mut String) {
        out.push_str(self.name());
        if matches!(self, Self::Wsok) {
            return;
        }
        out.push_str("\r\n");
        let start = out.len();
        self.write_params(None, out);
        if matches!(self, Self::Heartbeat(_)) && out.len() == start {
            out.push_str("\r\n");
        }
    }

    /// Appends the parameters of the request, as written in a WS message after the name
    /// line or in an HTTP body: one line, or for a creation with combo controls, one line
    /// for the creation and one per control, separated by CRLF.
    ///
    /// `LS_session` is left out when it equals `default_session` (the session given in the
    /// query string of an HTTP request).
    pub fn write_params(&self, default_session: Option<&SessionId>, out: &mut String) {
        match self {
            Self::Wsok => {}
            Self::CreateSession(c) => {
                c.write_params(&mut Params::line(out));
                for op in &c.controls {
                    out.push_str("\r\n");
                    op.write_params(&mut Params::line(out), None);
                }
            }
            Self::BindSession(b) => b.write_params(default_session, &mut Params::line(out)),
            Self::Control(c) => c.write_params(default_session, &mut Params::line(out)),
            Self::Message(m) => m.write_params(default_session, &mut Params::line(out)),
            Self::Heartbeat(h) => h.write_params(default_session, &mut Params::line(out)),
        }
    }

    /// The session the HTTP POST form puts in the query string: that of a `control`,
    /// `msg` or `heartbeat` (as the official clients do); `bind_session` keeps it in the
    /// body.
    pub fn http_query_session(&self) -> Option<&SessionId> {
        match self {
            Self::Control(c) => c.session.as_ref(),
            Self::Message(m) => m.session.as_ref(),
            Self::Heartbeat(h) => h.session.as_ref(),
            Self::Wsok | Self::CreateSession(_) | Self::BindSession(_) => None,
        }
    }

    /// Appends the HTTP POST form: the path and query string to `path` (see
    /// [`write_http_path`] and [`Request::http_query_session`]) and the body to `body`
    /// (a heartbeat without parameters has a body of one empty line).
    pub fn encode_http_post(&self, version: ProtocolVersion, path: &mut String, body: &mut String) {
        let session = self.http_query_session();
        write_http_path(self.name(), version, session, path);
        self.write_http_body(session, body);
    }

    /// The HTTP POST body: the parameters, or one empty line for a heartbeat without any.
    pub(super) fn write_http_body(&self, default_session: Option<&SessionId>, body: &mut String) {
        let start = body.len();
        self.write_params(default_session, body);
        if matches!(self, Self::Heartbeat(_)) && body.len() == start {
            body.push_str("\r\n");
        }
    }

    /// Appends the HTTP GET form: the path with every parameter in the query string (the
    /// body is empty). Nothing is written when the request cannot take this form.
    ///
    /// ```
    /// use tlcp_proto::{ProtocolVersion, request::{CreateSession, Request}};
    /// let mut url = String::new();
    /// Request::from(CreateSession::new().with_adapter_set("DEMO"))
    ///     .encode_http_get(ProtocolVersion::V2_0_0, &mut url)
    ///     .unwrap();
    /// assert_eq!(url, "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0\
    ///                  &LS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg");
    /// ```
    pub fn encode_http_get(
        &self,
        version: ProtocolVersion,
        out: &mut String,
    ) -> Result<(), GetFormError> {
        let combo = match self {
            Self::CreateSession(c) => combo_for_get(c)?,
            _ => None,
        };
        write_http_path(self.name(), version, None, out);
        let mut w = Params::continued(out);
        match self {
            Self::Wsok => {}
            Self::CreateSession(c) => {
                c.write_params(&mut w);
                if let Some(op) = combo {
                    op.write_params(&mut w, Some(c));
                }
            }
            Self::BindSession(b) => b.write_params(None, &mut w),
            Self::Control(c) => c.write_params(None, &mut w),
            Self::Message(m) => m.write_params(None, &mut w),
            Self::Heartbeat(h) => h.write_params(None, &mut w),
        }
        Ok(())
    }
}

/// The combo control a creation can carry in the GET form, if any.
fn combo_for_get(c: &CreateSession) -> Result<Option<&ControlOp>, GetFormError> {
    let op = match c.controls.as_slice() {
        [] => return Ok(None),
        [op] => op,
        more => return Err(GetFormError::TooManyControls { count: more.len() }),
    };
    let ambiguous = match op {
        ControlOp::Constrain {
            requested_max_bandwidth,
        } => (*requested_max_bandwidth != c.requested_max_bandwidth)
            .then_some(P::RequestedMaxBandwidth),
        ControlOp::ForceRebind { polling_millis, .. } => {
            (*polling_millis != c.polling_millis).then_some(P::PollingMillis)
        }
        _ => None,
    };
    match ambiguous {
        Some(p) => Err(GetFormError::AmbiguousCombo { param: p.name() }),
        None => Ok(Some(op)),
    }
}

/// Writes `name=value` pairs separated by `&` into a string.
struct Params<'a> {
    out: &'a mut String,
    /// Whether the next pair needs a `&` before it.
    need_amp: bool,
}

impl<'a> Params<'a> {
    /// Starts a new line (no `&` before the first pair).
    fn line(out: &'a mut String) -> Self {
        Self {
            out,
            need_amp: false,
        }
    }

    /// Continues after existing pairs (`&` before the first pair).
    fn continued(out: &'a mut String) -> Self {
        Self {
            out,
            need_amp: true,
        }
    }

    /// Writes `name=` and returns the buffer for the value.
    fn key(&mut self, p: P) -> &mut String {
        if self.need_amp {
            self.out.push('&');
        }
        self.need_amp = true;
        self.out.push_str(p.name());
        self.out.push('=');
        self.out
    }

    fn text(&mut self, p: P, value: &str) {
        encode_param(value, self.key(p));
    }

    fn opt_text(&mut self, p: P, value: Option<&str>) {
        if let Some(v) = value {
            self.text(p, v);
        }
    }

    fn opt_session(&mut self, p: P, value: Option<&SessionId>, default: Option<&SessionId>) {
        if let Some(s) = value
            && Some(s) != default
        {
            self.text(p, s.expose());
        }
    }

    fn num(&mut self, p: P, value: impl std::fmt::Display) {
        let _ = write!(self.key(p), "{value}");
    }

    fn opt_num(&mut self, p: P, value: Option<impl std::fmt::Display>) {
        if let Some(v) = value {
            self.num(p, v);
        }
    }

    fn opt_bool(&mut self, p: P, value: Option<bool>) {
        if let Some(v) = value {
            self.key(p).push_str(if v { "true" } else { "false" });
        }
    }

    fn opt_bandwidth(&mut self, p: P, value: Option<Bandwidth>) {
        match value {
            None => {}
            Some(Bandwidth::Unlimited) => self.key(p).push_str("unlimited"),
            Some(Bandwidth::Kbps(v)) => format_decimal(v, self.key(p)),
        }
    }

    fn opt_frequency(&mut self, p: P, value: Option<MaxFrequency>) {
        match value {
            None => {}
            Some(MaxFrequency::Unlimited) => self.key(p).push_str("unlimited"),
            Some(MaxFrequency::Unfiltered) => self.key(p).push_str("unfiltered"),
            Some(MaxFrequency::PerSecond(v)) => format_decimal(v, self.key(p)),
        }
    }
}

impl CreateSession {
    fn write_params(&self, w: &mut Params<'_>) {
        w.opt_bool(P::Polling, self.polling);
        w.opt_num(P::PollingMillis, self.polling_millis);
        w.opt_num(P::IdleMillis, self.idle_millis);
        w.opt_num(P::KeepaliveMillis, self.keepalive_millis);
        w.opt_num(P::InactivityMillis, self.inactivity_millis);
        w.opt_bandwidth(P::RequestedMaxBandwidth, self.requested_max_bandwidth);
        w.opt_text(P::User, self.user.as_deref());
        w.opt_text(P::Password, self.password.as_ref().map(|s| s.expose()));
        w.opt_text(P::AdapterSet, self.adapter_set.as_deref());
        w.opt_text(P::Cid, self.cid.as_deref());
        w.opt_session(P::OldSession, self.old_session.as_ref(), None);
        w.opt_num(P::ContentLength, self.content_length);
        w.opt_bool(P::SendSync, self.send_sync);
        w.opt_bool(P::ReduceHead, self.reduce_head);
        match self.ttl_millis {
            None => {}
            Some(SessionTtl::Unlimited) => w.key(P::TtlMillis).push_str("unlimited"),
            Some(SessionTtl::Millis(ms)) => w.num(P::TtlMillis, ms),
        }
        w.opt_text(P::Cause, self.cause.as_deref());
    }
}

impl BindSession {
    fn write_params(&self, default_session: Option<&SessionId>, w: &mut Params<'_>) {
        w.opt_session(P::Session, self.session.as_ref(), default_session);
        w.opt_num(P::RecoveryFrom, self.recovery_from);
        w.opt_bool(P::Polling, self.polling);
        w.opt_num(P::PollingMillis, self.polling_millis);
        w.opt_num(P::IdleMillis, self.idle_millis);
        w.opt_num(P::KeepaliveMillis, self.keepalive_millis);
        w.opt_num(P::InactivityMillis, self.inactivity_millis);
        w.opt_num(P::ContentLength, self.content_length);
        w.opt_bool(P::SendSync, self.send_sync);
        w.opt_bool(P::ReduceHead, self.reduce_head);
        w.opt_text(P::Cause, self.cause.as_deref());
    }
}

impl Control {
    fn write_params(&self, default_session: Option<&SessionId>, w: &mut Params<'_>) {
        w.opt_session(P::Session, self.session.as_ref(), default_session);
        w.opt_text(P::ReqId, self.req_id.as_deref());
        self.op.write_params(w, None);
        w.opt_text(P::Cause, self.cause.as_deref());
    }
}

impl ControlOp {
    /// Writes `LS_op` and the operation's parameters. `combo_of` is the creation this
    /// operation shares a GET query string with: parameters it already wrote (with the
    /// same value, as checked by [`combo_for_get`]) are not repeated.
    fn write_params(&self, w: &mut Params<'_>, combo_of: Option<&CreateSession>) {
        w.key(P::Op).push_str(self.name());
        match self {
            Self::Add(s) => s.write_params(w),
            Self::Delete { sub_id, ack } => {
                w.num(P::SubId, sub_id);
                w.opt_bool(P::Ack, *ack);
            }
            Self::Reconf {
                sub_id,
                requested_max_frequency,
            } => {
                w.num(P::SubId, sub_id);
                w.opt_frequency(P::RequestedMaxFrequency, *requested_max_frequency);
            }
            Self::Constrain {
                requested_max_bandwidth,
            } => {
                if combo_of.is_none() {
                    w.opt_bandwidth(P::RequestedMaxBandwidth, *requested_max_bandwidth);
                }
            }
            Self::ForceRebind {
                polling_millis,
                close_socket,
            } => {
                if combo_of.is_none() {
                    w.opt_num(P::PollingMillis, *polling_millis);
                }
                w.opt_bool(P::CloseSocket, *close_socket);
            }
            Self::Destroy {
                cause_code,
                cause_message,
                close_socket,
            } => {
                w.opt_num(P::CauseCode, *cause_code);
                w.opt_text(P::CauseMessage, cause_message.as_deref());
                w.opt_bool(P::CloseSocket, *close_socket);
            }
        }
    }
}

impl Subscribe {
    fn write_params(&self, w: &mut Params<'_>) {
        w.num(P::SubId, self.sub_id);
        w.key(P::Mode).push_str(self.mode.as_str());
        w.text(P::Group, &self.group);
        w.text(P::Schema, &self.schema);
        w.opt_text(P::DataAdapter, self.data_adapter.as_deref());
        w.opt_text(P::Selector, self.selector.as_deref());
        match self.requested_buffer_size {
            None => {}
            Some(BufferSize::Unlimited) => w.key(P::RequestedBufferSize).push_str("unlimited"),
            Some(BufferSize::Events(n)) => w.num(P::RequestedBufferSize, n),
        }
        w.opt_frequency(P::RequestedMaxFrequency, self.requested_max_frequency);
        match self.snapshot {
            None => {}
            Some(Snapshot::Enabled(b)) => w.opt_bool(P::Snapshot, Some(b)),
            Some(Snapshot::Length(n)) => w.num(P::Snapshot, n),
        }
        w.opt_bool(P::Ack, self.ack);
    }
}

impl Message {
    fn write_params(&self, default_session: Option<&SessionId>, w: &mut Params<'_>) {
        w.opt_session(P::Session, self.session.as_ref(), default_session);
        w.opt_text(P::ReqId, self.req_id.as_deref());
        w.text(P::Message, &self.message);
        w.opt_text(P::Sequence, self.sequence.as_deref());
        w.opt_num(P::MsgProg, self.msg_prog);
        w.opt_num(P::MaxWait, self.max_wait);
        w.opt_bool(P::Outcome, self.outcome);
        w.opt_bool(P::Ack, self.ack);
    }
}

impl Heartbeat {
    fn write_params(&self, default_session: Option<&SessionId>, w: &mut Params<'_>) {
        w.opt_session(P::Session, self.session.as_ref(), default_session);
        w.opt_text(P::ReqId, self.req_id.as_deref());
    }
}
