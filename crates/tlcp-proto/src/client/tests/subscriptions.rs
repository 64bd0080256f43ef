//! Subscriptions: lifecycle, wire format, notifications, two-level COMMAND, malformed data.

use super::harness::{Script, config};
use crate::Mode;
use crate::client::{ClientError, ForcedTransport, SubscriptionId, SubscriptionSpec};
use crate::types::{BufferSize, MaxFrequency, Snapshot};

#[test]
fn subscribe_update_unsubscribe() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let sub = h.subscribe(SubscriptionSpec::items(
        Mode::Merge,
        ["item1", "item2"],
        ["last", "time"],
    ));
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1%20item2&\
         LS_schema=last%20time&LS_snapshot=true&LS_ack=false",
    );
    h.server_sends(
        ws,
        "SUBOK,1,2,2
         CONF,1,unlimited,filtered
         U,1,2,3.04|12:00
         U,1,1,#|$
         U,1,2,3.05|",
    );
    h.expect_events(&[
        "sub1 subscribed 2x2",
        "sub1 frequency Unlimited filtered true",
        "sub1 update 2 [3.04|12:00] changed [1, 2] snapshot",
        "sub1 update 1 [#|] changed [1, 2] snapshot",
        "sub1 update 2 [3.05|12:00] changed [1]",
    ]);
    h.s.unsubscribe(sub, h.now).unwrap();
    h.pump();
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=delete&LS_subId=1&LS_ack=false",
    );
    // Updates after the request are not delivered; UNSUB ends it.
    h.server_sends(ws, "U,1,2,3.06|\nUNSUB,1");
    h.expect_events(&["sub1 unsubscribed"]);
    assert!(h.s.unsubscribe(sub, h.now).is_err());
}

#[test]
fn the_update_borrows_the_model_by_name() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::items(
        Mode::Merge,
        ["item1"],
        ["last", "time"],
    ));
    h.discard_transmits();
    let mut chunk: &[u8] = b"SUBOK,1,1,2\r\nU,1,1,3.04|12:00\r\n";
    let mut seen = Vec::new();
    while !chunk.is_empty() {
        h.s.handle_bytes(ws, &mut chunk, h.now);
        while let Some(e) = h.s.poll_event() {
            if let crate::client::Event::Update(u) = e {
                seen.push((
                    u.item_name().map(str::to_owned),
                    u.value_by_name("last").map(str::to_owned),
                ));
            }
        }
    }
    assert_eq!(seen, [(Some("item1".into()), Some("3.04".into()))]);
}

#[test]
fn every_subscription_option_goes_on_the_wire() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::group(Mode::Distinct, "news", "headline")
        .with_data_adapter("NEWS")
        .with_selector("hot")
        .with_buffer_size(BufferSize::Events(20))
        .with_max_frequency(MaxFrequency::PerSecond(0.5))
        .with_snapshot(Snapshot::Length(10));
    h.subscribe(spec);
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=DISTINCT&LS_group=news&\
         LS_schema=headline&LS_data_adapter=NEWS&LS_selector=hot&LS_requested_buffer_size=20&\
         LS_requested_max_frequency=0.5&LS_snapshot=10&LS_ack=false",
    );
    let raw = SubscriptionSpec::group(Mode::Raw, "g", "s");
    h.subscribe(raw);
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=RAW&LS_group=g&LS_schema=s&LS_ack=false",
    );
}

#[test]
fn before_2_3_0_ws_requests_are_acknowledged() {
    let mut h = Script::new(config().with_version(crate::ProtocolVersion::V2_2_0));
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::group(Mode::Merge, "g", "s"));
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=g&LS_schema=s&LS_snapshot=true",
    );
    // And before 2.2.0 control requests name the session.
    let mut h = Script::new(config().with_version(crate::ProtocolVersion::V2_1_0));
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    assert!(
        h.ws_text(ws).starts_with("create_session\r\n"),
        "no wsok before 2.2.0"
    );
    h.server_sends(ws, "CONOK,S1,50000,5000,*");
    h.subscribe(SubscriptionSpec::group(Mode::Merge, "g", "s"));
    assert!(
        h.ws_text(ws)
            .starts_with("control\r\nLS_session=S1&LS_reqId=1&")
    );
}

