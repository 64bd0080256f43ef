//! Subscriptions: Lightstreamer items as RustStream subscribers.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use ruststream::{
    AckError, BrokerMoves, DeclareRetryError, HeaderMap, IncomingMessage, RetryDeclaration,
    Subscriber, SubscriptionSource,
};
use tlcp_client::{
    Fields, ItemUpdate, Items, MaxFrequency, Mode, Subscription, SubscriptionEvent,
    SubscriptionStream,
};

use tokio::sync::watch;
use tracing::{debug, warn};

use crate::broker::{ConnectedLs, LsError, Shared};

/// Header: the item's name (or its 1-based position when the subscription names a group).
pub const HEADER_ITEM: &str = "ls-item";
/// Header: the item's 1-based position in the subscription.
pub const HEADER_POSITION: &str = "ls-position";
/// Header: `true` for a snapshot update, `false` for a real-time one.
pub const HEADER_SNAPSHOT: &str = "ls-snapshot";
/// Header: the subscription's name ([`SubscriptionSource::name`]).
pub const HEADER_SUBSCRIPTION: &str = "ls-subscription";
/// Header (COMMAND mode): the row's key.
pub const HEADER_KEY: &str = "ls-key";

/// What a delivery's payload is made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayloadEncoding {
    /// The item's merged field state as a JSON object, `{"field": "value" | null, ...}`
    /// (fields of a schema, whose names the client does not know, are keyed by their
    /// 1-based position). Decoded by RustStream's JSON codec into a struct of strings.
    #[default]
    Json,
    /// The raw value of one field (empty when the field is null).
    Field(String),
}

/// A subscription to Lightstreamer items: the items (or a group), the fields (or a schema),
/// the mode, the data adapter, the snapshot and the maximum frequency.
///
/// ```
/// use tlcp_ruststream::LsSource;
///
/// let quotes = LsSource::merge(["item1", "item2"], ["stock_name", "last_price"])
///     .data_adapter("STOCKS")
///     .snapshot(true)
///     .max_frequency(1.0);
/// assert_eq!(quotes.subscription_name(), "item1 item2");
/// ```
#[derive(Debug, Clone)]
pub struct LsSource {
    name: String,
    mode: Mode,
    items: Items,
    fields: Fields,
    data_adapter: Option<String>,
    snapshot: Option<bool>,
    max_frequency: Option<MaxFrequency>,
    payload: PayloadEncoding,
    topic_field: Option<String>,
}

fn strings<I, S>(v: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    v.into_iter().map(Into::into).collect()
}

impl LsSource {
    /// A subscription in `mode` to `items` with `fields`. Its name is the items, space
    /// separated (or the group).
    pub fn new(mode: Mode, items: Items, fields: Fields) -> Self {
        let name = match &items {
            Items::List(v) => v.join(" "),
            Items::Group(g) => g.clone(),
        };
        Self {
            name,
            mode,
            items,
            fields,
            data_adapter: None,
            snapshot: None,
            max_frequency: None,
            payload: PayloadEncoding::Json,
            topic_field: None,
        }
    }

    /// MERGE subscription to these items and fields.
    pub fn merge<I, S, F, T>(items: I, fields: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(
            Mode::Merge,
            Items::List(strings(items)),
            Fields::List(strings(fields)),
        )
    }

    /// DISTINCT subscription to these items and fields.
    pub fn distinct<I, S, F, T>(items: I, fields: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(
            Mode::Distinct,
            Items::List(strings(items)),
            Fields::List(strings(fields)),
        )
    }

    /// RAW subscription to these items and fields.
    pub fn raw<I, S, F, T>(items: I, fields: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(
            Mode::Raw,
            Items::List(strings(items)),
            Fields::List(strings(fields)),
        )
    }

    /// COMMAND subscription to these items and fields (which must include `key` and
    /// `command`).
    pub fn command<I, S, F, T>(items: I, fields: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self::new(
            Mode::Command,
            Items::List(strings(items)),
            Fields::List(strings(fields)),
        )
    }

    /// The topic scheme (see the crate docs): a DISTINCT subscription to `item` of
    /// `data_adapter`, that delivers only the updates whose `field` reads `<topic>|<rest>`,
    /// with `<rest>` as the payload. What a publisher with
    /// [`MessageFormat::Topic`](crate::MessageFormat::Topic) sends to `topic` comes back
    /// here when the adapter echoes messages on that item (the demo `CHAT` adapter does).
    pub fn topic(
        topic: impl Into<String>,
        data_adapter: impl Into<String>,
        item: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let mut source = Self::distinct([item.into()], [field.clone()]).data_adapter(data_adapter);
        source.name = topic.into();
        source.payload = PayloadEncoding::Field(field.clone());
        source.topic_field = Some(field);
        source.snapshot = Some(false);
        source
    }

