//! Options changed live on a connected client.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tlcp_client::{Client, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_heartbeats_off_live_keeps_the_promise_made_to_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let adapters = tlcp_server::demo::demo_adapters(Default::default());
    let server = tlcp_server::spawn(listener, Default::default(), adapters).unwrap();
    // The server cuts a client silent for longer than its LS_inactivity_millis (+ grace).
    let client = Client::builder(&server.url(), "DEMO")
        .reverse_heartbeat_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    client.connect();
    let status = tokio::time::timeout(Duration::from_secs(10), client.connected())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, Status::WsStreaming);
    // Off, live: the server was told 300 ms, so heartbeats go on at that pace until the
    // next bind, and the connection is never cut for silence.
    client.set_reverse_heartbeat_interval(None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = client.stats();
    assert_eq!(client.current_status(), Status::WsStreaming);
    assert_eq!((stats.recoveries, stats.reconnects), (0, 0), "{stats:?}");
    // Shorter, live: fine too.
    client.set_reverse_heartbeat_interval(Some(Duration::from_millis(100)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.current_status(), Status::WsStreaming);
    server.shutdown().await.unwrap();
}
