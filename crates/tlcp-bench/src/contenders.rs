//! The Rust contenders run by `tlcp-bench contender <name>` (each in its own process):
//!
//! * `tlcp-client`: the client's public API, `Client` + `SubscriptionStream`, each update an
//!   `ItemUpdate` read with `values()`, with `Delivery::Backpressure` so that every update
//!   the server sends reaches the application (as with the other clients: the default
//!   policies conflate MERGE and drop DISTINCT updates for a slow reader);
//!   `tlcp-client-busy-poll` is the same with `ReadMode::BusyPoll`.
//! * `raw-split`: the physical limit of the socket: tlcp-client's own WebSocket transport
//!   (same socket settings), a TLCP session opened by hand, and every received message only
//!   split into lines (`memchr`); a line starting with `U,` counts as an update. Nothing is
//!   decoded: it is the ceiling, not a client.
//! * `raw-decode`: the same reader, and each line framed by `LineDecoder`, parsed by
//!   `Notification::parse_bytes` and its fields decoded in place into a fixed `Row` per item
//!   (tlcp-proto), then read as every contender reads them: the limit for a client that
//!   does real work. No recovery, no session handling beyond the first connection.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tlcp_client::transport::{FrameSource, ReadMode, ServerAddress, Transport, TransportConfig};
use tlcp_client::{Client, DEFAULT_QUEUE_CAPACITY, Delivery, Subscription, SubscriptionEvent};
use tlcp_proto::fields::{ChangedFields, Row};
use tlcp_proto::{LineDecoder, Notification, ProtocolVersion};

use crate::measure::{self, Args, FIELDS, Recorder, Scenario};

