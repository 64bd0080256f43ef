//! Callbacks, for code coming from the official SDKs: [`SubscriptionListener`] and
//! [`ClientListener`], driven by a task that reads the streams.
//!
//! The streams are the API; listeners are sugar on top. Each listener runs in a task of
//! its own, so a slow callback only delays its own listener (and its subscription's
//! delivery policy applies, as for any slow reader).
//!
//! ```no_run
//! use tlcp_client::{Client, ItemUpdate, Subscription, SubscriptionListener};
//!
//! struct Printer;
//! impl SubscriptionListener for Printer {
//!     fn on_item_update(&mut self, update: &ItemUpdate) {
//!         println!("{:?} {:?}", update.item_name(), update.value_by_name("last_price"));
//!     }
//! }
//!
//! # async fn demo(client: Client) -> Result<(), tlcp_client::Error> {
//! let sub = client.subscribe(Subscription::merge(["item1"], ["last_price"])).await?;
//! let task = sub.spawn_listener(Printer); // runs until the subscription ends
//! # drop(task); Ok(()) }
//! ```

use futures_util::StreamExt;
use tlcp_proto::RealMaxFrequency;
use tlcp_proto::client::{ServerError, Status, SubscriptionError};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::events::{ConnectionEvent, SubscriptionEvent};
use crate::subscription::SubscriptionStream;
use crate::update::ItemUpdate;

/// Callbacks of a subscription, named after the official `SubscriptionListener`. Every
/// method does nothing by default.
#[allow(unused_variables)]
pub trait SubscriptionListener: Send + 'static {
    /// `onSubscription`: the server accepted the subscription.
    fn on_subscription(&mut self, items: usize, fields: usize) {}
    /// `onItemUpdate`.
    fn on_item_update(&mut self, update: &ItemUpdate) {}
    /// `onEndOfSnapshot`.
    fn on_end_of_snapshot(&mut self, item_name: Option<&str>, item_pos: usize) {}
    /// `onClearSnapshot`.
    fn on_clear_snapshot(&mut self, item_name: Option<&str>, item_pos: usize) {}
    /// `onItemLostUpdates`: the server dropped updates.
    fn on_item_lost_updates(&mut self, item_name: Option<&str>, item_pos: usize, lost: u64) {}
    /// This client dropped updates because the listener was behind.
    fn on_dropped_updates(&mut self, count: u64) {}
    /// This client dropped informational events (end of snapshot, `CONF`, ...) because
    /// the listener was behind and the server kept repeating them.
    fn on_dropped_events(&mut self, count: u64) {}
    /// `onRealMaxFrequency`.
    fn on_real_max_frequency(&mut self, frequency: RealMaxFrequency) {}
    /// `onSubscriptionError` (also for a failed second-level key, with the key).
    fn on_subscription_error(&mut self, error: &SubscriptionError, key: Option<&str>) {}
    /// The session ended; the subscription will be sent again.
    fn on_interrupted(&mut self) {}
    /// `onUnsubscription`.
    fn on_unsubscription(&mut self) {}
}

/// Callbacks of a client, named after the official `ClientListener`. Every method does
/// nothing by default.
#[allow(unused_variables)]
pub trait ClientListener: Send + 'static {
    /// `onStatusChange`.
    fn on_status_change(&mut self, status: Status) {}
    /// `onServerError`.
    fn on_server_error(&mut self, error: &ServerError) {}
    /// Any connection event (created, recovered, replaced, closed, ...), server errors
    /// included.
    fn on_connection_event(&mut self, event: &ConnectionEvent) {}
}

impl SubscriptionStream {
    /// Hands the events to `listener` in a task of its own, until the subscription ends
    /// (dropping the task's handle does not stop it; aborting it unsubscribes).
    pub fn spawn_listener(mut self, mut listener: impl SubscriptionListener) -> JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(event) = self.next().await {
                dispatch(&mut listener, event);
            }
        })
    }
}

fn dispatch(l: &mut impl SubscriptionListener, event: SubscriptionEvent) {
    match event {
        SubscriptionEvent::Subscribed { items, fields, .. } => l.on_subscription(items, fields),
        SubscriptionEvent::Update(u) => l.on_item_update(&u),
        SubscriptionEvent::EndOfSnapshot { item, item_name } => {
            l.on_end_of_snapshot(item_name.as_deref(), item);
        }
        SubscriptionEvent::ClearSnapshot { item, item_name } => {
            l.on_clear_snapshot(item_name.as_deref(), item);
        }
        SubscriptionEvent::LostUpdates {
            item,
            item_name,
            count,
            ..
        } => l.on_item_lost_updates(item_name.as_deref(), item, count),
        SubscriptionEvent::Dropped { count } => l.on_dropped_updates(count),
        SubscriptionEvent::EventsDropped { count } => l.on_dropped_events(count),
        SubscriptionEvent::RealMaxFrequency { frequency, .. } => {
            l.on_real_max_frequency(frequency);
        }
        SubscriptionEvent::Interrupted => l.on_interrupted(),
        SubscriptionEvent::SecondLevelError { key, error } => {
            l.on_subscription_error(&error, Some(&key));
        }
        SubscriptionEvent::Error(e) => l.on_subscription_error(&e, None),
        SubscriptionEvent::Unsubscribed => l.on_unsubscription(),
    }
}

impl Client {
    /// Hands status changes and connection events to `listener` in a task of its own,
    /// until the client's background task stops. The current status is reported first.
    pub fn add_listener(&self, mut listener: impl ClientListener) -> JoinHandle<()> {
        let mut status = self.status();
        let mut events = self.events();
        tokio::spawn(async move {
            listener.on_status_change(*status.borrow_and_update());
            loop {
                tokio::select! {
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let s = *status.borrow_and_update();
                        listener.on_status_change(s);
                    }
                    event = events.next() => {
                        let Some(event) = event else { return };
                        if let ConnectionEvent::ServerError(e) = &event {
                            listener.on_server_error(e);
                        }
                        listener.on_connection_event(&event);
                    }
                }
            }
        })
    }
}
