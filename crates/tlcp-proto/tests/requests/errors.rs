//! Malformed requests: typed errors that say what, where, and which request.

use super::*;
use tlcp_proto::request::{parse_http_each, parse_ws_message_each};

fn ws_err(msg: &str) -> tlcp_proto::RequestError {
    parse_ws_message(msg).expect_err(msg)
}

#[test]
fn missing_mandatory_parameters() {
    let cases = [
        ("control\r\nLS_reqId=1", "LS_op"),
        (
            "control\r\nLS_reqId=1&LS_op=add&LS_mode=MERGE&LS_group=g&LS_schema=s",
            "LS_subId",
        ),
        (
            "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_group=g&LS_schema=s",
            "LS_mode",
        ),
        (
            "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_schema=s",
            "LS_group",
        ),
        (
            "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=g",
            "LS_schema",
        ),
        ("control\r\nLS_reqId=1&LS_op=delete", "LS_subId"),
        ("control\r\nLS_reqId=1&LS_op=reconf", "LS_subId"),
        ("msg\r\nLS_reqId=1&LS_sequence=A", "LS_message"),
    ];
    for (msg, param) in cases {
        let err = ws_err(msg);
        assert_eq!(
            err.kind(),
            &RequestErrorKind::MissingParameter { param },
            "{msg}"
        );
        assert_eq!(err.req_id(), Some("1"));
        assert_eq!(err.location(), Location::Line(2));
        assert_eq!(err.code(), 67);
    }
    // A control alone on its line, without parameters at all.
    assert_eq!(ws_err("control").location(), Location::Line(2));
    assert_eq!(ws_err("msg\r\n").req_id(), None);
}

#[test]
fn invalid_values() {
    let cases = [
        ("LS_op=delete&LS_subId=x", "LS_subId", "x"),
        ("LS_op=delete&LS_subId=-1", "LS_subId", "-1"),
        ("LS_op=delete&LS_subId=+1", "LS_subId", "+1"),
        ("LS_op=delete&LS_subId=4294967296", "LS_subId", "4294967296"),
        ("LS_op=delete&LS_subId=1&LS_ack=yes", "LS_ack", "yes"),
        (
            "LS_op=add&LS_subId=1&LS_mode=merge&LS_group=g&LS_schema=s",
            "LS_mode",
            "merge",
        ),
        (
            "LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=g&LS_schema=s&LS_snapshot=maybe",
            "LS_snapshot",
            "maybe",
        ),
        (
            "LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=g&LS_schema=s&LS_requested_buffer_size=1.5",
            "LS_requested_buffer_size",
            "1.5",
        ),
        (
            "LS_op=reconf&LS_subId=1&LS_max_frequency=fast",
            "LS_requested_max_frequency",
            "fast",
        ),
        (
            "LS_op=constrain&LS_requested_max_bandwidth=1e3",
            "LS_requested_max_bandwidth",
            "1e3",
        ),
        // 0 would stop the flow for good: malformed, not a pause.
        (
            "LS_op=constrain&LS_requested_max_bandwidth=0",
            "LS_requested_max_bandwidth",
            "0",
        ),
        (
            "LS_op=constrain&LS_requested_max_bandwidth=0.000",
            "LS_requested_max_bandwidth",
            "0.000",
        ),
        (
            "LS_op=reconf&LS_subId=1&LS_requested_max_frequency=0",
            "LS_requested_max_frequency",
            "0",
        ),
        (
            "LS_op=force_rebind&LS_polling_millis=",
            "LS_polling_millis",
            "",
        ),
        ("LS_op=destroy&LS_cause_code=--1", "LS_cause_code", "--1"),
        (
            "LS_op=destroy&LS_close_socket=TRUE",
            "LS_close_socket",
            "TRUE",
        ),
    ];
    for (line, param, value) in cases {
        let err = ws_err(&format!("control\r\nLS_reqId=r7&{line}"));
        match err.kind() {
            RequestErrorKind::InvalidValue {
                param: p, value: v, ..
            } => {
                assert_eq!((*p, v.as_str()), (param, value), "{line}");
            }
            other => panic!("{line}: {other:?}"),
        }
        assert_eq!(err.req_id(), Some("r7"));
        assert_eq!(err.code(), 65);
    }
    let err = ws_err("create_session\r\nLS_ttl_millis=forever");
    assert!(matches!(
        err.kind(),
        RequestErrorKind::InvalidValue {
            param: "LS_ttl_millis",
            ..
        }
    ));
    let err = ws_err("bind_session\r\nLS_recovery_from=%31x");
    assert_eq!(
        err.to_string(),
        "invalid value \"1x\" for LS_recovery_from (expected an unsigned integer) on line 2"
    );
    // Message numbers start from 1.
    for prog in ["0x1", "0", "00"] {
        let err = ws_err(&format!(
            "msg\r\nLS_reqId=2&LS_message=a&LS_msg_prog={prog}"
        ));
        assert!(
            matches!(
                err.kind(),
                RequestErrorKind::InvalidValue {
                    param: "LS_msg_prog",
                    ..
                }
            ),
            "{prog}"
        );
        assert_eq!(err.code(), 65);
    }
    assert!(
        parse_ws_message("msg\r\nLS_reqId=2&LS_message=a&LS_msg_prog=1").is_ok(),
        "1 is the first number"
    );
}

