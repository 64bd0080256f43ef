//! The bridge: Lightstreamer items republished on NATS subjects, for fan-out beyond one
//! machine.
//!
//! [`run`] subscribes to the items of an [`LsSource`] and publishes every update on the
//! NATS subject `<prefix>.<item>` (the item's name, or its 1-based position for a group;
//! `.`, `*`, `>` and whitespace in a name become `_`, as NATS subjects need). The payload
//! is a JSON object:
//!
//! ```json
//! {"fields":{"last_price":"3.04","stock_name":"Anduct"},"item":"item1","pos":1,
//!  "received_at_us":1764619200123456,"snapshot":false}
//! ```
//!
//! `fields` is the item's merged field state (null for a null value; fields of a schema are
//! keyed by their 1-based position), `received_at_us` the wall-clock time, in microseconds
//! since the Unix epoch, of the socket read that brought the update (tlcp-client stamps each
//! update with it), and `key` is added in COMMAND mode.
//!
//! # Reconnection and losses
//!
//! Both sides reconnect by themselves: tlcp-client recovers the Lightstreamer session (no
//! loss) or replaces it (subscriptions are sent again with a snapshot; it says how much may
//! have been lost), and the NATS client retries the initial connection and every later one
//! without limit. Losses are counted in [`Counters`] and logged at `warn`:
//!
//! * updates the client dropped because the bridge fell behind (`Dropped`);
//! * updates the server dropped (`OV`, [`lost_server`](Snapshot::lost_server));
//! * notifications lost when a session was replaced rather than recovered;
//! * publishes the NATS client refused.
//!
//! Core NATS has no acknowledgement: a message written to a NATS server just before it went
//! down is lost without anyone knowing, and NATS subscribers only get what is published
//! while they are subscribed. The bridge keeps publishing while the NATS client reconnects
//! (the client buffers), and counts disconnections and reconnections. Memory stays bounded
//! during a long NATS outage: once the NATS client's buffer is full, publishing waits, the
//! subscription's queue in tlcp-client fills in turn, and its drops are counted as
//! [`dropped_by_client`](Snapshot::dropped_by_client) (MERGE subscriptions conflate
//! instead: the latest state of each item is kept).
//!
//! # Counters
//!
//! [`BridgeConfig::counters`] hands out the live [`Counters`]; every
//! [`report_every`](BridgeConfig::report_every) the bridge logs (at `info`) the rate of the
//! last period and the lag (socket read to publish) of the last update, and `run` returns
//! the final [`Snapshot`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use tlcp_client::{ConnectionEvent, ItemUpdate, Lost, SubscriptionEvent};
use tracing::{info, warn};

use crate::{LsConfig, LsSource};

/// What the bridge connects, subscribes and publishes to.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The Lightstreamer session.
    pub lightstreamer: LsConfig,
    /// The items to bridge, with their fields, mode, data adapter, snapshot and frequency.
    pub source: LsSource,
    /// The NATS server(s), e.g. `nats://127.0.0.1:4222` (comma separated for several).
    pub nats_url: String,
    /// The subject prefix: an item is published on `<prefix>.<item>`.
    pub prefix: String,
    /// How often to log the rate and the lag (`None`: never).
    pub report_every: Option<Duration>,
    counters: Arc<Counters>,
}

impl BridgeConfig {
    /// Bridges `source` from `lightstreamer` to `nats_url`, under `prefix`; reports every
    /// 5 seconds.
    pub fn new(
        lightstreamer: LsConfig,
        source: LsSource,
        nats_url: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            lightstreamer,
            source,
            nats_url: nats_url.into(),
            prefix: prefix.into(),
            report_every: Some(Duration::from_secs(5)),
            counters: Arc::new(Counters::default()),
        }
    }

    /// The live counters of the bridge this configuration runs.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }
}

/// Why the bridge stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The Lightstreamer client could not be built or subscribe.
    #[error("lightstreamer: {0}")]
    Lightstreamer(#[from] tlcp_client::Error),
    /// The NATS options were refused (e.g. a malformed URL).
    #[error("nats: {0}")]
    Nats(String),
    /// The subscription failed on the server (refused items, fields or adapter).
    #[error("subscription refused: {0}")]
    Subscription(String),
    /// The Lightstreamer session was closed for good (by the server).
    #[error("the lightstreamer session was closed: {0}")]
    SessionClosed(String),
}

/// The bridge's counters, updated live.
#[derive(Debug, Default)]
pub struct Counters {
    received: AtomicU64,
    published: AtomicU64,
    publish_errors: AtomicU64,
    dropped_by_client: AtomicU64,
    conflated: AtomicU64,
    lost_server: AtomicU64,
    sessions_recovered: AtomicU64,
    sessions_replaced: AtomicU64,
    lost_in_replacement: AtomicU64,
    replaced_unknown_loss: AtomicU64,
    nats_disconnects: AtomicU64,
    nats_connects: AtomicU64,
    last_lag_us: AtomicU64,
    max_lag_us: AtomicU64,
}

