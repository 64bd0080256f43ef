//! Quick measurement: how many FEED updates/s one WS session receives from an
//! in-process server (the reader only splits lines). `cargo run --release -p tlcp-server
//! --example feed_rate -- [seconds] [MERGE|DISTINCT] [batch] [items]` (items: FEED items
//! of the one subscription, each pushed by its own task; 1 by default).

use std::time::{Duration, Instant};

use futures_util::StreamExt;

#[path = "../benches/support/feed_session.rs"]
mod feed_session;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mode = std::env::args().nth(2).unwrap_or_else(|| "DISTINCT".into());
    let batch = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let items = std::env::args()
        .nth(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let (_server, mut ws) = feed_session::session_items(&mode, batch, items).await;
    let start = Instant::now();
    let mut lines = 0u64;
    let mut bytes = 0u64;
    let mut frames = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let Some(Ok(m)) = ws.next().await else { break };
        if let Some(t) = m.as_text() {
            frames += 1;
            bytes += t.len() as u64;
            lines += memchr::memchr_iter(b'\n', t.as_bytes()).count() as u64;
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{mode}, {items} item(s): {:.2} M lines/s, {:.0} MB/s, {:.0} bytes/frame, {:.1} bytes/line",
        lines as f64 / el / 1e6,
        bytes as f64 / el / 1e6,
        bytes as f64 / frames as f64,
        bytes as f64 / lines as f64
    );
}
