//! Retries: backoff, the seeded first-retry jitter, and the CONERR code table.

use super::harness::{Script, config};
use crate::client::{ForcedTransport, SessionConfig, Status, Transmit};

/// Every WS attempt fails at once: when (ms) each attempt starts, up to `until`.
fn attempt_times(config: SessionConfig, until: u64) -> Vec<u64> {
    let mut h = Script::new(config);
    h.connect();
    let mut times = Vec::new();
    while h.at() <= until {
        match h.expect_transmit() {
            Transmit::OpenWs { conn, .. } => {
                times.push(h.last_at);
                h.fail(conn);
            }
            other => panic!("unexpected {other:?}"),
        }
        h.advance_to_next_timer(120_000);
    }
    times
}

#[test]
fn backoff_is_retry_delay_ten_times_then_doubles_up_to_a_minute() {
    let c = config().with_forced_transport(ForcedTransport::WsStreaming);
    let times = attempt_times(c, 300_000);
    assert_eq!(
        times,
        [
            0, 4000, 8000, 12000, 16000, 20000, 24000, 28000, 32000, 36000, 40000, 48000, 64000,
            96000, 156000, 216000, 276000
        ]
    );
}

#[test]
fn the_retry_delay_counts_from_the_start_of_the_attempt() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::WsStreaming));
    h.connect();
    let ws = h.expect_ws_open();
    h.advance(1500);
    h.fail(ws);
    h.advance(2499);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_ws_open();
    assert_eq!(h.last_at, 4000);
}

#[test]
fn a_conok_resets_the_backoff() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::WsStreaming));
    h.connect();
    for _ in 0..12 {
        let ws = h.expect_ws_open();
        h.fail(ws);
        h.advance_to_next_timer(120_000);
    }
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.server_sends(ws, "CONOK,S1,50000,5000,*");
    // The session ends for good on the server side; creation attempts start again from
    // the first delay.
    h.server_sends(ws, "END,48,Maximum duration reached");
    h.expect_close(ws);
    let ws = h.expect_ws_open();
    let start = h.last_at;
    h.fail(ws);
    h.advance_to_next_timer(120_000);
    h.expect_ws_open();
    assert_eq!(h.last_at, start + 4000);
}

/// When the first retry after a lost session happens, for a seed.
fn first_retry_pause(seed: u64) -> u64 {
    let mut c = config().with_seed(seed);
    c.session_recovery_timeout = std::time::Duration::ZERO;
    let mut h = Script::new(c);
    let ws = h.ws_session(50000);
    h.fail(ws);
    let lost = h.at();
    h.advance_to_next_timer(10_000);
    h.expect_ws_open();
    h.last_at - lost
}

#[test]
fn the_first_retry_jitter_comes_from_the_seed() {
    let pauses: Vec<u64> = (0..20).map(first_retry_pause).collect();
    assert!(pauses.iter().all(|p| *p < 100), "{pauses:?}");
    assert_eq!(pauses, (0..20).map(first_retry_pause).collect::<Vec<_>>());
    assert!(pauses.iter().any(|p| *p != pauses[0]), "{pauses:?}");
}

#[test]
fn conerr_codes_that_retry() {
    for code in [4, 6, 20, 40, 41, 48] {
        let mut h = Script::new(config());
        h.connect();
        let ws = h.expect_ws_open();
        h.open_ws(ws);
        h.discard_transmits();
        h.server_sends(ws, &format!("CONERR,{code},try later"));
        h.expect_close(ws);
        h.expect_events(&["status CONNECTING", "status DISCONNECTED:WILL-RETRY"]);
        h.advance(3999);
        h.expect_no_transmit();
        h.advance(1);
        h.expect_ws_open();
        assert_eq!(h.status(), Status::Connecting, "CONERR {code}");
    }
}

#[test]
fn conerr_5_creates_over_http_with_an_unlimited_ttl() {
    let mut h = Script::new(config());
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.server_sends(ws, "CONERR,5,Create over HTTP");
    h.expect_close(ws);
    let create = h.expect_http("create_session");
    assert!(
        create
            .body
            .ends_with("&LS_ttl_millis=unlimited&LS_cause=ttl.required"),
        "{}",
        create.body
    );
    assert_eq!(h.last_at, 0);
}

#[test]
fn other_conerr_codes_stop_and_report() {
    for code in [1, 2, 3, 7, 8, 9, 10, 11, 60, 65, 0, -7] {
        let mut h = Script::new(config());
        h.connect();
        let ws = h.expect_ws_open();
        h.open_ws(ws);
        h.discard_transmits();
        h.server_sends(ws, &format!("CONERR,{code},No way"));
        h.expect_close(ws);
        h.expect_events(&[
            "status CONNECTING",
            &format!("server error CONERR {code}: No way"),
            &format!(
                "session closed Server(ServerError {{ kind: ConErr, code: {code}, message: \"No way\" }})"
            ),
            "status DISCONNECTED",
        ]);
        assert_eq!(h.s.poll_timeout(), None, "CONERR {code}");
        h.advance(100_000);
        h.expect_no_transmit();
    }
}

#[test]
fn conerr_on_a_rebind_replaces_the_session() {
    let mut h = Script::new(config().with_forced_transport(ForcedTransport::HttpStreaming));
    h.connect();
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let bind = h.expect_http("bind_session");
    h.server_sends(bind.conn, "CONERR,20,Session not found");
    h.expect_close(bind.conn);
    let create = h.expect_http("create_session");
    assert!(
        create.body.contains("&LS_old_session=S1&"),
        "{}",
        create.body
    );
    h.server_sends(create.conn, "CONOK,S2,50000,5000,*\nLOOP,0");
    h.expect_event("session replaced, lost Unknown");
}

#[test]
fn conerr_5_twice_or_where_http_is_not_allowed_backs_off() {
    let mut h = Script::new(config());
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.server_sends(ws, "CONERR,5,Create over HTTP");
    h.expect_close(ws);
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONERR,5,Create over HTTP");
    h.expect_close(create.conn);
    h.expect_no_transmit();
    assert_eq!(h.status(), Status::WillRetry);
    h.advance(4000);
    h.expect_http("create_session");

    let mut h = Script::new(config().with_forced_transport(ForcedTransport::Ws));
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    h.server_sends(ws, "CONERR,5,Create over HTTP");
    h.expect_close(ws);
    h.expect_no_transmit();
    assert_eq!(h.status(), Status::WillRetry);
}

#[test]
fn a_lower_max_retry_delay_caps_the_backoff() {
    let mut c = config().with_forced_transport(ForcedTransport::WsStreaming);
    c.retry_delay = std::time::Duration::from_millis(1000);
    c.max_retry_delay = std::time::Duration::from_millis(2500);
    let times = attempt_times(c, 20_000);
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Ten at the retry delay, one doubled, then the cap (not 4000, 8000, ...).
    assert_eq!(
        gaps,
        [
            1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 2000, 2500, 2500, 2500
        ]
    );
}
