//! Every request example of the TLCP 2.0.0 specification, parsed.
//!
//! Lines the document breaks for the page width are joined back here, as the wire carries
//! them; each such place says so. In chapter 6 the placeholder `<session-ID>` is replaced
//! by the session id the example's own `CONOK` gave.

use super::*;

const S_CH3: &str = "Sd9fce58fb5dbbebfT2255126";
const S_CH6: &str = "Se939a67a9be2d336T3823582";

fn spec_sub(sub_id: u32, group: &str) -> Subscribe {
    Subscribe::new(sub_id, Mode::Merge, group, "last_price").with_data_adapter("QUOTE_ADAPTER")
}

fn control(session: Option<&str>, req_id: &str, op: ControlOp) -> Request {
    Request::Control(Control {
        session: session.map(sid),
        req_id: Some(req_id.into()),
        op,
        cause: None,
    })
}

// ----- Chapter 3 -----

#[test]
fn session_creation() {
    // Broken in the document after "LS_cid=mgQkwtwdysogQz2BJ4Ji".
    let line = "LS_user=user&LS_password=password&LS_adapter_set=DEMO\
                &LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg";
    let expected = Request::CreateSession(
        CreateSession::new()
            .with_credentials("user", Secret::new("password"))
            .with_adapter_set("DEMO"),
    );
    let http = parse_http(
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0",
        line,
    )
    .expect("parses");
    assert_eq!(http.name, "create_session");
    assert_eq!(http.version, Some(ProtocolVersion::V2_0_0));
    assert_eq!(http.requests, std::slice::from_ref(&expected));
    assert_eq!(one_ws(&format!("create_session\r\n{line}")), expected);
}

#[test]
fn session_binding() {
    let expected = Request::BindSession(BindSession::new(sid("S73d162c183916f0dT2729905")));
    assert_eq!(
        one_http(
            "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.0.0",
            "LS_session=S73d162c183916f0dT2729905"
        ),
        expected
    );
    // The document's WS example is misprinted with the name `create_session`; as printed
    // it is a creation (LS_session means nothing there and is ignored, and it has no
    // LS_cid); with the right name it is the binding.
    let misprint = one_ws("create_session\r\nLS_session=S73d162c183916f0dT2729905");
    assert_eq!(
        misprint,
        Request::CreateSession(CreateSession {
            cid: None,
            ..CreateSession::new()
        })
    );
    assert_eq!(
        one_ws("bind_session\r\nLS_session=S73d162c183916f0dT2729905"),
        expected
    );
}

#[test]
fn subscription() {
    // Both broken in the document (after "LS_" and after "QUO").
    let http = parse_http(
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0",
        "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=1&LS_op=add&LS_subId=1&LS_group=item1\
         &LS_schema=last_price&LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE",
    )
    .expect("parses");
    assert_eq!(
        http.requests,
        [control(Some(S_CH3), "1", spec_sub(1, "item1").into())]
    );
    assert_eq!(
        one_ws(
            "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_group=item1&LS_schema=last_price\
             &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE"
        ),
        control(None, "1", spec_sub(1, "item1").into())
    );
}

