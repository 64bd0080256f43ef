//! Transport errors, split by cause.

use std::io;
use std::time::Duration;

use super::ProxyKind;

/// Why a connection could not be opened or broke.
///
/// The variants say whose fault it is: the application's ([`InvalidAddress`],
/// [`InvalidConfig`]), the network's ([`Dns`], [`Connect`], [`Io`], [`Timeout`]), the
/// TLS peer's or the trust configuration's ([`Tls`]), the proxy's ([`ProxyRefused`],
/// [`ProxyProtocol`]) or the server's ([`HttpStatus`], [`WsHandshake`], [`Protocol`]).
///
/// [`InvalidAddress`]: TransportError::InvalidAddress
/// [`InvalidConfig`]: TransportError::InvalidConfig
/// [`Dns`]: TransportError::Dns
/// [`Connect`]: TransportError::Connect
/// [`Io`]: TransportError::Io
/// [`Timeout`]: TransportError::Timeout
/// [`Tls`]: TransportError::Tls
/// [`ProxyRefused`]: TransportError::ProxyRefused
/// [`ProxyProtocol`]: TransportError::ProxyProtocol
/// [`HttpStatus`]: TransportError::HttpStatus
/// [`WsHandshake`]: TransportError::WsHandshake
/// [`Protocol`]: TransportError::Protocol
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server address is not a usable `http(s)://` or `ws(s)://` URL.
    #[error("invalid server address: {0}")]
    InvalidAddress(String),
    /// The configuration cannot be used: a CA that is not PEM, an invalid header, a
    /// feature that is not compiled in.
    #[error("invalid transport configuration: {0}")]
    InvalidConfig(String),
    /// The host name (of the server, or of the proxy) could not be resolved.
    #[error("cannot resolve {host}: {source}")]
    Dns {
        /// The name that was looked up.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// No TCP connection could be made (to the server, or to the proxy); the error is the
    /// one of the last address tried.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried last (`ip:port`).
        addr: String,
        /// Why the connection failed.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed: most often a certificate that does not verify against
    /// the configured roots (see [`TlsConfig`](super::TlsConfig)).
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// The server name the certificate was checked against.
        host: String,
        /// The TLS error (a `rustls::Error` inside, when it comes from rustls).
        #[source]
        source: io::Error,
    },
    /// The proxy refused to open the tunnel: `code` is the HTTP status of the `CONNECT`
    /// answer (407 for wrong credentials), or the SOCKS5 reply code (or, for a refused
    /// authentication, the RFC 1929 status, with the reason saying so).
    #[error("{kind} proxy refused the connection (code {code}): {reason}")]
    ProxyRefused {
        /// Which kind of proxy.
        kind: ProxyKind,
        /// HTTP status or SOCKS5 reply code.
        code: u16,
        /// What the code means, or the proxy's reason phrase.
        reason: String,
    },
    /// The proxy answered something that is not its protocol.
    #[error("{kind} proxy protocol error: {reason}")]
    ProxyProtocol {
        /// Which kind of proxy.
        kind: ProxyKind,
        /// What was wrong.
        reason: String,
    },
    /// The server answered an HTTP request with a status other than 200.
    #[error("the server answered HTTP {status}: {body_excerpt:?}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// The beginning of the response body (lossy UTF-8, at most a few hundred bytes).
        body_excerpt: String,
    },
    /// The server did not switch to WebSocket (status other than 101).
    #[error("WebSocket handshake refused with HTTP {status}: {body_excerpt:?}")]
    WsHandshake {
        /// The HTTP status code of the answer to the upgrade request.
        status: u16,
        /// The beginning of the response body (lossy UTF-8, at most a few hundred bytes).
        body_excerpt: String,
    },
    /// The server broke HTTP or WebSocket framing, or accepted a WebSocket upgrade without
    /// the TLCP subprotocol.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// The connection failed while open (reset, closed in the middle of a message, ...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// An operation took longer than its configured limit.
    #[error("timed out after {after:?} while {during}")]
    Timeout {
        /// What was being done (`"connecting"`, `"waiting for the control response"`, ...).
        during: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
}

impl TransportError {
    /// Whether retrying the same operation later may succeed (network trouble, server or
    /// proxy errors), as opposed to errors that need a change of address or configuration.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            TransportError::InvalidAddress(_) | TransportError::InvalidConfig(_)
        )
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        TransportError::Protocol(reason.into())
    }
}

/// The first `max` bytes of a body as text, for error messages.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    String::from_utf8_lossy(cut).trim().to_owned()
}
