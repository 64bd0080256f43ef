//! [`Transport`]: opens stream connections and sends control requests, with the
//! configured TLS, proxy, headers and cookies.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, header};
use http_body_util::Full;
use tlcp_proto::ProtocolVersion;
use tokio::io::AsyncWriteExt;

use super::control::{self, Pool};
use super::cookies::CookieJar;
use super::http1::{self, EXCERPT_LEN};
use super::net::{self, Io, StampedTcp};
use super::{
    HttpStream, ReadMode, ServerAddress, TransportConfig, TransportError, WsConnection, error,
    proxy, tls,
};

/// How long an error response's body is waited for, for its excerpt.
const EXCERPT_TIME: Duration = Duration::from_millis(500);

/// An HTTP request of TLCP: `<name>.txt` with a query after `LS_protocol` and a body.
///
/// `Debug` shows the name and sizes only: queries and bodies carry session ids and
/// credentials.
#[derive(Clone, Copy)]
pub struct HttpRequest<'a> {
    name: &'a str,
    query: &'a str,
    body: &'a str,
    creates_session: bool,
}

impl<'a> HttpRequest<'a> {
    /// A request to `<server>/lightstreamer/<name>.txt` (`name` is `create_session`,
    /// `bind_session`, `control`, `msg`, `heartbeat`, ...) with `body` (the request
    /// parameters, `LS_...=...&...`, or several requests' lines).
    pub fn new(name: &'a str, body: &'a str) -> Self {
        Self {
            name,
            query: "",
            body,
            creates_session: false,
        }
    }

    /// Adds query parameters after `LS_protocol` (e.g. `LS_session=<id>`).
    pub fn with_query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    /// Marks the request as one creating a session: the extra headers meant only for
    /// session creation are sent with it.
    pub fn creating_session(mut self) -> Self {
        self.creates_session = true;
        self
    }

    /// The request name.
    pub fn name(&self) -> &str {
        self.name
    }
}

impl fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("name", &self.name)
            .field("query_len", &self.query.len())
            .field("body_len", &self.body.len())
            .field("creates_session", &self.creates_session)
            .finish()
    }
}

/// Opens connections to Lightstreamer servers: the entry point of the transport layer.
///
/// Built once from a [`TransportConfig`]; clones share the TLS configuration, the
/// [`CookieJar`] and the pool of control connections.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    config: TransportConfig,
    tls: Arc<rustls::ClientConfig>,
    cookies: CookieJar,
    pool: Pool,
}

