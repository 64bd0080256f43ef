//! Control requests: batching within the request limit, WS or HTTP, answers, session-level
//! requests, reverse heartbeats, disconnect.

use std::time::Duration;

use super::harness::{Script, config};
use crate::Mode;
use crate::client::{
    ClientError, ConnId, ForcedTransport, HttpKind, Status, SubscriptionSpec, Transmit,
};
use crate::types::{Bandwidth, MaxFrequency};

fn merge(item: &str) -> SubscriptionSpec {
    SubscriptionSpec::items(Mode::Merge, [item], ["a", "b"])
}

/// A session whose stream is HTTP streaming (bound at t=0); returns the stream.
fn http_session(h: &mut Script) -> ConnId {
    h.connect();
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let bind = h.expect_http("bind_session");
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*");
    h.events();
    bind.conn
}

#[test]
fn ws_batches_stay_within_the_request_limit() {
    let mut h = Script::new(config());
    for i in 1..=5 {
        h.subscribe(merge(&format!("item{i}")));
    }
    h.expect_no_transmit();
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.server_sends(ws, "CONOK,S1,250,5000,*");
    let mut lines = Vec::new();
    let mut messages = 0;
    for t in h.take_transmits() {
        let Transmit::WsText { text, .. } = t else {
            panic!("{t:?}")
        };
        assert!(text.len() <= 250, "{} bytes: {text}", text.len());
        let mut parts = text.split("\r\n");
        assert_eq!(parts.next(), Some("control"));
        lines.extend(parts.map(str::to_owned));
        messages += 1;
    }
    assert_eq!(messages, 3);
    let expected: Vec<String> = (1..=5)
        .map(|i| {
            format!(
                "LS_reqId={i}&LS_op=add&LS_subId={i}&LS_mode=MERGE&LS_group=item{i}&\
                 LS_schema=a%20b&LS_snapshot=true&LS_ack=false"
            )
        })
        .collect();
    assert_eq!(lines, expected);
}

#[test]
fn http_control_requests_go_one_at_a_time() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    let stream = http_session(&mut h);
    let ids: Vec<_> = (1..=3)
        .map(|i| h.subscribe(merge(&format!("i{i}"))))
        .collect();
    let first = h.expect_http("control");
    assert_eq!(first.kind, HttpKind::Control);
    assert_eq!(
        first.path,
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"
    );
    // The first subscription went alone; the others wait for the answer.
    assert_eq!(
        first.body,
        "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=i1&LS_schema=a%20b&LS_snapshot=true"
    );
    h.expect_no_transmit();
    h.control_response(first.conn, "REQOK,1");
    let second = h.expect_http("control");
    assert_eq!(second.body.lines().count(), 2);
    assert!(second.body.starts_with("LS_reqId=2&LS_op=add&LS_subId=2&"));
    h.control_response(second.conn, "REQOK,2\nREQERR,3,21,Bad Item Group name");
    h.expect_events(&["sub3 error 21 Bad Item Group name"]);
    assert_eq!(
        h.s.unsubscribe(ids[2], h.now),
        Err(ClientError::UnknownSubscription(ids[2]))
    );
    h.server_sends(stream, "SUBOK,1,1,2\nSUBOK,2,1,2");
    h.expect_events(&["sub1 subscribed 1x2", "sub2 subscribed 1x2"]);
}

#[test]
fn an_error_line_fails_the_requests_it_answers() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    http_session(&mut h);
    h.subscribe(merge("x"));
    let req = h.expect_http("control");
    h.control_response(req.conn, "ERROR,67,Malformed request");
    h.expect_events(&[
        "server error ERROR 67: Malformed request",
        "sub1 error 67 Malformed request",
    ]);
}

#[test]
fn a_control_request_lost_on_the_network_is_sent_again() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    http_session(&mut h);
    h.subscribe(merge("x"));
    let req = h.expect_http("control");
    h.fail(req.conn);
    let again = h.expect_http("control");
    assert_ne!(again.conn, req.conn);
    // A new request id, the same request.
    assert_eq!(again.body, req.body.replace("LS_reqId=1&", "LS_reqId=2&"));
}

