//! The lightstreamer-rs 1.0.1 contender of `tlcp-bench compare`.
//!
//! Same command line, phases, per-update work and JSON line as every other contender
//! (`crates/tlcp-bench/src/measure.rs`, compiled in below). lightstreamer-rs delivers each
//! update as a `SubscriptionEvent::Update(Box<ItemUpdate>)` on a bounded `Updates` stream
//! (it blocks rather than drops); its session events (connected with a `Continuity`,
//! recovered, disconnected, closed) come on a separate `SessionEvents` stream, which is
//! drained here and summarised in `notes`.

#[path = "../../../crates/tlcp-bench/src/measure.rs"]
mod measure;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lightstreamer_rs::{
    AdapterSet, Client, ClientConfig, FieldSchema, ItemGroup, ServerAddress, SessionEvent,
    Snapshot, Subscription, SubscriptionEvent, SubscriptionMode,
};
use measure::{Args, FIELDS, Recorder, Scenario};

const NAME: &str = "lightstreamer-rs";

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lightstreamer-rs-contender: {e}");
            std::process::exit(2);
        }
    };
    // The same runtime shape as the tlcp-client contender: tokio's multi-thread default.
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            println!("{}", measure::error_report(NAME, &args, &e.to_string()));
            return;
        }
    };
    let line = rt.block_on(async {
        match run(&args).await {
            Ok(line) => line,
            Err(e) => measure::error_report(NAME, &args, &e),
        }
    });
    println!("{line}");
    rt.shutdown_timeout(Duration::from_millis(200));
}

async fn run(args: &Args) -> Result<String, String> {
    let config =
        ClientConfig::builder(ServerAddress::try_new(&args.url).map_err(|e| e.to_string())?)
            .with_adapter_set(AdapterSet::try_new("DEMO").map_err(|e| e.to_string())?)
            .build()
            .map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs_f64(args.timeout);
    let (client, mut session_events) = tokio::time::timeout(timeout, Client::connect(config))
        .await
        .map_err(|_| "no session within the timeout".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    // Session events, summarised: how many of each kind (and the last closing reason).
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let log = log.clone();
        tokio::spawn(async move {
            while let Some(ev) = session_events.next().await {
                let s = match &ev {
                    SessionEvent::Connected(c) => format!("connected({:?})", c.continuity),
                    SessionEvent::Recovered(r) => format!("recovered({:?})", r),
                    SessionEvent::Disconnected { .. } => "disconnected".to_owned(),
                    SessionEvent::Closed(r) => format!("closed({r:?})"),
                    SessionEvent::Resubscribed(_) => "resubscribed".to_owned(),
                    _ => continue,
                };
                if let Ok(mut l) = log.lock() {
                    l.push(s);
                }
            }
        });
    }
    let line = if args.scenario == Scenario::Scale {
        scale(args, &client, timeout, &log).await
    } else {
        flow(args, &client, &log).await?
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), client.disconnect()).await;
    Ok(line)
}

fn summary(log: &[String]) -> String {
    // Count identical consecutive kinds, keeping the text of the first.
    let mut out: Vec<(String, usize)> = Vec::new();
    for s in log {
        let kind = s.split('(').next().unwrap_or(s).to_owned();
        match out
            .iter_mut()
            .find(|(k, _)| k.split('(').next() == Some(kind.as_str()))
        {
            Some((_, n)) => *n += 1,
            None => out.push((s.clone(), 1)),
        }
    }
    out.iter()
        .map(|(s, n)| format!("{n}x {}", s.chars().take(160).collect::<String>()))
        .collect::<Vec<_>>()
        .join("; ")
}

type Log = Arc<Mutex<Vec<String>>>;

fn session_summary(log: &Log) -> String {
    log.lock().map(|l| summary(&l)).unwrap_or_default()
}

