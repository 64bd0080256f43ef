//! Network transports: HTTP and WebSocket, and what they share.

pub(crate) mod http;
pub(crate) mod stall;
pub(crate) mod ws;

use std::borrow::Cow;
use std::sync::Arc;

use tlcp_proto::notification::Notification;
use tlcp_proto::request::{ControlOp, Request, RequestError};
use tokio::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::server::Server;
use crate::session::Session;
use crate::session::stream::StreamParams;

/// The parameters of a stream connection, from the request's fields, within the limits
/// of the configuration.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_params(
    cfg: &ServerConfig,
    polling: Option<bool>,
    polling_millis: Option<u64>,
    idle_millis: Option<u64>,
    keepalive_millis: Option<u64>,
    send_sync: Option<bool>,
    content_length: Option<u64>,
    recovery_from: Option<u64>,
    inactivity_millis: Option<u64>,
    http: bool,
) -> StreamParams {
    let polling = polling.unwrap_or(false);
    let keepalive = keepalive_millis
        .map(Duration::from_millis)
        .map_or(cfg.default_keepalive, |k| {
            k.clamp(cfg.min_keepalive, cfg.max_keepalive)
        });
    StreamParams {
        polling,
        polling_millis: polling_millis
            .unwrap_or(0)
            .min(cfg.max_polling.as_millis() as u64),
        idle: Duration::from_millis(idle_millis.unwrap_or(0)).min(cfg.max_idle),
        keepalive,
        send_sync: send_sync.unwrap_or(true) && !polling,
        content_length: http.then(|| {
            content_length
                .filter(|c| *c >= cfg.min_content_length)
                .unwrap_or(cfg.default_content_length)
        }),
        recovery_from,
        inactivity: inactivity_millis
            .filter(|m| *m > 0)
            .map(Duration::from_millis),
        http,
    }
}

/// A response line: `REQOK`, `REQERR` or `ERROR`.
pub(crate) fn reply_line(n: &Notification<'_>) -> String {
    let mut s = String::new();
    n.encode(&mut s);
    s
}

/// The line answering a request that could not be parsed.
pub(crate) fn parse_error_line(e: &RequestError) -> String {
    let message = Cow::Owned(e.to_string());
    reply_line(&match e.req_id() {
        Some(id) => Notification::ReqErr {
            request_id: Cow::Borrowed(id),
            code: e.code(),
            message,
        },
        None => Notification::Error {
            code: e.code(),
            message,
        },
    })
}

/// Executes a `control`, `msg` or `heartbeat` request.
///
/// `default` is the session a WS connection last bound (used when `LS_session` is
/// omitted); `bound` is the session whose stream connection is this same WS connection:
/// for it, `REQOK` goes through the session output so it precedes the notifications the
/// request causes. Returns the line to send back directly, if any.
pub(crate) fn execute(
    server: &Server,
    req: &Request,
    default: Option<&Arc<Session>>,
    bound: Option<&Arc<Session>>,
    ws: bool,
) -> Option<String> {
    let req_id = req.req_id().map(str::to_owned);
    let session = match req.session() {
        Some(id) => server.find(id.expose()),
        None => default.cloned(),
    };
    let Some(session) = session.filter(|s| !s.is_closed()) else {
        return Some(error_reply(
            req_id.as_deref(),
            20,
            "Specified session not found",
        ));
    };
    session.heard_from_client(Instant::now());
    let wants_ack = !ws
        || match req {
            Request::Control(c) => match &c.op {
                ControlOp::Add(s) => s.ack != Some(false),
                ControlOp::Delete { ack, .. } => *ack != Some(false),
                _ => true,
            },
            Request::Message(m) => m.ack != Some(false),
            _ => true,
        };
    let ok = Notification::ReqOk {
        request_id: req_id.as_deref().map(Cow::Borrowed),
    };
    let through_session = wants_ack && bound.is_some_and(|b| Arc::ptr_eq(b, &session));
    let ack = through_session.then_some(&ok);
    let result = match req {
        Request::Control(c) => match &c.op {
            ControlOp::Add(s) => session.subscribe(s, ack),
            ControlOp::Delete { sub_id, .. } => session.unsubscribe(*sub_id, ack),
            ControlOp::Reconf {
                sub_id,
                requested_max_frequency,
            } => session.reconfigure(*sub_id, *requested_max_frequency, ack),
            ControlOp::Constrain {
                requested_max_bandwidth,
            } => session.constrain(*requested_max_bandwidth, ack),
            ControlOp::ForceRebind {
                polling_millis,
                close_socket,
            } => {
                session.set_close_socket(close_socket.unwrap_or(false));
                session.force_rebind(*polling_millis, ack)
            }
            ControlOp::Destroy {
                cause_code,
                cause_message,
                close_socket,
            } => {
                session.set_close_socket(close_socket.unwrap_or(false));
                session.destroy(*cause_code, cause_message.as_deref(), ack);
                server.remove(session.id.expose());
                Ok(())
            }
            _ => Err(crate::adapter::Refusal::new(
                65,
                "unsupported control operation",
            )),
        },
        Request::Message(m) => session.message(m, ack, Instant::now()),
        Request::Heartbeat(_) => {
            if let Some(a) = ack {
                session.notify(a);
            }
            Ok(())
        }
        _ => Err(crate::adapter::Refusal::new(67, "not a control request")),
    };
    match result {
        Ok(()) if wants_ack && !through_session => Some(reply_line(&ok)),
        Ok(()) => None,
        Err(r) => Some(error_reply(req_id.as_deref(), r.code, &r.message)),
    }
}

fn error_reply(req_id: Option<&str>, code: i32, message: &str) -> String {
    reply_line(&match req_id {
        Some(id) => Notification::ReqErr {
            request_id: Cow::Borrowed(id),
            code,
            message: Cow::Borrowed(message),
        },
        None => Notification::Error {
            code,
            message: Cow::Borrowed(message),
        },
    })
}
