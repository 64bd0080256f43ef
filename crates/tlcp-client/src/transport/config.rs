//! Transport configuration: timeouts, TLS, proxy, headers, cookies, socket options.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::TransportError;

/// How the stream connection waits for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadMode {
    /// Wait for the reactor to report the socket readable (epoll/kqueue), like any tokio
    /// socket. The default.
    #[default]
    Async,
    /// Spin: after the connection is set up, every read of the stream connection tries a
    /// non-blocking `recv` on the socket and, when nothing is there, wakes its own task and
    /// yields to the runtime, which polls it again at once.
    ///
    /// This saves the reactor's wake-up path (readiness event, task wake-up, scheduling) on
    /// every read: the data is seen about one `recv` after it arrives. The price is a full
    /// core: the task never sleeps, so the worker thread running it stays at 100% CPU for
    /// as long as the stream is open, idle or not, and makes one system call per spin.
    /// Timers and other tasks on that worker still run (the task yields between spins),
    /// but later, as the runtime only polls its reactor every few dozen task polls.
    /// Use it on a machine with a core to spare, ideally on a runtime (or worker) of its
    /// own. Control requests are never busy-polled.
    ///
    /// Measured with `examples/busy_poll_rtt.rs` (WebSocket `heartbeat` to `REQOK` against
    /// the in-process server on loopback, 2-core machine under load): median round trip
    /// about 80 µs in `Async` mode, about 24 µs in `BusyPoll` mode (p99: 130-180 µs
    /// against 40 µs).
    BusyPoll,
}

/// How the client connects to the servers: timeouts, TLS, proxy, extra headers, cookies,
/// socket options.
///
/// Start from [`TransportConfig::default`] and set fields (or use the `with_*` methods).
#[derive(Clone)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Limit for opening a connection: DNS, TCP, proxy, TLS, and the upgrade or the
    /// response head of the request that opens it. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for a control request, from sending it to the end of its response
    /// (connection set-up excluded, see `connect_timeout`). Default 10 s.
    pub request_timeout: Duration,
    /// Sets `TCP_NODELAY` on every socket (no Nagle delay on small requests). Default on.
    pub tcp_nodelay: bool,
    /// Local address to bind the sockets to before connecting (port chosen by the OS).
    /// Only the server (or proxy) addresses of the same IP family are then tried.
    pub local_address: Option<IpAddr>,
    /// Network interface to bind the sockets to (`SO_BINDTODEVICE`, e.g. `"eth1"`): the
    /// connections then leave through it whatever the routing table says. Linux only
    /// (and Android): elsewhere [`Transport::new`](super::Transport::new) refuses it.
    /// The process may need `CAP_NET_RAW` (Linux before 5.7: always).
    pub bind_interface: Option<String>,
    /// Proxy to tunnel every connection through.
    pub proxy: Option<Proxy>,
    /// TLS settings for `https`/`wss` servers.
    pub tls: TlsConfig,
    /// Extra headers sent on every request (or only on those creating a session).
    pub headers: Vec<ExtraHeader>,
    /// Keep cookies set by the servers and send them back (per host). Default on: sticky
    /// load balancers rely on it.
    pub cookies: bool,
    /// How the stream connection waits for data. Default [`ReadMode::Async`].
    pub read_mode: ReadMode,
    /// Size of the read buffer of an HTTP stream connection. Default 64 KiB.
    pub read_buffer_size: usize,
    /// Largest WebSocket message accepted. Default 16 MiB.
    pub max_ws_message_size: usize,
    /// Most bytes of requests waiting to be written on one WebSocket (the socket does not
    /// take them: the server does not read). Beyond, the connection is failed and the
    /// session recovered, rather than the queue growing. A single request larger than
    /// this is still sent. Default 4 MiB.
    pub max_ws_write_queue: usize,
    /// Largest control response body accepted. Default 1 MiB.
    pub max_control_response_size: usize,
    /// Idle keep-alive connections kept per server for control requests. Default 2.
    pub max_idle_control_connections: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
            local_address: None,
            bind_interface: None,
            proxy: None,
            tls: TlsConfig::default(),
            headers: Vec::new(),
            cookies: true,
            read_mode: ReadMode::Async,
            read_buffer_size: 64 * 1024,
            max_ws_message_size: 16 * 1024 * 1024,
            max_ws_write_queue: 4 * 1024 * 1024,
            max_control_response_size: 1024 * 1024,
            max_idle_control_connections: 2,
        }
    }
}