async fn flow(args: &Args, client: &Client, log: &Log) -> Result<String, String> {
    let mode = if args.distinct {
        SubscriptionMode::Distinct
    } else {
        SubscriptionMode::Merge
    };
    let sub = Subscription::new(
        mode,
        ItemGroup::from_items(args.item_names()).map_err(|e| e.to_string())?,
        FieldSchema::from_fields(FIELDS).map_err(|e| e.to_string())?,
    )
    .with_data_adapter("FEED")
    .with_snapshot(Snapshot::Off);
    let mut updates = client
        .subscribe(sub)
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut rec = Recorder::new(args);
    let window = tokio::time::sleep_until(
        tokio::time::Instant::now() + Duration::from_secs_f64(args.warmup),
    );
    let end = tokio::time::sleep_until(tokio::time::Instant::from_std(rec.end(args)));
    tokio::pin!(window, end);
    let mut window_done = false;
    let mut notes = String::new();
    loop {
        tokio::select! {
            biased;
            () = &mut end => break,
            () = &mut window, if !window_done => { window_done = true; rec.poll_window(); }
            ev = updates.next() => match ev {
                Some(SubscriptionEvent::Update(u)) => {
                    let item = u.item_index().saturating_sub(1);
                    rec.on_update(item, (1..=FIELDS.len()).map(|p| u.field(p).and_then(|v| v.text())));
                    if rec.past_end() { break; }
                }
                Some(other) => {
                    let s = format!("{other:?}");
                    if !s.starts_with("Activated") && notes.len() < 300 {
                        notes.push_str(&s.chars().take(120).collect::<String>());
                        notes.push_str("; ");
                    }
                }
                None => { notes.push_str("the update stream ended; "); break; }
            }
        }
    }
    notes.push_str("session events: ");
    notes.push_str(&session_summary(log));
    Ok(rec.report(NAME, args, &notes))
}

async fn scale(args: &Args, client: &Client, timeout: Duration, log: &Log) -> String {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut streams = Vec::with_capacity(args.items);
    for i in 1..=args.items {
        let sub = match (
            ItemGroup::from_items([format!("item{i}")]),
            FieldSchema::from_fields(FIELDS),
        ) {
            (Ok(g), Ok(f)) => Subscription::new(SubscriptionMode::Distinct, g, f)
                .with_data_adapter("FEED")
                .with_snapshot(Snapshot::On),
            (Err(e), _) | (_, Err(e)) => {
                return measure::scale_report(NAME, args, 0, 0.0, Some(&e.to_string()), "");
            }
        };
        match tokio::time::timeout_at(deadline, client.subscribe(sub)).await {
            Ok(Ok(s)) => streams.push(s),
            Ok(Err(e)) => {
                let err = format!("subscription {i}: {e}");
                return measure::scale_report(
                    NAME,
                    args,
                    0,
                    start.elapsed().as_secs_f64(),
                    Some(&err),
                    "",
                );
            }
            Err(_) => {
                let err = format!("timed out sending subscription {i}");
                return measure::scale_report(
                    NAME,
                    args,
                    0,
                    start.elapsed().as_secs_f64(),
                    Some(&err),
                    "",
                );
            }
        }
    }
    // Every stream until its end of snapshot (one item each).
    let mut done = 0;
    for s in &mut streams {
        loop {
            match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(SubscriptionEvent::EndOfSnapshot { .. })) => {
                    done += 1;
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    let err = "a subscription stream ended before its end of snapshot";
                    return measure::scale_report(
                        NAME,
                        args,
                        done,
                        start.elapsed().as_secs_f64(),
                        Some(err),
                        "",
                    );
                }
                Err(_) => {
                    let err = format!("{done} of {} complete at the timeout", args.items);
                    return measure::scale_report(
                        NAME,
                        args,
                        done,
                        start.elapsed().as_secs_f64(),
                        Some(&err),
                        "",
                    );
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let line = measure::scale_report(NAME, args, done, seconds, None, &session_summary(log));
    drop(streams);
    line
}
