//! The bridge against a real `nats-server` (Debian package `nats-server`; `.ci/run`
//! installs it) and tlcp-server in process: every update arrives once, in order per item,
//! and the bridge rides out a NATS server restart.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tlcp_ruststream::bridge::{self, BridgeConfig, Snapshot};
use tlcp_ruststream::{LsConfig, LsSource};
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate};
use tlcp_testkit::nats::NatsServer as Nats;
use tokio::sync::oneshot;

const ITEMS: [&str; 3] = ["alpha", "beta", "gamma"];

/// What the NATS subscriber saw: `seq` values per item, in arrival order.
type Seen = Arc<Mutex<HashMap<String, Vec<u64>>>>;

async fn nats_subscriber(url: &str, prefix: &str) -> Seen {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(url)
        .await
        .unwrap();
    let mut sub = client.subscribe(format!("{prefix}.>")).await.unwrap();
    client.flush().await.unwrap();
    let seen: Seen = Arc::default();
    let out = Arc::clone(&seen);
    tokio::spawn(async move {
        let _client = client;
        while let Some(msg) = sub.next().await {
            let v: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
            let item = v["item"].as_str().unwrap().to_owned();
            assert_eq!(
                msg.subject.as_str(),
                format!("{}.{item}", prefix_of(&msg.subject))
            );
            assert!(v["received_at_us"].as_u64().unwrap() > 0);
            assert!(v["fields"]["f1"].is_string(), "{v}");
            let seq: u64 = v["fields"]["seq"].as_str().unwrap().parse().unwrap();
            out.lock().unwrap().entry(item).or_default().push(seq);
        }
    });
    seen
}

fn prefix_of(subject: &str) -> &str {
    subject.rsplit_once('.').map_or("", |(p, _)| p)
}

async fn feed_server(rate: f64) -> tlcp_server::ServerHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let adapters = tlcp_server::demo::demo_adapters(DemoConfig {
        feed: FeedConfig {
            rate: FeedRate::PerSecond(rate),
            payload_fields: 2,
            ..FeedConfig::default()
        },
        ..DemoConfig::default()
    });
    tlcp_server::spawn(listener, Default::default(), adapters).unwrap()
}

fn config(server: &tlcp_server::ServerHandle, nats: &Nats, prefix: &str) -> BridgeConfig {
    config_at(server.url(), nats, prefix)
}

fn config_at(url: String, nats: &Nats, prefix: &str) -> BridgeConfig {
    let source = LsSource::distinct(ITEMS, ["seq", "f1"])
        .data_adapter("FEED")
        .snapshot(false);
    let mut config = BridgeConfig::new(LsConfig::new(url, "DEMO"), source, nats.url(), prefix);
    config.report_every = Some(Duration::from_millis(500));
    config
}

fn start_bridge(
    config: BridgeConfig,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<Snapshot, bridge::BridgeError>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bridge::run(config, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

fn total(seen: &Seen) -> usize {
    seen.lock().unwrap().values().map(Vec::len).sum()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_arrives_once_in_order() {
    let nats = Nats::start();
    let server = feed_server(100.0).await;
    let seen = nats_subscriber(&nats.url(), "ls.once").await;
    let config = config(&server, &nats, "ls.once");
    let counters = config.counters();
    let (stop, task) = start_bridge(config);
    wait_for("300 updates through the bridge", || total(&seen) >= 300).await;
    stop.send(()).unwrap();
    let end = task.await.unwrap().unwrap();
    assert_eq!(end, counters.snapshot());
    assert_eq!(end.received, end.published, "{end:?}");
    assert_eq!(
        end.publish_errors + end.dropped_by_client + end.lost_server,
        0,
        "{end:?}"
    );
    assert_eq!(end.sessions_replaced, 0, "{end:?}");
    let published = usize::try_from(end.published).unwrap();
    wait_for("every published update on the subscriber", || {
        total(&seen) >= published
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), published);
    for item in ITEMS {
        let seqs = &seen[item];
        // FEED numbers each item's updates from 1: all of them, once each, in order.
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "{item}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_rides_out_a_nats_restart() {
    let mut nats = Nats::start();
    let server = feed_server(100.0).await;
    let seen = nats_subscriber(&nats.url(), "ls.restart").await;
    let config = config(&server, &nats, "ls.restart");
    let counters = config.counters();
    let (stop, task) = start_bridge(config);
    wait_for("updates before the restart", || total(&seen) >= 150).await;
    let before = total(&seen);
    nats.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let port = nats.port();
    let _nats = Nats::start_on(port);
    // Both NATS clients reconnect by themselves, and updates flow again.
    wait_for("updates after the restart", || total(&seen) >= before + 150).await;
    wait_for("the bridge to count the reconnection", || {
        let s = counters.snapshot();
        s.nats_disconnects >= 1 && s.nats_connects >= 2
    })
    .await;
    stop.send(()).unwrap();
    let end = task.await.unwrap().unwrap();
    assert_eq!(end.dropped_by_client + end.lost_server, 0, "{end:?}");
    let seen = seen.lock().unwrap();
    for item in ITEMS {
        // Core NATS may lose what was in flight at the restart, but never duplicates nor
        // reorders: strictly increasing per item.
        let seqs = &seen[item];
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{item}: {seqs:?}");
        assert_eq!(seqs[0], 1, "{item}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_lightstreamer_connections_are_recovered_without_loss() {
    let nats = Nats::start();
    let server = feed_server(100.0).await;
    let proxy = tlcp_testkit::fault::FaultProxy::start(server.local_addr()).await;
    let seen = nats_subscriber(&nats.url(), "ls.cut").await;
    let config = config_at(format!("http://{}", proxy.local_addr()), &nats, "ls.cut");
    let counters = config.counters();
    let (stop, task) = start_bridge(config);
    for cut in 1..=3u64 {
        wait_for("progress before a cut", || {
            total(&seen) >= 150 * cut as usize
        })
        .await;
        proxy.cut_all().await;
        wait_for("the recovery", || {
            counters.snapshot().sessions_recovered >= cut
        })
        .await;
    }
    wait_for("progress after the cuts", || total(&seen) >= 600).await;
    stop.send(()).unwrap();
    let end = task.await.unwrap().unwrap();
    assert_eq!(end.sessions_replaced, 0, "{end:?}");
    assert_eq!(end.dropped_by_client + end.lost_server, 0, "{end:?}");
    let published = usize::try_from(end.published).unwrap();
    wait_for("every published update", || total(&seen) >= published).await;
    let seen = seen.lock().unwrap();
    for item in ITEMS {
        // Recovered sessions lose and duplicate nothing: 1, 2, 3, ... with no gap.
        let seqs = &seen[item];
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "{item}");
    }
}
