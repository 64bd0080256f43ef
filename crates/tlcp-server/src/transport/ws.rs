//! WebSocket transport: `/lightstreamer` with subprotocol `TLCP-<version>.lightstreamer.com`;
//! requests and their responses travel on the stream connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tlcp_proto::ProtocolVersion;
use tlcp_proto::notification::Notification;
use tlcp_proto::request::{Request as TlcpRequest, parse_ws_message_each};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_websockets::Message;

use super::http::{Body, full};
use crate::adapter::ClientInfo;
use crate::server::Server;
use crate::session::Session;
use crate::session::stream::{Sink, StreamEnd, run_stream};
use crate::tasks::AbortOnDrop;
use crate::transport::{execute, parse_error_line, reply_line, stream_params};

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Answers the upgrade request and starts the connection's task.
pub(crate) fn upgrade(
    server: Arc<Server>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let h = req.headers();
    let is_upgrade = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = h
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok());
    let (true, Some(key)) = (is_upgrade, key) else {
        return full(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade\r\n");
    };
    let version = h
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| ProtocolVersion::from_ws_subprotocol(p.trim()));
    let Some(version) = version else {
        return full(
            StatusCode::BAD_REQUEST,
            "no supported subprotocol: offer TLCP-2.x.y.lightstreamer.com (2.0.0 to 2.5.0)\r\n",
        );
    };
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes());
    let on_upgrade = hyper::upgrade::on(req);
    // Frames a little over the request limit are read whole, to be answered (`ERROR,67`)
    // before the socket is closed; longer ones are cut by the WebSocket layer itself.
    let frame_limit = frame_limit(server.config.request_limit);
    let task_server = Arc::clone(&server);
    server.tasks.spawn(async move {
        let server = task_server;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = tokio_websockets::ServerBuilder::new()
                    .limits(tokio_websockets::Limits::default().max_payload_len(Some(frame_limit)))
                    .serve(TokioIo::new(upgraded));
                run(server, remote, version, ws).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut r = Response::new(Empty::new().map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(version.ws_subprotocol()),
    );
    r
}

struct WsSink {
    tx: mpsc::Sender<String>,
    /// Set when the stream's last line (`LOOP`, `END`, `CONERR`) is sent.
    ending: Arc<AtomicBool>,
}

impl Sink for WsSink {
    async fn send(&mut self, data: String) -> std::io::Result<()> {
        self.tx
            .send(data)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "WebSocket closed"))
    }

    async fn send_last(&mut self, data: String) -> std::io::Result<()> {
        self.ending.store(true, Ordering::Release);
        self.send(data).await
    }

    async fn abort(&mut self) {
        // The connection task sees the stream end with `Dropped` and cuts the socket.
    }
}

