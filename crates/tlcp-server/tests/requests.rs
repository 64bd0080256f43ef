//! Requests the official clients send that the other tests leave out: combo creations,
//! `force_rebind`, HTTP `GET` with the parameters in the query, the keepalive actually
//! kept, refusal codes 23 and 24.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{CID, HttpPeer, WsPeer, control, start};
use tlcp_proto::Mode;
use tlcp_server::{AdapterSet, MetadataAdapter};

/// Reads `n` PROBE lines after what was read so far; the gaps between them.
async fn probe_gaps(mut next: impl AsyncFnMut() -> String, n: usize) -> Vec<Duration> {
    let mut last: Option<Instant> = None;
    let mut gaps = Vec::new();
    while gaps.len() < n {
        let line = next().await;
        assert_eq!(line, "PROBE", "nothing but keepalives on an idle stream");
        let now = Instant::now();
        if let Some(t) = last {
            gaps.push(now - t);
        }
        last = Some(now);
    }
    gaps
}

/// The keepalive announced in `CONOK` (as asked for, or clamped to the configured
/// bounds) is the spacing of `PROBE` on an idle stream, over WS and HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_follow_the_negotiated_keepalive() {
    let (server, _m) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false&LS_keepalive_millis=300")
        .await;
    let conok = c.log.iter().find(|l| l.starts_with("CONOK,")).unwrap();
    assert!(conok.ends_with(",300,*"), "{conok}");
    let gaps = probe_gaps(async || c.next_line().await.unwrap(), 3).await;
    for g in gaps {
        assert!(
            g >= Duration::from_millis(250) && g < Duration::from_millis(600),
            "{g:?} between PROBEs for a 300 ms keepalive"
        );
    }
    // 10 ms is below the minimum (100 ms): CONOK says what is kept.
    let mut h = HttpPeer::post(
        &server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("{CID}&LS_adapter_set=TEST&LS_send_sync=false&LS_keepalive_millis=10"),
    )
    .await;
    assert!(h.expect("CONOK,").await.ends_with(",100,*"));
    h.expect("CONS,").await;
    let gaps = probe_gaps(async || h.next_line().await.unwrap(), 4).await;
    for g in gaps {
        assert!(
            g >= Duration::from_millis(70) && g < Duration::from_millis(400),
            "{g:?} between PROBEs for a 100 ms keepalive"
        );
    }
    server.shutdown().await.unwrap();
}

/// A creation carrying subscriptions (one on the creation's line over WS, several lines
/// over HTTP): `CONOK` then each subscription's `SUBOK`/`CONF` and data. A combo whose
/// control part fails is `CONERR,64`, and starts nothing that stays.
#[tokio::test]
async fn create_session_combos() {
    let (server, manual) = start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.send("wsok").await;
    c.send(&format!(
        "create_session\r\n{CID}&LS_adapter_set=TEST&LS_send_sync=false&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=c1&LS_schema=a"
    ))
    .await;
    c.expect_exact("WSOK").await;
    c.expect("CONOK,").await;
    c.expect("CONS,").await;
    c.expect_exact("SUBOK,1,1,1").await;
    c.expect_exact("CONF,1,unlimited,filtered").await;
    manual.wait_feed("c1").await;
    manual.push("c1", &[("a", Some("v"))]);
    c.expect_exact("U,1,1,v").await;

    let mut h = HttpPeer::post(
        &server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!(
            "{CID}&LS_adapter_set=TEST&LS_send_sync=false\r\n\
             LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=c2&LS_schema=a\r\n\
             LS_op=add&LS_subId=2&LS_mode=DISTINCT&LS_group=c3%20c4&LS_schema=a%20b"
        ),
    )
    .await;
    h.expect("CONOK,").await;
    assert_eq!(h.expect("SUBOK,").await, "SUBOK,1,1,1");
    assert_eq!(h.expect("SUBOK,").await, "SUBOK,2,2,2");

    for bad in [
        "LS_op=delete&LS_subId=9",
        "LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=c5%20bad1&LS_schema=a",
    ] {
        let mut r = HttpPeer::post(
            &server,
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
            &format!("{CID}&LS_adapter_set=TEST\r\n{bad}"),
        )
        .await;
        let line = r.next_line().await.unwrap();
        assert!(line.starts_with("CONERR,64,"), "{bad}: {line}");
    }
    assert_eq!(
        server.session_count(),
        2,
        "the failed combos left no session"
    );
    let unsubscribed = manual.unsubscribed.lock().unwrap().clone();
    assert_eq!(
        unsubscribed,
        ["c5"],
        "the failed combo's items were released"
    );
    server.shutdown().await.unwrap();
}