#[test]
fn bandwidth_and_frequency_changes() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let sub = h.subscribe(merge("x"));
    h.ws_text(ws);
    h.server_sends(ws, "SUBOK,1,1,2");
    h.s.set_bandwidth(Some(Bandwidth::Kbps(40.5)), h.now)
        .unwrap();
    // 0, negative or not a number: refused at once, nothing sent.
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            h.s.set_bandwidth(Some(Bandwidth::Kbps(bad)), h.now),
            Err(ClientError::NotPositive {
                what: "bandwidth",
                ..
            })
        ));
        assert!(matches!(
            h.s.set_max_frequency(sub, MaxFrequency::PerSecond(bad), h.now),
            Err(ClientError::NotPositive {
                what: "frequency",
                ..
            })
        ));
    }
    h.s.set_max_frequency(sub, MaxFrequency::PerSecond(2.0), h.now)
        .unwrap();
    h.pump();
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=constrain&LS_requested_max_bandwidth=40.5",
    );
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=3&LS_op=reconf&LS_subId=1&LS_requested_max_frequency=2",
    );
    h.server_sends(
        ws,
        "REQOK,2
         CONS,40.5
         REQERR,3,13,Unfiltered
         CONF,1,2.0,filtered",
    );
    h.expect_events(&[
        "sub1 subscribed 1x2",
        "info Bandwidth(Kbps(40.5))",
        "request failed Reconf(SubscriptionId(1)) 13 Unfiltered",
        "sub1 frequency PerSecond(2.0) filtered true",
    ]);
    assert_eq!(
        h.s.set_max_frequency(sub, MaxFrequency::Unfiltered, h.now),
        Err(ClientError::UnfilteredReconf)
    );
}

#[test]
fn reverse_heartbeats_fill_outbound_silence() {
    let mut c = config();
    c.reverse_heartbeat_interval = Some(Duration::from_millis(3000));
    let mut h = Script::new(c);
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    assert!(h.ws_text(ws).contains("LS_inactivity_millis=3000&"));
    h.server_sends(ws, "CONOK,S1,50000,5000,*");
    h.advance(2999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_ws_text(ws, "heartbeat\r\n\r\n");
    // A request resets the count.
    h.advance(2000);
    h.subscribe(merge("x"));
    h.ws_text(ws);
    h.server_sends(ws, "PROBE");
    h.advance(2999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_ws_text(ws, "heartbeat\r\n\r\n");
    assert_eq!(h.last_at, 8000);
}

#[test]
fn the_reverse_heartbeat_changes_live_within_what_the_server_was_told() {
    let mut c = config();
    c.reverse_heartbeat_interval = Some(Duration::from_millis(3000));
    let mut h = Script::new(c);
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    h.ws_text(ws);
    h.server_sends(ws, "CONOK,S1,50000,5000,*");
    // Shorter: at once.
    h.s.set_reverse_heartbeat_interval(Some(Duration::from_millis(1000)), h.now);
    h.advance(999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_ws_text(ws, "heartbeat\r\n\r\n");
    // Off: the server was told 3000 ms at creation, so heartbeats keep that pace (not
    // 1000 any more) until the next bind.
    h.s.set_reverse_heartbeat_interval(None, h.now);
    h.advance(2999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_ws_text(ws, "heartbeat\r\n\r\n");
}

#[test]
fn reverse_heartbeats_over_http() {
    let mut c = config().with_forced_transport(ForcedTransport::HttpStreaming);
    c.reverse_heartbeat_interval = Some(Duration::from_millis(3000));
    let mut h = Script::new(c);
    let stream = http_session(&mut h);
    h.server_sends(stream, "PROBE");
    h.advance(3000);
    let hb = h.expect_http("heartbeat");
    assert_eq!(
        hb.path,
        "/lightstreamer/heartbeat.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"
    );
    assert_eq!(hb.body, "\r\n");
    h.control_response(hb.conn, "REQOK");
    h.events();
    assert_eq!(h.status(), Status::HttpStreaming);
}

#[test]
fn disconnect_destroys_the_session_on_the_websocket() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(merge("x"));
    h.ws_text(ws);
    h.server_sends(ws, "SUBOK,1,1,2");
    h.events();
    h.disconnect();
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=destroy&LS_close_socket=true&LS_cause=api",
    );
    h.expect_close(ws);
    h.expect_events(&[
        "sub1 interrupted",
        "session closed Client",
        "status DISCONNECTED",
    ]);
    assert_eq!(h.s.poll_timeout(), None);
    // Whatever the server still says is ignored.
    h.server_sends(ws, "END,31,destroyed");
    h.expect_events(&[]);
    // Connecting again subscribes again.
    let ws = h.ws_session(50000);
    assert!(h.ws_text(ws).contains("LS_op=add&LS_subId=1&"));
}

#[test]
fn disconnect_over_http_sends_a_destroy_request() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    let stream = http_session(&mut h);
    h.disconnect();
    let destroy = h.expect_http("control");
    assert_eq!(
        destroy.body,
        "LS_reqId=1&LS_op=destroy&LS_close_socket=true&LS_cause=api"
    );
    h.expect_close(stream);
    h.expect_no_transmit();
    assert_eq!(h.status(), Status::Disconnected);
}

#[test]
fn disconnect_while_recovering_destroys_over_http() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.fail(ws);
    assert_eq!(h.status(), Status::TryingRecovery);
    h.disconnect();
    let destroy = h.expect_http("control");
    assert_eq!(
        destroy.path,
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"
    );
    h.expect_no_transmit();
    assert_eq!(h.s.poll_timeout(), None);
}
