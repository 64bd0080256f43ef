//! HTTP transport: `POST`/`GET /lightstreamer/<name>.txt`, streaming responses for
//! stream connections, one response per control request (or batch).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use tlcp_proto::ProtocolVersion;
use tlcp_proto::notification::Notification;
use tlcp_proto::request::{Request as TlcpRequest, parse_http_each};
use tokio::sync::{Notify, mpsc};

use crate::adapter::ClientInfo;
use crate::server::Server;
use crate::session::Session;
use crate::session::stream::{Sink, StreamEnd, StreamParams, run_stream};
use crate::transport::{execute, parse_error_line, reply_line, stream_params};

/// Response body type of the server.
pub(crate) type Body = BoxBody<Bytes, io::Error>;

/// A streaming body fed by a channel; an `Err` item aborts the connection.
struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| b.map(Frame::data)))
    }
}

struct HttpSink(mpsc::Sender<io::Result<Bytes>>);

impl Sink for HttpSink {
    async fn send(&mut self, data: String) -> io::Result<()> {
        self.0
            .send(Ok(Bytes::from(data)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "HTTP client went away"))
    }

    async fn abort(&mut self) {
        let _ = self
            .0
            .send(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut",
            )))
            .await;
    }
}

pub(crate) fn full(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(text.into()).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    set_headers(&mut r);
    r
}

fn set_headers(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-transform, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Thu, 1 Jan 1970 00:00:00 GMT"),
    );
}

/// Serves one HTTP request. `close` closes the connection once its response is complete
/// (a stream connection whose session asked for `LS_close_socket`).
pub(crate) async fn handle(
    server: Arc<Server>,
    remote: SocketAddr,
    close: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/lightstreamer" {
        return Ok(super::ws::upgrade(server, remote, req));
    }
    let Some(name) = path
        .strip_prefix("/lightstreamer/")
        .and_then(|n| n.strip_suffix(".txt"))
        .map(str::to_owned)
    else {
        return Ok(full(
            StatusCode::NOT_FOUND,
            "not a Lightstreamer request\r\n",
        ));
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.as_str().to_owned());
    let limit = server.config.request_limit;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(full(
                StatusCode::OK,
                reply_line(&Notification::Error {
                    code: 67,
                    message: format!("request longer than the {limit}-byte limit").into(),
                }),
            ));
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return Ok(full(
            StatusCode::OK,
            reply_line(&Notification::Error {
                code: 67,
                message: "request body is not UTF-8".into(),
            }),
        ));
    };
    let stream_request = name == "create_session" || name == "bind_session";
    let parsed = match parse_http_each(&path_and_query, body) {
        Ok(p) => p,
        Err(e) => {
            let line = if stream_request {
                reply_line(&Notification::ConErr {
                    code: e.code(),
                    message: e.to_string().into(),
                })
            } else {
                parse_error_line(&e)
            };
            return Ok(full(StatusCode::OK, line));
        }
    };
    let version = parsed.version;
    let mut requests = parsed.requests.into_iter();
    if stream_request {
        let Some(Version(version)) = version.map(Version) else {
            return Ok(full(
                StatusCode::OK,
                reply_line(&Notification::ConErr {
                    code: 65,
                    message: "LS_protocol is missing".into(),
                }),
            ));
        };
        return Ok(match requests.next() {
            Some(Ok(r)) => stream_request_response(&server, remote, version, r, close),
            Some(Err(e)) => full(
                StatusCode::OK,
                reply_line(&Notification::ConErr {
                    code: e.code(),
                    message: e.to_string().into(),
                }),
            ),
            None => full(StatusCode::OK, "CONERR,67,empty request\r\n"),
        });
    }
    let mut out = String::new();
    for r in requests {
        match r {
            Ok(req) => {
                if let Some(line) = execute(&server, &req, None, None, false) {
                    out.push_str(&line);
                }
            }
            Err(e) => out.push_str(&parse_error_line(&e)),
        }
    }
    Ok(full(StatusCode::OK, out))
}

struct Version(ProtocolVersion);

fn stream_request_response(
    server: &Arc<Server>,
    remote: SocketAddr,
    version: ProtocolVersion,
    req: TlcpRequest,
    close: Arc<Notify>,
) -> Response<Body> {
    let conerr = |code: i32, message: String| {
        full(
            StatusCode::OK,
            reply_line(&Notification::ConErr {
                code,
                message: message.into(),
            }),
        )
    };
    let cfg = &server.config;
    let (session, params): (Arc<Session>, StreamParams) = match req {
        TlcpRequest::CreateSession(c) => {
            let client = ClientInfo {
                user: c.user.clone(),
                remote,
                protocol: version,
            };
            match server.create_session(&c, client) {
                Ok(s) => (
                    s,
                    stream_params(
                        cfg,
                        c.polling,
                        c.polling_millis,
                        c.idle_millis,
                        c.keepalive_millis,
                        c.send_sync,
                        c.content_length,
                        None,
                        c.inactivity_millis,
                        true,
                    ),
                ),
                Err(e) => return conerr(e.code, e.message),
            }
        }
        TlcpRequest::BindSession(b) => {
            let Some(id) = &b.session else {
                return conerr(65, "LS_session is mandatory over HTTP".into());
            };
            let Some(s) = server.find(id.expose()) else {
                return conerr(20, "Specified session not found".into());
            };
            (
                s,
                stream_params(
                    cfg,
                    b.polling,
                    b.polling_millis,
                    b.idle_millis,
                    b.keepalive_millis,
                    b.send_sync,
                    b.content_length,
                    b.recovery_from,
                    b.inactivity_millis,
                    true,
                ),
            )
        }
        _ => return conerr(67, "not a session request".into()),
    };
    let (tx, rx) = mpsc::channel(4);
    let task_server = Arc::clone(server);
    server.tasks.spawn(async move {
        let server = task_server;
        let mut sink = HttpSink(tx);
        let end = run_stream(&session, &params, &mut sink).await;
        match &end {
            StreamEnd::Closed => server.remove(session.id.expose()),
            StreamEnd::Io(e) => {
                tracing::debug!(session = %session.id.redacted(), error = %e, "stream connection lost");
            }
            _ => {}
        }
        if matches!(end, StreamEnd::Closed | StreamEnd::Looped) && session.take_close_socket() {
            // LS_close_socket=true: END/LOOP was the last thing on this connection, which
            // is not kept alive for another request.
            close.notify_one();
        }
    });
    let mut r = Response::new(ChannelBody(rx).boxed());
    set_headers(&mut r);
    r
}
