//! [`SessionConfig`]: who to be, which transport, and every timing, with the official
//! clients' defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::framing::DEFAULT_MAX_LINE_LEN;
use crate::request::CUSTOM_CLIENT_CID;
use crate::types::{Bandwidth, Secret};
use crate::version::ProtocolVersion;

/// The default of [`SessionConfig::max_items`].
pub const DEFAULT_MAX_ITEMS: usize = 10_000;

/// The default of [`SessionConfig::max_command_keys`].
pub const DEFAULT_MAX_COMMAND_KEYS: usize = 100_000;

/// The default of [`SessionConfig::max_fields`].
pub const DEFAULT_MAX_FIELDS: usize = 1_000;

/// A transport the application imposes (the official clients' `forcedTransport`).
///
/// Without one (`None` in [`SessionConfig::forced_transport`]) the session is created over
/// WebSocket and falls back to HTTP streaming, then HTTP polling (stream-sense).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForcedTransport {
    /// `WS`: WebSocket only, streaming, falling back to polling when an open WebSocket
    /// gets no answer to a streaming request in time.
    Ws,
    /// `HTTP`: HTTP only, streaming, falling back to polling.
    Http,
    /// `WS-STREAMING`.
    WsStreaming,
    /// `HTTP-STREAMING`.
    HttpStreaming,
    /// `WS-POLLING`.
    WsPolling,
    /// `HTTP-POLLING`.
    HttpPolling,
}

impl ForcedTransport {
    /// The official name: `WS`, `HTTP`, `WS-STREAMING`, `HTTP-STREAMING`, `WS-POLLING` or
    /// `HTTP-POLLING`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ws => "WS",
            Self::Http => "HTTP",
            Self::WsStreaming => "WS-STREAMING",
            Self::HttpStreaming => "HTTP-STREAMING",
            Self::WsPolling => "WS-POLLING",
            Self::HttpPolling => "HTTP-POLLING",
        }
    }

    /// Whether WebSocket may be used.
    pub const fn allows_ws(self) -> bool {
        matches!(self, Self::Ws | Self::WsStreaming | Self::WsPolling)
    }

    /// Whether HTTP may carry the stream.
    pub const fn allows_http(self) -> bool {
        !self.allows_ws()
    }
}

impl fmt::Display for ForcedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a transport name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown transport {0:?} (expected WS, HTTP, WS-STREAMING, HTTP-STREAMING, WS-POLLING or HTTP-POLLING)"
)]
pub struct UnknownTransport(pub String);

impl FromStr for ForcedTransport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Ws,
            Self::Http,
            Self::WsStreaming,
            Self::HttpStreaming,
            Self::WsPolling,
            Self::HttpPolling,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| UnknownTransport(s.to_owned()))
    }
}

/// Everything a [`ClientSession`](super::ClientSession) needs to know before connecting.
///
/// Build it with [`SessionConfig::new`] (the official clients' defaults) and change the
/// fields you need. Durations are in milliseconds on the wire. `Debug` never shows the
/// password.
///
/// ```
/// use std::time::Duration;
/// use tlcp_proto::client::{ForcedTransport, SessionConfig};
///
/// let mut config = SessionConfig::new("DEMO").with_credentials("user", "secret");
/// config.forced_transport = Some(ForcedTransport::HttpStreaming);
/// config.reverse_heartbeat_interval = Some(Duration::from_secs(10));
/// assert_eq!(config.retry_delay, Duration::from_millis(4000));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// `LS_adapter_set` (`None`: the server's `DEFAULT`).
    pub adapter_set: Option<String>,
    /// `LS_user`.
    pub user: Option<String>,
    /// `LS_password` (IG: `CST-<token>|XST-<token>`).
    pub password: Option<Secret>,
    /// The protocol version spoken (some servers refuse 2.5.0: 2.4.0 is a safe choice).
    pub protocol_version: ProtocolVersion,
    /// `LS_cid`: the client identifier (the custom-client one by default).
    pub cid: String,
    /// A transport to impose; `None`: WS first, then HTTP (stream-sense).
    pub forced_transport: Option<ForcedTransport>,
    /// Minimum time between two connection attempts, and the time allowed for a stream
    /// connection to answer with `CONOK` (default 4000 ms).
    pub retry_delay: Duration,
    /// The first retry after a lost connection waits a random time below this (default
    /// 100 ms), drawn from [`seed`](Self::seed).
    pub first_retry_max_delay: Duration,
    /// The longest delay between two attempts once backoff has doubled it (default 60 s).
    pub max_retry_delay: Duration,
    /// How long to keep trying to recover a session after its stream connection was lost
    /// (default 15000 ms; zero disables recovery).
    pub session_recovery_timeout: Duration,
    /// Silence allowed beyond the keepalive interval before the status becomes `STALLED`
    /// (default 2000 ms).
    pub stalled_timeout: Duration,
    /// Silence allowed after `STALLED` before the connection is dropped and recovered
    /// (default 3000 ms).
    pub reconnect_timeout: Duration,
    /// `LS_keepalive_millis` for streaming; `None`: the server decides (its value, from
    /// `CONOK`, is then kept and asked for again on later binds).
    pub keepalive_interval: Option<Duration>,
    /// `LS_idle_millis` of polling binds: how long a poll may wait for data (default
    /// 19000 ms).
    pub idle_timeout: Duration,
    /// `LS_polling_millis` of polling binds: the pause between two polls (default 0).
    pub polling_interval: Duration,
    /// Reverse heartbeats: a `heartbeat` request after this much outbound silence, and
    /// `LS_inactivity_millis` on create and bind (default `None`: off).
    pub reverse_heartbeat_interval: Option<Duration>,
    /// `LS_content_length` of HTTP streaming binds (default 50 000 000 bytes).
    pub content_length: u64,
    /// `LS_requested_max_bandwidth` (default `None`: unlimited, not sent).
    pub requested_max_bandwidth: Option<Bandwidth>,
    /// `LS_send_sync` on streaming requests (default `false`, as the official clients).
    pub send_sync: bool,
    /// How long a WebSocket may take to answer the create request before HTTP is tried;
    /// `None`: [`retry_delay`](Self::retry_delay).
    pub ws_open_timeout: Option<Duration>,
    /// Ignore the control link of `CONOK` (send everything to the configured address).
    pub ignore_control_link: bool,
    /// Seed of the pseudo-random jitter (first retry delay). Same seed, same delays.
    pub seed: u64,
    /// The longest line accepted from the server, in bytes (default 4 MiB).
    pub max_line_len: usize,
    /// The most items a `SUBOK`/`SUBCMD` may announce for a subscription to a group
    /// ([`Items::Group`](super::Items::Group)); beyond, the subscription fails with
    /// [`ModelError::TooLarge`](crate::model::ModelError::TooLarge) before anything is
    /// allocated for it. A list of items fixes the number instead (the server must
    /// announce exactly that many). Default 10 000.
    ///
    /// A subscription's model holds about 10 bytes per item and field before any update,
    /// so the defaults bound it to about 100 MB whatever the server says.
    pub max_items: usize,
    /// The most fields a `SUBOK`/`SUBCMD` may announce for a subscription to a schema
    /// ([`Fields::Schema`](super::Fields::Schema)), and a second-level `SUBOK` for
    /// second-level fields named by a schema; beyond, the subscription (or the key's
    /// second level) fails with
    /// [`ModelError::TooLarge`](crate::model::ModelError::TooLarge). Lists fix the
    /// numbers instead. Default 1 000.
    pub max_fields: usize,
    /// The most keys a COMMAND item may have at once (in two-level mode, also the most
    /// second-level subscriptions its keys open); an `ADD` beyond fails the subscription
    /// with [`ModelError::TooLarge`](crate::model::ModelError::TooLarge) (it is then
    /// unsubscribed, and the session goes on). Default 100 000.
    pub max_command_keys: usize,
}

