//! Session creation, transport selection (stream-sense), forced transports, LOOP.

use super::harness::{CID, Script, config};
use crate::client::{ForcedTransport, HttpKind, Status, Target};

#[test]
fn create_over_ws_sends_wsok_and_create_session_together() {
    let mut h = Script::new(config());
    h.connect();
    h.expect_events(&["status CONNECTING"]);
    let ws = h.expect_ws_open();
    h.expect_no_transmit();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    h.expect_ws_text(
        ws,
        &format!(
            "create_session\r\nLS_adapter_set=DEMO&LS_cid={CID}&LS_send_sync=false&LS_cause=api"
        ),
    );
    h.server_sends(
        ws,
        "WSOK
         CONOK,S1,50000,5000,*
         SERVNAME,Lightstreamer HTTP Server
         CLIENTIP,127.0.0.1
         CONS,unlimited",
    );
    h.expect_events(&[
        "session created",
        "status CONNECTED:WS-STREAMING",
        "info ServerName(\"Lightstreamer HTTP Server\")",
        "info ClientIp(\"127.0.0.1\")",
        "info Bandwidth(Unlimited)",
    ]);
    h.expect_no_transmit();
}

#[test]
fn credentials_and_options_go_into_the_create_request() {
    let mut c = config().with_credentials("user", "CST-a|XST-b");
    c.keepalive_interval = Some(std::time::Duration::from_millis(3000));
    c.requested_max_bandwidth = Some(crate::Bandwidth::Kbps(50.0));
    c.reverse_heartbeat_interval = Some(std::time::Duration::from_millis(2500));
    c.protocol_version = crate::ProtocolVersion::V2_4_0;
    let mut h = Script::new(c);
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    h.expect_ws_text(
        ws,
        &format!(
            "create_session\r\nLS_keepalive_millis=3000&LS_inactivity_millis=2500&\
             LS_requested_max_bandwidth=50&LS_user=user&LS_password=CST-a%7CXST-b&\
             LS_adapter_set=DEMO&LS_cid={CID}&LS_send_sync=false&LS_cause=api"
        ),
    );
}

