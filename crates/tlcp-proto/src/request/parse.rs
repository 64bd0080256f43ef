//! Parsing requests (the server side): WS messages, HTTP POST and GET forms.

use std::borrow::Cow;
use std::str::FromStr;

use super::error::{Location, RequestError, RequestErrorKind, excerpt};
use super::param::P;
use super::{
    BindSession, Control, ControlOp, CreateSession, Heartbeat, Message, Request, SessionTtl,
    Subscribe,
};
use crate::percent::{PercentError, decode};
use crate::types::{
    Bandwidth, BufferSize, MaxFrequency, Mode, Secret, SessionId, Snapshot, parse_decimal,
};
use crate::version::ProtocolVersion;

/// What a WS message or an HTTP request carried, each request parsed on its own.
///
/// A batch of `control` or `msg` lines gives one entry per line, so a server can execute
/// the good ones and answer `REQERR` for the others. A creation with combo controls is one
/// entry (the whole is atomic).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequests {
    /// The request name (`control`, `msg`, ...), as [`Request::name`] gives it.
    pub name: &'static str,
    /// The `LS_protocol` of an HTTP request, when given (always `None` for WS).
    pub version: Option<ProtocolVersion>,
    /// The requests, in order.
    pub requests: Vec<Result<Request, RequestError>>,
}

/// A parsed HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// The request name (`control`, `msg`, ...), as [`Request::name`] gives it.
    pub name: &'static str,
    /// The `LS_protocol` query parameter, when given.
    pub version: Option<ProtocolVersion>,
    /// The requests, in order (several for a batch).
    pub requests: Vec<Request>,
}

/// Parses a WS message: the request name on the first line, then parameter lines.
///
/// Several lines of `control` or `msg` are a batch (one [`Request`] each); a
/// `create_session` followed by more lines, or whose line holds an `LS_op`, is a combo
/// request (its controls go to [`CreateSession::controls`]). Trailing empty lines are
/// ignored. The first bad request fails the whole message; see [`parse_ws_message_each`]
/// to parse each request of a batch on its own.
///
/// ```
/// use tlcp_proto::request::{parse_ws_message, Request};
/// let reqs = parse_ws_message("control\r\nLS_reqId=2&LS_op=delete&LS_subId=1").unwrap();
/// assert_eq!(reqs[0].req_id(), Some("2"));
/// assert_eq!(parse_ws_message("wsok").unwrap(), [Request::Wsok]);
/// ```
pub fn parse_ws_message(message: &str) -> Result<Vec<Request>, RequestError> {
    parse_ws_message_each(message)?
        .requests
        .into_iter()
        .collect()
}

/// Parses a WS message like [`parse_ws_message`], keeping each request's own outcome.
///
/// The outer error is for a message that is bad as a whole (empty, unknown name, a second
/// line after `bind_session`...).
pub fn parse_ws_message_each(message: &str) -> Result<ParsedRequests, RequestError> {
    let lines = split_lines(message);
    let Some((&first, rest)) = lines.split_first() else {
        return Err(RequestError::new(
            RequestErrorKind::Empty,
            Location::Message,
            None,
        ));
    };
    let name = Name::parse(first, Location::Line(1))?;
    let requests = parse_body(name, rest, Numbering::From(2), None)?;
    Ok(ParsedRequests {
        name: name.as_str(),
        version: None,
        requests,
    })
}

/// Parses an HTTP request from its path with query string (e.g.
/// `/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1`) and its body.
///
/// The name is the last path segment without `.txt`. `LS_session` in the query string is
/// the default session of every body line (other query parameters are ignored when there
/// is a body). An empty body is the GET form: the query string holds the parameters.
/// Body lines may end with CRLF or LF. The first bad request fails the whole request; see
/// [`parse_http_each`].
///
/// ```
/// use tlcp_proto::request::parse_http;
/// let http = parse_http(
///     "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1",
///     "LS_reqId=1&LS_op=destroy\r\nLS_reqId=2&LS_op=destroy",
/// ).unwrap();
/// assert_eq!(http.name, "control");
/// assert_eq!(http.requests.len(), 2);
/// assert_eq!(http.requests[1].session().unwrap().expose(), "S1");
/// ```
pub fn parse_http(path_and_query: &str, body: &str) -> Result<HttpRequest, RequestError> {
    let parsed = parse_http_each(path_and_query, body)?;
    Ok(HttpRequest {
        name: parsed.name,
        version: parsed.version,
        requests: parsed.requests.into_iter().collect::<Result<_, _>>()?,
    })
}

