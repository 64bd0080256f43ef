//! The server over HTTP: streaming, polling, content length, recovery, limits, errors.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{HttpPeer, WsPeer, control, http_create, start};

async fn create(server: &tlcp_server::ServerHandle, params: &str) -> (HttpPeer, String) {
    create_in(server, "TEST", params).await
}

/// [`create`], in another adapter set.
async fn create_in(
    server: &tlcp_server::ServerHandle,
    set: &str,
    params: &str,
) -> (HttpPeer, String) {
    http_create(server, &format!("LS_adapter_set={set}&{params}")).await
}

#[tokio::test]
async fn streaming_with_control_connections() {
    let (server, manual) = start(common::config()).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false").await;
    assert!(
        stream.log.iter().any(|l| l.starts_with("NOOP,")),
        "HTTP preamble: {:?}",
        stream.log
    );
    let resp = control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a%20b&LS_snapshot=true\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=RAW&LS_group=i2&LS_schema=a\r\nLS_reqId=3&LS_op=delete&LS_subId=9",
    )
    .await;
    assert_eq!(resp[0], "REQOK,1");
    assert_eq!(resp[1], "REQOK,2");
    assert!(resp[2].starts_with("REQERR,3,19,"), "{resp:?}");
    assert_eq!(stream.expect("SUBOK,1").await, "SUBOK,1,1,2");
    manual.wait_feed("i1").await;
    manual.push("i1", &[("a", Some("é,%")), ("b", Some("2"))]);
    assert_eq!(stream.expect("U,").await, "U,1,1,é,%25|2");
    let resp = control(
        &server,
        "msg",
        &format!("&LS_session={sid}"),
        "LS_reqId=4&LS_message=x&LS_msg_prog=1",
    )
    .await;
    assert_eq!(resp, ["REQOK,4"]);
    let resp = control(&server, "heartbeat", &format!("&LS_session={sid}"), "\r\n").await;
    assert_eq!(resp, ["REQOK"]);
    let resp = control(
        &server,
        "control",
        "",
        &format!("LS_session={sid}&LS_reqId=5&LS_op=destroy&LS_cause_code=-3&LS_cause_message=bye"),
    )
    .await;
    assert_eq!(resp, ["REQOK,5"]);
    assert_eq!(stream.expect("END").await, "END,-3,bye");
    assert!(stream.rest().await.is_empty());
    assert!(stream.ended_cleanly());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn content_length_loop_and_rebind_without_loss() {
    let (server, manual) = start(common::config()).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false&LS_content_length=3000").await;
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=i1&LS_schema=n",
    )
    .await;
    manual.wait_feed("i1").await;
    for i in 0..1000 {
        manual.push("i1", &[("n", Some(&format!("{i:04}")))]);
    }
    let mut got = Vec::new();
    let mut streams = 1;
    loop {
        match stream.next_line().await {
            Some(l) if l.starts_with("U,1,1,") => got.push(l[6..].to_owned()),
            Some(l) if l == "LOOP,0" => {
                assert!(stream.rest().await.is_empty(), "nothing after LOOP");
                streams += 1;
                stream = HttpPeer::post(
                    &server,
                    "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
                    &format!("LS_session={sid}&LS_content_length=3000&LS_send_sync=false"),
                )
                .await;
                stream.expect("CONOK,").await;
            }
            Some(_) => {}
            None => panic!("stream ended without LOOP"),
        }
        if got.len() == 1000 {
            break;
        }
    }
    let expect: Vec<String> = (0..1000).map(|i| format!("{i:04}")).collect();
    assert_eq!(got, expect);
    assert!(streams >= 3, "3000-byte streams must loop: {streams}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn polling_returns_what_is_ready_or_waits_idle() {
    let (server, manual) = start(common::config()).await;
    let (mut first, sid) = create(
        &server,
        "LS_polling=true&LS_polling_millis=100&LS_idle_millis=0",
    )
    .await;
    assert_eq!(first.expect("LOOP,").await, "LOOP,100");
    assert!(first.rest().await.is_empty());
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a",
    )
    .await;
    manual.wait_feed("i1").await;
    manual.push("i1", &[("a", Some("1"))]);
    let poll = |idle: u64| {
        let server = &server;
        let sid = sid.clone();
        async move {
            let mut p = HttpPeer::post(
                server,
                "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
                &format!(
                    "LS_session={sid}&LS_polling=true&LS_polling_millis=100&LS_idle_millis={idle}"
                ),
            )
            .await;
            p.expect("CONOK,").await;
            p.rest().await
        }
    };
    let lines = poll(0).await;
    assert!(lines.contains(&"SUBOK,1,1,1".to_owned()), "{lines:?}");
    assert!(lines.contains(&"U,1,1,1".to_owned()), "{lines:?}");
    assert_eq!(lines.last().unwrap(), "LOOP,100");
    assert!(
        !lines.iter().any(|l| l == "PROBE" || l.starts_with("SYNC")),
        "{lines:?}"
    );
    // Nothing ready: waits up to idle, then an empty poll.
    let t = Instant::now();
    let lines = poll(300).await;
    assert!(
        t.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| !l.starts_with("NOOP")
                && !l.starts_with("SERVNAME")
                && !l.starts_with("CLIENTIP")
                && !l.starts_with("CONS"))
            .collect::<Vec<_>>(),
        ["LOOP,100"]
    );
    // Data arriving during the idle wait ends the poll early.
    let pusher = {
        let manual = manual.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            manual.push("i1", &[("a", Some("2"))]);
        })
    };
    let t = Instant::now();
    let lines = poll(5000).await;
    pusher.await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(2000));
    assert!(lines.contains(&"U,1,1,2".to_owned()), "{lines:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn recovery_replays_exactly_what_was_missed() {
    let (server, manual) = start(common::config()).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false").await;
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=i1&LS_schema=n",
    )
    .await;
    manual.wait_feed("i1").await;
    for i in 0..10 {
        manual.push("i1", &[("n", Some(&i.to_string()))]);
    }
    // SUBOK, CONF, U0..U9 = 12 data notifications (no EOS: no snapshot was asked);
    // the client saw up to U4: 7 of them.
    stream.expect("U,1,1,4").await;
    server.drop_stream_connections();
    assert!(stream.rest().await.iter().all(|l| l.starts_with("U,")));
    assert!(
        !stream.ended_cleanly(),
        "a drop must not look like a clean end"
    );
    for i in 10..12 {
        manual.push("i1", &[("n", Some(&i.to_string()))]);
    }
    let mut r = HttpPeer::post(
        &server,
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("LS_session={sid}&LS_recovery_from=7&LS_send_sync=false"),
    )
    .await;
    r.expect("CONOK,").await;
    assert_eq!(r.expect("PROG,").await, "PROG,7");
    let mut got = Vec::new();
    while got.len() < 7 {
        let l = r.next_line().await.unwrap();
        if l.starts_with("U,") {
            got.push(l);
        }
    }
    assert_eq!(
        got,
        (5..12).map(|i| format!("U,1,1,{i}")).collect::<Vec<_>>()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn recovery_beyond_the_buffer_is_refused() {
    let mut cfg = common::config();
    cfg.recovery_buffer_bytes = 1;
    let (server, manual) = start(cfg).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false").await;
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=i1&LS_schema=n",
    )
    .await;
    manual.wait_feed("i1").await;
    for i in 0..2000 {
        manual.push("i1", &[("n", Some(&format!("{i:0100}")))]);
    }
    stream.expect(&format!("U,1,1,{:0100}", 1999)).await;
    server.drop_stream_connections();
    let mut r = HttpPeer::post(
        &server,
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("LS_session={sid}&LS_recovery_from=3"),
    )
    .await;
    assert!(r.expect("CONERR,").await.starts_with("CONERR,20,"));
    let mut r = HttpPeer::post(
        &server,
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("LS_session={sid}&LS_recovery_from=999999"),
    )
    .await;
    assert!(r.expect("CONERR,").await.starts_with("CONERR,65,"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bandwidth_constraint_is_enforced() {
    let (server, manual) = start(common::config()).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false").await;
    let resp = control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=constrain&LS_requested_max_bandwidth=40",
    )
    .await;
    assert_eq!(resp, ["REQOK,1"]);
    assert_eq!(stream.expect("CONS,").await, "CONS,40");
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=2&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=i1&LS_schema=n",
    )
    .await;
    manual.wait_feed("i1").await;
    // 40 kbit/s = 5000 bytes/s; push ~15 KB: it must take about 2-3 s, not milliseconds.
    let payload = "x".repeat(140);
    for i in 0..100 {
        manual.push("i1", &[("n", Some(&format!("{i:03}{payload}")))]);
    }
    let t = Instant::now();
    stream.expect("U,1,1,099").await;
    let took = t.elapsed();
    assert!(
        took > Duration::from_millis(1800),
        "bandwidth not enforced: {took:?}"
    );
    assert!(took < Duration::from_secs(6), "too slow: {took:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_http_requests_get_errors_and_harm_nothing() {
    let (server, _m) = start(common::config()).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false&LS_keepalive_millis=200").await;
    // Invalid values are 65, malformed requests (no `=`, a bad escape, a missing
    // mandatory parameter, an unknown request) 67, an unknown session 20 (Appendices
    // A and B); session requests answer CONERR, control requests REQERR (ERROR without a
    // request id).
    for (name, body, expected) in [
        ("control", "LS_reqId=1&LS_op=add&LS_subId=x", "REQERR,1,65,"),
        ("control", "%%%", "ERROR,67,"),
        (
            "control",
            "LS_reqId=2&LS_op=add&LS_subId=1&LS_mode=FAST&LS_group=a&LS_schema=b",
            "REQERR,2,65,",
        ),
        ("msg", "LS_reqId=3", "REQERR,3,67,"),
        ("create_session", "LS_adapter_set=%ZZ", "CONERR,67,"),
        ("bind_session", "LS_session=nope", "CONERR,20,"),
        ("unknown", "x=y", "ERROR,67,"),
    ] {
        let lines = control(&server, name, &format!("&LS_session={sid}"), body).await;
        assert_eq!(lines.len(), 1, "{name} {body}: {lines:?}");
        assert!(lines[0].starts_with(expected), "{name} {body}: {lines:?}");
    }
    let mut p = HttpPeer::post(&server, "/elsewhere", "").await;
    assert_eq!(p.status, 404);
    let _ = p.rest().await;
    let big = "x".repeat(60_000);
    let lines = control(&server, "control", "", &big).await;
    assert!(lines[0].starts_with("ERROR,67,"), "{lines:?}");
    // The session still streams keepalives, and nothing else came on it.
    assert_eq!(stream.next_line().await.as_deref(), Some("PROBE"));
    assert_eq!(stream.next_line().await.as_deref(), Some("PROBE"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn http_create_then_ws_bind() {
    let (server, manual) = start(common::config()).await;
    let (mut first, sid) = create(
        &server,
        "LS_polling=true&LS_polling_millis=0&LS_idle_millis=0",
    )
    .await;
    assert_eq!(first.expect("LOOP,").await, "LOOP,0");
    let mut ws = WsPeer::connect(&server, "2.5.0").await;
    ws.send(&format!(
        "bind_session\r\nLS_session={sid}&LS_send_sync=false"
    ))
    .await;
    ws.expect(&format!("CONOK,{sid},")).await;
    ws.expect("CONS,").await;
    ws.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a")
        .await;
    ws.expect_exact("REQOK,1").await;
    manual.wait_feed("i1").await;
    manual.push("i1", &[("a", Some("v"))]);
    ws.expect("U,1,1,v").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unbound_session_expires_and_old_session_frees_the_previous_one() {
    let mut cfg = common::config();
    cfg.unbound_timeout = Duration::from_millis(300);
    let (server, _manual) = start(cfg).await;
    // A polling session that nobody polls again: gone after the unbound timeout.
    let (mut p, sid) = create(
        &server,
        "LS_polling=true&LS_polling_millis=0&LS_idle_millis=0",
    )
    .await;
    assert_eq!(p.expect("LOOP,").await, "LOOP,0");
    assert_eq!(server.session_count(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.session_count(), 0, "expired");
    let mut r = HttpPeer::post(
        &server,
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("LS_session={sid}"),
    )
    .await;
    assert!(r.expect("CONERR,").await.starts_with("CONERR,20,"));
    // A client replacing a lost session names it: the old one is freed at once.
    let (_old, old_sid) = create(&server, "LS_send_sync=false").await;
    let (_new, _) = create(
        &server,
        &format!("LS_send_sync=false&LS_old_session={old_sid}"),
    )
    .await;
    assert_eq!(server.session_count(), 1, "the old session was closed");
    server.shutdown().await.unwrap();
}

/// Control connections racing on one subscription id (adds of different sizes and
/// deletes, concurrently, while every item pushes): no request harms the session, no
/// listener outlives its subscription (each item is released at the adapter as often as
/// it was subscribed), and the subscription holding the id gets only its own items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_adds_and_deletes_of_one_subscription_id() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let (server, manual) = start(common::config()).await;
    let (mut stream, sid) = create(&server, "LS_send_sync=false").await;
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (manual, stop) = (manual.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let feeds: Vec<_> = manual.feeds.lock().unwrap().clone();
                for (_, feed) in feeds.iter().rev().take(8) {
                    feed.update(tlcp_server::Update::new().set("n", &n.to_string()));
                }
            }
        })
    };
    let add = |req: u32, group: &'static str| {
        format!(
            "LS_session={sid}&LS_reqId={req}&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group={group}&LS_schema=n"
        )
    };
    let delete = |req: u32| format!("LS_session={sid}&LS_reqId={req}&LS_op=delete&LS_subId=1");
    for round in 0..150u32 {
        let r = round * 10;
        let (big, del, small) = (add(r + 1, "a1%20a2%20a3"), delete(r + 2), add(r + 3, "b1"));
        let (a, b, c) = tokio::join!(
            control(&server, "control", "", &big),
            control(&server, "control", "", &del),
            control(&server, "control", "", &small),
        );
        for resp in [a, b, c] {
            assert!(
                resp.len() == 1
                    && (resp[0].starts_with("REQOK,") || resp[0].starts_with("REQERR,")),
                "{resp:?}"
            );
        }
        // Whatever holds the id now goes.
        control(&server, "control", "", &delete(r + 4)).await;
    }
    stop.store(true, Ordering::Relaxed);
    pusher.join().unwrap();
    // The session is unharmed: it still answers, and its stream still flows.
    let resp = control(&server, "control", "", &add(9_001, "b1")).await;
    assert_eq!(resp, ["REQOK,9001"]);
    manual.push("b1", &[("n", Some("last"))]);
    loop {
        let l = stream.expect("U,1,").await;
        // One-item subscription: only item 1; its lines come after its own SUBOK.
        if l == "U,1,1,last" {
            break;
        }
    }
    let resp = control(&server, "control", "", &delete(9_002)).await;
    assert_eq!(resp, ["REQOK,9002"]);
    // Every subscription of an item at the adapter was followed by its release.
    let subscribed = manual.feeds.lock().unwrap().len();
    let unsubscribed = manual.unsubscribed.lock().unwrap().len();
    assert_eq!(
        subscribed, unsubscribed,
        "a listener outlived its subscription"
    );
    // Every `U` line belongs to an item of the subscription announced before it.
    let mut items = 0;
    for l in &stream.log {
        if let Some(rest) = l.strip_prefix("SUBOK,1,") {
            items = rest.split(',').next().unwrap().parse().unwrap();
        } else if l.starts_with("UNSUB,1") {
            items = 0;
        } else if let Some(rest) = l.strip_prefix("U,1,") {
            let item: usize = rest.split(',').next().unwrap().parse().unwrap();
            assert!(
                item <= items,
                "{l:?} while the subscription had {items} item(s)"
            );
        }
    }
    server.shutdown().await.unwrap();
}

/// A sequence's messages sent out of order over parallel control connections: each is
/// processed once, in `LS_msg_prog` order (the outcomes come in that order), none is
/// skipped while its predecessors arrive within `LS_max_wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_sent_out_of_order_on_parallel_connections_is_processed_in_order() {
    const N: u64 = 200;
    let (server, _manual) = start(common::config()).await;
    let (mut stream, sid) = create_in(&server, "DEMO", "LS_send_sync=false").await;
    // A fixed shuffle of 1..=N.
    let mut order: Vec<u64> = (1..=N).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..order.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        order.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    let bodies: Vec<String> = order
        .iter()
        .map(|n| {
            format!(
                "LS_session={sid}&LS_reqId={n}&LS_message=ECHO%7C{n}&LS_sequence=q&\
                 LS_msg_prog={n}&LS_max_wait=20000"
            )
        })
        .collect();
    for chunk in bodies.chunks(8) {
        let answers =
            futures_util::future::join_all(chunk.iter().map(|b| control(&server, "msg", "", b)))
                .await;
        for a in answers {
            assert!(a.len() == 1 && a[0].starts_with("REQOK,"), "{a:?}");
        }
    }
    for n in 1..=N {
        assert_eq!(stream.expect("MSG").await, format!("MSGDONE,q,{n},{n}"));
    }
    server.shutdown().await.unwrap();
}

/// A session destroyed while its subscriptions are being added: whatever each add got
/// to do, every item it started is released at the adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroying_a_session_while_subscriptions_are_added_releases_every_item() {
    let (server, manual) = start(common::config()).await;
    for round in 0..60u32 {
        let (_stream, sid) = create(&server, "LS_send_sync=false").await;
        let adds: Vec<String> = (1..=3u32)
            .map(|sub| {
                format!(
                    "LS_session={sid}&LS_reqId={sub}&LS_op=add&LS_subId={sub}&LS_mode=MERGE&\
                     LS_group=d{round}a%20d{round}b%20shared&LS_schema=n"
                )
            })
            .collect();
        let destroy = format!("LS_session={sid}&LS_reqId=9&LS_op=destroy");
        let (answers, _) = tokio::join!(
            futures_util::future::join_all(adds.iter().map(|b| control(&server, "control", "", b))),
            async {
                // Let some adds start first.
                tokio::task::yield_now().await;
                control(&server, "control", "", &destroy).await
            }
        );
        for a in answers {
            assert!(
                a.len() == 1 && (a[0].starts_with("REQOK,") || a[0].starts_with("REQERR,")),
                "{a:?}"
            );
        }
    }
    // Sessions close their subscriptions right away; give the releases a moment.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let subscribed = manual.feeds.lock().unwrap().len();
        let unsubscribed = manual.unsubscribed.lock().unwrap().len();
        if subscribed == unsubscribed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{subscribed} items started, {unsubscribed} released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.shutdown().await.unwrap();
}
