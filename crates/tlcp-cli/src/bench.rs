//! `tlcp bench`: the client benchmark, against the embedded server or any other.
//!
//! * Throughput (default): one subscription (of one item, or of each `--item` given);
//!   counts the updates the application reads and
//!   the bytes received for `--duration` seconds, then prints one JSON line
//!   (`"event":"bench"`) with the rates and the client's counters.
//! * `--subscriptions N`: N subscriptions of one item each (`<prefix>1..N`); prints the
//!   time until all are subscribed and the process's resident memory
//!   (`"event":"bench_subscriptions"`).
//!
//! The updates counted are those the application read (every value of each is read:
//! `value_bytes`): in DISTINCT mode a reader slower than the network drops updates
//! (counted in `stats.dropped_by_slow_consumers`), in MERGE mode they are conflated
//! (`stats.conflated`; `represented` counts the updates the states read stand for);
//! `stats.updates` counts all those received since the session started.
//!
//! Without `--server`, the demo server runs in process with `FEED` pushing as fast as the
//! client reads (throughput) or at its default pace (`--subscriptions`).

use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use tlcp_client::{Client, ForcedTransport, Mode, Stats, Subscription, SubscriptionEvent};
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};

use crate::Failure;
use crate::connect::{parse_secs, parse_transport};
use crate::output::jsonl::Line;

/// Subscription mode of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchMode {
    Merge,
    Distinct,
}

/// Options of `tlcp bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Server URL (default: start the demo server in process, FEED as fast as possible).
    #[arg(long)]
    server: Option<String>,
    /// Adapter Set to connect to.
    #[arg(long, default_value = "DEMO")]
    adapter_set: String,
    /// Data Adapter of the items.
    #[arg(long, default_value = "FEED")]
    data_adapter: String,
    /// The items of the one subscription (throughput mode; space- or comma-separated, or
    /// repeated). With the embedded server, each FEED item is pushed by its own task.
    #[arg(long, num_args = 1.., default_value = "bench1")]
    item: Vec<String>,
    /// Field names (space- or comma-separated, or repeated).
    #[arg(long, num_args = 1.., default_value = "ts seq f1 f2 f3 f4 f5 f6 f7 f8")]
    fields: Vec<String>,
    /// Subscription mode.
    #[arg(long, value_enum, default_value = "distinct")]
    mode: BenchMode,
    /// Seconds to measure (throughput mode).
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = parse_secs)]
    duration: f64,
    /// Open this many subscriptions of one item each (items `<item-prefix>1..N`), and
    /// report the time until all are subscribed and the process's resident memory (which
    /// includes the embedded server when there is no `--server`).
    #[arg(long, value_name = "N")]
    subscriptions: Option<usize>,
    /// Prefix of the item names with `--subscriptions`.
    #[arg(long, default_value = "item")]
    item_prefix: String,
    /// Forced transport: ws, http, ws-streaming, http-streaming, ws-polling, http-polling.
    #[arg(long, value_parser = parse_transport)]
    transport: Option<ForcedTransport>,
    /// Seconds to wait for the session (and, with `--subscriptions`, for all the
    /// subscriptions).
    #[arg(long, default_value_t = 30.0, value_name = "SECS", value_parser = parse_secs)]
    timeout: f64,
}

