//! Quick measurement: how many FEED updates/s one WS session receives from an
//! in-process server (the reader only splits lines). `cargo run --release -p tlcp-server
//! --example feed_rate -- [seconds] [MERGE|DISTINCT]`

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tlcp_server::ServerConfig;
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mode = std::env::args().nth(2).unwrap_or_else(|| "DISTINCT".into());
    let demo = DemoConfig {
        feed: FeedConfig {
            rate: FeedRate::AsFastAsPossible,
            batch: std::env::args()
                .nth(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or(64),
            ..FeedConfig::default()
        },
        ..DemoConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server =
        tlcp_server::spawn(listener, ServerConfig::default(), demo_adapters(demo)).expect("spawn");
    let uri: http::Uri = format!("ws://{}/lightstreamer", server.local_addr())
        .parse()
        .expect("uri");
    let (mut ws, _) = tokio_websockets::ClientBuilder::from_uri(uri)
        .add_header(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static("TLCP-2.5.0.lightstreamer.com"),
        )
        .expect("header")
        .connect()
        .await
        .expect("connect");
    let send = |s: String| tokio_websockets::Message::text(s);
    ws.send(send(
        "create_session\r\nLS_adapter_set=DEMO&LS_cid=x&LS_send_sync=false".into(),
    ))
    .await
    .expect("send");
    ws.send(send(format!("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode={mode}&LS_group=bench&LS_schema=ts%20seq%20f1%20f2%20f3%20f4%20f5%20f6%20f7%20f8&LS_data_adapter=FEED"))).await.expect("send");
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
        "{mode}: {:.2} M lines/s, {:.0} MB/s, {:.0} bytes/frame, {:.1} bytes/line",
        lines as f64 / el / 1e6,
        bytes as f64 / el / 1e6,
        bytes as f64 / frames as f64,
        bytes as f64 / lines as f64
    );
}
