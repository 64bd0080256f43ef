//! Property tests of requests: every request survives every form (WS, HTTP POST, HTTP GET,
//! batches); batches keep their limit; the parsers take any input without panicking.

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use tlcp_proto::request::{
    BatchError, BindSession, Control, ControlOp, CreateSession, GetFormError, Heartbeat, Message,
    Pushed, Request, RequestBatch, SessionTtl, Subscribe, parse_http, parse_http_each,
    parse_ws_message, parse_ws_message_each,
};
use tlcp_proto::{
    Bandwidth, BufferSize, MaxFrequency, Mode, ProtocolVersion, Secret, SessionId, Snapshot,
};

/// Free text: any Unicode, control characters and separators included.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        1 => "[A-Za-z0-9_ &=%|+,\r\n]{0,12}",
    ]
    .boxed()
}

fn session() -> BoxedStrategy<SessionId> {
    text().prop_map(SessionId::new).boxed()
}

fn decimal() -> BoxedStrategy<f64> {
    prop_oneof![
        any::<u32>().prop_map(f64::from),
        0.0f64..1e6,
        (0u64..1_000_000).prop_map(|n| n as f64 / 1000.0),
    ]
    .boxed()
}

fn version() -> BoxedStrategy<ProtocolVersion> {
    proptest::sample::select(ProtocolVersion::ALL.to_vec()).boxed()
}

fn mode() -> BoxedStrategy<Mode> {
    proptest::sample::select(vec![Mode::Raw, Mode::Merge, Mode::Distinct, Mode::Command]).boxed()
}

fn bandwidth() -> BoxedStrategy<Bandwidth> {
    prop_oneof![
        Just(Bandwidth::Unlimited),
        decimal().prop_map(Bandwidth::Kbps)
    ]
    .boxed()
}

fn frequency() -> BoxedStrategy<MaxFrequency> {
    prop_oneof![
        Just(MaxFrequency::Unlimited),
        Just(MaxFrequency::Unfiltered),
        decimal().prop_map(MaxFrequency::PerSecond),
    ]
    .boxed()
}

fn subscribe() -> BoxedStrategy<Subscribe> {
    (
        (any::<u32>(), mode(), text(), text()),
        (of(text()), of(text())),
        of(prop_oneof![
            Just(BufferSize::Unlimited),
            any::<u32>().prop_map(BufferSize::Events)
        ]),
        of(frequency()),
        of(prop_oneof![
            any::<bool>().prop_map(Snapshot::Enabled),
            any::<u32>().prop_map(Snapshot::Length)
        ]),
        of(any::<bool>()),
    )
        .prop_map(
            |((id, mode, group, schema), (adapter, selector), buf, freq, snap, ack)| {
                let mut s = Subscribe::new(id, mode, group, schema);
                s.data_adapter = adapter;
                s.selector = selector;
                s.requested_buffer_size = buf;
                s.requested_max_frequency = freq;
                s.snapshot = snap;
                s.ack = ack;
                s
            },
        )
        .boxed()
}

fn op() -> BoxedStrategy<ControlOp> {
    prop_oneof![
        subscribe().prop_map(ControlOp::Add),
        (any::<u32>(), of(any::<bool>()))
            .prop_map(|(sub_id, ack)| ControlOp::Delete { sub_id, ack }),
        (any::<u32>(), of(frequency())).prop_map(|(sub_id, f)| ControlOp::Reconf {
            sub_id,
            requested_max_frequency: f
        }),
        of(bandwidth()).prop_map(|b| ControlOp::Constrain {
            requested_max_bandwidth: b
        }),
        (of(any::<u64>()), of(any::<bool>())).prop_map(|(p, c)| ControlOp::ForceRebind {
            polling_millis: p,
            close_socket: c
        }),
        (of(any::<i32>()), of(text()), of(any::<bool>())).prop_map(|(code, msg, c)| {
            ControlOp::Destroy {
                cause_code: code,
                cause_message: msg,
                close_socket: c,
            }
        }),
    ]
    .boxed()
}

fn create() -> BoxedStrategy<CreateSession> {
    (
        (of(text()), of(text()), of(text()), of(text())),
        (
            of(bandwidth()),
            of(any::<u64>()),
            of(any::<bool>()),
            of(any::<u64>()),
        ),
        (
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<bool>()),
        ),
        (
            of(prop_oneof![
                Just(SessionTtl::Unlimited),
                any::<u64>().prop_map(SessionTtl::Millis)
            ]),
            of(any::<bool>()),
            of(session()),
            of(text()),
        ),
        vec(op(), 0..3),
    )
        .prop_map(|(a, b, c, d, controls)| CreateSession {
            cid: a.0,
            user: a.1,
            password: a.2.map(Secret::new),
            adapter_set: a.3,
            requested_max_bandwidth: b.0,
            content_length: b.1,
            polling: b.2,
            polling_millis: b.3,
            idle_millis: c.0,
            keepalive_millis: c.1,
            inactivity_millis: c.2,
            send_sync: c.3,
            ttl_millis: d.0,
            reduce_head: d.1,
            old_session: d.2,
            cause: d.3,
            controls,
        })
        .boxed()
}

