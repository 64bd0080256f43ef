//! [`Subscription`] (what to subscribe to, and how to deliver it) and
//! [`SubscriptionStream`] (the updates, as a `Stream`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tlcp_proto::client::{Fields, Items, SubscriptionId, SubscriptionSpec};
use tlcp_proto::{BufferSize, MaxFrequency, Mode, Snapshot};
use tokio::sync::oneshot;

use crate::client::{Command, Commands};
use crate::delivery::{Delivery, DeliveryStats, Shared};
use crate::error::Error;
use crate::events::SubscriptionEvent;

/// What to subscribe to, and how to deliver it. Pass it to
/// [`Client::subscribe`](crate::Client::subscribe).
///
/// ```
/// use tlcp_client::{Delivery, MaxFrequency, Subscription};
///
/// let quotes = Subscription::merge(["item1", "item2"], ["last_price", "time"])
///     .data_adapter("QUOTE_ADAPTER")
///     .max_frequency(MaxFrequency::PerSecond(2.0));
/// let ticks = Subscription::distinct(["CHART:IX.D.FTSE:TICK"], ["BID", "OFR", "UTM"])
///     .snapshot(false)
///     .delivery(Delivery::Queue { capacity: 100_000 });
/// let portfolio = Subscription::command_group("portfolio1", "key command qty")
///     .data_adapter("PORTFOLIO")
///     .second_level_fields(["last_price"], Some("STOCKS"));
/// # let _ = (quotes, ticks, portfolio);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub(crate) spec: SubscriptionSpec,
    pub(crate) delivery: Option<Delivery>,
}

fn names<I, S>(list: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    list.into_iter().map(Into::into).collect()
}

