//! The specification's own examples, and the edges of the grammar.

use std::borrow::Cow;

use super::*;

pub(super) fn p(line: &str) -> Notification<'_> {
    match Notification::parse(line) {
        Ok(n) => n,
        Err(e) => panic!("{line:?}: {e}"),
    }
}

pub(super) fn err(line: &str) -> NotificationError {
    match Notification::parse(line) {
        Ok(n) => panic!("{line:?} parsed as {n:?}"),
        Err(e) => e,
    }
}

pub(super) fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Lines that the encoder writes back identically.
const CANONICAL: &[&str] = &[
    "CONOK,S73d162c183916f0dT2729905,50000,5000,*",
    "CONOK,Se939a67a9be2d336T3823582,50000,5000,push.example.com:8443",
    "CONERR,2,Requested Adapter Set not available",
    "CONERR,-7,Refused by the Metadata Adapter",
    "END,8,Session count limit reached",
    "END,31,Destroy invoked by client",
    "LOOP,0",
    "LOOP,5000",
    "PROG,12",
    "WSOK",
    "PROBE",
    "NOOP,sending placeholder data",
    "SYNC,120",
    "CONS,unlimited",
    "CONS,unmanaged",
    "CONS,50",
    "CONS,12.5",
    "CLIENTIP,127.0.0.1",
    "CLIENTIP,::1",
    "CLIENTIP,0:0:0:0:0:0:0:1",
    "SERVNAME,Lightstreamer HTTP Server",
    "REQOK,1",
    "REQOK",
    "REQERR,7,19,Specified subscription not found",
    "ERROR,68,Internal error during request processing",
    "SUBOK,3,1,10",
    "SUBCMD,3,1,10,1,2",
    "UNSUB,3",
    "CONF,1,unlimited,filtered",
    "CONF,2,0.5,unfiltered",
    "EOS,3,1",
    "CS,3,1",
    "OV,3,1,5",
    "U,3,1,20:00:33|3.04|0.0|2.41|3.67|3.03|3.04|#|#|$",
    "U,3,1,20:00:54|3.07|0.98|||3.06|3.07|||Suspended",
    "U,3,1,20:04:16|3.02|-0.65|||3.01|3.02|||$",
    "U,3,1,20:04:40|^4|3.02|3.03|||",
    "U,3,1,20:06:10|3.05|0.32|^7",
    "U,3,1,20:06:49|3.08|1.31|||3.08|3.09|||",
    "U,1,1,Anduct|11:02:33|3.11",
    "U,1,1,|11:03:39|",
    "U,2,1,||14.66",
    "MSGDONE,Orders_Sequence,3",
    "MSGDONE,*,1",
    "MSGDONE,seq,2,resp%2Cwith%2Ccommas",
    "MSGDONE,*,1,",
    "MSGFAIL,Orders_Sequence,4,38,The specified progressive number has been skipped by timeout",
    "MPNREG,devid,adapter",
    "FUTURE",
];

