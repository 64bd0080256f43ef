//! `tlcp subscribe`: one subscription to any server, as JSON lines, CSV or the live table.

use std::str::FromStr;
use std::time::Duration;

use tlcp_client::{BufferSize, Client, Fields, Items, MaxFrequency, Mode, Subscription};

use crate::run::{Format, Limits, Names, Run};
use crate::{Failure, SubscribeArgs};

/// `--snapshot`: `true`, `false` or a number of events (DISTINCT).
#[derive(Debug, Clone, Copy)]
pub(crate) enum SnapshotArg {
    Enabled(bool),
    Length(u32),
}

impl FromStr for SnapshotArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "true" | "yes" => Ok(Self::Enabled(true)),
            "false" | "no" => Ok(Self::Enabled(false)),
            _ => s
                .parse()
                .map(Self::Length)
                .map_err(|_| format!("expected true, false or a number of events, got {s:?}")),
        }
    }
}

/// `--max-frequency`: updates per second, `unlimited` or `unfiltered`.
pub(crate) fn parse_frequency(s: &str) -> Result<MaxFrequency, String> {
    match s {
        "unlimited" => Ok(MaxFrequency::Unlimited),
        "unfiltered" => Ok(MaxFrequency::Unfiltered),
        _ => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(MaxFrequency::PerSecond(f)),
            _ => Err(format!(
                "expected a positive number of updates per second, `unlimited` or `unfiltered`, got {s:?}"
            )),
        },
    }
}

/// `--buffer-size`: a number of events or `unlimited`.
pub(crate) fn parse_buffer(s: &str) -> Result<BufferSize, String> {
    if s == "unlimited" {
        return Ok(BufferSize::Unlimited);
    }
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(BufferSize::Events(n)),
        _ => Err(format!(
            "expected a positive number of events or `unlimited`, got {s:?}"
        )),
    }
}

fn split(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split([',', ' ']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs the subscription until `--count`, `--duration`, its end or Ctrl-C.
pub(crate) async fn run(args: SubscribeArgs) -> Result<(), Failure> {
    let (sub, names) = prepare(&args)?;
    let client = args.connect.client().await?;
    let title = format!("subscribe {}", args.connect.server);
    run_with(&args, &client, sub, names, &title).await
}

/// Subscribes with `client` and prints what comes (`subscribe`, `record`, `replay`).
pub(crate) async fn run_with(
    args: &SubscribeArgs,
    client: &Client,
    sub: Subscription,
    names: Names,
    title: &str,
) -> Result<(), Failure> {
    let format = Format::detect(args.format);
    let subscription = client
        .subscribe(sub)
        .await
        .map_err(|e| Failure::usage(format!("cannot subscribe: {e}")))?;
    Run {
        client,
        subscription,
        names,
        format,
        limits: Limits {
            count: args.count,
            duration: args.duration.map(Duration::from_secs_f64),
        },
        connect_timeout: args.connect.connect_timeout(),
        server: args.connect.server.clone(),
        title: format!("tlcp {title}"),
        cut: None,
    }
    .run()
    .await
}

/// The subscription the options describe, and the names to show.
pub(crate) fn prepare(args: &SubscribeArgs) -> Result<(Subscription, Names), Failure> {
    let mode = match args.mode {
        crate::ModeArg::Merge => Mode::Merge,
        crate::ModeArg::Distinct => Mode::Distinct,
        crate::ModeArg::Raw => Mode::Raw,
        crate::ModeArg::Command => Mode::Command,
    };
    let (items, item_names) = match (&args.items, &args.group) {
        (Some(list), None) => {
            let v = split(list);
            if v.is_empty() {
                return Err(Failure::usage(
                    "--items: give at least one item name".into(),
                ));
            }
            (Items::List(v.clone()), Some(v))
        }
        (None, Some(g)) => (Items::Group(g.clone()), None),
        _ => {
            return Err(Failure::usage(
                "give the items with --items NAME... or --group NAME".into(),
            ));
        }
    };
    let (fields, field_names) = match (&args.fields, &args.schema) {
        (Some(list), None) => {
            let v = split(list);
            if v.is_empty() {
                return Err(Failure::usage(
                    "--fields: give at least one field name".into(),
                ));
            }
            (Fields::List(v.clone()), Some(v))
        }
        (None, Some(s)) => (Fields::Schema(s.clone()), None),
        _ => {
            return Err(Failure::usage(
                "give the fields with --fields NAME... or --schema NAME".into(),
            ));
        }
    };
    if mode == Mode::Command
        && let Some(f) = &field_names
        && !(f.iter().any(|f| f == "key") && f.iter().any(|f| f == "command"))
    {
        return Err(Failure::usage(
            "--mode command: --fields must include `key` and `command`".into(),
        ));
    }
    let second: Option<Vec<String>> = args.second_level_fields.as_deref().map(split);
    if (second.is_some() || args.second_level_adapter.is_some()) && mode != Mode::Command {
        return Err(Failure::usage(
            "--second-level-fields/--second-level-adapter need --mode command".into(),
        ));
    }
    let mut sub = Subscription::new(mode, items, fields);
    if let Some(a) = &args.data_adapter {
        sub = sub.data_adapter(a);
    }
    if let Some(s) = &args.selector {
        sub = sub.selector(s);
    }
    match args.snapshot {
        Some(SnapshotArg::Enabled(b)) => sub = sub.snapshot(b),
        Some(SnapshotArg::Length(n)) => {
            if mode != Mode::Distinct {
                return Err(Failure::usage(
                    "--snapshot N (a length) needs --mode distinct; use true or false".into(),
                ));
            }
            sub = sub.snapshot_length(n);
        }
        None => {}
    }
    if let Some(f) = args.max_frequency {
        sub = sub.max_frequency(f);
    }
    if let Some(b) = args.buffer_size {
        sub = sub.buffer_size(b);
    }
    if let Some(second) = &second {
        sub = sub.second_level_fields(second.clone(), args.second_level_adapter.as_deref());
    }
    let names = Names {
        items: item_names,
        fields: field_names.map(|mut f| {
            f.extend(second.clone().unwrap_or_default());
            f
        }),
    };
    Ok((sub, names))
}
