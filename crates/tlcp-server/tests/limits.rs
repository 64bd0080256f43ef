//! What a peer can make the server hold is bounded, and absurd values are refused or
//! clamped, never a panic: message sequences, frequencies and bandwidths, session output,
//! subscriptions, items and sessions.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{CID, HttpPeer, WsPeer, control, http_create, start};

/// 1e-20, as a client writes it (`parse_decimal` takes digits and one dot).
const TINY: &str = "0.00000000000000000001";

// --- 1. Messages ---------------------------------------------------------------------

/// A `LS_msg_prog` absurdly far ahead is an invalid value; a large but sane gap is
/// skipped as one range (one `MSGFAIL,39` with the count), and the numbers in it are
/// still told apart from the received ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_far_ahead_is_refused_and_a_wide_gap_is_skipped_at_once() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    c.send("msg\r\nLS_reqId=1&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=100000000000&LS_max_wait=0")
        .await;
    c.expect("REQERR,1,65,").await;
    c.send("msg\r\nLS_reqId=2&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=18446744073709551615&LS_max_wait=0")
        .await;
    c.expect("REQERR,2,65,").await;
    let t = Instant::now();
    c.send(
        "msg\r\nLS_reqId=3&LS_message=ECHO%7Cfar&LS_sequence=s&LS_msg_prog=1000001&LS_max_wait=0",
    )
    .await;
    c.expect_exact("REQOK,3").await;
    c.expect_exact("MSGFAIL,s,1000000,39,1000000").await;
    c.expect_exact("MSGDONE,s,1000001,far").await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    c.send("msg\r\nLS_reqId=4&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=77")
        .await;
    c.expect("REQERR,4,32,").await;
    c.send("msg\r\nLS_reqId=5&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=1000001")
        .await;
    c.expect("REQERR,5,33,").await;
    server.shutdown().await.unwrap();
}

/// Messages waiting for a missing predecessor and sequences are capped per session
/// (`REQERR,68` beyond); the missing message itself is still taken, and drains the queue.
#[tokio::test]
async fn waiting_messages_and_sequences_are_capped() {
    let mut cfg = common::config();
    cfg.max_queued_messages = 3;
    cfg.max_message_sequences = 2;
    let (server, _m) = start(cfg).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    let msg = |req: u32, seq: &str, prog: u64| {
        format!(
            "msg\r\nLS_reqId={req}&LS_message=ECHO%7C{prog}&LS_sequence={seq}&LS_msg_prog={prog}&LS_max_wait=60000"
        )
    };
    for (req, prog) in [(1, 2), (2, 3), (3, 4)] {
        c.send(&msg(req, "a", prog)).await;
        c.expect_exact(&format!("REQOK,{req}")).await;
    }
    c.send(&msg(4, "a", 5)).await;
    c.expect("REQERR,4,68,").await;
    // The one the sequence waits for goes in, and the three behind it follow.
    c.send(&msg(5, "a", 1)).await;
    c.expect_exact("REQOK,5").await;
    for prog in 1..=4 {
        c.expect_exact(&format!("MSGDONE,a,{prog},{prog}")).await;
    }
    c.send(&msg(6, "b", 1)).await;
    c.expect_exact("REQOK,6").await;
    c.expect_exact("MSGDONE,b,1,1").await;
    c.send(&msg(7, "c", 1)).await;
    c.expect("REQERR,7,68,").await;
    // Known sequences go on.
    c.send(&msg(8, "a", 5)).await;
    c.expect_exact("REQOK,8").await;
    c.expect_exact("MSGDONE,a,5,5").await;
    server.shutdown().await.unwrap();
}

// --- 2. Decimals -----------------------------------------------------------------------

