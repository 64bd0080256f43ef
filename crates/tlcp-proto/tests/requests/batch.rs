//! Batches: one WS message or HTTP body for several requests, within a byte limit.

use super::*;
use tlcp_proto::request::{BatchError, Pushed, RequestBatch};

fn del(req_id: &str, sub_id: u32, session: Option<&str>) -> Request {
    let mut c = Control::new(req_id, ControlOp::delete(sub_id));
    c.session = session.map(sid);
    Request::Control(c)
}

#[test]
fn ws_batch_of_controls() {
    let mut batch = RequestBatch::ws(1000);
    assert!(batch.is_empty());
    assert_eq!(batch.payload(), "");
    for i in 1..=3 {
        assert_eq!(batch.push(&del(&i.to_string(), i, None)), Ok(Pushed::Fits));
    }
    assert_eq!(batch.len(), 3);
    assert_eq!(batch.name(), Some("control"));
    assert_eq!(
        batch.payload(),
        "control\r\nLS_reqId=1&LS_op=delete&LS_subId=1\r\nLS_reqId=2&LS_op=delete&LS_subId=2\
         \r\nLS_reqId=3&LS_op=delete&LS_subId=3"
    );
    assert_eq!(batch.encoded_len(), batch.payload().len());
    assert_eq!(
        parse_ws_message(batch.payload()).expect("parses"),
        [del("1", 1, None), del("2", 2, None), del("3", 3, None)]
    );
    let mut path = String::new();
    assert!(!batch.write_http_path(&mut path), "a WS batch has no path");

    // Messages do not join controls, and nothing joins a creation.
    let msg = Request::Message(Message::new("9", "hi"));
    assert_eq!(
        batch.push(&msg),
        Err(BatchError::MixedNames {
            batch: "control",
            request: "msg"
        })
    );
    assert_eq!(
        batch.push(&Request::Wsok),
        Err(BatchError::NotBatchable { name: "wsok" })
    );
    let payload = batch.take_payload();
    assert!(payload.starts_with("control\r\n"));
    assert!(batch.is_empty());
    assert_eq!(
        batch.push(&Request::from(CreateSession::new())),
        Ok(Pushed::Fits)
    );
    assert_eq!(
        batch.push(&Request::from(CreateSession::new())),
        Err(BatchError::NotBatchable {
            name: "create_session"
        })
    );
    batch.clear();
    assert_eq!(
        batch.push(&Request::from(Heartbeat::default())),
        Ok(Pushed::Fits)
    );
    assert_eq!(batch.payload(), "heartbeat\r\n\r\n");
}

#[test]
fn the_limit_is_on_the_bytes_sent() {
    // "control\r\n" + 34 bytes per line, "\r\n" between lines.
    let one = "control\r\nLS_reqId=1&LS_op=delete&LS_subId=1".len();
    assert_eq!(one, 43);
    let mut batch = RequestBatch::ws(43 + 2 + 34);
    assert_eq!(batch.push(&del("1", 1, None)), Ok(Pushed::Fits));
    assert_eq!(batch.push(&del("2", 2, None)), Ok(Pushed::Fits));
    assert_eq!(batch.encoded_len(), batch.limit());
    let before = batch.payload().to_owned();
    assert_eq!(
        batch.push(&del("3", 3, None)),
        Err(BatchError::TooLarge {
            size: 43 + 2 * 36,
            limit: 79
        })
    );
    assert_eq!(
        batch.payload(),
        before,
        "a refused push leaves the batch as it was"
    );
    assert_eq!(batch.len(), 2);

    // The first push always goes in, and says when it alone is too large.
    let mut small = RequestBatch::ws(10);
    assert_eq!(
        small.push(&del("1", 1, None)),
        Ok(Pushed::Oversized {
            size: 43,
            limit: 10
        })
    );
    assert_eq!(small.len(), 1);
    assert!(matches!(
        small.push(&del("2", 2, None)),
        Err(BatchError::TooLarge { .. })
    ));
}

#[test]
fn http_batch_shares_the_session_in_the_query_string() {
    let mut batch = RequestBatch::http(ProtocolVersion::V2_4_0, 1000);
    let mut path = String::new();
    assert!(!batch.write_http_path(&mut path), "empty batch");
    batch.push(&del("1", 1, Some("S1"))).expect("fits");
    batch.push(&del("2", 2, Some("S1"))).expect("fits");
    batch.push(&del("3", 3, Some("S2"))).expect("fits");
    assert_eq!(
        batch.push(&del("4", 4, None)),
        Err(BatchError::MissingSession)
    );
    assert!(batch.write_http_path(&mut path));
    assert_eq!(
        path,
        "/lightstreamer/control.txt?LS_protocol=TLCP-2.4.0&LS_session=S1"
    );
    assert_eq!(batch.default_session(), Some(&sid("S1")));
    assert_eq!(
        batch.payload(),
        "LS_reqId=1&LS_op=delete&LS_subId=1\r\nLS_reqId=2&LS_op=delete&LS_subId=2\r\n\
         LS_session=S2&LS_reqId=3&LS_op=delete&LS_subId=3"
    );
    let http = parse_http(&path, batch.payload()).expect("parses");
    assert_eq!(http.version, Some(ProtocolVersion::V2_4_0));
    assert_eq!(
        http.requests,
        [
            del("1", 1, Some("S1")),
            del("2", 2, Some("S1")),
            del("3", 3, Some("S2"))
        ]
    );

    // Without a session on the first request, there is no default.
    let mut batch = RequestBatch::http(ProtocolVersion::V2_5_0, 1000);
    batch.push(&del("1", 1, None)).expect("fits");
    batch.push(&del("2", 2, Some("S2"))).expect("fits");
    let mut path = String::new();
    batch.write_http_path(&mut path);
    assert_eq!(path, "/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0");
    assert_eq!(
        parse_http(&path, batch.payload()).expect("parses").requests,
        [del("1", 1, None), del("2", 2, Some("S2"))]
    );

    // A binding keeps its session in the body, as the official clients do.
    let mut batch = RequestBatch::http(ProtocolVersion::V2_5_0, 1000);
    batch
        .push(&Request::from(BindSession::new(sid("S1"))))
        .expect("fits");
    let mut path = String::new();
    batch.write_http_path(&mut path);
    assert_eq!(
        path,
        "/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0"
    );
    assert_eq!(batch.payload(), "LS_session=S1");
}

#[test]
fn debug_hides_the_payload() {
    let mut batch = RequestBatch::ws(1000);
    let create = CreateSession::new().with_credentials("u", Secret::new("hunter2-secret"));
    batch.push(&Request::from(create)).expect("first push");
    let dbg = format!("{batch:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    let mut batch = RequestBatch::http(ProtocolVersion::V2_5_0, 1000);
    batch
        .push(&del("1", 1, Some("Sd9fce58fb5dbbebfT2255126")))
        .expect("first push");
    let dbg = format!("{batch:?}");
    assert!(!dbg.contains("T2255126"), "{dbg}");
}
