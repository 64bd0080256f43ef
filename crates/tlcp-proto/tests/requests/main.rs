//! Requests: exact encodings (including the lines the official clients send, as recorded in
//! `shared/reference/protocol-notes.md`), and parsing of every request example of the TLCP
//! 2.0.0 specification (chapters 3, 5 and 6).
//!
//! The specification prints long lines broken at the page width; here they are joined
//! back, as the wire carries them (each such place is pointed out).

use tlcp_proto::request::{
    BindSession, Control, ControlOp, CreateSession, Heartbeat, Location, Message, Request,
    RequestErrorKind, SessionTtl, Subscribe, parse_http, parse_ws_message,
};
use tlcp_proto::{
    Bandwidth, BufferSize, MaxFrequency, Mode, ProtocolVersion, Secret, SessionId, Snapshot,
};

const CID: &str = "mgQkwtwdysogQz2BJ4Ji%20kOj2Bg";

fn ws(r: impl Into<Request>) -> String {
    let mut out = String::new();
    r.into().encode_ws(&mut out);
    out
}

fn post(r: impl Into<Request>) -> (String, String) {
    let (mut path, mut body) = (String::new(), String::new());
    r.into()
        .encode_http_post(ProtocolVersion::V2_5_0, &mut path, &mut body);
    (path, body)
}

fn get(r: impl Into<Request>) -> String {
    let mut out = String::new();
    r.into()
        .encode_http_get(ProtocolVersion::V2_5_0, &mut out)
        .expect("GET form");
    out
}

fn sid(s: &str) -> SessionId {
    SessionId::new(s)
}

fn one_ws(msg: &str) -> Request {
    let mut reqs = parse_ws_message(msg).expect("parses");
    assert_eq!(reqs.len(), 1, "{msg:?}");
    reqs.remove(0)
}

fn one_http(path: &str, body: &str) -> Request {
    let mut http = parse_http(path, body).expect("parses");
    assert_eq!(http.requests.len(), 1, "{path:?} {body:?}");
    http.requests.remove(0)
}

// ---------------------------------------------------------------------------------------
// Encoding: what the official clients send.

#[test]
fn official_ws_lines() {
    assert_eq!(ws(Request::Wsok), "wsok");

    let mut create = CreateSession::new()
        .with_adapter_set("DEMO")
        .with_cause("api");
    create.send_sync = Some(false);
    assert_eq!(
        ws(create),
        format!(
            "create_session\r\nLS_adapter_set=DEMO&LS_cid={CID}&LS_send_sync=false&LS_cause=api"
        )
    );

    let sub = Subscribe::new(1, Mode::Merge, "item1", "field1")
        .with_snapshot(Snapshot::Enabled(true))
        .with_ack(false);
    assert_eq!(
        ws(Control::new("1", sub.into())),
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&LS_schema=field1\
         &LS_snapshot=true&LS_ack=false"
    );

    let mut msg = Message::new("3", "m1 ordered").in_sequence("seq1", 1);
    msg.max_wait = Some(500);
    assert_eq!(
        ws(msg),
        "msg\r\nLS_reqId=3&LS_message=m1%20ordered&LS_sequence=seq1&LS_msg_prog=1&LS_max_wait=500"
    );

    assert_eq!(ws(Heartbeat::default()), "heartbeat\r\n\r\n");

    let destroy = ControlOp::Destroy {
        cause_code: None,
        cause_message: None,
        close_socket: Some(true),
    };
    assert_eq!(
        ws(Control::new("2", destroy).with_cause("api")),
        "control\r\nLS_reqId=2&LS_op=destroy&LS_close_socket=true&LS_cause=api"
    );
}