/// A maximum frequency too small to mean anything is refused before any item is started
/// (the adapter never hears of it), on `add` and on `reconf`, over WS and HTTP; the
/// session goes on.
#[tokio::test]
async fn tiny_frequencies_are_refused_before_anything_starts() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send(&format!("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=w1&LS_schema=a&LS_requested_max_frequency={TINY}"))
        .await;
    c.expect("REQERR,1,65,").await;
    let huge = format!("1{}", "0".repeat(400));
    c.send(&format!("control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=w2&LS_schema=a&LS_requested_max_frequency={huge}"))
        .await;
    c.expect("REQERR,2,65,").await;
    c.send("control\r\nLS_reqId=3&LS_op=add&LS_subId=3&LS_mode=MERGE&LS_group=w3&LS_schema=a&LS_requested_max_frequency=0.001")
        .await;
    c.expect_exact("REQOK,3").await;
    c.expect_exact("SUBOK,3,1,1").await;
    c.expect_exact("CONF,3,0.001,filtered").await;
    c.send(&format!(
        "control\r\nLS_reqId=4&LS_op=reconf&LS_subId=3&LS_requested_max_frequency={TINY}"
    ))
    .await;
    c.expect("REQERR,4,65,").await;
    // One update goes, the next waits 1000 s: no panic, no overflow.
    manual.wait_feed("w3").await;
    manual.push("w3", &[("a", Some("1"))]);
    c.expect_exact("U,3,1,1").await;
    manual.push("w3", &[("a", Some("2"))]);
    let feeds: Vec<String> = manual
        .feeds
        .lock()
        .unwrap()
        .iter()
        .map(|f| f.0.clone())
        .collect();
    assert_eq!(feeds, ["w3"], "refused subscriptions started nothing");

    let (mut stream, sid) = http_create(&server, "LS_adapter_set=TEST&LS_send_sync=false").await;
    let q = format!("&LS_session={sid}");
    let resp = control(&server, "control", &q, &format!("LS_reqId=5&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=h1&LS_schema=a&LS_requested_max_frequency={TINY}")).await;
    assert!(resp[0].starts_with("REQERR,5,65,"), "{resp:?}");
    let resp = control(
        &server,
        "control",
        &q,
        "LS_reqId=6&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=h2&LS_schema=a",
    )
    .await;
    assert_eq!(resp, ["REQOK,6"]);
    let resp = control(
        &server,
        "control",
        &q,
        &format!("LS_reqId=7&LS_op=reconf&LS_subId=2&LS_requested_max_frequency={TINY}"),
    )
    .await;
    assert!(resp[0].starts_with("REQERR,7,65,"), "{resp:?}");
    let resp = control(
        &server,
        "control",
        &q,
        "LS_reqId=8&LS_op=reconf&LS_subId=2&LS_requested_max_frequency=0.5",
    )
    .await;
    assert_eq!(resp, ["REQOK,8"]);
    assert_eq!(stream.expect("CONF,2,").await, "CONF,2,unlimited,filtered");
    assert_eq!(stream.expect("CONF,2,").await, "CONF,2,0.5,filtered");
    server.shutdown().await.unwrap();
}

/// A tiny bandwidth is honoured without a panic (the stream connection just sends very
/// slowly), and the session still ends at once; a bandwidth `CONS` cannot carry is
/// refused. Over WS and HTTP, on create and on constrain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_bandwidths_neither_panic_nor_delay_the_end() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.send("wsok").await;
    c.send(&format!("create_session\r\n{CID}&LS_adapter_set=TEST&LS_send_sync=false&LS_requested_max_bandwidth={TINY}"))
        .await;
    c.expect("CONOK,").await;
    assert_eq!(c.expect("CONS,").await, format!("CONS,{TINY}"));
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=b1&LS_schema=a")
        .await;
    // Whatever the bucket lets through; the items were taken, the stream lives on.
    manual.wait_feed("b1").await;
    for i in 0..20 {
        manual.push("b1", &[("a", Some(&i.to_string()))]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    c.send("control\r\nLS_reqId=2&LS_op=destroy").await;
    c.expect("END,31,").await;
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "END took {:?}",
        t.elapsed()
    );

    let (mut stream, sid) = http_create(
        &server,
        &format!("LS_adapter_set=TEST&LS_send_sync=false&LS_requested_max_bandwidth={TINY}"),
    )
    .await;
    let q = format!("&LS_session={sid}");
    let resp = control(
        &server,
        "control",
        &q,
        "LS_reqId=3&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=b2&LS_schema=a",
    )
    .await;
    assert_eq!(resp, ["REQOK,3"]);
    let resp = control(
        &server,
        "control",
        &q,
        &format!("LS_reqId=4&LS_op=constrain&LS_requested_max_bandwidth={TINY}"),
    )
    .await;
    assert_eq!(resp, ["REQOK,4"]);
    let huge = format!("1{}", "0".repeat(400));
    let resp = control(
        &server,
        "control",
        &q,
        &format!("LS_reqId=5&LS_op=constrain&LS_requested_max_bandwidth={huge}"),
    )
    .await;
    assert!(resp[0].starts_with("REQERR,5,65,"), "{resp:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let resp = control(&server, "control", &q, "LS_reqId=6&LS_op=destroy").await;
    assert_eq!(resp, ["REQOK,6"]);
    stream.expect("END,31,").await;
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "END took {:?}",
        t.elapsed()
    );

    let mut refused = HttpPeer::post(
        &server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("{CID}&LS_adapter_set=TEST&LS_requested_max_bandwidth={huge}"),
    )
    .await;
    assert!(refused.expect("CONERR,").await.starts_with("CONERR,65,"));
    server.shutdown().await.unwrap();
}

