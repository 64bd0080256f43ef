//! The loop shared by `tlcp demo` and `tlcp subscribe`: follows the status, the
//! connection events and one subscription, and shows them as JSON lines, CSV or the live
//! table, until `--count`, `--duration`, the end of the subscription, or the user quits.

use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tlcp_client::{
    Client, CloseCause, ConnectionEvent, ItemUpdate, Lost, RealMaxFrequency, Status,
    SubscriptionError, SubscriptionEvent, SubscriptionStream,
};

use crate::Failure;
use crate::output::jsonl::Line;
use crate::output::table::LiveTable;
use crate::tui::{Key, Tui};

/// How the output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The live table (needs a terminal).
    Table,
    /// One JSON object per line.
    Jsonl,
    /// A header line, then one line per update: the item, then the fields.
    Csv,
}

impl Format {
    /// `--format`, or the table on a terminal and JSON lines otherwise.
    pub(crate) fn detect(asked: Option<Format>) -> Format {
        asked.unwrap_or_else(|| {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                Format::Table
            } else {
                Format::Jsonl
            }
        })
    }
}

/// The names given on the command line (`None`: a group or schema name was used).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    /// Item names.
    pub(crate) items: Option<Vec<String>>,
    /// Field names (first level, then the second-level ones).
    pub(crate) fields: Option<Vec<String>>,
}

impl Names {
    fn item(&self, pos: usize) -> String {
        self.items
            .as_ref()
            .and_then(|v| v.get(pos.wrapping_sub(1)))
            .cloned()
            .unwrap_or_else(|| pos.to_string())
    }

    fn field(&self, pos: usize) -> String {
        self.fields
            .as_ref()
            .and_then(|v| v.get(pos.wrapping_sub(1)))
            .cloned()
            .unwrap_or_else(|| pos.to_string())
    }
}

/// When to stop by itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    /// After this many updates.
    pub(crate) count: Option<u64>,
    /// After this long.
    pub(crate) duration: Option<Duration>,
}

/// Everything the loop needs.
pub(crate) struct Run<'a> {
    pub(crate) client: &'a Client,
    pub(crate) subscription: SubscriptionStream,
    pub(crate) names: Names,
    pub(crate) format: Format,
    pub(crate) limits: Limits,
    pub(crate) connect_timeout: Duration,
    pub(crate) server: String,
    pub(crate) title: String,
    /// What `c` does in the table (cut the stream connection, in `tlcp demo`).
    pub(crate) cut: Option<Box<dyn Fn() + Send + 'a>>,
}

// One sink per run: the size of the table variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Sink {
    Lines { csv: bool, header_done: bool },
    Table { table: Option<LiveTable>, tui: Tui },
}