#[test]
fn multiple_subscriptions() {
    let expected = |session: Option<&str>| {
        vec![
            control(session, "1", spec_sub(1, "item1").into()),
            control(session, "2", spec_sub(2, "item2").into()),
        ]
    };
    // The document's HTTP example lacks the `&` between `LS_reqId=1` and `LS_op` (and
    // between `LS_reqId=2` and `LS_op`); the wire carries it. Lines are also broken after
    // "QUOT".
    let body = "LS_reqId=1&LS_op=add&LS_subId=1&LS_group=item1&LS_schema=last_price\
                &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE\r\n\
                LS_reqId=2&LS_op=add&LS_subId=2&LS_group=item2&LS_schema=last_price\
                &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE";
    let path =
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0&LS_session=Sd9fce58fb5dbbebfT2255126";
    assert_eq!(
        parse_http(path, body).expect("parses").requests,
        expected(Some(S_CH3))
    );
    assert_eq!(
        parse_ws_message(&format!("control\r\n{body}")).expect("parses"),
        expected(None)
    );

    // As printed, `LS_reqId` swallows the rest of the pair: the request id is
    // "1LS_op=add" and LS_op is missing, a malformed request the server answers with
    // REQERR,<that id>,67,...
    let typo = "LS_reqId=1LS_op=add&LS_subId=1&LS_group=item1&LS_schema=last_price\
                &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE";
    let err = parse_http(path, typo).unwrap_err();
    assert_eq!(
        err.kind(),
        &RequestErrorKind::MissingParameter { param: "LS_op" }
    );
    assert_eq!(err.req_id(), Some("1LS_op=add"));
    assert_eq!(err.location(), Location::Line(1));
    assert_eq!(err.code(), 67);
}

#[test]
fn unsubscription() {
    let expected = |s| control(s, "2", ControlOp::delete(1));
    assert_eq!(
        one_http(
            "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0",
            "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=2&LS_op=delete&LS_subId=1"
        ),
        expected(Some(S_CH3))
    );
    assert_eq!(
        one_ws("control\r\nLS_reqId=2&LS_op=delete&LS_subId=1"),
        expected(None)
    );
}

#[test]
fn reconfiguration() {
    let expected = |s| {
        control(
            s,
            "3",
            ControlOp::Reconf {
                sub_id: 1,
                requested_max_frequency: Some(MaxFrequency::PerSecond(2.0)),
            },
        )
    };
    // Broken in the document after "LS_requested_ma".
    assert_eq!(
        one_http(
            "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0",
            "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=3&LS_op=reconf&LS_subId=1\
             &LS_requested_max_frequency=2.0"
        ),
        expected(Some(S_CH3))
    );
    // The WS example writes LS_max_frequency: accepted as LS_requested_max_frequency.
    assert_eq!(
        one_ws("control\r\nLS_reqId=3&LS_op=reconf&LS_subId=1&LS_max_frequency=2.0"),
        expected(None)
    );
}

#[test]
fn constrain() {
    let expected = |s| {
        control(
            s,
            "4",
            ControlOp::Constrain {
                requested_max_bandwidth: Some(Bandwidth::Kbps(50.0)),
            },
        )
    };
    // Broken in the document after "LS_requested_max_bandwi".
    assert_eq!(
        one_http(
            "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0",
            "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=4&LS_op=constrain\
             &LS_requested_max_bandwidth=50.0"
        ),
        expected(Some(S_CH3))
    );
    assert_eq!(
        one_ws("control\r\nLS_reqId=4&LS_op=constrain&LS_requested_max_bandwidth=50.0"),
        expected(None)
    );
}

#[test]
fn force_rebind_and_destroy() {
    let rebind = ControlOp::ForceRebind {
        polling_millis: None,
        close_socket: None,
    };
    assert_eq!(
        one_http(
            "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0",
            "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=5&LS_op=force_rebind"
        ),
        control(Some(S_CH3), "5", rebind.clone())
    );
    assert_eq!(
        one_ws("control\r\nLS_reqId=5&LS_op=force_rebind"),
        control(None, "5", rebind)
    );
    assert_eq!(
        one_http(
            "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0",
            "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=6&LS_op=destroy"
        ),
        control(Some(S_CH3), "6", ControlOp::destroy())
    );
    assert_eq!(
        one_ws("control\r\nLS_reqId=6&LS_op=destroy"),
        control(None, "6", ControlOp::destroy())
    );
}

