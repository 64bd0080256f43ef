//! Quickstart: connect, subscribe to stock quotes in MERGE mode, print a few updates.
//!
//! Starts the demo server in process unless `--server URL` or `TLCP_SERVER` names one
//! (with the demo adapters, Adapter Set `DEMO`):
//!
//! ```sh
//! cargo run -p tlcp-client --example quickstart [-- --server http://127.0.0.1:8080]
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use tlcp_client::{Client, Subscription, SubscriptionEvent};

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = common::server().await?;

    let client = Client::builder(&url, "DEMO").build()?;
    client.connect();
    let status = tokio::time::timeout(Duration::from_secs(5), client.connected()).await??;
    println!("status: {status}");

    let subscription = Subscription::merge(
        ["item1", "item2", "item3"],
        ["stock_name", "last_price", "time"],
    )
    .data_adapter("STOCKS");
    let mut quotes = client.subscribe(subscription).await?;

    let mut printed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while printed < 6 {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, quotes.next()).await else {
            break;
        };
        match event {
            SubscriptionEvent::Subscribed { items, fields, .. } => {
                println!("subscribed: {items} items, {fields} fields");
            }
            SubscriptionEvent::Update(u) => {
                println!(
                    "quote {:<18} {:>8} at {} (snapshot: {})",
                    u.value_by_name("stock_name").unwrap_or("?"),
                    u.value_by_name("last_price").unwrap_or("-"),
                    u.value_by_name("time").unwrap_or("-"),
                    u.is_snapshot(),
                );
                printed += 1;
            }
            other if other.is_terminal() => {
                println!("subscription ended: {other:?}");
                break;
            }
            _ => {}
        }
    }
    let stats = client.stats();
    println!("done: {printed} quotes, {} bytes received", stats.bytes);
    client.close().await;
    Ok(())
}