macro_rules! mode_constructors {
    ($($(#[$doc:meta])* $name:ident, $group:ident => $mode:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name<I, S, F, T>(items: I, fields: F) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
            F: IntoIterator<Item = T>,
            T: Into<String>,
        {
            Self::new($mode, Items::List(names(items)), Fields::List(names(fields)))
        }

        /// The same, with a group name and a schema name resolved by the Metadata Adapter
        /// (values can then be read by position only).
        pub fn $group(group: impl Into<String>, schema: impl Into<String>) -> Self {
            Self::new($mode, Items::Group(group.into()), Fields::Schema(schema.into()))
        }
    )*};
}

impl Subscription {
    /// A subscription from its parts.
    pub fn new(mode: Mode, items: Items, fields: Fields) -> Self {
        Self {
            spec: SubscriptionSpec::new(mode, items, fields),
            delivery: None,
        }
    }

    mode_constructors! {
        /// A MERGE subscription to named items and fields (one row per item; delivered
        /// conflated by default).
        merge, merge_group => Mode::Merge;
        /// A DISTINCT subscription (every update is an event; delivered through a bounded
        /// queue by default).
        distinct, distinct_group => Mode::Distinct;
        /// A RAW subscription (every update as it comes, no snapshot).
        raw, raw_group => Mode::Raw;
        /// A COMMAND subscription (rows by key); the fields must include `key` and
        /// `command`.
        command, command_group => Mode::Command;
    }

    /// `LS_data_adapter`: the Data Adapter of the items.
    pub fn data_adapter(mut self, adapter: impl Into<String>) -> Self {
        self.spec.data_adapter = Some(adapter.into());
        self
    }

    /// `LS_selector`.
    pub fn selector(mut self, selector: impl Into<String>) -> Self {
        self.spec.selector = Some(selector.into());
        self
    }

    /// Whether to ask for the snapshot. Default: yes, except in RAW mode.
    pub fn snapshot(mut self, snapshot: bool) -> Self {
        self.spec.snapshot = Some(Snapshot::Enabled(snapshot));
        self
    }

    /// DISTINCT mode: a snapshot of at most `length` events.
    pub fn snapshot_length(mut self, length: u32) -> Self {
        self.spec.snapshot = Some(Snapshot::Length(length));
        self
    }

    /// `LS_requested_buffer_size` on the server.
    pub fn buffer_size(mut self, size: BufferSize) -> Self {
        self.spec.buffer_size = Some(size);
        self
    }

    /// `LS_requested_max_frequency`: a number of updates per second, `Unlimited` or
    /// `Unfiltered`. Changeable live with
    /// [`SubscriptionStream::set_max_frequency`].
    pub fn max_frequency(mut self, frequency: MaxFrequency) -> Self {
        self.spec.max_frequency = Some(frequency);
        self
    }

    /// Two-level COMMAND: for each key, subscribe (MERGE) to the item named like the key,
    /// with these fields from `data_adapter`; its values extend the key's row.
    pub fn second_level_fields<I, S>(mut self, fields: I, data_adapter: Option<&str>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec = self.spec.with_second_level_fields(fields, data_adapter);
        self
    }

    /// Two-level COMMAND, with a second-level schema name.
    pub fn second_level_schema(
        mut self,
        schema: impl Into<String>,
        data_adapter: Option<&str>,
    ) -> Self {
        self.spec = self.spec.with_second_level_schema(schema, data_adapter);
        self
    }

    /// How updates reach the reader when it is slower than the server. Default:
    /// [`Delivery::default_for`] the mode.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// The request as the session state machine sees it.
    pub fn spec(&self) -> &SubscriptionSpec {
        &self.spec
    }

    /// The delivery policy in force.
    pub fn delivery_policy(&self) -> Delivery {
        self.delivery
            .unwrap_or_else(|| Delivery::default_for(self.spec.mode))
    }
}

/// An active subscription: a [`Stream`] of [`SubscriptionEvent`]s, from
/// [`Client::subscribe`](crate::Client::subscribe).
///
/// The stream ends after [`SubscriptionEvent::Unsubscribed`] or
/// [`SubscriptionEvent::Error`], or when the client's background task stops. **Dropping
/// it unsubscribes.** Reading slowly never slows the other subscriptions (unless this one
/// was made with [`Delivery::Backpressure`]).
pub struct SubscriptionStream {
    id: SubscriptionId,
    shared: Arc<Shared>,
    commands: Commands,
    /// Events taken from the shared queue in one go (see [`READ_BATCH`]), not yet read.
    local: VecDeque<SubscriptionEvent>,
}

/// How many events a reader takes from its shared queue per lock: one lock per batch
/// instead of one per event, and the driver rarely finds the queue locked.
const READ_BATCH: usize = 256;

impl std::fmt::Debug for SubscriptionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionStream")
            .field("id", &self.id)
            .field("stats", &self.shared.stats())
            .finish()
    }
}

impl SubscriptionStream {
    pub(crate) fn new(id: SubscriptionId, shared: Arc<Shared>, commands: Commands) -> Self {
        Self {
            id,
            shared,
            commands,
            local: VecDeque::new(),
        }
    }

    /// The subscription's id (stable across sessions).
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// Changes the maximum frequency live (a `reconf` request). The server's answer comes
    /// as a [`SubscriptionEvent::RealMaxFrequency`].
    pub async fn set_max_frequency(&self, frequency: MaxFrequency) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::SetMaxFrequency {
            id: self.id,
            frequency,
            reply,
        })?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// The delivery counters of this subscription (conflated, dropped, queued).
    pub fn stats(&self) -> DeliveryStats {
        let mut stats = self.shared.stats();
        stats.queued += self.local.len();
        stats
    }

    /// Unsubscribes, and drains what remains until [`SubscriptionEvent::Unsubscribed`]
    /// (the same as dropping it, but the end can be awaited).
    pub fn unsubscribe(&self) {
        let _ = self.commands.send(Command::Unsubscribe(self.id));
    }
}

impl Stream for SubscriptionStream {
    type Item = SubscriptionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SubscriptionEvent>> {
        let this = self.get_mut();
        if let Some(e) = this.local.pop_front() {
            return Poll::Ready(Some(e));
        }
        match this.shared.poll_batch(cx, &mut this.local, READ_BATCH) {
            Poll::Ready(true) => Poll::Ready(this.local.pop_front()),
            Poll::Ready(false) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SubscriptionStream {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unsubscribe(self.id));
    }
}