#[test]
fn message() {
    let expected = |s: Option<&str>| {
        let mut m = Message::new("6", "Hello").in_sequence("CHAT", 1);
        m.session = s.map(sid);
        Request::Message(m)
    };
    // Broken in the document after "LS_messa".
    let http = parse_http(
        "/lightstreamer/msg.txt?LS_protocol=TLCP-2.0.0",
        "LS_session=Sd9fce58fb5dbbebfT2255126&LS_reqId=6&LS_sequence=CHAT&LS_msg_prog=1\
         &LS_message=Hello",
    )
    .expect("parses");
    assert_eq!(http.name, "msg");
    assert_eq!(http.requests, [expected(Some(S_CH3))]);
    assert_eq!(
        one_ws("msg\r\nLS_reqId=6&LS_sequence=CHAT&LS_msg_prog=1&LS_message=Hello"),
        expected(None)
    );
}

// ----- Chapter 5 -----

fn combo_create(controls: Vec<ControlOp>) -> Request {
    let mut c = CreateSession::new().with_adapter_set("DEMO");
    c.user = Some(String::new());
    c.controls = controls;
    Request::CreateSession(c)
}

#[test]
fn creation_and_control_combo() {
    // Broken in the document after "LS_cid=mgQkwtwdysogQz2BJ4Ji" and after "QUOT".
    let line = "LS_user=&LS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_op=add\
                &LS_subId=1&LS_group=item1&LS_schema=last_price&LS_data_adapter=QUOTE_ADAPTER\
                &LS_mode=MERGE";
    let expected = combo_create(vec![spec_sub(1, "item1").into()]);
    assert_eq!(
        one_http(
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0",
            line
        ),
        expected
    );
    assert_eq!(one_ws(&format!("create_session\r\n{line}")), expected);
}

#[test]
fn creation_and_multiple_control_combo() {
    // Each control line is broken in the document before "LS_mode". The three controls all
    // use LS_subId=1, as printed (a server would refuse the duplicates, not the parser).
    let body = "LS_user=&LS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg\r\n\
                LS_op=add&LS_subId=1&LS_group=item1&LS_schema=last_price\
                &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE\r\n\
                LS_op=add&LS_subId=1&LS_group=item2&LS_schema=last_price\
                &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE\r\n\
                LS_op=add&LS_subId=1&LS_group=item3&LS_schema=last_price\
                &LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE";
    let expected = combo_create(vec![
        spec_sub(1, "item1").into(),
        spec_sub(1, "item2").into(),
        spec_sub(1, "item3").into(),
    ]);
    assert_eq!(
        one_http(
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0",
            body
        ),
        expected
    );
    assert_eq!(one_ws(&format!("create_session\r\n{body}")), expected);
    // The same with LF line ends and a trailing line end.
    let lf = format!("{}\n", body.replace("\r\n", "\n"));
    assert_eq!(
        one_http(
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0",
            &lf
        ),
        expected
    );
}

#[test]
fn http_get() {
    // Both broken in the document after "LS_protocol=TLCP-" (and the second again after
    // "LS_cid=mgQkwtwdysogQz2BJ4Ji" and "&LS").
    let http = parse_http(
        "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0&LS_user=&LS_adapter_set=DEMO\
         &LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg",
        "",
    )
    .expect("parses");
    assert_eq!(http.version, Some(ProtocolVersion::V2_0_0));
    assert_eq!(http.requests, [combo_create(vec![])]);
    assert_eq!(
        one_http(
            "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0&LS_user=&LS_adapter_set=DEMO\
             &LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_op=add&LS_subId=1&LS_group=item2\
             &LS_schema=last_price&LS_data_adapter=QUOTE_ADAPTER&LS_mode=MERGE",
            ""
        ),
        combo_create(vec![spec_sub(1, "item2").into()])
    );
}

// ----- Chapter 6 (cURL) -----

fn ch6_create(adapter_set: &str) -> CreateSession {
    CreateSession::new().with_adapter_set(adapter_set)
}