#[test]
fn unknown_op_and_names() {
    let err = ws_err("control\r\nLS_reqId=3&LS_op=subscribe&LS_subId=1");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::UnknownOp {
            value: "subscribe".into()
        }
    );
    assert_eq!((err.req_id(), err.code()), (Some("3"), 65));

    let err = ws_err("bogus\r\nLS_reqId=3");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::UnknownRequest {
            name: "bogus".into()
        }
    );
    assert_eq!((err.location(), err.code()), (Location::Line(1), 67));
    assert_eq!(ws_err("").kind(), &RequestErrorKind::Empty);
    assert_eq!(ws_err("\r\n\r\n").kind(), &RequestErrorKind::Empty);
    assert_eq!(ws_err("\r\ncontrol").kind(), &RequestErrorKind::Empty);
    // Names are exact.
    assert!(parse_ws_message("CONTROL\r\nLS_op=destroy").is_err());

    let err = parse_http("/lightstreamer/subscribe.txt?LS_protocol=TLCP-2.0.0", "").unwrap_err();
    assert_eq!(err.location(), Location::Path);
    let err = parse_http(
        "/lightstreamer/control.txt?LS_protocol=TLCP-9.0.0",
        "LS_op=destroy",
    )
    .unwrap_err();
    assert_eq!(
        err.kind(),
        &RequestErrorKind::UnsupportedVersion {
            value: "TLCP-9.0.0".into()
        }
    );
    assert_eq!((err.location(), err.code()), (Location::Query, 65));
}

#[test]
fn malformed_lines() {
    let err = ws_err("control\r\nLS_reqId=4&LS_op=destroy&garbage");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::MalformedParameter { offset: 25 }
    );
    assert_eq!((err.req_id(), err.code()), (Some("4"), 67));

    let err = ws_err("control\r\nLS_reqId=4&LS_op=destroy&LS_OP=add");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::DuplicateParameter { param: "LS_op" }
    );
    let err = ws_err(
        "control\r\nLS_op=reconf&LS_subId=1&LS_max_frequency=1&LS_requested_max_frequency=2",
    );
    assert_eq!(
        err.kind(),
        &RequestErrorKind::DuplicateParameter {
            param: "LS_requested_max_frequency"
        }
    );

    let err =
        ws_err("control\r\nLS_reqId=5&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=a%2&LS_schema=s");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::BadEscape {
            param: "LS_group",
            offset: 1
        }
    );
    assert_eq!((err.req_id(), err.code()), (Some("5"), 67));
    let err = ws_err("msg\r\nLS_reqId=6&LS_message=%C3");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::InvalidUtf8 {
            param: "LS_message"
        }
    );
    // A request id that cannot be decoded is not reported.
    let err = ws_err("control\r\nLS_reqId=%ZZ&LS_op=destroy");
    assert_eq!(err.req_id(), None);
    assert_eq!(
        err.kind(),
        &RequestErrorKind::BadEscape {
            param: "LS_reqId",
            offset: 0
        }
    );

    // Lines a request does not take.
    let err = ws_err("bind_session\r\nLS_session=S1\r\nLS_session=S2");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::UnexpectedLine {
            name: "bind_session"
        }
    );
    assert_eq!(err.location(), Location::Line(3));
    assert!(parse_ws_message("wsok\r\nLS_session=S1").is_err());
    // ...and lines they tolerate: empty parameters, foreign and unknown parameters.
    assert_eq!(
        parse_ws_message("wsok\r\n\r\n").expect("ok"),
        [Request::Wsok]
    );
    assert_eq!(
        one_ws("control\r\n&LS_reqId=1&&LS_op=destroy&LS_future=1&x=y&"),
        Request::Control(Control::new("1", ControlOp::destroy()))
    );
    // A combo line that is not a control.
    let err = ws_err("create_session\r\nLS_cid=x\r\nLS_message=hi");
    assert_eq!(
        err.kind(),
        &RequestErrorKind::MissingParameter { param: "LS_op" }
    );
    assert_eq!(err.location(), Location::Line(3));
}

