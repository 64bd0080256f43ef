//! `tlcp`: the command line of the tlcp toolkit.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod bridge;
mod connect;
mod demo;
mod output;
mod record;
mod run;
mod send;
mod serve;
mod subscribe;
mod tui;

use connect::{ConnectArgs, parse_secs};
use run::Format;

/// The tlcp toolkit for Lightstreamer (TLCP).
#[derive(Debug, Parser)]
#[command(name = "tlcp", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the demo server in process and watch live quotes (the table on a terminal,
    /// JSON lines otherwise). Keys: q quit, c cut the connection.
    Demo(DemoArgs),
    /// Subscribe to items of a Lightstreamer server and print what comes.
    Subscribe(Box<SubscribeArgs>),
    /// Send a message to the Metadata Adapter and print its outcome (exit code 0
    /// processed, 2 denied, 3 discarded/error/aborted, 1 usage or connection error).
    Send(SendArgs),
    /// Run tlcp-server with the demo adapters (DEMO/WELCOME: STOCKS, CHAT, PORTFOLIO, FEED).
    Serve(ServeArgs),
    /// Subscribe as `subscribe` does, and record what the server sends (with the
    /// boundaries and times of every read) to a file, for bug reports and tests. The
    /// file holds no password, but does hold the session id and the data received.
    Record(Box<record::RecordArgs>),
    /// Replay a file written by `record` into the client, offline and as fast as
    /// possible (in virtual time): prints the same events as the recorded run (no flags
    /// needed: the subscription is in the file).
    Replay(record::ReplayArgs),
    /// Benchmark the client: updates/s and MB/s read from one subscription, or the time
    /// and memory taken by N subscriptions, as JSON lines (against the demo server in
    /// process unless --server is given).
    Bench(Box<bench::BenchArgs>),
    /// Subscribe to items and republish every update on NATS, on `<prefix>.<item>`, as
    /// JSON (fields and receive time); both sides reconnect. Prints a JSON line of
    /// counters (rate, lag, losses) every --report-every seconds and at the end.
    Bridge(Box<BridgeArgs>),
}

/// Options of `tlcp bridge`.
#[derive(Debug, clap::Args)]
struct BridgeArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Data Adapter of the items.
    #[arg(long)]
    data_adapter: Option<String>,
    /// Subscription mode.
    #[arg(long, value_enum, default_value = "merge")]
    mode: ModeArg,
    /// Item names (space- or comma-separated, or repeated).
    #[arg(long, num_args = 1.., required = true)]
    items: Vec<String>,
    /// Field names (space- or comma-separated, or repeated).
    #[arg(long, num_args = 1.., required = true)]
    fields: Vec<String>,
    /// Ask for the snapshot (true or false; default: the server's for the mode).
    #[arg(long)]
    snapshot: Option<bool>,
    /// Maximum update frequency: updates per second, `unlimited` or `unfiltered`.
    #[arg(long, value_parser = subscribe::parse_frequency)]
    max_frequency: Option<tlcp_client::MaxFrequency>,
    /// NATS server URL (comma-separated for several).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Subject prefix: item X is published on `<prefix>.X`.
    #[arg(long, default_value = "lightstreamer")]
    prefix: String,
    /// Seconds between two report lines.
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = parse_secs)]
    report_every: f64,
    /// Exit (0) after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    duration: Option<f64>,
    /// Exit (0) after this many updates published.
    #[arg(long)]
    count: Option<u64>,
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
    /// FEED updates pushed per item between yields to the runtime (with `--feed-rate
    /// max`, between waits for the subscribers): larger batches make larger frames.
    #[arg(long, default_value_t = 512)]
    feed_batch: usize,
    /// Seed of the demo market (prices are deterministic for a given seed).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Name announced in SERVNAME.
    #[arg(long, default_value = "tlcp-server")]
    server_name: String,
    /// Fault injection for recovery tests and benchmarks: every SECS seconds, cut the
    /// stream connection of every session abruptly (as a network failure would; the
    /// sessions stay alive, so clients can recover them). Each cut is printed on stdout as
    /// a JSON line `{"event":"cut","at_us":<microseconds since the Unix epoch>,"sessions":N}`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    cut_streams_every: Option<f64>,
    /// Every SECS seconds, print on stdout a JSON line of the period's figures: sessions,
    /// output bytes waiting for clients, lines written, and how long they waited from the
    /// push to the end of the socket write (microseconds, each line at its write's oldest:
    /// upper bounds): `{"event":"stats","at_us":..,"sessions":..,"queued_bytes":..,
    /// "lines":..,"delay_us":{"p50":..,"p99":..,"p999":..,"max":..}}`.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    stats_every: Option<f64>,
}

