//! Bridge throughput: updates per second from tlcp-server (in process, `FEED` as fast as
//! the readers take it) through [`bridge::run`] into a NATS subscriber.
//!
//! ```text
//! nats-server -a 127.0.0.1 -p 4222 &
//! cargo run --release -p tlcp-ruststream --example bridge_throughput -- nats://127.0.0.1:4222 10 4 max
//! ```
//!
//! Arguments: the NATS URL, the seconds to measure (after a 1 s warm-up), the number of
//! FEED items and their rate: `max` (as fast as the bridge reads: its saturation, with the
//! client dropping what the bridge cannot take) or updates per second per item. Prints one JSON line: what the bridge received and published per second,
//! what the NATS subscriber received per second, the lag of the last update and the losses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tlcp_ruststream::bridge::{self, BridgeConfig};
use tlcp_ruststream::{LsConfig, LsSource};
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let nats_url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let secs: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10.0);
    let items: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
    let rate = match args.next().as_deref() {
        None | Some("max") => FeedRate::AsFastAsPossible,
        Some(n) => FeedRate::PerSecond(n.parse()?),
    };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let adapters = tlcp_server::demo::demo_adapters(DemoConfig {
        feed: FeedConfig {
            rate,
            ..FeedConfig::default()
        },
        ..DemoConfig::default()
    });
    let server = tlcp_server::spawn(listener, Default::default(), adapters)?;

    // The counting subscriber, subscribed before the bridge starts.
    let nats = async_nats::connect(nats_url.as_str()).await?;
    let mut sub = nats.subscribe("bench.>").await?;
    nats.flush().await?;
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while sub.next().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    let names: Vec<String> = (1..=items).map(|i| format!("bench{i}")).collect();
    let fields = ["ts", "seq", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];
    let source = LsSource::distinct(names, fields)
        .data_adapter("FEED")
        .snapshot(false);
    let mut config = BridgeConfig::new(
        LsConfig::new(server.url(), "DEMO"),
        source,
        nats_url,
        "bench",
    );
    config.report_every = None;
    let counters = config.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bridge = tokio::spawn(bridge::run(config, async move {
        let _ = stopped.await;
    }));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let (t0, c0, s0) = (
        Instant::now(),
        counters.snapshot(),
        seen.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let (t1, c1, s1) = (
        Instant::now(),
        counters.snapshot(),
        seen.load(Ordering::Relaxed),
    );
    let _ = stop.send(());
    let _ = bridge.await?;
    let elapsed = t1.duration_since(t0).as_secs_f64();
    let per_sec = |a: u64, b: u64| ((b - a) as f64 / elapsed).round();
    println!(
        "{}",
        serde_json::json!({
            "items": items,
            "rate": format!("{rate:?}"),
            "seconds": (elapsed * 100.0).round() / 100.0,
            "bridge_received_per_s": per_sec(c0.received, c1.received),
            "bridge_published_per_s": per_sec(c0.published, c1.published),
            "subscriber_received_per_s": per_sec(s0, s1),
            "last_lag_ms": c1.last_lag_us as f64 / 1000.0,
            "dropped_by_client": c1.dropped_by_client,
            "publish_errors": c1.publish_errors,
        })
    );
    Ok(())
}