impl TransportConfig {
    /// Sets the proxy.
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Sets the TLS settings.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Adds an extra header.
    pub fn with_header(mut self, header: ExtraHeader) -> Self {
        self.headers.push(header);
        self
    }

    /// Sets the read mode of stream connections.
    pub fn with_read_mode(mut self, mode: ReadMode) -> Self {
        self.read_mode = mode;
        self
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tcp_nodelay", &self.tcp_nodelay)
            .field("local_address", &self.local_address)
            .field("bind_interface", &self.bind_interface)
            .field("proxy", &self.proxy)
            .field("tls", &self.tls)
            .field("headers", &self.headers)
            .field("cookies", &self.cookies)
            .field("read_mode", &self.read_mode)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("max_ws_message_size", &self.max_ws_message_size)
            .field("max_ws_write_queue", &self.max_ws_write_queue)
            .field("max_control_response_size", &self.max_control_response_size)
            .field(
                "max_idle_control_connections",
                &self.max_idle_control_connections,
            )
            .finish()
    }
}

/// TLS settings: which certificate authorities to trust, and SNI.
///
/// By default the server certificate is verified against the Mozilla roots bundled with
/// the crate (webpki-roots). Custom CAs (a private PKI, a self-signed server) are added
/// with [`with_ca_pem`](Self::with_ca_pem) / [`with_ca_pem_file`](Self::with_ca_pem_file):
/// prefer that to turning verification off.
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Trust the bundled Mozilla roots (webpki-roots). Default on.
    pub webpki_roots: bool,
    /// Trust the operating system's certificate store. Needs the `native-roots` feature
    /// (without it, building the [`Transport`](super::Transport) fails). Default off.
    pub native_roots: bool,
    /// Send the server name in the handshake (SNI). Default on; IP addresses are never
    /// sent.
    pub sni: bool,
    /// **Dangerous**: accept any server certificate (expired, self-signed, for another
    /// name). The connection is then encrypted but not authenticated: anyone on the path
    /// can impersonate the server and read the credentials. For tests and debugging only;
    /// a warning is logged when it is used. Default off.
    pub danger_accept_invalid_certs: bool,
    custom_cas: Vec<CertificateDer<'static>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            webpki_roots: true,
            native_roots: false,
            sni: true,
            danger_accept_invalid_certs: false,
            custom_cas: Vec::new(),
        }
    }
}

impl TlsConfig {
    /// Trusts, in addition to the roots, every certificate in `pem` (one or more
    /// `BEGIN CERTIFICATE` blocks).
    pub fn with_ca_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, TransportError> {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_ref()) {
            let cert =
                cert.map_err(|e| TransportError::InvalidConfig(format!("CA certificate: {e}")))?;
            self.custom_cas.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(TransportError::InvalidConfig(
                "CA certificate: no PEM certificate found".to_owned(),
            ));
        }
        Ok(self)
    }

    /// Same as [`with_ca_pem`](Self::with_ca_pem), reading the PEM from a file.
    pub fn with_ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TransportError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            TransportError::InvalidConfig(format!("cannot read {}: {e}", path.display()))
        })?;
        self.with_ca_pem(pem)
    }

    /// The custom CA certificates (DER).
    pub(crate) fn custom_cas(&self) -> &[CertificateDer<'static>] {
        &self.custom_cas
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("webpki_roots", &self.webpki_roots)
            .field("native_roots", &self.native_roots)
            .field("sni", &self.sni)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("custom_cas", &self.custom_cas.len())
            .finish()
    }
}

