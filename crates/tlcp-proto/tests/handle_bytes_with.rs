//! `ClientSession::handle_bytes_with` gives the same events, in the same order, as
//! `handle_bytes` with `poll_event` after each step; updates only come out earlier.

use std::time::Instant;

use tlcp_proto::Mode;
use tlcp_proto::client::{ClientSession, ConnId, Event, SessionConfig, SubscriptionSpec, Transmit};

/// What the application sees of an event.
fn describe(event: &Event<'_>) -> String {
    match event {
        Event::Update(u) => format!(
            "U {} {:?} {:?}",
            u.item_pos(),
            u.values().collect::<Vec<_>>(),
            u.changed_positions().collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    }
}

/// A session with one DISTINCT subscription of two items of three fields, bound on a
/// WebSocket.
fn session(now: Instant) -> (ClientSession, ConnId) {
    let mut s = ClientSession::new(SessionConfig::new("DEMO"));
    let spec = SubscriptionSpec::items(Mode::Distinct, ["a", "b"], ["x", "y", "z"]);
    s.subscribe(spec, now).expect("a valid subscription");
    s.connect(now);
    let Some(Transmit::OpenWs { conn, .. }) = s.poll_transmit() else {
        panic!("no WebSocket")
    };
    s.handle_opened(conn, now);
    while s.poll_transmit().is_some() {}
    (s, conn)
}

const CHUNKS: [&str; 3] = [
    "CONOK,S1,50000,5000,*\r\nSERVNAME,x\r\n",
    "SUBOK,1,2,3\r\nU,1,1,a|b|c\r\nU,1,2,d|#|$\r\nU,1,1,|e|\r\nEOS,1,1\r\nU,1,1,f|^2\r\nU,1,2,^T",
    "bbg|q|\r\nU,1,1,g|h|i\r\nPROBE\r\nU,1,2,j||k\r\nU,1,9,bad\r\nU,1,1,l||\r\n",
];

#[test]
fn same_events_in_the_same_order() {
    let now = Instant::now();
    // One line at a time, drained after each step.
    let (mut a, conn) = session(now);
    let mut expected = Vec::new();
    for chunk in CHUNKS {
        let mut chunk = chunk.as_bytes();
        while !chunk.is_empty() {
            a.handle_bytes(conn, &mut chunk, now);
            while let Some(e) = a.poll_event() {
                expected.push(describe(&e));
            }
        }
    }
    // Updates handed over as they come.
    let (mut b, conn) = session(now);
    let mut seen = Vec::new();
    let mut calls = 0;
    for chunk in CHUNKS {
        let mut chunk = chunk.as_bytes();
        while !chunk.is_empty() {
            calls += 1;
            b.handle_bytes_with(conn, &mut chunk, now, |u| {
                seen.push(describe(&Event::Update(u)));
                true
            });
            while let Some(e) = b.poll_event() {
                seen.push(describe(&e));
            }
        }
    }
    assert_eq!(seen, expected);
    assert!(expected.iter().filter(|e| e.starts_with("U ")).count() >= 6);
    assert!(
        calls < expected.len(),
        "{calls} calls for {} events",
        expected.len()
    );
}

#[test]
fn false_stops_right_after_the_update() {
    let now = Instant::now();
    let (mut s, conn) = session(now);
    for chunk in &CHUNKS[..1] {
        let mut chunk = chunk.as_bytes();
        while !chunk.is_empty() {
            s.handle_bytes(conn, &mut chunk, now);
            while s.poll_event().is_some() {}
        }
    }
    let mut chunk: &[u8] = b"SUBOK,1,2,3\r\n";
    s.handle_bytes(conn, &mut chunk, now);
    while s.poll_event().is_some() {}
    let mut chunk: &[u8] = b"U,1,1,a|b|c\r\nU,1,2,d|e|f\r\n";
    let mut got = 0;
    s.handle_bytes_with(conn, &mut chunk, now, |_| {
        got += 1;
        false
    });
    assert_eq!(got, 1);
    assert_eq!(chunk, b"U,1,2,d|e|f\r\n");
    assert!(s.poll_event().is_none());
}
