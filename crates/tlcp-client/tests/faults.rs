//! The client under network failure, through a fault-injecting proxy
//! (`tlcp_testkit::fault::FaultProxy`) in front of the in-process server: repeated cuts
//! recovered without loss, stalls detected on time, and recovery refused by the server.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tlcp_client::{
    Client, ConnectionEvent, ForcedTransport, Lost, Status, Subscription, SubscriptionEvent,
};
use tlcp_server::{AdapterSet, DataAdapter, ItemFeed, LiteralMetadata, Refusal, ServerConfig};
use tlcp_testkit::fault::{Blackhole, FaultProxy};
use tokio::time::Instant;

/// A client of `proxy` (not connected yet).
fn client_via(
    proxy: &FaultProxy,
    adapter_set: &str,
    f: impl FnOnce(tlcp_client::ClientBuilder) -> tlcp_client::ClientBuilder,
) -> Client {
    f(Client::builder(
        &format!("http://{}", proxy.local_addr()),
        adapter_set,
    ))
    .build()
    .unwrap()
}

/// 10,000 numbered DISTINCT updates pushed at a steady pace while the proxy cuts the
/// connection 20 times: the application gets exactly 1..=10000, and every cut is a
/// recovery of the same session.
async fn cuts_over(transport: ForcedTransport) {
    const N: u32 = 10_000;
    const CUTS: u32 = 20;
    let (server, manual) = start().await;
    let proxy = FaultProxy::start(server.local_addr()).await;
    let client = client_via(&proxy, "TEST", |b| {
        b.forced_transport(transport)
            .retry_delay(Duration::from_millis(500))
            .first_retry_max_delay(Duration::from_millis(20))
    });
    client.connect();
    within("connection", client.connected()).await.unwrap();
    let mut events = client.events();
    let mut sub = client
        .subscribe(Subscription::distinct(["counter"], ["n"]).snapshot(false))
        .await
        .unwrap();
    let feed = manual.feed("counter").await;
    wait_sub(&mut sub, "SUBOK", |e| {
        matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
    })
    .await;

    // Steady pace: 25 updates every 5 ms (~5,000/s), cuts or not.
    let pusher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for n in 1..=N {
            if n % 25 == 1 {
                tick.tick().await;
            }
            feed.update(&update(&[("n", &n.to_string())]));
        }
    });
    // The application: checks every value, in order.
    let progress = Arc::new(AtomicU32::new(0));
    let reader = tokio::spawn({
        let progress = progress.clone();
        async move {
            let mut expected = 1;
            let mut others = Vec::new();
            while expected <= N {
                match next(&mut sub, &format!("update {expected}")).await {
                    SubscriptionEvent::Update(u) => {
                        assert_eq!(
                            u.value(1),
                            Some(expected.to_string().as_str()),
                            "lost, duplicated or reordered"
                        );
                        expected += 1;
                        progress.store(expected - 1, Ordering::Relaxed);
                    }
                    other => others.push(format!("{other:?}")),
                }
            }
            // Nothing more than the N updates (no duplicate at the end either).
            let rest = drain_for(&mut sub, Duration::from_millis(100)).await;
            assert!(
                rest.iter()
                    .all(|e| !matches!(e, SubscriptionEvent::Update(_))),
                "{rest:?}"
            );
            others
        }
    });

    let mut recovered = 0;
    for k in 1..=CUTS {
        // Spaced out: a cut every ~450 updates the application got.
        within(&format!("progress before cut {k}"), async {
            while progress.load(Ordering::Relaxed) < k * 450 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        proxy.cut_all().await;
        let (id, dups) = wait_event(&mut events, &format!("recovery {k}"), |e| match e {
            ConnectionEvent::SessionRecovered {
                session_id,
                duplicates_skipped,
            } => Some((session_id.clone(), *duplicates_skipped)),
            ConnectionEvent::SessionReplaced { .. } | ConnectionEvent::SessionCreated { .. } => {
                panic!("cut {k}: the session was not recovered: {e:?}")
            }
            _ => None,
        })
        .await;
        let _ = (id, dups);
        recovered += 1;
    }
    pusher.await.unwrap();
    let others = within("all updates", reader).await.unwrap();
    // The subscription itself was never interrupted.
    assert!(
        !others.iter().any(|e| e.contains("Interrupted")),
        "{others:?}"
    );
    let stats = client.stats();
    assert_eq!(recovered, CUTS);
    assert_eq!(
        (stats.recoveries, stats.reconnects, stats.sessions),
        (u64::from(CUTS), 0, 1),
        "{stats:?}"
    );
    assert_eq!(stats.updates, u64::from(N), "{stats:?}");
    assert!(proxy.stats().cuts >= u64::from(CUTS));
    eprintln!(
        "{transport:?}: {N} updates, {recovered} recoveries, proxy {:?}",
        proxy.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_cuts_lose_nothing_ws_streaming() {
    cuts_over(ForcedTransport::WsStreaming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_cuts_lose_nothing_http_streaming() {
    cuts_over(ForcedTransport::HttpStreaming).await;
}

/// A stream that goes silent (the proxy holds every byte, TCP stays up) is reported
/// `STALLED` after keepalive + stalledTimeout, not before; after reconnectTimeout more
/// the connection is dropped and the session recovered, with nothing lost.
async fn stall_over(transport: ForcedTransport) {
    const KEEPALIVE: Duration = Duration::from_millis(500);
    const STALLED: Duration = Duration::from_millis(500);
    const RECONNECT: Duration = Duration::from_millis(1000);
    let (server, manual) = start().await;
    let proxy = FaultProxy::start(server.local_addr()).await;
    let client = client_via(&proxy, "TEST", |b| {
        b.forced_transport(transport)
            .keepalive_interval(KEEPALIVE)
            .stalled_timeout(STALLED)
            .reconnect_timeout(RECONNECT)
            .retry_delay(Duration::from_millis(500))
    });
    client.connect();
    within("connection", client.connected()).await.unwrap();
    // `connected()` may return during STREAM-SENSING over HTTP: wait for the final status.
    let connected = match transport {
        ForcedTransport::HttpStreaming => Status::HttpStreaming,
        _ => Status::WsStreaming,
    };
    wait_status(&client, connected).await;
    let mut events = client.events();
    let mut status = client.status();
    let mut sub = client
        .subscribe(Subscription::distinct(["counter"], ["n"]).snapshot(false))
        .await
        .unwrap();
    let feed = manual.feed("counter").await;
    wait_sub(&mut sub, "SUBOK", |e| {
        matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
    })
    .await;
    // A flow every 10 ms, so that the last byte before the stall is recent.
    let pushed = Arc::new(AtomicU32::new(0));
    let pusher = tokio::spawn({
        let pushed = pushed.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for n in 1..=400u32 {
                tick.tick().await;
                feed.update(&update(&[("n", &n.to_string())]));
                pushed.store(n, Ordering::Relaxed);
            }
        }
    });
    let mut expected = 1u32;
    let mut read_to = async |sub: &mut tlcp_client::SubscriptionStream, upto: u32| {
        while expected <= upto {
            let u = next_update(sub, &format!("update {expected}")).await;
            assert_eq!(u.value(1), Some(expected.to_string().as_str()));
            expected += 1;
        }
    };
    read_to(&mut sub, 30).await;

    let bytes_before = client.stats().bytes;
    proxy.blackhole(Blackhole::Hold);
    let stall_start = Instant::now();
    status.borrow_and_update();
    within("STALLED", status.wait_for(|s| *s == Status::Stalled))
        .await
        .unwrap();
    let stalled_after = stall_start.elapsed();
    // The event says so too.
    wait_event(&mut events, "the Stalled event", |e| {
        matches!(e, ConnectionEvent::Stalled).then_some(())
    })
    .await;
    // At most one chunk in flight passed the blackhole.
    let late_bytes = client.stats().bytes - bytes_before;
    let limit = KEEPALIVE + STALLED;
    assert!(
        stalled_after >= limit - Duration::from_millis(60),
        "STALLED too early: {stalled_after:?} < {limit:?} ({late_bytes} bytes after the blackhole)"
    );
    assert!(
        stalled_after <= limit + Duration::from_millis(400),
        "STALLED too late: {stalled_after:?}"
    );
    // Then, reconnectTimeout later, the connection is given up and the session recovered.
    let stalled_at = Instant::now();
    within(
        "the end of STALLED",
        status.wait_for(|s| *s != Status::Stalled),
    )
    .await
    .unwrap();
    let gave_up_after = stalled_at.elapsed();
    let after = *status.borrow();
    assert_eq!(after, Status::TryingRecovery, "after STALLED");
    assert!(
        gave_up_after >= RECONNECT - Duration::from_millis(50)
            && gave_up_after <= RECONNECT + Duration::from_millis(400),
        "reconnectTimeout {RECONNECT:?}, took {gave_up_after:?}"
    );
    proxy.reset();
    wait_event(&mut events, "the recovery", |e| match e {
        ConnectionEvent::SessionRecovered { .. } => Some(()),
        ConnectionEvent::SessionReplaced { .. } => panic!("not recovered: {e:?}"),
        _ => None,
    })
    .await;
    wait_status(&client, connected).await;
    pusher.await.unwrap();
    read_to(&mut sub, 400).await;
    let stats = client.stats();
    assert_eq!(
        (stats.recoveries, stats.reconnects, stats.sessions),
        (1, 0, 1),
        "{stats:?}"
    );
    eprintln!(
        "{transport:?}: STALLED after {stalled_after:?}, gave up {gave_up_after:?} later, {late_bytes} bytes after the blackhole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_is_reported_on_time_ws_streaming() {
    stall_over(ForcedTransport::WsStreaming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_is_reported_on_time_http_streaming() {
    stall_over(ForcedTransport::HttpStreaming).await;
}

/// What was pushed for an item, and its feeds.
type Pushed = (Vec<String>, Vec<ItemFeed>);

/// A data adapter that remembers what it pushed and gives it as the snapshot to a new
/// subscriber of an item (as a real adapter would after its item was released).
#[derive(Default, Clone)]
struct WithHistory {
    items: Arc<Mutex<HashMap<String, Pushed>>>,
}

impl DataAdapter for WithHistory {
    fn subscribe(&self, item: &str, feed: ItemFeed) -> Result<(), Refusal> {
        let mut items = self.items.lock().unwrap();
        let (history, feeds) = items.entry(item.to_owned()).or_default();
        for v in history.iter().rev().take(3).rev() {
            feed.snapshot(&update(&[("n", v)]));
        }
        feed.end_of_snapshot();
        feeds.push(feed);
        Ok(())
    }

    fn unsubscribe(&self, _item: &str) {}
}

impl WithHistory {
    fn push(&self, item: &str, value: &str) {
        let mut items = self.items.lock().unwrap();
        let (history, feeds) = items.entry(item.to_owned()).or_default();
        history.push(value.to_owned());
        if let Some(feed) = feeds.iter().rev().find(|f| f.is_active()) {
            feed.update(&update(&[("n", value)]));
        }
    }
}

/// The server cannot recover the session (no recovery buffer, and traffic while the
/// client is cut off): a new session replaces it, the application is told, and every
/// subscription comes back with a snapshot.
async fn refused_recovery_over(transport: ForcedTransport) {
    let mut config = ServerConfig::default();
    config.recovery_buffer_bytes = 0;
    let adapter = WithHistory::default();
    let adapters = AdapterSet::new(LiteralMetadata).with_data_adapter("DEFAULT", adapter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tlcp_server::spawn(
        listener,
        config,
        tlcp_server::Adapters::new().with_set("HISTORY", adapters),
    )
    .unwrap();
    let proxy = FaultProxy::start(server.local_addr()).await;
    let client = client_via(&proxy, "HISTORY", |b| {
        b.forced_transport(transport)
            .retry_delay(Duration::from_millis(300))
            .first_retry_max_delay(Duration::from_millis(20))
    });
    client.connect();
    within("connection", client.connected()).await.unwrap();
    let mut events = client.events();
    let mut merge = client
        .subscribe(Subscription::merge(["quote"], ["n"]))
        .await
        .unwrap();
    let mut distinct = client
        .subscribe(Subscription::distinct(["news"], ["n"]).snapshot_length(3))
        .await
        .unwrap();
    for sub in [&mut merge, &mut distinct] {
        wait_sub(sub, "SUBOK", |e| {
            matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
        })
        .await;
    }
    adapter.push("quote", "q1");
    adapter.push("news", "n1");
    assert_eq!(next_update(&mut merge, "q1").await.value(1), Some("q1"));
    assert_eq!(next_update(&mut distinct, "n1").await.value(1), Some("n1"));

    // The world moves on, the server sends it all (and logs nothing for recovery), but
    // the bytes are lost on the way; then the connection breaks.
    proxy.blackhole(Blackhole::Drop);
    for i in 2..=50 {
        adapter.push("quote", &format!("q{i}"));
        adapter.push("news", &format!("n{i}"));
    }
    within("the server's bytes lost on the way", async {
        while proxy.stats().dropped_down == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.cut_all().await;
    proxy.reset();

    let (replaced_by, lost) = wait_event(&mut events, "the replacement", |e| match e {
        ConnectionEvent::SessionReplaced { session_id, lost } => Some((session_id.clone(), *lost)),
        ConnectionEvent::SessionRecovered { .. } => panic!("recovered without a buffer?"),
        _ => None,
    })
    .await;
    assert!(matches!(lost, Lost::Unknown | Lost::AtLeast(_)), "{lost:?}");
    // Both subscriptions: interrupted, subscribed again, then a snapshot of the present.
    let mut sub_events = Vec::new();
    for (sub, name) in [(&mut merge, "merge"), (&mut distinct, "distinct")] {
        let mut seen = Vec::new();
        wait_sub(sub, &format!("{name}: Interrupted"), |e| {
            seen.push(format!("{e:?}"));
            matches!(e, SubscriptionEvent::Interrupted).then_some(())
        })
        .await;
        wait_sub(sub, &format!("{name}: SUBOK again"), |e| {
            seen.push(format!("{e:?}"));
            matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
        })
        .await;
        sub_events.push(seen);
    }
    let snap = next_update(&mut merge, "merge snapshot").await;
    assert!(snap.is_snapshot(), "{snap:?}");
    assert_eq!(snap.value(1), Some("q50"));
    // DISTINCT: a snapshot was asked for again and is complete. (Its content is empty
    // here: tlcp-server keeps a DISTINCT history only once a DISTINCT listener exists, so
    // the rows an adapter pushes from `subscribe` are not replayed to it.)
    wait_sub(&mut distinct, "distinct EOS", |e| match e {
        SubscriptionEvent::EndOfSnapshot { .. } => Some(()),
        SubscriptionEvent::Update(u) => {
            assert!(u.is_snapshot(), "live update before EOS: {u:?}");
            None
        }
        _ => None,
    })
    .await;
    adapter.push("news", "n51");
    let u = next_update(&mut distinct, "n51").await;
    assert_eq!((u.value(1), u.is_snapshot()), (Some("n51"), false));
    // Live again.
    adapter.push("quote", "q51");
    let u = next_update(&mut merge, "q51").await;
    assert_eq!((u.value(1), u.is_snapshot()), (Some("q51"), false));
    let stats = client.stats();
    assert_eq!((stats.sessions, stats.reconnects), (2, 1), "{stats:?}");
    eprintln!("{transport:?}: replaced by {replaced_by:?}, lost {lost:?}, {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_recovery_replaces_the_session_ws_streaming() {
    refused_recovery_over(ForcedTransport::WsStreaming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_recovery_replaces_the_session_http_streaming() {
    refused_recovery_over(ForcedTransport::HttpStreaming).await;
}