impl SessionConfig {
    /// A configuration for `adapter_set` with the official clients' defaults.
    pub fn new(adapter_set: impl Into<String>) -> Self {
        Self {
            adapter_set: Some(adapter_set.into()),
            ..Self::default()
        }
    }

    /// Sets `LS_user` and `LS_password`.
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Sets the protocol version.
    pub fn with_version(mut self, version: ProtocolVersion) -> Self {
        self.protocol_version = version;
        self
    }

    /// Imposes a transport.
    pub fn with_forced_transport(mut self, transport: ForcedTransport) -> Self {
        self.forced_transport = Some(transport);
        self
    }

    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The WS answer timeout in force.
    pub(super) fn ws_timeout(&self) -> Duration {
        self.ws_open_timeout.unwrap_or(self.retry_delay)
    }
}

impl Default for SessionConfig {
    /// The official clients' defaults, for the `DEFAULT` adapter set.
    fn default() -> Self {
        Self {
            adapter_set: None,
            user: None,
            password: None,
            protocol_version: ProtocolVersion::V2_5_0,
            cid: CUSTOM_CLIENT_CID.to_owned(),
            forced_transport: None,
            retry_delay: Duration::from_millis(4000),
            first_retry_max_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(60),
            session_recovery_timeout: Duration::from_millis(15000),
            stalled_timeout: Duration::from_millis(2000),
            reconnect_timeout: Duration::from_millis(3000),
            keepalive_interval: None,
            idle_timeout: Duration::from_millis(19000),
            polling_interval: Duration::ZERO,
            reverse_heartbeat_interval: None,
            content_length: 50_000_000,
            requested_max_bandwidth: None,
            send_sync: false,
            ws_open_timeout: None,
            ignore_control_link: false,
            seed: 0,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_items: DEFAULT_MAX_ITEMS,
            max_fields: DEFAULT_MAX_FIELDS,
            max_command_keys: DEFAULT_MAX_COMMAND_KEYS,
        }
    }
}

/// Milliseconds of a duration, saturating.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_round_trip() {
        for t in [
            ForcedTransport::Ws,
            ForcedTransport::Http,
            ForcedTransport::WsStreaming,
            ForcedTransport::HttpStreaming,
            ForcedTransport::WsPolling,
            ForcedTransport::HttpPolling,
        ] {
            assert_eq!(t.as_str().parse::<ForcedTransport>(), Ok(t));
            assert_ne!(t.allows_ws(), t.allows_http());
        }
        assert!("ws".parse::<ForcedTransport>().is_err());
    }

    #[test]
    fn defaults_are_the_official_ones() {
        let c = SessionConfig::new("DEMO");
        assert_eq!(millis(c.retry_delay), 4000);
        assert_eq!(millis(c.first_retry_max_delay), 100);
        assert_eq!(millis(c.session_recovery_timeout), 15000);
        assert_eq!(millis(c.stalled_timeout), 2000);
        assert_eq!(millis(c.reconnect_timeout), 3000);
        assert_eq!(millis(c.idle_timeout), 19000);
        assert_eq!(millis(c.polling_interval), 0);
        assert_eq!(c.content_length, 50_000_000);
        assert_eq!(
            (c.keepalive_interval, c.reverse_heartbeat_interval),
            (None, None)
        );
        assert!(!c.send_sync);
        assert_eq!(c.ws_timeout(), c.retry_delay);
        assert_eq!((c.max_items, c.max_fields), (10_000, 1_000));
        let c = c.with_credentials("u", "pw");
        assert!(!format!("{c:?}").contains("pw\""));
    }
}
