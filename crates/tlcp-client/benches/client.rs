//! End-to-end client benchmarks against the in-process tlcp-server (loopback, WebSocket):
//!
//! * `throughput`: updates per second from the `FEED` adapter (`AsFastAsPossible`) to one
//!   subscription stream, consumed (values read) by the application, in MERGE and
//!   DISTINCT;
//! * `throughput_client_alone`: the same reading of every update (DISTINCT, back-pressure
//!   delivery so that none is dropped), from tlcp-testkit's scripted peer blasting
//!   pre-encoded `FEED`-like lines (a cycle of 4,096, in 64 KiB frames): the server side
//!   then costs next to nothing, and the figure is the client's own limit;
//! * `open_10k_subscriptions`: the time to open 10,000 MERGE subscriptions (one `FEED`
//!   item each, no updates) until every one is `Subscribed`; prints the process RSS after
//!   (it includes the in-process server).
//!
//! `cargo bench -p tlcp-client --bench client`

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use futures_util::StreamExt;
use tlcp_client::{
    Client, Delivery, ForcedTransport, Subscription, SubscriptionEvent, SubscriptionStream,
};
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate};
use tlcp_server::{ServerConfig, ServerHandle};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A server whose `FEED` adapter pushes at `rate`.
fn server(rate: FeedRate) -> ServerHandle {
    runtime().block_on(async {
        let demo = DemoConfig {
            feed: FeedConfig {
                rate,
                ..FeedConfig::default()
            },
            ..DemoConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tlcp_server::spawn(
            listener,
            ServerConfig::default(),
            tlcp_server::demo::demo_adapters(demo),
        )
        .unwrap()
    })
}

async fn connect(server: &ServerHandle) -> Client {
    let client = Client::builder(&server.url(), "DEMO")
        .forced_transport(ForcedTransport::WsStreaming)
        .build()
        .unwrap();
    client.connect();
    client.connected().await.unwrap();
    client
}

const FIELDS: [&str; 10] = ["ts", "seq", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];

/// Updates read per iteration.
const N: usize = 200_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reads `n` updates, touching their values.
async fn consume(sub: &mut SubscriptionStream, n: usize) -> usize {
    let mut read = 0;
    let mut bytes = 0;
    while read < n {
        match sub.next().await.unwrap() {
            SubscriptionEvent::Update(u) => {
                bytes += u.values().flatten().map(str::len).sum::<usize>();
                read += 1;
            }
            SubscriptionEvent::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    bytes
}

#[divan::bench(args = ["MERGE", "DISTINCT"], sample_count = 10, sample_size = 1)]
fn throughput(bencher: Bencher<'_, '_>, mode: &str) {
    let rt = runtime();
    let server = server(FeedRate::AsFastAsPossible);
    let (client, mut sub) = rt.block_on(async {
        let client = connect(&server).await;
        let s = match mode {
            "MERGE" => Subscription::merge(["bench"], FIELDS),
            _ => Subscription::distinct(["bench"], FIELDS).snapshot(false),
        };
        let mut sub = client.subscribe(s.data_adapter("FEED")).await.unwrap();
        consume(&mut sub, 10_000).await; // warm up
        (client, sub)
    });
    let (elapsed, d) = measure(bencher, rt, &client, &mut sub);
    eprintln!(
        "{mode}: client received {:.2} M updates/s ({} updates, {} conflated, {:.1} MB/s, {:.0} B/chunk)",
        d.updates as f64 / elapsed / 1e6,
        d.updates,
        d.conflated,
        d.bytes as f64 / elapsed / 1e6,
        d.bytes as f64 / d.chunks.max(1) as f64,
    );
    drop(sub);
    drop(client);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
}

/// How much the client's counters moved during a measurement.
struct Moved {
    updates: u64,
    bytes: u64,
    chunks: u64,
    conflated: u64,
    dropped_by_slow_consumers: u64,
}

/// Benchmarks reading `N` updates of `sub`; returns the seconds taken by all the
/// iterations and how much the client's counters moved meanwhile.
fn measure(
    bencher: Bencher<'_, '_>,
    rt: &Runtime,
    client: &Client,
    sub: &mut SubscriptionStream,
) -> (f64, Moved) {
    let before = client.stats();
    let started = Instant::now();
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| black_box(rt.block_on(consume(sub, N))));
    let elapsed = started.elapsed().as_secs_f64();
    let after = client.stats();
    let moved = Moved {
        updates: after.updates - before.updates,
        bytes: after.bytes - before.bytes,
        chunks: after.chunks - before.chunks,
        conflated: after.conflated - before.conflated,
        dropped_by_slow_consumers: after.dropped_by_slow_consumers
            - before.dropped_by_slow_consumers,
    };
    (elapsed, moved)
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn throughput_client_alone(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let (client, mut sub, peer) = rt.block_on(async {
        let (first, cycle) = tlcp_testkit::scripted::feed_cycle(4096, 8, 2026);
        let peer = tlcp_testkit::scripted::ScriptedPeer::blasting(FIELDS.len(), first, cycle).await;
        let client = Client::builder(&peer.url(), "DEMO")
            .forced_transport(ForcedTransport::WsStreaming)
            .build()
            .unwrap();
        client.connect();
        client.connected().await.unwrap();
        let s = Subscription::distinct(["bench"], FIELDS)
            .snapshot(false)
            .delivery(Delivery::Backpressure {
                capacity: tlcp_client::DEFAULT_QUEUE_CAPACITY,
            });
        let mut sub = client.subscribe(s).await.unwrap();
        consume(&mut sub, 10_000).await; // warm up
        (client, sub, peer)
    });
    let (elapsed, d) = measure(bencher, rt, &client, &mut sub);
    eprintln!(
        "client alone: received {:.2} M updates/s ({} updates, {} dropped, {:.1} MB/s; the peer wrote {})",
        d.updates as f64 / elapsed / 1e6,
        d.updates,
        d.dropped_by_slow_consumers,
        d.bytes as f64 / elapsed / 1e6,
        peer.updates_sent(),
    );
    drop(sub);
    drop(client);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
}

const SUBSCRIPTIONS: usize = 10_000;

#[divan::bench(sample_count = 3, sample_size = 1)]
fn open_10k_subscriptions(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let server = server(FeedRate::PerSecond(0.0));
    let mut round = 0;
    bencher
        .with_inputs(|| rt.block_on(connect(&server)))
        .bench_local_values(|client| {
            let subs = rt.block_on(async {
                let mut subs = Vec::with_capacity(SUBSCRIPTIONS);
                for i in 0..SUBSCRIPTIONS {
                    let s =
                        Subscription::merge([format!("i{i}")], ["seq", "f1"]).data_adapter("FEED");
                    subs.push(client.subscribe(s).await.unwrap());
                }
                for sub in &mut subs {
                    loop {
                        match sub.next().await.unwrap() {
                            SubscriptionEvent::Subscribed { .. } => break,
                            SubscriptionEvent::Error(e) => panic!("{e:?}"),
                            _ => {}
                        }
                    }
                }
                subs
            });
            round += 1;
            eprintln!(
                "open_10k_subscriptions round {round}: VmRSS {} MiB (client + in-process server)",
                rss_kib() / 1024
            );
            (client, subs)
        });
}
