//! The fault proxy against trivial loopback servers: an echo server and a streamer that
//! sends a payload on request and reports how its connection ended.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tlcp_testkit::fault::{Blackhole, ConnId, Direction, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

/// The longest any single step may take before the test fails.
const T: Duration = Duration::from_secs(5);

/// How a connection ended, seen by the side that read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Eof,
    Error(io::ErrorKind),
}

/// Deterministic bytes that show any loss, duplication or reordering.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// An echo server on a loopback port.
async fn spawn_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A server that, on each connection, waits for one byte, sends `payload`, then reads until
/// the connection ends and reports how.
async fn spawn_streamer(payload: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<Ending>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let payload = Arc::new(payload);
    let (endings_tx, endings) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let payload = Arc::clone(&payload);
            let endings_tx = endings_tx.clone();
            tokio::spawn(async move {
                let mut go = [0; 1];
                let mut ending = match socket.read(&mut go).await {
                    Ok(0) => Some(Ending::Eof),
                    Ok(_) => None,
                    Err(e) => Some(Ending::Error(e.kind())),
                };
                if ending.is_none()
                    && let Err(e) = socket.write_all(&payload).await
                {
                    ending = Some(Ending::Error(e.kind()));
                }
                let ending = match ending {
                    Some(ending) => ending,
                    None => read_until_closed(&mut socket).await.1,
                };
                let _ = endings_tx.send(ending);
            });
        }
    });
    (addr, endings)
}

/// Reads until the connection ends; returns what came and how it ended.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Ending) {
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return (got, Ending::Eof),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Ending::Error(e.kind())),
        }
    }
}

async fn connect(proxy: &FaultProxy) -> TcpStream {
    let stream = timeout(T, TcpStream::connect(proxy.local_addr()))
        .await
        .expect("connect in time")
        .expect("connect to the proxy");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// Sends `message` and expects it back from the echo server; returns the round-trip time.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
    let start = Instant::now();
    stream.write_all(message).await.expect("send to the echo");
    let mut back = vec![0; message.len()];
    timeout(T, stream.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(back, message);
    start.elapsed()
}

/// Asserts nothing arrives on `stream` for `quiet`.
async fn expect_silence(stream: &mut TcpStream, quiet: Duration) {
    let mut buf = [0; 1024];
    if let Ok(read) = timeout(quiet, stream.read(&mut buf)).await {
        panic!("expected silence, got {read:?}");
    }
}

/// Asserts the connection is broken (error) or ended (EOF) within `within`.
async fn expect_closed(stream: &mut TcpStream, within: Duration) -> Ending {
    let (got, ending) = timeout(within, read_until_closed(stream))
        .await
        .expect("the connection ends in time");
    assert!(got.is_empty(), "unexpected bytes before the end: {got:?}");
    ending
}

#[tokio::test]
async fn forwards_a_large_payload_both_ways_intact() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let client = connect(&proxy).await;
    let payload = pattern(4 << 20);
    let (mut r, mut w) = client.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap(); // the echo server ends when we do
    });
    let mut back = Vec::new();
    timeout(T, r.read_to_end(&mut back)).await.unwrap().unwrap();
    writer.await.unwrap();
    assert!(back == payload, "the echo differs from what was sent");

    let stats = proxy.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.bytes_up, payload.len() as u64);
    assert_eq!(stats.bytes_down, payload.len() as u64);
    assert_eq!(stats.cuts, 0);
}

#[tokio::test]
async fn cut_all_breaks_the_client_and_the_server_quickly() {
    let (upstream, mut server_endings) = spawn_streamer(b"hello".to_vec()).await;
    let proxy = FaultProxy::start(upstream).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"g").await.unwrap();
    let mut hello = [0; 5];
    timeout(T, client.read_exact(&mut hello))
        .await
        .unwrap()
        .unwrap();

    let start = Instant::now();
    assert_eq!(timeout(T, proxy.cut_all()).await.unwrap(), 1);
    let client_end = expect_closed(&mut client, Duration::from_secs(1)).await;
    let server_end = timeout(Duration::from_secs(1), server_endings.recv()).await;
    let server_end = server_end.unwrap().unwrap();
    println!(
        "cut in {:?}: client {client_end:?}, server {server_end:?}",
        start.elapsed()
    );
    // SO_LINGER 0: a reset, not a clean end.
    assert_eq!(client_end, Ending::Error(io::ErrorKind::ConnectionReset));
    assert_eq!(server_end, Ending::Error(io::ErrorKind::ConnectionReset));

    let stats = proxy.stats();
    assert_eq!((stats.cuts, stats.live, stats.connections), (1, 0, 1));
}

