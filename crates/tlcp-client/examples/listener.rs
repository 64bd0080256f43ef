//! Callbacks in the style of the official SDKs: a `ClientListener` for status changes
//! and connection events, a `SubscriptionListener` for a subscription's updates. (The
//! streams are the main API; listeners are a thin layer over them.)
//!
//! Starts the demo server in process unless `--server URL` or `TLCP_SERVER` names one:
//!
//! ```sh
//! cargo run -p tlcp-client --example listener [-- --server http://127.0.0.1:8080]
//! ```

use std::time::Duration;

use tlcp_client::{
    Client, ClientListener, ConnectionEvent, ItemUpdate, Status, Subscription, SubscriptionListener,
};
use tokio::sync::mpsc;

mod common;

/// Prints the status changes and connection events.
struct ConnectionPrinter;

impl ClientListener for ConnectionPrinter {
    fn on_status_change(&mut self, status: Status) {
        println!("[client] status: {status}");
    }

    fn on_connection_event(&mut self, event: &ConnectionEvent) {
        println!("[client] event: {event:?}");
    }
}

/// Prints the quotes, and says when it has seen enough.
struct QuotePrinter {
    seen: usize,
    done: mpsc::UnboundedSender<usize>,
}

impl SubscriptionListener for QuotePrinter {
    fn on_subscription(&mut self, items: usize, fields: usize) {
        println!("[quotes] subscribed: {items} items, {fields} fields");
    }

    fn on_item_update(&mut self, update: &ItemUpdate) {
        println!(
            "[quotes] {} {}",
            update.value_by_name("stock_name").unwrap_or("?"),
            update.value_by_name("last_price").unwrap_or("-"),
        );
        self.seen += 1;
        if self.seen == 5 {
            let _ = self.done.send(self.seen);
        }
    }

    fn on_end_of_snapshot(&mut self, item_name: Option<&str>, _item_pos: usize) {
        println!("[quotes] end of snapshot of {}", item_name.unwrap_or("?"));
    }

    fn on_unsubscription(&mut self) {
        println!("[quotes] unsubscribed");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = common::server().await?;
    let client = Client::builder(&url, "DEMO").build()?;
    let connection = client.add_listener(ConnectionPrinter);
    client.connect();

    let (done, mut finished) = mpsc::unbounded_channel();
    let quotes = client
        .subscribe(
            Subscription::distinct(["item2", "item4"], ["stock_name", "last_price"])
                .data_adapter("STOCKS"),
        )
        .await?
        .spawn_listener(QuotePrinter { seen: 0, done });

    match tokio::time::timeout(Duration::from_secs(8), finished.recv()).await {
        Ok(Some(n)) => println!("done: {n} updates through the listener"),
        _ => println!("done: timed out waiting for updates"),
    }
    // Aborting the listener's task drops its stream, which unsubscribes.
    quotes.abort();
    client.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    connection.abort();
    Ok(())
}