/// The kind of a [`Proxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy, tunnelling with `CONNECT host:port` (credentials sent as
    /// `Proxy-Authorization: Basic`).
    HttpConnect,
    /// A SOCKS5 proxy (RFC 1928; credentials with RFC 1929 username/password). Host names
    /// are resolved by the proxy.
    Socks5,
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyKind::HttpConnect => "HTTP CONNECT",
            ProxyKind::Socks5 => "SOCKS5",
        })
    }
}

/// A proxy every connection is tunnelled through.
///
/// `Debug` shows the user name but never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// An HTTP proxy at `host:port`, used with `CONNECT`.
    pub fn http_connect(host: impl Into<String>, port: u16) -> Self {
        Self::new(ProxyKind::HttpConnect, host.into(), port)
    }

    /// A SOCKS5 proxy at `host:port`.
    pub fn socks5(host: impl Into<String>, port: u16) -> Self {
        Self::new(ProxyKind::Socks5, host.into(), port)
    }

    fn new(kind: ProxyKind, host: String, port: u16) -> Self {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Self {
            kind,
            host,
            port,
            credentials: None,
        }
    }

    /// Authenticates with a user name and password.
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name and password, if any.
    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// An extra header sent with the requests (and the WebSocket upgrade).
///
/// `Debug` shows the name, never the value (headers often carry tokens).
#[derive(Clone)]
pub struct ExtraHeader {
    name: HeaderName,
    value: HeaderValue,
    only_on_session_creation: bool,
}

impl ExtraHeader {
    /// A header for every request. Fails if the name or the value is not valid in HTTP.
    pub fn new(name: &str, value: &str) -> Result<Self, TransportError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TransportError::InvalidConfig(format!("invalid header name {name:?}")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            TransportError::InvalidConfig(format!("invalid value for header {name}"))
        })?;
        value.set_sensitive(true);
        Ok(Self {
            name,
            value,
            only_on_session_creation: false,
        })
    }

    /// Sends the header only on the requests that create a session (`create_session`, or
    /// the WebSocket connection opened for it), like the official clients'
    /// `setHttpExtraHeadersOnSessionCreationOnly`.
    pub fn only_on_session_creation(mut self) -> Self {
        self.only_on_session_creation = true;
        self
    }

    /// The header name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The header value.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }

    /// Whether the header goes on a request that does (or does not) create a session.
    pub(crate) fn applies(&self, creates_session: bool) -> bool {
        creates_session || !self.only_on_session_creation
    }
}

impl fmt::Debug for ExtraHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtraHeader")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("only_on_session_creation", &self.only_on_session_creation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let cfg = TransportConfig::default()
            .with_proxy(Proxy::socks5("proxy", 1080).with_credentials("alice", "s3cr3t-pw"))
            .with_header(ExtraHeader::new("Authorization", "Bearer tok-123").unwrap());
        let text = format!("{cfg:?}");
        assert!(
            text.contains("alice") && text.contains("authorization"),
            "{text}"
        );
        assert!(
            !text.contains("s3cr3t-pw") && !text.contains("tok-123"),
            "{text}"
        );
    }

    #[test]
    fn invalid_headers_and_pem_are_config_errors() {
        assert!(matches!(
            ExtraHeader::new("bad name", "x"),
            Err(TransportError::InvalidConfig(_))
        ));
        assert!(matches!(
            ExtraHeader::new("X-Ok", "line\r\nbreak"),
            Err(TransportError::InvalidConfig(_))
        ));
        assert!(matches!(
            TlsConfig::default().with_ca_pem("not a pem"),
            Err(TransportError::InvalidConfig(_))
        ));
    }
}