#[tokio::test]
async fn cut_after_bytes_cuts_exactly_after_n_bytes() {
    let payload = pattern(256 * 1024);
    let (upstream, mut server_endings) = spawn_streamer(payload.clone()).await;
    let proxy = FaultProxy::start(upstream).await;

    let mut client = connect(&proxy).await;
    timeout(T, proxy.wait_connections(1)).await.unwrap();
    assert_eq!(proxy.cut_after_bytes(100_003), 1);
    client.write_all(b"g").await.unwrap();
    let (got, ending) = timeout(T, read_until_closed(&mut client)).await.unwrap();
    assert_eq!(got.len(), 100_003, "ended with {ending:?}");
    assert!(got[..] == payload[..100_003]);
    assert_eq!(ending, Ending::Error(io::ErrorKind::ConnectionReset));
    let server_end = timeout(T, server_endings.recv()).await.unwrap().unwrap();
    assert!(matches!(server_end, Ending::Error(_)), "{server_end:?}");

    // Armed for new connections: each one breaks after its first n bytes.
    proxy.cut_new_after_bytes(777);
    for _ in 0..2 {
        let mut client = connect(&proxy).await;
        client.write_all(b"g").await.unwrap();
        let (got, ending) = timeout(T, read_until_closed(&mut client)).await.unwrap();
        assert_eq!(got.len(), 777, "ended with {ending:?}");
        assert!(got[..] == payload[..777]);
    }
    let stats = proxy.stats();
    assert_eq!((stats.cuts, stats.connections, stats.live), (3, 3, 0));
    assert_eq!(stats.bytes_down, 100_003 + 2 * 777);
}

#[tokio::test]
async fn blackhole_hold_passes_nothing_then_everything_in_order() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut client = connect(&proxy).await;
    round_trip(&mut client, b"warm up").await;
    let before = proxy.stats();

    proxy.blackhole(Blackhole::Hold);
    let messages = [b"first ".to_vec(), pattern(100_000), b" last".to_vec()];
    for message in &messages {
        client.write_all(message).await.unwrap();
        sleep(Duration::from_millis(20)).await;
    }
    expect_silence(&mut client, Duration::from_millis(300)).await;
    let held = proxy.stats();
    assert_eq!(
        (held.bytes_up, held.bytes_down),
        (before.bytes_up, before.bytes_down),
        "no byte passes a Hold blackhole"
    );

    proxy.blackhole(Blackhole::Off);
    let expected = messages.concat();
    let mut back = vec![0; expected.len()];
    timeout(T, client.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert!(back == expected, "held bytes come out intact and in order");
    expect_silence(&mut client, Duration::from_millis(50)).await;
}

#[tokio::test]
async fn blackhole_hold_also_holds_a_close() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut client = connect(&proxy).await;
    round_trip(&mut client, b"warm up").await;

    proxy.blackhole(Blackhole::Hold);
    client.write_all(b"last words").await.unwrap();
    client.shutdown().await.unwrap(); // FIN: the echo server would end the connection
    expect_silence(&mut client, Duration::from_millis(200)).await;

    proxy.blackhole(Blackhole::Off);
    let (got, ending) = timeout(T, read_until_closed(&mut client)).await.unwrap();
    assert_eq!((&got[..], ending), (&b"last words"[..], Ending::Eof));
}

#[tokio::test]
async fn blackhole_drop_loses_what_it_swallows() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut client = connect(&proxy).await;
    round_trip(&mut client, b"warm up").await;

    proxy.blackhole(Blackhole::Drop);
    client.write_all(b"lost").await.unwrap();
    expect_silence(&mut client, Duration::from_millis(200)).await;
    assert_eq!(proxy.stats().dropped_up, 4);

    proxy.blackhole(Blackhole::Off);
    round_trip(&mut client, b"kept").await;
    expect_silence(&mut client, Duration::from_millis(50)).await;
}

#[tokio::test]
async fn delay_adds_latency_and_keeps_order() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut client = connect(&proxy).await;
    let baseline = round_trip(&mut client, b"baseline").await;

    let latency = Duration::from_millis(100);
    proxy.delay(latency);
    let delayed = round_trip(&mut client, b"delayed").await;
    assert!(
        delayed >= 2 * latency,
        "{delayed:?} (baseline {baseline:?})"
    );
    assert!(
        delayed < 2 * latency + Duration::from_millis(500),
        "{delayed:?}"
    );

    // Back to back: order kept, and the chunks travel together (latency, not a queue).
    let start = Instant::now();
    let messages: Vec<Vec<u8>> = (0..50).map(|i| format!("<{i}>").into_bytes()).collect();
    for message in &messages {
        client.write_all(message).await.unwrap();
    }
    let expected = messages.concat();
    let mut back = vec![0; expected.len()];
    timeout(T, client.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&back),
        String::from_utf8_lossy(&expected)
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    proxy.delay(Duration::ZERO);
    proxy.delay_one_way(Direction::Down, latency);
    let one_way = round_trip(&mut client, b"one way").await;
    assert!(one_way >= latency, "{one_way:?}");
    assert!(one_way < 2 * latency, "{one_way:?}");
}

