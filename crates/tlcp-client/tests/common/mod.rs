//! Helpers for the client's integration tests: an in-process server (the demo adapters,
//! plus a `TEST` adapter set whose `DEFAULT` data adapter the test drives by hand), and
//! small waiting helpers that fail with context instead of hanging.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tlcp_client::{Client, ConnectionEvent, Status, SubscriptionEvent};
use tlcp_server::{
    AdapterSet, DataAdapter, ItemFeed, LiteralMetadata, Refusal, ServerConfig, ServerHandle,
};

/// The longest any single wait may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A data adapter whose feeds the test drives by hand.
#[derive(Default, Clone)]
pub struct Manual {
    feeds: Arc<Mutex<Vec<(String, ItemFeed)>>>,
}

impl DataAdapter for Manual {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        if item.starts_with("bad") {
            return Err(Refusal::new(-7, "item refused by the test adapter"));
        }
        self.feeds.lock().unwrap().push((item.to_owned(), feed));
        Ok(())
    }

    fn unsubscribe(&self, _item: &str) {}
}

impl Manual {
    /// The feed of `item`, once some client subscribed to it.
    pub async fn feed(&self, item: &str) -> ItemFeed {
        for _ in 0..2000 {
            if let Some((_, f)) = self
                .feeds
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|(i, _)| i == item)
            {
                return f.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("item {item} was never subscribed");
    }
}

/// An update of the test adapter.
pub fn update(fields: &[(&str, &str)]) -> tlcp_server::Update {
    let mut u = tlcp_server::Update::new();
    for (k, v) in fields {
        u.set(k, v);
    }
    u
}

/// A server on a loopback port with the demo adapters (`DEMO`) plus the `TEST` set.
pub async fn start() -> (ServerHandle, Manual) {
    start_with(ServerConfig::default()).await
}

/// The same, with a configuration.
pub async fn start_with(config: ServerConfig) -> (ServerHandle, Manual) {
    let manual = Manual::default();
    let adapters = tlcp_server::demo::demo_adapters(Default::default()).with_set(
        "TEST",
        AdapterSet::new(LiteralMetadata).with_data_adapter("DEFAULT", manual.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        tlcp_server::spawn(listener, config, adapters).unwrap(),
        manual,
    )
}

/// Waits for `fut`, failing the test after [`TIMEOUT`] with `what`.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The next event of a stream, within [`TIMEOUT`].
pub async fn next<S: Stream + Unpin>(stream: &mut S, what: &str) -> S::Item {
    within(what, stream.next())
        .await
        .unwrap_or_else(|| panic!("stream ended waiting for {what}"))
}

/// The next update of a subscription (other events are skipped).
pub async fn next_update(
    sub: &mut tlcp_client::SubscriptionStream,
    what: &str,
) -> tlcp_client::ItemUpdate {
    loop {
        match next(sub, what).await {
            SubscriptionEvent::Update(u) => return u,
            SubscriptionEvent::Error(e) => panic!("subscription failed waiting for {what}: {e:?}"),
            _ => {}
        }
    }
}

/// Waits for the first event matching `f` in a subscription.
pub async fn wait_sub<T>(
    sub: &mut tlcp_client::SubscriptionStream,
    what: &str,
    mut f: impl FnMut(&SubscriptionEvent) -> Option<T>,
) -> T {
    loop {
        let e = next(sub, what).await;
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

/// Waits for the first connection event matching `f`.
pub async fn wait_event<T>(
    events: &mut tlcp_client::ConnectionEvents,
    what: &str,
    mut f: impl FnMut(&ConnectionEvent) -> Option<T>,
) -> T {
    loop {
        let e = next(events, what).await;
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

/// Waits until the status is `want`.
pub async fn wait_status(client: &Client, want: Status) {
    let mut s = client.status();
    within(&format!("status {want}"), s.wait_for(|s| *s == want))
        .await
        .unwrap();
}

/// A connected client of `server`, on `adapter_set`, built by `f`.
pub async fn connect(
    server: &ServerHandle,
    adapter_set: &str,
    f: impl FnOnce(tlcp_client::ClientBuilder) -> tlcp_client::ClientBuilder,
) -> Client {
    let client = f(Client::builder(&server.url(), adapter_set))
        .build()
        .unwrap();
    client.connect();
    within("connection", client.connected()).await.unwrap();
    client
}

/// Drains a subscription's events for a moment, returning them.
pub async fn drain_for(
    sub: &mut tlcp_client::SubscriptionStream,
    d: Duration,
) -> Vec<SubscriptionEvent> {
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + d;
    while let Ok(Some(e)) = tokio::time::timeout_at(end, sub.next()).await {
        out.push(e);
    }
    out
}
