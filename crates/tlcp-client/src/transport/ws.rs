//! WebSocket stream connections: our own upgrade handshake, framing by a replaceable
//! backend (tokio-websockets today).

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{Sink, SinkExt, StreamExt};
use http::{HeaderName, HeaderValue, header};
use tlcp_proto::ProtocolVersion;
use tokio::io::AsyncWriteExt;

use super::http1::{self, ResponseHead};
use super::net::{Io, Rewind};
use super::{Chunk, FrameSource, ServerAddress, TransportError};

/// The GUID of RFC 6455, section 1.3.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What a WebSocket stream connection needs from the WebSocket implementation: whole
/// text messages in, text messages out, and the timestamp of the last socket read.
///
/// tokio-websockets is behind this trait so that an in-place frame decoder (reading frames
/// straight out of the socket buffer) can replace it without touching [`WsConnection`].
pub(crate) trait WsBackend: Send {
    /// The payload of the next data message, with the instant the socket read that
    /// completed it returned; `Ok(None)` once the server closed. Must be cancel-safe.
    async fn recv(&mut self) -> Result<Option<(&[u8], Instant)>, TransportError>;
    /// Sends one text message.
    async fn send_text(&mut self, text: &str) -> Result<(), TransportError>;
    /// Ready to take a message with [`start_send`](Self::start_send) (the messages
    /// taken before may have to be written first).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// Takes one text message to send (written by [`poll_flush`](Self::poll_flush), or
    /// by later calls to [`poll_ready`](Self::poll_ready)).
    fn start_send(&mut self, text: String) -> Result<(), TransportError>;
    /// Writes the messages taken so far.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// Starts the closing handshake and flushes it.
    async fn close(&mut self) -> Result<(), TransportError>;
    /// Switches the socket's busy-poll mode.
    fn set_busy_poll(&mut self, on: bool);
}

/// The tokio-websockets backend.
pub(crate) struct TokioWs {
    ws: tokio_websockets::WebSocketStream<Rewind<Io>>,
    /// The message whose payload `recv` lent out last.
    current: Option<tokio_websockets::Message>,
}

impl TokioWs {
    fn new(io: Rewind<Io>, max_message: usize) -> Self {
        let ws = tokio_websockets::ClientBuilder::new()
            .limits(tokio_websockets::Limits::default().max_payload_len(Some(max_message)))
            .take_over(io);
        Self { ws, current: None }
    }
}

fn ws_error(e: tokio_websockets::Error) -> TransportError {
    match e {
        tokio_websockets::Error::Io(e) => TransportError::Io(e),
        e => TransportError::protocol(format!("WebSocket: {e}")),
    }
}

impl WsBackend for TokioWs {
    async fn recv(&mut self) -> Result<Option<(&[u8], Instant)>, TransportError> {
        self.current = None;
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(ws_error(e)),
                Some(Ok(m)) if m.is_text() || m.is_binary() => {
                    self.current = Some(m);
                    break;
                }
                Some(Ok(m)) if m.is_close() => {
                    tracing::debug!(close = ?m.as_close().map(|(c, _)| c), "WebSocket closed by the server");
                    return Ok(None);
                }
                // Ping and pong: the crate answers pings itself.
                Some(Ok(_)) => {}
            }
        }
        let at = self.ws.get_ref().get_ref().last_read();
        Ok(self.current.as_ref().map(|m| (&**m.as_payload(), at)))
    }

    async fn send_text(&mut self, text: &str) -> Result<(), TransportError> {
        self.ws
            .send(tokio_websockets::Message::text(text.to_owned()))
            .await
            .map_err(ws_error)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Pin::new(&mut self.ws).poll_ready(cx).map_err(ws_error)
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        Pin::new(&mut self.ws)
            .start_send(tokio_websockets::Message::text(text))
            .map_err(ws_error)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(ws_error)
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        self.ws.close().await.map_err(ws_error)
    }

    fn set_busy_poll(&mut self, on: bool) {
        self.ws.get_mut().get_mut().set_busy_poll(on);
    }
}

/// A WebSocket connection to `<server>/lightstreamer`, speaking TLCP (subprotocol
/// `TLCP-<version>.lightstreamer.com`).
///
/// Received text messages come out of [`FrameSource::next_chunk`], one chunk per message;
/// requests go out with [`send_text`](Self::send_text), one request (or batch) per
/// message.
pub struct WsConnection {
    backend: TokioWs,
    version: ProtocolVersion,
    server: ServerAddress,
}