/// `force_rebind`: the stream connection gets `LOOP` with the given delay, the session
/// waits, and a new stream connection takes it up where the old one left it.
#[tokio::test]
async fn force_rebind_loops_and_the_session_goes_on() {
    let (server, manual) = start(common::config()).await;
    // WS: the rebind comes on the same socket.
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    let sid = c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=r1&LS_schema=n")
        .await;
    c.expect_exact("REQOK,1").await;
    manual.wait_feed("r1").await;
    manual.push("r1", &[("n", Some("1"))]);
    assert_eq!(c.expect("U,").await, "U,1,1,1");
    c.send("control\r\nLS_reqId=2&LS_op=force_rebind&LS_polling_millis=250")
        .await;
    c.expect_exact("REQOK,2").await;
    c.expect_exact("LOOP,250").await;
    manual.push("r1", &[("n", Some("2"))]);
    c.send(&format!(
        "bind_session\r\nLS_session={sid}&LS_send_sync=false"
    ))
    .await;
    c.expect(&format!("CONOK,{sid},")).await;
    c.expect("CONS,").await;
    assert_eq!(c.expect("U,").await, "U,1,1,2");

    // HTTP: a new stream connection.
    let mut first = HttpPeer::post(
        &server,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("{CID}&LS_adapter_set=TEST&LS_send_sync=false"),
    )
    .await;
    let sid = first
        .expect("CONOK,")
        .await
        .split(',')
        .nth(1)
        .unwrap()
        .to_owned();
    let q = format!("&LS_session={sid}");
    control(
        &server,
        "control",
        &q,
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=r2&LS_schema=n",
    )
    .await;
    manual.wait_feed("r2").await;
    manual.push("r2", &[("n", Some("a"))]);
    first.expect("U,1,1,a").await;
    let resp = control(&server, "control", &q, "LS_reqId=2&LS_op=force_rebind").await;
    assert_eq!(resp, ["REQOK,2"]);
    assert_eq!(first.expect("LOOP,").await, "LOOP,0");
    assert!(first.rest().await.is_empty());
    manual.push("r2", &[("n", Some("b"))]);
    let mut second = HttpPeer::post(
        &server,
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0",
        &format!("LS_session={sid}&LS_send_sync=false"),
    )
    .await;
    second.expect(&format!("CONOK,{sid},")).await;
    assert_eq!(second.expect("U,").await, "U,1,1,b");
    server.shutdown().await.unwrap();
}

/// HTTP `GET` with every parameter in the query string and no body, for session and
/// control requests.
#[tokio::test]
async fn http_get_with_the_query_string_only() {
    let (server, manual) = start(common::config()).await;
    let mut s = HttpPeer::request(
        &server,
        "GET",
        &format!("/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0&{CID}&LS_adapter_set=TEST&LS_send_sync=false"),
        "",
        false,
    )
    .await;
    assert_eq!(s.status, 200);
    let sid = s
        .expect("CONOK,")
        .await
        .split(',')
        .nth(1)
        .unwrap()
        .to_owned();
    let mut r = HttpPeer::request(
        &server,
        "GET",
        &format!("/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session={sid}&LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=g1&LS_schema=a"),
        "",
        false,
    )
    .await;
    assert_eq!(r.rest().await, ["REQOK,1"]);
    assert_eq!(s.expect("SUBOK,").await, "SUBOK,1,1,1");
    manual.wait_feed("g1").await;
    manual.push("g1", &[("a", Some("x"))]);
    assert_eq!(s.expect("U,").await, "U,1,1,x");
    server.shutdown().await.unwrap();
}

/// A metadata adapter that allows only RAW for items named `raw*`.
struct RawOnly;

impl MetadataAdapter for RawOnly {
    fn allows_mode(&self, _user: Option<&str>, item: &str, mode: Mode) -> bool {
        !item.starts_with("raw") || mode == Mode::Raw
    }
}

/// Refusals 23 (bad field schema) and 24 (mode not allowed for an item), with nothing
/// started.
#[tokio::test]
async fn refusals_23_and_24() {
    let manual = common::Manual::default();
    let adapters = tlcp_server::Adapters::new().with_set(
        "RAWONLY",
        AdapterSet::new(RawOnly).with_data_adapter("DEFAULT", manual.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tlcp_server::spawn(listener, common::config(), adapters).unwrap();
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=RAWONLY&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=%20")
        .await;
    c.expect("REQERR,1,23,").await;
    c.send(
        "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=i1%20raw1&LS_schema=a",
    )
    .await;
    c.expect("REQERR,2,24,").await;
    c.send("control\r\nLS_reqId=3&LS_op=add&LS_subId=3&LS_mode=RAW&LS_group=i1%20raw1&LS_schema=a")
        .await;
    c.expect_exact("REQOK,3").await;
    c.expect_exact("SUBOK,3,2,1").await;
    manual.wait_feed("raw1").await;
    let started: Vec<String> = manual
        .feeds
        .lock()
        .unwrap()
        .iter()
        .map(|f| f.0.clone())
        .collect();
    assert_eq!(
        started,
        ["i1", "raw1"],
        "only the accepted subscription started items"
    );
    server.shutdown().await.unwrap();
}

/// Values that would stop the flow for good (a bandwidth or a frequency of 0) and message
/// number 0 (numbers start from 1) are malformed: REQERR 65, and the session goes on.
#[tokio::test]
async fn zero_rates_and_message_zero_are_refused_with_65() {
    let (server, _manual) = common::start(common::config()).await;
    let mut c = WsPeer::connect(&server, "2.5.0").await;
    c.create("LS_adapter_set=TEST&LS_send_sync=false").await;
    c.send("control\r\nLS_reqId=1&LS_op=constrain&LS_requested_max_bandwidth=0")
        .await;
    c.expect("REQERR,1,65,").await;
    c.send("control\r\nLS_reqId=2&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a&LS_requested_max_frequency=0.0")
        .await;
    c.expect("REQERR,2,65,").await;
    c.send("msg\r\nLS_reqId=3&LS_message=hello&LS_sequence=S&LS_msg_prog=0")
        .await;
    c.expect("REQERR,3,65,").await;
    c.send("control\r\nLS_reqId=4&LS_op=constrain&LS_requested_max_bandwidth=0.5")
        .await;
    c.expect_exact("REQOK,4").await;
    c.expect_exact("CONS,0.5").await;
}
