//! `tlcp serve`: the embedded server with the demo adapters.

use std::str::FromStr;

use tlcp_server::ServerConfig;
use tlcp_server::demo::{DemoConfig, FeedConfig, FeedRate, demo_adapters};

use crate::ServeArgs;

/// `--feed-rate`: a number of updates per second, or `max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedRateArg(FeedRate);

impl FromStr for FeedRateArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Self(FeedRate::AsFastAsPossible));
        }
        match s.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => Ok(Self(FeedRate::PerSecond(r))),
            _ => Err(format!(
                "expected a positive number of updates per second or `max`, got {s:?}"
            )),
        }
    }
}

/// Runs the server until Ctrl-C.
pub(crate) async fn run(args: ServeArgs) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e} (is the port in use? try --listen 127.0.0.1:0)",
                args.listen
            )
        })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let demo = DemoConfig {
        seed: args.seed,
        feed: FeedConfig {
            rate: args.feed_rate.0,
            payload_fields: args.feed_fields,
            field_size: args.feed_field_size,
            batch: args.feed_batch,
        },
        ..DemoConfig::default()
    };
    let mut config = ServerConfig::default();
    config.server_name = args.server_name;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening on a non-loopback address: the demo server has no authentication");
    }
    // Print the address on stdout so scripts (and tests) can find a port chosen by the OS.
    println!("tlcp-server listening on http://{addr} (adapter sets DEMO and WELCOME)");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    tracing::info!(%addr, "serving; Ctrl-C to stop");
    tlcp_server::run(listener, config, demo_adapters(demo), async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
    .map_err(|e| e.to_string())
}
