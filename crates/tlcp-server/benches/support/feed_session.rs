//! A FEED session for the throughput measurements (the divan benchmark and the
//! `feed_rate` example): an in-process server pushing a FEED item as fast as the client
//! reads, and a raw WebSocket session subscribed to it.

use futures_util::SinkExt;
use tlcp_server::ServerConfig;
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};
use tokio::net::TcpStream;

/// The raw WebSocket of the session.
pub(crate) type Ws = tokio_websockets::WebSocketStream<tokio_websockets::MaybeTlsStream<TcpStream>>;

/// A server with the FEED as fast as possible (`batch` updates between back-pressure
/// checks), and a session subscribed in `mode` (`MERGE` or `DISTINCT`) to one item.
#[allow(dead_code)]
pub(crate) async fn session(mode: &str, batch: usize) -> (tlcp_server::ServerHandle, Ws) {
    session_items(mode, batch, 1).await
}

/// [`session`], subscribed to `items` FEED items (each pushed by its own task).
pub(crate) async fn session_items(
    mode: &str,
    batch: usize,
    items: usize,
) -> (tlcp_server::ServerHandle, Ws) {
    let group = if items <= 1 {
        "bench".to_owned()
    } else {
        (1..=items)
            .map(|i| format!("bench{i}"))
            .collect::<Vec<_>>()
            .join("%20")
    };
    let demo = DemoConfig {
        feed: FeedConfig {
            rate: FeedRate::AsFastAsPossible,
            batch,
            ..FeedConfig::default()
        },
        ..DemoConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server =
        tlcp_server::spawn(listener, ServerConfig::default(), demo_adapters(demo)).expect("spawn");
    let ws = open(server.local_addr(), mode, &group).await;
    (server, ws)
}

/// A raw WebSocket session on the server at `addr`, subscribed in `mode` to the FEED
/// items of `group` (space-separated, percent-encoded), with the usual fields.
pub(crate) async fn open(addr: std::net::SocketAddr, mode: &str, group: &str) -> Ws {
    let uri: http::Uri = format!("ws://{addr}/lightstreamer").parse().expect("uri");
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
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode={mode}&LS_group={group}&\
         LS_schema=ts%20seq%20f1%20f2%20f3%20f4%20f5%20f6%20f7%20f8&LS_data_adapter=FEED"
    )))
    .await
    .expect("send");
    ws
}
