//! `tlcp record` and `tlcp replay`: a subscription's session recorded to a file (what
//! the server sent, with the boundaries and times of every read), and replayed offline
//! into the client, giving the same events. See `tlcp_client::recording` for the format.
//!
//! The file's metadata record is JSON: `{"tlcp_cli":1,"args":[...]}`, the `record`
//! arguments (those of `subscribe`) without `--out`, `--user` and `--password-env`, so
//! that `tlcp replay FILE` rebuilds the same subscription with no flags.

use std::path::PathBuf;

use clap::Parser;
use futures_util::{FutureExt, StreamExt};
use tlcp_client::recording::Recording;
use tlcp_client::{Client, ConnectionEvent};

use crate::run::Format;
use crate::{Cli, Command, Failure, SubscribeArgs, subscribe};

/// Options of `tlcp record`.
#[derive(Debug, clap::Args)]
pub(crate) struct RecordArgs {
    /// The file to write the recording to (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    subscribe: SubscribeArgs,
}

/// Options of `tlcp replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// A file written by `tlcp record`.
    file: PathBuf,
    /// Exit (0) after this many updates (default: the `--count` of the recording).
    #[arg(long)]
    count: Option<u64>,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long)]
    format: Option<Format>,
}

/// Options whose value is not kept in a recording.
const NOT_KEPT: [&str; 3] = ["--out", "--user", "--password-env"];

/// The `record` arguments worth keeping (see the module documentation).
fn kept_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if NOT_KEPT.contains(&a.as_str()) {
            skip_value = true;
            continue;
        }
        if NOT_KEPT.iter().any(|o| a.starts_with(&format!("{o}="))) {
            continue;
        }
        out.push(a);
    }
    out
}

pub(crate) async fn record(args: RecordArgs) -> Result<(), Failure> {
    let (sub, names) = subscribe::prepare(&args.subscribe)?;
    // The arguments after `record`.
    let argv: Vec<String> = std::env::args()
        .skip_while(|a| a != "record")
        .skip(1)
        .collect();
    let meta = serde_json::json!({ "tlcp_cli": 1, "args": kept_args(argv) }).to_string();
    let file = std::fs::File::create(&args.out)
        .map_err(|e| Failure::usage(format!("--out {}: cannot create: {e}", args.out.display())))?;
    let client = args
        .subscribe
        .connect
        .client_with(|b| b.record_to(file, meta.as_bytes()))
        .await?;
    let title = format!("record {}", args.subscribe.connect.server);
    subscribe::run_with(&args.subscribe, &client, sub, names, &title).await
}

pub(crate) async fn replay(args: ReplayArgs) -> Result<(), Failure> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file)
        .map_err(|e| Failure::usage(format!("{path}: cannot read: {e}")))?;
    let recording = Recording::parse(&bytes).map_err(|e| Failure::usage(format!("{path}: {e}")))?;
    let mut sub_args = subscribe_args(&recording.meta)
        .map_err(|e| Failure::usage(format!("{path}: not a recording of `tlcp record`: {e}")))?;
    if args.count.is_some() {
        sub_args.count = args.count;
    }
    sub_args.duration = None;
    sub_args.format = args.format;
    let (sub, names) = subscribe::prepare(&sub_args)?;
    let client: Client = sub_args.connect.builder().replay(recording);
    let mut events = client.events();
    let title = format!("replay {path}");
    subscribe::run_with(&sub_args, &client, sub, names, &title).await?;
    // A recording that does not match the session it is replayed into (edited, or made
    // with other options) stops the replay: an error, not a short success.
    while let Some(Some(e)) = events.next().now_or_never() {
        if let ConnectionEvent::ReplayDiverged(why) = e {
            return Err(Failure::with_code(
                1,
                format!("{path}: replay diverged: {why}"),
            ));
        }
    }
    Ok(())
}

/// The `subscribe` options stored in a recording's metadata.
fn subscribe_args(meta: &[u8]) -> Result<SubscribeArgs, String> {
    let v: serde_json::Value = serde_json::from_slice(meta).map_err(|e| e.to_string())?;
    if v["tlcp_cli"] != 1 {
        return Err("unknown metadata version".into());
    }
    let args = v["args"]
        .as_array()
        .ok_or("no arguments")?
        .iter()
        .map(|a| a.as_str().map(str::to_owned).ok_or("bad argument"))
        .collect::<Result<Vec<String>, _>>()?;
    let argv = ["tlcp".to_owned(), "subscribe".to_owned()]
        .into_iter()
        .chain(args);
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Subscribe(a),
        }) => Ok(*a),
        Ok(_) => Err("unexpected command".into()),
        Err(e) => Err(e.to_string().lines().next().unwrap_or("").to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_not_kept() {
        let args = [
            "--server",
            "http://h",
            "--user",
            "bob",
            "--password-env=PW",
            "--out",
            "f",
            "--items",
            "a",
            "b",
            "--out=g",
        ];
        assert_eq!(
            kept_args(args.map(str::to_owned)),
            ["--server", "http://h", "--items", "a", "b"]
        );
    }
}
