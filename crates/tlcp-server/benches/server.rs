//! Server throughput: FEED updates received by one WebSocket session.
//!
//! `cargo bench -p tlcp-server --bench server`
//!
//! One in-process server (2-worker tokio runtime) pushes a FEED item as fast as the client
//! reads (`FeedRate::AsFastAsPossible`, back-pressure through `ItemFeed::ready`), 10 fields
//! (`ts seq f1..f8`); the reader splits each WebSocket frame into lines and counts the `U`
//! lines. Each sample reads 200,000 updates; the figure is updates per second. Server and
//! reader share the machine's cores: a lower bound for the server alone.

use std::sync::OnceLock;

use futures_util::{SinkExt, StreamExt};
use tlcp_server::ServerConfig;
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};
use tokio::net::TcpStream;

type Ws = tokio_websockets::WebSocketStream<tokio_websockets::MaybeTlsStream<TcpStream>>;

const UPDATES: usize = 200_000;

fn main() {
    divan::main();
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A server with the FEED as fast as possible, and a session subscribed in `mode`.
async fn session(mode: &str) -> (tlcp_server::ServerHandle, Ws) {
    let demo = DemoConfig {
        feed: FeedConfig {
            rate: FeedRate::AsFastAsPossible,
            batch: 1024,
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
    let m = |s: String| tokio_websockets::Message::text(s);
    ws.send(m(
        "create_session\r\nLS_adapter_set=DEMO&LS_cid=x&LS_send_sync=false".into(),
    ))
    .await
    .expect("send");
    ws.send(m(format!(
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode={mode}&LS_group=bench&\
         LS_schema=ts%20seq%20f1%20f2%20f3%20f4%20f5%20f6%20f7%20f8&LS_data_adapter=FEED"
    )))
    .await
    .expect("send");
    (server, ws)
}

/// Reads until `n` update lines have arrived.
async fn read_updates(ws: &mut Ws, n: usize) {
    let mut seen = 0;
    while seen < n {
        let Some(Ok(msg)) = ws.next().await else {
            panic!("the stream ended");
        };
        if let Some(text) = msg.as_text() {
            seen += text.split("\r\n").filter(|l| l.starts_with("U,")).count();
        }
    }
}

#[divan::bench(args = ["MERGE", "DISTINCT"], sample_count = 10, sample_size = 1)]
fn feed_to_one_ws_session(bencher: divan::Bencher<'_, '_>, mode: &str) {
    let rt = runtime();
    let (server, mut ws) = rt.block_on(session(mode));
    rt.block_on(read_updates(&mut ws, 10_000)); // warm up
    bencher
        .counter(divan::counter::ItemsCount::new(UPDATES))
        .bench_local(|| rt.block_on(read_updates(&mut ws, UPDATES)));
    drop(ws);
    rt.block_on(server.shutdown()).expect("shutdown");
}
