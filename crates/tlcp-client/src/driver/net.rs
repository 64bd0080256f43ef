//! The driver's network side: the connections the session machine asked for, opened,
//! read, written and closed without ever blocking the driver's loop.
//!
//! A WebSocket is read and written in the same poll, without handing the socket to a
//! write future: requests waiting for the socket never stop the reading. What waits is
//! bounded by [`TransportConfig::max_ws_write_queue`](crate::transport::TransportConfig):
//! a server that does not read its WebSocket gets the connection failed (the machine
//! then recovers the session) instead of a queue that grows without end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tlcp_proto::ProtocolVersion;
use tlcp_proto::client::{CloseReason, ConnId, HttpKind, Target, Transmit};

use crate::transport::{
    Chunk, FrameSource, HttpRequest, HttpStream, ServerAddress, Transport, TransportError,
    WsConnection,
};

/// How long a closed WebSocket may take to send what was queued on it and its close frame.
const LINGER: Duration = Duration::from_secs(2);

/// A connection or request that finished opening.
// A few per session, moved once: boxing would cost an indirection on every read.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Opened {
    Ws(WsConnection),
    Stream(HttpStream),
    Control(Bytes),
}

/// The end of a pending network operation.
pub(crate) struct Done {
    pub(crate) conn: ConnId,
    pub(crate) result: Result<Opened, TransportError>,
}

#[allow(clippy::large_enum_variant)] // As for `Opened`.
enum Io {
    Ws(WsConnection),
    Http(HttpStream),
}

/// WS requests waiting to be written, with their size.
#[derive(Default)]
struct Outbox {
    texts: VecDeque<String>,
    bytes: usize,
}

impl Outbox {
    /// Queues `text`, unless the queue would then hold more than `max` bytes (a request
    /// alone always fits). Says whether it was queued.
    fn push(&mut self, text: String, max: usize) -> bool {
        if !self.texts.is_empty() && self.bytes.saturating_add(text.len()) > max {
            return false;
        }
        self.bytes += text.len();
        self.texts.push_back(text);
        true
    }
}

/// An open stream connection.
struct Slot {
    id: ConnId,
    io: Io,
    /// WS requests waiting to be written.
    outbox: Outbox,
    /// WS: requests were handed to the socket and not flushed yet.
    writing: bool,
}

/// What happened on the open connections.
pub(crate) enum NetEvent {
    /// A chunk was read and handed to the callback.
    Data,
    /// A connection ended (cleanly or not) and was removed.
    Closed(ConnId, CloseReason),
}

/// Every connection the driver holds for the machine.
pub(crate) struct Net {
    transport: Transport,
    server: ServerAddress,
    version: ProtocolVersion,
    /// Control links (`CONOK`) as addresses.
    links: HashMap<String, ServerAddress>,
    /// The open connections.
    pub(crate) open: Open,
    /// Connections being opened and control requests in flight.
    pub(crate) ops: FuturesUnordered<BoxFuture<'static, Done>>,
    /// The pending operations still wanted (a `Close` removes them).
    live: HashSet<ConnId>,
    /// WS requests for connections still opening.
    early: HashMap<ConnId, Outbox>,
    /// Closed WebSockets still sending their last requests (see [`Net::close`]).
    lingering: Vec<tokio::task::JoinHandle<()>>,
}

impl Net {
    pub(crate) fn new(
        transport: Transport,
        server: ServerAddress,
        version: ProtocolVersion,
    ) -> Self {
        Self {
            transport,
            server,
            version,
            links: HashMap::new(),
            open: Open::default(),
            ops: FuturesUnordered::new(),
            live: HashSet::new(),
            early: HashMap::new(),
            lingering: Vec::new(),
        }
    }

    /// Whether the result of `conn`'s operation is still wanted (and forgets it).
    pub(crate) fn take_live(&mut self, conn: ConnId) -> bool {
        self.live.remove(&conn)
    }

    /// Adds a connection that finished opening.
    pub(crate) fn add_open(&mut self, id: ConnId, io: Opened) {
        let io = match io {
            Opened::Ws(ws) => Io::Ws(ws),
            Opened::Stream(h) => Io::Http(h),
            Opened::Control(_) => return,
        };
        let outbox = self.early.remove(&id).unwrap_or_default();
        self.open.slots.push(Slot {
            id,
            io,
            outbox,
            writing: false,
        });
    }