#[test]
fn official_http_lines() {
    let mut create = CreateSession::new()
        .with_adapter_set("DEMO")
        .with_cause("api");
    create.polling = Some(true);
    create.polling_millis = Some(0);
    create.idle_millis = Some(0);
    assert_eq!(
        post(create),
        (
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0".to_owned(),
            format!(
                "LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO\
                 &LS_cid={CID}&LS_cause=api"
            )
        )
    );

    let mut bind = BindSession::new(sid("S1aa6c792585db57aT1726545"));
    bind.content_length = Some(50_000_000);
    bind.send_sync = Some(false);
    bind.cause = Some("http.loop".into());
    assert_eq!(
        post(bind),
        (
            "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0".to_owned(),
            "LS_session=S1aa6c792585db57aT1726545&LS_content_length=50000000&LS_send_sync=false\
             &LS_cause=http.loop"
                .to_owned()
        )
    );

    let sub =
        Subscribe::new(1, Mode::Merge, "item1", "field1").with_snapshot(Snapshot::Enabled(true));
    let control = Control::new("1", sub.into()).with_session(sid("S1aa6c792585db57aT1726545"));
    assert_eq!(
        post(control),
        (
            "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1aa6c792585db57aT1726545"
                .to_owned(),
            "LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&LS_schema=field1\
             &LS_snapshot=true"
                .to_owned()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Encoding: every request and parameter.

fn full_create() -> CreateSession {
    CreateSession {
        polling: Some(true),
        polling_millis: Some(0),
        idle_millis: Some(19000),
        keepalive_millis: Some(5000),
        inactivity_millis: Some(10000),
        requested_max_bandwidth: Some(Bandwidth::Kbps(50.5)),
        old_session: Some(sid("S1")),
        content_length: Some(50_000_000),
        send_sync: Some(false),
        reduce_head: Some(true),
        ttl_millis: Some(SessionTtl::Unlimited),
        ..CreateSession::new()
            .with_credentials("user 1", Secret::new("CST-a|XST-b"))
            .with_adapter_set("DEMO")
            .with_cause("api")
    }
}

#[test]
fn create_session_with_every_parameter() {
    let expected = format!(
        "LS_polling=true&LS_polling_millis=0&LS_idle_millis=19000&LS_keepalive_millis=5000\
         &LS_inactivity_millis=10000&LS_requested_max_bandwidth=50.5&LS_user=user%201\
         &LS_password=CST-a%7CXST-b&LS_adapter_set=DEMO&LS_cid={CID}&LS_old_session=S1\
         &LS_content_length=50000000&LS_send_sync=false&LS_reduce_head=true\
         &LS_ttl_millis=unlimited&LS_cause=api"
    );
    assert_eq!(ws(full_create()), format!("create_session\r\n{expected}"));
    let mut c = full_create();
    c.ttl_millis = Some(SessionTtl::Millis(60000));
    c.requested_max_bandwidth = Some(Bandwidth::Unlimited);
    let line = ws(c);
    assert!(line.contains("&LS_ttl_millis=60000&"), "{line}");
    assert!(
        line.contains("&LS_requested_max_bandwidth=unlimited&"),
        "{line}"
    );

    let bare = CreateSession {
        cid: None,
        ..CreateSession::new()
    };
    assert_eq!(ws(bare.clone()), "create_session\r\n");
    assert_eq!(post(bare).1, "");
}

#[test]
fn bind_session_with_every_parameter() {
    let bind = BindSession {
        session: Some(sid("S 1")),
        recovery_from: Some(42),
        polling: Some(true),
        polling_millis: Some(100),
        idle_millis: Some(19000),
        keepalive_millis: Some(1000),
        inactivity_millis: Some(3000),
        content_length: Some(4000),
        send_sync: Some(true),
        reduce_head: Some(false),
        cause: Some("recovery.error".into()),
    };
    assert_eq!(
        ws(bind),
        "bind_session\r\nLS_session=S%201&LS_recovery_from=42&LS_polling=true\
         &LS_polling_millis=100&LS_idle_millis=19000&LS_keepalive_millis=1000\
         &LS_inactivity_millis=3000&LS_content_length=4000&LS_send_sync=true\
         &LS_reduce_head=false&LS_cause=recovery.error"
    );
    assert_eq!(ws(BindSession::default()), "bind_session\r\n");
}

#[test]
fn every_control_operation() {
    let sub = Subscribe::new(7, Mode::Command, "a b", "key command x")
        .with_data_adapter("QUOTE_ADAPTER")
        .with_selector("sel&=")
        .with_buffer_size(BufferSize::Events(3))
        .with_max_frequency(MaxFrequency::PerSecond(0.5))
        .with_snapshot(Snapshot::Length(10))
        .with_ack(true);
    let cases: Vec<(ControlOp, &str)> = vec![
        (
            sub.into(),
            "LS_op=add&LS_subId=7&LS_mode=COMMAND&LS_group=a%20b&LS_schema=key%20command%20x\
             &LS_data_adapter=QUOTE_ADAPTER&LS_selector=sel%26%3D&LS_requested_buffer_size=3\
             &LS_requested_max_frequency=0.5&LS_snapshot=10&LS_ack=true",
        ),
        (
            Subscribe::new(8, Mode::Raw, "g", "s")
                .with_buffer_size(BufferSize::Unlimited)
                .with_max_frequency(MaxFrequency::Unfiltered)
                .into(),
            "LS_op=add&LS_subId=8&LS_mode=RAW&LS_group=g&LS_schema=s\
             &LS_requested_buffer_size=unlimited&LS_requested_max_frequency=unfiltered",
        ),
        (ControlOp::delete(1), "LS_op=delete&LS_subId=1"),
        (
            ControlOp::Delete {
                sub_id: 2,
                ack: Some(false),
            },
            "LS_op=delete&LS_subId=2&LS_ack=false",
        ),
        (
            ControlOp::Reconf {
                sub_id: 1,
                requested_max_frequency: Some(MaxFrequency::PerSecond(2.0)),
            },
            "LS_op=reconf&LS_subId=1&LS_requested_max_frequency=2",
        ),
        (
            ControlOp::Reconf {
                sub_id: 1,
                requested_max_frequency: Some(MaxFrequency::Unlimited),
            },
            "LS_op=reconf&LS_subId=1&LS_requested_max_frequency=unlimited",
        ),
        (
            ControlOp::Constrain {
                requested_max_bandwidth: Some(Bandwidth::Kbps(50.0)),
            },
            "LS_op=constrain&LS_requested_max_bandwidth=50",
        ),
        (
            ControlOp::Constrain {
                requested_max_bandwidth: None,
            },
            "LS_op=constrain",
        ),
        (
            ControlOp::ForceRebind {
                polling_millis: Some(0),
                close_socket: Some(true),
            },
            "LS_op=force_rebind&LS_polling_millis=0&LS_close_socket=true",
        ),
        (
            ControlOp::Destroy {
                cause_code: Some(-3),
                cause_message: Some("bye, now".into()),
                close_socket: Some(false),
            },
            "LS_op=destroy&LS_cause_code=-3&LS_cause_message=bye%2C%20now&LS_close_socket=false",
        ),
        (ControlOp::destroy(), "LS_op=destroy"),
    ];
    for (op, expected) in cases {
        let control = Control::new("9", op.clone()).with_session(sid("S9"));
        let line = format!("LS_session=S9&LS_reqId=9&{expected}&LS_cause=c");
        assert_eq!(
            ws(control.clone().with_cause("c")),
            format!("control\r\n{line}")
        );
        // The combo form: no session, no request id.
        let combo = CreateSession {
            cid: None,
            ..CreateSession::new()
        }
        .with_control(op);
        assert_eq!(ws(combo), format!("create_session\r\n\r\n{expected}"));
        // HTTP: the session goes to the query string.
        let (path, body) = post(control);
        assert!(path.ends_with("/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S9"));
        assert_eq!(body, format!("LS_reqId=9&{expected}"));
    }
}

#[test]
fn messages_and_heartbeats() {
    let msg = Message {
        session: Some(sid("S1")),
        req_id: Some("4".into()),
        message: "CHAT|Ciao à tutti\r\n".into(),
        sequence: Some("CHAT".into()),
        msg_prog: Some(12),
        max_wait: Some(0),
        ack: Some(false),
        outcome: Some(false),
    };
    assert_eq!(
        ws(msg.clone()),
        "msg\r\nLS_session=S1&LS_reqId=4&LS_message=CHAT%7CCiao%20%C3%A0%20tutti%0D%0A\
         &LS_sequence=CHAT&LS_msg_prog=12&LS_max_wait=0&LS_outcome=false&LS_ack=false"
    );
    assert_eq!(
        get(msg),
        "/lightstreamer/msg.txt?LS_protocol=TLCP-2.5.0&LS_session=S1&LS_reqId=4\
         &LS_message=CHAT%7CCiao%20%C3%A0%20tutti%0D%0A&LS_sequence=CHAT&LS_msg_prog=12\
         &LS_max_wait=0&LS_outcome=false&LS_ack=false"
    );

    let hb = Heartbeat {
        session: Some(sid("S1")),
        req_id: None,
    };
    assert_eq!(ws(hb.clone()), "heartbeat\r\nLS_session=S1");
    assert_eq!(
        post(hb),
        (
            "/lightstreamer/heartbeat.txt?LS_protocol=TLCP-2.5.0&LS_session=S1".to_owned(),
            "\r\n".to_owned()
        )
    );
    let hb = Heartbeat {
        session: None,
        req_id: Some("5".into()),
    };
    assert_eq!(ws(hb), "heartbeat\r\nLS_reqId=5");
}

#[test]
fn combos_in_every_form() {
    let sub = |id, group: &str| {
        Subscribe::new(id, Mode::Merge, group, "last_price").with_data_adapter("QUOTE_ADAPTER")
    };
    let mut one = CreateSession::new()
        .with_adapter_set("DEMO")
        .with_control(sub(1, "item1").into());
    one.user = Some(String::new());
    let params = format!("LS_user=&LS_adapter_set=DEMO&LS_cid={CID}");
    let op1 = "LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&LS_schema=last_price\
               &LS_data_adapter=QUOTE_ADAPTER";
    assert_eq!(
        ws(one.clone()),
        format!("create_session\r\n{params}\r\n{op1}")
    );
    assert_eq!(post(one.clone()).1, format!("{params}\r\n{op1}"));
    assert_eq!(
        get(one.clone()),
        format!("/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0&{params}&{op1}")
    );

    let two = one.clone().with_control(sub(2, "item2").into());
    assert!(ws(two.clone()).ends_with(
        "\r\nLS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=item2\
                                       &LS_schema=last_price&LS_data_adapter=QUOTE_ADAPTER"
    ));
    let mut out = String::new();
    let err = Request::from(two).encode_http_get(ProtocolVersion::V2_5_0, &mut out);
    assert_eq!(
        err.unwrap_err().to_string(),
        "the GET form carries at most one combo control (2 given)"
    );
    assert_eq!(out, "", "nothing written on error");

    // A shared parameter must agree between the creation and its control.
    let constrain = |b| ControlOp::Constrain {
        requested_max_bandwidth: b,
    };
    let mut c = CreateSession::new().with_control(constrain(Some(Bandwidth::Kbps(10.0))));
    let mut out = String::new();
    assert!(
        Request::from(c.clone())
            .encode_http_get(ProtocolVersion::V2_5_0, &mut out)
            .is_err()
    );
    c.requested_max_bandwidth = Some(Bandwidth::Kbps(10.0));
    let url = get(c.clone());
    assert_eq!(
        url.matches("LS_requested_max_bandwidth=10").count(),
        1,
        "{url}"
    );
    assert_eq!(one_http(&url, ""), Request::CreateSession(c));
    let mut c = CreateSession::new().with_control(ControlOp::ForceRebind {
        polling_millis: Some(5),
        close_socket: None,
    });
    let mut out = String::new();
    assert!(
        Request::from(c.clone())
            .encode_http_get(ProtocolVersion::V2_5_0, &mut out)
            .is_err()
    );
    c.polling_millis = Some(5);
    assert_eq!(one_http(&get(c.clone()), ""), Request::CreateSession(c));
}

#[test]
fn get_forms() {
    assert_eq!(
        get(Control::new("1", ControlOp::delete(3)).with_session(sid("S/1"))),
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S%2F1&LS_reqId=1\
         &LS_op=delete&LS_subId=3"
    );
    assert_eq!(
        get(BindSession::new(sid("S1"))),
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"
    );
    assert_eq!(
        get(Heartbeat::default()),
        "/lightstreamer/heartbeat.txt?LS_protocol=TLCP-2.5.0"
    );
}

#[test]
fn debug_never_shows_secrets() {
    let mut c = full_create();
    c.password = Some(Secret::new("hunter2-very-secret"));
    c.old_session = Some(sid("Sd9fce58fb5dbbebfT2255126"));
    let dbg = format!("{:?}", Request::from(c));
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(!dbg.contains("T2255126"), "{dbg}");
    let dbg = format!(
        "{:?}",
        Request::from(BindSession::new(sid("Sd9fce58fb5dbbebfT2255126")))
    );
    assert!(!dbg.contains("T2255126"), "{dbg}");
}

mod batch;
mod errors;
mod spec_examples;