impl Transport {
    /// Checks the configuration and prepares TLS (loads the trusted roots).
    pub fn new(config: TransportConfig) -> Result<Self, TransportError> {
        if let Some(name) = &config.bind_interface {
            super::net::check_interface(name)?;
        }
        let tls = tls::client_config(&config.tls)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                tls,
                cookies: CookieJar::default(),
                pool: Pool::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// The cookies received so far (and any set by hand).
    pub fn cookies(&self) -> &CookieJar {
        &self.inner.cookies
    }

    /// Opens a WebSocket stream connection to `server` with the subprotocol of `version`.
    ///
    /// `creates_session` says whether the connection is opened to send `create_session`
    /// (the extra headers meant only for session creation are then sent on the upgrade).
    /// The whole set-up (DNS, TCP, proxy, TLS, upgrade) is bounded by `connect_timeout`.
    pub async fn connect_ws(
        &self,
        server: &ServerAddress,
        version: ProtocolVersion,
        creates_session: bool,
    ) -> Result<WsConnection, TransportError> {
        let cfg = &self.inner.config;
        let mut ws = self
            .bounded(
                cfg.connect_timeout,
                "opening the WebSocket connection",
                async {
                    let io = self.connect_io(server).await?;
                    let headers = self.request_headers(server, creates_session);
                    let (ws, head) = WsConnection::handshake(
                        io,
                        server,
                        version,
                        &headers,
                        cfg.max_ws_message_size,
                        EXCERPT_TIME,
                    )
                    .await?;
                    self.store_cookies(server, head.headers("set-cookie"));
                    Ok(ws)
                },
            )
            .await?;
        if cfg.read_mode == ReadMode::BusyPoll {
            ws.set_busy_poll(true);
        }
        Ok(ws)
    }

    /// Sends an HTTP request whose response is a stream (`create_session`,
    /// `bind_session`) and returns once the response head is in: the body is then read
    /// with [`FrameSource::next_chunk`](super::FrameSource::next_chunk).
    ///
    /// Connection set-up and the response head are bounded by `connect_timeout`. A status
    /// other than 200 is an [`TransportError::HttpStatus`].
    pub async fn open_stream(
        &self,
        server: &ServerAddress,
        version: ProtocolVersion,
        request: &HttpRequest<'_>,
    ) -> Result<HttpStream, TransportError> {
        let cfg = &self.inner.config;
        tracing::debug!(%server, request = request.name, "opening an HTTP stream");
        let mut stream = self
            .bounded(cfg.connect_timeout, "opening the HTTP stream", async {
                let mut io = self.connect_io(server).await?;
                let target =
                    server.request_target(request.name, version.protocol_param(), request.query)?;
                let mut headers = vec![
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    ),
                    (
                        header::CONTENT_LENGTH,
                        HeaderValue::from(request.body.len()),
                    ),
                ];
                headers.extend(self.request_headers(server, request.creates_session));
                let mut wire =
                    http1::request_head("POST", &target, &server.host_header(), &headers);
                wire.extend_from_slice(request.body.as_bytes());
                io.write_all(&wire).await?;
                io.flush().await?;
                let mut rest = Vec::new();
                let head = http1::read_head(&mut io, &mut rest).await?;
                self.store_cookies(server, head.headers("set-cookie"));
                if head.status != 200 {
                    let body_excerpt =
                        http1::read_excerpt(&mut io, &head, rest, EXCERPT_TIME).await;
                    return Err(TransportError::HttpStatus {
                        status: head.status,
                        body_excerpt,
                    });
                }
                HttpStream::new(io, &head, rest, cfg.read_buffer_size, server, request.name)
            })
            .await?;
        if cfg.read_mode == ReadMode::BusyPoll {
            stream.set_busy_poll(true);
        }
        Ok(stream)
    }

    /// Sends a control request (`control`, `msg`, `heartbeat`, ...) and returns its whole
    /// response body (at most `max_control_response_size` bytes).
    ///
    /// The request goes over an idle keep-alive connection to the same server when there
    /// is one (a new one otherwise), and the connection goes back to the pool afterwards.
    /// A request that could not be written on a pooled connection (closed meanwhile by the
    /// server) is retried once on a new connection. A status other than 200 is an
    /// [`TransportError::HttpStatus`].
    pub async fn control(
        &self,
        server: &ServerAddress,
        version: ProtocolVersion,
        request: &HttpRequest<'_>,
    ) -> Result<Bytes, TransportError> {
        let cfg = &self.inner.config;
        tracing::debug!(%server, request = request.name, "control request");
        let (sender, response) = loop {
            let req = self.control_request(server, version, request)?;
            let (mut sender, reused) = match self.inner.pool.take(server) {
                Some(s) => (s, true),
                None => {
                    let sender = self
                        .bounded(cfg.connect_timeout, "opening a control connection", async {
                            control::handshake(self.connect_io(server).await?, server).await
                        })
                        .await?;
                    (sender, false)
                }
            };
            let sent = self
                .bounded(
                    cfg.request_timeout,
                    "waiting for the control response",
                    async {
                        if let Err(e) = sender.ready().await {
                            return Ok(Err((e, true)));
                        }
                        Ok(sender.try_send_request(req).await.map_err(|mut e| {
                            let unsent = e.take_message().is_some();
                            (e.into_error(), unsent)
                        }))
                    },
                )
                .await?;
            match sent {
                Ok(resp) => break (sender, resp),
                // A pooled connection the server closed meanwhile: the request was not
                // written, so it is safe to send it again on a new connection.
                Err((_, true)) if reused => {
                    tracing::debug!(%server, "pooled connection closed, retrying on a new one");
                }
                Err((e, _)) => return Err(control::hyper_error(e)),
            }
        };
        self.store_cookies(
            server,
            response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(HeaderValue::as_bytes),
        );
        let status = response.status().as_u16();
        let body = response.into_body();
        if status != 200 {
            // An error body is only wanted for its excerpt: read its beginning, if it comes.
            let excerpt =
                tokio::time::timeout(EXCERPT_TIME, control::read_body(body, EXCERPT_LEN, true))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map_or_else(String::new, |b| error::excerpt(&b, EXCERPT_LEN));
            return Err(TransportError::HttpStatus {
                status,
                body_excerpt: excerpt,
            });
        }
        let body = self
            .bounded(
                cfg.request_timeout,
                "reading the control response",
                control::read_body(body, cfg.max_control_response_size, false),
            )
            .await?;
        self.inner
            .pool
            .put(server, sender, cfg.max_idle_control_connections);
        Ok(body)
    }

