//! Slow readers never hold the others back: per-subscription queues with conflation,
//! bounded queues that count their drops, and opt-in back-pressure.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use tlcp_client::{Delivery, Subscription, SubscriptionEvent};

/// One subscription is never read while another receives a numbered flow at full speed:
/// the fast one gets everything in order, the slow one's queue stays within its capacity
/// and tells exactly how many updates it dropped, where it dropped them.
#[tokio::test]
async fn a_slow_reader_does_not_slow_the_others() {
    let (server, manual) = start().await;
    let client = connect(&server, "TEST", |b| b).await;
    let mut slow = client
        .subscribe(
            Subscription::distinct(["slow"], ["n"])
                .snapshot(false)
                .delivery(Delivery::Queue { capacity: 100 }),
        )
        .await
        .unwrap();
    let mut fast = client
        .subscribe(Subscription::distinct(["fast"], ["n"]).snapshot(false))
        .await
        .unwrap();
    let (slow_feed, fast_feed) = (manual.feed("slow").await, manual.feed("fast").await);
    // Let both SUBOKs arrive.
    wait_sub(&mut fast, "SUBOK", |e| {
        matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
    })
    .await;

    const N: u64 = 5000;
    // Baseline: the fast flow alone.
    let baseline = {
        let feed = fast_feed.clone();
        let pusher = tokio::spawn(async move {
            for n in 1..=N {
                feed.update(&update(&[("n", &format!("b{n}"))]));
                if n % 250 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let started = Instant::now();
        for n in 1..=N {
            let u = next_update(&mut fast, "the baseline flow").await;
            assert_eq!(u.value(1), Some(format!("b{n}").as_str()));
        }
        pusher.await.unwrap();
        started.elapsed()
    };
    let pusher = tokio::spawn(async move {
        for n in 1..=N {
            let u = update(&[("n", &n.to_string())]);
            slow_feed.update(&u);
            fast_feed.update(&u);
            if n % 250 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let started = Instant::now();
    for n in 1..=N {
        let u = next_update(&mut fast, "the fast flow").await;
        assert_eq!(u.value(1), Some(n.to_string().as_str()));
    }
    let fast_time = started.elapsed();
    pusher.await.unwrap();
    assert_eq!(fast.stats().dropped, 0);
    // The fast reader keeps its pace (the server does twice the work meanwhile; the
    // margin is for a loaded machine: a blocked reader would not finish at all).
    assert!(
        fast_time < baseline * 5 + Duration::from_secs(1),
        "alone: {baseline:?}, next to a stuck reader: {fast_time:?}"
    );

    // Everything for the slow one has arrived too (the pusher is done and the fast flow
    // was interleaved with it): its queue held at most its capacity.
    let stats = slow.stats();
    assert!(stats.max_queued <= 100, "{stats:?}");
    assert_eq!(stats.received, N);
    assert_eq!(client.stats().dropped_by_slow_consumers, stats.dropped);
    assert!(stats.dropped >= N - 100, "{stats:?}");
    println!("fast flow: {N} updates in {fast_time:?} (alone: {baseline:?}); slow: {stats:?}");

    // The slow reader now reads: what was kept, then exactly how much was dropped.
    let mut kept = 0;
    let dropped = loop {
        match next(&mut slow, "the slow queue").await {
            SubscriptionEvent::Update(u) => {
                kept += 1;
                assert_eq!(u.value(1), Some(kept.to_string().as_str()));
            }
            SubscriptionEvent::Dropped { count } => break count,
            _ => {}
        }
    };
    assert_eq!(kept + dropped, N);
    assert_eq!(dropped, stats.dropped);
    // Then it goes on normally.
    manual.feed("slow").await.update(&update(&[("n", "next")]));
    assert_eq!(
        next_update(&mut slow, "after the gap").await.value(1),
        Some("next")
    );
}

/// MERGE readers that fall behind get the latest state of each item, with the changes
/// of what was skipped, and the skips are counted.
#[tokio::test]
async fn merge_conflates_to_the_latest_state() {
    let (server, manual) = start().await;
    let client = connect(&server, "TEST", |b| b).await;
    let mut sub = client
        .subscribe(Subscription::merge(["px", "other"], ["bid", "ask"]).snapshot(false))
        .await
        .unwrap();
    let feed = manual.feed("px").await;
    let other = manual.feed("other").await;
    wait_sub(&mut sub, "SUBOK", |e| {
        matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
    })
    .await;
    feed.update(&update(&[("bid", "0"), ("ask", "a")]));
    other.update(&update(&[("bid", "o"), ("ask", "o")]));
    for i in 1..=1000 {
        feed.update(&update(&[("bid", &i.to_string())]));
    }
    // Wait until the client has received them all (without reading the stream).
    within("the updates", async {
        while client.stats().updates < 1002 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let events = drain_for(&mut sub, Duration::from_millis(200)).await;
    let updates: Vec<_> = events
        .iter()
        .filter_map(SubscriptionEvent::as_update)
        .collect();
    // One pending row per item: "px" (first, folded) and "other".
    assert_eq!(updates.len(), 2, "{events:#?}");
    let px = updates[0];
    assert_eq!(px.item_name(), Some("px"));
    assert_eq!(
        (px.value_by_name("bid"), px.value_by_name("ask")),
        (Some("1000"), Some("a"))
    );
    assert_eq!(px.skipped(), 1000);
    assert!(px.is_changed_by_name("bid") && px.is_changed_by_name("ask"));
    assert_eq!(updates[1].item_name(), Some("other"));
    assert_eq!(client.stats().conflated, 1000);
    assert_eq!(sub.stats().conflated, 1000);
}

/// Back-pressure loses nothing: reading pauses while the reader is behind.
#[tokio::test]
async fn backpressure_pauses_reading_instead_of_dropping() {
    let (server, manual) = start().await;
    let client = connect(&server, "TEST", |b| b).await;
    let mut sub = client
        .subscribe(
            Subscription::distinct(["bp"], ["n"])
                .snapshot(false)
                .delivery(Delivery::Backpressure { capacity: 20 }),
        )
        .await
        .unwrap();
    let feed = manual.feed("bp").await;
    const N: u64 = 2000;
    for n in 1..=N {
        feed.update(&update(&[("n", &n.to_string())]));
    }
    for n in 1..=N {
        let u = next_update(&mut sub, "the back-pressured flow").await;
        assert_eq!(u.value(1), Some(n.to_string().as_str()));
        if n % 200 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let stats = sub.stats();
    assert_eq!(stats.dropped, 0);
    assert!(
        client.stats().backpressure_pauses > 0,
        "{:?}",
        client.stats()
    );
    // The queue never held more than its capacity (plus the SUBOK event).
    assert!(stats.max_queued <= 21, "{stats:?}");
    assert!(sub.next().now_or_never_pending());
}

/// A reader behind a back-pressured subscription pauses reading, not the session: the
/// reverse heartbeats go on while nothing is read, so the server keeps the session.
#[tokio::test]
async fn reverse_heartbeats_go_on_while_reading_is_paused() {
    let mut peer = tlcp_testkit::scripted::ScriptedPeer::start(1).await;
    let client = tlcp_client::Client::builder(&peer.url(), "DEMO")
        .forced_transport(tlcp_client::ForcedTransport::WsStreaming)
        .reverse_heartbeat_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    client.connect();
    within("connection", client.connected()).await.unwrap();
    let mut sub = client
        .subscribe(
            Subscription::distinct(["x"], ["n"])
                .snapshot(false)
                .delivery(Delivery::Backpressure { capacity: 2 }),
        )
        .await
        .unwrap();
    let id = within("the subscription", peer.sub()).await;
    peer.send(format!("U,{id},1,1\r\nU,{id},1,2\r\nU,{id},1,3\r\n"));
    within("the pause", async {
        while client.stats().backpressure_pauses == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let heartbeats = || {
        peer.requests()
            .iter()
            .filter(|r| r.starts_with("heartbeat"))
            .count()
    };
    let before = heartbeats();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let during = heartbeats() - before;
    // About 20 in a second; a loaded machine may send fewer, never none.
    assert!(during >= 5, "{during} heartbeats while paused");
    assert_eq!(
        client.stats().backpressure_pauses,
        1,
        "still the same pause"
    );
    // Nothing was lost meanwhile.
    for n in 1..=3 {
        let u = next_update(&mut sub, "the held updates").await;
        assert_eq!(u.value(1), Some(n.to_string().as_str()));
    }
    assert_eq!(client.current_status(), tlcp_client::Status::WsStreaming);
}

trait NowOrNever {
    fn now_or_never_pending(self) -> bool;
}

impl<F: std::future::Future> NowOrNever for F {
    fn now_or_never_pending(self) -> bool {
        futures_util::FutureExt::now_or_never(self).is_none()
    }
}
