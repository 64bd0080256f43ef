//! Server configuration.

use std::time::Duration;

/// How the server behaves; every limit a peer could push on has a bound here.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The name sent in `SERVNAME`.
    pub server_name: String,
    /// The longest request accepted (bytes), announced in `CONOK`.
    pub request_limit: usize,
    /// Keepalive interval when the client does not ask for one.
    pub default_keepalive: Duration,
    /// The shortest keepalive a client may ask for.
    pub min_keepalive: Duration,
    /// The longest keepalive a client may ask for.
    pub max_keepalive: Duration,
    /// Content length of HTTP stream connections when the client does not ask for one
    /// (or asks for less than `min_content_length`).
    pub default_content_length: u64,
    /// The smallest content length honoured.
    pub min_content_length: u64,
    /// The longest a polling request may wait for data (`LS_idle_millis` is capped).
    pub max_idle: Duration,
    /// The longest expected pause between polls (`LS_polling_millis` is capped).
    pub max_polling: Duration,
    /// How long a session survives without a stream connection (after a drop, between
    /// polls in addition to the polling interval, or before its first bind).
    pub unbound_timeout: Duration,
    /// Interval of `SYNC` notifications on stream connections that want them.
    pub sync_interval: Duration,
    /// Bytes of data notifications kept per session for recovery (`LS_recovery_from`).
    pub recovery_buffer_bytes: usize,
    /// Output bytes waiting for a session's client above which new events are held
    /// (and MERGE updates conflated) instead of encoded.
    pub congestion_bytes: usize,
    /// The longest DISTINCT snapshot an item keeps (events). The metadata adapter sets
    /// each item's length ([`ItemLimits::distinct_snapshot_length`], 10 by default) within
    /// this bound; it is also how many snapshot events an adapter may push for an item
    /// before its first DISTINCT subscriber says how many to keep.
    ///
    /// [`ItemLimits::distinct_snapshot_length`]: crate::ItemLimits::distinct_snapshot_length
    pub max_distinct_snapshot_length: usize,
    /// The most fields an item may have by subscriptions' schemas (an item is shared by
    /// every subscriber, and a schema may name fields the adapter never pushes: a
    /// subscription that would go beyond is refused with code 23). Fields the data
    /// adapter pushes are not counted against it.
    pub max_fields_per_item: usize,
    /// Events held per subscribed item at most before the mode's overflow policy applies
    /// (for buffers the client asked to be unlimited, and for RAW).
    pub max_pending_events: usize,
    /// Maximum bandwidth (kbit/s) a session may use, whatever the client asks.
    pub max_bandwidth_kbps: Option<f64>,
    /// Maximum number of concurrent sessions (`CONERR,8` beyond; `None`: no limit).
    /// Default 10,000.
    pub max_sessions: Option<usize>,
    /// Subscriptions a session may hold at once (`REQERR,68` beyond). Default 100,000.
    pub max_subscriptions: usize,
    /// Items one subscription may have (`REQERR,68` beyond). Default 10,000.
    pub max_items_per_subscription: usize,
    /// Subscribed items a session may hold at once, over all its subscriptions
    /// (`REQERR,68` beyond). Default 100,000.
    pub max_items_per_session: usize,
    /// Messages a session may have accepted and not yet processed: waiting for their
    /// turn in a sequence, or, unsequenced, being handled by the metadata adapter
    /// (`REQERR,68` beyond). Default 1,000.
    pub max_queued_messages: usize,
    /// Distinct message sequences (`LS_sequence`) a session may use (`REQERR,68` for a
    /// new one beyond). Default 1,000.
    pub max_message_sequences: usize,
    /// Output bytes waiting for a session's client beyond which the session is closed
    /// (`END,33`): a client that sends requests and never reads their answers. Events
    /// are held from `congestion_bytes` on and a WebSocket stops reading its client's
    /// requests there, so only a client sending on other connections reaches this.
    /// Default 8 MiB (8 times `congestion_bytes`).
    pub max_output_bytes: usize,
    /// How long a write to a client may wait without the client taking a byte before
    /// the connection is dropped (a client that stopped reading would otherwise hold it,
    /// and what waits to be written on it, for ever; its session is then unbound and may
    /// be recovered). Default 60 s.
    pub write_timeout: Duration,
    /// How long a shutdown lets stream connections deliver their `END` before they are
    /// cut. Default 2 s.
    pub shutdown_grace: Duration,
    /// Bytes of `NOOP` preamble sent at the start of HTTP stream connections.
    pub http_preamble_bytes: usize,
    /// Use the `^T`/`^P` field encodings with clients on TLCP 2.4.0+ when shorter.
    pub diff_encodings: bool,
    /// Default maximum wait for a missing message of a sequence (`LS_max_wait`).
    pub default_message_max_wait: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            server_name: "tlcp-server".into(),
            request_limit: 50_000,
            default_keepalive: Duration::from_secs(5),
            min_keepalive: Duration::from_millis(100),
            max_keepalive: Duration::from_secs(60),
            default_content_length: 100_000_000,
            min_content_length: 1_000,
            max_idle: Duration::from_secs(30),
            max_polling: Duration::from_secs(30),
            unbound_timeout: Duration::from_secs(20),
            sync_interval: Duration::from_secs(30),
            recovery_buffer_bytes: 8 * 1024 * 1024,
            congestion_bytes: 1024 * 1024,
            max_distinct_snapshot_length: 1000,
            max_fields_per_item: 1024,
            max_pending_events: 10_000,
            max_bandwidth_kbps: None,
            max_sessions: Some(10_000),
            max_subscriptions: 100_000,
            max_items_per_subscription: 10_000,
            max_items_per_session: 100_000,
            max_queued_messages: 1_000,
            max_message_sequences: 1_000,
            max_output_bytes: 8 * 1024 * 1024,
            write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(2),
            http_preamble_bytes: 256,
            diff_encodings: true,
            default_message_max_wait: Duration::from_secs(5),
        }
    }
}