    /// Carries out one transmit. An immediate failure (an unusable control link) is
    /// returned, to be reported to the machine.
    pub(crate) fn execute(&mut self, transmit: Transmit) -> Option<(ConnId, CloseReason)> {
        match transmit {
            Transmit::OpenWs {
                conn,
                target,
                creates_session: creating_session,
                ..
            } => {
                let server = match self.address(&target) {
                    Ok(s) => s,
                    Err(e) => return Some((conn, CloseReason::Failed(e.to_string()))),
                };
                let (transport, version) = (self.transport.clone(), self.version);
                tracing::debug!(%conn, creating_session, "opening a WebSocket");
                self.spawn(conn, async move {
                    transport
                        .connect_ws(&server, version, creating_session)
                        .await
                        .map(Opened::Ws)
                });
            }
            Transmit::Http {
                conn,
                target,
                path,
                body,
                kind,
            } => {
                let server = match self.address(&target) {
                    Ok(s) => s,
                    Err(e) => return Some((conn, CloseReason::Failed(e.to_string()))),
                };
                let Some((name, query)) = split_path(&path) else {
                    let reason = format!("unexpected request path for {}", path_name(&path));
                    return Some((conn, CloseReason::Failed(reason)));
                };
                let (name, query) = (name.to_owned(), query.to_owned());
                let (transport, version) = (self.transport.clone(), self.version);
                tracing::debug!(%conn, request = %name, ?kind, "HTTP request");
                self.spawn(conn, async move {
                    let mut request = HttpRequest::new(&name, &body).with_query(&query);
                    if name == "create_session" {
                        request = request.creating_session();
                    }
                    match kind {
                        HttpKind::Stream => transport
                            .open_stream(&server, version, &request)
                            .await
                            .map(Opened::Stream),
                        HttpKind::Control => transport
                            .control(&server, version, &request)
                            .await
                            .map(Opened::Control),
                    }
                });
            }
            Transmit::WsText { conn, text } => {
                let max = self.transport.config().max_ws_write_queue;
                let queued = match self.open.slots.iter_mut().find(|s| s.id == conn) {
                    Some(slot) => slot.outbox.push(text, max),
                    None if self.live.contains(&conn) => {
                        self.early.entry(conn).or_default().push(text, max)
                    }
                    None => {
                        tracing::debug!(%conn, "request for a closed WebSocket dropped");
                        true
                    }
                };
                if !queued {
                    tracing::warn!(%conn, max, "the server does not read its WebSocket: connection failed");
                    self.drop_conn(conn);
                    let reason = format!(
                        "more than {max} bytes of requests wait to be written: the server \
                         does not read its WebSocket"
                    );
                    return Some((conn, CloseReason::Failed(reason)));
                }
            }
            Transmit::Close { conn } => self.close(conn),
            other => tracing::warn!(?other, "unknown transmit ignored"),
        }
        None
    }

    fn spawn(
        &mut self,
        conn: ConnId,
        fut: impl Future<Output = Result<Opened, TransportError>> + Send + 'static,
    ) {
        self.live.insert(conn);
        self.ops.push(
            async move {
                Done {
                    conn,
                    result: fut.await,
                }
            }
            .boxed(),
        );
    }

    /// Drops a connection at once, without sending anything more on it.
    fn drop_conn(&mut self, conn: ConnId) {
        self.live.remove(&conn);
        self.early.remove(&conn);
        self.open.slots.retain(|s| s.id != conn);
    }

    /// Closes a connection: an open WebSocket first sends what was queued on it (the
    /// `destroy` request, typically) and its close frame, in a task of its own.
    pub(crate) fn close(&mut self, conn: ConnId) {
        self.live.remove(&conn);
        self.early.remove(&conn);
        let Some(i) = self.open.slots.iter().position(|s| s.id == conn) else {
            return;
        };
        let slot = self.open.slots.swap_remove(i);
        let outbox = slot.outbox.texts;
        if let Io::Ws(mut ws) = slot.io {
            self.lingering.retain(|t| !t.is_finished());
            self.lingering.push(tokio::spawn(async move {
                let _ = tokio::time::timeout(LINGER, async move {
                    for text in outbox {
                        if ws.send_text(&text).await.is_err() {
                            return;
                        }
                    }
                    let _ = ws.close().await;
                })
                .await;
            }));
        }
    }

    /// The tasks still sending the last requests and the close frame of closed
    /// WebSockets.
    pub(crate) fn take_lingering(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(&mut self.lingering)
    }