    /// The topic scheme on the demo chat room: `CHAT`/`chat_room`, field `message`.
    pub fn chat_topic(topic: impl Into<String>) -> Self {
        Self::topic(topic, "CHAT", "chat_room", "message")
    }

    /// Renames the subscription (what handlers and headers call it).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The data adapter (`LS_data_adapter`).
    #[must_use]
    pub fn data_adapter(mut self, adapter: impl Into<String>) -> Self {
        self.data_adapter = Some(adapter.into());
        self
    }

    /// Whether to ask for the snapshot (default: the server's default for the mode).
    #[must_use]
    pub fn snapshot(mut self, snapshot: bool) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// At most this many updates per second per item.
    #[must_use]
    pub fn max_frequency(mut self, per_second: f64) -> Self {
        self.max_frequency = Some(MaxFrequency::PerSecond(per_second));
        self
    }

    /// The maximum frequency, as tlcp-client says it (`Unlimited`, `Unfiltered`, per second).
    #[must_use]
    pub fn with_max_frequency(mut self, frequency: MaxFrequency) -> Self {
        self.max_frequency = Some(frequency);
        self
    }

    /// No frequency limit, and no filtering: losses are reported by the server.
    #[must_use]
    pub fn unfiltered(mut self) -> Self {
        self.max_frequency = Some(MaxFrequency::Unfiltered);
        self
    }

    /// What the payload is made of (default [`PayloadEncoding::Json`]).
    #[must_use]
    pub fn payload(mut self, payload: PayloadEncoding) -> Self {
        self.payload = payload;
        self
    }

    /// The name of this subscription.
    pub fn subscription_name(&self) -> &str {
        &self.name
    }

    /// The tlcp-client subscription this source opens.
    pub fn to_subscription(&self) -> Subscription {
        let mut s = Subscription::new(self.mode, self.items.clone(), self.fields.clone());
        if let Some(adapter) = &self.data_adapter {
            s = s.data_adapter(adapter.clone());
        }
        if let Some(snapshot) = self.snapshot {
            s = s.snapshot(snapshot);
        }
        if let Some(frequency) = self.max_frequency {
            s = s.max_frequency(frequency);
        }
        s
    }
}

impl SubscriptionSource<ConnectedLs> for LsSource {
    type Subscriber = LsSubscriber;
    // A Lightstreamer item is fed by its data adapter, never by a client's publish, so a
    // retry copy has nowhere to go: no retry publisher is paired (`.out_retry(..)` does not
    // compile), and a retry falls to `nack`, which answers `Unsupported`.
    type Copies = BrokerMoves;

    fn name(&self) -> &str {
        &self.name
    }

    /// Lightstreamer neither redelivers nor dead-letters: a cap (`max_attempts`) or a
    /// dead-letter destination cannot be applied, so declaring either fails the
    /// registration at startup rather than being silently ignored.
    fn declare_retry_on(
        &self,
        _connected: &ConnectedLs,
        declaration: &RetryDeclaration,
    ) -> Result<(), DeclareRetryError> {
        if declaration.max_attempts().is_some() || declaration.dead_letter().is_some() {
            return Err(DeclareRetryError::Broker(Box::new(
                LsError::RetryUnsupported,
            )));
        }
        Ok(())
    }

    async fn subscribe(self, connected: &ConnectedLs) -> Result<LsSubscriber, LsError> {
        connected.shared.check_open()?;
        let stream = connected.client().subscribe(self.to_subscription()).await?;
        Ok(LsSubscriber {
            stream,
            closed: connected.shared.closed_signal(),
            _shared: Arc::clone(&connected.shared),
            view: Arc::new(View {
                name: self.name,
                payload: self.payload,
                topic_field: self.topic_field,
            }),
        })
    }
}

/// How updates become deliveries.
#[derive(Debug)]
struct View {
    name: String,
    payload: PayloadEncoding,
    topic_field: Option<String>,
}