/// Parses an HTTP request like [`parse_http`], keeping each request's own outcome.
pub fn parse_http_each(path_and_query: &str, body: &str) -> Result<ParsedRequests, RequestError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let segment = path.rsplit('/').next().unwrap_or(path);
    let name = Name::parse(
        segment.strip_suffix(".txt").unwrap_or(segment),
        Location::Path,
    )?;

    let q = Line::tokenize(query, Location::Query)?;
    let version =
        match q.decoded(P::Protocol)? {
            None => None,
            Some(v) => Some(ProtocolVersion::from_protocol_param(&v).ok_or_else(|| {
                q.error(RequestErrorKind::UnsupportedVersion { value: excerpt(&v) })
            })?),
        };

    let lines = split_lines(body);
    let requests = if !lines.is_empty() {
        let default_session = q.decoded(P::Session)?.map(SessionId::new);
        parse_body(name, &lines, Numbering::From(1), default_session.as_ref())?
    } else if name == Name::Wsok {
        vec![Ok(Request::Wsok)]
    } else {
        parse_body(name, &[query], Numbering::Query, None)?
    };
    Ok(ParsedRequests {
        name: name.as_str(),
        version,
        requests,
    })
}

/// Splits on LF, drops a CR before it, and drops trailing empty lines.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// A request name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Wsok,
    CreateSession,
    BindSession,
    Control,
    Msg,
    Heartbeat,
}