/// A copy of the [`Counters`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Updates received from Lightstreamer.
    pub received: u64,
    /// Updates published to NATS.
    pub published: u64,
    /// Publishes the NATS client refused.
    pub publish_errors: u64,
    /// Updates tlcp-client dropped because the bridge fell behind.
    pub dropped_by_client: u64,
    /// MERGE updates tlcp-client folded into later ones because the bridge was behind (the
    /// latest state was published; intermediate states were not).
    pub conflated: u64,
    /// Updates the Lightstreamer server reported lost (`OV`).
    pub lost_server: u64,
    /// Lightstreamer connections lost and recovered with nothing lost.
    pub sessions_recovered: u64,
    /// Sessions replaced (not recovered): continuity was lost.
    pub sessions_replaced: u64,
    /// Notifications those replacements may have lost, where the server could say.
    pub lost_in_replacement: u64,
    /// Replacements whose loss the server could not count.
    pub replaced_unknown_loss: u64,
    /// Times the NATS connection was lost.
    pub nats_disconnects: u64,
    /// Times the NATS connection was (re-)established.
    pub nats_connects: u64,
    /// Lag of the last update, socket read to publish, in microseconds.
    pub last_lag_us: u64,
    /// The largest such lag seen.
    pub max_lag_us: u64,
}

impl Counters {
    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            received: get(&self.received),
            published: get(&self.published),
            publish_errors: get(&self.publish_errors),
            dropped_by_client: get(&self.dropped_by_client),
            conflated: get(&self.conflated),
            lost_server: get(&self.lost_server),
            sessions_recovered: get(&self.sessions_recovered),
            sessions_replaced: get(&self.sessions_replaced),
            lost_in_replacement: get(&self.lost_in_replacement),
            replaced_unknown_loss: get(&self.replaced_unknown_loss),
            nats_disconnects: get(&self.nats_disconnects),
            nats_connects: get(&self.nats_connects),
            last_lag_us: get(&self.last_lag_us),
            max_lag_us: get(&self.max_lag_us),
        }
    }

    fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

/// Losses come in bursts of many small events: they are logged at most once a second,
/// with what accumulated since the last line.
#[derive(Debug, Default)]
struct LossLog {
    client: u64,
    server: u64,
    last: Option<Instant>,
}

impl LossLog {
    fn client(&mut self, count: u64) {
        self.client += count;
        self.maybe_flush();
    }

    fn server(&mut self, count: u64) {
        self.server += count;
        self.maybe_flush();
    }

    fn maybe_flush(&mut self) {
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.client > 0 {
            warn!(
                count = self.client,
                "lost updates: the bridge fell behind and the client dropped them"
            );
        }
        if self.server > 0 {
            warn!(
                count = self.server,
                "lost updates: the server dropped them (OV)"
            );
        }
        if self.client > 0 || self.server > 0 {
            self.last = Some(Instant::now());
        }
        self.client = 0;
        self.server = 0;
    }
}

/// `.`, `*`, `>` and whitespace are not allowed in a NATS subject token.
pub fn subject_token(item: &str) -> String {
    let token: String = item
        .chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if token.is_empty() {
        "_".to_owned()
    } else {
        token
    }
}

