//! The driver runs on a current-thread runtime as well as a multi-thread one; the
//! callback layer; and the end of everything when the handles are dropped.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tlcp_client::{
    ClientListener, ConnectionEvent, ItemUpdate, MessageOutcome, Status, Subscription,
    SubscriptionListener,
};

async fn round_trip() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let mut sub = client
        .subscribe(
            Subscription::merge(["item1", "item2", "item3"], ["last_price"]).data_adapter("STOCKS"),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        next_update(&mut sub, "an update").await;
    }
    let echo = client.send_message("ECHO|rt").await.unwrap();
    assert_eq!(
        echo,
        MessageOutcome::Processed {
            response: Some("rt".into())
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_runtime() {
    round_trip().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_runtime() {
    round_trip().await;
}

/// A plain `Runtime` built by hand, driven from a non-async test.
#[test]
fn hand_built_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(round_trip());
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn has(&self, s: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l == s)
    }
}

impl ClientListener for Log {
    fn on_status_change(&mut self, status: Status) {
        self.push(status.to_string());
    }
    fn on_connection_event(&mut self, event: &ConnectionEvent) {
        if let ConnectionEvent::SessionCreated { .. } = event {
            self.push("created".into());
        }
    }
}

impl SubscriptionListener for Log {
    fn on_subscription(&mut self, items: usize, fields: usize) {
        self.push(format!("subscribed {items}x{fields}"));
    }
    fn on_item_update(&mut self, update: &ItemUpdate) {
        if update.is_snapshot() {
            self.push(format!("snapshot {}", update.item_name().unwrap_or("?")));
        }
    }
    fn on_unsubscription(&mut self) {
        self.push("unsubscribed".into());
    }
}

#[tokio::test]
async fn listeners_get_the_events() {
    let (server, _) = start().await;
    let log = Log::default();
    let client = tlcp_client::Client::builder(&server.url(), "DEMO")
        .build()
        .unwrap();
    client.add_listener(log.clone());
    client.connect();
    let sub = client
        .subscribe(Subscription::merge(["item1"], ["last_price"]).data_adapter("STOCKS"))
        .await
        .unwrap();
    let id = sub.id();
    let task = sub.spawn_listener(log.clone());
    within("the listener's events", async {
        while !(log.has("snapshot item1")
            && log.has("created")
            && log.has("CONNECTED:WS-STREAMING"))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(log.has("subscribed 1x1"));
    assert!(log.has("CONNECTING"));
    // Aborting the listener task drops the stream, which unsubscribes.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let _ = id;
}

/// Dropping every handle destroys the session on the server.
#[tokio::test]
async fn dropping_the_last_handle_destroys_the_session() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    assert_eq!(server.session_count(), 1);
    drop(client);
    within("the destroy", async {
        while server.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
