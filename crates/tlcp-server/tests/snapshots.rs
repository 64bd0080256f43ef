//! Snapshot lengths: what the metadata adapter allows, against what the client asks.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Manual, WsPeer};
use tlcp_server::{AdapterSet, ItemLimits, LiteralMetadata, MetadataAdapter, ServerHandle};

/// Literal names, and DISTINCT snapshots of 3 events for every item.
struct ShortHistory;

impl MetadataAdapter for ShortHistory {
    fn item_limits(&self, _user: Option<&str>, _item: &str) -> ItemLimits {
        ItemLimits {
            distinct_snapshot_length: 3,
            ..ItemLimits::default()
        }
    }
}

/// A server with a `SHORT` set (snapshots of 3) and a `LITERAL` set (the default
/// length, 10), each with a data adapter driven by hand.
async fn start() -> (ServerHandle, Manual, Manual) {
    let (short, literal) = (Manual::default(), Manual::default());
    let adapters = tlcp_server::Adapters::new()
        .with_set(
            "SHORT",
            AdapterSet::new(ShortHistory).with_data_adapter("DEFAULT", short.clone()),
        )
        .with_set(
            "LITERAL",
            AdapterSet::new(LiteralMetadata).with_data_adapter("DEFAULT", literal.clone()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tlcp_server::spawn(listener, common::config(), adapters).unwrap();
    (server, short, literal)
}

/// A session of `set` subscribed (DISTINCT, item `news`, field `t`) with `snapshot`;
/// returns the values of its snapshot, checked to end with `EOS`.
async fn snapshot_of(server: &ServerHandle, set: &str, snapshot: &str) -> Vec<String> {
    let mut c = WsPeer::connect(server, "2.5.0").await;
    c.create(&format!("LS_adapter_set={set}&LS_send_sync=false"))
        .await;
    c.send(&format!(
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=news&LS_schema=t&LS_snapshot={snapshot}"
    ))
    .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBOK,1,1,1").await;
    c.expect_exact("CONF,1,unlimited,filtered").await;
    let mut values = Vec::new();
    loop {
        let line = c.expect("").await;
        if line == "EOS,1,1" {
            return values;
        }
        if let Some(v) = line.strip_prefix("U,1,1,") {
            values.push(v.to_owned());
        }
    }
}

/// Pushes `n1..=n{count}` to `news` through a first subscriber, which reads them all;
/// returns that subscriber (the item runs, with its history, while it is kept).
async fn push_history(server: &ServerHandle, manual: &Manual, set: &str, count: usize) -> WsPeer {
    let mut first = WsPeer::connect(server, "2.5.0").await;
    first
        .create(&format!("LS_adapter_set={set}&LS_send_sync=false"))
        .await;
    first
        .send(
            "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=news&LS_schema=t",
        )
        .await;
    first.expect_exact("REQOK,1").await;
    manual.wait_feed("news").await;
    for i in 1..=count {
        manual.push("news", &[("t", Some(&format!("n{i}")))]);
    }
    first.expect(&format!("U,1,1,n{count}")).await;
    first
}

fn names(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("n{i}")).collect()
}

#[tokio::test]
async fn a_distinct_snapshot_is_as_long_as_the_metadata_allows() {
    let (server, short, _) = start().await;
    let _first = push_history(&server, &short, "SHORT", 6).await;
    // The whole snapshot is the item's length, 3; a longer request gets no more; a
    // shorter one gets what it asked for.
    assert_eq!(snapshot_of(&server, "SHORT", "true").await, names(4..=6));
    assert_eq!(snapshot_of(&server, "SHORT", "5").await, names(4..=6));
    assert_eq!(snapshot_of(&server, "SHORT", "2").await, names(5..=6));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_default_distinct_snapshot_is_ten_events() {
    let (server, _, literal) = start().await;
    let _first = push_history(&server, &literal, "LITERAL", 25).await;
    assert_eq!(
        snapshot_of(&server, "LITERAL", "true").await,
        names(16..=25)
    );
    assert_eq!(snapshot_of(&server, "LITERAL", "100").await, names(16..=25));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_adapter_snapshot_is_cut_to_the_metadata_length() {
    // The adapter pushes 20 snapshot events from `subscribe`, before any subscriber says
    // how many to keep: the first DISTINCT subscriber still gets only the last 3.
    let (server, short, _) = start().await;
    short.seed(
        "news",
        (1..=20)
            .map(|i| vec![("t", Some(format!("n{i}")))])
            .collect(),
    );
    assert_eq!(snapshot_of(&server, "SHORT", "true").await, names(18..=20));
    server.shutdown().await.unwrap();
}
