//! The server over WebSocket, asserted line by line.

mod common;

use common::{WsPeer, start};

#[tokio::test]
async fn session_preamble_and_merge_subscription() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    let sid = c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    assert!(sid.starts_with('S') && sid.len() > 30, "{sid}");
    let conok = c.log.iter().position(|l| l.starts_with("CONOK,")).unwrap();
    assert_eq!(
        c.log[conok..],
        [
            format!("CONOK,{sid},50000,5000,*"),
            "SERVNAME,tlcp-server".into(),
            "CLIENTIP,127.0.0.1".into(),
            "CONS,unlimited".into()
        ]
    );
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1%20i2&LS_schema=a%20b&LS_snapshot=true").await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBOK,1,2,2").await;
    c.expect_exact("CONF,1,unlimited,filtered").await;
    manual.wait_feed("i2").await;
    manual.push("i1", &[("a", Some("1")), ("b", None)]);
    c.expect_exact("U,1,1,1|#").await;
    manual.push("i1", &[("a", Some("2"))]);
    c.expect_exact("U,1,1,2|").await;
    manual.push("i2", &[("a", Some("x|y")), ("b", Some(""))]);
    c.expect_exact("U,1,2,x%7Cy|$").await;
    c.send("control\r\nLS_reqId=2&LS_op=delete&LS_subId=1")
        .await;
    c.expect_exact("REQOK,2").await;
    c.expect_exact("UNSUB,1").await;
    let mut gone = manual.unsubscribed.lock().unwrap().clone();
    gone.sort();
    assert_eq!(gone, ["i1", "i2"]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn merge_snapshot_is_the_current_row_and_distinct_history() {
    let (server, manual) = start(common::config()).await;
    let mut first = WsPeer::connect(&server, "2.5.0").await;
    first.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    first
        .send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=news&LS_schema=t&LS_snapshot=true")
        .await;
    first.expect_exact("REQOK,1").await;
    manual.wait_feed("news").await;
    for i in 0..5 {
        manual.push("news", &[("t", Some(&format!("n{i}")))]);
    }
    first.expect("U,1,1,n4").await;
    let mut late = WsPeer::connect(&server, "2.5.0").await;
    late.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    late.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=news&LS_schema=t&LS_snapshot=2")
        .await;
    late.expect_exact("REQOK,1").await;
    late.expect_exact("SUBOK,1,1,1").await;
    late.expect_exact("CONF,1,unlimited,filtered").await;
    late.expect_exact("U,1,1,n3").await;
    late.expect_exact("U,1,1,n4").await;
    late.expect_exact("EOS,1,1").await;
    late.send("control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=news&LS_schema=t&LS_snapshot=true")
        .await;
    late.expect_exact("REQOK,2").await;
    late.expect_exact("SUBOK,2,1,1").await;
    late.expect_exact("CONF,2,unlimited,filtered").await;
    late.expect_exact("U,2,1,n4").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn distinct_snapshot_pushed_by_the_adapter_on_subscribe() {
    // The adapter pushes its snapshot from `subscribe`, before the server has added the
    // session as a listener: the events must still make the DISTINCT snapshot.
    let (server, manual) = start(common::config()).await;
    let rows = (1..=5)
        .map(|i| vec![("t", Some(format!("n{i}")))])
        .collect();
    manual.seed("news", rows);
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=news&LS_schema=t&LS_snapshot=3")
        .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBOK,1,1,1").await;
    c.expect_exact("CONF,1,unlimited,filtered").await;
    c.expect_exact("U,1,1,n3").await;
    c.expect_exact("U,1,1,n4").await;
    c.expect_exact("U,1,1,n5").await;
    c.expect_exact("EOS,1,1").await;
    manual.push("news", &[("t", Some("n6"))]);
    c.expect_exact("U,1,1,n6").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_update_keeps_the_fields_of_its_own_key() {
    // An adapter sends only what changed: the UPDATE of k1 must carry k1's price, not the
    // price of k2, pushed in between.
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=COMMAND&LS_group=book&LS_schema=key%20command%20qty%20price")
        .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBCMD,1,1,4,1,2").await;
    c.expect_exact("CONF,1,unlimited,filtered").await;
    manual.wait_feed("book").await;
    let row = |k, cmd, q: Option<&'static str>, p: Option<&'static str>| {
        [
            ("key", Some(k)),
            ("command", Some(cmd)),
            ("qty", q),
            ("price", p),
        ]
    };
    manual.push("book", &row("k1", "ADD", Some("1"), Some("10")));
    c.expect_exact("U,1,1,k1|ADD|1|10").await;
    manual.push("book", &row("k2", "ADD", Some("2"), Some("20")));
    c.expect_exact("U,1,1,k2||2|20").await;
    manual.push(
        "book",
        &[
            ("key", Some("k1")),
            ("command", Some("UPDATE")),
            ("qty", Some("5")),
        ],
    );
    c.expect_exact("U,1,1,k1|UPDATE|5|10").await;
    manual.push("book", &[("key", Some("k2")), ("command", Some("DELETE"))]);
    c.expect_exact("U,1,1,k2|DELETE|#|#").await;
    server.shutdown().await.unwrap();
}

/// An event whose key is null is sent as the item's row, relative to what the client last
/// got (a row by key), not to the item's previous row.
#[tokio::test]
async fn command_event_without_a_key_is_a_delta_from_the_last_row_sent() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=COMMAND&LS_group=book&LS_schema=key%20command%20qty%20price")
        .await;
    c.expect_exact("REQOK,1").await;
    manual.wait_feed("book").await;
    let add = |k, q, p: Option<&'static str>| {
        [
            ("key", Some(k)),
            ("command", Some("ADD")),
            ("qty", Some(q)),
            ("price", p),
        ]
    };
    manual.push("book", &add("k1", "1", Some("10")));
    assert_eq!(c.expect("U,").await, "U,1,1,k1|ADD|1|10");
    manual.push("book", &add("k2", "2", None)[..3]);
    assert_eq!(c.expect("U,").await, "U,1,1,k2||2|#");
    // The item's row has price 10 (from k1); the client holds k2's row, price null.
    manual.push("book", &[("key", None), ("qty", Some("3"))]);
    assert_eq!(c.expect("U,").await, "U,1,1,#||3|10");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reconf_reports_the_frequency_asked_for() {
    let (server, _manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a&LS_requested_max_frequency=10")
        .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBOK,1,1,1").await;
    c.expect_exact("CONF,1,10,filtered").await;
    for (n, asked, conf) in [
        (2, "3", "3"),
        (3, "0.7", "0.7"),
        (4, "unlimited", "unlimited"),
    ] {
        c.send(&format!(
            "control\r\nLS_reqId={n}&LS_op=reconf&LS_subId=1&LS_requested_max_frequency={asked}"
        ))
        .await;
        c.expect_exact(&format!("REQOK,{n}")).await;
        c.expect_exact(&format!("CONF,1,{conf},filtered")).await;
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn lifting_the_frequency_limit_sends_the_next_update_at_once() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    // One update every 20 s at most.
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a&LS_requested_max_frequency=0.05&LS_snapshot=false")
        .await;
    c.expect_exact("REQOK,1").await;
    manual.wait_feed("i1").await;
    manual.push("i1", &[("a", Some("1"))]);
    c.expect("U,1,1,1").await;
    c.send("control\r\nLS_reqId=2&LS_op=reconf&LS_subId=1&LS_requested_max_frequency=unlimited")
        .await;
    c.expect_exact("REQOK,2").await;
    c.expect_exact("CONF,1,unlimited,filtered").await;
    let start = tokio::time::Instant::now();
    manual.push("i1", &[("a", Some("2"))]);
    c.expect("U,1,1,2").await;
    manual.push("i1", &[("a", Some("3"))]);
    c.expect("U,1,1,3").await;
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "held for the old limit: {:?}",
        start.elapsed()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reconf_stays_within_the_item_frequency_limit() {
    struct Limited;
    impl tlcp_server::MetadataAdapter for Limited {
        fn item_limits(&self, _user: Option<&str>, _item: &str) -> tlcp_server::ItemLimits {
            tlcp_server::ItemLimits {
                max_frequency: Some(2.0),
                ..Default::default()
            }
        }
    }
    let adapters = tlcp_server::Adapters::new().with_set(
        "LIMITED",
        tlcp_server::AdapterSet::new(Limited)
            .with_data_adapter("DEFAULT", common::Manual::default()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tlcp_server::spawn(listener, common::config(), adapters).unwrap();
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=LIMITED&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a&LS_requested_max_frequency=1")
        .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBOK,1,1,1").await;
    c.expect_exact("CONF,1,1,filtered").await;
    for (n, asked, conf) in [(2, "5", "2"), (3, "unlimited", "2"), (4, "0.5", "0.5")] {
        c.send(&format!(
            "control\r\nLS_reqId={n}&LS_op=reconf&LS_subId=1&LS_requested_max_frequency={asked}"
        ))
        .await;
        c.expect_exact(&format!("REQOK,{n}")).await;
        c.expect_exact(&format!("CONF,1,{conf},filtered")).await;
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscription_refusals_carry_the_spec_codes() {
    let (server, _manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a&LS_data_adapter=NOPE").await;
    c.expect("REQERR,1,17,").await;
    c.send("control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=COMMAND&LS_group=i1&LS_schema=a")
        .await;
    c.expect("REQERR,2,15,").await;
    c.send("control\r\nLS_reqId=3&LS_op=add&LS_subId=3&LS_mode=MERGE&LS_group=bad1&LS_schema=a")
        .await;
    c.expect("REQERR,3,-7,").await;
    c.send("control\r\nLS_reqId=4&LS_op=delete&LS_subId=99")
        .await;
    c.expect("REQERR,4,19,").await;
    c.send("control\r\nLS_reqId=5&LS_op=add&LS_subId=5&LS_mode=MERGE&LS_group=%20&LS_schema=a")
        .await;
    c.expect("REQERR,5,21,").await;
    c.send("control\r\nLS_reqId=6&LS_op=fly").await;
    // An unknown operation is an invalid value (65); an unknown request, malformed (67).
    c.expect("REQERR,6,65,").await;
    c.send("nonsense\r\nfoo").await;
    c.expect("ERROR,67,").await;
    // The session is still fine after all that.
    c.send("control\r\nLS_reqId=7&LS_op=add&LS_subId=7&LS_mode=RAW&LS_group=i1&LS_schema=a")
        .await;
    c.expect_exact("REQOK,7").await;
    c.expect_exact("SUBOK,7,1,1").await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_follow_each_other_on_one_websocket() {
    // A WS-POLLING client sends the next bind_session as soon as it reads LOOP, which may
    // be before the previous poll's task has ended: that is no "streaming already in
    // place" (CONERR 69, which the official clients treat as fatal).
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.send("wsok").await;
    c.send("create_session\r\nLS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_adapter_set=TEST&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0")
        .await;
    let sid = c
        .expect("CONOK,")
        .await
        .split(',')
        .nth(1)
        .unwrap()
        .to_owned();
    c.expect("LOOP,").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=i1&LS_schema=a")
        .await;
    c.expect_exact("REQOK,1").await;
    manual.wait_feed("i1").await;
    for n in 0..2000 {
        manual.push("i1", &[("a", Some(&n.to_string()))]);
        c.send(&format!(
            "bind_session\r\nLS_session={sid}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=1000"
        ))
        .await;
        loop {
            let line = c.next_line().await.expect("connection open");
            assert!(!line.starts_with("CONERR"), "poll {n}: {line}");
            if line.starts_with("LOOP,") {
                break;
            }
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_errors() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.send("create_session\r\nLS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_adapter_set=NOPE")
        .await;
    c.expect("CONERR,2,").await;
    c.send("bind_session\r\nLS_session=Sdoesnotexist").await;
    c.expect("CONERR,20,").await;
    c.send("control\r\nLS_reqId=1&LS_op=destroy").await;
    c.expect("REQERR,1,20,").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn destroy_ends_the_session_with_end() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=destroy").await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("END,31,Destroy invoked by client").await;
    assert_eq!(server.session_count(), 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn messages_with_sequences_outcomes_and_skips() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    c.send("msg\r\nLS_reqId=1&LS_message=ECHO%7Chello&LS_sequence=s&LS_msg_prog=1")
        .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("MSGDONE,s,1,hello").await;
    c.send("msg\r\nLS_reqId=2&LS_message=nonsense&LS_sequence=s&LS_msg_prog=2")
        .await;
    c.expect_exact("REQOK,2").await;
    c.expect("MSGFAIL,s,2,-1,").await;
    // Duplicate.
    c.send("msg\r\nLS_reqId=3&LS_message=ECHO%7Cx&LS_sequence=s&LS_msg_prog=2")
        .await;
    c.expect("REQERR,3,33,").await;
    // 3 and 4 never come: 5 waits 200 ms, then 3-4 are skipped (39, count 2).
    c.send("msg\r\nLS_reqId=4&LS_message=ECHO%7Cfive&LS_sequence=s&LS_msg_prog=5&LS_max_wait=200")
        .await;
    c.expect_exact("REQOK,4").await;
    c.expect_exact("MSGFAIL,s,4,39,2").await;
    c.expect_exact("MSGDONE,s,5,five").await;
    c.send("msg\r\nLS_reqId=5&LS_message=ECHO%7Clate&LS_sequence=s&LS_msg_prog=3")
        .await;
    c.expect("REQERR,5,32,").await;
    // Unordered, no outcome wanted, no ack.
    c.send("msg\r\nLS_reqId=6&LS_message=ECHO%7Cq&LS_outcome=false&LS_ack=false")
        .await;
    c.send("msg\r\nLS_reqId=7&LS_message=ECHO%7Cr&LS_msg_prog=1")
        .await;
    c.expect_exact("REQOK,7").await;
    c.expect_exact("MSGDONE,*,1,r").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn msgdone_has_no_response_before_2_5_0() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.4.0").await;
    c.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    c.send("msg\r\nLS_reqId=1&LS_message=ECHO%7Chello&LS_sequence=s&LS_msg_prog=1")
        .await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("MSGDONE,s,1").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_in_step_get_the_same_lines_and_late_ones_catch_up() {
    let (server, manual) = start(common::config()).await;
    let sub = "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a%20b%20c&LS_snapshot=true";
    let mut peers = Vec::new();
    for _ in 0..3 {
        let mut p = WsPeer::connect(&server, "2.5.0").await;
        p.create("LS_adapter_set=TEST&LS_send_sync=false").await;
        p.send(sub).await;
        p.expect_exact("REQOK,1").await;
        peers.push(p);
    }
    manual.wait_feed("i1").await;
    manual.push(
        "i1",
        &[("a", Some("1")), ("b", Some("2")), ("c", Some("3"))],
    );
    manual.push("i1", &[("b", Some("20"))]);
    for p in &mut peers {
        assert_eq!(p.expect("U,").await, "U,1,1,1|2|3");
        p.expect_exact("U,1,1,|20|").await;
    }
    // A late subscriber starts from its snapshot, then shares the live deltas.
    let mut late = WsPeer::connect(&server, "2.5.0").await;
    late.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    late.send(sub).await;
    late.expect_exact("REQOK,1").await;
    late.expect_exact("SUBOK,1,1,3").await;
    late.expect_exact("CONF,1,unlimited,filtered").await;
    late.expect_exact("U,1,1,1|20|3").await;
    manual.push("i1", &[("c", Some("30"))]);
    manual.push("i1", &[("a", Some("10")), ("c", Some("31"))]);
    for p in peers.iter_mut().chain(std::iter::once(&mut late)) {
        p.expect_exact("U,1,1,||30").await;
        p.expect_exact("U,1,1,10||31").await;
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reverse_heartbeats_keep_the_stream_and_silence_cuts_it() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create(
        "LS_adapter_set=TEST&LS_send_sync=false&LS_inactivity_millis=300&LS_keepalive_millis=100",
    )
    .await;
    // Heartbeats every 100 ms for 1.2 s: the connection stays (PROBEs keep coming).
    for _ in 0..12 {
        c.send("heartbeat\r\n\r\n").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    c.expect_exact("REQOK").await;
    // Silence: cut after 300 ms + grace (500 ms), well before 2 s.
    let t = std::time::Instant::now();
    while c.next_line().await.is_some() {}
    let silent = t.elapsed();
    assert!(
        silent >= std::time::Duration::from_millis(500),
        "{silent:?}"
    );
    assert!(silent < std::time::Duration::from_secs(2), "{silent:?}");
    // The session survives, unbound, for recovery.
    assert_eq!(server.session_count(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn destroy_with_close_socket_closes_the_websocket() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=2&LS_op=destroy&LS_close_socket=true&LS_cause=api")
        .await;
    c.expect_exact("REQOK,2").await;
    c.expect_exact("END,31,Destroy invoked by client").await;
    assert_eq!(c.next_line().await, None, "the server closes the socket");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_frequency_limit_applies_to_updates_per_key() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=COMMAND&LS_group=book&LS_schema=key%20command%20qty&LS_requested_max_frequency=2").await;
    c.expect_exact("REQOK,1").await;
    c.expect_exact("SUBCMD,1,1,3,1,2").await;
    c.expect_exact("CONF,1,2,filtered").await;
    manual.wait_feed("book").await;
    let row = |k: &str, cmd: &str, q: &str| {
        manual.push(
            "book",
            &[("key", Some(k)), ("command", Some(cmd)), ("qty", Some(q))],
        );
    };
    let t0 = std::time::Instant::now();
    row("a", "ADD", "1");
    row("b", "ADD", "5");
    row("a", "UPDATE", "2");
    // Within a's interval: held, and the second replaces the first.
    row("a", "UPDATE", "3");
    row("a", "UPDATE", "4");
    // Other keys and other commands are not held back by a's interval.
    row("b", "UPDATE", "6");
    row("c", "ADD", "7");
    row("b", "DELETE", "6");
    let mut got = Vec::new();
    while got.len() < 7 {
        let l = c.expect("U,1,1,").await;
        got.push((l, t0.elapsed()));
    }
    let lines: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "U,1,1,a|ADD|1",
            "U,1,1,b||5",
            "U,1,1,a|UPDATE|2",
            "U,1,1,b||6",
            "U,1,1,c|ADD|7",
            "U,1,1,b|DELETE|6",
            "U,1,1,a|UPDATE|4",
        ],
        "{got:?}"
    );
    // b's UPDATE, c's ADD and b's DELETE did not wait; a's second UPDATE waited ~500 ms.
    assert!(got[5].1 < std::time::Duration::from_millis(300), "{got:?}");
    assert!(got[6].1 >= std::time::Duration::from_millis(450), "{got:?}");
    server.shutdown().await.unwrap();
}

/// A metadata adapter with selectors `only:<value>`: events whose field `a` is `<value>`.
struct Selecting;

impl tlcp_server::MetadataAdapter for Selecting {
    fn check_selector(
        &self,
        _user: Option<&str>,
        _item: &str,
        selector: &str,
    ) -> Result<(), tlcp_server::Refusal> {
        if selector.starts_with("only:") {
            Ok(())
        } else {
            Err(tlcp_server::Refusal::new(25, "unknown selector"))
        }
    }

    fn is_selected(
        &self,
        _user: Option<&str>,
        _item: &str,
        selector: &str,
        field: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        field("a").as_deref() == selector.strip_prefix("only:")
    }
}

/// A server on a loopback port whose only adapter set, `SEL`, has the [`Selecting`]
/// metadata adapter and a `DEFAULT` data adapter driven by hand.
async fn start_selecting(
    config: tlcp_server::ServerConfig,
) -> (tlcp_server::ServerHandle, common::Manual) {
    let manual = common::Manual::default();
    let adapters = tlcp_server::Adapters::new().with_set(
        "SEL",
        tlcp_server::AdapterSet::new(Selecting).with_data_adapter("DEFAULT", manual.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let server = tlcp_server::spawn(listener, config, adapters).expect("the server starts");
    (server, manual)
}

#[tokio::test]
async fn selectors_go_to_the_metadata_adapter() {
    let (server, manual) = start_selecting(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=SEL&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=i1&LS_schema=a%20b&LS_selector=nope").await;
    c.expect("REQERR,1,25,").await;
    c.send("control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=DISTINCT&LS_group=i1&LS_schema=a%20b&LS_selector=only%3Ax").await;
    c.expect_exact("REQOK,2").await;
    manual.wait_feed("i1").await;
    for (a, b) in [("x", "1"), ("y", "2"), ("x", "3")] {
        manual.push("i1", &[("a", Some(a)), ("b", Some(b))]);
    }
    assert_eq!(c.expect("U,").await, "U,2,1,x|1");
    assert_eq!(c.expect("U,").await, "U,2,1,|3");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_literal_metadata_refuses_selectors() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a&LS_selector=s").await;
    c.expect("REQERR,1,25,").await;
    server.shutdown().await.unwrap();
}

/// A client that vanishes without `destroy` leaves its session unbound, waiting for a
/// recovery: it must not hold back, for the whole unbound timeout, a feed that paces
/// itself on its subscribers (found with `tlcp bench` run twice on the same item).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_client_does_not_stall_a_paced_feed_for_others() {
    use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate};
    let demo = DemoConfig {
        feed: FeedConfig {
            rate: FeedRate::AsFastAsPossible,
            ..FeedConfig::default()
        },
        ..DemoConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = common::config();
    config.unbound_timeout = std::time::Duration::from_secs(30);
    let server =
        tlcp_server::spawn(listener, config, tlcp_server::demo::demo_adapters(demo)).unwrap();
    let subscribe = "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=fast&LS_schema=seq&LS_data_adapter=FEED&LS_snapshot=false";

    let mut gone = WsPeer::connect(&server, "2.5.0").await;
    gone.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    gone.send(subscribe).await;
    gone.expect("U,1,1,").await;
    drop(gone); // no destroy: the session waits unbound for 30 s

    let started = std::time::Instant::now();
    let mut late = WsPeer::connect(&server, "2.5.0").await;
    late.create("LS_adapter_set=DEMO&LS_send_sync=false").await;
    late.send(subscribe).await;
    for _ in 0..20_000 {
        late.expect("U,1,1,").await;
    }
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "20,000 updates took {took:?}: the vanished session held the feed back"
    );
    assert_eq!(
        server.session_count(),
        2,
        "the first session still waits for recovery"
    );
    server.shutdown().await.unwrap();
}

/// Every way a session encodes a delta decodes to the item's true row: a lone listener in
/// step with the item (no comparison, no copy kept), listeners sharing an encoding, one
/// that joins late, a different projection, a selector that skips events, a frequency
/// limit that holds and conflates, and `clear_snapshot` in between; with `^T` diffs on
/// (values long enough), whose base is the value the client holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delta_path_decodes_to_the_pushed_rows() {
    use std::collections::HashMap;
    use tlcp_proto::fields::{ChangedFields, Row};

    let mut config = common::config();
    config.diff_encodings = true;
    let (server, manual) = start_selecting(config).await;
    const FIELDS: [&str; 5] = ["s", "a", "b", "c", "d"];
    const PUSHES: usize = 600;

    // (subscription parameters, schema field names): each its own session.
    let subs: [(&str, &[&str]); 5] = [
        ("LS_mode=DISTINCT&LS_schema=s%20a%20b%20c%20d", &FIELDS),
        ("LS_mode=DISTINCT&LS_schema=s%20a%20b%20c%20d", &FIELDS),
        ("LS_mode=DISTINCT&LS_schema=d%20s%20b", &["d", "s", "b"]),
        (
            "LS_mode=DISTINCT&LS_schema=s%20a%20b%20c%20d&LS_selector=only%3Ax",
            &FIELDS,
        ),
        (
            "LS_mode=MERGE&LS_schema=s%20a%20b%20c%20d&LS_requested_max_frequency=40",
            &FIELDS,
        ),
    ];
    async fn subscribe(server: &tlcp_server::ServerHandle, params: &str) -> WsPeer {
        let mut c = WsPeer::connect(server, "2.5.0").await;
        c.create("LS_adapter_set=SEL&LS_send_sync=false").await;
        c.send(&format!(
            "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_group=i1&LS_snapshot=false&{params}"
        ))
        .await;
        c.expect_exact("REQOK,1").await;
        c
    }
    // Reads a session's updates until it shows the last push; returns the decoded rows.
    fn read(
        mut c: WsPeer,
        names: &'static [&'static str],
        last: usize,
    ) -> tokio::task::JoinHandle<Vec<Vec<Option<String>>>> {
        tokio::spawn(async move {
            let mut row = Row::new(names.len());
            let mut changed = ChangedFields::new();
            let mut rows = Vec::new();
            let s = names.iter().position(|n| *n == "s").unwrap();
            loop {
                let line = c.expect("U,").await;
                let values = line.splitn(4, ',').nth(3).unwrap();
                row.apply(values, &mut changed)
                    .unwrap_or_else(|e| panic!("{line:?}: {e}"));
                let decoded = row.to_vec();
                let done = decoded[s].as_deref() == Some(&last.to_string());
                rows.push(decoded);
                if done {
                    return rows;
                }
            }
        })
    }

    // The true row after each push, by the value of `s` (its number).
    let mut truth: HashMap<String, Vec<Option<String>>> = HashMap::new();
    let mut current: Vec<Option<String>> = vec![None; FIELDS.len()];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut readers = Vec::new();
    let mut first = Some(subscribe(&server, subs[0].0).await);
    manual.wait_feed("i1").await;
    for n in 1..=PUSHES {
        if n == 150 {
            // The lone listener goes first; the others join (sharing encodings from now).
            readers.push(read(first.take().unwrap(), subs[0].1, PUSHES + 1));
            for (params, names) in &subs[1..] {
                readers.push(read(subscribe(&server, params).await, names, PUSHES + 1));
            }
        }
        if n % 97 == 0 {
            manual.feed("i1").clear_snapshot();
            current.iter_mut().for_each(|v| *v = None);
        }
        let mut fields: Vec<(&str, Option<String>)> = vec![("s", Some(n.to_string()))];
        for (k, name) in FIELDS.iter().enumerate().skip(1) {
            let r = next();
            let value = match r % 8 {
                0 | 1 => continue,       // left out
                2 => current[k].clone(), // set to the same
                3 => None,               // null
                4 if k == 1 => Some(if r & 16 == 0 { "x" } else { "y" }.to_owned()),
                _ => Some(format!("{name}-long-price-{:06}", (r >> 8) % 40)), // ^T-able
            };
            fields.push((name, value));
        }
        for (name, value) in &fields {
            let k = FIELDS.iter().position(|f| f == name).unwrap();
            current[k] = value.clone();
        }
        truth.insert(n.to_string(), current.clone());
        let borrowed: Vec<(&str, Option<&str>)> =
            fields.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        manual.push("i1", &borrowed);
        if n % 20 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    // The selector session shows only rows with `a` = x: the last push is one.
    let last = PUSHES + 1;
    manual.push("i1", &[("s", Some(&last.to_string())), ("a", Some("x"))]);
    current[0] = Some(last.to_string());
    current[1] = Some("x".into());
    truth.insert(last.to_string(), current.clone());
    for (k, (reader, (params, names))) in readers.into_iter().zip(&subs).enumerate() {
        let rows = tokio::time::timeout(common::TIMEOUT, reader)
            .await
            .expect("every session shows the last push")
            .unwrap();
        let s = names.iter().position(|n| *n == "s").unwrap();
        for row in &rows {
            let Some(n) = &row[s] else {
                // Only MERGE shows the cleared item, as a row of nulls.
                assert!(params.contains("MERGE") && row.iter().all(Option::is_none));
                continue;
            };
            let want: Vec<Option<String>> = names
                .iter()
                .map(|f| truth[n][FIELDS.iter().position(|x| x == f).unwrap()].clone())
                .collect();
            assert_eq!(row, &want, "session {k} ({params}), push {n}");
            if params.contains("selector") {
                assert_eq!(row[1].as_deref(), Some("x"));
            }
        }
        if params.contains("DISTINCT") && !params.contains("selector") {
            assert!(rows.len() > (last - 150) / 2, "session {k}: {}", rows.len());
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn schemas_in_item_order_and_in_another_order_get_the_same_values() {
    // The item's fields are a, b, c (in the order of the first push). One session asks for
    // them in that order (encoded from the row as it is), the other for c, b, a (projected).
    let (server, manual) = start(common::config()).await;
    let mut same = WsPeer::connect(&server, "2.5.0").await;
    same.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    same.send(
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a%20b%20c",
    )
    .await;
    same.expect_exact("REQOK,1").await;
    same.expect_exact("SUBOK,1,1,3").await;
    same.expect_exact("CONF,1,unlimited,filtered").await;
    manual.wait_feed("i1").await;
    manual.push(
        "i1",
        &[("a", Some("1")), ("b", Some("2")), ("c", Some("3"))],
    );
    same.expect_exact("U,1,1,1|2|3").await;
    let mut other = WsPeer::connect(&server, "2.5.0").await;
    other.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    other.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=c%20b%20a&LS_snapshot=true").await;
    other.expect_exact("REQOK,1").await;
    other.expect_exact("SUBOK,1,1,3").await;
    other.expect_exact("CONF,1,unlimited,filtered").await;
    other.expect_exact("U,1,1,3|2|1").await;
    manual.push("i1", &[("c", Some("30"))]);
    same.expect_exact("U,1,1,||30").await;
    other.expect_exact("U,1,1,30||").await;
    manual.push("i1", &[("a", Some("10")), ("b", Some("20"))]);
    same.expect_exact("U,1,1,10|20|").await;
    other.expect_exact("U,1,1,|20|10").await;
    server.shutdown().await.unwrap();
}

/// The items of one session are encoded by their own producers, in parallel (each in its
/// lane, outside the session's lock): each item's updates still arrive whole and in
/// order, five recoveries mid-flow replay exactly what was missed of all of them, and
/// nothing of a subscription follows its `UNSUB`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_pushed_in_parallel_keep_their_order_through_recovery_and_unsub() {
    use std::collections::HashMap;
    use tlcp_proto::fields::{ChangedFields, Row};

    const ITEMS: usize = 3;
    const PUSHES: u64 = 20_000;
    // A small output limit, so that the session also holds events and releases them
    // (its lanes closing and opening again); no limit on held events, so none is lost.
    let mut config = common::config();
    config.congestion_bytes = 16 * 1024;
    config.max_pending_events = 1 << 20;
    let (server, manual) = start(config).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    let sid = c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send(
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=p1%20p2%20p3&\
         LS_schema=n%20x&LS_snapshot=false",
    )
    .await;
    c.expect_exact("REQOK,1").await;
    let mut feeds = Vec::new();
    for i in 1..=ITEMS {
        feeds.push(manual.wait_feed(&format!("p{i}")).await);
    }
    // One OS thread per item: the producers really run at the same time. `x` repeats
    // itself often, so unchanged fields are encoded as such.
    let push_all = |feeds: Vec<tlcp_server::ItemFeed>, from: u64, to: u64| {
        feeds
            .into_iter()
            .map(move |feed| {
                std::thread::spawn(move || {
                    for n in from..to {
                        feed.update(
                            tlcp_server::Update::new()
                                .set("n", &n.to_string())
                                .set("x", &(n / 3).to_string()),
                        );
                    }
                })
            })
            .collect::<Vec<_>>()
    };
    let producers = push_all(feeds.clone(), 0, PUSHES);

    // Decodes the `U` lines of each item, checking each is the next update of its item.
    struct Check {
        rows: Vec<Row>,
        changed: ChangedFields,
        next: Vec<u64>,
        data: u64,
    }
    impl Check {
        fn line(&mut self, l: &str) {
            const DATA: [&str; 10] = [
                "U,", "SUBOK,", "SUBCMD,", "UNSUB,", "EOS,", "CS,", "OV,", "CONF,", "MSGDONE,",
                "MSGFAIL,",
            ];
            if DATA.iter().any(|p| l.starts_with(p)) {
                self.data += 1;
            }
            let Some(rest) = l.strip_prefix("U,1,") else {
                return;
            };
            let (item, values) = rest.split_once(',').unwrap();
            let i = item.parse::<usize>().unwrap() - 1;
            self.rows[i]
                .apply(values, &mut self.changed)
                .unwrap_or_else(|e| panic!("{l:?}: {e}"));
            let row = self.rows[i].to_vec();
            let n = self.next[i];
            assert_eq!(
                row,
                vec![Some(n.to_string()), Some((n / 3).to_string())],
                "item {}: {l:?}",
                i + 1
            );
            self.next[i] += 1;
        }
    }
    let mut check = Check {
        rows: (0..ITEMS).map(|_| Row::new(2)).collect(),
        changed: ChangedFields::new(),
        next: vec![0; ITEMS],
        data: 0,
    };
    for l in &c.log {
        check.line(l);
    }
    // Read some, then cut the stream connection mid-flow and recover; five times.
    let mut r = c;
    for cut in 1..=5u64 {
        while check.next.iter().sum::<u64>() < cut * PUSHES / 2 {
            let l = r.next_line().await.expect("stream open");
            check.line(&l);
        }
        server.drop_stream_connections();
        while let Some(l) = r.next_line().await {
            check.line(&l);
        }
        let seen = check.data;
        r = WsPeer::connect(&server, "2.5.0").await;
        r.send("wsok").await;
        r.send(&format!(
            "bind_session\r\nLS_session={sid}&LS_recovery_from={seen}&LS_send_sync=false"
        ))
        .await;
        r.expect("CONOK,").await;
        assert_eq!(r.expect("PROG,").await, format!("PROG,{seen}"));
    }
    while check.next.iter().any(|&n| n < PUSHES) {
        let l = r.next_line().await.expect("stream open");
        check.line(&l);
    }
    for p in producers {
        p.join().unwrap();
    }

    // Delete the subscription while its producers push: nothing of it after `UNSUB`.
    let producers = push_all(feeds, PUSHES, 4 * PUSHES);
    while check.next.iter().sum::<u64>() < 4 * PUSHES {
        let l = r.next_line().await.expect("stream open");
        check.line(&l);
    }
    r.send("control\r\nLS_reqId=2&LS_op=delete&LS_subId=1")
        .await;
    loop {
        let l = r.next_line().await.expect("stream open");
        if l == "UNSUB,1" {
            break;
        }
        check.line(&l);
    }
    for p in producers {
        p.join().unwrap();
    }
    r.send("control\r\nLS_reqId=3&LS_op=destroy").await;
    let mut counts: HashMap<bool, usize> = HashMap::new();
    while let Some(l) = r.next_line().await {
        *counts.entry(l.starts_with("U,")).or_default() += 1;
        if l.starts_with("END,") {
            break;
        }
    }
    assert_eq!(counts.get(&true), None, "updates after UNSUB: {:?}", r.log);
    server.shutdown().await.unwrap();
}
