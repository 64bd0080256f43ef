//! How stream connections and sessions end: shutdown, `SYNC` on busy streams, binding a
//! closed session, `LS_close_socket`, requests over the limit, `LS_old_session`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{CID, HttpPeer, WsPeer, control, start};

/// An HTTP session of the `TEST` set.
async fn http_create(server: &tlcp_server::ServerHandle, params: &str) -> (HttpPeer, String) {
    common::http_create(server, &format!("LS_adapter_set=TEST&{params}")).await
}

// --- 5. Shutdown ---------------------------------------------------------------------

/// On shutdown an HTTP stream and a WebSocket stream both get `END` and are closed
/// cleanly, an idle WebSocket is closed, and the server returns at once (well within its
/// grace): no connection task outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_end_on_every_stream_and_returns_promptly() {
    let (server, _m) = start(common::config()).await;
    let (mut http, _) = http_create(&server, "LS_send_sync=false").await;
    let mut ws = WsPeer::connect(&server, "2.5.0").await;
    ws.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    let mut idle = WsPeer::connect(&server, "2.5.0").await;
    idle.send("wsok").await;
    idle.expect_exact("WSOK").await;
    let t = Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(http.expect("END").await, "END,32,server shutting down");
    assert!(http.rest().await.is_empty());
    assert!(http.ended_cleanly(), "the chunked body was ended, not cut");
    assert_eq!(ws.expect("END").await, "END,32,server shutting down");
    let closed = tokio::time::timeout(Duration::from_secs(1), ws.next_line()).await;
    assert_eq!(closed, Ok(None), "the WebSocket is closed after END");
    let closed = tokio::time::timeout(Duration::from_secs(1), idle.next_line()).await;
    assert_eq!(closed, Ok(None), "an idle WebSocket is closed too");
    // The clients go away, as they do on a close frame (the server's close handshake
    // completes).
    drop((ws, idle));
    shutdown.await.unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

/// A client that does not read its stream cannot hold the shutdown for longer than the
/// grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_silent_client_only_as_long_as_the_grace() {
    let mut cfg = common::config();
    cfg.shutdown_grace = Duration::from_millis(300);
    cfg.max_pending_events = 100;
    let (server, manual) = start(cfg).await;
    let (_unread, sid) = http_create(&server, "LS_send_sync=false").await;
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=big&LS_schema=a",
    )
    .await;
    manual.wait_feed("big").await;
    // Until the socket buffers are full and output waits in the session.
    let payload = "x".repeat(10_000);
    for round in 0.. {
        assert!(round < 2_000, "the output never backed up");
        for i in 0..100 {
            // Each value differs from the last (an unchanged one is sent empty).
            manual.push("big", &[("a", Some(&format!("{i}{payload}")))]);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        if server.queued_output_bytes() > 512 * 1024 {
            break;
        }
    }
    let t = Instant::now();
    server.shutdown().await.unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

// --- 6. SYNC -------------------------------------------------------------------------

/// `SYNC` keeps coming every `sync_interval` while the stream is never idle (here a
/// bandwidth limit keeps output waiting for seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_is_sent_on_a_stream_that_is_never_idle() {
    let mut cfg = common::config();
    cfg.sync_interval = Duration::from_millis(200);
    let (server, manual) = start(cfg).await;
    let (mut stream, sid) = http_create(&server, "LS_requested_max_bandwidth=40").await;
    control(
        &server,
        "control",
        &format!("&LS_session={sid}"),
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=busy&LS_schema=n",
    )
    .await;
    manual.wait_feed("busy").await;
    // 40 kbit/s = 5,000 bytes/s: about 2 s of continuous output.
    let payload = "x".repeat(100);
    for i in 0..100 {
        manual.push("busy", &[("n", Some(&format!("{i:03}{payload}")))]);
    }
    let mut syncs = Vec::new();
    loop {
        let l = stream.next_line().await.expect("stream open");
        if l.starts_with("SYNC,") {
            syncs.push(Instant::now());
        }
        if l.starts_with("U,1,1,099") {
            break;
        }
    }
    assert!(syncs.len() >= 5, "{} SYNC in about 2 s", syncs.len());
    let longest = syncs.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest < Duration::from_millis(700),
        "{longest:?} without SYNC"
    );
    server.shutdown().await.unwrap();
}

/// The same with an item pushed as fast as the client takes it (FEED), over WS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_is_sent_under_continuous_updates() {
    let mut cfg = common::config();
    cfg.sync_interval = Duration::from_millis(100);
    let demo = tlcp_server::demo::DemoConfig {
        feed: tlcp_server::demo::FeedConfig {
            rate: tlcp_server::demo::FeedRate::AsFastAsPossible,
            ..Default::default()
        },
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tlcp_server::spawn(listener, cfg, tlcp_server::demo::demo_adapters(demo)).unwrap();
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=fast&LS_schema=seq%20f1&LS_data_adapter=FEED")
        .await;
    let start = Instant::now();
    let (mut updates, mut syncs) = (0, 0);
    while start.elapsed() < Duration::from_millis(1500) {
        let l = c.next_line().await.expect("open");
        if l.starts_with("U,") {
            updates += 1;
        } else if l.starts_with("SYNC,") {
            syncs += 1;
        }
    }
    assert!(updates > 1_000, "continuous traffic: {updates} updates");
    assert!(syncs >= 5, "{syncs} SYNC in 1.5 s of traffic");
    server.shutdown().await.unwrap();
}

