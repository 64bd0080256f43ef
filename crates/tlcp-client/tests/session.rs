//! Session life: live options (reconf, constrain), server-side close, refusals
//! (CONERR, REQERR), and recovery after a dropped stream connection.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tlcp_client::{
    Bandwidth, BandwidthLimit, CloseCause, ConnectionEvent, Error, ForcedTransport, MaxFrequency,
    RealMaxFrequency, ServerErrorKind, Status, Subscription, SubscriptionError, SubscriptionEvent,
};

#[tokio::test]
async fn reconf_changes_the_max_frequency() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let mut sub = client
        .subscribe(
            Subscription::merge(["item1"], ["last_price"])
                .data_adapter("STOCKS")
                .max_frequency(MaxFrequency::PerSecond(2.0)),
        )
        .await
        .unwrap();
    let first = wait_sub(&mut sub, "CONF", |e| match e {
        SubscriptionEvent::RealMaxFrequency { frequency, .. } => Some(*frequency),
        _ => None,
    })
    .await;
    assert_eq!(first, RealMaxFrequency::PerSecond(2.0));
    sub.set_max_frequency(MaxFrequency::PerSecond(0.5))
        .await
        .unwrap();
    let changed = wait_sub(&mut sub, "CONF after reconf", |e| match e {
        SubscriptionEvent::RealMaxFrequency { frequency, .. } => Some(*frequency),
        _ => None,
    })
    .await;
    assert_eq!(changed, RealMaxFrequency::PerSecond(0.5));
    // Unfiltered cannot be reached by reconf: refused locally.
    assert!(matches!(
        sub.set_max_frequency(MaxFrequency::Unfiltered).await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn constrain_changes_the_bandwidth() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| {
        b.requested_max_bandwidth(Bandwidth::Kbps(40.0))
    })
    .await;
    let mut events = client.events();
    client
        .set_requested_max_bandwidth(Some(Bandwidth::Kbps(12.5)))
        .unwrap();
    let limit = wait_event(&mut events, "CONS", |e| match e {
        ConnectionEvent::Bandwidth(b) => Some(*b),
        _ => None,
    })
    .await;
    assert_eq!(limit, BandwidthLimit::Kbps(12.5));
    client.set_requested_max_bandwidth(None).unwrap();
    let limit = wait_event(&mut events, "CONS unlimited", |e| match e {
        ConnectionEvent::Bandwidth(b) => Some(*b),
        _ => None,
    })
    .await;
    assert_eq!(limit, BandwidthLimit::Unlimited);
}

