//! A hostile server: a scripted WebSocket peer that answers the session and subscription
//! requests, then sends oversized lines, invalid UTF-8, bad percent escapes, wrong
//! argument counts, unknown tags, updates for unknown subscriptions and updates with the
//! wrong number of values. The client never panics, reports each one as a protocol
//! issue, and the session goes on: the good lines that follow are delivered (a
//! subscription whose data can no longer be trusted is subscribed again, as documented
//! in `IssueAction::Resubscribed`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tlcp_client::{Client, ConnectionEvent, Delivery, Status, Subscription, SubscriptionEvent};
use tlcp_testkit::scripted::ScriptedPeer;

/// The scripted server (tlcp-testkit's peer, two fields per subscription), with the
/// waits bounded.
struct Hostile(ScriptedPeer);

impl Hostile {
    async fn start() -> Self {
        Self(ScriptedPeer::start(2).await)
    }

    fn send(&self, text: impl Into<String>) {
        self.0.send(text);
    }

    fn send_bytes(&self, bytes: Vec<u8>) {
        self.0.send_bytes(bytes);
    }

    /// The live subscription's wire id, waiting for one.
    async fn sub(&mut self) -> u32 {
        within("a subscription", self.0.sub()).await
    }

    /// Waits until the client subscribed again (a new wire id).
    async fn resubscribed(&mut self, old: u32) -> u32 {
        within("the subscription again", self.0.resubscribed(old)).await
    }
}

/// The next update's values (other events are collected).
async fn next_values(
    sub: &mut tlcp_client::SubscriptionStream,
    what: &str,
    others: &mut Vec<String>,
) -> (String, String) {
    loop {
        match next(sub, what).await {
            SubscriptionEvent::Update(u) => {
                return (
                    u.value(1).unwrap_or("<null>").to_owned(),
                    u.value(2).unwrap_or("<null>").to_owned(),
                );
            }
            SubscriptionEvent::Error(e) => panic!("subscription failed at {what}: {e:?}"),
            other => others.push(format!("{other:?}")),
        }
    }
}

