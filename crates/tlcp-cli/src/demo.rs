//! `tlcp demo`: the embedded server with the demo adapters, a client connected to it
//! over WebSocket, and the STOCKS quotes in the live table (JSON lines when piped).

use std::time::Duration;

use tlcp_client::{Client, ForcedTransport, Subscription};
use tlcp_server::ServerConfig;
use tlcp_server::demo::{DemoConfig, demo_adapters};

use crate::run::{Format, Limits, Names, Run};
use crate::{DemoArgs, Failure};

/// The fields shown.
const FIELDS: [&str; 8] = [
    "stock_name",
    "last_price",
    "time",
    "pct_change",
    "bid",
    "ask",
    "min",
    "max",
];

/// Runs the demo until `q`, `--count` or `--duration`.
pub(crate) async fn run(args: DemoArgs) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::connection(format!("cannot listen on 127.0.0.1: {e}")))?;
    let server = tlcp_server::spawn(
        listener,
        ServerConfig::default(),
        demo_adapters(DemoConfig::default()),
    )
    .map_err(|e| Failure::connection(format!("cannot start the demo server: {e}")))?;
    let url = server.url();
    let client = Client::builder(&url, "DEMO")
        .forced_transport(ForcedTransport::Ws)
        .build()
        .map_err(|e| Failure::connection(format!("cannot configure the client: {e}")))?;
    let items: Vec<String> = (1..=10).map(|i| format!("item{i}")).collect();
    let fields: Vec<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
    let subscription = client
        .subscribe(
            Subscription::merge(items.clone(), fields.clone())
                .data_adapter("STOCKS")
                .snapshot(true),
        )
        .await
        .map_err(|e| Failure::connection(format!("cannot subscribe: {e}")))?;
    Run {
        client: &client,
        subscription,
        names: Names {
            items: Some(items),
            fields: Some(fields),
        },
        format: Format::detect(args.format),
        limits: Limits {
            count: args.count,
            duration: args.duration.map(Duration::from_secs_f64),
        },
        connect_timeout: Duration::from_secs(10),
        server: url,
        title: "tlcp demo: STOCKS item1..item10".to_owned(),
        cut: Some(Box::new(|| server.drop_stream_connections())),
    }
    .run()
    .await
}
