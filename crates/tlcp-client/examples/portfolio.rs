//! A two-level COMMAND subscription: the demo portfolio `portfolio1` (rows by stock, with
//! `qty`), extended with `stock_name` and `last_price` from a second-level MERGE
//! subscription to each stock on `STOCKS`. `BUY`/`SELL` messages add, update and delete
//! rows; the ADD/UPDATE/DELETE events are printed with the second-level price.
//!
//! Starts the demo server in process unless `--server URL` or `TLCP_SERVER` names one:
//!
//! ```sh
//! cargo run -p tlcp-client --example portfolio [-- --server http://127.0.0.1:8080]
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use tlcp_client::{Client, Command, ItemUpdate, Subscription, SubscriptionEvent};

mod common;

fn print_row(u: &ItemUpdate) {
    println!(
        "{:<6} key={:<7} qty={:<4} stock_name={:<10} last_price={}",
        u.command().map_or("?", Command::as_str),
        u.key().unwrap_or("?"),
        u.value_by_name("qty").unwrap_or("-"),
        u.value_by_name("stock_name").unwrap_or("-"),
        u.value_by_name("last_price").unwrap_or("-"),
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = common::server().await?;
    let client = Client::builder(&url, "DEMO").build()?;
    client.connect();
    tokio::time::timeout(Duration::from_secs(5), client.connected()).await??;

    let subscription = Subscription::command(["portfolio1"], ["key", "command", "qty"])
        .data_adapter("PORTFOLIO")
        .second_level_fields(["stock_name", "last_price"], Some("STOCKS"));
    let mut rows = client.subscribe(subscription).await?;

    // The trades, sent in one sequence so that they are processed in order.
    let trades = [
        "BUY|item3|10",
        "BUY|item7|20",
        "BUY|item3|5",
        "SELL|item7|20",
    ];
    let sender = client.clone();
    let trading = tokio::spawn(async move {
        for trade in trades {
            let outcome = sender.send_message(trade).sequence("trades").await;
            println!("sent {trade}: {outcome:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });

    // Print rows until item7 was deleted and a few price updates of item3 came.
    let (mut deleted, mut prices) = (false, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while !(deleted && prices >= 3) {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, rows.next()).await else {
            break;
        };
        match event {
            SubscriptionEvent::Update(u) => {
                print_row(&u);
                if u.command() == Some(Command::Delete) && u.key() == Some("item7") {
                    deleted = true;
                }
                if u.key() == Some("item3") && u.is_changed_by_name("last_price") {
                    prices += 1;
                }
            }
            SubscriptionEvent::SecondLevelError { key, error } => {
                println!("second level of {key} failed: {error:?}");
            }
            other if other.is_terminal() => {
                println!("subscription ended: {other:?}");
                break;
            }
            _ => {}
        }
    }
    trading.await?;
    // Leave the demo portfolio as it was.
    let _ = client
        .send_message("SELL|item3|15")
        .sequence("trades")
        .await;
    println!("done: item7 deleted: {deleted}, item3 price updates: {prices}");
    client.close().await;
    Ok(())
}