#[test]
fn curl_session_creations() {
    // `curl -X POST -d "LS_adapter_set=DEMO" .../create_session.txt`: no LS_protocol, and
    // no LS_cid either.
    let http =
        parse_http("/lightstreamer/create_session.txt", "LS_adapter_set=DEMO").expect("parses");
    assert_eq!(http.version, None);
    let mut expected = ch6_create("DEMO");
    expected.cid = None;
    assert_eq!(http.requests, [Request::CreateSession(expected)]);

    let path = "/lightstreamer/create_session.txt?LS_protocol=TLCP-2.0.0";
    assert_eq!(
        one_http(
            path,
            "LS_adapter_set=WELCOME&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg"
        ),
        Request::CreateSession(ch6_create("WELCOME"))
    );
    // Broken in the document after "LS_cid=mgQkwtwdysogQz2BJ4Ji".
    let mut c = ch6_create("WELCOME");
    c.content_length = Some(10000);
    assert_eq!(
        one_http(
            path,
            "LS_adapter_set=WELCOME&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_content_length=10000"
        ),
        Request::CreateSession(c)
    );
    let mut c = ch6_create("WELCOME");
    c.send_sync = Some(false);
    assert_eq!(
        one_http(
            path,
            "LS_adapter_set=WELCOME&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_send_sync=false"
        ),
        Request::CreateSession(c)
    );
}

#[test]
fn curl_controls() {
    // These examples spell the request id parameter `LS_reqID`: names are matched without
    // regard to case. Lines are broken in the document after "time".
    let path = "/lightstreamer/control.txt?LS_protocol=TLCP-2.0.0";
    for (n, group) in [(1, "item1"), (2, "item2")] {
        let body = format!(
            "LS_op=add&LS_subId={n}&LS_data_adapter=STOCKS&LS_group={group}\
             &LS_schema=stock_name%20time%20last_price&LS_mode=MERGE\
             &LS_session={S_CH6}&LS_reqID={n}"
        );
        let sub = Subscribe::new(n, Mode::Merge, group, "stock_name time last_price")
            .with_data_adapter("STOCKS");
        assert_eq!(
            one_http(path, &body),
            control(Some(S_CH6), &n.to_string(), sub.into())
        );
    }
    assert_eq!(
        one_http(
            path,
            &format!("LS_op=delete&LS_subId=1&LS_session={S_CH6}&LS_reqID=2")
        ),
        control(Some(S_CH6), "2", ControlOp::delete(1))
    );
    assert_eq!(
        one_http(
            path,
            &format!("LS_op=destroy&LS_session={S_CH6}&LS_reqID=3")
        ),
        control(Some(S_CH6), "3", ControlOp::destroy())
    );
    // Broken in the document after "timestamp".
    let chat = Subscribe::new(1, Mode::Distinct, "chat_room", "timestamp message")
        .with_data_adapter("CHAT");
    assert_eq!(
        one_http(
            path,
            &format!(
                "LS_op=add&LS_subId=1&LS_data_adapter=CHAT&LS_group=chat_room\
                 &LS_schema=timestamp%20message&LS_mode=DISTINCT&LS_session={S_CH6}&LS_reqID=1"
            )
        ),
        control(Some(S_CH6), "1", chat.into())
    );
}

#[test]
fn curl_bind_and_message() {
    assert_eq!(
        one_http(
            "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.0.0",
            &format!("LS_session={S_CH6}")
        ),
        Request::BindSession(BindSession::new(sid(S_CH6)))
    );
    // Broken in the document after "CHAT|" (and the URL after "msg.txt?"); the `|` is sent
    // unencoded, which a server accepts.
    let mut m = Message::new("2", "CHAT|Ciao").with_session(sid(S_CH6));
    m.msg_prog = Some(1);
    assert_eq!(
        one_http(
            "/lightstreamer/msg.txt?LS_protocol=TLCP-2.0.0",
            &format!("LS_session={S_CH6}&LS_message=CHAT|Ciao&LS_msg_prog=1&LS_reqId=2")
        ),
        Request::Message(m)
    );
}
