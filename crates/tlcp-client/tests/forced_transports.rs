//! Every forced transport, and stream-sense, against the in-process server.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tlcp_client::{Client, ForcedTransport, Status, Subscription};

async fn quotes_over(transport: Option<ForcedTransport>, expected: Status) {
    let (server, _) = start().await;
    let client = Client::builder(&server.url(), "DEMO")
        .session_config(|c| c.forced_transport = transport)
        .polling_interval(std::time::Duration::from_millis(50))
        .build()
        .unwrap();
    client.connect();
    wait_status(&client, expected).await;
    assert_eq!(client.current_status().to_string(), expected.to_string());
    let mut sub = client
        .subscribe(
            Subscription::merge(["item1", "item2"], ["stock_name", "last_price"])
                .data_adapter("STOCKS"),
        )
        .await
        .unwrap();
    let first = next_update(&mut sub, "the snapshot").await;
    assert!(first.is_snapshot());
    assert!(first.value_by_name("stock_name").is_some());
    assert!(first.item_name().is_some());
    // A real-time update follows (the demo stocks tick several times a second at most
    // every two seconds).
    loop {
        let u = next_update(&mut sub, "a real-time update").await;
        if !u.is_snapshot() {
            break;
        }
    }
    assert!(client.stats().updates >= 2);
    assert!(client.stats().bytes > 0);
}

#[tokio::test]
async fn ws_streaming() {
    quotes_over(Some(ForcedTransport::WsStreaming), Status::WsStreaming).await;
}

#[tokio::test]
async fn http_streaming() {
    quotes_over(Some(ForcedTransport::HttpStreaming), Status::HttpStreaming).await;
}

#[tokio::test]
async fn ws_polling() {
    quotes_over(Some(ForcedTransport::WsPolling), Status::WsPolling).await;
}

#[tokio::test]
async fn http_polling() {
    quotes_over(Some(ForcedTransport::HttpPolling), Status::HttpPolling).await;
}

#[tokio::test]
async fn default_is_ws_streaming() {
    quotes_over(None, Status::WsStreaming).await;
}

/// HTTP only: the session is created with a polling request (`STREAM-SENSING`), then the
/// stream is bound with HTTP streaming.
#[tokio::test]
async fn stream_sense_over_http() {
    let (server, _) = start().await;
    let client = Client::builder(&server.url(), "DEMO")
        .forced_transport(ForcedTransport::Http)
        .build()
        .unwrap();
    let mut status = client.status();
    client.connect();
    let mut seen = Vec::new();
    within("HTTP streaming", async {
        loop {
            status.changed().await.unwrap();
            let s = *status.borrow_and_update();
            seen.push(s.to_string());
            if s == Status::HttpStreaming {
                break;
            }
        }
    })
    .await;
    assert!(
        seen.contains(&"CONNECTED:STREAM-SENSING".to_string()),
        "{seen:?}"
    );
    let mut sub = client
        .subscribe(Subscription::merge(["item3"], ["last_price"]).data_adapter("STOCKS"))
        .await
        .unwrap();
    next_update(&mut sub, "an update after stream-sense").await;
}

/// The forced transport changes live: the stream moves (`force_rebind`).
#[tokio::test]
async fn forced_transport_changes_live() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    assert_eq!(client.current_status(), Status::WsStreaming);
    let mut sub = client
        .subscribe(Subscription::merge(["item4"], ["last_price"]).data_adapter("STOCKS"))
        .await
        .unwrap();
    next_update(&mut sub, "an update over WS").await;
    client.set_forced_transport(Some(ForcedTransport::HttpStreaming));
    wait_status(&client, Status::HttpStreaming).await;
    // The session goes on: same subscription, no new SUBOK needed.
    next_update(&mut sub, "an update over HTTP").await;
    assert_eq!(client.stats().sessions, 1);
}

/// Older protocol versions are selectable (some servers refuse 2.5.0).
#[tokio::test]
async fn protocol_2_4_0() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| {
        b.protocol_version(tlcp_client::ProtocolVersion::V2_4_0)
    })
    .await;
    let outcome = client.send_message("ECHO|old").await.unwrap();
    // Before 2.5.0, MSGDONE carries no response.
    assert_eq!(
        outcome,
        tlcp_client::MessageOutcome::Processed { response: None }
    );
    let mut sub = client
        .subscribe(Subscription::merge(["item5"], ["last_price"]).data_adapter("STOCKS"))
        .await
        .unwrap();
    next_update(&mut sub, "an update in 2.4.0").await;
}
