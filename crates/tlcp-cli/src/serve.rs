//! `tlcp serve`: the embedded server with the demo adapters.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let server =
        tlcp_server::spawn(listener, config, demo_adapters(demo)).map_err(|e| e.to_string())?;
    let every = |secs: Option<f64>| {
        secs.map(|secs| {
            let period = Duration::from_secs_f64(secs);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        })
    };
    let (mut cuts, mut stats) = (every(args.cut_streams_every), every(args.stats_every));
    let mut last = server.write_delays();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = async { cuts.as_mut()?.tick().await; Some(()) }, if cuts.is_some() => {
                cut_streams(&server);
            }
            _ = async { stats.as_mut()?.tick().await; Some(()) }, if stats.is_some() => {
                let now = server.write_delays();
                print_stats(&server, &now.since(&last));
                last = now;
            }
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await.map_err(|e| e.to_string())
}

/// The epoch time in microseconds.
fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// `--stats-every`: one JSON line of the period's figures on stdout.
fn print_stats(server: &tlcp_server::ServerHandle, period: &tlcp_server::WriteDelays) {
    let us = |q: f64| period.quantile(q).as_micros();
    println!(
        "{{\"event\":\"stats\",\"at_us\":{},\"sessions\":{},\"queued_bytes\":{},\"lines\":{},\"delay_us\":{{\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}}}}",
        now_us(),
        server.session_count(),
        server.queued_output_bytes(),
        period.count(),
        us(0.5),
        us(0.99),
        us(0.999),
        us(1.0),
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

/// `--cut-streams-every`: cuts every session's stream connection and says so on stdout.
fn cut_streams(server: &tlcp_server::ServerHandle) {
    let at_us = now_us();
    let sessions = server.session_count();
    server.drop_stream_connections();
    tracing::info!(sessions, "cut the stream connections");
    println!("{{\"event\":\"cut\",\"at_us\":{at_us},\"sessions\":{sessions}}}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
}