/// The next protocol issue reported.
async fn issue(events: &mut tlcp_client::ConnectionEvents, what: &str) -> String {
    wait_event(events, what, |e| match e {
        ConnectionEvent::ProtocolIssue(issue) => Some(issue.to_string()),
        ConnectionEvent::SessionClosed { .. } | ConnectionEvent::SessionReplaced { .. } => {
            panic!("the session ended at {what}: {e:?}")
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn hostile_lines_are_reported_and_the_session_goes_on() {
    let mut server = Hostile::start().await;
    let client = Client::builder(&server.0.url(), "HOSTILE")
        .forced_transport(tlcp_client::ForcedTransport::WsStreaming)
        .session_config(|c| c.max_line_len = 64 * 1024)
        .build()
        .unwrap();
    let mut events = client.events();
    client.connect();
    assert_eq!(
        within("connection", client.connected()).await.unwrap(),
        Status::WsStreaming
    );
    let mut sub = client
        .subscribe(
            Subscription::distinct(["item"], ["a", "b"])
                .snapshot(false)
                .delivery(Delivery::Queue { capacity: 1000 }),
        )
        .await
        .unwrap();
    let mut others = Vec::new();
    let mut id = server.sub().await;
    let mut good = 0u32;
    // A good line, delivered.
    macro_rules! good {
        ($why:expr) => {{
            good += 1;
            server.send(format!("U,{id},1,g{good}|x\r\n"));
            let v = next_values(
                &mut sub,
                &format!("good line {good} after {}", $why),
                &mut others,
            )
            .await;
            assert_eq!(v, (format!("g{good}"), "x".to_owned()), "after {}", $why);
        }};
    }
    good!("the subscription");

    // Lines the client cannot make sense of, but that concern no subscription: skipped
    // and reported (an unknown tag silently: forward compatibility; the next issue
    // reported is the next line's, which shows it).
    let mut issues = Vec::new();
    for (what, line, expect) in [
        ("an unknown tag", "WHATEVER,1,2,3\r\n".to_owned(), ""),
        ("too few arguments", "SYNC\r\n".to_owned(), "SYNC expects 1"),
        (
            "too many arguments",
            "PROBE,1,2\r\n".to_owned(),
            "PROBE expects 0",
        ),
        ("a bad number", "SYNC,abc\r\n".to_owned(), "\"abc\""),
        (
            "an unknown subscription",
            "U,99,1,a|b\r\n".to_owned(),
            "unknown subscription 99",
        ),
        (
            "SUBOK for an unknown subscription",
            "SUBOK,77,1,2\r\n".to_owned(),
            "unknown subscription 77",
        ),
    ] {
        server.send(line);
        if !expect.is_empty() {
            let text = issue(&mut events, what).await;
            assert!(
                text.contains(expect) && text.contains("Ignored"),
                "{what}: {text}"
            );
            issues.push((what, text));
        }
        good!(what);
    }
    // Invalid UTF-8 in a line that is no data: skipped.
    server.send_bytes(b"SERVNAME,\xff\xfe\r\n".to_vec());
    let text = issue(&mut events, "invalid UTF-8").await;
    assert!(text.contains("UTF-8") && text.contains("Ignored"), "{text}");
    issues.push(("invalid UTF-8", text));
    good!("invalid UTF-8");

    // Lines for the subscription that cannot be trusted: reported, and the subscription
    // is subscribed again (a new SUBOK), then the flow goes on.
    for (what, line) in [
        ("a bad percent escape", "U,{id},1,%ZZ|b\r\n"),
        ("too many values", "U,{id},1,a|b|c\r\n"),
        ("too few values", "U,{id},1,a\r\n"),
        ("an item out of range", "U,{id},5,a|b\r\n"),
        ("invalid UTF-8 in an update", "U,{id},1,\u{fffd}|b\r\n"),
        ("wrong argument count in SUBOK", "SUBOK,{id}\r\n"),
        // An oversized update is dropped unread, but its head names the subscription: it
        // lost an update, so it is resynchronised (and the line counts for recovery).
        ("an oversized update", "U,{id},1,{long}|b\r\n"),
    ] {
        let line = line
            .replace("{id}", &id.to_string())
            .replace("{long}", &"x".repeat(100_000));
        if what.starts_with("invalid UTF-8") {
            let bytes = line.replace('\u{fffd}', "\u{1}").into_bytes();
            let bytes: Vec<u8> = bytes
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect();
            server.send_bytes(bytes);
        } else {
            server.send(line);
        }
        let text = issue(&mut events, what).await;
        issues.push((what, text.clone()));
        assert!(text.contains("Resubscribed"), "{what}: {text}");
        id = server.resubscribed(id).await;
        good!(what);
    }
    // Nothing else went wrong: still the same session, same status.
    assert_eq!(client.current_status(), Status::WsStreaming);
    let stats = client.stats();
    assert_eq!((stats.sessions, stats.reconnects), (1, 0), "{stats:?}");
    for (what, text) in &issues {
        eprintln!("{what}: {text}");
    }
    eprintln!("subscription events besides updates: {others:?}");
    let requests = server.0.requests().len();
    eprintln!("{requests} requests from the client");
    drop(client);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The error that ended a subscription (other events are skipped).
async fn subscription_error(
    sub: &mut tlcp_client::SubscriptionStream,
    what: &str,
) -> tlcp_client::SubscriptionError {
    wait_sub(sub, what, |e| match e {
        SubscriptionEvent::Error(e) => Some(e.clone()),
        SubscriptionEvent::Update(_) => panic!("an update at {what}"),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn huge_announced_sizes_fail_the_subscription_not_the_client() {
    // Every SUBOK of this peer announces 4e9 fields: a model of that size would take tens
    // of GB. Each subscription fails with a typed error instead, and the session goes on.
    let mut server = Hostile(ScriptedPeer::start(4_000_000_000).await);
    let client = Client::builder(&server.0.url(), "HOSTILE")
        .forced_transport(tlcp_client::ForcedTransport::WsStreaming)
        .build()
        .unwrap();
    client.connect();
    within("connection", client.connected()).await.unwrap();
    // A schema: the configured limit (1000 fields by default).
    let mut by_schema = client
        .subscribe(Subscription::merge_group("g", "s"))
        .await
        .unwrap();
    let e = subscription_error(&mut by_schema, "the schema subscription").await;
    assert_eq!(
        format!("{e:?}"),
        "Model(TooLarge { what: \"fields\", count: 4000000000, max: 1000 })"
    );
    // A list of fields: the server must announce exactly that many.
    let mut by_list = client
        .subscribe(Subscription::merge(["item"], ["a", "b"]))
        .await
        .unwrap();
    let e = subscription_error(&mut by_list, "the listed subscription").await;
    assert_eq!(
        format!("{e:?}"),
        "Model(NameCount { what: \"field\", expected: 4000000000, found: 2 })"
    );
    // The failed subscriptions' streams end there.
    for sub in [&mut by_schema, &mut by_list] {
        let end = within("the end of a failed subscription", sub.next()).await;
        assert!(end.is_none(), "{end:?}");
    }
    // The session is still the first one, still streaming.
    let _ = server.sub().await;
    assert_eq!(client.current_status(), Status::WsStreaming);
    assert_eq!(client.stats().sessions, 1);
    drop(client);
}
