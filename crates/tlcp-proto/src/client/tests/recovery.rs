//! Stall detection, session recovery (`LS_recovery_from`, `PROG`), and replacement.

use super::harness::{CID, Script, config};
use crate::Mode;
use crate::client::{ConnId, Status, SubscriptionSpec, Target, Transmit};

/// A WS session (at t=0) with one MERGE subscription confirmed and two updates: four data
/// notifications received.
fn session_with_data() -> (Script, ConnId) {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::items(Mode::Merge, ["item1"], ["a", "b"]));
    assert!(h.ws_text(ws).contains("LS_op=add&LS_subId=1"));
    h.server_sends(
        ws,
        "SUBOK,1,1,2
         CONF,1,unlimited,filtered
         U,1,1,a|b
         U,1,1,c|",
    );
    h.events();
    (h, ws)
}

/// Stalls the stream and lets the reconnect timeout drop it; returns when (ms) it was
/// dropped.
fn stall_and_drop(h: &mut Script, ws: ConnId) -> u64 {
    h.advance(7000);
    h.expect_events(&["status STALLED"]);
    h.advance(3000);
    h.expect_close(ws);
    h.expect_events(&["status DISCONNECTED:TRYING-RECOVERY"]);
    h.at()
}

#[test]
fn stalled_after_keepalive_plus_stalled_timeout_and_never_earlier() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.advance(6999);
    h.expect_events(&[]);
    // Any line restarts the count.
    h.server_sends(ws, "PROBE");
    h.advance(6999);
    h.expect_events(&[]);
    h.advance(1);
    h.expect_events(&["status STALLED"]);
    assert_eq!(h.at(), 13999);
    // Data while stalled: connected again.
    h.advance(2999);
    h.server_sends(ws, "PROBE");
    h.expect_events(&["status CONNECTED:WS-STREAMING"]);
    h.expect_no_transmit();
}

#[test]
fn the_connection_is_dropped_after_the_reconnect_timeout() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.advance(7000);
    h.expect_events(&["status STALLED"]);
    h.advance(2999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(ws);
    h.expect_events(&["status DISCONNECTED:TRYING-RECOVERY"]);
    assert_eq!(h.at(), 10000);
}

#[test]
fn a_lost_stream_is_recovered_from_the_count_of_data_notifications() {
    let (mut h, ws) = session_with_data();
    let lost_at = stall_and_drop(&mut h, ws);
    // The first attempt comes after a random pause below first_retry_max_delay.
    let pause = h.advance_to_next_timer(1000);
    assert!(pause < 100, "{pause}");
    let bind = h.expect_http("bind_session");
    assert_eq!(h.last_at, lost_at + pause);
    assert_eq!(bind.target, Target::Server);
    assert_eq!(
        bind.body,
        "LS_session=S1&LS_recovery_from=4&LS_polling=true&LS_polling_millis=0&\
         LS_idle_millis=0&LS_cause=ws.stalled"
    );
    h.server_sends(
        bind.conn,
        "CONOK,S1,50000,5000,*
         PROG,4
         U,1,1,d|
         LOOP,0",
    );
    h.expect_events(&[
        "status CONNECTED:STREAM-SENSING",
        "session recovered skipping 0",
        "sub1 update 1 [d|b] changed [1]",
    ]);
    // Back to streaming over WS.
    let ws2 = h.expect_ws_open();
    h.open_ws(ws2);
    h.expect_ws_text(ws2, "wsok");
    assert!(h.ws_text(ws2).starts_with("bind_session\r\nLS_session=S1&"));
    h.server_sends(ws2, "CONOK,S1,50000,5000,*\nU,1,1,e|");
    h.expect_events(&[
        "status CONNECTED:WS-STREAMING",
        "sub1 update 1 [e|b] changed [1]",
    ]);
}

#[test]
fn replayed_duplicates_are_skipped() {
    let (mut h, ws) = session_with_data();
    h.fail(ws);
    h.expect_events(&["status DISCONNECTED:TRYING-RECOVERY"]);
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    assert!(bind.body.contains("LS_recovery_from=4&"));
    // The server replays from notification 3 on: two duplicates, then a new one.
    h.server_sends(
        bind.conn,
        "CONOK,S1,50000,5000,*
         PROG,2
         U,1,1,a|b
         U,1,1,c|
         U,1,1,|z",
    );
    h.expect_events(&[
        "status CONNECTED:STREAM-SENSING",
        "session recovered skipping 2",
        "sub1 update 1 [c|z] changed [2]",
    ]);
    // And the count goes on from 5.
    h.server_sends(bind.conn, "LOOP,0");
    let ws2 = h.expect_ws_open();
    h.open_ws(ws2);
    h.discard_transmits();
    h.server_sends(ws2, "CONOK,S1,50000,5000,*");
    h.fail(ws2);
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    assert!(bind.body.contains("LS_recovery_from=5&"), "{}", bind.body);
}

