//! Every timing and size option at a value other than its default, in virtual time: each
//! test fails if the option were ignored (the default would give another time or value).

use std::time::Duration;

use super::harness::{CID, Script, config};
use crate::client::{ForcedTransport, Status, Transmit};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn ws_open_timeout_bounds_the_websocket_create_only() {
    let mut c = config();
    c.ws_open_timeout = Some(ms(1200));
    let mut h = Script::new(c);
    h.connect();
    let ws = h.expect_ws_open();
    h.open_ws(ws);
    h.discard_transmits();
    // 1200 ms, not the retry delay (4000): HTTP is tried.
    h.advance(1199);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(ws);
    let create = h.expect_http("create_session");
    assert_eq!(h.last_at, 1200);
    assert!(create.body.ends_with("LS_cause=ws.unavailable"));
    // The HTTP request has the retry delay (4000 ms) to answer, not the WS timeout.
    h.advance(3999);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(create.conn);
    h.expect_event("status DISCONNECTED:WILL-RETRY");
    // (The retry delay counts from the start of the attempt: the next one is due now.)
    h.expect_ws_open();
    assert_eq!(h.last_at, 5200);
}

#[test]
fn content_length_goes_on_http_streaming_binds() {
    let mut c = config().with_forced_transport(ForcedTransport::HttpStreaming);
    c.content_length = 123_456;
    let mut h = Script::new(c);
    h.connect();
    let create = h.expect_http("create_session");
    assert!(
        !create.body.contains("LS_content_length"),
        "{}",
        create.body
    );
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let bind = h.expect_http("bind_session");
    assert_eq!(
        bind.body,
        "LS_session=S1&LS_content_length=123456&LS_send_sync=false&LS_cause=http.loop"
    );
}

/// A forced HTTP polling session with `idle` and a keepalive of 5000 ms; returns when its
/// poll, answered with `CONOK` only (an idle poll), is judged `STALLED` (ms after the
/// `CONOK`).
fn idle_poll_stalls_after(idle: u64, stalled: u64) -> u64 {
    let mut c = config().with_forced_transport(ForcedTransport::HttpPolling);
    c.idle_timeout = ms(idle);
    c.stalled_timeout = ms(stalled);
    let mut h = Script::new(c);
    h.connect();
    let create = h.expect_http("create_session");
    h.server_sends(create.conn, "CONOK,S1,50000,5000,*\nLOOP,0");
    let poll = h.expect_http("bind_session");
    assert!(
        poll.body.contains(&format!("&LS_idle_millis={idle}&")),
        "{}",
        poll.body
    );
    h.server_sends(poll.conn, "CONOK,S1,50000,5000,*");
    h.events();
    let start = h.at();
    h.advance_to_next_timer(100_000);
    h.expect_events(&["status STALLED"]);
    h.at() - start
}

#[test]
fn polls_may_stay_silent_for_the_idle_timeout() {
    // The larger of keepalive and idle timeout, plus the stalled timeout.
    assert_eq!(idle_poll_stalls_after(30_000, 2000), 32_000);
    assert_eq!(idle_poll_stalls_after(1000, 2000), 7000);
    assert_eq!(idle_poll_stalls_after(30_000, 500), 30_500);
}

#[test]
fn stalled_reconnect_and_recovery_timeouts() {
    let mut c = config();
    c.stalled_timeout = ms(500);
    c.reconnect_timeout = ms(700);
    c.session_recovery_timeout = ms(5000);
    c.retry_delay = ms(2000);
    c.first_retry_max_delay = ms(1);
    let mut h = Script::new(c);
    let ws = h.ws_session(50000);
    // Keepalive 5000 + 500: STALLED; 700 more: dropped.
    h.advance(5499);
    h.expect_events(&[]);
    h.advance(1);
    h.expect_events(&["status STALLED"]);
    h.advance(699);
    h.expect_no_transmit();
    h.advance(1);
    h.expect_close(ws);
    h.expect_events(&["status DISCONNECTED:TRYING-RECOVERY"]);
    let lost = h.at();
    // Recovery attempts every 2000 ms while 5000 ms allow: at 0, 2000 and 4000; then
    // the session is replaced (a new WebSocket).
    let mut attempts = Vec::new();
    let ws = loop {
        if !h.has_transmit() {
            h.advance_to_next_timer(10_000);
            continue;
        }
        match h.expect_transmit() {
            Transmit::Http { conn, path, .. } if path.contains("bind_session") => {
                attempts.push(h.last_at - lost);
                h.fail(conn);
            }
            Transmit::OpenWs { conn, .. } => break conn,
            other => panic!("{other:?} at {}", h.at()),
        }
        assert!(attempts.len() < 10, "{attempts:?}");
    };
    assert_eq!(attempts, [0, 2000, 4000]);
    h.expect_event("status DISCONNECTED:WILL-RETRY");
    h.open_ws(ws);
    h.expect_ws_text(ws, "wsok");
    assert_eq!(
        h.ws_text(ws),
        format!(
            "create_session\r\nLS_keepalive_millis=5000&LS_adapter_set=DEMO&LS_cid={CID}&\
             LS_old_session=S1&LS_send_sync=false&LS_cause=recovery.error"
        )
    );
}

#[test]
fn a_reading_pause_keeps_heartbeats_and_suspends_stall_detection() {
    let mut c = config();
    c.reverse_heartbeat_interval = Some(ms(1000));
    let mut h = Script::new(c);
    let ws = h.ws_session(50000);
    // The application is behind: the driver stops reading at once.
    h.s.pause_reading(h.now);
    assert!(h.s.is_reading_paused());
    // 20 s without reading: heartbeats every second, as the server was told, and no
    // STALLED (keepalive 5000 + stalled 2000 would say so at 7000).
    let mut beats = Vec::new();
    for _ in 0..20 {
        h.advance_to_next_timer(10_000);
        h.expect_ws_text(ws, "heartbeat\r\n\r\n");
        beats.push(h.last_at);
    }
    assert_eq!(beats, (1..=20).map(|s| s * 1000).collect::<Vec<_>>());
    h.expect_events(&[]);
    assert_eq!(h.status(), Status::WsStreaming);
    // Reading goes on: stall detection runs again, with what was left of it (7000 ms).
    h.s.resume_reading(h.now);
    h.advance(6999);
    h.discard_transmits();
    h.expect_events(&[]);
    h.advance(1);
    h.expect_events(&["status STALLED"]);
    // Data arrives: streaming again.
    h.server_sends(ws, "PROBE");
    h.expect_events(&["status CONNECTED:WS-STREAMING"]);
}
