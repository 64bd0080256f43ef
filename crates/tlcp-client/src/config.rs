//! [`ClientBuilder`]: the connection details and options of a [`Client`], named after the
//! official clients' `ConnectionDetails` and `ConnectionOptions`, with their defaults.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use tlcp_proto::client::{ForcedTransport, SessionConfig};
use tlcp_proto::{Bandwidth, ProtocolVersion, Secret};

use crate::Client;
use crate::client::Backend;
use crate::error::Error;
use crate::transport::{
    ExtraHeader, Proxy, ReadMode, ServerAddress, TlsConfig, Transport, TransportConfig,
};

/// Builds a [`Client`]: where to connect, as whom, and how.
///
/// Every option has the official clients' default (listed on each method). Create it with
/// [`Client::builder`]; finish with [`build`](Self::build). `Debug` never shows the
/// password.
///
/// ```
/// use std::time::Duration;
/// use tlcp_client::{Client, ForcedTransport, ProtocolVersion};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tlcp_client::Error> {
/// let client = Client::builder("https://push.example.com", "DEMO")
///     .user("account-id")
///     .password("CST-token|XST-token")
///     .protocol_version(ProtocolVersion::V2_4_0)
///     .forced_transport(ForcedTransport::WsStreaming)
///     .reverse_heartbeat_interval(Duration::from_secs(5))
///     .build()?;
/// # drop(client); Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    address: String,
    session: SessionConfig,
    transport: TransportConfig,
    extra_headers: Vec<(String, String)>,
    headers_on_creation_only: bool,
    /// Shared by clones of the builder: the first client built takes it.
    recorder: Option<std::sync::Arc<std::sync::Mutex<Option<crate::recording::Recorder>>>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `SessionConfig` and `TransportConfig` hide their secrets; header values may be
        // tokens, so only their names are shown.
        let names: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("session", &self.session)
            .field("transport", &self.transport)
            .field("extra_headers", &names)
            .field("headers_on_creation_only", &self.headers_on_creation_only)
            .finish()
    }
}

macro_rules! duration_option {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub fn $name(mut self, value: Duration) -> Self {
            self.session.$name = value;
            self
        }
    };
}

impl ClientBuilder {
    pub(crate) fn new(address: &str, adapter_set: &str) -> Self {
        Self {
            address: address.to_owned(),
            session: SessionConfig::new(adapter_set),
            transport: TransportConfig::default(),
            extra_headers: Vec::new(),
            headers_on_creation_only: false,
            recorder: None,
        }
    }