#[test]
fn session_lines() {
    assert_eq!(
        p("CONOK,S73d162c183916f0dT2729905,50000,5000,*"),
        Notification::ConOk {
            session_id: b("S73d162c183916f0dT2729905"),
            request_limit: 50000,
            keepalive_ms: 5000,
            control_link: None,
        }
    );
    let Notification::ConOk { control_link, .. } = p("CONOK,S1,1,2,push.example.com:8443") else {
        panic!()
    };
    assert_eq!(control_link, Some(b("push.example.com:8443")));
    // A literal `*` control link can only come encoded.
    let Notification::ConOk { control_link, .. } = p("CONOK,S1,1,2,%2A") else {
        panic!()
    };
    assert_eq!(control_link.as_deref(), Some("*"));
    assert_eq!(
        p("CONERR,2,Requested Adapter Set not available"),
        Notification::ConErr {
            code: 2,
            message: b("Requested Adapter Set not available")
        }
    );
    assert_eq!(
        p("END,31,Destroy invoked by client"),
        Notification::End {
            code: 31,
            message: b("Destroy invoked by client")
        }
    );
    assert_eq!(
        p("END,8,Session count limit reached"),
        Notification::End {
            code: 8,
            message: b("Session count limit reached")
        }
    );
    assert_eq!(
        p("END,0,custom"),
        Notification::End {
            code: 0,
            message: b("custom")
        }
    );
    assert_eq!(
        p("LOOP,0"),
        Notification::Loop {
            expected_delay_ms: 0
        }
    );
    assert_eq!(
        p("LOOP,5000"),
        Notification::Loop {
            expected_delay_ms: 5000
        }
    );
    assert_eq!(p("PROG,12"), Notification::Prog { progressive: 12 });
    assert_eq!(p("WSOK"), Notification::WsOk);
    assert_eq!(p("PROBE"), Notification::Probe);
    assert_eq!(
        p("NOOP,sending placeholder data"),
        Notification::Noop {
            preamble: b("sending placeholder data")
        }
    );
    assert_eq!(p("SYNC,120"), Notification::Sync { seconds: 120 });
    assert_eq!(
        p("CONS,unlimited"),
        Notification::Cons {
            bandwidth: BandwidthLimit::Unlimited
        }
    );
    assert_eq!(
        p("CONS,unmanaged"),
        Notification::Cons {
            bandwidth: BandwidthLimit::Unmanaged
        }
    );
    assert_eq!(
        p("CONS,50"),
        Notification::Cons {
            bandwidth: BandwidthLimit::Kbps(50.0)
        }
    );
    assert_eq!(
        p("CONS,12.5"),
        Notification::Cons {
            bandwidth: BandwidthLimit::Kbps(12.5)
        }
    );
    assert_eq!(p("CLIENTIP,::1"), Notification::ClientIp { ip: b("::1") });
    assert_eq!(
        p("CLIENTIP,127.0.0.1"),
        Notification::ClientIp { ip: b("127.0.0.1") }
    );
    assert_eq!(
        p("SERVNAME,Lightstreamer HTTP Server"),
        Notification::ServName {
            name: b("Lightstreamer HTTP Server")
        }
    );
}

#[test]
fn control_responses() {
    assert_eq!(
        p("REQOK,1"),
        Notification::ReqOk {
            request_id: Some(b("1"))
        }
    );
    assert_eq!(p("REQOK"), Notification::ReqOk { request_id: None });
    assert_eq!(
        p("REQERR,7,19,Specified subscription not found"),
        Notification::ReqErr {
            request_id: b("7"),
            code: 19,
            message: b("Specified subscription not found")
        }
    );
    // The spec prints this example without the request id: an erratum, rejected.
    assert_eq!(
        err("REQERR,19,Specified subscription not found"),
        NotificationError::WrongArgCount {
            tag: "REQERR",
            expected: "3",
            found: 2
        }
    );
    assert_eq!(
        p("ERROR,68,Internal error during request processing"),
        Notification::Error {
            code: 68,
            message: b("Internal error during request processing")
        }
    );
}

#[test]
fn subscription_lines() {
    assert_eq!(
        p("SUBOK,3,1,10"),
        Notification::SubOk {
            sub_id: 3,
            num_items: 1,
            num_fields: 10
        }
    );
    assert_eq!(
        p("SUBCMD,3,1,10,1,2"),
        Notification::SubCmd {
            sub_id: 3,
            num_items: 1,
            num_fields: 10,
            key_field: 1,
            command_field: 2
        }
    );
    assert_eq!(p("UNSUB,3"), Notification::Unsub { sub_id: 3 });
    assert_eq!(
        p("CONF,3,3.0,filtered"),
        Notification::Conf {
            sub_id: 3,
            max_frequency: RealMaxFrequency::PerSecond(3.0),
            filtered: true
        }
    );
    assert_eq!(
        p("CONF,1,unlimited,unfiltered"),
        Notification::Conf {
            sub_id: 1,
            max_frequency: RealMaxFrequency::Unlimited,
            filtered: false
        }
    );
    assert_eq!(p("EOS,3,1"), Notification::Eos { sub_id: 3, item: 1 });
    assert_eq!(p("CS,3,1"), Notification::Cs { sub_id: 3, item: 1 });
    assert_eq!(
        p("OV,3,1,5"),
        Notification::Ov {
            sub_id: 3,
            item: 1,
            lost: 5
        }
    );
}