#[test]
fn unsubscribing_what_was_not_sent_is_immediate() {
    let mut h = Script::new(config());
    let sub = h.subscribe(SubscriptionSpec::group(Mode::Merge, "g", "s"));
    h.s.unsubscribe(sub, h.now).unwrap();
    h.expect_events(&["sub1 unsubscribed"]);
    // With an HTTP control request in flight, a queued add is dropped too.
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    h.connect();
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let bind = h.expect_http("bind_session");
    h.server_sends(bind.conn, "CONOK,S1,50000,5000,*");
    h.subscribe(SubscriptionSpec::group(Mode::Merge, "a", "s"));
    let second = h.subscribe(SubscriptionSpec::group(Mode::Merge, "b", "s"));
    let req = h.expect_http("control");
    h.s.unsubscribe(second, h.now).unwrap();
    h.events();
    h.control_response(req.conn, "REQOK,1");
    h.expect_no_transmit();
}

#[test]
fn distinct_snapshot_clear_and_overflow() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::items(Mode::Distinct, ["chat"], ["msg"]));
    h.discard_transmits();
    h.server_sends(
        ws,
        "SUBOK,1,1,1
         U,1,1,hello
         EOS,1,1
         U,1,1,new
         CS,1,1
         OV,1,1,3",
    );
    h.expect_events(&[
        "sub1 subscribed 1x1",
        "sub1 update 1 [hello] changed [1] snapshot",
        "sub1 end of snapshot 1",
        "sub1 update 1 [new] changed [1]",
        "sub1 clear snapshot 1",
        "sub1 lost 3 of 1",
    ]);
}

#[test]
fn two_level_command_lifecycle() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::items(Mode::Command, ["portfolio"], ["key", "command", "qty"])
        .with_second_level_fields(["bid", "ask"], Some("QUOTE"));
    h.subscribe(spec);
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=COMMAND&LS_group=portfolio&\
         LS_schema=key%20command%20qty&LS_snapshot=true&LS_ack=false",
    );
    h.server_sends(ws, "SUBCMD,1,1,3,1,2\nU,1,1,k1|ADD|10");
    h.expect_events(&[
        "sub1 subscribed 1x3 key 1 command 2",
        "sub1 update 1 ADD k1 [k1|ADD|10|#|#] changed [1, 2, 3] snapshot",
    ]);
    // A new key: its second-level MERGE subscription.
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=k1&\
         LS_schema=bid%20ask&LS_data_adapter=QUOTE&LS_snapshot=true&LS_ack=false",
    );
    h.server_sends(ws, "SUBOK,2,1,2\nU,2,1,1.0|1.1\nEOS,1,1\nU,2,1,|1.2");
    h.expect_events(&[
        "sub1 update 1 UPDATE k1 [k1|UPDATE|10|1.0|1.1] changed [2, 4, 5] snapshot",
        "sub1 end of snapshot 1",
        "sub1 update 1 UPDATE k1 [k1|UPDATE|10|1.0|1.2] changed [5]",
    ]);
    // Two more keys, then one deleted, then the rest cleared.
    h.server_sends(ws, "U,1,1,k2|ADD|5\nU,1,1,k3|ADD|7\nU,1,1,k1|DELETE|");
    let events = h.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2],
        "sub1 update 1 DELETE k1 [k1|DELETE|#|#|#] changed [2, 3, 4, 5]"
    );
    let batch = h.ws_text(ws);
    assert_eq!(
        batch
            .lines()
            .skip(1)
            .map(|l| l.trim_end())
            .collect::<Vec<_>>(),
        [
            "LS_reqId=3&LS_op=add&LS_subId=3&LS_mode=MERGE&LS_group=k2&LS_schema=bid%20ask&LS_data_adapter=QUOTE&LS_snapshot=true&LS_ack=false",
            "LS_reqId=4&LS_op=add&LS_subId=4&LS_mode=MERGE&LS_group=k3&LS_schema=bid%20ask&LS_data_adapter=QUOTE&LS_snapshot=true&LS_ack=false",
            "LS_reqId=5&LS_op=delete&LS_subId=2&LS_ack=false",
        ]
    );
    // Late updates of the deleted key are ignored.
    h.server_sends(ws, "U,2,1,9|9\nUNSUB,2\nSUBOK,3,1,2\nSUBOK,4,1,2\nOV,3,1,2");
    h.expect_events(&["sub1 lost 2 of 1 key k2"]);
    h.server_sends(ws, "CS,1,1");
    h.expect_events(&["sub1 clear snapshot 1"]);
    let batch = h.ws_text(ws);
    assert!(
        batch.contains("LS_op=delete&LS_subId=3&") && batch.contains("LS_op=delete&LS_subId=4&")
    );
}