#[tokio::test]
async fn throttle_paces_200_kb_at_100_kb_per_s_in_about_2_s() {
    let payload = pattern(200_000);
    let (upstream, _endings) = spawn_streamer(payload.clone()).await;
    let proxy = FaultProxy::start(upstream).await;
    proxy.throttle(100_000);

    let mut client = connect(&proxy).await;
    let start = Instant::now();
    client.write_all(b"g").await.unwrap();
    let mut got = vec![0; payload.len()];
    timeout(T, client.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    let took = start.elapsed();
    println!("200 KB at 100 KB/s took {took:?}");
    assert!(got == payload);
    assert!(took >= Duration::from_millis(1_700), "{took:?}");
    assert!(took <= Duration::from_millis(3_000), "{took:?}");
}

#[tokio::test]
async fn refuse_new_resets_new_connections_at_once() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    proxy.refuse_new(true);
    let mut client = connect(&proxy).await;
    let ending = expect_closed(&mut client, Duration::from_millis(500)).await;
    println!("refused: {ending:?}");
    let stats = proxy.stats();
    assert_eq!((stats.refused, stats.connections), (1, 0));

    proxy.refuse_new(false);
    let mut client = connect(&proxy).await;
    round_trip(&mut client, b"served again").await;
    assert_eq!(proxy.stats().connections, 1);
}

#[tokio::test]
async fn cut_one_connection_leaves_the_others() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut first = connect(&proxy).await;
    round_trip(&mut first, b"one").await;
    let mut second = connect(&proxy).await;
    round_trip(&mut second, b"two").await;
    assert_eq!(proxy.connection_ids(), [ConnId(0), ConnId(1)]);

    assert!(timeout(T, proxy.cut(ConnId(0))).await.unwrap());
    expect_closed(&mut first, Duration::from_secs(1)).await;
    round_trip(&mut second, b"still here").await;
    assert!(!proxy.cut(ConnId(0)).await, "already cut");
    assert_eq!(proxy.connection_ids(), [ConnId(1)]);

    let stats = proxy.stats();
    assert_eq!((stats.connections, stats.live, stats.cuts), (2, 1, 1));
    assert_eq!(stats.bytes_up, (3 + 3 + 10) as u64);
    assert_eq!(stats.bytes_down, stats.bytes_up);
}

#[tokio::test]
async fn reset_restores_transparent_forwarding() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut client = connect(&proxy).await;
    proxy.delay(Duration::from_secs(3));
    proxy.throttle(10);
    proxy.blackhole(Blackhole::Hold);
    proxy.cut_after_bytes(1);
    proxy.cut_new_after_bytes(1);
    proxy.reset();
    let rtt = round_trip(&mut client, &pattern(10_000)).await;
    assert!(rtt < Duration::from_millis(500), "{rtt:?}");
    let mut client = connect(&proxy).await;
    round_trip(&mut client, &pattern(10_000)).await;
    assert_eq!(proxy.stats().cuts, 0);
}

#[tokio::test]
async fn a_peer_closing_cleanly_is_relayed_as_a_clean_close() {
    let (upstream, mut server_endings) = spawn_streamer(b"bye".to_vec()).await;
    let proxy = FaultProxy::start(upstream).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"g").await.unwrap();
    let mut bye = [0; 3];
    timeout(T, client.read_exact(&mut bye))
        .await
        .unwrap()
        .unwrap();
    client.shutdown().await.unwrap();
    let server_end = timeout(T, server_endings.recv()).await.unwrap().unwrap();
    assert_eq!(server_end, Ending::Eof);
    // The streamer drops its socket after reporting: the client sees a clean end too.
    assert_eq!(expect_closed(&mut client, T).await, Ending::Eof);
    assert_eq!(proxy.stats().cuts, 0);
}

#[tokio::test]
async fn an_unreachable_upstream_resets_the_client() {
    let nowhere = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = FaultProxy::start(nowhere).await;
    let mut client = connect(&proxy).await;
    expect_closed(&mut client, T).await;
    assert_eq!(proxy.stats().upstream_failures, 1);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_connections() {
    let proxy = FaultProxy::start(spawn_echo().await).await;
    let mut client = connect(&proxy).await;
    round_trip(&mut client, b"alive").await;
    drop(proxy);
    expect_closed(&mut client, Duration::from_secs(1)).await;
}
