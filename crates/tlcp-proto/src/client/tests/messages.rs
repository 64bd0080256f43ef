//! Messages: sequences and progressive numbers, outcomes, aborts, queueing while
//! disconnected.

use std::time::Duration;

use super::harness::{Script, config};
use crate::client::{ClientError, ForcedTransport, MessageSpec};

fn send(h: &mut Script, spec: MessageSpec) -> u64 {
    let id = h.s.send_message(spec, h.now).unwrap();
    h.pump();
    id.get()
}

#[test]
fn sequence_names_are_checked() {
    let mut h = Script::new(config());
    for bad in ["a-b", "a b", "é", "x.y"] {
        assert_eq!(
            h.s.send_message(MessageSpec::new("m").in_sequence(bad), h.now),
            Err(ClientError::InvalidSequence(bad.into()))
        );
    }
    h.expect_events(&[]);
}

#[test]
fn progressive_numbers_count_per_sequence_and_outcomes_come_back() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let a1 = MessageSpec::new("m1 ordered")
        .in_sequence("seq1")
        .with_max_wait(Duration::from_millis(500));
    send(&mut h, a1);
    h.expect_ws_text(
        ws,
        "msg\r\nLS_reqId=1&LS_message=m1%20ordered&LS_sequence=seq1&LS_msg_prog=1&LS_max_wait=500",
    );
    send(&mut h, MessageSpec::new("m2").in_sequence("seq1"));
    send(&mut h, MessageSpec::new("b1").in_sequence("other"));
    send(&mut h, MessageSpec::new("free1"));
    send(
        &mut h,
        MessageSpec::new("free2").with_max_wait(Duration::from_millis(9)),
    );
    let progs: Vec<String> = h
        .take_transmits()
        .into_iter()
        .map(|t| match t {
            crate::client::Transmit::WsText { text, .. } => text,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        progs,
        [
            "msg\r\nLS_reqId=2&LS_message=m2&LS_sequence=seq1&LS_msg_prog=2",
            "msg\r\nLS_reqId=3&LS_message=b1&LS_sequence=other&LS_msg_prog=1",
            "msg\r\nLS_reqId=4&LS_message=free1&LS_msg_prog=1",
            "msg\r\nLS_reqId=5&LS_message=free2&LS_msg_prog=2",
        ]
    );
    h.server_sends(
        ws,
        "REQOK,1
         REQOK,2
         MSGDONE,seq1,1,accepted%2C%20thanks
         MSGDONE,*,2
         MSGFAIL,other,1,-5,Not allowed
         MSGFAIL,seq1,2,34,Adapter failure
         MSGFAIL,*,1,38,Skipped",
    );
    h.expect_events(&[
        "msg1 processed Some(\"accepted, thanks\")",
        "msg5 processed None",
        "msg3 Denied { code: -5, message: \"Not allowed\" }",
        "msg2 Error { code: 34, message: \"Adapter failure\" }",
        "msg4 Discarded",
    ]);
}

#[test]
fn msgfail_39_discards_several_messages() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    for i in 1..=4 {
        send(&mut h, MessageSpec::new(format!("m{i}")).in_sequence("S"));
    }
    h.discard_transmits();
    h.server_sends(ws, "MSGFAIL,S,3,39,2\nMSGDONE,S,4,");
    h.expect_events(&[
        "msg2 Discarded",
        "msg3 Discarded",
        "msg4 processed Some(\"\")",
    ]);
}

#[test]
fn no_outcome_wanted_means_no_ack_and_no_event() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    send(&mut h, MessageSpec::new("fire").without_outcome());
    h.expect_ws_text(
        ws,
        "msg\r\nLS_reqId=1&LS_message=fire&LS_msg_prog=1&LS_outcome=false&LS_ack=false",
    );
    h.fail(ws);
    h.expect_events(&["status DISCONNECTED:TRYING-RECOVERY"]);
    // Over HTTP the request is acknowledged anyway (LS_ack means nothing there).
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    h.connect();
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let bind = h.expect_http("bind_session");
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*");
    send(&mut h, MessageSpec::new("fire").without_outcome());
    let msg = h.expect_http("msg");
    assert_eq!(
        msg.path,
        "/lightstreamer/msg.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"
    );
    assert_eq!(
        msg.body,
        "LS_reqId=1&LS_message=fire&LS_msg_prog=1&LS_outcome=false"
    );
    h.control_response(msg.conn, "REQOK,1");
    h.events();
    h.disconnect();
    h.expect_events(&["session closed Client", "status DISCONNECTED"]);
}