    /// `ConnectionDetails.user`: the user name given to the Metadata Adapter.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.session.user = Some(user.into());
        self
    }

    /// `ConnectionDetails.password`. Never shown in `Debug` output nor in logs.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.session.password = Some(Secret::new(password.into()));
        self
    }

    /// The TLCP version spoken. Default 2.5.0; some servers refuse it (IG Markets answers
    /// error 65 on some hosts): 2.4.0 is then the usual choice.
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.session.protocol_version = version;
        self
    }

    /// `ConnectionOptions.forcedTransport`: `WS`, `HTTP`, `WS-STREAMING`,
    /// `HTTP-STREAMING`, `WS-POLLING` or `HTTP-POLLING`. Default none (WebSocket first,
    /// falling back to HTTP streaming, then polling). Changeable live with
    /// [`Client::set_forced_transport`].
    pub fn forced_transport(mut self, transport: ForcedTransport) -> Self {
        self.session.forced_transport = Some(transport);
        self
    }

    duration_option!(
        /// `retryDelay`: the minimum time between two connection attempts, and how long a
        /// stream connection may take to answer. Default 4 s.
        retry_delay
    );
    duration_option!(
        /// `firstRetryMaxDelay`: the first retry after a lost connection waits a random
        /// time below this. Default 100 ms.
        first_retry_max_delay
    );
    duration_option!(
        /// The longest pause between two connection attempts once the backoff has
        /// doubled the retry delay (after 10 failed attempts). Default 60 s.
        max_retry_delay
    );
    duration_option!(
        /// `sessionRecoveryTimeout`: how long to try recovering a session whose stream
        /// connection was lost (zero disables recovery). Default 15 s.
        session_recovery_timeout
    );
    duration_option!(
        /// `stalledTimeout`: silence allowed beyond the keepalive interval before the
        /// status becomes `STALLED`. Default 2 s.
        stalled_timeout
    );
    duration_option!(
        /// `reconnectTimeout`: silence allowed after `STALLED` before the connection is
        /// dropped and recovered. Default 3 s.
        reconnect_timeout
    );
    duration_option!(
        /// `idleTimeout`: how long a polling request may wait for data. Default 19 s.
        idle_timeout
    );
    duration_option!(
        /// `pollingInterval`: the pause between two polls. Default 0.
        polling_interval
    );

    /// How long a WebSocket may take to open and answer the session creation before
    /// the session is created over HTTP instead (or, with `WS` forced, over WS polling
    /// when the socket opened). Default: the retry delay.
    pub fn ws_open_timeout(mut self, timeout: Duration) -> Self {
        self.session.ws_open_timeout = Some(timeout);
        self
    }

    /// `keepaliveInterval`: the keepalive asked of the server. Default: the server
    /// decides.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.session.keepalive_interval = Some(interval);
        self
    }

    /// `reverseHeartbeatInterval`: send a heartbeat after this much outbound silence.
    /// Default off.
    pub fn reverse_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.session.reverse_heartbeat_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// `contentLength` of HTTP streaming responses. Default 50 000 000 bytes.
    pub fn content_length(mut self, bytes: u64) -> Self {
        self.session.content_length = bytes;
        self
    }

    /// `requestedMaxBandwidth`. Default unlimited. Changeable live with
    /// [`Client::set_requested_max_bandwidth`].
    pub fn requested_max_bandwidth(mut self, bandwidth: Bandwidth) -> Self {
        self.session.requested_max_bandwidth = Some(bandwidth);
        self
    }

    /// `httpExtraHeaders`: headers added to every request (WebSocket upgrades included).
    /// Checked by [`build`](Self::build).
    pub fn http_extra_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// `httpExtraHeadersOnSessionCreationOnly`: send the extra headers only with the
    /// requests that create a session. Default `false`.
    pub fn http_extra_headers_on_session_creation_only(mut self, only: bool) -> Self {
        self.headers_on_creation_only = only;
        self
    }

    /// `proxy`: an HTTP `CONNECT` or SOCKS5 proxy, with credentials if needed.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.transport.proxy = Some(proxy);
        self
    }

    /// TLS settings: trusted roots, custom CAs (verification is never turned off unless
    /// asked for by name).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.transport.tls = tls;
        self
    }

    /// How the stream connection waits for data: [`ReadMode::BusyPoll`] spins a core for
    /// the lowest latency. Default [`ReadMode::Async`].
    pub fn read_mode(mut self, mode: ReadMode) -> Self {
        self.transport.read_mode = mode;
        self
    }

    /// The local address to bind sockets to.
    pub fn local_address(mut self, address: IpAddr) -> Self {
        self.transport.local_address = Some(address);
        self
    }

    /// The network interface to bind sockets to (`SO_BINDTODEVICE`, e.g. `"eth1"`), next
    /// to (or instead of) [`local_address`](Self::local_address). Linux only:
    /// [`build`](Self::build) fails elsewhere, and with a name that cannot be one.
    pub fn bind_interface(mut self, interface: impl Into<String>) -> Self {
        self.transport.bind_interface = Some(interface.into());
        self
    }

    /// The limit for opening a connection (DNS, TCP, proxy, TLS, upgrade). Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Seed of the retry jitter (same seed, same delays). Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.session.seed = seed;
        self
    }

    /// Replaces the whole transport configuration (the options above that belong to it
    /// are overwritten; extra headers given here are kept).
    pub fn transport_config(mut self, config: TransportConfig) -> Self {
        self.transport = config;
        self
    }

    /// Gives access to the whole session configuration, for the options without a
    /// method here.
    pub fn session_config(mut self, f: impl FnOnce(&mut SessionConfig)) -> Self {
        f(&mut self.session);
        self
    }

    /// Checks the configuration and starts the client's background task (on the current
    /// Tokio runtime). The client is `DISCONNECTED` until [`Client::connect`].
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn build(self) -> Result<Client, Error> {
        let server = ServerAddress::parse(&self.address).map_err(Error::Config)?;
        tlcp_proto::client::ClientError::check_bandwidth(self.session.requested_max_bandwidth)?;
        let mut transport = self.transport;
        for (name, value) in &self.extra_headers {
            let mut h = ExtraHeader::new(name, value).map_err(Error::Config)?;
            if self.headers_on_creation_only {
                h = h.only_on_session_creation();
            }
            transport.headers.push(h);
        }
        let transport = Transport::new(transport).map_err(Error::Config)?;
        let backend = Backend::Net {
            server,
            transport,
            recorder: self
                .recorder
                .and_then(|r| r.lock().unwrap_or_else(|e| e.into_inner()).take()),
        };
        Ok(Client::start(backend, self.session))
    }

    /// Records what the server sends to `out` (see [`recording`](crate::recording) for
    /// the format): every chunk received on the stream connections, with its boundaries
    /// and time, every control response, every connection opened and closed, every
    /// timer. Requests are never recorded (they carry the password and the session id);
    /// server lines are, as received, so the recording holds the session id. `meta` is
    /// stored in the file's first record, for the application (e.g. the subscriptions,
    /// to replay them). The header is written now; the records are buffered, flushed on
    /// [`Client::disconnect`] and when the client stops. Clones of the builder share
    /// the recording: only the first client built from them records.
    ///
    /// Fails if the header cannot be written.
    pub fn record_to(
        mut self,
        out: impl std::io::Write + Send + 'static,
        meta: &[u8],
    ) -> std::io::Result<Self> {
        let recorder = crate::recording::Recorder::new(out, meta)?;
        self.recorder = Some(std::sync::Arc::new(std::sync::Mutex::new(Some(recorder))));
        Ok(self)
    }

    /// A client that replays `recording` offline instead of connecting: the session
    /// machine, configured as this builder says (the same adapter set, forced transport
    /// and protocol version as the recorded client), gets the recorded inputs in virtual
    /// time once [`Client::connect`] is called. Subscribe in the same order and with the
    /// same options as the recorded client, before `connect`, and the same events come
    /// out. Every subscription is back-pressured (nothing is conflated nor dropped); the
    /// streams end at the end of the recording.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn replay(self, recording: crate::recording::Recording) -> Client {
        Client::start(Backend::Replay(recording), self.session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_options_reach_the_session_configuration() {
        let b = ClientBuilder::new("http://localhost:8080", "DEMO")
            .max_retry_delay(Duration::from_secs(7))
            .ws_open_timeout(Duration::from_millis(1500))
            .idle_timeout(Duration::from_millis(25_000))
            .content_length(4096);
        assert_eq!(b.session.max_retry_delay, Duration::from_secs(7));
        assert_eq!(b.session.ws_open_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(b.session.idle_timeout, Duration::from_millis(25_000));
        assert_eq!(b.session.content_length, 4096);
        // The defaults are the machine's.
        let d = ClientBuilder::new("http://localhost:8080", "DEMO").session;
        assert_eq!(
            (d.max_retry_delay, d.ws_open_timeout),
            (Duration::from_secs(60), None)
        );
    }
}