impl Name {
    fn parse(name: &str, location: Location) -> Result<Self, RequestError> {
        Ok(match name {
            "wsok" => Self::Wsok,
            "create_session" => Self::CreateSession,
            "bind_session" => Self::BindSession,
            "control" => Self::Control,
            "msg" => Self::Msg,
            "heartbeat" => Self::Heartbeat,
            "" => return Err(RequestError::new(RequestErrorKind::Empty, location, None)),
            other => {
                let kind = RequestErrorKind::UnknownRequest {
                    name: excerpt(other),
                };
                return Err(RequestError::new(kind, location, None));
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Wsok => "wsok",
            Self::CreateSession => "create_session",
            Self::BindSession => "bind_session",
            Self::Control => "control",
            Self::Msg => "msg",
            Self::Heartbeat => "heartbeat",
        }
    }
}

/// How the parameter lines of a body are located in errors.
#[derive(Debug, Clone, Copy)]
enum Numbering {
    /// The first line has this number.
    From(usize),
    /// The only line is the query string (GET form).
    Query,
}

impl Numbering {
    fn at(self, index: usize) -> Location {
        match self {
            Self::From(first) => Location::Line(first.saturating_add(index)),
            Self::Query => Location::Query,
        }
    }
}

type Each = Vec<Result<Request, RequestError>>;

/// Parses the parameter lines of a request named `name`.
fn parse_body(
    name: Name,
    lines: &[&str],
    numbering: Numbering,
    default_session: Option<&SessionId>,
) -> Result<Each, RequestError> {
    let unexpected = |index: usize| {
        let kind = RequestErrorKind::UnexpectedLine {
            name: name.as_str(),
        };
        Err(RequestError::new(kind, numbering.at(index), None))
    };
    Ok(match name {
        Name::Wsok if lines.is_empty() => vec![Ok(Request::Wsok)],
        Name::Wsok => return unexpected(0),
        Name::BindSession if lines.len() > 1 => return unexpected(1),
        Name::BindSession => {
            let line = lines.first().copied().unwrap_or("");
            vec![
                Line::tokenize(line, numbering.at(0))
                    .and_then(|l| l.bind(default_session).map(Request::BindSession)),
            ]
        }
        Name::CreateSession => vec![parse_create(lines, numbering)],
        Name::Control | Name::Msg | Name::Heartbeat => {
            let each = |(i, text): (usize, &&str)| {
                let line = Line::tokenize(text, numbering.at(i))?;
                Ok(match name {
                    Name::Control => Request::Control(line.control(default_session)?),
                    Name::Msg => Request::Message(line.message(default_session)?),
                    _ => Request::Heartbeat(line.heartbeat(default_session)?),
                })
            };
            if lines.is_empty() {
                vec![each((0, &""))]
            } else {
                lines.iter().enumerate().map(each).collect()
            }
        }
    })
}

/// A creation, with the combo controls of its first line (single-line combo) and of the
/// lines after it.
fn parse_create(lines: &[&str], numbering: Numbering) -> Result<Request, RequestError> {
    let first = Line::tokenize(lines.first().copied().unwrap_or(""), numbering.at(0))?;
    let mut create = first.create()?;
    if first.raw(P::Op).is_some() {
        create.controls.push(first.op()?);
    }
    for (i, text) in lines.iter().enumerate().skip(1) {
        create
            .controls
            .push(Line::tokenize(text, numbering.at(i))?.op()?);
    }
    Ok(Request::CreateSession(create))
}

/// The known parameters of one line, still percent-encoded.
struct Line<'a> {
    values: [Option<&'a str>; P::COUNT],
    location: Location,
    req_id: Option<String>,
}

impl<'a> Line<'a> {
    /// Splits `text` into `name=value` pairs and keeps the known ones.
    fn tokenize(text: &'a str, location: Location) -> Result<Self, RequestError> {
        let mut line = Line {
            values: [None; P::COUNT],
            location,
            req_id: None,
        };
        let mut problem = None;
        let mut offset = 0;
        for pair in text.split('&') {
            let at = offset;
            offset += pair.len() + 1;
            if pair.is_empty() {
                continue;
            }
            let Some((name, value)) = pair.split_once('=') else {
                problem.get_or_insert(RequestErrorKind::MalformedParameter { offset: at });
                continue;
            };
            if let Some(p) = P::lookup(name) {
                let slot = &mut line.values[p.index()];
                if slot.is_some() {
                    problem.get_or_insert(RequestErrorKind::DuplicateParameter { param: p.name() });
                } else {
                    *slot = Some(value);
                }
            }
        }
        // Read the request id first, so that every later error can name it.
        line.req_id = line
            .raw(P::ReqId)
            .and_then(|v| decode(v).ok())
            .map(Cow::into_owned);
        match problem {
            Some(kind) => Err(line.error(kind)),
            None => Ok(line),
        }
    }

    fn error(&self, kind: RequestErrorKind) -> RequestError {
        RequestError::new(kind, self.location, self.req_id.clone())
    }

    fn raw(&self, p: P) -> Option<&'a str> {
        self.values[p.index()]
    }

    /// The percent-decoded value of `p`, if present.
    fn decoded(&self, p: P) -> Result<Option<Cow<'a, str>>, RequestError> {
        let Some(raw) = self.raw(p) else {
            return Ok(None);
        };
        decode(raw).map(Some).map_err(|e| {
            self.error(match e {
                PercentError::BadEscape { offset } => RequestErrorKind::BadEscape {
                    param: p.name(),
                    offset,
                },
                _ => RequestErrorKind::InvalidUtf8 { param: p.name() },
            })
        })
    }

    fn text(&self, p: P) -> Result<Option<String>, RequestError> {
        Ok(self.decoded(p)?.map(Cow::into_owned))
    }

    fn required_text(&self, p: P) -> Result<String, RequestError> {
        self.text(p)?.ok_or_else(|| self.missing(p))
    }

    fn missing(&self, p: P) -> RequestError {
        self.error(RequestErrorKind::MissingParameter { param: p.name() })
    }

    /// The value of `p` read by `read`, which names what it expects.
    fn typed<T>(&self, p: P, (expected, read): Reader<T>) -> Result<Option<T>, RequestError> {
        let Some(value) = self.decoded(p)? else {
            return Ok(None);
        };
        match read(&value) {
            Some(v) => Ok(Some(v)),
            None => Err(self.error(RequestErrorKind::InvalidValue {
                param: p.name(),
                value: excerpt(&value),
                expected,
            })),
        }
    }