    /// Builds the `http::Request` of a control request.
    fn control_request(
        &self,
        server: &ServerAddress,
        version: ProtocolVersion,
        request: &HttpRequest<'_>,
    ) -> Result<http::Request<Full<Bytes>>, TransportError> {
        let target =
            server.request_target(request.name, version.protocol_param(), request.query)?;
        let mut builder = http::Request::post(target)
            .header(header::HOST, server.host_header())
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
        for (name, value) in self.request_headers(server, request.creates_session) {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::copy_from_slice(request.body.as_bytes())))
            .map_err(|e| TransportError::InvalidAddress(format!("request target: {e}")))
    }

    /// A connection to `server`: TCP (to the proxy, tunnelled, if there is one), then TLS
    /// for `https`.
    pub(crate) async fn connect_io(&self, server: &ServerAddress) -> Result<Io, TransportError> {
        let cfg = &self.inner.config;
        let tcp = match &cfg.proxy {
            Some(p) => {
                let mut tcp = net::connect_tcp(p.host(), p.port(), cfg).await?;
                proxy::tunnel(&mut tcp, p, server.host(), server.port()).await?;
                tcp
            }
            None => net::connect_tcp(server.host(), server.port(), cfg).await?,
        };
        let tcp = StampedTcp::new(tcp);
        if server.is_secure() {
            let tls = tls::handshake(&self.inner.tls, server.host(), tcp).await?;
            Ok(Io::Tls(Box::new(tls)))
        } else {
            Ok(Io::Plain(tcp))
        }
    }

    /// The `Cookie` header and the extra headers for a request to `server`.
    fn request_headers(
        &self,
        server: &ServerAddress,
        creates_session: bool,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let cfg = &self.inner.config;
        let mut headers = Vec::new();
        if cfg.cookies
            && let Some(cookie) = self.inner.cookies.header_for(server.host())
        {
            headers.push((header::COOKIE, cookie));
        }
        headers.extend(
            cfg.headers
                .iter()
                .filter(|h| h.applies(creates_session))
                .map(|h| (h.name().clone(), h.value().clone())),
        );
        headers
    }

    fn store_cookies<'a>(
        &self,
        server: &ServerAddress,
        set_cookies: impl Iterator<Item = &'a [u8]>,
    ) {
        if self.inner.config.cookies {
            for c in set_cookies {
                self.inner.cookies.store(server.host(), c);
            }
        }
    }

    /// Runs `fut` within `limit`.
    async fn bounded<T>(
        &self,
        limit: Duration,
        during: &'static str,
        fut: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        tokio::time::timeout(limit, fut)
            .await
            .unwrap_or(Err(TransportError::Timeout {
                during,
                after: limit,
            }))
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.inner.config)
            .field("cookies", &self.inner.cookies)
            .finish_non_exhaustive()
    }
}
