//! `tlcp bridge`: Lightstreamer items republished on NATS subjects, with a JSON line of
//! counters (rate, lag, losses) every `--report-every` seconds and at the end.

use std::time::{Duration, Instant};

use tlcp_client::{Fields, Items, Mode};
use tlcp_ruststream::bridge::{self, BridgeConfig, Snapshot};
use tlcp_ruststream::{LsConfig, LsSource};

use crate::{BridgeArgs, Failure, ModeArg};

fn split(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split([',', ' ']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The bridge's configuration from the options (the password read from the environment).
fn config(args: &BridgeArgs) -> Result<BridgeConfig, Failure> {
    let mode = match args.mode {
        ModeArg::Merge => Mode::Merge,
        ModeArg::Distinct => Mode::Distinct,
        ModeArg::Raw => Mode::Raw,
        ModeArg::Command => Mode::Command,
    };
    let items = split(&args.items);
    let fields = split(&args.fields);
    if items.is_empty() || fields.is_empty() {
        return Err(Failure::usage(
            "give at least one item (--items) and one field (--fields)".into(),
        ));
    }
    if args.prefix.is_empty() || args.prefix.contains([' ', '*', '>']) {
        return Err(Failure::usage(format!(
            "--prefix {:?}: a NATS subject prefix, without spaces, `*` or `>`",
            args.prefix
        )));
    }
    let mut source = LsSource::new(mode, Items::List(items), Fields::List(fields));
    if let Some(a) = &args.data_adapter {
        source = source.data_adapter(a.clone());
    }
    if let Some(s) = args.snapshot {
        source = source.snapshot(s);
    }
    if let Some(f) = args.max_frequency {
        source = source.with_max_frequency(f);
    }
    let connect = &args.connect;
    let mut ls = LsConfig::new(connect.server.clone(), connect.adapter_set.clone());
    if let Some(user) = &connect.user {
        ls = ls.user(user.clone());
    }
    if let Some(password) = connect.password()? {
        ls = ls.password(password);
    }
    let (transport, protocol) = (connect.transport, connect.protocol);
    ls = ls.configure(move |mut b| {
        if let Some(t) = transport {
            b = b.forced_transport(t);
        }
        if let Some(v) = protocol {
            b = b.protocol_version(v);
        }
        b
    });
    let mut config = BridgeConfig::new(ls, source, args.nats.clone(), args.prefix.clone());
    // The CLI prints its own report lines; the library's go to the log (RUST_LOG=info).
    config.report_every = None;
    Ok(config)
}

fn line(event: &str, s: &Snapshot, rate: f64) -> String {
    let counters = serde_json::json!({
        "rate": (rate * 10.0).round() / 10.0,
        "received": s.received,
        "published": s.published,
        "lag_ms": s.last_lag_us as f64 / 1000.0,
        "max_lag_ms": s.max_lag_us as f64 / 1000.0,
        "publish_errors": s.publish_errors,
        "dropped": s.dropped_by_client,
        "conflated": s.conflated,
        "lost_server": s.lost_server,
        "sessions_recovered": s.sessions_recovered,
        "sessions_replaced": s.sessions_replaced,
        "lost_in_replacement": s.lost_in_replacement,
        "replaced_unknown_loss": s.replaced_unknown_loss,
        "nats_disconnects": s.nats_disconnects,
        "nats_connects": s.nats_connects,
    })
    .to_string();
    // `event` first, as in the other commands' JSON lines.
    format!("{{\"event\":\"{event}\",{}", &counters[1..])
}

/// Runs the bridge until `--duration`, `--count`, Ctrl-C, or a fatal error.
pub(crate) async fn run(args: BridgeArgs) -> Result<(), Failure> {
    let config = config(&args)?;
    args.connect.probe().await?;
    let counters = config.counters();
    let started = Instant::now();
    let duration = args.duration.map(Duration::from_secs_f64);
    let count = args.count;
    let stop = {
        let counters = counters.clone();
        async move {
            let limits = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if duration.is_some_and(|d| started.elapsed() >= d)
                        || count.is_some_and(|c| counters.snapshot().published >= c)
                    {
                        return;
                    }
                }
            };
            tokio::select! {
                () = limits => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    };
    let every = Duration::from_secs_f64(args.report_every);
    let reporter = {
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            let mut last = (Instant::now(), counters.snapshot());
            loop {
                interval.tick().await;
                let now = (Instant::now(), counters.snapshot());
                let secs = now.0.duration_since(last.0).as_secs_f64();
                let rate = (now.1.published - last.1.published) as f64 / secs.max(1e-9);
                println!("{}", line("report", &now.1, rate));
                last = now;
            }
        })
    };
    let result = bridge::run(config, stop).await;
    reporter.abort();
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(end) => {
            println!(
                "{}",
                line("end", &end, end.published as f64 / secs.max(1e-9))
            );
            Ok(())
        }
        Err(e) => Err(Failure::connection(format!("bridge: {e}"))),
    }
}