#[test]
fn no_ws_answer_within_retry_delay_creates_over_http_then_binds_over_ws() {
    let mut h = Script::new(config());
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.advance(3999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(ws);
    let create = h.expect_http("create_session");
    assert_eq!(h.last_at, 4000);
    assert_eq!(create.target, Target::Server);
    assert_eq!(create.kind, HttpKind::Stream);
    assert_eq!(
        create.path,
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0"
    );
    assert_eq!(
        create.body,
        format!(
            "LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&\
             LS_cid={CID}&LS_cause=ws.unavailable"
        )
    );
    h.server_sends(
        create.conn,
        "CONOK,S1,50000,5000,*
         SERVNAME,Lightstreamer HTTP Server
         CLIENTIP,127.0.0.1
         LOOP,0",
    );
    assert_eq!(h.status(), Status::StreamSensing);
    // The stream is bound over WS again.
    let ws2 = h.expect_ws_open();
    h.open_ws(ws2);
    h.expect_ws_text(ws2, "wsok");
    h.expect_ws_text(
        ws2,
        "bind_session\r\nLS_session=S1&LS_send_sync=false&LS_cause=http.loop",
    );
    h.server_sends(ws2, "WSOK\nCONOK,S1,50000,5000,*");
    h.expect_event("status CONNECTED:WS-STREAMING");
}

#[test]
fn a_failed_ws_falls_back_to_http_at_once() {
    let mut h = Script::new(config());
    h.connect();
    let ws = h.expect_ws_open();
    h.fail(ws);
    let create = h.expect_http("create_session");
    assert_eq!(h.last_at, 0);
    assert!(create.body.ends_with("LS_cause=ws.unavailable"));
}

#[test]
fn stream_sense_falls_back_to_http_streaming_then_polling() {
    let mut h = Script::new(config());
    h.connect();
    let ws = h.expect_ws_open();
    h.fail(ws);
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    h.expect_events(&[
        "status CONNECTING",
        "session created",
        "status CONNECTED:STREAM-SENSING",
    ]);
    // WS bind: refused as well.
    let ws2 = h.expect_ws_open();
    h.fail(ws2);
    let streaming = h.expect_http("bind_session");
    assert_eq!(
        streaming.body,
        "LS_session=S1&LS_content_length=50000000&LS_send_sync=false&LS_cause=ws.unavailable"
    );
    // A proxy buffers the stream: no CONOK in time.
    h.advance(3999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(streaming.conn);
    let polling = h.expect_http("bind_session");
    assert_eq!(
        polling.body,
        "LS_session=S1&LS_polling=true&LS_polling_millis=0&LS_idle_millis=19000&\
         LS_cause=http.streaming.unavailable"
    );
    h.server_sends(polling.conn, "CONOK,S1,50000,19000,*\nU,1,1,x\nLOOP,0");
    assert_eq!(h.status(), Status::HttpPolling);
    // Polling goes on with the same transport.
    let next = h.expect_http("bind_session");
    assert!(next.body.contains("LS_polling=true") && next.body.ends_with("LS_cause=http.loop"));
    h.expect_event("status CONNECTED:HTTP-POLLING");
}

#[test]
fn forced_http_streaming_and_the_content_length_loop() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    h.connect();
    let create = h.expect_http("create_session");
    assert!(create.body.ends_with("LS_cause=api"));
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let bind = h.expect_http("bind_session");
    assert_eq!(
        bind.body,
        "LS_session=S1&LS_content_length=50000000&LS_send_sync=false&LS_cause=http.loop"
    );
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*\nPROBE");
    h.expect_events(&[
        "status CONNECTING",
        "session created",
        "status CONNECTED:STREAM-SENSING",
        "status CONNECTED:HTTP-STREAMING",
    ]);
    // The content length is reached: LOOP, the response ends, a new stream is bound,
    // now asking for the keepalive the server chose.
    h.server_sends(bind.conn, "LOOP,0\nspurious bytes after the loop");
    let rebind = h.expect_http("bind_session");
    assert_eq!(
        rebind.body,
        "LS_session=S1&LS_keepalive_millis=5000&LS_content_length=50000000&LS_send_sync=false&\
         LS_cause=http.loop"
    );
    // The old response's end is no news.
    h.close(bind.conn, crate::client::CloseReason::Ended);
    h.expect_no_transmit();
    h.server_sends(rebind.conn, "CONOK,S1,50000,5000,*");
    assert_eq!(h.events(), Vec::<String>::new());
    assert_eq!(h.status(), Status::HttpStreaming);
}

#[test]
fn forced_ws_polling_cycles_on_the_same_socket() {
    let mut c = config().with_forced_transport(ForcedTransport::WsPolling);
    c.polling_interval = std::time::Duration::from_millis(1000);
    let mut h = Script::new(c);
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    h.expect_ws_text(
        ws,
        &format!(
            "create_session\r\nLS_polling=true&LS_polling_millis=1000&LS_idle_millis=19000&\
             LS_adapter_set=DEMO&LS_cid={CID}&LS_cause=api"
        ),
    );
    h.server_sends(ws, "CONOK,S1,50000,19000,*\nLOOP,1000");
    h.expect_events(&[
        "status CONNECTING",
        "session created",
        "status CONNECTED:WS-POLLING",
    ]);
    h.advance(999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_ws_text(
        ws,
        "bind_session\r\nLS_session=S1&LS_polling=true&LS_polling_millis=1000&\
         LS_idle_millis=19000&LS_cause=ws.loop",
    );
    h.server_sends(ws, "CONOK,S1,50000,19000,*\nLOOP,1000");
    h.advance(1000);
    assert!(h.ws_text(ws).starts_with("bind_session\r\n"));
    assert_eq!(h.status(), Status::WsPolling);
}

#[test]
fn forced_http_polling_cycles_with_new_requests() {
    let mut c = config().with_forced_transport(ForcedTransport::HttpPolling);
    c.polling_interval = std::time::Duration::from_millis(2000);
    // Much longer than the keepalive (5000): only the idle timeout explains a poll
    // that may stay silent this long.
    c.idle_timeout = std::time::Duration::from_millis(20000);
    let mut h = Script::new(c);
    h.connect();
    let create = h.expect_http("create_session");
    assert!(
        create
            .body
            .starts_with("LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&")
    );
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let poll = h.expect_http("bind_session");
    assert_eq!(
        poll.body,
        "LS_session=S1&LS_polling=true&LS_polling_millis=2000&LS_idle_millis=20000&\
         LS_cause=http.loop"
    );
    h.server_sends(poll.conn, "CONOK,S1,50000,5000,*\nLOOP,2000");
    assert_eq!(h.status(), Status::HttpPolling);
    h.advance(1999);
    h.expect_no_transmit();
    h.advance(1);
    let poll2 = h.expect_http("bind_session");
    assert_eq!(h.last_at, 2000);
    // An idle poll: the server waits up to idle, then answers; no STALLED meanwhile
    // (keepalive + stalled timeout would be 7000 ms).
    h.server_sends(poll2.conn, "CONOK,S1,50000,5000,*");
    h.events();
    h.advance(21_999);
    h.expect_no_transmit();
    assert_eq!(h.status(), Status::HttpPolling);
    h.expect_events(&[]);
    h.server_sends(poll2.conn, "LOOP,2000");
    h.advance(2000);
    h.expect_http("bind_session");
}

#[test]
fn forced_ws_streaming_never_uses_http() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::WsStreaming));
    h.connect();
    let ws = h.expect_ws_open();
    h.fail(ws);
    h.expect_events(&["status CONNECTING", "status DISCONNECTED:WILL-RETRY"]);
    h.expect_no_transmit();
    h.advance(4000);
    h.expect_ws_open();
}