#[test]
fn a_gap_makes_recovery_impossible_and_the_session_is_replaced() {
    let (mut h, ws) = session_with_data();
    h.fail(ws);
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*\nPROG,7\nU,1,1,x|y");
    h.expect_events(&[
        "status DISCONNECTED:TRYING-RECOVERY",
        "status CONNECTED:STREAM-SENSING",
        "sub1 interrupted",
        "status DISCONNECTED:WILL-RETRY",
        "status CONNECTING",
    ]);
    h.expect_close(bind.conn);
    let ws2 = h.expect_ws_open();
    h.open_ws(ws2);
    h.expect_ws_text(ws2, "wsok");
    h.expect_ws_text(
        ws2,
        &format!(
            "create_session\r\nLS_keepalive_millis=5000&LS_adapter_set=DEMO&LS_cid={CID}&\
             LS_old_session=S1&LS_send_sync=false&LS_cause=recovery.error"
        ),
    );
    h.server_sends(ws2, "CONOK,S2,50000,5000,*");
    h.expect_events(&[
        "session replaced, lost AtLeast(3)",
        "status CONNECTED:WS-STREAMING",
    ]);
    // The subscription is sent again, with a snapshot, numbered from 1 in the new session.
    h.expect_ws_text(
        ws2,
        "control\r\nLS_reqId=2&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&\
         LS_schema=a%20b&LS_snapshot=true&LS_ack=false",
    );
    h.server_sends(ws2, "SUBOK,1,1,2\nU,1,1,p|q");
    h.expect_events(&[
        "sub1 subscribed 1x2",
        "sub1 update 1 [p|q] changed [1, 2] snapshot",
    ]);
}

#[test]
fn recovery_is_retried_every_retry_delay_then_given_up() {
    let (mut h, ws) = session_with_data();
    h.fail(ws);
    let lost_at = h.at();
    let first = h.advance_to_next_timer(1000);
    let mut attempts = Vec::new();
    let ws2 = loop {
        let t = h.expect_transmit();
        match t {
            crate::client::Transmit::Http { conn, path, .. } if path.contains("bind_session") => {
                attempts.push(h.last_at - lost_at);
                h.fail(conn);
                if !h.has_transmit() {
                    h.advance_to_next_timer(20_000);
                }
            }
            crate::client::Transmit::OpenWs { conn, .. } => break conn,
            other => panic!("unexpected {other:?}"),
        }
    };
    // Every retry_delay from the first attempt, while session_recovery_timeout (15 s)
    // allows; then a new session at once.
    assert_eq!(attempts, [first, first + 4000, first + 8000, first + 12000]);
    assert_eq!(h.last_at - lost_at, first + 12000);
    let events = h.events();
    assert!(events.ends_with(&[
        "sub1 interrupted".to_owned(),
        "status DISCONNECTED:WILL-RETRY".to_owned(),
        "status CONNECTING".to_owned(),
    ]));
    // The new session replaces the old one, and the subscription comes back with a
    // snapshot.
    h.open_ws(ws2);
    h.expect_ws_text(ws2, "wsok");
    let create = h.ws_text(ws2);
    assert!(
        create.contains("&LS_old_session=S1&") && create.ends_with("&LS_cause=recovery.error"),
        "{create}"
    );
    h.server_sends(ws2, "CONOK,S2,50000,5000,*");
    h.expect_events(&[
        "session replaced, lost Unknown",
        "status CONNECTED:WS-STREAMING",
    ]);
    let add = h.ws_text(ws2);
    assert!(
        add.contains("LS_subId=1&") && add.contains("&LS_snapshot=true"),
        "{add}"
    );
}

#[test]
fn a_recovery_attempt_without_answer_times_out_and_the_next_starts_at_once() {
    let (mut h, ws) = session_with_data();
    h.fail(ws);
    h.advance_to_next_timer(1000);
    let first = h.expect_http("bind_session");
    let start = h.last_at;
    h.advance(4000);
    h.expect_close(first.conn);
    h.expect_http("bind_session");
    assert_eq!(h.last_at, start + 4000);
    assert_eq!(h.status(), Status::TryingRecovery);
}

#[test]
fn conerr_on_the_recovery_bind_replaces_the_session() {
    let (mut h, ws) = session_with_data();
    h.fail(ws);
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    h.server_sends(bind.conn, "CONERR,20,Session not found");
    h.expect_close(bind.conn);
    let ws2 = h.expect_ws_open();
    h.open_ws(ws2);
    h.expect_ws_text(ws2, "wsok");
    assert!(h.ws_text(ws2).contains("LS_old_session=S1"));
    h.server_sends(ws2, "CONOK,S2,50000,5000,*");
    h.expect_event("session replaced, lost Unknown");
}