fn bind() -> BoxedStrategy<BindSession> {
    (
        (
            of(session()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<bool>()),
        ),
        (
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
        ),
        (of(any::<bool>()), of(any::<bool>()), of(text())),
    )
        .prop_map(|(a, b, c)| BindSession {
            session: a.0,
            recovery_from: a.1,
            content_length: a.2,
            polling: a.3,
            polling_millis: b.0,
            idle_millis: b.1,
            keepalive_millis: b.2,
            inactivity_millis: b.3,
            send_sync: c.0,
            reduce_head: c.1,
            cause: c.2,
        })
        .boxed()
}

fn control(session: impl Strategy<Value = Option<SessionId>> + 'static) -> BoxedStrategy<Control> {
    (session, of(text()), op(), of(text()))
        .prop_map(|(session, req_id, op, cause)| Control {
            session,
            req_id,
            op,
            cause,
        })
        .boxed()
}

fn message(session: impl Strategy<Value = Option<SessionId>> + 'static) -> BoxedStrategy<Message> {
    (
        (session, of(text()), text(), of(text())),
        (
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<bool>()),
            of(any::<bool>()),
        ),
    )
        .prop_map(|(a, b)| Message {
            session: a.0,
            req_id: a.1,
            message: a.2,
            sequence: a.3,
            msg_prog: b.0,
            max_wait: b.1,
            ack: b.2,
            outcome: b.3,
        })
        .boxed()
}

fn request() -> BoxedStrategy<Request> {
    prop_oneof![
        1 => Just(Request::Wsok),
        3 => create().prop_map(Request::CreateSession),
        2 => bind().prop_map(Request::BindSession),
        4 => control(of(session())).prop_map(Request::Control),
        3 => message(of(session())).prop_map(Request::Message),
        1 => (of(session()), of(text()))
            .prop_map(|(session, req_id)| Request::Heartbeat(Heartbeat { session, req_id })),
    ]
    .boxed()
}

/// Requests that mostly batch together, with sessions from a small set.
fn batch_request() -> BoxedStrategy<Request> {
    let few = || of(proptest::sample::select(vec!["S1", "S2"]).prop_map(SessionId::new));
    prop_oneof![
        8 => control(few()).prop_map(Request::Control),
        4 => message(few()).prop_map(Request::Message),
        1 => request(),
    ]
    .boxed()
}