/// A bandwidth limit holding back a busy stream does not hold back its end: `END` comes
/// as soon as the session is destroyed, not after the queued output trickles out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_stream_ends_at_once() {
    let (server, manual) = start(common::config()).await;
    let (mut stream, sid) = http_create(
        &server,
        "LS_adapter_set=TEST&LS_send_sync=false&LS_requested_max_bandwidth=1",
    )
    .await;
    let q = format!("&LS_session={sid}");
    control(
        &server,
        "control",
        &q,
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=t1&LS_schema=a",
    )
    .await;
    manual.wait_feed("t1").await;
    // 1 kbit/s: these 20 KB would take minutes.
    let payload = "x".repeat(200);
    for i in 0..100 {
        manual.push("t1", &[("a", Some(&format!("{i}{payload}")))]);
    }
    stream.expect("U,1,1,0").await;
    let t = Instant::now();
    control(&server, "control", &q, "LS_reqId=2&LS_op=destroy").await;
    stream.expect("END,31,").await;
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "END took {:?}",
        t.elapsed()
    );
    server.shutdown().await.unwrap();
}

// --- 3. Session output ---------------------------------------------------------------

/// A WebSocket client that sends and never reads: once its session's output reaches the
/// congestion mark the server stops reading its requests (its sends block), the session
/// stays alive and its output stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_never_reads_is_held_back() {
    let mut cfg = common::config();
    cfg.congestion_bytes = 16 * 1024;
    cfg.max_output_bytes = 1024 * 1024;
    let (server, _m) = start(cfg).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    let echo = "e".repeat(4_000);
    let mut blocked = false;
    for prog in 1..=20_000u64 {
        let frame = format!("msg\r\nLS_reqId={prog}&LS_message=ECHO%7C{echo}&LS_msg_prog={prog}");
        if tokio::time::timeout(Duration::from_secs(1), c.send(&frame))
            .await
            .is_err()
        {
            blocked = true;
            break;
        }
    }
    assert!(
        blocked,
        "the server read 80 MB of requests from a client that reads nothing"
    );
    assert_eq!(server.session_count(), 1, "held back, not closed");
    let queued = server.queued_output_bytes();
    assert!(queued <= 1024 * 1024, "{queued} bytes queued");
    server.shutdown().await.unwrap();
}

/// Output that grows while nobody takes it (here a session between polls, sent requests
/// over other connections) closes the session past `max_output_bytes`: the items are
/// released, requests are refused, and the next bind gets `END,33`.
#[tokio::test]
async fn output_beyond_the_hard_cap_ends_the_session() {
    let mut cfg = common::config();
    cfg.congestion_bytes = 16 * 1024;
    cfg.max_output_bytes = 64 * 1024;
    cfg.unbound_timeout = Duration::from_secs(30);
    let (server, manual) = start(cfg).await;
    for attempt in 0.. {
        assert!(attempt < 10, "the reaper always won the race");
        let (mut poll, sid) = http_create(
            &server,
            "LS_adapter_set=TEST&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0",
        )
        .await;
        poll.expect("LOOP,").await;
        let q = format!("&LS_session={sid}");
        let item = format!("cap{attempt}");
        let add =
            format!("LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group={item}&LS_schema=a");
        assert_eq!(control(&server, "control", &q, &add).await, ["REQOK,1"]);
        manual.wait_feed(&item).await;
        // Batches of 500 constrains: 4.5 KB of CONS each, which nobody takes.
        let mut closed_after = None;
        for batch in 0..40 {
            let body: Vec<String> = (0..500)
                .map(|k| {
                    format!("LS_reqId={batch}_{k}&LS_op=constrain&LS_requested_max_bandwidth=10")
                })
                .collect();
            let resp = control(&server, "control", &q, &body.join("\r\n")).await;
            if resp.iter().any(|l| l.starts_with("REQERR,")) {
                let last = resp.last().unwrap();
                assert!(
                    last.starts_with(&format!("REQERR,{batch}_499,20,")),
                    "{last}"
                );
                closed_after = Some(batch);
                break;
            }
        }
        let batch = closed_after.expect("the session was closed");
        assert!((13..=16).contains(&batch), "closed after {batch} batches");
        let mut bind = HttpPeer::post(
            &server,
            "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
            &format!("LS_session={sid}&LS_polling=true&LS_idle_millis=0"),
        )
        .await;
        let line = bind.next_line().await.unwrap();
        if line.starts_with("CONERR,20,") {
            continue; // reaped in between: the same test again
        }
        assert!(line.starts_with("END,33,"), "{line}");
        assert!(
            manual.unsubscribed.lock().unwrap().contains(&item),
            "the items of the closed session are released"
        );
        break;
    }
    assert_eq!(server.session_count(), 0);
    server.shutdown().await.unwrap();
}