/// Runs contender `name` and prints its JSON line.
pub(crate) fn run(name: &str, argv: Vec<String>) -> Result<(), String> {
    let args = Args::parse(argv)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let line = rt.block_on(async {
        let result = match name {
            "tlcp-client" => client(&args, false).await,
            "tlcp-client-busy-poll" => client(&args, true).await,
            "raw-split" | "raw-decode" => raw(&args, name == "raw-decode").await,
            other => Err(format!("unknown contender {other}")),
        };
        result.unwrap_or_else(|e| measure::error_report(name, &args, &e))
    });
    println!("{line}");
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

async fn client(args: &Args, busy: bool) -> Result<String, String> {
    let name = if busy {
        "tlcp-client-busy-poll"
    } else {
        "tlcp-client"
    };
    let mut builder = Client::builder(&args.url, "DEMO");
    if busy {
        builder = builder.read_mode(ReadMode::BusyPoll);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    client.connect();
    let timeout = Duration::from_secs_f64(args.timeout);
    match tokio::time::timeout(timeout, client.connected()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Err(_) => return Err("no session within the timeout".into()),
    }
    let line = if args.scenario == Scenario::Scale {
        client_scale(args, &client, name, timeout).await
    } else {
        let sub = if args.distinct {
            Subscription::distinct(args.item_names(), FIELDS)
        } else {
            Subscription::merge(args.item_names(), FIELDS)
        }
        .data_adapter("FEED")
        .snapshot(false)
        // Every update the server sends reaches the application, as with the other
        // clients (the defaults conflate MERGE and drop DISTINCT for a slow reader).
        .delivery(Delivery::Backpressure {
            capacity: DEFAULT_QUEUE_CAPACITY,
        });
        let mut stream = client
            .subscribe(sub)
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
        let mut rec = Recorder::new(args);
        let window = tokio::time::sleep(Duration::from_secs_f64(args.warmup));
        let end = tokio::time::sleep_until(tokio::time::Instant::from_std(rec.end(args)));
        tokio::pin!(window, end);
        let mut window_done = false;
        let mut notes = String::new();
        loop {
            tokio::select! {
                biased;
                () = &mut end => break,
                () = &mut window, if !window_done => { window_done = true; rec.poll_window(); }
                ev = stream.next() => match ev {
                    Some(SubscriptionEvent::Update(u)) => {
                        rec.on_update(u.item_pos().saturating_sub(1), u.values());
                        if rec.past_end() { break; }
                    }
                    Some(ev) if ev.is_terminal() => {
                        notes.push_str(&format!("subscription ended: {ev:?}; "));
                        break;
                    }
                    Some(_) => {}
                    None => { notes.push_str("the client stopped; "); break; }
                }
            }
        }
        let s = client.stats();
        notes.push_str(&format!(
            "client stats: sessions {}, reconnects {}, recoveries {}, lost_updates {}, conflated {}, dropped_by_slow_consumers {}",
            s.sessions, s.reconnects, s.recoveries, s.lost_updates, s.conflated, s.dropped_by_slow_consumers
        ));
        rec.report(name, args, &notes)
    };
    client.close().await;
    Ok(line)
}

async fn client_scale(args: &Args, client: &Client, name: &str, timeout: Duration) -> String {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut streams = Vec::with_capacity(args.items);
    for i in 1..=args.items {
        let sub = Subscription::distinct([format!("item{i}")], FIELDS)
            .data_adapter("FEED")
            .snapshot(true);
        match client.subscribe(sub).await {
            Ok(s) => streams.push(s),
            Err(e) => {
                let err = format!("subscription {i}: {e}");
                return measure::scale_report(name, args, 0, 0.0, Some(&err), "");
            }
        }
    }
    let mut done = 0;
    for s in &mut streams {
        loop {
            match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(SubscriptionEvent::EndOfSnapshot { .. })) => {
                    done += 1;
                    break;
                }
                Ok(Some(ev)) if ev.is_terminal() => {
                    let err = format!("subscription ended: {ev:?}");
                    let secs = start.elapsed().as_secs_f64();
                    return measure::scale_report(name, args, done, secs, Some(&err), "");
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    let secs = start.elapsed().as_secs_f64();
                    return measure::scale_report(
                        name,
                        args,
                        done,
                        secs,
                        Some("client stopped"),
                        "",
                    );
                }
                Err(_) => {
                    let err = format!("{done} of {} complete at the timeout", args.items);
                    let secs = start.elapsed().as_secs_f64();
                    return measure::scale_report(name, args, done, secs, Some(&err), "");
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let line = measure::scale_report(name, args, done, secs, None, "");
    drop(streams);
    line
}

/// `LS_schema` / `LS_group` values: space-separated, percent-encoded.
fn encoded_list<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join("%20")
}

async fn raw(args: &Args, decode: bool) -> Result<String, String> {
    let name = if decode { "raw-decode" } else { "raw-split" };
    match args.scenario {
        Scenario::Throughput => {}
        Scenario::Latency if decode => {}
        _ => {
            return Err(format!(
                "{name} is a baseline for the flow scenarios only (no session handling)"
            ));
        }
    }
    let server = ServerAddress::parse(&args.url).map_err(|e| e.to_string())?;
    let transport = Transport::new(TransportConfig::default()).map_err(|e| e.to_string())?;
    let mut ws = transport
        .connect_ws(&server, ProtocolVersion::V2_5_0, true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    ws.send_text(
        "create_session\r\nLS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_send_sync=false",
    )
    .await
    .map_err(|e| e.to_string())?;
    let mode = args.mode_name();
    let control = format!(
        "control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode={mode}&LS_group={}&LS_schema={}&LS_data_adapter=FEED&LS_snapshot=false",
        encoded_list(&args.item_names()),
        encoded_list(&FIELDS)
    );
    // Wait for CONOK, then subscribe.
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.timeout);
    'conok: loop {
        let chunk = tokio::time::timeout_at(deadline, ws.next_chunk())
            .await
            .map_err(|_| "no CONOK within the timeout".to_owned())?
            .map_err(|e| e.to_string())?
            .ok_or("the server closed the connection")?;
        for line in chunk.data.split(|&b| b == b'\n') {
            if line.starts_with(b"CONOK") {
                break 'conok;
            }
            if line.starts_with(b"CONERR") || line.starts_with(b"END") {
                return Err(String::from_utf8_lossy(line).into_owned());
            }
        }
    }
    ws.send_text(&control).await.map_err(|e| e.to_string())?;
    let mut rec = Recorder::new(args);
    let mut decoder = LineDecoder::default();
    let mut rows: Vec<Row> = (0..args.items).map(|_| Row::new(FIELDS.len())).collect();
    let mut changed = ChangedFields::new();
    let window = tokio::time::sleep(Duration::from_secs_f64(args.warmup));
    let end = tokio::time::sleep_until(tokio::time::Instant::from_std(rec.end(args)));
    tokio::pin!(window, end);
    let mut window_done = false;
    let mut notes = String::new();
    let mut over = false;
    while !over {
        tokio::select! {
            biased;
            () = &mut end => break,
            () = &mut window, if !window_done => { window_done = true; rec.poll_window(); }
            chunk = ws.next_chunk() => {
                let chunk = match chunk {
                    Ok(Some(c)) => c,
                    Ok(None) => { notes.push_str("the server closed the connection; "); break; }
                    Err(e) => { notes.push_str(&format!("connection error: {e}; ")); break; }
                };
                if decode {
                    let mut data = chunk.data;
                    loop {
                        let line = match decoder.next_line(&mut data) {
                            Ok(Some(l)) => l,
                            Ok(None) => break,
                            Err(e) => return Err(format!("framing: {e}")),
                        };
                        if let Ok(Notification::Update { item, values, .. }) = Notification::parse_bytes(line) {
                            let i = (item as usize).saturating_sub(1);
                            let Some(row) = rows.get_mut(i) else { continue };
                            if row.apply(values, &mut changed).is_err() {
                                rec.malformed += 1;
                                continue;
                            }
                            let row = &rows[i];
                            rec.on_update(i, (0..FIELDS.len()).map(|f| row.get(f)));
                            if rec.past_end() { over = true; break; }
                        }
                    }
                } else {
                    let mut rest = chunk.data;
                    while let Some(i) = memchr::memchr(b'\n', rest) {
                        if rest.starts_with(b"U,") {
                            rec.count();
                            if rec.past_end() { over = true; break; }
                        }
                        rest = &rest[i + 1..];
                    }
                }
            }
        }
    }
    let _ = ws.close().await;
    Ok(rec.report(name, args, &notes))
}