impl Run<'_> {
    /// Runs until done; the terminal is restored whatever happens.
    pub(crate) async fn run(self) -> Result<(), Failure> {
        let Run {
            client,
            mut subscription,
            names,
            format,
            limits,
            connect_timeout,
            server,
            title,
            cut,
        } = self;
        let mut keys = None;
        let mut sink = match format {
            Format::Table => {
                let (tui, rx) = Tui::start().map_err(|e| {
                    Failure::usage(format!(
                        "cannot use the terminal for the table ({e}); try --format jsonl"
                    ))
                })?;
                let table = names
                    .items
                    .as_ref()
                    .zip(names.fields.as_ref())
                    .map(|(items, fields)| LiveTable::new(&title, items, fields));
                keys = Some(rx);
                Sink::Table { table, tui }
            }
            Format::Jsonl => Sink::Lines {
                csv: false,
                header_done: false,
            },
            Format::Csv => Sink::Lines {
                csv: true,
                header_done: false,
            },
        };
        let mut status = client.status();
        let mut events = client.events();
        let started = tokio::time::Instant::now();
        let connect_deadline = started + connect_timeout;
        let end = limits.duration.map(|d| started + d);
        // The status before `connect` is DISCONNECTED: not worth a line.
        let mut last_status = Some(Status::Disconnected);
        let mut updates = 0u64;
        let mut redraw = tokio::time::interval(Duration::from_millis(50));
        redraw.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        client.connect();
        // The session may already be up (a preempted thread, a fast loopback server): this
        // read consumes that change, so it must count as connected too.
        let s = *status.borrow_and_update();
        let mut connected = s.is_connected();
        sink.status(s, &mut last_status)?;
        let result = loop {
            let is_table = matches!(sink, Sink::Table { .. });
            tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() {
                        break Err(Failure::connection("the client stopped unexpectedly".into()));
                    }
                    let s = *status.borrow_and_update();
                    if s.is_connected() {
                        connected = true;
                    }
                    sink.status(s, &mut last_status)?;
                }
                Some(event) = events.next() => {
                    if let Err(f) = sink.connection_event(&event, connected, &server) {
                        break Err(f);
                    }
                }
                event = subscription.next() => match event {
                    Some(SubscriptionEvent::Update(u)) => {
                        sink.update(&u, &names)?;
                        updates += 1;
                        if limits.count.is_some_and(|n| updates >= n) {
                            break Ok(());
                        }
                    }
                    Some(SubscriptionEvent::Error(e)) => {
                        sink.subscription_error(&e)?;
                        let (code, message) = sub_error(&e);
                        break Err(Failure::with_code(1, format!(
                            "the subscription was refused: {}{message} (check the items, fields, mode and --data-adapter)",
                            code.map(|c| format!("code {c}: ")).unwrap_or_default()
                        )));
                    }
                    Some(SubscriptionEvent::Unsubscribed) | None => {
                        sink.line(Line::event("unsubscribed"))?;
                        break Ok(());
                    }
                    Some(other) => sink.subscription_event(&other, &names, &title)?,
                },
                _ = tokio::time::sleep_until(connect_deadline), if !connected => {
                    break Err(Failure::connection(format!(
                        "no session with {server} within {} s (status {}); check --server, --adapter-set and --transport",
                        connect_timeout.as_secs_f64(),
                        client.current_status()
                    )));
                }
                _ = tokio::time::sleep_until(end.unwrap_or(started)), if end.is_some() => break Ok(()),
                _ = redraw.tick(), if is_table => sink.draw()?,
                key = next_key(&mut keys), if is_table => match key {
                    Some(Key::Quit) | None => break Ok(()),
                    Some(Key::Cut) => {
                        if let Some(cut) = &cut {
                            cut();
                            sink.note("stream connection cut: recovering...");
                        }
                    }
                },
                _ = &mut ctrl_c, if !is_table => break Ok(()),
            }
        };
        // Leave the terminal before the caller prints any error.
        drop(sink);
        // The server ends the session at once rather than waiting for it to time out.
        client.close().await;
        result
    }
}

