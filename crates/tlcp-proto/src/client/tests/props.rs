//! Property test: no sequence of server lines, raw bytes, network events, timeouts and
//! application calls panics the machine or breaks its basic promises.

use std::time::Duration;

use proptest::prelude::*;

use super::harness::Script;
use crate::Mode;
use crate::client::{
    CloseReason, ConnId, ForcedTransport, MessageSpec, SessionConfig, Status, SubscriptionId,
    SubscriptionSpec, Transmit,
};
use crate::types::{Bandwidth, MaxFrequency};

#[derive(Debug, Clone)]
enum Step {
    Line(usize, String),
    Bytes(usize, Vec<u8>),
    Opened(usize),
    Closed(usize, bool),
    ControlResponse(usize, String),
    Advance(u64),
    Subscribe(u8),
    Unsubscribe(usize),
    Frequency(usize, u8),
    Message(u8),
    Connect,
    Disconnect,
    Force(u8),
    Bandwidth(u8),
}

/// Lines that mean something, with small numbers that hit existing ids.
fn protocol_line() -> impl Strategy<Value = String> {
    let n = || 0u32..6;
    prop_oneof![
        (n(), n()).prop_map(|(l, k)| format!("CONOK,S1,{},{},*", l * 100, k * 1000)),
        Just("CONOK,S2,50000,5000,link.example:80".to_owned()),
        (n(), "[a-z ]{0,8}").prop_map(|(c, m)| format!("CONERR,{c},{m}")),
        prop_oneof![Just(31), Just(41), Just(48), Just(-1)].prop_map(|c| format!("END,{c},x")),
        n().prop_map(|d| format!("LOOP,{}", d * 500)),
        n().prop_map(|p| format!("PROG,{p}")),
        Just("PROBE".to_owned()),
        Just("WSOK".to_owned()),
        (n(), n(), n()).prop_map(|(s, i, f)| format!("SUBOK,{s},{i},{f}")),
        (n(), n(), n(), n(), n()).prop_map(|(s, i, f, k, c)| format!("SUBCMD,{s},{i},{f},{k},{c}")),
        n().prop_map(|s| format!("UNSUB,{s}")),
        (n(), n()).prop_map(|(s, i)| format!("EOS,{s},{i}")),
        (n(), n()).prop_map(|(s, i)| format!("CS,{s},{i}")),
        (n(), n(), n()).prop_map(|(s, i, l)| format!("OV,{s},{i},{l}")),
        n().prop_map(|s| format!("CONF,{s},unlimited,filtered")),
        (n(), n(), "[a-z#$^|0-9%]{0,12}").prop_map(|(s, i, v)| format!("U,{s},{i},{v}")),
        (
            n(),
            n(),
            prop_oneof![Just("ADD"), Just("UPDATE"), Just("DELETE")]
        )
            .prop_map(|(s, k, c)| format!("U,{s},1,k{k}|{c}|v")),
        (n(), n()).prop_map(|(r, c)| format!("REQERR,{r},{c},no")),
        n().prop_map(|r| format!("REQOK,{r}")),
        (n(), "[a-z]{0,3}").prop_map(|(p, r)| format!("MSGDONE,*,{p},{r}")),
        (n(), n()).prop_map(|(p, c)| format!("MSGFAIL,S,{p},{},1", c + 36)),
        Just("ERROR,67,bad".to_owned()),
        "[A-Z]{1,8}(,[a-z0-9%]{0,6}){0,4}",
        ".{0,40}",
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let c = || 0usize..4;
    prop_oneof![
        6 => (c(), protocol_line()).prop_map(|(c, l)| Step::Line(c, l)),
        1 => (c(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(c, b)| Step::Bytes(c, b)),
        2 => c().prop_map(Step::Opened),
        1 => (c(), any::<bool>()).prop_map(|(c, f)| Step::Closed(c, f)),
        1 => (c(), proptest::collection::vec(protocol_line(), 0..3))
            .prop_map(|(c, l)| Step::ControlResponse(c, l.join("\r\n"))),
        2 => (0u64..25_000).prop_map(Step::Advance),
        1 => any::<u8>().prop_map(Step::Subscribe),
        1 => (0usize..4).prop_map(Step::Unsubscribe),
        1 => (0usize..4, any::<u8>()).prop_map(|(s, f)| Step::Frequency(s, f)),
        1 => any::<u8>().prop_map(Step::Message),
        1 => Just(Step::Connect),
        1 => Just(Step::Disconnect),
        1 => any::<u8>().prop_map(Step::Force),
        1 => any::<u8>().prop_map(Step::Bandwidth),
    ]
}

fn spec(seed: u8) -> SubscriptionSpec {
    let mode = [Mode::Merge, Mode::Distinct, Mode::Command, Mode::Raw][usize::from(seed % 4)];
    let spec = if seed & 4 == 0 {
        SubscriptionSpec::items(mode, ["a", "b"], ["key", "command", "v"])
    } else {
        SubscriptionSpec::group(mode, "g", "s")
    };
    if mode == Mode::Command && seed & 8 != 0 {
        spec.with_second_level_fields(["x", "y"], None)
    } else {
        spec
    }
}

fn run(config: SessionConfig, steps: Vec<Step>) {
    let mut h = Script::new(config);
    let mut conns: Vec<ConnId> = Vec::new();
    let mut subs: Vec<SubscriptionId> = Vec::new();
    h.connect();
    let pick = |conns: &Vec<ConnId>, i: usize| conns.get(i % conns.len().max(1)).copied();
    for step in steps {
        for t in h.take_transmits() {
            if let Transmit::OpenWs { conn, .. } | Transmit::Http { conn, .. } = t {
                conns.push(conn);
                if conns.len() > 4 {
                    conns.remove(0);
                }
            }
        }
        let now = h.now;
        match step {
            Step::Line(c, line) => {
                if let Some(c) = pick(&conns, c) {
                    h.server_bytes(c, format!("{line}\r\n").as_bytes());
                }
            }
            Step::Bytes(c, bytes) => {
                if let Some(c) = pick(&conns, c) {
                    h.server_bytes(c, &bytes);
                }
            }
            Step::Opened(c) => {
                if let Some(c) = pick(&conns, c) {
                    h.open_ws(c);
                }
            }
            Step::Closed(c, failed) => {
                if let Some(c) = pick(&conns, c) {
                    let reason = if failed {
                        CloseReason::Failed("x".into())
                    } else {
                        CloseReason::Ended
                    };
                    h.close(c, reason);
                }
            }
            Step::ControlResponse(c, body) => {
                if let Some(c) = pick(&conns, c) {
                    h.s.handle_control_response(c, body.as_bytes(), now);
                }
            }
            Step::Advance(ms) => h.advance(ms),
            Step::Subscribe(seed) => {
                if let Ok(id) = h.s.subscribe(spec(seed), now) {
                    subs.push(id);
                }
            }
            Step::Unsubscribe(i) => {
                if let Some(id) = subs.get(i).copied() {
                    let _ = h.s.unsubscribe(id, now);
                }
            }
            Step::Frequency(i, f) => {
                if let Some(id) = subs.get(i).copied() {
                    let freq = MaxFrequency::PerSecond(f64::from(f));
                    let _ = h.s.set_max_frequency(id, freq, now);
                }
            }
            Step::Message(seed) => {
                let mut m =
                    MessageSpec::new("m").in_sequence(["S", "T", ""][usize::from(seed % 3)]);
                if seed & 4 != 0 {
                    m = m.without_outcome();
                }
                if seed & 8 != 0 {
                    m = m.enqueue_while_disconnected();
                }
                h.s.send_message(m, now).unwrap();
            }
            Step::Connect => h.s.connect(now),
            Step::Disconnect => h.s.disconnect(now),
            Step::Force(seed) => {
                let all = [
                    None,
                    Some(ForcedTransport::Ws),
                    Some(ForcedTransport::Http),
                    Some(ForcedTransport::WsStreaming),
                    Some(ForcedTransport::HttpStreaming),
                    Some(ForcedTransport::WsPolling),
                    Some(ForcedTransport::HttpPolling),
                ];
                h.s.set_forced_transport(all[usize::from(seed) % all.len()], now);
            }
            Step::Bandwidth(b) => {
                let bw = (b % 2 == 0).then_some(Bandwidth::Kbps(f64::from(b)));
                // (0 is refused, and changes nothing.)
                let _ = h.s.set_bandwidth(bw, now);
            }
        }
        h.pump();
        // Promises that hold whatever happened.
        if h.status() == Status::Disconnected {
            assert_eq!(h.s.poll_timeout(), None, "no timer while DISCONNECTED");
        } else {
            assert!(
                h.s.poll_timeout().is_some(),
                "a timer always runs while not DISCONNECTED: {:?}",
                h.s
            );
        }
        let _ = format!("{:?}", h.s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_inputs_panics(steps in proptest::collection::vec(step(), 1..60)) {
        run(SessionConfig::new("DEMO").with_seed(7), steps);
    }

    #[test]
    fn no_sequence_of_inputs_panics_with_odd_settings(
        steps in proptest::collection::vec(step(), 1..60),
        version in 0usize..6,
        heartbeat in any::<bool>(),
        line_len in 8usize..64,
    ) {
        let mut c = SessionConfig::new("DEMO").with_version(crate::ProtocolVersion::ALL[version]);
        c.reverse_heartbeat_interval = heartbeat.then_some(Duration::from_millis(1000));
        c.max_line_len = line_len;
        c.session_recovery_timeout = Duration::from_millis(u64::from(heartbeat) * 5000);
        run(c, steps);
    }
}