// --- 7. Binding a closed session -------------------------------------------------------

/// Binding a session that was just closed on the server side (still registered) is
/// answered `END` with its cause, over HTTP and WS, not `CONERR`.
#[tokio::test]
async fn binding_a_just_closed_session_answers_end() {
    let mut cfg = common::config();
    cfg.unbound_timeout = Duration::from_secs(30);
    let (server, _m) = start(cfg).await;
    for ws in [false, true] {
        let mut got_end = false;
        for _attempt in 0..10 {
            let (mut poll, sid) = http_create(
                &server,
                "LS_polling=true&LS_polling_millis=0&LS_idle_millis=0",
            )
            .await;
            poll.expect("LOOP,").await;
            server.close_sessions(-5, "closed by the test");
            let line = if ws {
                let mut c = WsPeer::connect(&server, "2.5.0").await;
                c.send(&format!(
                    "bind_session\r\nLS_session={sid}&LS_polling=true&LS_idle_millis=0"
                ))
                .await;
                c.next_line().await.unwrap()
            } else {
                let mut b = HttpPeer::post(
                    &server,
                    "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
                    &format!("LS_session={sid}&LS_polling=true&LS_idle_millis=0"),
                )
                .await;
                b.next_line().await.unwrap()
            };
            if line.starts_with("CONERR,20,") {
                continue; // reaped in between: try again
            }
            assert_eq!(line, "END,-5,closed by the test", "ws: {ws}");
            got_end = true;
            break;
        }
        assert!(got_end, "the reaper always came first (ws: {ws})");
    }
    assert_eq!(server.session_count(), 0, "answered END: forgotten");
    server.shutdown().await.unwrap();
}

// --- 8. LS_close_socket, request limit, LS_old_session --------------------------------

/// `LS_close_socket=true` closes an HTTP stream connection after its `END` (or `LOOP`);
/// without it the connection is kept alive.
#[tokio::test]
async fn close_socket_closes_the_http_stream_connection() {
    let (server, _m) = start(common::config()).await;
    for (op, last, close) in [
        ("destroy", "END,31,", true),
        ("force_rebind", "LOOP,0", true),
        ("destroy", "END,31,", false),
    ] {
        let mut stream = HttpPeer::request(
            &server,
            "POST",
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
            &format!("{CID}&LS_adapter_set=TEST&LS_send_sync=false"),
            true,
        )
        .await;
        let sid = stream
            .expect("CONOK,")
            .await
            .split(',')
            .nth(1)
            .unwrap()
            .to_owned();
        let resp = control(
            &server,
            "control",
            "",
            &format!("LS_session={sid}&LS_reqId=1&LS_op={op}&LS_close_socket={close}"),
        )
        .await;
        assert_eq!(resp, ["REQOK,1"]);
        assert!(stream.expect(last).await.starts_with(last));
        assert!(stream.rest().await.is_empty());
        assert!(stream.ended_cleanly(), "{op}: the body ends properly first");
        let wait = Duration::from_millis(if close { 2_000 } else { 300 });
        assert_eq!(
            stream.closed_by_server(wait).await,
            close,
            "{op} with LS_close_socket={close}"
        );
        if op == "force_rebind" {
            control(
                &server,
                "control",
                "",
                &format!("LS_session={sid}&LS_reqId=2&LS_op=destroy"),
            )
            .await;
        }
    }
    server.shutdown().await.unwrap();
}

/// A WebSocket request longer than the request limit is answered `ERROR,67` (as over
/// HTTP) before the socket is closed.
#[tokio::test]
async fn a_websocket_request_over_the_limit_is_answered_before_closing() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send(&format!(
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=i1&LS_schema={}",
        "a".repeat(60_000)
    ))
    .await;
    assert!(c.expect("ERROR,").await.starts_with("ERROR,67,"));
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        while c.next_line().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "the socket is closed");
    server.shutdown().await.unwrap();
}

/// The session a client replaces (`LS_old_session`) ends with `END,31` (the client gave
/// it up, as with a destroy), not 35, which is a Metadata Adapter's per-user limit.
#[tokio::test]
async fn a_replaced_session_ends_with_31() {
    let (server, _m) = start(common::config()).await;
    let mut old = WsPeer::connect(&server, "2.5.0").await;
    let old_sid = old.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    let mut new = WsPeer::connect(&server, "2.5.0").await;
    new.create(&format!(
        "LS_adapter_set=TEST&LS_send_sync=false&LS_old_session={old_sid}"
    ))
    .await;
    let end = old.expect("END,").await;
    assert!(end.starts_with("END,31,"), "{end}");
    assert_eq!(server.session_count(), 1);
    server.shutdown().await.unwrap();
}
