//! Server throughput: FEED updates received by one WebSocket session.
//!
//! `cargo bench -p tlcp-server --bench server`
//!
//! One in-process server (2-worker tokio runtime) pushes a FEED item as fast as the client
//! reads (`FeedRate::AsFastAsPossible`, back-pressure through `ItemFeed::ready`), 10 fields
//! (`ts seq f1..f8`); the reader splits each WebSocket frame into lines and counts the `U`
//! lines. Each sample reads 200,000 updates; the figure is updates per second. Server and
//! reader share the machine's cores: a lower bound for the server alone.
//!
//! `feed_items_to_one_ws_session`: the same, DISTINCT, with one subscription of 1, 2 or 4
//! FEED items, each pushed by its own task: the items of one session are encoded on as
//! many cores as push them (each in its lane, outside the session's lock).

use std::sync::OnceLock;

use futures_util::StreamExt;

#[path = "support/feed_session.rs"]
mod feed_session;

use feed_session::{Ws, session, session_items};

const UPDATES: usize = 200_000;

fn main() {
    divan::main();
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Reads until `n` update lines have arrived.
async fn read_updates(ws: &mut Ws, n: usize) {
    let mut seen = 0;
    while seen < n {
        let Some(Ok(msg)) = ws.next().await else {
            panic!("the stream ended");
        };
        if let Some(text) = msg.as_text() {
            seen += text.split("\r\n").filter(|l| l.starts_with("U,")).count();
        }
    }
}

#[divan::bench(args = ["MERGE", "DISTINCT"], sample_count = 10, sample_size = 1)]
fn feed_to_one_ws_session(bencher: divan::Bencher<'_, '_>, mode: &str) {
    measure(bencher, runtime().block_on(session(mode, 1024)));
}

#[divan::bench(args = [1, 2, 4], sample_count = 10, sample_size = 1)]
fn feed_items_to_one_ws_session(bencher: divan::Bencher<'_, '_>, items: usize) {
    measure(
        bencher,
        runtime().block_on(session_items("DISTINCT", 1024, items)),
    );
}

/// Reads `UPDATES` updates per sample from the session (after a warm-up), then stops the
/// server.
fn measure(bencher: divan::Bencher<'_, '_>, (server, mut ws): (tlcp_server::ServerHandle, Ws)) {
    let rt = runtime();
    rt.block_on(read_updates(&mut ws, 10_000)); // warm up
    bencher
        .counter(divan::counter::ItemsCount::new(UPDATES))
        .bench_local(|| rt.block_on(read_updates(&mut ws, UPDATES)));
    drop(ws);
    rt.block_on(server.shutdown()).expect("shutdown");
}
