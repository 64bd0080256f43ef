//! Loopback round trip over a TLCP WebSocket, with the stream connection read in
//! [`ReadMode::Async`] and in [`ReadMode::BusyPoll`].
//!
//! The in-process `tlcp-server` runs on a thread (and runtime) of its own; the client runs
//! on a current-thread runtime on the main thread. Each round trip sends a `heartbeat`
//! request with a request id and waits for its `REQOK`. Two figures per mode:
//!
//! - *read*: from just before the send to the `received_at` instant of the chunk (taken
//!   by the socket wrapper right after the read returned);
//! - *app*: from just before the send to the moment `next_chunk` returned to the caller.
//!
//! ```sh
//! cargo run --release -p tlcp-client --example busy_poll_rtt [-- <round trips>]
//! ```

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tlcp_client::transport::{
    FrameSource, ReadMode, ServerAddress, Transport, TransportConfig, WsConnection,
};
use tlcp_proto::ProtocolVersion;

const WARMUP: usize = 1_000;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(20_000, |n| n.parse().expect("round trips: a number"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let server = tlcp_server::spawn(
                listener,
                tlcp_server::ServerConfig::default(),
                tlcp_server::demo::demo_adapters(Default::default()),
            )
            .unwrap();
            tx.send(server.local_addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = rx.recv().unwrap();
    let server: ServerAddress = format!("http://{addr}").parse().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{rounds} round trips per mode (after {WARMUP} warm-up), loopback, microseconds");
    println!(
        "{:<10} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "mode", "what", "mean", "p50", "p90", "p99", "p99.9"
    );
    for mode in [
        ReadMode::Async,
        ReadMode::BusyPoll,
        ReadMode::Async,
        ReadMode::BusyPoll,
    ] {
        let (read, app) = rt.block_on(run(&server, mode, rounds));
        report(mode, "read", read);
        report(mode, "app", app);
    }
}

async fn run(
    server: &ServerAddress,
    mode: ReadMode,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let t = Transport::new(TransportConfig::default().with_read_mode(mode)).unwrap();
    let mut ws = t
        .connect_ws(server, ProtocolVersion::V2_5_0, true)
        .await
        .unwrap();
    ws.send_text("wsok").await.unwrap();
    ws.send_text(
        "create_session\r\nLS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_adapter_set=DEMO&LS_send_sync=false&LS_keepalive_millis=60000",
    )
    .await
    .unwrap();
    wait_for(&mut ws, "CONOK,").await;
    let mut read = Vec::with_capacity(rounds);
    let mut app = Vec::with_capacity(rounds);
    for i in 0..WARMUP + rounds {
        let req = format!("heartbeat\r\nLS_reqId={i}");
        let expect = format!("REQOK,{i}\r\n");
        let sent = Instant::now();
        ws.send_text(&req).await.unwrap();
        loop {
            let c = ws.next_chunk().await.unwrap().expect("stream open");
            let done = Instant::now();
            if c.data.windows(expect.len()).any(|w| w == expect.as_bytes()) {
                if i >= WARMUP {
                    read.push(c.received_at.saturating_duration_since(sent));
                    app.push(done - sent);
                }
                break;
            }
        }
    }
    let _ = ws.close().await;
    (read, app)
}

async fn wait_for(ws: &mut WsConnection, prefix: &str) {
    loop {
        let c = ws.next_chunk().await.unwrap().expect("stream open");
        if String::from_utf8_lossy(c.data)
            .lines()
            .any(|l| l.starts_with(prefix))
        {
            return;
        }
    }
}

fn report(mode: ReadMode, what: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let pct = |p: f64| us(v[((v.len() as f64 * p) as usize).min(v.len() - 1)]);
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{:<10} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        format!("{mode:?}"),
        what,
        mean,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999)
    );
}