impl WsConnection {
    /// Upgrades `io` (connected, TLS done) to a TLCP WebSocket.
    pub(crate) async fn handshake(
        mut io: Io,
        server: &ServerAddress,
        version: ProtocolVersion,
        headers: &[(HeaderName, HeaderValue)],
        max_message: usize,
        excerpt_time: Duration,
    ) -> Result<(Self, ResponseHead), TransportError> {
        let key = BASE64.encode(nonce());
        let mut all = vec![
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("Upgrade")),
            (
                header::SEC_WEBSOCKET_KEY,
                HeaderValue::from_str(&key).expect("base64 is a valid header value"),
            ),
            (
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            ),
            (
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(version.ws_subprotocol()),
            ),
        ];
        all.extend(headers.iter().cloned());
        let head = http1::request_head("GET", &server.ws_path(), &server.host_header(), &all);
        io.write_all(&head).await?;
        io.flush().await?;

        let mut buf = Vec::new();
        let resp = http1::read_head(&mut io, &mut buf).await?;
        if resp.status != 101 {
            let body_excerpt = http1::read_excerpt(&mut io, &resp, buf, excerpt_time).await;
            return Err(TransportError::WsHandshake {
                status: resp.status,
                body_excerpt,
            });
        }
        if !resp.has_token("upgrade", "websocket") {
            return Err(TransportError::protocol(
                "101 answer to the WebSocket upgrade without `Upgrade: websocket`",
            ));
        }
        if resp.header("sec-websocket-accept") != Some(accept_key(&key).as_bytes()) {
            return Err(TransportError::protocol(
                "wrong Sec-WebSocket-Accept in the WebSocket handshake",
            ));
        }
        if resp.header("sec-websocket-protocol") != Some(version.ws_subprotocol().as_bytes()) {
            return Err(TransportError::protocol(format!(
                "the server did not accept the WebSocket subprotocol {}",
                version.ws_subprotocol()
            )));
        }
        tracing::debug!(%server, %version, "WebSocket open");
        let conn = Self {
            backend: TokioWs::new(Rewind::new(buf, io), max_message),
            version,
            server: server.clone(),
        };
        Ok((conn, resp))
    }

    /// Sends one text message (a TLCP request, or several joined by CRLF).
    pub async fn send_text(&mut self, text: &str) -> Result<(), TransportError> {
        self.backend.send_text(text).await
    }

    /// Closes the connection (WebSocket closing handshake).
    pub async fn close(&mut self) -> Result<(), TransportError> {
        self.backend.close().await
    }

    /// Writes `queue` as far as the socket takes it, without waiting: each message taken
    /// is popped (and its length taken off `queued_bytes`), then everything is flushed.
    /// `Ready(Ok)` once all is written; `Pending` (with a wake-up when the socket takes
    /// more) otherwise. Reading the connection meanwhile is fine: this is how the driver
    /// keeps reading while its requests wait for the socket.
    pub(crate) fn poll_write_queue(
        &mut self,
        cx: &mut Context<'_>,
        queue: &mut VecDeque<String>,
        queued_bytes: &mut usize,
    ) -> Poll<Result<(), TransportError>> {
        while !queue.is_empty() {
            ready!(self.backend.poll_ready(cx))?;
            if let Some(text) = queue.pop_front() {
                *queued_bytes = queued_bytes.saturating_sub(text.len());
                self.backend.start_send(text)?;
            }
        }
        self.backend.poll_flush(cx)
    }

    /// The protocol version negotiated in the subprotocol.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.version
    }

    /// The server this connection goes to.
    pub fn server(&self) -> &ServerAddress {
        &self.server
    }

    pub(crate) fn set_busy_poll(&mut self, on: bool) {
        self.backend.set_busy_poll(on);
    }
}

impl FrameSource for WsConnection {
    async fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, TransportError> {
        let received = self.backend.recv().await?;
        Ok(received.map(|(data, received_at)| Chunk { data, received_at }))
    }
}

impl fmt::Debug for WsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConnection")
            .field("server", &self.server)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The `Sec-WebSocket-Accept` value expected for `key`.
fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// 16 random bytes for `Sec-WebSocket-Key`. The key only has to be unpredictable enough
/// that caches do not answer for the server; std's randomly keyed hasher is enough.
fn nonce() -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455() {
        // The example of RFC 6455, section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_ne!(nonce(), nonce());
    }
}