fn split(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split([',', ' ']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs the benchmark.
pub(crate) async fn run(args: BenchArgs) -> Result<(), Failure> {
    let fields = split(&args.fields);
    if fields.is_empty() {
        return Err(Failure::usage("--fields: give at least one field".into()));
    }
    if split(&args.item).is_empty() {
        return Err(Failure::usage("--item: give at least one item".into()));
    }
    if args.subscriptions == Some(0) {
        return Err(Failure::usage("--subscriptions: give at least 1".into()));
    }
    // The embedded server, unless a server is named (kept alive until the end).
    let (url, _server) = match &args.server {
        Some(url) => (url.clone(), None),
        None => {
            let rate = if args.subscriptions.is_some() {
                FeedConfig::default().rate
            } else {
                FeedRate::AsFastAsPossible
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Failure::usage(format!("cannot start the embedded server: {e}")))?;
            let demo = DemoConfig {
                feed: FeedConfig {
                    rate,
                    ..FeedConfig::default()
                },
                ..DemoConfig::default()
            };
            let server = tlcp_server::spawn(listener, Default::default(), demo_adapters(demo))
                .map_err(|e| Failure::usage(format!("cannot start the embedded server: {e}")))?;
            (server.url(), Some(server))
        }
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut builder = Client::builder(&url, &args.adapter_set);
    if let Some(t) = args.transport {
        builder = builder.forced_transport(t);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::usage(format!("--server {url:?}: {e}")))?;
    client.connect();
    match tokio::time::timeout(timeout, client.connected()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(Failure::connection(format!("cannot connect to {url}: {e}"))),
        Err(_) => {
            return Err(Failure::connection(format!(
                "cannot connect to {url}: no session within {:.0} s",
                args.timeout
            )));
        }
    }
    let server_label = args.server.as_deref().unwrap_or("embedded");
    let result = match args.subscriptions {
        Some(n) => subscriptions(&args, &client, &fields, n, server_label, timeout).await,
        None => throughput(&args, &client, &fields, server_label, timeout).await,
    };
    client.close().await;
    result
}

fn subscription(args: &BenchArgs, items: Vec<String>, fields: &[String]) -> Subscription {
    let sub = match args.mode {
        BenchMode::Merge => Subscription::merge(items, fields.iter().cloned()),
        BenchMode::Distinct => Subscription::distinct(items, fields.iter().cloned()),
    };
    sub.data_adapter(&args.data_adapter)
}

fn mode_name(mode: BenchMode) -> &'static str {
    match mode {
        BenchMode::Merge => Mode::Merge.as_str(),
        BenchMode::Distinct => Mode::Distinct.as_str(),
    }
}

/// How many events read without waiting go between two looks at the clock (throughput).
const DEADLINE_EVERY: u32 = 256;

/// One subscription; updates and bytes over `--duration`.
async fn throughput(
    args: &BenchArgs,
    client: &Client,
    fields: &[String],
    server: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut stream = client
        .subscribe(subscription(args, split(&args.item), fields))
        .await
        .map_err(|e| Failure::usage(format!("cannot subscribe: {e}")))?;
    wait_subscribed(&mut stream, timeout).await?;

    let start_stats = client.stats();
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.duration);
    let (mut updates, mut represented, mut value_bytes) = (0u64, 0u64, 0u64);
    let mut ready = 0u32;
    loop {
        // An event already waiting is taken without arming a timer (a timer per event was
        // a tenth of the reader's instructions); the deadline is then read every
        // `DEADLINE_EVERY` such events, and a timer waits only when nothing is waiting.
        let next = match stream.next().now_or_never() {
            Some(next) => {
                ready += 1;
                if ready.is_multiple_of(DEADLINE_EVERY) && tokio::time::Instant::now() >= deadline {
                    break;
                }
                next
            }
            None => match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => break,
                Ok(next) => next,
            },
        };
        match next {
            Some(SubscriptionEvent::Update(u)) => {
                updates += 1;
                // MERGE: a reader behind gets the latest state, standing for the
                // updates folded into it.
                represented += 1 + u.skipped();
                let mut bytes = 0;
                for v in u.values() {
                    bytes += v.map_or(0, str::len);
                }
                value_bytes += bytes as u64;
            }
            Some(event) if event.is_terminal() => {
                return Err(Failure::connection(format!(
                    "the subscription ended: {event:?}"
                )));
            }
            Some(_) => {}
            None => return Err(Failure::connection("the client stopped".into())),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let stats = client.stats();
    let bytes = stats.bytes.saturating_sub(start_stats.bytes);
    let line = Line::event("bench")
        .str("mode", mode_name(args.mode))
        .str("server", server)
        .str("item", &split(&args.item).join(" "))
        .num("fields", fields.len())
        .num("updates", updates)
        .num("seconds", round3(seconds))
        .num("updates_per_sec", round3(updates as f64 / seconds))
        .num("represented", represented)
        .num("value_bytes", value_bytes)
        .num("bytes", bytes)
        .num("bytes_per_sec", round3(bytes as f64 / seconds))
        .num("mb_per_sec", round3(bytes as f64 / seconds / 1e6))
        .raw("stats", &stats_json(&stats))
        .finish();
    println!("{line}");
    Ok(())
}

/// N subscriptions of one item each; the time until all are subscribed, and the RSS.
async fn subscriptions(
    args: &BenchArgs,
    client: &Client,
    fields: &[String],
    n: usize,
    server: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    let start = Instant::now();
    let mut streams = Vec::with_capacity(n);
    for i in 1..=n {
        let item = format!("{}{i}", args.item_prefix);
        let stream = client
            .subscribe(subscription(args, vec![item], fields))
            .await
            .map_err(|e| Failure::usage(format!("cannot subscribe: {e}")))?;
        streams.push(stream);
    }
    let deadline = Instant::now() + timeout;
    for stream in &mut streams {
        let left = deadline.saturating_duration_since(Instant::now());
        wait_subscribed(stream, left).await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let line = Line::event("bench_subscriptions")
        .str("mode", mode_name(args.mode))
        .str("server", server)
        .num("count", n)
        .num("seconds", round3(seconds))
        .num("subscriptions_per_sec", round3(n as f64 / seconds))
        .raw(
            "rss_mb",
            &rss_mb().map_or("null".to_owned(), |mb| round3(mb).to_string()),
        )
        .raw("stats", &stats_json(&client.stats()))
        .finish();
    println!("{line}");
    drop(streams);
    Ok(())
}

/// Reads the stream until its `Subscribed` event.
async fn wait_subscribed(
    stream: &mut tlcp_client::SubscriptionStream,
    timeout: Duration,
) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return Err(Failure::connection(format!(
                    "not subscribed within {:.0} s",
                    timeout.as_secs_f64()
                )));
            }
            Ok(Some(SubscriptionEvent::Subscribed { .. })) => return Ok(()),
            Ok(Some(SubscriptionEvent::Error(e))) => {
                return Err(Failure::usage(format!("subscription refused: {e:?}")));
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(Failure::connection("the client stopped".into())),
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The client's counters, as a JSON object.
fn stats_json(s: &Stats) -> String {
    let pairs = [
        ("updates", s.updates),
        ("bytes", s.bytes),
        ("chunks", s.chunks),
        ("sessions", s.sessions),
        ("reconnects", s.reconnects),
        ("recoveries", s.recoveries),
        ("lost_updates", s.lost_updates),
        ("dropped_by_slow_consumers", s.dropped_by_slow_consumers),
        ("conflated", s.conflated),
        ("backpressure_pauses", s.backpressure_pauses),
        ("messages", s.messages),
    ];
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// The resident set size of this process in MB (`VmRSS` of `/proc/self/status`), where
/// there is one.
fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
