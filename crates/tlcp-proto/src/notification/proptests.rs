//! Property tests: encode/parse round trips and robustness on arbitrary input.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::framing::LineDecoder;

const KNOWN_TAGS: [&str; 25] = [
    "CONOK", "CONERR", "END", "LOOP", "PROG", "WSOK", "PROBE", "NOOP", "SYNC", "CONS", "CLIENTIP",
    "SERVNAME", "REQOK", "REQERR", "ERROR", "SUBOK", "SUBCMD", "UNSUB", "CONF", "EOS", "CS", "OV",
    "U", "MSGDONE", "MSGFAIL",
];

/// Arbitrary text (any Unicode, control characters included).
fn text() -> impl Strategy<Value = Cow<'static, str>> {
    prop_oneof![any::<String>(), Just("*".to_owned()), "[a-z%*,]{0,6}",].prop_map(Cow::Owned)
}

fn opt_text() -> impl Strategy<Value = Option<Cow<'static, str>>> {
    proptest::option::of(text())
}

/// Non-negative finite decimals, short ones and extreme ones.
fn decimal() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..1_000_000).prop_map(|n| f64::from(n) / 1000.0),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(f64::abs),
    ]
}

fn bandwidth() -> impl Strategy<Value = BandwidthLimit> {
    prop_oneof![
        Just(BandwidthLimit::Unlimited),
        Just(BandwidthLimit::Unmanaged),
        decimal().prop_map(BandwidthLimit::Kbps),
    ]
}

fn frequency() -> impl Strategy<Value = RealMaxFrequency> {
    prop_oneof![
        Just(RealMaxFrequency::Unlimited),
        decimal().prop_map(RealMaxFrequency::PerSecond),
    ]
}

/// Every variant that owns its data (`Update` and `Unknown` borrow `&str`: tested apart).
fn owned_notification() -> impl Strategy<Value = Notification<'static>> {
    use Notification as N;
    prop_oneof![
        (text(), any::<u64>(), any::<u64>(), opt_text()).prop_map(|(s, l, k, c)| N::ConOk {
            session_id: s,
            request_limit: l,
            keepalive_ms: k,
            control_link: c
        }),
        (any::<i32>(), text()).prop_map(|(code, message)| N::ConErr { code, message }),
        (any::<i32>(), text()).prop_map(|(code, message)| N::End { code, message }),
        any::<u64>().prop_map(|d| N::Loop {
            expected_delay_ms: d
        }),
        any::<u64>().prop_map(|p| N::Prog { progressive: p }),
        Just(N::WsOk),
        Just(N::Probe),
        text().prop_map(|preamble| N::Noop { preamble }),
        any::<u64>().prop_map(|seconds| N::Sync { seconds }),
        bandwidth().prop_map(|bandwidth| N::Cons { bandwidth }),
        text().prop_map(|ip| N::ClientIp { ip }),
        text().prop_map(|name| N::ServName { name }),
        opt_text().prop_map(|request_id| N::ReqOk { request_id }),
        (text(), any::<i32>(), text()).prop_map(|(request_id, code, message)| N::ReqErr {
            request_id,
            code,
            message
        }),
        (any::<i32>(), text()).prop_map(|(code, message)| N::Error { code, message }),
        any::<[u32; 3]>().prop_map(|[s, i, f]| N::SubOk {
            sub_id: s,
            num_items: i,
            num_fields: f
        }),
        any::<[u32; 5]>().prop_map(|[s, i, f, k, c]| N::SubCmd {
            sub_id: s,
            num_items: i,
            num_fields: f,
            key_field: k,
            command_field: c
        }),
        any::<u32>().prop_map(|sub_id| N::Unsub { sub_id }),
        (any::<u32>(), frequency(), any::<bool>()).prop_map(|(sub_id, max_frequency, filtered)| {
            N::Conf {
                sub_id,
                max_frequency,
                filtered,
            }
        }),
        any::<[u32; 2]>().prop_map(|[sub_id, item]| N::Eos { sub_id, item }),
        any::<[u32; 2]>().prop_map(|[sub_id, item]| N::Cs { sub_id, item }),
        (any::<u32>(), any::<u32>(), any::<u64>()).prop_map(|(sub_id, item, lost)| N::Ov {
            sub_id,
            item,
            lost
        }),
        (opt_text(), any::<u64>(), opt_text()).prop_map(|(sequence, prog, response)| {
            N::MsgDone {
                sequence,
                prog,
                response,
            }
        }),
        (opt_text(), any::<u64>(), any::<i32>(), text()).prop_map(
            |(sequence, prog, code, message)| N::MsgFail {
                sequence,
                prog,
                code,
                message
            }
        ),
    ]
}

/// Encodes `n`, checks the line is one well-formed line, and parses it back.
fn round_trip(n: &Notification<'_>) -> Result<(), TestCaseError> {
    let mut encoded = String::new();
    n.encode(&mut encoded);
    let line = encoded.strip_suffix("\r\n").expect("encode ends with CRLF");
    prop_assert!(!line.contains(['\r', '\n']), "one line: {:?}", line);
    prop_assert!(line.starts_with(n.tag()));
    prop_assert_eq!(&Notification::parse(line).expect("parses"), n);
    // And the framer hands the same line back.
    let mut dec = LineDecoder::default();
    let mut input = encoded.as_bytes();
    prop_assert_eq!(dec.next_line(&mut input), Ok(Some(line.as_bytes())));
    prop_assert_eq!(dec.next_line(&mut input), Ok(None));
    Ok(())
}

