//! The network layer: WebSocket and HTTP connections to a Lightstreamer server.
//!
//! # What is here
//!
//! - [`Transport`]: the entry point, built once from a [`TransportConfig`] and shared
//!   (cheap to clone). It opens the *stream connection* of a session, either a
//!   [`WsConnection`] ([`Transport::connect_ws`]) or an [`HttpStream`]
//!   ([`Transport::open_stream`]), and sends HTTP *control requests*
//!   ([`Transport::control`]) over a small pool of keep-alive connections per server.
//! - [`FrameSource`]: what a stream connection yields: [`Chunk`]s of received bytes (a
//!   WebSocket text message, or a piece of an HTTP body as it arrived), each with the
//!   [`Instant`] of the socket read that brought it.
//! - [`TransportConfig`]: TLS ([`TlsConfig`]: webpki roots by default, native roots with
//!   the `native-roots` feature, custom CAs, and an explicitly dangerous switch to turn
//!   verification off), proxies ([`Proxy`]: HTTP `CONNECT` and SOCKS5, with credentials),
//!   extra headers ([`ExtraHeader`], optionally only on session creation), cookies
//!   ([`CookieJar`], per server host), the local address or interface to bind, `TCP_NODELAY`, timeouts
//!   and the [`ReadMode`] (async or busy-poll).
//! - [`TransportError`]: what went wrong, split by cause.
//!
//! # Design notes
//!
//! **One timestamp per socket read.** The innermost layer of every connection (the TCP
//! socket wrapper) takes `Instant::now()` right after each read that returned data, and
//! every chunk decoded from that read (every WebSocket message, every piece of an HTTP
//! chunked body, through TLS or not) carries that same instant. The session layer stamps
//! each update with it, so applications can measure latency without a clock call per
//! update, and can tell which updates arrived together.
//!
//! **The stream connection is read in place.** The HTTP stream is a hand-written
//! HTTP/1.1 response reader: it reads into one buffer and hands out slices of it, so the
//! body is never copied nor buffered whole, and the read that produced a chunk is known
//! exactly (hyper reads on its own connection task, which would blur the timestamp).
//! Control requests, where none of this matters, use hyper's HTTP/1 client.
//!
//! **The WebSocket crate is replaceable.** The upgrade handshake is ours (so a refusal
//! comes back with its status and body excerpt, and every `Set-Cookie` reaches the jar);
//! framing is delegated to `tokio-websockets` behind a small crate-private trait, so an
//! in-place frame decoder can take its place without changing [`WsConnection`].
//!
//! **Credentials stay out of logs.** Proxy passwords, cookie values, header values,
//! request bodies and queries (which carry session ids) and received data never appear in
//! `Debug` output nor in `tracing` events.

mod address;
mod config;
mod connector;
mod control;
mod cookies;
mod error;
mod http1;
mod http_stream;
mod net;
mod proxy;
mod tls;
mod ws;

use std::fmt;
use std::future::Future;
use std::time::Instant;

pub use address::ServerAddress;
pub use config::{ExtraHeader, Proxy, ProxyKind, ReadMode, TlsConfig, TransportConfig};
pub use connector::{HttpRequest, Transport};
pub use cookies::{CookieJar, MAX_COOKIE_HOSTS, MAX_COOKIE_SIZE, MAX_COOKIES_PER_HOST};
pub use error::TransportError;
pub use http_stream::HttpStream;
pub use ws::WsConnection;

/// A piece of received data: a WebSocket message payload, or part of an HTTP response body.
///
/// TLCP lines may be split across chunks (HTTP) and a chunk may hold several lines: feed
/// the data to a line decoder such as [`tlcp_proto::LineDecoder`].
#[derive(Clone, Copy)]
pub struct Chunk<'a> {
    /// The received bytes, valid until the next call on the source.
    pub data: &'a [u8],
    /// When the socket read that completed this chunk returned. Every chunk decoded from
    /// the same read carries the same instant.
    pub received_at: Instant,
}

impl fmt::Debug for Chunk<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The data carries session ids and user data: only its size is shown.
        f.debug_struct("Chunk")
            .field("len", &self.data.len())
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// A stream connection: the source of the chunks a session reads.
///
/// Implemented by [`WsConnection`], [`HttpStream`] and [`StreamConnection`] (either).
pub trait FrameSource {
    /// Waits for the next chunk of received data.
    ///
    /// Returns `Ok(None)` when the server ended the stream cleanly (a WebSocket close, the
    /// end of an HTTP body). An error means the connection is unusable.
    ///
    /// Cancel safety: dropping the future before it completes loses no data, so the call
    /// can sit in a `tokio::select!` next to a channel of outgoing requests.
    fn next_chunk(
        &mut self,
    ) -> impl Future<Output = Result<Option<Chunk<'_>>, TransportError>> + Send;
}

/// Either kind of stream connection, for code that holds whichever was opened.
// One per session, rarely moved: the size difference does not matter, an extra
// indirection on every read would.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum StreamConnection {
    /// A WebSocket connection (requests are sent on it too).
    Ws(WsConnection),
    /// An HTTP streaming response (requests go through [`Transport::control`]).
    Http(HttpStream),
}

impl FrameSource for StreamConnection {
    async fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, TransportError> {
        match self {
            StreamConnection::Ws(ws) => ws.next_chunk().await,
            StreamConnection::Http(h) => h.next_chunk().await,
        }
    }
}

impl From<WsConnection> for StreamConnection {
    fn from(c: WsConnection) -> Self {
        StreamConnection::Ws(c)
    }
}

impl From<HttpStream> for StreamConnection {
    fn from(c: HttpStream) -> Self {
        StreamConnection::Http(c)
    }
}