impl View {
    /// The delivery of `update`, or `None` when the topic filter leaves it out.
    fn deliver(&self, update: &ItemUpdate) -> Option<LsMessage> {
        let payload = match &self.payload {
            PayloadEncoding::Json => serde_json::Value::Object(fields_object(update))
                .to_string()
                .into_bytes(),
            PayloadEncoding::Field(field) => {
                let value = update.value_by_name(field).unwrap_or_default();
                if self.topic_field.as_deref() == Some(field.as_str()) {
                    let rest = value.strip_prefix(self.name.as_str())?.strip_prefix('|')?;
                    rest.as_bytes().to_vec()
                } else {
                    value.as_bytes().to_vec()
                }
            }
        };
        let mut headers = HeaderMap::new();
        let pos = update.item_pos().to_string();
        headers.insert(
            HEADER_ITEM,
            update
                .item_name()
                .map_or_else(|| pos.clone(), str::to_owned),
        );
        headers.insert(HEADER_POSITION, pos);
        headers.insert(
            HEADER_SNAPSHOT,
            if update.is_snapshot() {
                "true"
            } else {
                "false"
            },
        );
        headers.insert(HEADER_SUBSCRIPTION, self.name.clone());
        if let Some(key) = update.key() {
            headers.insert(HEADER_KEY, key.to_owned());
        }
        Some(LsMessage { payload, headers })
    }
}

/// The live subscription: a stream of [`LsMessage`]s.
#[derive(Debug)]
pub struct LsSubscriber {
    stream: SubscriptionStream,
    closed: watch::Receiver<bool>,
    _shared: Arc<Shared>,
    view: Arc<View>,
}

impl LsSubscriber {
    /// The client's delivery counters of this subscription (queued, dropped, conflated).
    pub fn delivery_stats(&self) -> tlcp_client::DeliveryStats {
        self.stream.stats()
    }
}

impl Drop for LsSubscriber {
    fn drop(&mut self) {
        self.stream.unsubscribe();
    }
}

/// What to do with one subscription event.
enum Step {
    Deliver(LsMessage),
    Skip,
    Fail(LsError),
    End,
}

fn step(view: &View, event: SubscriptionEvent) -> Step {
    match event {
        SubscriptionEvent::Update(update) => match view.deliver(&update) {
            Some(m) => Step::Deliver(m),
            None => Step::Skip,
        },
        SubscriptionEvent::Dropped { count } => {
            warn!(subscription = %view.name, count, "the client dropped updates: reader too slow");
            Step::Skip
        }
        SubscriptionEvent::LostUpdates {
            item, count, key, ..
        } => {
            warn!(subscription = %view.name, item, count, ?key, "the server lost updates");
            Step::Skip
        }
        SubscriptionEvent::Error(e) => Step::Fail(LsError::Subscription(format!("{e:?}"))),
        SubscriptionEvent::Unsubscribed => Step::End,
        other => {
            debug!(subscription = %view.name, event = ?other, "subscription event");
            Step::Skip
        }
    }
}

impl Subscriber for LsSubscriber {
    type Message = LsMessage;
    type Error = LsError;

    fn stream(&mut self) -> impl Stream<Item = Result<LsMessage, LsError>> + Send + '_ {
        let view = Arc::clone(&self.view);
        futures_util::stream::unfold((self, view, false), |(this, view, failed)| async move {
            if failed {
                return None;
            }
            loop {
                if *this.closed.borrow() {
                    return None;
                }
                let event = tokio::select! {
                    event = this.stream.next() => event,
                    _ = this.closed.changed() => return None,
                };
                match step(&view, event?) {
                    Step::Deliver(m) => return Some((Ok(m), (this, view, false))),
                    Step::Skip => {}
                    Step::Fail(e) => return Some((Err(e), (this, view, true))),
                    Step::End => return None,
                }
            }
        })
    }
}

/// The update's values as a JSON object: by field name, or by 1-based position for the
/// fields of a schema (whose names the client does not know); null values are `null`.
pub(crate) fn fields_object(update: &ItemUpdate) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for pos in 1..=update.value_count() {
        let key = update
            .field_name(pos)
            .map_or_else(|| pos.to_string(), str::to_owned);
        let value = update
            .value(pos)
            .map_or(serde_json::Value::Null, |v| v.into());
        map.insert(key, value);
    }
    map
}

/// One update, delivered: the payload (see [`PayloadEncoding`]) and the headers
/// [`HEADER_ITEM`], [`HEADER_POSITION`], [`HEADER_SNAPSHOT`], [`HEADER_SUBSCRIPTION`]
/// (and [`HEADER_KEY`] in COMMAND mode).
///
/// Lightstreamer has no acknowledgement: `ack` and `nack` answer
/// [`AckError::Unsupported`].
#[derive(Debug, Clone)]
pub struct LsMessage {
    pub(crate) payload: Vec<u8>,
    pub(crate) headers: HeaderMap,
}

impl IncomingMessage for LsMessage {
    fn payload(&self) -> &[u8] {
        &self.payload
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    async fn ack(self) -> Result<(), AckError> {
        Err(AckError::Unsupported)
    }

    async fn nack(self, _requeue: bool) -> Result<(), AckError> {
        Err(AckError::Unsupported)
    }
}
