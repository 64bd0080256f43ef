//! Session recovery refused: the server no longer holds what the client missed, so the
//! official client must give the session up and open a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tlcp_server::{ServerConfig, Update};
use tlcp_testkit::fault::{Blackhole, FaultProxy};
use tlcp_testkit::official::{OfficialKind, is_event_of};

use super::{Fixture, T, Transport, session_ids, statuses};

/// The stream goes silent (a proxy drops every byte both ways) while a MERGE flow runs;
/// the server keeps no recovery log, so what it sent into the silence cannot be replayed:
/// the recovery bind gets `CONERR,20`. The client must then open a new session (with
/// `LS_old_session`, which closes the old one), subscribe again and get the item's
/// current state as a snapshot, without reporting an error to the application.
pub(super) async fn recovery_refused(kind: OfficialKind, transport: Transport) {
    let mut config = ServerConfig::default();
    config.recovery_buffer_bytes = 0;
    let fx = Fixture::start(config).await;
    let proxy = FaultProxy::start(fx.server.local_addr()).await;
    let url = format!("http://{}", proxy.local_addr());
    // Short timings, so that the silence is noticed in about a second.
    let options = json!({"keepaliveInterval": 300, "stalledTimeout": 300,
                         "reconnectTimeout": 500, "idleTimeout": 1000,
                         "retryDelay": 1000, "firstRetryMaxDelay": 50});
    let mut client = fx.connect_to(&url, kind, transport, "TEST", options).await;
    client
        .send(
            json!({"cmd": "subscribe", "id": "q", "mode": "MERGE", "items": ["seq"],
                     "fields": ["n"], "snapshot": true}),
        )
        .await;
    client
        .expect("subscribed", T, is_event_of("subscribed", "q"))
        .await;
    fx.data.wait_feed("seq").await;
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (stop, data) = (stop.clone(), fx.data.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            let mut u = Update::new();
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                u.set("n", &n.to_string());
                // The item's latest feed: when the old session goes, the item may stop
                // and start again for the new one.
                data.feed("seq").update(&u);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            n
        })
    };
    let n_of = |e: &Value| e["fields"]["n"].as_str()?.parse::<u64>().ok();
    client
        .expect("the flow", T, |e: &Value| {
            is_event_of("update", "q")(e) && n_of(e).is_some_and(|n| n >= 20)
        })
        .await;
    let first = session_ids(client.events());
    let connected = transport.connected();
    proxy.blackhole(Blackhole::Drop);
    let lost = client
        .collect_until("the connection given up", T, |e: &Value| {
            e["ev"] == "status" && e["status"] != connected.as_str()
        })
        .await;
    proxy.blackhole(Blackhole::Off);
    let after = client
        .collect_until("a snapshot in a new session", T, |e: &Value| {
            is_event_of("update", "q")(e) && e["snapshot"] == true
        })
        .await;
    let sessions = session_ids(client.events());
    assert!(
        sessions.len() == 2 && sessions[0] == first[0] && sessions[1] != sessions[0],
        "{kind}: a new session was expected: {sessions:?}"
    );
    let all: Vec<Value> = lost.iter().chain(&after).cloned().collect();
    let statuses = statuses(&all);
    assert!(
        statuses.first().map(String::as_str) == Some("DISCONNECTED:TRYING-RECOVERY")
            && statuses.last() == Some(&connected),
        "{kind}: {statuses:?}"
    );
    assert!(
        all.iter().all(|e| e["ev"] != "server_error"),
        "{kind}: the refusal must not reach the application: {all:#?}"
    );
    // The flow goes on in the new session.
    let snapshot_n = after.last().and_then(n_of).unwrap_or(0);
    client
        .expect("the flow in the new session", T, |e: &Value| {
            is_event_of("update", "q")(e) && n_of(e).is_some_and(|n| n > snapshot_n + 10)
        })
        .await;
    // The new session named the old one (LS_old_session): the server closed it at once,
    // long before its unbound timeout (20 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while fx.server.session_count() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind}: the old session is still open ({} sessions)",
            fx.server.session_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    pusher.await.unwrap();
    super::finish(client).await;
}
