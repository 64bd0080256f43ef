//! Messages and their outcomes.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::IntoFuture;

use common::*;
use tlcp_client::{MessageOutcome, Subscription, SubscriptionEvent};

#[tokio::test]
async fn outcomes() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let echo = client.send_message("ECHO|hello there").await.unwrap();
    assert_eq!(
        echo,
        MessageOutcome::Processed {
            response: Some("hello there".into())
        }
    );
    match client.send_message("NO SUCH VERB").await.unwrap() {
        MessageOutcome::Denied { code, .. } => assert_eq!(code, -1),
        other => panic!("expected a denial, got {other:?}"),
    }
    client
        .send_message("ECHO|quiet")
        .without_outcome()
        .await
        .unwrap();
    assert!(matches!(
        client.send_message("x").sequence("bad-name").await,
        Err(tlcp_client::Error::Invalid(_))
    ));
    assert_eq!(client.stats().messages, 4);
}

#[tokio::test]
async fn without_a_session_messages_abort_or_wait() {
    let (server, _) = start().await;
    let client = tlcp_client::Client::builder(&server.url(), "DEMO")
        .build()
        .unwrap();
    assert_eq!(
        client.send_message("ECHO|1").await.unwrap(),
        MessageOutcome::Aborted
    );
    let queued = client
        .send_message("ECHO|later")
        .enqueue_while_disconnected(true)
        .into_future();
    client.connect();
    assert_eq!(
        within("the queued message", queued).await.unwrap(),
        MessageOutcome::Processed {
            response: Some("later".into())
        }
    );
}

/// Messages of one sequence are processed in the order they were sent: chat lines sent
/// in a sequence, all at once, come back on the chat room in that order.
#[tokio::test]
async fn a_sequence_is_processed_in_order() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let mut chat = client
        .subscribe(
            Subscription::distinct(["chat_room"], ["message"])
                .data_adapter("CHAT")
                .snapshot(false),
        )
        .await
        .unwrap();
    wait_sub(&mut chat, "SUBOK", |e| {
        matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
    })
    .await;
    let sends: Vec<_> = (0..30)
        .map(|i| {
            client
                .send_message(format!("CHAT|line {i}"))
                .sequence("chat")
                .into_future()
        })
        .collect();
    for outcome in within("the outcomes", futures_util::future::join_all(sends)).await {
        assert!(matches!(outcome.unwrap(), MessageOutcome::Processed { .. }));
    }
    for i in 0..30 {
        let u = next_update(&mut chat, "a chat line").await;
        assert_eq!(
            u.value_by_name("message"),
            Some(format!("line {i}").as_str())
        );
    }
}