/// Options of `tlcp demo`.
#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Exit (0) after this many updates.
    #[arg(long)]
    count: Option<u64>,
    /// Exit (0) after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    duration: Option<f64>,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long)]
    format: Option<Format>,
}

/// Subscription mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Merge,
    Distinct,
    Raw,
    Command,
}

/// Options of `tlcp subscribe`.
#[derive(Debug, clap::Args)]
struct SubscribeArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Data Adapter of the items.
    #[arg(long)]
    data_adapter: Option<String>,
    /// Subscription mode.
    #[arg(long, value_enum, default_value = "merge")]
    mode: ModeArg,
    /// Item names (space- or comma-separated, or repeated).
    #[arg(long, num_args = 1.., conflicts_with = "group", required_unless_present = "group")]
    items: Option<Vec<String>>,
    /// A group name resolved by the Metadata Adapter (items are then shown by position).
    #[arg(long)]
    group: Option<String>,
    /// Field names (space- or comma-separated, or repeated).
    #[arg(long, num_args = 1.., conflicts_with = "schema", required_unless_present = "schema")]
    fields: Option<Vec<String>>,
    /// A schema name resolved by the Metadata Adapter (fields are then shown by position).
    #[arg(long)]
    schema: Option<String>,
    /// Snapshot: true, false, or a number of events (DISTINCT).
    #[arg(long)]
    snapshot: Option<subscribe::SnapshotArg>,
    /// Maximum update frequency: updates per second, `unlimited` or `unfiltered`.
    #[arg(long, value_parser = subscribe::parse_frequency)]
    max_frequency: Option<tlcp_client::MaxFrequency>,
    /// Server buffer size: a number of events or `unlimited`.
    #[arg(long, value_parser = subscribe::parse_buffer)]
    buffer_size: Option<tlcp_client::BufferSize>,
    /// Selector passed to the Metadata Adapter.
    #[arg(long)]
    selector: Option<String>,
    /// COMMAND mode: second-level fields of the items named by the keys.
    #[arg(long, num_args = 1..)]
    second_level_fields: Option<Vec<String>>,
    /// COMMAND mode: Data Adapter of the second-level items.
    #[arg(long)]
    second_level_adapter: Option<String>,
    /// Exit (0) after this many updates.
    #[arg(long)]
    count: Option<u64>,
    /// Exit (0) after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    duration: Option<f64>,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long)]
    format: Option<Format>,
}

/// Options of `tlcp send`.
#[derive(Debug, clap::Args)]
struct SendArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The message text (e.g. `ECHO|hello` on the demo server).
    message: String,
    /// Sequence the message belongs to (messages of a sequence are processed in order).
    #[arg(long)]
    sequence: Option<String>,
    /// Seconds to wait for the outcome.
    #[arg(long, default_value_t = 10.0, value_name = "SECS", value_parser = parse_secs)]
    timeout: f64,
}

/// Why a command failed: its exit code, and the one-line error for stderr (none when
/// the output already said it).
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: Option<String>,
}

impl Failure {
    /// A usage error (exit 1).
    pub(crate) fn usage(message: String) -> Self {
        Self::with_code(1, message)
    }

    /// A connection error (exit 1).
    pub(crate) fn connection(message: String) -> Self {
        Self::with_code(1, message)
    }

    /// Any exit code, with a message.
    pub(crate) fn with_code(code: u8, message: String) -> Self {
        Self {
            code,
            message: Some(message),
        }
    }

    /// An exit code without a message.
    pub(crate) fn quiet(code: u8) -> Self {
        Self {
            code,
            message: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr, for `serve` only by default (RUST_LOG turns them on): the other
    // commands report errors as one line, and the table owns the terminal.
    let default_filter = match &cli.command {
        Command::Serve(_) => "info",
        // Losses and reconnections are logged at warn.
        Command::Bridge(_) => "warn",
        _ => "off",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
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
        Command::Serve(args) => runtime.block_on(serve::run(args)).map_err(Failure::usage),
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::Subscribe(args) => runtime.block_on(subscribe::run(*args)),
        Command::Send(args) => runtime.block_on(send::run(args)),
        Command::Record(args) => runtime.block_on(record::record(*args)),
        Command::Replay(args) => runtime.block_on(record::replay(args)),
        Command::Bench(args) => runtime.block_on(bench::run(*args)),
        Command::Bridge(args) => runtime.block_on(bridge::run(*args)),
    };
    // Do not wait for background tasks (the client's driver, the demo server).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("tlcp: {m}");
            }
            ExitCode::from(f.code)
        }
    }
}