#[test]
fn ws_loop_rebinds_on_the_same_socket() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.server_sends(ws, "LOOP,0");
    h.expect_ws_text(
        ws,
        "bind_session\r\nLS_session=S1&LS_keepalive_millis=5000&LS_send_sync=false&LS_cause=ws.loop",
    );
    h.server_sends(ws, "CONOK,S1,50000,5000,*");
    assert_eq!(h.status(), Status::WsStreaming);
    assert_eq!(h.events(), Vec::<String>::new());
}

#[test]
fn the_control_link_is_honoured_unless_ignored() {
    for ignore in [false, true] {
        let mut c = config().with_forced_transport(ForcedTransport::HttpStreaming);
        c.ignore_control_link = ignore;
        let mut h = Script::new(c);
        h.connect();
        let create = h.expect_http("create_session");
        h.server_sends(
            create.conn,
            "CONOK,S1,50000,5000,push2.example.com:8080\nLOOP,0",
        );
        let bind = h.expect_http("bind_session");
        let expected = if ignore {
            Target::Server
        } else {
            Target::ControlLink("push2.example.com:8080".into())
        };
        assert_eq!(bind.target, expected);
        h.server_sends(bind.conn, "CONOK,S1,50000,5000,push2.example.com:8080");
        h.s.send_message(crate::client::MessageSpec::new("hi"), h.now)
            .unwrap();
        h.pump();
        let msg = h.expect_http("msg");
        assert_eq!(msg.target, expected);
        assert_eq!(msg.kind, HttpKind::Control);
    }
}

#[test]
fn forcing_another_transport_moves_the_stream() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.s.set_forced_transport(Some(ForcedTransport::HttpStreaming), h.now);
    h.pump();
    h.expect_ws_text(ws, "control\r\nLS_reqId=1&LS_op=force_rebind");
    h.server_sends(ws, "REQOK,1\nLOOP,0");
    h.expect_close(ws);
    let bind = h.expect_http("bind_session");
    assert!(bind.body.contains("LS_content_length=50000000"));
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*");
    assert_eq!(h.status(), Status::HttpStreaming);
}

#[test]
fn debug_output_hides_the_password_and_the_session_id() {
    let mut h = Script::new(config().with_credentials("user", "hunter2-secret"));
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    let transmits = format!("{:?}", h.take_transmits());
    assert!(!transmits.contains("hunter2"), "{transmits}");
    h.server_sends(ws, "CONOK,Sabcdef0123456789T1234,50000,5000,*");
    let all = format!("{:?} {:?}", h.s, h.s.config());
    assert!(
        !all.contains("hunter2") && !all.contains("0123456789T1234"),
        "{all}"
    );
    assert_eq!(
        h.s.session_id().map(|s| s.expose()),
        Some("Sabcdef0123456789T1234")
    );
}

#[test]
fn the_model_of_a_subscription_can_be_read() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let sub = h.subscribe(crate::client::SubscriptionSpec::items(
        crate::Mode::Merge,
        ["item1"],
        ["last"],
    ));
    assert!(h.s.model(sub).is_none());
    assert_eq!(
        h.s.subscription_spec(sub).map(|s| s.group_name()),
        Some("item1".into())
    );
    h.discard_transmits();
    h.server_sends(ws, "SUBOK,1,1,1\nU,1,1,42");
    let model = h.s.model(sub).unwrap();
    assert_eq!(model.row(1).and_then(|r| r.get(0)), Some("42"));
}

#[test]
fn lines_after_a_loop_that_moves_the_stream_are_dropped() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.s.set_forced_transport(Some(ForcedTransport::HttpStreaming), h.now);
    h.pump();
    h.ws_text(ws);
    h.server_sends(ws, "LOOP,0\nSERVNAME,late");
    h.expect_close(ws);
    h.expect_http("bind_session");
    assert_eq!(h.events(), Vec::<String>::new());
}

#[test]
fn a_websocket_says_whether_it_creates_a_session() {
    let mut h = Script::new(config());
    h.connect();
    let creates = |t: &crate::client::Transmit| match t {
        crate::client::Transmit::OpenWs {
            creates_session, ..
        } => *creates_session,
        other => panic!("not a WebSocket: {other:?}"),
    };
    let first = h.expect_transmit();
    assert!(
        creates(&first),
        "the first WebSocket carries create_session"
    );
    let crate::client::Transmit::OpenWs { conn: ws, .. } = first else {
        unreachable!()
    };
    h.fail(ws);
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    // Stream-sense binds the session over a new WebSocket: not a creation.
    assert!(!creates(&h.expect_transmit()));
}