#[test]
fn a_second_level_failure_is_reported_with_its_key() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::group(Mode::Command, "portfolio", "portfolio_fields")
        .with_second_level_schema("quote_fields", None);
    h.subscribe(spec);
    h.discard_transmits();
    h.server_sends(ws, "SUBCMD,1,1,2,1,2\nU,1,1,k1|ADD");
    h.events();
    h.discard_transmits();
    h.server_sends(ws, "REQERR,2,17,Bad Data Adapter name");
    h.expect_events(&[
        "sub1 second-level error k1 Server { code: 17, message: \"Bad Data Adapter name\" }",
    ]);
}

#[test]
fn a_malformed_update_resubscribes_with_a_snapshot() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::items(Mode::Merge, ["item1"], ["a", "b"]));
    h.discard_transmits();
    h.server_sends(ws, "SUBOK,1,1,2\nU,1,1,a|b\nU,1,1,x\nU,1,1,|c");
    h.expect_events(&[
        "sub1 subscribed 1x2",
        "sub1 update 1 [a|b] changed [1, 2] snapshot",
        "protocol error (sub#1: item 1: too few values: 1 fields for a row of 2) -> Resubscribed(SubscriptionId(1))",
    ]);
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=delete&LS_subId=1&LS_ack=false\r\n\
         LS_reqId=3&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=item1&LS_schema=a%20b&\
         LS_snapshot=true&LS_ack=false",
    );
    h.server_sends(ws, "UNSUB,1\nSUBOK,2,1,2\nU,2,1,p|q");
    h.expect_events(&[
        "sub1 subscribed 1x2",
        "sub1 update 1 [p|q] changed [1, 2] snapshot",
    ]);
    // A line that does not even parse, naming the subscription: same policy.
    h.server_sends(ws, "U,2,1");
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].ends_with("-> Resubscribed(SubscriptionId(1))"),
        "{events:?}"
    );
}

#[test]
fn answers_that_do_not_fit_the_subscription() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::items(Mode::Merge, ["a", "b"], ["f"]));
    h.discard_transmits();
    h.server_sends(ws, "SUBOK,1,3,1");
    h.expect_events(&["sub1 error Model(NameCount { what: \"item\", expected: 3, found: 2 })"]);
    h.expect_ws_text(
        ws,
        "control\r\nLS_reqId=2&LS_op=delete&LS_subId=1&LS_ack=false",
    );
    h.server_sends(ws, "U,1,1,x\nU,9,1,x\nEOS,8,1");
    h.expect_events(&[
        "protocol error (notification U for unknown subscription 9) -> Ignored",
        "protocol error (notification EOS for unknown subscription 8) -> Ignored",
    ]);
}

/// A stream of lines with multi-byte characters, bad UTF-8 (in lines that do not end the
/// subscription, and a last one that does) and a line longer than the UTF-8 check window.
fn utf8_stream() -> Vec<u8> {
    let mut s = b"SUBOK,1,2,3\r\nCONF,1,unlimited,filtered\r\n".to_vec();
    let values = ["é", "€10", "𝄞x", "ab", "ü€𝄞", "#", "$", "", "1.0"];
    for i in 0..700 {
        let v = values[i % values.len()];
        let w = values[(i / 3) % values.len()];
        s.extend_from_slice(format!("U,1,{},{v}|{w}|{i}\r\n", 1 + i % 2).as_bytes());
        match i % 97 {
            5 => s.extend_from_slice(b"SERVNAME,\xff\xfe\r\n"),
            17 => s.extend_from_slice(b"NOOP,\xe2\x82\r\n"),
            33 => s.extend_from_slice(b"CLIENTIP,\xc0\xaf\r\n"),
            50 => s.extend_from_slice(format!("NOOP,{}\r\n", "é".repeat(3000)).as_bytes()),
            _ => {}
        }
    }
    s.extend_from_slice(b"U,1,1,\xf0\x9d\x84|x|y\r\nU,1,1,a|b|c\r\n");
    s
}