#[tokio::test]
async fn zero_rates_are_refused_before_anything_is_sent() {
    let (server, _) = start().await;
    let refused = tlcp_client::Client::builder(&server.url(), "DEMO")
        .requested_max_bandwidth(Bandwidth::Kbps(0.0))
        .build();
    assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
    let client = connect(&server, "DEMO", |b| b).await;
    assert!(matches!(
        client.set_requested_max_bandwidth(Some(Bandwidth::Kbps(-3.0))),
        Err(Error::Invalid(_))
    ));
    let zero = Subscription::merge(["item1"], ["last_price"])
        .data_adapter("STOCKS")
        .max_frequency(MaxFrequency::PerSecond(0.0));
    assert!(matches!(
        client.subscribe(zero).await,
        Err(Error::Invalid(_))
    ));
    let sub = client
        .subscribe(Subscription::merge(["item1"], ["last_price"]).data_adapter("STOCKS"))
        .await
        .unwrap();
    assert!(matches!(
        sub.set_max_frequency(MaxFrequency::PerSecond(f64::NAN))
            .await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn server_side_close_is_reported_with_its_code() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let mut events = client.events();
    let mut sub = client
        .subscribe(Subscription::merge(["item1"], ["last_price"]).data_adapter("STOCKS"))
        .await
        .unwrap();
    next_update(&mut sub, "an update").await;
    server.close_sessions(35, "closed by the test");
    let cause = wait_event(&mut events, "the close", |e| match e {
        ConnectionEvent::SessionClosed { cause } => Some(cause.clone()),
        _ => None,
    })
    .await;
    let CloseCause::Server(e) = cause else {
        panic!("{cause:?}")
    };
    assert_eq!(
        (e.kind, e.code, e.message.as_str()),
        (ServerErrorKind::End, 35, "closed by the test")
    );
    wait_status(&client, Status::Disconnected).await;
    // The subscription is kept for the next session.
    wait_sub(&mut sub, "Interrupted", |e| {
        matches!(e, SubscriptionEvent::Interrupted).then_some(())
    })
    .await;
    client.connect();
    within("reconnection", client.connected()).await.unwrap();
    wait_sub(&mut sub, "SUBOK again", |e| {
        matches!(e, SubscriptionEvent::Subscribed { .. }).then_some(())
    })
    .await;
}

#[tokio::test]
async fn conerr_for_an_unknown_adapter_set() {
    let (server, _) = start().await;
    let client = tlcp_client::Client::builder(&server.url(), "NO_SUCH_SET")
        .build()
        .unwrap();
    client.connect();
    match within("the refusal", client.connected()).await {
        Err(Error::Server(e)) => {
            assert_eq!(e.kind, ServerErrorKind::ConErr);
            assert_eq!(e.code, 2, "{e}");
        }
        other => panic!("expected CONERR, got {other:?}"),
    }
    assert_eq!(client.current_status(), Status::Disconnected);
}

#[tokio::test]
async fn reqerr_for_an_unknown_data_adapter() {
    let (server, _) = start().await;
    let client = connect(&server, "DEMO", |b| b).await;
    let mut sub = client
        .subscribe(Subscription::merge(["item1"], ["last_price"]).data_adapter("NO_SUCH_ADAPTER"))
        .await
        .unwrap();
    let error = wait_sub(&mut sub, "the refusal", |e| match e {
        SubscriptionEvent::Error(e) => Some(e.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(error, SubscriptionError::Server { code: 17, .. }),
        "{error:?}"
    );
    // The stream ends after the error.
    assert!(
        within("the end", futures_util::StreamExt::next(&mut sub))
            .await
            .is_none()
    );
    // Invalid requests are refused before anything is sent.
    let none: [&str; 0] = [];
    assert!(matches!(
        client.subscribe(Subscription::merge(none, ["f"])).await,
        Err(Error::Invalid(_))
    ));
}

/// A numbered DISTINCT flow goes through a dropped stream connection without a gap nor a
/// duplicate, and the client says the session was recovered.
async fn recovery_over(transport: ForcedTransport) {
    let (server, manual) = start().await;
    let client = connect(&server, "TEST", |b| {
        b.forced_transport(transport)
            .retry_delay(Duration::from_millis(500))
    })
    .await;
    let mut events = client.events();
    let mut sub = client
        .subscribe(Subscription::distinct(["counter"], ["n"]).snapshot(false))
        .await
        .unwrap();
    let feed = manual.feed("counter").await;
    const N: u32 = 400;
    let pusher = tokio::spawn({
        let feed = feed.clone();
        async move {
            for n in 1..=N {
                feed.update(&update(&[("n", &n.to_string())]));
                if n % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    });
    let mut expected = 1;
    let mut dropped = false;
    while expected <= N {
        let u = next_update(&mut sub, &format!("update {expected}")).await;
        assert_eq!(
            u.value(1),
            Some(expected.to_string().as_str()),
            "gap or duplicate"
        );
        expected += 1;
        if expected == 100 && !dropped {
            server.drop_stream_connections();
            dropped = true;
        }
    }
    pusher.await.unwrap();
    wait_event(&mut events, "the recovery", |e| {
        matches!(e, ConnectionEvent::SessionRecovered { .. }).then_some(())
    })
    .await;
    let stats = client.stats();
    assert_eq!(
        (stats.recoveries, stats.reconnects, stats.sessions),
        (1, 0, 1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn recovery_without_loss_ws() {
    recovery_over(ForcedTransport::WsStreaming).await;
}

#[tokio::test]
async fn recovery_without_loss_http() {
    recovery_over(ForcedTransport::HttpStreaming).await;
}

/// `close()` returns once the `destroy` request is out, so the server ends the session at
/// once (not when it times out), on every transport; the handle can connect again.
#[tokio::test]
async fn close_ends_the_session_on_the_server_at_once() {
    let (server, _) = start().await;
    for transport in [
        ForcedTransport::WsStreaming,
        ForcedTransport::HttpStreaming,
        ForcedTransport::WsPolling,
        ForcedTransport::HttpPolling,
    ] {
        let client = connect(&server, "DEMO", |b| b.forced_transport(transport)).await;
        assert_eq!(server.session_count(), 1, "{transport:?}");
        let started = tokio::time::Instant::now();
        client.close().await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{transport:?}: {took:?}");
        assert_eq!(client.current_status(), Status::Disconnected);
        if matches!(
            transport,
            ForcedTransport::HttpStreaming | ForcedTransport::HttpPolling
        ) {
            // `destroy` was a control request, and its answer has come back.
            assert_eq!(server.session_count(), 0, "{transport:?}");
        }
        // Over WebSocket the request is out; the server may still be reading it.
        within("the server ends the session", async {
            while server.session_count() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let gone = started.elapsed();
        assert!(gone < Duration::from_secs(2), "{transport:?}: {gone:?}");
        client.connect();
        within("reconnection", client.connected()).await.unwrap();
        client.close().await;
    }
}