#[test]
fn updates_keep_their_values_raw() {
    let cases = [
        (
            "U,3,1,20:00:33|3.04|0.0|2.41|3.67|3.03|3.04|#|#|$",
            3,
            1,
            "20:00:33|3.04|0.0|2.41|3.67|3.03|3.04|#|#|$",
        ),
        (
            "U,3,1,20:04:40|^4|3.02|3.03|||",
            3,
            1,
            "20:04:40|^4|3.02|3.03|||",
        ),
        ("U,3,1,20:06:10|3.05|0.32|^7", 3, 1, "20:06:10|3.05|0.32|^7"),
        ("U,1,1,Anduct|11:02:33|3.11", 1, 1, "Anduct|11:02:33|3.11"),
        ("U,1,1,|11:03:39|", 1, 1, "|11:03:39|"),
        (
            "U,2,1,Ations Europe|15:55:08|14.81",
            2,
            1,
            "Ations Europe|15:55:08|14.81",
        ),
        ("U,2,1,||14.66", 2, 1, "||14.66"),
        // Commas and escapes in values are left alone for the field decoder.
        ("U,4,12,a,b|c%7Cd|%C3", 4, 12, "a,b|c%7Cd|%C3"),
        ("U,4294967295,1,", u32::MAX, 1, ""),
    ];
    for (line, sub_id, item, values) in cases {
        assert_eq!(
            p(line),
            Notification::Update {
                sub_id,
                item,
                values
            },
            "{line}"
        );
    }
    // Chapter 6 prints `U,1,1|13:07:00|Ciao`, missing the comma after the item: rejected.
    assert_eq!(
        err("U,1,1|13:07:00|Ciao"),
        NotificationError::WrongArgCount {
            tag: "U",
            expected: "3",
            found: 2
        }
    );
}

#[test]
fn message_outcomes() {
    assert_eq!(
        p("MSGDONE,Orders_Sequence,3"),
        Notification::MsgDone {
            sequence: Some(b("Orders_Sequence")),
            prog: 3,
            response: None
        }
    );
    assert_eq!(
        p("MSGDONE,*,1"),
        Notification::MsgDone {
            sequence: None,
            prog: 1,
            response: None
        }
    );
    let n = p("MSGDONE,seq,2,resp%2Cwith%2Ccommas");
    assert_eq!(
        n,
        Notification::MsgDone {
            sequence: Some(b("seq")),
            prog: 2,
            response: Some(Cow::Owned("resp,with,commas".into()))
        }
    );
    assert_eq!(
        p("MSGDONE,*,1,"),
        Notification::MsgDone {
            sequence: None,
            prog: 1,
            response: Some(b(""))
        }
    );
    // An unencoded comma in the response is kept: the last argument takes the rest.
    let Notification::MsgDone { response, .. } = p("MSGDONE,s,1,a,b") else {
        panic!()
    };
    assert_eq!(response, Some(b("a,b")));
    assert_eq!(
        p(
            "MSGFAIL,Orders_Sequence,4,38,The specified progressive number has been skipped by timeout"
        ),
        Notification::MsgFail {
            sequence: Some(b("Orders_Sequence")),
            prog: 4,
            code: 38,
            message: b("The specified progressive number has been skipped by timeout")
        }
    );
    assert_eq!(
        p("MSGFAIL,*,5,-3,denied"),
        Notification::MsgFail {
            sequence: None,
            prog: 5,
            code: -3,
            message: b("denied")
        }
    );
    assert_eq!(
        err("MSGDONE,seq"),
        NotificationError::WrongArgCount {
            tag: "MSGDONE",
            expected: "2 or 3",
            found: 1
        }
    );
    assert_eq!(
        err("MSGDONE"),
        NotificationError::WrongArgCount {
            tag: "MSGDONE",
            expected: "2 or 3",
            found: 0
        }
    );
}