/// The events of `stream` delivered in chunks cut at `cuts`.
fn utf8_events(stream: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    h.subscribe(SubscriptionSpec::items(
        Mode::Merge,
        ["a", "b"],
        ["f", "g", "h"],
    ));
    h.discard_transmits();
    let mut at = 0;
    for &cut in cuts.iter().chain([&stream.len()]) {
        let cut = cut.clamp(at, stream.len());
        h.server_bytes(ws, &stream[at..cut]);
        at = cut;
    }
    h.events()
}

/// Lines are checked for UTF-8 a window at a time when they lie in the chunk, one by one
/// when assembled across chunks: the events are the same whatever the chunking, down to
/// one byte at a time (where every line is assembled, and checked alone); bad UTF-8 is
/// reported, never a panic.
#[test]
fn the_events_do_not_depend_on_where_chunks_split_utf8() {
    let stream = utf8_stream();
    let whole = utf8_events(&stream, &[]);
    assert!(
        whole
            .iter()
            .filter(|e| e.contains("not valid UTF-8"))
            .count()
            >= 20,
        "{whole:?}"
    );
    assert!(whole.iter().filter(|e| e.contains("update")).count() > 600);
    assert!(whole.iter().any(|e| e.contains("[ü€𝄞|")), "{whole:?}");
    let bytewise: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(utf8_events(&stream, &bytewise), whole);
    // Cuts inside multi-byte characters, at line ends, and in long chunks.
    for step in [2, 3, 7, 61, 1000, 4095, 4097, 9000] {
        let cuts: Vec<usize> = (step..stream.len()).step_by(step).collect();
        assert_eq!(utf8_events(&stream, &cuts), whole, "every {step} bytes");
    }
}

#[test]
fn announced_sizes_are_checked_before_anything_is_allocated() {
    let mut c = config();
    c.max_items = 5;
    let mut h = Script::new(c);
    let ws = h.ws_session(50000);
    // Lists fix the numbers: anything else is refused before a model is built (a model
    // of 4e9 fields would take tens of GB).
    h.subscribe(SubscriptionSpec::items(Mode::Merge, ["a"], ["f", "g"]));
    h.subscribe(SubscriptionSpec::items(Mode::Merge, ["a"], ["f", "g"]));
    // A group and a schema: the configured limits (5 items here, 1000 fields by default).
    for _ in 0..4 {
        h.subscribe(SubscriptionSpec::group(Mode::Merge, "g", "s"));
    }
    h.subscribe(SubscriptionSpec::group(Mode::Command, "g", "s"));
    h.discard_transmits();
    h.server_sends(
        ws,
        "SUBOK,1,1,4000000000
         SUBOK,2,4000000000,2
         SUBOK,3,4000000000,1
         SUBOK,4,1,4000000000
         SUBOK,5,6,1000
         SUBOK,6,5,1000
         SUBCMD,7,1,4000000000,1,2",
    );
    h.expect_events(&[
        "sub1 error Model(NameCount { what: \"field\", expected: 4000000000, found: 2 })",
        "sub2 error Model(NameCount { what: \"item\", expected: 4000000000, found: 1 })",
        "sub3 error Model(TooLarge { what: \"items\", count: 4000000000, max: 5 })",
        "sub4 error Model(TooLarge { what: \"fields\", count: 4000000000, max: 1000 })",
        "sub5 error Model(TooLarge { what: \"items\", count: 6, max: 5 })",
        "sub6 subscribed 5x1000",
        "sub7 error Model(TooLarge { what: \"fields\", count: 4000000000, max: 1000 })",
    ]);
    // The refused ones are deleted on the server; the session goes on.
    let deletes = h.ws_text(ws);
    for wire in [1, 2, 3, 4, 5, 7] {
        assert!(
            deletes.contains(&format!("LS_op=delete&LS_subId={wire}&")),
            "{deletes}"
        );
    }
    assert_eq!(h.status(), crate::client::Status::WsStreaming);
}