/// The JSON payload of `update` (see the [module documentation](self)).
pub fn payload(update: &ItemUpdate, item: &str) -> Bytes {
    let fields = crate::source::fields_object(update);
    let age = Instant::now().saturating_duration_since(update.received_at());
    let received = SystemTime::now()
        .checked_sub(age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut object = serde_json::Map::new();
    object.insert("item".into(), item.into());
    object.insert("pos".into(), update.item_pos().into());
    object.insert("snapshot".into(), update.is_snapshot().into());
    object.insert("received_at_us".into(), received.into());
    if let Some(key) = update.key() {
        object.insert("key".into(), key.into());
    }
    object.insert("fields".into(), serde_json::Value::Object(fields));
    Bytes::from(serde_json::Value::Object(object).to_string())
}

/// Runs the bridge until `shutdown` completes (or the session is closed for good), and
/// returns the final counters.
///
/// # Errors
///
/// [`BridgeError`] when the client cannot be built, the NATS options are refused, the
/// subscription is refused, or the server closes the session.
pub async fn run(
    config: BridgeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Snapshot, BridgeError> {
    let counters = config.counters();
    let nats = {
        let counters = Arc::clone(&counters);
        async_nats::ConnectOptions::new()
            .name("tlcp-bridge")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(move |event| {
                let counters = Arc::clone(&counters);
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            Counters::add(&counters.nats_connects, 1);
                            info!("nats: connected");
                        }
                        async_nats::Event::Disconnected => {
                            Counters::add(&counters.nats_disconnects, 1);
                            warn!("nats: disconnected, reconnecting");
                        }
                        async_nats::Event::Closed => info!("nats: closed"),
                        other => warn!("nats: {other}"),
                    }
                }
            })
            .connect(config.nats_url.as_str())
            .await
            .map_err(|e| BridgeError::Nats(e.to_string()))?
    };

    let client = config.lightstreamer.build_client()?;
    let mut events = client.events();
    client.connect();
    let mut updates = client.subscribe(config.source.to_subscription()).await?;

    let mut report = config.report_every.map(|every| {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let mut last = (Instant::now(), counters.snapshot());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut losses = LossLog::default();
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            event = updates.next() => match event {
                Some(SubscriptionEvent::Update(update)) => {
                    Counters::add(&counters.received, 1);
                    Counters::add(&counters.conflated, update.skipped());
                    let pos = update.item_pos().to_string();
                    let item = update.item_name().unwrap_or(&pos);
                    let subject = format!("{}.{}", config.prefix, subject_token(item));
                    let body = payload(&update, item);
                    match nats.publish(subject, body).await {
                        Ok(()) => {
                            Counters::add(&counters.published, 1);
                            let lag = update.received_at().elapsed();
                            let lag = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
                            counters.last_lag_us.store(lag, Ordering::Relaxed);
                            counters.max_lag_us.fetch_max(lag, Ordering::Relaxed);
                        }
                        Err(e) => {
                            Counters::add(&counters.publish_errors, 1);
                            warn!(item, "nats publish failed: {e}");
                        }
                    }
                }
                Some(SubscriptionEvent::Dropped { count }) => {
                    Counters::add(&counters.dropped_by_client, count);
                    losses.client(count);
                }
                Some(SubscriptionEvent::LostUpdates { count, .. }) => {
                    Counters::add(&counters.lost_server, count);
                    losses.server(count);
                }
                Some(SubscriptionEvent::Error(e)) => {
                    break Err(BridgeError::Subscription(format!("{e:?}")));
                }
                Some(SubscriptionEvent::Unsubscribed) | None => {
                    break Err(BridgeError::Subscription("the subscription ended".into()));
                }
                Some(_) => {}
            },
            event = events.next() => match event {
                Some(ConnectionEvent::SessionReplaced { lost, .. }) => {
                    Counters::add(&counters.sessions_replaced, 1);
                    match lost {
                        Lost::AtLeast(n) => {
                            Counters::add(&counters.lost_in_replacement, n);
                            warn!(lost = n, "lightstreamer session replaced: updates lost");
                        }
                        _ => {
                            Counters::add(&counters.replaced_unknown_loss, 1);
                            warn!("lightstreamer session replaced: an unknown number of updates lost");
                        }
                    }
                }
                Some(ConnectionEvent::SessionRecovered { .. }) => {
                    Counters::add(&counters.sessions_recovered, 1);
                    info!("lightstreamer session recovered: nothing lost");
                }
                Some(ConnectionEvent::SessionClosed { cause }) => {
                    break Err(BridgeError::SessionClosed(format!("{cause:?}")));
                }
                Some(ConnectionEvent::ServerError(e)) => warn!("lightstreamer: {e:?}"),
                Some(_) => {}
                None => break Err(BridgeError::SessionClosed("the client stopped".into())),
            },
            _ = async {
                match report.as_mut() {
                    Some(interval) => interval.tick().await,
                    None => std::future::pending().await,
                }
            } => {
                losses.flush();
                let now = (Instant::now(), counters.snapshot());
                let secs = now.0.duration_since(last.0).as_secs_f64();
                let rate = if secs > 0.0 {
                    (now.1.published - last.1.published) as f64 / secs
                } else {
                    0.0
                };
                let s = now.1;
                info!(
                    rate = format!("{rate:.0}/s"),
                    published = s.published,
                    lag_ms = format!("{:.2}", s.last_lag_us as f64 / 1000.0),
                    max_lag_ms = format!("{:.2}", s.max_lag_us as f64 / 1000.0),
                    dropped = s.dropped_by_client,
                    conflated = s.conflated,
                    lost_server = s.lost_server,
                    replaced = s.sessions_replaced,
                    nats_disconnects = s.nats_disconnects,
                    "bridge"
                );
                last = now;
            }
        }
    };
    losses.flush();
    updates.unsubscribe();
    client.close().await;
    // What was handed to the NATS client reaches the server before returning (bounded: a
    // NATS server that is down must not hold the shutdown).
    if tokio::time::timeout(Duration::from_secs(5), nats.flush())
        .await
        .map_or(true, |r| r.is_err())
    {
        warn!("nats: could not flush the last publishes");
    }
    result.map(|()| counters.snapshot())
}

#[cfg(test)]
mod tests {
    use super::subject_token;

    #[test]
    fn item_names_become_single_subject_tokens() {
        assert_eq!(subject_token("item1"), "item1");
        assert_eq!(subject_token("a.b c*d>e\tf"), "a_b_c_d_e_f");
        assert_eq!(subject_token(""), "_");
    }
}