#[test]
fn a_refused_message_request_is_an_outcome() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    send(&mut h, MessageSpec::new("x").in_sequence("S"));
    h.discard_transmits();
    h.server_sends(ws, "REQERR,1,32,Progressive number too low");
    h.expect_events(&["msg1 Error { code: 32, message: \"Progressive number too low\" }"]);
}

#[test]
fn messages_are_aborted_when_the_session_is_lost() {
    let mut h = Script::new(config());
    // Without a session: aborted at once, unless enqueued.
    send(&mut h, MessageSpec::new("early"));
    send(
        &mut h,
        MessageSpec::new("kept")
            .in_sequence("S")
            .enqueue_while_disconnected(),
    );
    h.expect_events(&["msg1 Aborted"]);
    let ws = h.ws_session(50000);
    h.expect_ws_text(
        ws,
        "msg\r\nLS_reqId=1&LS_message=kept&LS_sequence=S&LS_msg_prog=1",
    );
    send(&mut h, MessageSpec::new("in flight").in_sequence("S"));
    h.discard_transmits();
    // The session is replaced: both are aborted, and numbering restarts.
    h.server_sends(ws, "END,48,Maximum session duration");
    let events = h.events();
    assert!(events.contains(&"msg2 Aborted".to_owned()), "{events:?}");
    assert!(events.contains(&"msg3 Aborted".to_owned()), "{events:?}");
    h.expect_close(ws);
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.server_sends(ws, "CONOK,S2,50000,5000,*");
    send(&mut h, MessageSpec::new("again").in_sequence("S"));
    h.expect_ws_text(
        ws,
        "msg\r\nLS_reqId=3&LS_message=again&LS_sequence=S&LS_msg_prog=1",
    );
}

#[test]
fn messages_survive_a_recovery() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    send(&mut h, MessageSpec::new("x"));
    h.discard_transmits();
    h.fail(ws);
    // Sent while recovering: it waits for the stream.
    send(&mut h, MessageSpec::new("y"));
    h.advance_to_next_timer(1000);
    let bind = h.expect_http("bind_session");
    h.expect_no_transmit();
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*\nPROG,0\nMSGDONE,*,1,ok");
    h.expect_event("msg1 processed Some(\"ok\")");
    let msg = h.expect_http("msg");
    assert_eq!(msg.body, "LS_reqId=2&LS_message=y&LS_msg_prog=2");
}

#[test]
fn msgfail_with_huge_numbers_settles_only_the_waiting_messages() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    for i in 1..=3 {
        send(&mut h, MessageSpec::new(format!("s{i}")).in_sequence("S"));
    }
    send(&mut h, MessageSpec::new("free"));
    h.discard_transmits();
    // The largest numbers there are: no overflow, and nothing waits up there.
    h.server_sends(
        ws,
        &format!(
            "MSGFAIL,S,{max},39,{max}\nMSGFAIL,S,{max},38,x",
            max = u64::MAX
        ),
    );
    // Every waiting message of S is at or below u64::MAX: all discarded, once each.
    h.expect_events(&["msg1 Discarded", "msg2 Discarded", "msg3 Discarded"]);
    // A count of 10^12 from a hostile server: settled at once (no walk over 10^12
    // numbers), and only the message that was waiting.
    let started = std::time::Instant::now();
    h.server_sends(ws, "MSGFAIL,*,1000000000000,39,1000000000000");
    h.expect_events(&["msg4 Discarded"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "walked the range"
    );
    // The sequences go on.
    send(&mut h, MessageSpec::new("s4").in_sequence("S"));
    h.expect_ws_text(
        ws,
        "msg\r\nLS_reqId=5&LS_message=s4&LS_sequence=S&LS_msg_prog=4",
    );
    h.server_sends(ws, "MSGFAIL,S,4,39,0\nMSGFAIL,S,3,39,5");
    h.expect_events(&["msg5 Discarded"]);
}
