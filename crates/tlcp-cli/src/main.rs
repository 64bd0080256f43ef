//! `tlcp`: the command line of the tlcp toolkit.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[allow(dead_code)] // Wired to the client by `tlcp demo`/`tlcp subscribe` (next).
mod output;
mod serve;

/// The tlcp toolkit for Lightstreamer (TLCP).
#[derive(Debug, Parser)]
#[command(name = "tlcp", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run tlcp-server with the demo adapters (DEMO/WELCOME: STOCKS, CHAT, PORTFOLIO, FEED).
    Serve(ServeArgs),
}

/// Options of `tlcp serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on. Loopback by default; binding another interface exposes the
    /// server to the network.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// FEED updates per second per item, or `max` to push as fast as each client reads.
    #[arg(long, default_value = "10")]
    feed_rate: serve::FeedRateArg,
    /// Payload fields per FEED update (besides `ts` and `seq`).
    #[arg(long, default_value_t = 8)]
    feed_fields: usize,
    /// Characters per FEED payload field.
    #[arg(long, default_value_t = 8)]
    feed_field_size: usize,
    /// Seed of the demo market (prices are deterministic for a given seed).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Name announced in SERVNAME.
    #[arg(long, default_value = "tlcp-server")]
    server_name: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tlcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlcp: {e}");
            ExitCode::FAILURE
        }
    }
}