#[test]
fn long_values_are_cut_in_errors() {
    let long = "9".repeat(500);
    let err = ws_err(&format!("control\r\nLS_op=delete&LS_subId={long}"));
    assert!(err.to_string().len() < 200, "{err}");
}

#[test]
fn batches_report_each_line() {
    let parsed = parse_ws_message_each(
        "control\r\nLS_reqId=1&LS_op=destroy\r\nLS_reqId=2&LS_op=nope\r\nLS_reqId=3&LS_op=delete&LS_subId=1",
    )
    .expect("the message is fine as a whole");
    assert_eq!(parsed.name, "control");
    assert_eq!(parsed.requests.len(), 3);
    assert!(parsed.requests[0].is_ok());
    let err = parsed.requests[1].as_ref().unwrap_err();
    assert_eq!(
        (err.req_id(), err.location()),
        (Some("2"), Location::Line(3))
    );
    assert!(parsed.requests[2].is_ok());
    // The strict form fails on the first bad request.
    assert_eq!(
        ws_err("control\r\nLS_reqId=1&LS_op=destroy\r\nLS_reqId=2&LS_op=nope").req_id(),
        Some("2")
    );

    let parsed = parse_http_each(
        "/lightstreamer/msg.txt?LS_protocol=TLCP-2.5.0&LS_session=S1",
        "LS_reqId=1&LS_message=a\nLS_reqId=2\nLS_reqId=3&LS_message=c&LS_session=S2\n",
    )
    .expect("fine as a whole");
    assert_eq!(parsed.version, Some(ProtocolVersion::V2_5_0));
    let sessions: Vec<_> = parsed
        .requests
        .iter()
        .map(|r| {
            r.as_ref()
                .ok()
                .and_then(|r| r.session())
                .map(|s| s.expose().to_owned())
        })
        .collect();
    assert_eq!(sessions, [Some("S1".into()), None, Some("S2".into())]);
    let err = parsed.requests[1].as_ref().unwrap_err();
    assert_eq!(
        (err.req_id(), err.location()),
        (Some("2"), Location::Line(2))
    );
}

#[test]
fn http_query_problems() {
    let err = parse_http(
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0&oops",
        "LS_op=destroy",
    )
    .unwrap_err();
    assert_eq!(err.location(), Location::Query);
    // GET form: the query string is the request, errors are located there.
    let err = parse_http(
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0&LS_reqId=8",
        "",
    )
    .unwrap_err();
    assert_eq!(
        (err.kind(), err.location(), err.req_id()),
        (
            &RequestErrorKind::MissingParameter { param: "LS_op" },
            Location::Query,
            Some("8")
        )
    );
    // A path without `.txt`, a fragment, and a full URL are all understood.
    let http = parse_http(
        "http://host:8080/lightstreamer/heartbeat?LS_session=S1#frag",
        "",
    )
    .expect("parses");
    assert_eq!(
        http.requests,
        [Request::Heartbeat(Heartbeat {
            session: Some(sid("S1")),
            req_id: None
        })]
    );
}