/// Input for the parsers that looks like requests (known names, known parameters, stray
/// separators and escapes), to reach past the first checks.
fn request_like() -> BoxedStrategy<String> {
    let name = proptest::sample::select(vec![
        "wsok",
        "create_session",
        "bind_session",
        "control",
        "msg",
        "heartbeat",
        "x",
    ]);
    let key = proptest::sample::select(vec![
        "LS_session",
        "LS_reqId",
        "LS_op",
        "LS_subId",
        "LS_mode",
        "LS_group",
        "LS_schema",
        "LS_snapshot",
        "LS_message",
        "LS_max_frequency",
        "LS_ttl_millis",
        "LS_cause_code",
        "LS_protocol",
        "LS_cid",
        "LS_x",
        "",
    ]);
    let value = prop_oneof![
        proptest::sample::select(vec![
            "add",
            "delete",
            "reconf",
            "constrain",
            "force_rebind",
            "destroy",
            "MERGE",
            "1",
            "-1",
            "true",
            "unlimited",
            "2.0",
            "%",
            "%C3",
            "%41",
            "TLCP-2.5.0",
        ])
        .prop_map(str::to_owned),
        "[a-z0-9%=&]{0,6}",
    ];
    let line = vec((key, value), 0..6).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    });
    (
        name,
        vec(line, 0..4),
        proptest::sample::select(vec!["\r\n", "\n"]),
    )
        .prop_map(|(name, lines, sep)| {
            let mut s = name.to_owned();
            for l in lines {
                s.push_str(sep);
                s.push_str(&l);
            }
            s
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ws_round_trip(req in request()) {
        let mut ws = String::new();
        req.encode_ws(&mut ws);
        prop_assert_eq!(parse_ws_message(&ws), Ok(vec![req]));
    }

    #[test]
    fn http_post_round_trip(req in request(), v in version()) {
        let (mut path, mut body) = (String::new(), String::new());
        req.encode_http_post(v, &mut path, &mut body);
        let http = parse_http(&path, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(http.name, req.name());
        prop_assert_eq!(http.version, Some(v));
        prop_assert_eq!(http.requests, vec![req]);
    }

    #[test]
    fn http_get_round_trip(req in request(), v in version()) {
        let mut url = String::new();
        match req.encode_http_get(v, &mut url) {
            Ok(()) => {
                let http = parse_http(&url, "").map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(http.version, Some(v));
                prop_assert_eq!(http.requests, vec![req]);
            }
            Err(GetFormError::TooManyControls { count }) => {
                prop_assert!(count > 1);
                prop_assert!(url.is_empty());
            }
            Err(e) => {
                let Request::CreateSession(c) = &req else {
                    return Err(TestCaseError::fail(format!("{e} on {req:?}")));
                };
                prop_assert_eq!(c.controls.len(), 1);
                prop_assert!(url.is_empty());
            }
        }
    }

    #[test]
    fn batches_round_trip_and_keep_their_limit(
        reqs in vec(batch_request(), 1..8),
        limit in 0usize..600,
        http in of(version()),
    ) {
        let mut batch = match http {
            None => RequestBatch::ws(limit),
            Some(v) => RequestBatch::http(v, limit),
        };
        let mut accepted = Vec::new();
        for req in &reqs {
            let before = batch.payload().to_owned();
            let was_empty = batch.is_empty();
            match batch.push(req) {
                Ok(Pushed::Fits) => {
                    prop_assert!(batch.encoded_len() <= limit);
                    accepted.push(req.clone());
                }
                Ok(Pushed::Oversized { size, limit: l }) => {
                    prop_assert!(was_empty);
                    prop_assert_eq!((size, l), (batch.encoded_len(), limit));
                    prop_assert!(size > limit);
                    accepted.push(req.clone());
                }
                Err(e) => {
                    prop_assert!(!was_empty);
                    prop_assert_eq!(batch.payload(), before.as_str());
                    if let BatchError::TooLarge { size, limit: l } = e {
                        prop_assert!(size > l);
                    }
                }
            }
            prop_assert_eq!(batch.encoded_len(), batch.payload().len());
            prop_assert!(batch.len() == 1 || batch.encoded_len() <= limit);
        }
        prop_assert_eq!(batch.len(), accepted.len());
        let parsed = match http {
            None => parse_ws_message(batch.payload()),
            Some(v) => {
                let mut path = String::new();
                prop_assert!(batch.write_http_path(&mut path));
                parse_http(&path, batch.payload()).map(|h| {
                    assert_eq!(h.version, Some(v));
                    h.requests
                })
            }
        };
        prop_assert_eq!(parsed, Ok(accepted));
    }

    #[test]
    fn parsers_never_panic_on_anything(a in any::<String>(), b in any::<String>()) {
        for r in [parse_ws_message_each(&a).map(|_| ()), parse_http_each(&a, &b).map(|_| ())] {
            if let Err(e) = r {
                let _ = (e.to_string(), e.code());
            }
        }
        let _ = parse_ws_message(&a);
        let _ = parse_http(&a, &b);
    }

    #[test]
    fn parsers_never_panic_on_near_requests(a in request_like(), b in request_like()) {
        let _ = parse_ws_message(&a).map_err(|e| e.to_string());
        if let Ok(parsed) = parse_ws_message_each(&a) {
            for r in parsed.requests {
                let _ = r.map_err(|e| (e.to_string(), e.code(), e.req_id().map(str::len)));
            }
        }
        let (name, query) = a.split_once("\r\n").or_else(|| a.split_once('\n')).unwrap_or((&a, ""));
        let path = format!("/lightstreamer/{name}.txt?{query}");
        let _ = parse_http(&path, &b).map_err(|e| e.to_string());
        let _ = parse_http_each(&path, &b);
    }
}

/// Checks that every request parsed from `a` (WS) or `a`, `b` (HTTP) encodes to a message
/// that parses back to the same request.
fn parsed_requests_re_encode(a: &str, b: &str) -> Result<(), TestCaseError> {
    let mut requests = Vec::new();
    if let Ok(reqs) = parse_ws_message(a) {
        requests.extend(reqs.into_iter().map(|r| (r, None)));
    }
    if let Ok(http) = parse_http(a, b) {
        requests.extend(http.requests.into_iter().map(|r| (r, http.version)));
    }
    for (req, version) in requests {
        let mut ws = String::new();
        req.encode_ws(&mut ws);
        prop_assert_eq!(parse_ws_message(&ws), Ok(vec![req.clone()]));
        let (mut path, mut body) = (String::new(), String::new());
        req.encode_http_post(
            version.unwrap_or(ProtocolVersion::V2_5_0),
            &mut path,
            &mut body,
        );
        let http = parse_http(&path, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(http.requests, vec![req]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The `request` fuzz target's property, for CI: whatever the parsers accept
    /// re-encodes (WS and HTTP POST) to the same requests.
    #[test]
    fn parsed_requests_round_trip(
        a in prop_oneof![request_like(), any::<String>()],
        b in prop_oneof![request_like(), any::<String>()],
    ) {
        parsed_requests_re_encode(&a, &b)?;
        // Also as an HTTP request whose path names the request.
        let (name, query) = a.split_once("\r\n").or_else(|| a.split_once('\n')).unwrap_or((&a, ""));
        let path = format!("/lightstreamer/{name}.txt?{query}");
        parsed_requests_re_encode(&path, &b)?;
    }
}