async fn next_key(keys: &mut Option<tokio::sync::mpsc::Receiver<Key>>) -> Option<Key> {
    match keys {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn sub_error(e: &SubscriptionError) -> (Option<i32>, String) {
    match e {
        SubscriptionError::Server { code, message } => (Some(*code), message.clone()),
        other => (None, format!("{other:?}")),
    }
}

fn write_line(s: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}")
        .and_then(|()| out.flush())
        // A closed pipe (`| head`): stop quietly.
        .map_err(|_| Failure::quiet(0))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

impl Sink {
    fn line(&mut self, line: Line) -> Result<(), Failure> {
        match self {
            Sink::Lines { csv: false, .. } => write_line(&line.finish()),
            _ => Ok(()),
        }
    }

    fn note(&mut self, note: &str) {
        if let Sink::Table {
            table: Some(table), ..
        } = self
        {
            table.set_note(note);
        }
    }

    fn status(&mut self, s: Status, last: &mut Option<Status>) -> Result<(), Failure> {
        if *last == Some(s) {
            return Ok(());
        }
        *last = Some(s);
        if let Sink::Table {
            table: Some(table), ..
        } = self
        {
            table.set_status(&s.to_string());
        }
        self.line(Line::event("status").str("status", &s.to_string()))
    }

    fn connection_event(
        &mut self,
        e: &ConnectionEvent,
        connected: bool,
        server: &str,
    ) -> Result<(), Failure> {
        match e {
            ConnectionEvent::SessionRecovered {
                duplicates_skipped, ..
            } => {
                self.note("session recovered");
                self.line(
                    Line::event("session")
                        .str("kind", "recovered")
                        .num("duplicates_skipped", duplicates_skipped),
                )
            }
            ConnectionEvent::SessionReplaced { lost, .. } => {
                let (lost_str, line) = match lost {
                    Lost::AtLeast(n) => (
                        format!(" (at least {n} notifications lost)"),
                        Line::event("session")
                            .str("kind", "replaced")
                            .num("lost", n),
                    ),
                    _ => (
                        String::new(),
                        Line::event("session")
                            .str("kind", "replaced")
                            .opt_str("lost", None),
                    ),
                };
                self.note(&format!("session replaced{lost_str}"));
                self.line(line)
            }
            ConnectionEvent::SessionClosed { cause } => {
                let line = Line::event("session").str("kind", "closed");
                match cause {
                    CloseCause::Server(e) => {
                        self.line(line.num("code", e.code).str("message", &e.message))?;
                        let what = if connected {
                            "the server closed the session"
                        } else {
                            "the server refused the session"
                        };
                        Err(Failure::connection(format!(
                            "{what} ({server}): code {}: {} (check --adapter-set, --user and --password-env)",
                            e.code, e.message
                        )))
                    }
                    _ => self.line(line),
                }
            }
            ConnectionEvent::ProtocolIssue(issue) => {
                let action = match issue.action {
                    tlcp_client::IssueAction::Ignored => "ignored",
                    tlcp_client::IssueAction::Resubscribed(_) => "resubscribed",
                    tlcp_client::IssueAction::ConnectionDropped => "connection_dropped",
                    _ => "other",
                };
                self.note(&format!("malformed input from the server: {issue}"));
                self.line(
                    Line::event("protocol_issue")
                        .str("error", &issue.error.to_string())
                        .str("action", action),
                )
            }
            ConnectionEvent::ServerError(e) => {
                self.note(&format!("server error {}: {}", e.code, e.message));
                self.line(
                    Line::event("server_error")
                        .num("code", e.code)
                        .str("message", &e.message),
                )
            }
            _ => Ok(()),
        }
    }

    fn update(&mut self, u: &ItemUpdate, names: &Names) -> Result<(), Failure> {
        match self {
            Sink::Lines { csv: true, .. } => {
                let mut s = csv_field(
                    &u.item_name()
                        .map_or_else(|| names.item(u.item_pos()), str::to_owned),
                );
                for v in u.values() {
                    s.push(',');
                    s.push_str(&csv_field(v.unwrap_or("")));
                }
                write_line(&s)
            }
            Sink::Lines { csv: false, .. } => {
                let item = u
                    .item_name()
                    .map_or_else(|| names.item(u.item_pos()), str::to_owned);
                let field_names: Vec<String> =
                    (1..=u.value_count()).map(|p| names.field(p)).collect();
                let mut line = Line::event("update")
                    .str("item", &item)
                    .num("pos", u.item_pos())
                    .bool("snapshot", u.is_snapshot());
                if let Some(c) = u.command() {
                    line = line.opt_str("key", u.key()).str("command", c.as_str());
                }
                let line = line
                    .fields(
                        "fields",
                        field_names.iter().map(String::as_str).zip(u.values()),
                    )
                    .list(
                        "changed",
                        u.changed_positions()
                            .filter_map(|p| field_names.get(p - 1).map(String::as_str)),
                    );
                write_line(&line.finish())
            }
            Sink::Table { table, .. } => {
                if let Some(table) = table {
                    let now = Instant::now();
                    let latency = now.checked_duration_since(u.received_at());
                    table.apply(
                        u.item_pos(),
                        (1..=u.value_count()).map(|p| (u.value(p), u.is_changed(p))),
                        now,
                        latency,
                    );
                }
                Ok(())
            }
        }
    }

    fn subscription_error(&mut self, e: &SubscriptionError) -> Result<(), Failure> {
        let (code, message) = sub_error(e);
        let line = Line::event("subscription_error");
        let line = match code {
            Some(c) => line.num("code", c),
            None => line.opt_str("code", None),
        };
        self.line(line.str("message", &message))
    }

    fn subscription_event(
        &mut self,
        e: &SubscriptionEvent,
        names: &Names,
        title: &str,
    ) -> Result<(), Failure> {
        match e {
            SubscriptionEvent::Subscribed {
                items,
                fields,
                key_pos,
                command_pos,
            } => {
                match self {
                    Sink::Lines {
                        csv: true,
                        header_done,
                    } if !*header_done => {
                        *header_done = true;
                        let count = names.fields.as_ref().map_or(*fields, Vec::len);
                        let mut s = "item".to_owned();
                        for p in 1..=count {
                            s.push(',');
                            s.push_str(&csv_field(&names.field(p)));
                        }
                        write_line(&s)?;
                    }
                    Sink::Table { table, .. } if table.is_none() => {
                        let items: Vec<String> = (1..=*items).map(|p| names.item(p)).collect();
                        let count = names.fields.as_ref().map_or(*fields, Vec::len);
                        let fields: Vec<String> = (1..=count).map(|p| names.field(p)).collect();
                        *table = Some(LiveTable::new(title, &items, &fields));
                    }
                    _ => {}
                }
                let mut line = Line::event("subscribed")
                    .num("items", items)
                    .num("fields", fields);
                if let Some(k) = key_pos {
                    line = line.num("key_pos", k);
                }
                if let Some(c) = command_pos {
                    line = line.num("command_pos", c);
                }
                self.line(line)
            }
            SubscriptionEvent::EndOfSnapshot { item, .. } => self.line(
                Line::event("end_of_snapshot")
                    .str("item", &names.item(*item))
                    .num("pos", item),
            ),
            SubscriptionEvent::ClearSnapshot { item, .. } => self.line(
                Line::event("clear_snapshot")
                    .str("item", &names.item(*item))
                    .num("pos", item),
            ),
            SubscriptionEvent::LostUpdates {
                item, count, key, ..
            } => {
                let mut line = Line::event("lost_updates")
                    .str("item", &names.item(*item))
                    .num("pos", item)
                    .num("count", count);
                if let Some(k) = key {
                    line = line.str("key", k);
                }
                self.line(line)
            }
            SubscriptionEvent::Dropped { count } => {
                self.line(Line::event("dropped").num("count", count))
            }
            SubscriptionEvent::RealMaxFrequency { frequency, .. } => {
                let value = match frequency {
                    RealMaxFrequency::PerSecond(f) => f.to_string(),
                    _ => "unlimited".to_owned(),
                };
                self.line(Line::event("real_max_frequency").str("value", &value))
            }
            SubscriptionEvent::Interrupted => self.line(Line::event("interrupted")),
            SubscriptionEvent::SecondLevelError { key, error } => {
                let (code, message) = sub_error(error);
                let line = Line::event("second_level_error").str("key", key);
                let line = match code {
                    Some(c) => line.num("code", c),
                    None => line.opt_str("code", None),
                };
                self.line(line.str("message", &message))
            }
            _ => Ok(()),
        }
    }

    fn draw(&mut self) -> Result<(), Failure> {
        if let Sink::Table { table, tui } = self {
            tui.draw(table.as_mut())
                .map_err(|e| Failure::connection(format!("cannot draw the table: {e}")))?;
        }
        Ok(())
    }
}