    /// Whether requests or connections are still being opened.
    pub(crate) fn busy(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Closes everything at once (the driver is stopping).
    pub(crate) fn close_all(&mut self) {
        let ids: Vec<ConnId> = self.open.slots.iter().map(|s| s.id).collect();
        for id in ids {
            self.close(id);
        }
        self.live.clear();
    }

    /// Where a target is.
    fn address(&mut self, target: &Target) -> Result<ServerAddress, TransportError> {
        match target {
            Target::ControlLink(link) => {
                if let Some(a) = self.links.get(link) {
                    return Ok(a.clone());
                }
                let scheme = if self.server.is_secure() {
                    "https"
                } else {
                    "http"
                };
                let a =
                    ServerAddress::parse(&format!("{scheme}://{link}{}", self.server.base_path()))?;
                self.links.insert(link.clone(), a.clone());
                Ok(a)
            }
            _ => Ok(self.server.clone()),
        }
    }
}

/// The open connections, read and written by [`Open::poll_io`].
#[derive(Default)]
pub(crate) struct Open {
    slots: Vec<Slot>,
}

impl Open {
    /// Whether a connection is open (there is something to poll).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Writes queued WS requests (as far as the sockets take them) and, when `read` is
    /// set, reads the open connections, WebSockets with writes pending included: the
    /// first chunk found goes to `on_chunk`.
    pub(crate) fn poll_io(
        &mut self,
        cx: &mut Context<'_>,
        read: bool,
        mut on_chunk: impl FnMut(ConnId, Chunk<'_>),
    ) -> Poll<NetEvent> {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let id = slot.id;
            let step = match &mut slot.io {
                Io::Ws(ws) => {
                    let mut step = Poll::Pending;
                    if slot.writing || !slot.outbox.texts.is_empty() {
                        let outbox = &mut slot.outbox;
                        match ws.poll_write_queue(cx, &mut outbox.texts, &mut outbox.bytes) {
                            Poll::Ready(Ok(())) => slot.writing = false,
                            Poll::Ready(Err(e)) => step = Poll::Ready(Err(e)),
                            Poll::Pending => slot.writing = true,
                        }
                    }
                    if step.is_pending() && read {
                        step = poll_chunk(ws, cx, |c| on_chunk(id, c));
                    }
                    step
                }
                Io::Http(h) if read => poll_chunk(h, cx, |c| on_chunk(id, c)),
                Io::Http(_) => Poll::Pending,
            };
            match step {
                Poll::Pending => {}
                Poll::Ready(Ok(true)) => return Poll::Ready(NetEvent::Data),
                Poll::Ready(end) => {
                    self.slots.swap_remove(i);
                    let reason = match end {
                        Ok(_) => CloseReason::Ended,
                        Err(e) => CloseReason::Failed(e.to_string()),
                    };
                    return Poll::Ready(NetEvent::Closed(id, reason));
                }
            }
        }
        Poll::Pending
    }
}

/// Polls a fresh `next_chunk` future once (it is cancel-safe: dropping it when pending
/// loses nothing). `Ok(true)`: a chunk went to `f`; `Ok(false)`: the stream ended.
fn poll_chunk<S: FrameSource>(
    source: &mut S,
    cx: &mut Context<'_>,
    f: impl FnOnce(Chunk<'_>),
) -> Poll<Result<bool, TransportError>> {
    let fut = pin!(source.next_chunk());
    match fut.poll(cx) {
        Poll::Ready(Ok(Some(chunk))) => {
            f(chunk);
            Poll::Ready(Ok(true))
        }
        Poll::Ready(Ok(None)) => Poll::Ready(Ok(false)),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// `(name, query after LS_protocol)` of a path the machine built:
/// `/lightstreamer/<name>.txt?LS_protocol=TLCP-x.y.z[&<query>]`.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/lightstreamer/")?;
    let (name, query) = match rest.split_once(".txt?") {
        Some((n, q)) => (n, q),
        None => (rest.strip_suffix(".txt")?, ""),
    };
    let query = match query.split_once('&') {
        Some((first, rest)) if first.starts_with("LS_protocol=") => rest,
        _ if query.starts_with("LS_protocol=") => "",
        _ => query,
    };
    Some((name, query))
}

/// The request name of a path, for logs (never the query: it holds the session id).
fn path_name(path: &str) -> &str {
    path.split('?').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_name_and_query() {
        assert_eq!(
            split_path("/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0"),
            Some(("bind_session", ""))
        );
        assert_eq!(
            split_path("/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"),
            Some(("control", "LS_session=S1"))
        );
        assert_eq!(split_path("/other"), None);
        assert_eq!(
            path_name("/lightstreamer/control.txt?LS_session=S"),
            "/lightstreamer/control.txt"
        );
    }
}
