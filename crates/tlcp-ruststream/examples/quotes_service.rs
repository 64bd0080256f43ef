//! A RustStream service whose `#[subscriber]` handler reads a Lightstreamer item: stock
//! quotes from the demo `STOCKS` adapter, decoded from the JSON object of the item's fields.
//!
//! ```text
//! cargo run -p tlcp-ruststream --example quotes_service            # embedded demo server
//! cargo run -p tlcp-ruststream --example quotes_service -- http://127.0.0.1:8080 10
//! ```
//!
//! Arguments: the server URL (default: a demo server started in process), and how many
//! quotes to print before stopping (default 5). `cargo test --example quotes_service` runs
//! it against the embedded server.

use std::sync::atomic::{AtomicU64, Ordering};

use ruststream::prelude::*;
use serde::Deserialize;
use tlcp_ruststream::{LsBroker, LsConfig, LsSource};
use tokio::sync::Notify;

/// The fields the subscription asks for, as the JSON payload carries them.
#[derive(Debug, Deserialize)]
struct Quote {
    stock_name: String,
    last_price: String,
    time: String,
}

/// Quotes handled so far, and the signal to stop once there are enough.
static HANDLED: AtomicU64 = AtomicU64::new(0);
static ENOUGH: Notify = Notify::const_new();
static LIMIT: AtomicU64 = AtomicU64::new(5);

#[subscriber(
    LsSource::merge(["item1", "item2", "item3"], ["stock_name", "last_price", "time"])
        .data_adapter("STOCKS")
        .snapshot(true)
)]
async fn quote(q: &Quote) -> HandlerOutcome {
    println!("{} {} at {}", q.time, q.stock_name, q.last_price);
    if HANDLED.fetch_add(1, Ordering::Relaxed) + 1 >= LIMIT.load(Ordering::Relaxed) {
        ENOUGH.notify_one();
    }
    // Lightstreamer has nothing to acknowledge: the broker answers "unsupported", which the
    // runtime takes as settled.
    HandlerOutcome::ack()
}

fn app(url: String) -> RustStream {
    RustStream::new(AppInfo::new("quotes", "0.1.0")).with_broker(
        LsBroker::new(LsConfig::new(url, "DEMO")),
        |b| {
            b.include(quote);
        },
    )
}

/// A demo server in process, on a free loopback port.
async fn embedded() -> Result<tlcp_server::ServerHandle, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let adapters = tlcp_server::demo::demo_adapters(tlcp_server::demo::DemoConfig {
        stocks_time_scale: 0.1,
        ..Default::default()
    });
    Ok(tlcp_server::spawn(listener, Default::default(), adapters)?)
}

/// Runs the service until `limit` quotes were handled.
async fn run(url: String, limit: u64) -> Result<(), Box<dyn std::error::Error>> {
    LIMIT.store(limit, Ordering::Relaxed);
    app(url).run_until(ENOUGH.notified()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next();
    let limit = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5);
    match url {
        Some(url) => run(url, limit).await,
        None => {
            let server = embedded().await?;
            run(server.url(), limit).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_handles_quotes_from_the_embedded_server() {
        let server = embedded().await.expect("server");
        tokio::time::timeout(std::time::Duration::from_secs(30), run(server.url(), 4))
            .await
            .expect("4 quotes within 30 s")
            .expect("the service ran");
        assert!(HANDLED.load(Ordering::Relaxed) >= 4);
    }
}