// --- 4. Resource limits --------------------------------------------------------------

/// The defaults leave room for the project's own benchmarks: 10,000 subscriptions of one
/// item in one session, 1,000 sessions.
#[test]
fn the_default_limits_fit_the_benchmarks() {
    let c = tlcp_server::ServerConfig::default();
    assert!(c.max_subscriptions >= 10_000 && c.max_items_per_session >= 10_000);
    assert!(c.max_items_per_subscription >= 4);
    assert!(c.max_sessions.is_some_and(|m| m >= 1_000));
    assert!(c.max_output_bytes > c.congestion_bytes);
}

/// Subscriptions and items per session and per subscription are capped (`REQERR,68`),
/// refused before any item starts; room comes back with a delete.
#[tokio::test]
async fn subscriptions_and_items_are_capped() {
    let mut cfg = common::config();
    cfg.max_subscriptions = 2;
    cfg.max_items_per_subscription = 2;
    cfg.max_items_per_session = 3;
    let (server, manual) = start(cfg).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    let add = |req: u32, group: &str| {
        format!(
            "control\r\nLS_reqId={req}&LS_op=add&LS_subId={req}&LS_mode=MERGE&LS_group={group}&LS_schema=a"
        )
    };
    c.send(&add(1, "x1%20x2%20x3")).await;
    c.expect("REQERR,1,68,").await;
    c.send(&add(2, "a1%20a2")).await;
    c.expect_exact("REQOK,2").await;
    c.send(&add(3, "b1%20b2")).await;
    c.expect("REQERR,3,68,").await;
    c.send(&add(4, "b1")).await;
    c.expect_exact("REQOK,4").await;
    c.send(&add(5, "c1")).await;
    c.expect("REQERR,5,68,").await;
    c.send("control\r\nLS_reqId=6&LS_op=delete&LS_subId=4")
        .await;
    c.expect_exact("REQOK,6").await;
    c.expect_exact("UNSUB,4").await;
    c.send(&add(7, "c1")).await;
    c.expect_exact("REQOK,7").await;
    manual.wait_feed("c1").await;
    let mut started: Vec<String> = manual
        .feeds
        .lock()
        .unwrap()
        .iter()
        .map(|f| f.0.clone())
        .collect();
    started.sort();
    assert_eq!(
        started,
        ["a1", "a2", "b1", "c1"],
        "refused adds started nothing"
    );
    server.shutdown().await.unwrap();
}

/// Sessions beyond `max_sessions` are refused with `CONERR,8`, over WS and HTTP.
#[tokio::test]
async fn sessions_beyond_the_limit_get_conerr_8() {
    let mut cfg = common::config();
    cfg.max_sessions = Some(2);
    let (server, _m) = start(cfg).await;
    let mut a = WsPeer::connect(&server, "2.5.0").await;
    a.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    let (_b, _) = http_create(&server, "LS_adapter_set=TEST&LS_send_sync=false").await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.send(&format!("create_session\r\n{CID}&LS_adapter_set=TEST"))
        .await;
    c.expect("CONERR,8,").await;
    let mut h = HttpPeer::post(
        &server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("{CID}&LS_adapter_set=TEST"),
    )
    .await;
    assert!(h.expect("CONERR,").await.starts_with("CONERR,8,"));
    a.send("control\r\nLS_reqId=1&LS_op=destroy").await;
    a.expect("END,31,").await;
    c.send(&format!(
        "create_session\r\n{CID}&LS_adapter_set=TEST&LS_send_sync=false"
    ))
    .await;
    c.expect("CONOK,").await;
    assert_eq!(server.session_count(), 2);
    server.shutdown().await.unwrap();
}

/// A client that stops reading while its items push is dropped once a write has waited
/// `write_timeout` without it taking a byte: its connection (and what waits on it) is not
/// held for ever. The session only loses its stream connection (it may be recovered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let mut cfg = common::config();
    cfg.write_timeout = Duration::from_millis(500);
    let (server, manual) = start(cfg).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=big&LS_schema=v")
        .await;
    c.expect_exact("REQOK,1").await;
    manual.wait_feed("big").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let (stop, manual) = (stop.clone(), manual.clone());
        tokio::spawn(async move {
            let value = "x".repeat(16 * 1024);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                manual.push("big", &[("v", Some(&format!("{n}{value}")))]);
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    // The client reads nothing for a while: the socket buffers fill, the server's
    // writes wait, and the write timeout passes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Reading now drains what the buffers hold, then finds the connection closed.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "the server kept writing to a client that had stopped reading"
        );
        if c.next_line().await.is_none() {
            break;
        }
    }
    assert_eq!(
        server.session_count(),
        1,
        "the session waits to be recovered"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pusher.await.unwrap();
    server.shutdown().await.unwrap();
}