    fn required<T>(&self, p: P, reader: Reader<T>) -> Result<T, RequestError> {
        self.typed(p, reader)?.ok_or_else(|| self.missing(p))
    }

    fn session(
        &self,
        p: P,
        default: Option<&SessionId>,
    ) -> Result<Option<SessionId>, RequestError> {
        Ok(self
            .text(p)?
            .map(SessionId::new)
            .or_else(|| default.cloned()))
    }

    fn create(&self) -> Result<CreateSession, RequestError> {
        Ok(CreateSession {
            cid: self.text(P::Cid)?,
            user: self.text(P::User)?,
            password: self.text(P::Password)?.map(Secret::from),
            adapter_set: self.text(P::AdapterSet)?,
            requested_max_bandwidth: self.typed(P::RequestedMaxBandwidth, BANDWIDTH)?,
            content_length: self.typed(P::ContentLength, U64)?,
            polling: self.typed(P::Polling, BOOL)?,
            polling_millis: self.typed(P::PollingMillis, U64)?,
            idle_millis: self.typed(P::IdleMillis, U64)?,
            keepalive_millis: self.typed(P::KeepaliveMillis, U64)?,
            inactivity_millis: self.typed(P::InactivityMillis, U64)?,
            send_sync: self.typed(P::SendSync, BOOL)?,
            ttl_millis: self.typed(P::TtlMillis, TTL)?,
            reduce_head: self.typed(P::ReduceHead, BOOL)?,
            old_session: self.session(P::OldSession, None)?,
            cause: self.text(P::Cause)?,
            controls: Vec::new(),
        })
    }

    fn bind(&self, default_session: Option<&SessionId>) -> Result<BindSession, RequestError> {
        Ok(BindSession {
            session: self.session(P::Session, default_session)?,
            recovery_from: self.typed(P::RecoveryFrom, U64)?,
            content_length: self.typed(P::ContentLength, U64)?,
            polling: self.typed(P::Polling, BOOL)?,
            polling_millis: self.typed(P::PollingMillis, U64)?,
            idle_millis: self.typed(P::IdleMillis, U64)?,
            keepalive_millis: self.typed(P::KeepaliveMillis, U64)?,
            inactivity_millis: self.typed(P::InactivityMillis, U64)?,
            send_sync: self.typed(P::SendSync, BOOL)?,
            reduce_head: self.typed(P::ReduceHead, BOOL)?,
            cause: self.text(P::Cause)?,
        })
    }

    fn control(&self, default_session: Option<&SessionId>) -> Result<Control, RequestError> {
        Ok(Control {
            session: self.session(P::Session, default_session)?,
            req_id: self.text(P::ReqId)?,
            op: self.op()?,
            cause: self.text(P::Cause)?,
        })
    }

    fn op(&self) -> Result<ControlOp, RequestError> {
        let op = self.decoded(P::Op)?.ok_or_else(|| self.missing(P::Op))?;
        Ok(match &*op {
            "add" => ControlOp::Add(Subscribe {
                sub_id: self.required(P::SubId, U32)?,
                mode: self.required(P::Mode, MODE)?,
                group: self.required_text(P::Group)?,
                schema: self.required_text(P::Schema)?,
                data_adapter: self.text(P::DataAdapter)?,
                selector: self.text(P::Selector)?,
                requested_buffer_size: self.typed(P::RequestedBufferSize, BUFFER_SIZE)?,
                requested_max_frequency: self.typed(P::RequestedMaxFrequency, FREQUENCY)?,
                snapshot: self.typed(P::Snapshot, SNAPSHOT)?,
                ack: self.typed(P::Ack, BOOL)?,
            }),
            "delete" => ControlOp::Delete {
                sub_id: self.required(P::SubId, U32)?,
                ack: self.typed(P::Ack, BOOL)?,
            },
            "reconf" => ControlOp::Reconf {
                sub_id: self.required(P::SubId, U32)?,
                requested_max_frequency: self.typed(P::RequestedMaxFrequency, FREQUENCY)?,
            },
            "constrain" => ControlOp::Constrain {
                requested_max_bandwidth: self.typed(P::RequestedMaxBandwidth, BANDWIDTH)?,
            },
            "force_rebind" => ControlOp::ForceRebind {
                polling_millis: self.typed(P::PollingMillis, U64)?,
                close_socket: self.typed(P::CloseSocket, BOOL)?,
            },
            "destroy" => ControlOp::Destroy {
                cause_code: self.typed(P::CauseCode, I32)?,
                cause_message: self.text(P::CauseMessage)?,
                close_socket: self.typed(P::CloseSocket, BOOL)?,
            },
            other => {
                return Err(self.error(RequestErrorKind::UnknownOp {
                    value: excerpt(other),
                }));
            }
        })
    }