#[test]
fn second_level_field_counts_are_checked_against_the_limit() {
    let mut c = config();
    c.max_fields = 8;
    let mut h = Script::new(c);
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::group(Mode::Command, "portfolio", "portfolio_fields")
        .with_second_level_schema("quote_fields", None);
    h.subscribe(spec);
    h.discard_transmits();
    h.server_sends(ws, "SUBCMD,1,1,2,1,2\nU,1,1,k1|ADD\nU,1,1,k2|ADD");
    h.events();
    h.discard_transmits();
    // Key k1's second level announces 4e9 fields, k2's 8: k1 fails, k2 works.
    h.server_sends(
        ws,
        "SUBOK,2,1,4000000000\nSUBOK,3,1,8\nU,3,1,1|2|3|4|5|6|7|8",
    );
    let events = h.events();
    assert_eq!(
        events[0],
        "sub1 second-level error k1 Model(TooLarge { what: \"second-level fields\", \
         count: 4000000000, max: 8 })"
    );
    assert!(
        events[1].starts_with("sub1 update 1 UPDATE k2 [k2|UPDATE|1|2|3|4|5|6|7|8]"),
        "{events:?}"
    );
    assert!(h.ws_text(ws).contains("LS_op=delete&LS_subId=2&"));
}

#[test]
fn command_keys_beyond_the_limit_fail_the_subscription_not_the_session() {
    // A server adding keys without end would grow the table of rows by key (and, with a
    // second level, open a subscription per key) without bound.
    let mut c = config();
    c.max_command_keys = 2;
    let mut h = Script::new(c);
    let ws = h.ws_session(50000);
    let spec = SubscriptionSpec::items(Mode::Command, ["portfolio"], ["key", "command", "qty"])
        .with_second_level_fields(["bid"], Some("QUOTE"));
    h.subscribe(spec);
    h.discard_transmits();
    // Two keys fit; a key deleted frees its place; a third one at once is refused.
    h.server_sends(
        ws,
        "SUBCMD,1,1,3,1,2\nU,1,1,k1|ADD|1\nU,1,1,k2|ADD|2\nU,1,1,k1|DELETE|\nU,1,1,k3|ADD|3",
    );
    let events = h.events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events[4].starts_with("sub1 update 1 ADD k3"), "{events:?}");
    h.discard_transmits();
    h.server_sends(ws, "U,1,1,k4|ADD|4\nU,1,1,k5|ADD|5");
    h.expect_events(&["sub1 error Model(TooLarge { what: \"keys\", count: 3, max: 2 })"]);
    // The subscription and its second-level ones are deleted; the session goes on.
    let deletes = h.ws_text(ws);
    assert!(deletes.contains("LS_op=delete&LS_subId=1&"), "{deletes}");
    assert!(
        !deletes.contains("LS_op=add"),
        "no key is subscribed: {deletes}"
    );
    assert_eq!(h.status(), crate::client::Status::WsStreaming);
    h.server_sends(ws, "UNSUB,1");
    h.expect_events(&["sub1 unsubscribed"]);
}

#[test]
fn subscriptions_numbered_by_the_caller_and_held_requests_go_out_together() {
    let mut h = Script::new(config());
    let ws = h.ws_session(50000);
    let spec = |item: &str| SubscriptionSpec::items(Mode::Merge, [item], ["f"]);
    let id = SubscriptionId::from_number;
    // Held: three subscriptions (numbered by the caller) and a machine-numbered one go
    // out in one batch once sent.
    h.s.hold_requests();
    for (n, item) in [(7, "a"), (8, "b"), (9, "c")] {
        h.s.subscribe_as(id(n), spec(item), h.now).unwrap();
    }
    let next = h.s.subscribe(spec("d"), h.now).unwrap();
    assert_eq!(next, id(10), "the machine numbers after the caller's ids");
    h.expect_no_transmit();
    h.s.send_requests(h.now);
    h.pump();
    let batch = h.ws_text(ws);
    assert_eq!(batch.matches("LS_op=add").count(), 4, "{batch}");
    assert_eq!(
        batch.matches("control\r\n").count(),
        1,
        "one batch: {batch}"
    );
    // An id in use, or 0, is refused; an invalid subscription too.
    assert_eq!(
        h.s.subscribe_as(id(8), spec("e"), h.now),
        Err(ClientError::SubscriptionIdInUse(id(8)))
    );
    assert_eq!(
        h.s.subscribe_as(id(0), spec("e"), h.now),
        Err(ClientError::SubscriptionIdInUse(id(0)))
    );
    assert!(h.s.subscribe_as(id(11), spec("bad name"), h.now).is_err());
    // Not held: each request goes out at once.
    h.s.subscribe_as(id(12), spec("e"), h.now).unwrap();
    h.pump();
    assert_eq!(h.ws_text(ws).matches("LS_op=add").count(), 1);
}