async fn run<S>(
    server: Arc<Server>,
    remote: SocketAddr,
    version: ProtocolVersion,
    ws: tokio_websockets::WebSocketStream<S>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(16);
    let mut writer = AbortOnDrop(tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        // The close handshake waits for the client's answer: not for ever.
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, sink.close()).await;
    }));
    let mut current: Option<Arc<Session>> = None;
    let mut streaming: Option<Streaming> = None;
    let mut cut = false;
    // On shutdown the socket closes once the stream connection on it (if any) has sent
    // its `END`.
    let stop = server.shutdown.wait();
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        if stopping && streaming.as_ref().is_none_or(|s| s.handle.is_finished()) {
            break;
        }
        let msg = match &mut streaming {
            Some(Streaming {
                handle, session, ..
            }) if !handle.is_finished() => {
                // Back-pressure: while the client leaves the output of its session
                // unread (what was written to the socket is still queued, and the
                // output is over its congestion mark), its next requests (and the output
                // they would add) wait. A client that reads is never paused, however
                // busy its session.
                let paused = tx.capacity() == 0 && session.output_congested();
                tokio::select! {
                    m = stream.next(), if !paused => m,
                    () = session.output_drained(DRAIN_RECHECK), if paused => continue,
                    () = &mut stop, if !stopping => {
                        stopping = true;
                        continue;
                    }
                    end = handle => {
                        if matches!(end, Ok(StreamEnd::Dropped)) {
                            cut = true;
                            break;
                        }
                        let close = streaming.as_ref().is_some_and(|s| s.session.take_close_socket());
                        if close {
                            // LS_close_socket=true: END/LOOP was the last thing on this socket.
                            break;
                        }
                        continue;
                    }
                }
            }
            _ => tokio::select! {
                m = stream.next() => m,
                () = &mut stop, if !stopping => {
                    stopping = true;
                    continue;
                }
            },
        };
        let Some(Ok(msg)) = msg else {
            break;
        };
        if msg.is_close() {
            break;
        }
        let Some(text) = msg.as_text() else {
            continue;
        };
        let limit = server.config.request_limit;
        if text.len() > limit {
            // As over HTTP: the request is malformed (67), and the connection, whose
            // client ignored the limit announced in CONOK, is closed.
            let _ = tx
                .send(reply_line(&Notification::Error {
                    code: 67,
                    message: format!("request longer than the {limit}-byte limit").into(),
                }))
                .await;
            break;
        }
        let parsed = match parse_ws_message_each(text) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(parse_error_line(&e)).await;
                continue;
            }
        };
        for r in parsed.requests {
            let req = match r {
                Ok(req) => req,
                Err(e) => {
                    let _ = tx.send(parse_error_line(&e)).await;
                    continue;
                }
            };
            if let Some(st) = &mut streaming
                && !st.handle.is_finished()
                && st.ending.load(Ordering::Acquire)
                && matches!(
                    req,
                    TlcpRequest::CreateSession(_) | TlcpRequest::BindSession(_)
                )
            {
                // The stream sent its `LOOP` (a poll is over) and the client asks for the
                // next one before the stream's task has quite finished: let it finish.
                let _ = (&mut st.handle).await;
            }
            if streaming.as_ref().is_some_and(|st| st.handle.is_finished()) {
                streaming = None;
            }
            let line = match req {
                TlcpRequest::Wsok => Some(reply_line(&Notification::WsOk)),
                TlcpRequest::CreateSession(c) => {
                    if streaming.is_some() {
                        Some(streaming_in_place())
                    } else {
                        let client = ClientInfo {
                            user: c.user.clone(),
                            remote,
                            protocol: version,
                        };
                        match server.create_session(&c, client) {
                            Ok(s) => {
                                let p = stream_params(
                                    &server.config,
                                    c.polling,
                                    c.polling_millis,
                                    c.idle_millis,
                                    c.keepalive_millis,
                                    c.send_sync,
                                    None,
                                    None,
                                    c.inactivity_millis,
                                    false,
                                );
                                current = Some(s.clone());
                                streaming = Some(spawn_stream(&server, s, p, &tx));
                                None
                            }
                            Err(e) => Some(reply_line(&Notification::ConErr {
                                code: e.code,
                                message: e.message.into(),
                            })),
                        }
                    }
                }
                TlcpRequest::BindSession(b) => {
                    let session = match &b.session {
                        Some(id) => server.find(id.expose()),
                        None => current.clone(),
                    };
                    match session {
                        _ if streaming.is_some() => Some(streaming_in_place()),
                        None => Some(reply_line(&Notification::ConErr {
                            code: 20,
                            message: "Specified session not found".into(),
                        })),
                        Some(s) => {
                            let p = stream_params(
                                &server.config,
                                b.polling,
                                b.polling_millis,
                                b.idle_millis,
                                b.keepalive_millis,
                                b.send_sync,
                                None,
                                b.recovery_from,
                                b.inactivity_millis,
                                false,
                            );
                            current = Some(s.clone());
                            streaming = Some(spawn_stream(&server, s, p, &tx));
                            None
                        }
                    }
                }
                other => execute(
                    &server,
                    &other,
                    current.as_ref(),
                    streaming.as_ref().map(|st| &st.session),
                    true,
                ),
            };
            if let Some(line) = line
                && tx.send(line).await.is_err()
            {
                break;
            }
        }
    }
    drop(streaming);
    if cut {
        // No close frame: the client must see a broken connection.
        writer.0.abort();
        return;
    }
    drop(tx);
    let _ = (&mut writer.0).await;
}

/// How long the closing of a WebSocket waits for the client's close frame.
const CLOSE_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a WebSocket whose reading is paused (back-pressure) waits for the output to
/// drain before looking again.
const DRAIN_RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The longest frame read whole, to be answered: twice the request limit.
fn frame_limit(request_limit: usize) -> usize {
    request_limit.saturating_mul(2).max(1024)
}

fn streaming_in_place() -> String {
    reply_line(&Notification::ConErr {
        code: 69,
        message: "Streaming request on a WebSocket not allowed, as a streaming is already in place"
            .into(),
    })
}

/// The stream connection running on a WebSocket (its task is aborted when this is
/// dropped: it does not outlive the WebSocket's own task).
struct Streaming {
    session: Arc<Session>,
    handle: JoinHandle<StreamEnd>,
    /// Its last line is out: its task is about to end.
    ending: Arc<AtomicBool>,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn spawn_stream(
    server: &Arc<Server>,
    session: Arc<Session>,
    params: crate::session::stream::StreamParams,
    tx: &mpsc::Sender<String>,
) -> Streaming {
    let server = Arc::clone(server);
    let ending = Arc::new(AtomicBool::new(false));
    let mut sink = WsSink {
        tx: tx.clone(),
        ending: ending.clone(),
    };
    let task_session = session.clone();
    let handle = tokio::spawn(async move {
        let session = task_session;
        let end = run_stream(&session, &params, &mut sink).await;
        match &end {
            StreamEnd::Closed => server.remove(session.id.expose()),
            StreamEnd::Io(e) => {
                tracing::debug!(session = %session.id.redacted(), error = %e, "stream connection lost");
            }
            _ => {}
        }
        end
    });
    Streaming {
        session,
        handle,
        ending,
    }
}