    fn message(&self, default_session: Option<&SessionId>) -> Result<Message, RequestError> {
        Ok(Message {
            session: self.session(P::Session, default_session)?,
            req_id: self.text(P::ReqId)?,
            message: self.required_text(P::Message)?,
            sequence: self.text(P::Sequence)?,
            msg_prog: self.typed(P::MsgProg, PROG)?,
            max_wait: self.typed(P::MaxWait, U64)?,
            ack: self.typed(P::Ack, BOOL)?,
            outcome: self.typed(P::Outcome, BOOL)?,
        })
    }

    fn heartbeat(&self, default_session: Option<&SessionId>) -> Result<Heartbeat, RequestError> {
        Ok(Heartbeat {
            session: self.session(P::Session, default_session)?,
            req_id: self.text(P::ReqId)?,
        })
    }
}

/// What a typed parameter expects (for errors), and how to read it.
type Reader<T> = (&'static str, fn(&str) -> Option<T>);

const U32: Reader<u32> = ("an unsigned integer", unsigned);
const U64: Reader<u64> = ("an unsigned integer", unsigned);
// Message numbers start from 1 (TLCP 2.0.0, 4.9): 0 is no number at all.
const PROG: Reader<u64> = ("an unsigned integer from 1", |s| {
    unsigned(s).filter(|&n: &u64| n > 0)
});
const I32: Reader<i32> = ("an integer", signed);
const BOOL: Reader<bool> = ("true or false", boolean);
const MODE: Reader<Mode> = ("RAW, MERGE, DISTINCT or COMMAND", |s| s.parse().ok());
const TTL: Reader<SessionTtl> = ("an unsigned integer or unlimited", |s| match s {
    "unlimited" => Some(SessionTtl::Unlimited),
    _ => unsigned(s).map(SessionTtl::Millis),
});
// A bandwidth or a frequency of 0 would stop the flow for good, and the official clients
// refuse to send one: a request that asks for it is malformed (65), not a pause.
const BANDWIDTH: Reader<Bandwidth> = ("a positive decimal number or unlimited", |s| match s {
    "unlimited" => Some(Bandwidth::Unlimited),
    _ => positive_decimal(s).map(Bandwidth::Kbps),
});
const FREQUENCY: Reader<MaxFrequency> = (
    "a positive decimal number, unlimited or unfiltered",
    |s| match s {
        "unlimited" => Some(MaxFrequency::Unlimited),
        "unfiltered" => Some(MaxFrequency::Unfiltered),
        _ => positive_decimal(s).map(MaxFrequency::PerSecond),
    },
);
const BUFFER_SIZE: Reader<BufferSize> = ("an unsigned integer or unlimited", |s| match s {
    "unlimited" => Some(BufferSize::Unlimited),
    _ => unsigned(s).map(BufferSize::Events),
});
const SNAPSHOT: Reader<Snapshot> = ("true, false or an unsigned integer", |s| match boolean(s) {
    Some(b) => Some(Snapshot::Enabled(b)),
    None => unsigned(s).map(Snapshot::Length),
});

/// A TLCP decimal above 0.
fn positive_decimal(s: &str) -> Option<f64> {
    parse_decimal(s).filter(|v| *v > 0.0)
}

/// Digits only (no sign, no spaces), within range.
fn unsigned<T: FromStr>(s: &str) -> Option<T> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// An optional `-` then digits, within range.
fn signed(s: &str) -> Option<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn boolean(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}