#[test]
fn forced_ws_falls_back_to_ws_polling_when_streaming_gets_no_answer() {
    let mut c = config().with_forced_transport(ForcedTransport::Ws);
    c.ws_open_timeout = Some(std::time::Duration::from_millis(1500));
    let mut h = Script::new(c);
    h.connect();
    // A WebSocket that never opens: polling would not help, so it is retried as it was.
    let ws = h.expect_ws_open();
    h.advance(1500);
    h.expect_close(ws);
    h.expect_events(&["status CONNECTING", "status DISCONNECTED:WILL-RETRY"]);
    h.advance_to_next_timer(4000);
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    assert!(
        h.ws_text(ws)
            .starts_with("create_session\r\nLS_adapter_set=DEMO&")
    );
    // Open, but the streaming create gets no answer (a proxy buffers the stream): the
    // session is created over WS polling, on a new socket, at once.
    h.advance(1499);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(ws);
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    h.expect_ws_text(
        ws,
        &format!(
            "create_session\r\nLS_polling=true&LS_polling_millis=0&LS_idle_millis=19000&\
             LS_adapter_set=DEMO&LS_cid={CID}&LS_cause=ws.streaming.unavailable"
        ),
    );
    h.server_sends(ws, "WSOK\nCONOK,S1,50000,19000,*\nLOOP,0");
    assert_eq!(h.status(), Status::WsPolling);
    // And it keeps polling on the same socket.
    h.expect_ws_text(
        ws,
        "bind_session\r\nLS_session=S1&LS_polling=true&LS_polling_millis=0&\
         LS_idle_millis=19000&LS_cause=ws.loop",
    );
}

#[test]
fn forced_ws_binds_fall_back_to_ws_polling_too() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::Ws));
    let ws = h.ws_session(50000);
    h.server_sends(ws, "LOOP,0");
    assert!(h.ws_text(ws).starts_with("bind_session\r\n"));
    // The rebind on the same socket gets no CONOK within the retry delay.
    h.advance(3999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(ws);
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    h.expect_ws_text(
        ws,
        "bind_session\r\nLS_session=S1&LS_polling=true&LS_polling_millis=0&\
         LS_idle_millis=19000&LS_cause=ws.streaming.unavailable",
    );
    h.server_sends(ws, "WSOK\nCONOK,S1,50000,19000,*");
    assert_eq!(h.status(), Status::WsPolling);
    // WS-STREAMING, forced by name, never polls: the same timeout recovers the stream.
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::WsStreaming));
    let ws = h.ws_session(50000);
    h.server_sends(ws, "LOOP,0");
    h.ws_text(ws);
    h.advance(4000);
    h.expect_close(ws);
    h.expect_event("status DISCONNECTED:TRYING-RECOVERY");
}

#[test]
fn a_failed_ws_rebind_does_not_keep_the_next_session_off_websocket() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    // The WebSocket fails while rebinding: this session moves to HTTP streaming.
    h.server_sends(ws, "LOOP,0");
    h.ws_text(ws);
    h.fail(ws);
    let bind = h.expect_http("bind_session");
    assert!(
        bind.body.ends_with("LS_cause=ws.unavailable"),
        "{}",
        bind.body
    );
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*");
    assert_eq!(h.status(), Status::HttpStreaming);
    // The session ends; its replacement is created over WebSocket again.
    h.server_sends(bind.conn, "END,48,Maximum session duration");
    h.expect_close(bind.conn);
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    let create = h.ws_text(ws);
    assert!(
        create.starts_with("create_session\r\n") && create.contains("LS_old_session=S1"),
        "{create}"
    );
    h.server_sends(ws, "WSOK\nCONOK,S2,50000,5000,*");
    assert_eq!(h.status(), Status::WsStreaming);
}

#[test]
fn a_creation_retried_after_a_failure_tries_websocket_again() {
    let mut h = Script::new(config());
    h.connect();
    let ws = h.expect_ws_open();
    h.fail(ws);
    let create = h.expect_http("create_session");
    h.fail(create.conn);
    h.expect_events(&["status CONNECTING", "status DISCONNECTED:WILL-RETRY"]);
    // After the retry delay, the whole algorithm again: WebSocket first.
    h.advance_to_next_timer(4000);
    assert_eq!(h.at(), 4000);
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    assert!(h.ws_text(ws).ends_with("LS_cause=api"));
}
