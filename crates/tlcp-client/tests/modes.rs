//! Every subscription mode with its snapshot, and two-level COMMAND.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tlcp_client::{Command, MessageOutcome, Subscription, SubscriptionEvent};

#[tokio::test]
async fn merge_snapshot_then_updates() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let mut sub = client
        .subscribe(
            Subscription::merge(["item1", "item2"], ["stock_name", "last_price", "time"])
                .data_adapter("STOCKS"),
        )
        .await
        .unwrap();
    let subscribed = wait_sub(&mut sub, "SUBOK", |e| match e {
        SubscriptionEvent::Subscribed { items, fields, .. } => Some((*items, *fields)),
        _ => None,
    })
    .await;
    assert_eq!(subscribed, (2, 3));
    let mut snapshots = 0;
    while snapshots < 2 {
        let u = next_update(&mut sub, "MERGE snapshots").await;
        if u.is_snapshot() {
            snapshots += 1;
            assert_eq!(u.changed_positions().count(), 3, "{u:?}");
            assert!(u.received_at() <= std::time::Instant::now());
        }
    }
}

#[tokio::test]
async fn distinct_snapshot_end_and_clear() {
    let (server, manual) = start().await;
    let client = connect(&server, "TEST", |b| b).await;
    let mut sub = client
        .subscribe(Subscription::distinct(["news"], ["n", "text"]))
        .await
        .unwrap();
    let feed = manual.feed("news").await;
    feed.snapshot(&update(&[("n", "1"), ("text", "old")]));
    feed.snapshot(&update(&[("n", "2"), ("text", "older")]));
    feed.end_of_snapshot();
    feed.update(&update(&[("n", "3"), ("text", "new")]));
    feed.clear_snapshot();
    let mut seen = Vec::new();
    loop {
        match next(&mut sub, "DISTINCT events").await {
            SubscriptionEvent::Update(u) => seen.push(format!(
                "{}{}",
                u.value_by_name("n").unwrap(),
                if u.is_snapshot() { "s" } else { "" }
            )),
            SubscriptionEvent::EndOfSnapshot { item, item_name } => {
                assert_eq!((item, item_name.as_deref()), (1, Some("news")));
                seen.push("EOS".into());
            }
            SubscriptionEvent::ClearSnapshot { .. } => {
                seen.push("CS".into());
                break;
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["1s", "2s", "EOS", "3", "CS"]);
}

#[tokio::test]
async fn raw_has_no_snapshot() {
    let (server, manual) = start().await;
    let client = connect(&server, "TEST", |b| b).await;
    let mut sub = client
        .subscribe(Subscription::raw(["ticks"], ["v"]))
        .await
        .unwrap();
    let feed = manual.feed("ticks").await;
    for i in 0..5 {
        feed.update(&update(&[("v", &i.to_string())]));
    }
    for i in 0..5 {
        let u = next_update(&mut sub, "RAW updates").await;
        assert!(!u.is_snapshot());
        assert_eq!(u.value(1), Some(i.to_string().as_str()));
    }
}

#[tokio::test]
async fn command_snapshot_and_two_level() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    // A row exists before subscribing: it comes as a snapshot ADD.
    let bought = client.send_message("BUY|item3|10").await.unwrap();
    assert_eq!(
        bought,
        MessageOutcome::Processed {
            response: Some("10".into())
        }
    );
    let mut sub = client
        .subscribe(
            Subscription::command(["portfolio1"], ["key", "command", "qty"])
                .data_adapter("PORTFOLIO")
                .second_level_fields(["stock_name", "last_price"], Some("STOCKS")),
        )
        .await
        .unwrap();
    let first = next_update(&mut sub, "the snapshot ADD").await;
    assert!(first.is_snapshot());
    assert_eq!(
        (first.key(), first.command()),
        (Some("item3"), Some(Command::Add))
    );
    assert_eq!(first.value_by_name("qty"), Some("10"));
    wait_sub(&mut sub, "EOS", |e| {
        matches!(e, SubscriptionEvent::EndOfSnapshot { .. }).then_some(())
    })
    .await;
    // The second level fills the row with the stock's fields.
    let u = loop {
        let u = next_update(&mut sub, "second-level values").await;
        if u.value_by_name("stock_name").is_some() {
            break u;
        }
    };
    assert_eq!(u.key(), Some("item3"));
    assert_eq!(u.value_by_name("qty"), Some("10"));
    assert!(u.value_by_name("last_price").is_some());

    // Buying more updates the row; selling everything deletes it.
    client.send_message("BUY|item3|5").await.unwrap();
    let u = loop {
        let u = next_update(&mut sub, "the UPDATE").await;
        if u.value_by_name("qty") == Some("15") {
            break u;
        }
    };
    assert_eq!(u.command(), Some(Command::Update));
    client.send_message("SELL|item3|15").await.unwrap();
    let u = loop {
        let u = next_update(&mut sub, "the DELETE").await;
        if u.command() == Some(Command::Delete) {
            break u;
        }
    };
    assert_eq!(u.key(), Some("item3"));
    assert_eq!(u.value_by_name("qty"), None);
}
