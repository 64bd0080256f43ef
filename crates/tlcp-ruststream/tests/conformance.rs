//! The RustStream conformance suites that apply to a Lightstreamer broker, run against
//! tlcp-server in process (demo adapters, `CHAT` echo) on a free loopback port.
//!
//! Every suite names its subjects with `unique_subject`; they travel through the topic
//! scheme: a publish to `T` sends `CHAT|T|<payload>`, the chat room echoes it as a DISTINCT
//! update whose `message` is `T|<payload>`, and `LsSource::chat_topic(T)` delivers
//! `<payload>`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ruststream::conformance::settlement::Answer;
use ruststream::conformance::{harness, lifecycle, settlement};
use ruststream::testing::Backlog;
use tlcp_ruststream::{
    ConnectedLs, LsBroker, LsConfig, LsPublish, LsPublisher, LsSource, MessageFormat,
};

async fn server() -> tlcp_server::ServerHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let adapters = tlcp_server::demo::demo_adapters(Default::default());
    tlcp_server::spawn(listener, Default::default(), adapters).unwrap()
}

fn broker_factory(url: String) -> impl Fn() -> LsBroker + Send + Sync + 'static {
    move || LsBroker::new(LsConfig::new(url.clone(), "DEMO"))
}

fn source(name: &str) -> LsSource {
    LsSource::chat_topic(name)
}

fn publisher(connected: &ConnectedLs) -> LsPublisher {
    LsPublish::default()
        .format(MessageFormat::topic("CHAT"))
        .live(connected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_ladder() {
    let server = server().await;
    harness::lifecycle(broker_factory(server.url()), source, publisher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_answers_unsupported() {
    let server = server().await;
    let answers = settlement::suite(
        broker_factory(server.url()),
        source,
        publisher,
        Duration::ZERO,
    )
    .await;
    // Lightstreamer has no settlement: every answer is "unsupported", and says so.
    assert_eq!(answers.ack, Answer::Unsupported);
    assert_eq!(answers.reject, Answer::Unsupported);
    assert_eq!(answers.requeue, Answer::Unsupported);
    assert!(!answers.delay, "no delayed redelivery either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_a_publish() {
    let server = server().await;
    lifecycle::shutdown_flushes(
        broker_factory(server.url()),
        source,
        publisher,
        Backlog::Missed,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_handle_closes() {
    let server = server().await;
    lifecycle::shared_handle_closes(broker_factory(server.url()), source, publisher).await;
}