#[test]
fn without_recovery_the_session_is_replaced_after_a_random_pause() {
    for version in [
        crate::ProtocolVersion::V2_0_0,
        crate::ProtocolVersion::V2_5_0,
    ] {
        let mut c = config().with_version(version);
        if version == crate::ProtocolVersion::V2_5_0 {
            c.session_recovery_timeout = std::time::Duration::ZERO;
        }
        let mut h = Script::new(c);
        h.connect();
        let ws = h.expect_ws_open();
        h.open_ws(ws);
        h.discard_transmits();
        h.server_sends(ws, "CONOK,S1,50000,5000,*");
        h.events();
        h.fail(ws);
        h.expect_events(&["status DISCONNECTED:WILL-RETRY"]);
        let pause = h.advance_to_next_timer(1000);
        assert!(pause < 100);
        h.expect_ws_open();
        h.expect_events(&["status CONNECTING"]);
    }
}

#[test]
fn the_recovery_count_is_exact_across_notification_types() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::items(Mode::Distinct, ["news"], ["title"]);
    let sub = h.subscribe(spec);
    h.discard_transmits();
    h.s.send_message(crate::client::MessageSpec::new("a"), h.now)
        .unwrap();
    h.s.send_message(crate::client::MessageSpec::new("b"), h.now)
        .unwrap();
    h.pump();
    h.discard_transmits();
    h.server_sends(
        ws,
        "SUBOK,1,1,1
         CONF,1,unlimited,filtered
         PROBE
         U,1,1,one
         SYNC,3
         U,1,1,two
         NOOP,padding
         EOS,1,1
         CONS,unlimited
         CS,1,1
         REQOK,3
         OV,1,1,2
         SERVNAME,x
         MSGDONE,*,1,
         CLIENTIP,::1
         MSGFAIL,*,2,34,boom
         MPNREG,dev,1
         WSOK",
    );
    // A malformed U (counted: its tag is readable) and one that is not UTF-8.
    h.server_sends(ws, "U,99,x");
    h.server_bytes(ws, b"U,99,1,\xff\r\n");
    h.s.unsubscribe(sub, h.now).unwrap();
    h.pump();
    h.discard_transmits();
    h.server_sends(ws, "UNSUB,1");
    // SUBOK CONF U U EOS CS OV MSGDONE MSGFAIL U U UNSUB
    h.fail(ws);
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    assert!(bind.body.contains("LS_recovery_from=12&"), "{}", bind.body);
}

#[test]
fn a_dropped_over_long_data_line_still_counts_and_resubscribes() {
    let mut cfg = config();
    cfg.max_line_len = 64;
    let mut h = Script::new(cfg);
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::items(Mode::Distinct, ["news"], ["title"]);
    h.subscribe(spec);
    h.discard_transmits();
    h.server_sends(ws, "SUBOK,1,1,1\nCONF,1,unlimited,filtered\nU,1,1,short");
    // The server sent a data line longer than the client accepts: it is dropped, but it
    // was the fourth data notification and subscription 1 lost an update.
    let long = format!("U,1,1,{}", "x".repeat(200));
    h.server_sends(ws, &long);
    h.server_sends(ws, "PROBE");
    let resub: String = h
        .take_transmits()
        .into_iter()
        .filter_map(|t| match t {
            Transmit::WsText { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert!(
        resub.contains("LS_op=delete&LS_subId=1") || resub.contains("LS_op=add&LS_subId=2"),
        "the subscription is resynchronised: {resub}"
    );
    h.fail(ws);
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    assert!(bind.body.contains("LS_recovery_from=4&"), "{}", bind.body);
}

#[test]
fn end_on_the_stream_follows_the_code_table() {
    for (code, replaced) in [(41, true), (48, true), (31, false), (35, false)] {
        let (mut h, ws) = session_with_data();
        h.server_sends(ws, &format!("END,{code},bye"));
        h.expect_close(ws);
        if replaced {
            let ws2 = h.expect_ws_open();
            h.open_ws(ws2);
            h.expect_ws_text(ws2, "wsok");
            assert!(h.ws_text(ws2).contains("LS_old_session=S1"));
            assert_eq!(h.status(), Status::Connecting);
        } else {
            h.expect_events(&[
                &format!("server error END {code}: bye"),
                "sub1 interrupted",
                &format!(
                    "session closed Server(ServerError {{ kind: End, code: {code}, message: \"bye\" }})"
                ),
                "status DISCONNECTED",
            ]);
            h.expect_no_transmit();
            assert_eq!(h.s.poll_timeout(), None);
        }
    }
}