#[test]
fn last_argument_takes_the_rest_of_the_line() {
    assert_eq!(
        p("CONERR,64,Unexpected error while initializing the session: refusal, mode MERGE"),
        Notification::ConErr {
            code: 64,
            message: b("Unexpected error while initializing the session: refusal, mode MERGE")
        }
    );
    assert_eq!(
        p("NOOP,a,b,,c"),
        Notification::Noop {
            preamble: b("a,b,,c")
        }
    );
    assert_eq!(
        p("SERVNAME,Acme, Inc."),
        Notification::ServName {
            name: b("Acme, Inc.")
        }
    );
    assert_eq!(
        p("REQOK,a,b"),
        Notification::ReqOk {
            request_id: Some(b("a,b"))
        }
    );
}

#[test]
fn text_is_decoded_and_borrowed_when_possible() {
    let Notification::ServName { name } = p("SERVNAME,My%20Server%2C%20Inc.%0D%0A") else {
        panic!()
    };
    assert!(matches!(name, Cow::Owned(_)));
    assert_eq!(name, "My Server, Inc.\r\n");
    let Notification::Noop { preamble } = p("NOOP,plain text") else {
        panic!()
    };
    assert!(matches!(preamble, Cow::Borrowed("plain text")));
    let Notification::ConErr { message, .. } = p("CONERR,1,caf%C3%A9 %e2%82%ac") else {
        panic!()
    };
    assert_eq!(message, "café €");
}

#[test]
fn unknown_tags_are_not_errors() {
    assert_eq!(
        p("MPNREG,devid,adapter"),
        Notification::Unknown {
            tag: "MPNREG",
            args: Some("devid,adapter")
        }
    );
    assert_eq!(
        p("FUTURE"),
        Notification::Unknown {
            tag: "FUTURE",
            args: None
        }
    );
    assert_eq!(
        p("MPNOK,1,%2C"),
        Notification::Unknown {
            tag: "MPNOK",
            args: Some("1,%2C")
        }
    );
    // Tags are case-sensitive; an almost-known tag is unknown.
    assert_eq!(
        p("probe"),
        Notification::Unknown {
            tag: "probe",
            args: None
        }
    );
    assert_eq!(
        p("UNSUBX,1"),
        Notification::Unknown {
            tag: "UNSUBX",
            args: Some("1")
        }
    );
    assert_eq!(
        p("PROBE\r"),
        Notification::Unknown {
            tag: "PROBE\r",
            args: None
        }
    );
    assert_eq!(
        p("X,"),
        Notification::Unknown {
            tag: "X",
            args: Some("")
        }
    );
}

#[test]
fn canonical_lines_encode_back_identically() {
    for line in CANONICAL {
        let n = p(line);
        let mut out = String::new();
        n.encode(&mut out);
        assert_eq!(out, format!("{line}\r\n"));
        assert!(line.starts_with(n.tag()), "{line} has tag {}", n.tag());
    }
}