/// Lines built from a known tag and argument-like noise, to reach every parser branch.
fn line_like() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(KNOWN_TAGS.to_vec()),
        proptest::option::of("[0-9,%A-Fa-z*.\\-é ]{0,24}"),
    )
        .prop_map(|(tag, args)| match args {
            Some(args) => format!("{tag},{args}"),
            None => tag.to_owned(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse_gives_the_same_notification(n in owned_notification()) {
        round_trip(&n)?;
    }

    #[test]
    fn updates_and_unknown_tags_round_trip(
        sub_id in any::<u32>(),
        item in any::<u32>(),
        values in "[^\r\n]*",
        tag in "[A-Z][A-Z0-9]{0,7}",
        args in proptest::option::of("[^\r\n]*"),
    ) {
        round_trip(&Notification::Update { sub_id, item, values: &values })?;
        let mut line = String::new();
        encode_update(sub_id, item, &values, &mut line);
        let mut by_method = String::new();
        Notification::Update { sub_id, item, values: &values }.encode(&mut by_method);
        prop_assert_eq!(line, by_method);
        if !KNOWN_TAGS.contains(&tag.as_str()) {
            round_trip(&Notification::Unknown { tag: &tag, args: args.as_deref() })?;
        }
    }

    #[test]
    fn msg_done_follows_the_version(
        sequence in opt_text(),
        prog in any::<u64>(),
        response in opt_text(),
        version in proptest::sample::select(crate::ProtocolVersion::ALL.to_vec()),
    ) {
        let mut line = String::new();
        encode_msg_done(sequence.as_deref(), prog, response.as_deref(), version, &mut line);
        let parsed = Notification::parse(line.trim_end_matches("\r\n")).expect("parses");
        let want_response = version
            .msgdone_has_response()
            .then(|| response.clone().unwrap_or_default());
        prop_assert_eq!(parsed, Notification::MsgDone { sequence, prog, response: want_response });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = Notification::parse_bytes(&bytes);
    }

    #[test]
    fn parsed_lines_re_encode_to_equivalent_lines(line in line_like()) {
        // Whatever parses must survive encode + parse unchanged (and nothing panics).
        if let Ok(n) = Notification::parse(&line) {
            round_trip(&n)?;
        }
    }
}

/// `U` lines with odd headers, escapes and bytes that are not UTF-8.
fn update_like() -> impl Strategy<Value = Vec<u8>> {
    (
        "[0-9]{0,11}",
        prop_oneof![Just(","), Just(""), Just(",,")],
        "[0-9a]{0,11}",
        proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>().prop_filter("ASCII", u8::is_ascii),
                1 => any::<u8>(),
                1 => Just(b'|'),
            ],
            0..40,
        ),
    )
        .prop_map(|(sub, sep, item, values)| {
            let mut line = format!("U,{sub}{sep}{item},").into_bytes();
            line.extend_from_slice(&values);
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `parse_bytes` (fast path for `U` lines, UTF-8 checked from an aligned address)
    /// gives what a UTF-8 check of the whole line then `parse` gives, at any alignment.
    #[test]
    fn parse_bytes_is_utf8_check_then_parse(line in update_like(), offset in 0usize..16) {
        let mut buf = vec![b'x'; offset];
        buf.extend_from_slice(&line);
        let line = &buf[offset..];
        let want = match std::str::from_utf8(line) {
            Ok(s) => {
                // The fast path for lines known to be UTF-8 agrees with the general one.
                prop_assert_eq!(Notification::parse_str(s), Notification::parse(s));
                // So does the client's shortcut for `U` lines, whenever it takes one.
                if let Some((sub_id, item, values)) = Notification::update_parts(s) {
                    let n = Notification::Update { sub_id, item, values };
                    prop_assert_eq!(Ok(n), Notification::parse(s));
                }
                Notification::parse(s)
            }
            Err(e) => Err(NotificationError::InvalidUtf8 { valid_up_to: e.valid_up_to() }),
        };
        prop_assert_eq!(Notification::parse_bytes(line), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The `notification` fuzz target's property, for CI: on any line (no LF, as the framer
    /// yields them), `parse_bytes` does not panic, and what parses encodes to a line that
    /// parses back to the same value.
    #[test]
    fn whatever_parses_round_trips(
        line in prop_oneof![
            proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..64),
            line_like().prop_map(String::into_bytes),
            update_like(),
        ]
    ) {
        if let Ok(n) = Notification::parse_bytes(&line) {
            let mut encoded = String::new();
            n.encode(&mut encoded);
            let again = encoded.strip_suffix("\r\n").expect("encode ends with CRLF");
            prop_assert_eq!(Notification::parse(again), Ok(n));
        }
    }
}
