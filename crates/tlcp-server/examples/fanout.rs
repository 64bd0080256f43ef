//! Fan-out latency: N WebSocket sessions, each subscribed to the same 10 FEED items
//! (MERGE) at R updates/s per item, so N x 10 x R updates/s in total. Every update carries
//! its push time (`ts`, ns since the epoch); each receiving task records receive - push.
//!
//! `cargo run --release -p tlcp-server --example fanout -- [sessions] [rate] [seconds]
//! [spread]` (defaults 1000 10 10). The 10 items start together and tick together (each
//! tick a burst to every session); with `spread`, they start a tenth of a period apart.
//! Server and clients share this process and its 2 cores, so the delays include the
//! clients' own scheduling. The server's own part, from the push to the end of the socket
//! write, comes from `ServerHandle::write_delays` and is printed after.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tlcp_server::ServerConfig;
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[path = "../benches/support/feed_session.rs"]
mod feed_session;

use feed_session::open;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (sessions, rate, secs) = (arg(1, 1000) as usize, arg(2, 10), arg(3, 10));
    let spread = std::env::args().nth(4).is_some_and(|a| a == "spread");
    let demo = DemoConfig {
        feed: FeedConfig {
            rate: FeedRate::PerSecond(rate as f64),
            ..FeedConfig::default()
        },
        ..DemoConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server =
        tlcp_server::spawn(listener, ServerConfig::default(), demo_adapters(demo)).expect("spawn");
    let addr = server.local_addr();
    // `spread`: the items are started one by one, a tenth of a period apart, so that they
    // tick out of phase (as a market's instruments do) instead of together; the sessions
    // that start them read and drop what they get.
    if spread {
        for k in 0..10 {
            let mut ws = open(addr, "MERGE", &format!("f{k}")).await;
            tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
            tokio::time::sleep(Duration::from_secs_f64(0.1 / rate as f64)).await;
        }
    }
    let delays: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::with_capacity(
        sessions * 10 * rate as usize * secs as usize,
    )));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    let t0 = std::time::Instant::now();
    for _ in 0..sessions {
        let (delays, measuring) = (delays.clone(), measuring.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = open(
                addr,
                "MERGE",
                "f0%20f1%20f2%20f3%20f4%20f5%20f6%20f7%20f8%20f9",
            )
            .await;
            let mut local = Vec::new();
            // Each item's row, decoded as a client does (`^T` diffs included).
            let mut rows: Vec<tlcp_proto::Row> =
                (0..10).map(|_| tlcp_proto::Row::new(10)).collect();
            let mut changed = tlcp_proto::ChangedFields::new();
            while let Some(Ok(msg)) = ws.next().await {
                let Some(text) = msg.as_text() else { continue };
                let at = now_ns();
                if text.contains("END,") {
                    break;
                }
                if !measuring.load(std::sync::atomic::Ordering::Relaxed) && !local.is_empty() {
                    break;
                }
                for line in text.split("\r\n") {
                    let Some(rest) = line.strip_prefix("U,1,") else {
                        continue;
                    };
                    let Some((item, values)) = rest.split_once(',') else {
                        continue;
                    };
                    let Some(row) = item
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| rows.get_mut(i.wrapping_sub(1)))
                    else {
                        continue;
                    };
                    if row.apply(values, &mut changed).is_err() {
                        continue;
                    }
                    if measuring.load(std::sync::atomic::Ordering::Relaxed)
                        && let Some(ts) = row.get(0).and_then(|t| t.parse::<u64>().ok())
                    {
                        local.push(at.saturating_sub(ts));
                    }
                }
                if local.len() >= 1_000_000 {
                    break;
                }
            }
            delays.lock().expect("lock").extend(local);
        }));
    }
    // Warm up until everyone is connected, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "connected {} sessions in ~{:?}; server sessions: {}",
        sessions,
        t0.elapsed(),
        server.session_count()
    );
    measuring.store(true, std::sync::atomic::Ordering::Relaxed);
    let before = server.write_delays();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    let written = server.write_delays().since(&before);
    server.close_sessions(31, "bench over");
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::future::join_all(tasks),
    )
    .await;
    let mut d = delays.lock().expect("lock").clone();
    d.sort_unstable();
    let pct = |p: f64| {
        d.get(((d.len() as f64 * p) as usize).min(d.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1e3
    };
    println!(
        "{} updates in {secs} s = {:.0} updates/s; push->receive delay: p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
        d.len(),
        d.len() as f64 / secs as f64,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    let us = |q: f64| written.quantile(q).as_micros();
    println!(
        "server side, push->socket write (each line at its write's oldest): {} lines, p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        written.count(),
        us(0.5),
        us(0.99),
        us(0.999),
        written.quantile(1.0).as_micros()
    );
}