#[test]
fn encoding_escapes_text_and_stars() {
    let mut out = String::new();
    Notification::ConOk {
        session_id: b("S,1"),
        request_limit: 1,
        keepalive_ms: 2,
        control_link: Some(b("*")),
    }
    .encode(&mut out);
    Notification::MsgFail {
        sequence: Some(b("*")),
        prog: 1,
        code: -2,
        message: b("50%, no\r\n"),
    }
    .encode(&mut out);
    Notification::Conf {
        sub_id: 3,
        max_frequency: RealMaxFrequency::PerSecond(3.0),
        filtered: true,
    }
    .encode(&mut out);
    Notification::Cons {
        bandwidth: BandwidthLimit::Kbps(0.25),
    }
    .encode(&mut out);
    Notification::Unknown {
        tag: "MPNDEL",
        args: Some("1,2"),
    }
    .encode(&mut out);
    encode_update(3, 1, "a|b", &mut out);
    encode_probe(&mut out);
    assert_eq!(
        out,
        "CONOK,S%2C1,1,2,%2A\r\nMSGFAIL,%2A,1,-2,50%25%2C no%0D%0A\r\nCONF,3,3,filtered\r\n\
         CONS,0.25\r\nMPNDEL,1,2\r\nU,3,1,a|b\r\nPROBE\r\n"
    );
}

#[test]
fn recovery_counts_data_notifications_only() {
    const DATA: [&str; 10] = [
        "U", "SUBOK", "SUBCMD", "UNSUB", "EOS", "CS", "OV", "CONF", "MSGDONE", "MSGFAIL",
    ];
    let mut seen = Vec::new();
    for line in CANONICAL
        .iter()
        .copied()
        .chain(["MSGFAIL,*,1,38,m", "MPNREG", "FOO,1"])
    {
        let n = p(line);
        assert_eq!(n.counts_for_recovery(), DATA.contains(&n.tag()), "{line}");
        seen.push(n.tag());
    }
    assert!(
        DATA.iter().all(|t| seen.contains(t)),
        "every data tag is exercised"
    );
}

#[test]
fn update_lines_from_a_kept_prefix_are_the_same_lines() {
    for (sub, item) in [(1, 1), (9, 10), (10, 9), (123, 4_567), (u32::MAX, u32::MAX)] {
        let mut prefix = String::new();
        encode_update_prefix(sub, item, &mut prefix);
        let (mut whole, mut with, mut kept) = (String::new(), String::new(), String::from("x"));
        encode_update(sub, item, "a|^3|$", &mut whole);
        let values = |o: &mut String| -> Result<(), ()> {
            o.push_str("a|^3|$");
            Ok(())
        };
        encode_update_with(sub, item, &mut with, values).unwrap();
        encode_update_with_prefix(&prefix, &mut kept, values).unwrap();
        assert_eq!(with, whole);
        assert_eq!(kept, format!("x{whole}"));
        // A failing value list leaves the output as it was.
        assert_eq!(
            encode_update_with_prefix(&prefix, &mut kept, |_| Err(7)),
            Err(7)
        );
        assert_eq!(kept, format!("x{whole}"));
    }
}

/// The client's shortcut for `U` lines takes the usual ones (with what `parse` gives) and
/// leaves the others to `parse`.
#[test]
fn update_parts_take_the_usual_update_lines() {
    for (line, want) in [
        (
            "U,1,1,^Tpe12345|7|01234.56||",
            Some((1, 1, "^Tpe12345|7|01234.56||")),
        ),
        ("U,123456789,42,", Some((123_456_789, 42, ""))),
        ("U,3,1,a,b", Some((3, 1, "a,b"))),
        ("U,1234567890,1,x", None), // 10 digits: the general way
        ("U,,1,x", None),
        ("U,1,x", None),
        ("U,+1,1,x", None),
        ("UNSUB,1", None),
        ("EOS,1,1", None),
    ] {
        let got = Notification::update_parts(line);
        assert_eq!(got, want, "{line:?}");
        if let Some((sub_id, item, values)) = got {
            let n = Notification::Update {
                sub_id,
                item,
                values,
            };
            assert_eq!(Notification::parse(line), Ok(n), "{line:?}");
        }
    }
}
