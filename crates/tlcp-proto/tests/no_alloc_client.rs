//! The client state machine delivers updates without allocating: bytes in through
//! `handle_bytes`, updates out through `poll_event`, counted with a global allocator that
//! counts the allocations of the current thread.

use std::time::{Duration, Instant};

use tlcp_proto::Mode;
use tlcp_proto::client::{ClientSession, Event, SessionConfig, SubscriptionSpec, Transmit};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// A quote feed, one `U` line per WebSocket message, as a server sends it.
const LINES: [&str; 8] = [
    "U,1,1,12:00:01.123|3.0412|+0.12|3.0401|3.0423|1500|2300|1023400|Open%7CCont|XMIL\r\n",
    "U,1,2,12:00:01.456|3.0415|+0.13|3.0402|3.0425|||1024900||\r\n",
    "U,1,1,12:00:02.001|^4|1200|2100|1026000|Auction%7CClose|XPAR\r\n",
    "U,1,2,12:00:02.317|3.0418|+0.15|||900|2600|1027100|Open%7CCont|\r\n",
    "U,1,1,12:00:02.802|3.0412|+0.12|^6|XMIL\r\n",
    "U,1,2,12:00:03.090|3.0419|+0.16|3.0400|||3.0428|1030200|#|$\r\n",
    "U,1,1,12:00:03.540|3.0420|+0.17|3.0410|3.0429|1000|2000|1031000|%23pre%7Copen|XETR\r\nPROBE\r\n",
    "U,1,2,12:00:04.001|3.0421|+0.18|||^3|Open%7CCont|XMIL\r\n",
];

/// Feeds one chunk the way a driver must, reading each update; returns bytes of values seen.
fn feed(
    session: &mut ClientSession,
    conn: tlcp_proto::client::ConnId,
    chunk: &[u8],
    now: Instant,
) -> usize {
    let mut chunk = chunk;
    let mut seen = 0;
    while !chunk.is_empty() {
        session.handle_bytes(conn, &mut chunk, now);
        while let Some(event) = session.poll_event() {
            match event {
                Event::Update(u) => {
                    seen += u.value(10).map_or(0, str::len) + u.changed_positions().count();
                }
                Event::Protocol(p) => panic!("{p:?}"),
                _ => {}
            }
        }
    }
    seen
}

#[test]
fn delivering_updates_does_not_allocate() {
    let before = allocations();
    let probe = std::hint::black_box(vec![1u8; 16]);
    assert!(allocations() > before, "the counter counts");
    drop(probe);

    let mut now = Instant::now();
    let mut session = ClientSession::new(SessionConfig::new("DEMO"));
    let fields: Vec<String> = (1..=10).map(|i| format!("f{i}")).collect();
    let spec = SubscriptionSpec::items(Mode::Merge, ["a", "b"], fields);
    session.subscribe(spec, now).unwrap();
    session.connect(now);
    let Some(Transmit::OpenWs { conn, .. }) = session.poll_transmit() else {
        panic!("no WebSocket")
    };
    session.handle_opened(conn, now);
    while session.poll_transmit().is_some() {}
    feed(&mut session, conn, b"CONOK,S1,50000,5000,*\r\n", now);
    while session.poll_transmit().is_some() {}
    feed(&mut session, conn, b"SUBOK,1,2,10\r\n", now);
    feed(
        &mut session,
        conn,
        b"U,1,2,12:00|3|+0|3|3|1|2|3|x|y\r\n",
        now,
    );
    // Warm up: buffers grow to their size.
    for line in LINES.iter().cycle().take(64) {
        feed(&mut session, conn, line.as_bytes(), now);
    }
    let before = allocations();
    let mut seen = 0;
    for line in LINES.iter().cycle().take(10_000) {
        now += Duration::from_millis(1);
        seen += feed(&mut session, conn, line.as_bytes(), now);
        if let Some(t) = session.poll_transmit() {
            panic!("{t:?}");
        }
    }
    assert_eq!(allocations() - before, 0, "delivering updates allocated");
    assert!(seen > 10_000);

    // Many updates in one chunk: the same.
    let big: String = LINES.iter().cycle().take(400).copied().collect();
    feed(&mut session, conn, big.as_bytes(), now);
    let before = allocations();
    for _ in 0..20 {
        seen += feed(&mut session, conn, big.as_bytes(), now);
    }
    assert_eq!(
        allocations() - before,
        0,
        "delivering a batch of updates allocated"
    );
    assert!(seen > 20_000);
}
