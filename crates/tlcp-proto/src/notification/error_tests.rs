//! Malformed lines: what is rejected, and what the error says.

use super::tests::{b, err, p};
use super::*;
use crate::percent::PercentError;

#[test]
fn argument_counts_are_checked() {
    let wrong = |tag, expected, found| NotificationError::WrongArgCount {
        tag,
        expected,
        found,
    };
    assert_eq!(err(""), NotificationError::MissingTag);
    assert_eq!(err(",1"), NotificationError::MissingTag);
    assert_eq!(err("PROBE,"), wrong("PROBE", "0", 1));
    assert_eq!(err("WSOK,a,b"), wrong("WSOK", "0", 2));
    assert_eq!(err("U"), wrong("U", "3", 0));
    assert_eq!(err("U,1"), wrong("U", "3", 1));
    assert_eq!(err("CONOK,S1,50000,5000"), wrong("CONOK", "4", 3));
    assert_eq!(err("SUBCMD,3,1,10,1"), wrong("SUBCMD", "5", 4));
    assert_eq!(err("LOOP"), wrong("LOOP", "1", 0));
    assert_eq!(err("END,31"), wrong("END", "2", 1));
    assert_eq!(err("MSGFAIL,s,1,38"), wrong("MSGFAIL", "4", 3));
}

#[test]
fn numbers_are_strict() {
    let bad = |line| match err(line) {
        NotificationError::BadNumber { arg, .. } => (arg.tag, arg.index),
        e => panic!("{line}: {e:?}"),
    };
    assert_eq!(bad("U,x,1,a"), ("U", 1));
    assert_eq!(bad("U,1,+1,a"), ("U", 2));
    assert_eq!(bad("U,1,,a"), ("U", 2));
    assert_eq!(bad("U,-1,1,a"), ("U", 1));
    assert_eq!(bad("U,4294967296,1,a"), ("U", 1), "u32 overflow");
    assert_eq!(bad("SUBOK,1, 1,3"), ("SUBOK", 2));
    assert_eq!(
        bad("OV,3,1,18446744073709551616"),
        ("OV", 3),
        "u64 overflow"
    );
    assert_eq!(bad("LOOP,5000 "), ("LOOP", 1));
    assert_eq!(bad("CONOK,S1,50000,5e3,*"), ("CONOK", 3));
    assert_eq!(bad("CONERR,-,x"), ("CONERR", 1));
    assert_eq!(bad("CONERR,--1,x"), ("CONERR", 1));
    assert_eq!(bad("CONERR,+1,x"), ("CONERR", 1));
    assert_eq!(bad("REQERR,1,2147483648,x"), ("REQERR", 2));
    assert_eq!(bad("MSGFAIL,s,x,1,m"), ("MSGFAIL", 2));
    assert_eq!(
        p("CONERR,-2147483648,x"),
        Notification::ConErr {
            code: i32::MIN,
            message: b("x")
        }
    );
    assert_eq!(p("EOS,007,01"), Notification::Eos { sub_id: 7, item: 1 });
}

#[test]
fn values_and_escapes_are_checked() {
    let value = |line| match err(line) {
        NotificationError::BadValue { arg, text, .. } => (arg.tag, arg.index, text),
        e => panic!("{line}: {e:?}"),
    };
    assert_eq!(value("CONF,1,fast,filtered"), ("CONF", 2, "fast".into()));
    assert_eq!(value("CONF,1,1,Filtered"), ("CONF", 3, "Filtered".into()));
    assert_eq!(value("CONS,-1"), ("CONS", 1, "-1".into()));
    assert_eq!(value("CONS,1e3"), ("CONS", 1, "1e3".into()));
    assert_eq!(
        value(&format!("CONS,{}", "9".repeat(400))).0,
        "CONS",
        "infinite decimal"
    );
    assert_eq!(
        err("NOOP,50%"),
        NotificationError::BadEscape {
            arg: ArgRef {
                tag: "NOOP",
                index: 1,
                name: "preamble"
            },
            text: "50%".into(),
            source: PercentError::BadEscape { offset: 2 },
        }
    );
    assert!(matches!(
        err("CONOK,S%C3,1,1,*"),
        NotificationError::BadEscape {
            source: PercentError::InvalidUtf8,
            arg: ArgRef { index: 1, .. },
            ..
        }
    ));
    assert!(matches!(
        err("MSGDONE,s,1,%zz"),
        NotificationError::BadEscape {
            arg: ArgRef { index: 3, .. },
            ..
        }
    ));
}

#[test]
fn errors_truncate_long_text() {
    let line = format!("SYNC,{}", "x".repeat(10_000));
    let e = err(&line);
    let NotificationError::BadNumber { text, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(text.chars().count() <= 49 && text.ends_with('…'));
    assert!(e.to_string().len() < 200, "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "SYNC argument 1 <seconds-since-initial-header>: expected an unsigned 64-bit integer, found \"{}…\"",
            "x".repeat(48)
        )
    );
}

#[test]
fn bytes_are_checked_for_utf8_once() {
    assert_eq!(
        Notification::parse_bytes(b"U,1,1,a|b"),
        Ok(Notification::Update {
            sub_id: 1,
            item: 1,
            values: "a|b"
        })
    );
    assert_eq!(
        Notification::parse_bytes(b"U,1,1,\xC3"),
        Err(NotificationError::InvalidUtf8 { valid_up_to: 6 })
    );
    assert_eq!(
        Notification::parse_bytes("CLIENTIP,é".as_bytes()),
        Ok(Notification::ClientIp { ip: b("é") })
    );
}
