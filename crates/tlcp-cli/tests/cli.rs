//! `tlcp demo`, `tlcp subscribe` and `tlcp send` as a user runs them: the built binary,
//! against `tlcp serve` on a port chosen by the OS. Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use common::{Running, json, run, server};

#[test]
fn demo_prints_json_lines_when_piped() {
    let started = Instant::now();
    let (status, lines, err) = run(&["demo", "--count", "10"]);
    assert!(status.success(), "{status:?} {err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        lines[0].starts_with(r#"{"event":"status","status":""#),
        "{lines:?}"
    );
    assert!(
        lines.contains(&r#"{"event":"status","status":"CONNECTED:WS-STREAMING"}"#.to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&r#"{"event":"subscribed","items":10,"fields":8}"#.to_owned()));
    let updates: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"event":"update","#))
        .collect();
    assert_eq!(updates.len(), 10, "{lines:?}");
    let first = json(updates[0]);
    assert_eq!(first["item"], "item1");
    assert_eq!(first["snapshot"], true);
    assert_eq!(first["fields"]["stock_name"], "Anduct");
    assert!(first["fields"]["last_price"].is_string());
}

#[test]
fn demo_stops_after_duration() {
    let started = Instant::now();
    let (status, lines, _) = run(&["demo", "--duration", "1", "--format", "jsonl"]);
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(lines.iter().any(|l| l.contains(r#""event":"update""#)));
}

/// The demo gives the session 10 s to come up; once up, it must never fail on that
/// deadline (it did when the session was already up by the time the run loop first read
/// the status: a thread preempted under load).
#[test]
fn demo_runs_past_the_connect_deadline() {
    let (status, lines, err) = run(&["demo", "--duration", "11", "--format", "jsonl"]);
    assert!(status.success(), "{err}");
    assert!(!err.contains("no session"), "{err}");
    assert!(
        lines
            .iter()
            .filter(|l| l.contains(r#""event":"update""#))
            .count()
            > 100
    );
}

#[test]
fn subscribe_merge_with_snapshot() {
    let (_server, url) = server();
    let (status, lines, err) = run(&[
        "subscribe",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "STOCKS",
        "--items",
        "item1",
        "item2",
        "--fields",
        "stock_name",
        "last_price",
        "--count",
        "2",
    ]);
    assert!(status.success(), "{err}");
    // Status lines come first (CONNECTING may be folded into the next status).
    let first_other = lines
        .iter()
        .position(|l| !l.starts_with(r#"{"event":"status""#))
        .expect("not only status lines");
    assert_eq!(
        lines[first_other - 1],
        r#"{"event":"status","status":"CONNECTED:WS-STREAMING"}"#
    );
    let lines = &lines[first_other..];
    assert_eq!(
        lines[..3],
        [
            r#"{"event":"subscribed","items":2,"fields":2}"#,
            r#"{"event":"real_max_frequency","value":"unlimited"}"#,
            r#"{"event":"update","item":"item1","pos":1,"snapshot":true,"fields":{"stock_name":"Anduct","last_price":"3.00"},"changed":["stock_name","last_price"]}"#,
        ],
        "{lines:?}"
    );
    let second = json(&lines[3]);
    assert_eq!(second["item"], "item2");
    assert_eq!(second["pos"], 2);
    assert_eq!(second["snapshot"], true);
}

#[test]
fn subscribe_distinct_chat_after_send() {
    let (_server, url) = server();
    let sub = Running::start(&[
        "subscribe",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "CHAT",
        "--mode",
        "distinct",
        "--items",
        "chat_room",
        "--fields",
        "timestamp,message,IP,nick",
        "--count",
        "1",
    ]);
    assert_eq!(
        sub.until("end_of_snapshot"),
        r#"{"event":"end_of_snapshot","item":"chat_room","pos":1}"#
    );
    let (status, lines, err) = run(&[
        "send",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "CHAT|hello",
    ]);
    assert!(status.success(), "{err}");
    assert_eq!(
        lines,
        [r#"{"event":"message_outcome","outcome":"processed","response":""}"#]
    );
    let update = sub.until("update");
    let v = json(&update);
    let ts = v["fields"]["timestamp"].as_str().expect("timestamp");
    assert_eq!(
        update,
        format!(
            r#"{{"event":"update","item":"chat_room","pos":1,"snapshot":false,"fields":{{"timestamp":"{ts}","message":"hello","IP":"127.0.0.1","nick":"anonymous"}},"changed":["timestamp","message","IP","nick"]}}"#
        )
    );
    let (status, _, _) = sub.finish();
    assert!(status.success());
}

#[test]
fn subscribe_command_portfolio_after_buy() {
    let (_server, url) = server();
    let sub = Running::start(&[
        "subscribe",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "PORTFOLIO",
        "--mode",
        "command",
        "--items",
        "portfolio1",
        "--fields",
        "key",
        "command",
        "qty",
        "--count",
        "1",
    ]);
    assert_eq!(
        sub.until("subscribed"),
        r#"{"event":"subscribed","items":1,"fields":3,"key_pos":1,"command_pos":2}"#
    );
    sub.until("end_of_snapshot");
    let (status, lines, _) = run(&[
        "send",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "BUY|item3|10",
    ]);
    assert!(status.success());
    assert_eq!(
        lines,
        [r#"{"event":"message_outcome","outcome":"processed","response":"10"}"#]
    );
    assert_eq!(
        sub.until("update"),
        r#"{"event":"update","item":"portfolio1","pos":1,"snapshot":false,"key":"item3","command":"ADD","fields":{"key":"item3","command":"ADD","qty":"10"},"changed":["key","command","qty"]}"#
    );
    let (status, _, _) = sub.finish();
    assert!(status.success());
}

#[test]
fn subscribe_raw_has_no_snapshot() {
    let (_server, url) = server();
    let (status, lines, err) = run(&[
        "subscribe",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "STOCKS",
        "--mode",
        "raw",
        "--items",
        "item1",
        "--fields",
        "last_price",
        "--count",
        "2",
    ]);
    assert!(status.success(), "{err}");
    assert!(lines.contains(&r#"{"event":"subscribed","items":1,"fields":1}"#.to_owned()));
    let updates: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"event":"update""#))
        .map(|l| json(l))
        .collect();
    assert_eq!(updates.len(), 2);
    for u in updates {
        assert_eq!(u["item"], "item1");
        assert_eq!(u["snapshot"], false);
        assert_eq!(u["changed"], serde_json::json!(["last_price"]));
    }
}

#[test]
fn subscribe_csv_and_group_schema_positions() {
    let (_server, url) = server();
    let common = [
        "subscribe",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "STOCKS",
        "--count",
        "2",
    ];
    let mut args = common.to_vec();
    args.extend([
        "--items",
        "item1,item2",
        "--fields",
        "stock_name,last_price",
        "--format",
        "csv",
    ]);
    let (status, lines, err) = run(&args);
    assert!(status.success(), "{err}");
    assert_eq!(lines[0], "item,stock_name,last_price");
    assert_eq!(lines[1], "item1,Anduct,3.00");
    assert!(lines[2].starts_with("item2,Ations Europe,"), "{lines:?}");
    assert_eq!(lines.len(), 3);

    let mut args = common.to_vec();
    args.extend([
        "--group",
        "item1 item2",
        "--schema",
        "stock_name last_price",
    ]);
    let (status, lines, err) = run(&args);
    assert!(status.success(), "{err}");
    assert!(
        lines.contains(
            &r#"{"event":"update","item":"1","pos":1,"snapshot":true,"fields":{"1":"Anduct","2":"3.00"},"changed":["1","2"]}"#.to_owned()
        ),
        "{lines:?}"
    );
}

#[test]
fn send_outcomes_and_exit_codes() {
    let (_server, url) = server();
    let send = |text: &str| {
        run(&[
            "send",
            "--server",
            &url,
            "--adapter-set",
            "DEMO",
            "--sequence",
            "S1",
            text,
        ])
    };
    let (status, lines, _) = send("ECHO|x");
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        lines,
        [r#"{"event":"message_outcome","outcome":"processed","response":"x"}"#]
    );
    let (status, lines, _) = send("nonsense");
    assert_eq!(status.code(), Some(2));
    let v = json(&lines[0]);
    assert_eq!(v["outcome"], "denied");
    assert_eq!(v["code"], -1);
}

#[test]
fn subscription_errors_are_reported() {
    let (_server, url) = server();
    let (status, lines, err) = run(&[
        "subscribe",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "STOCKS",
        "--items",
        "nope",
        "--fields",
        "last_price",
    ]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        lines.last().map(String::as_str),
        Some(r#"{"event":"subscription_error","code":-2,"message":"no such stock: nope"}"#)
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn unreachable_server_fails_fast() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec![
            "subscribe",
            "--server",
            &url,
            "--items",
            "a",
            "--fields",
            "b",
        ],
        vec!["send", "--server", &url, "ECHO|x"],
    ] {
        let started = Instant::now();
        let (status, lines, err) = run(&args);
        assert_eq!(status.code(), Some(1));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(lines.is_empty(), "{lines:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("cannot reach") && err.contains("--server"),
            "{err}"
        );
    }
}

#[test]
fn refused_session_is_one_line() {
    let (_server, url) = server();
    let (status, _, err) = run(&["send", "--server", &url, "--adapter-set", "NOPE", "ECHO|x"]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--adapter-set"), "{err}");
}

#[test]
fn bad_flags_say_what_to_fix() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "subscribe",
                "--server",
                "127.0.0.1:8080",
                "--items",
                "a",
                "--fields",
                "b",
            ],
            "http://",
        ),
        (
            &[
                "subscribe",
                "--server",
                "http://x",
                "--items",
                "a",
                "--fields",
                "b",
                "--transport",
                "smoke",
            ],
            "ws-streaming",
        ),
        (
            &[
                "subscribe",
                "--server",
                "http://x",
                "--items",
                "a",
                "--fields",
                "b",
                "--max-frequency",
                "fast",
            ],
            "unlimited",
        ),
        (
            &["subscribe", "--server", "http://x", "--fields", "b"],
            "--items",
        ),
        (&["demo", "--count", "many"], "--count"),
        (
            &["send", "--server", "http://x", "--password", "p", "x"],
            "--password",
        ),
        (
            &[
                "send",
                "--server",
                "http://127.0.0.1:1",
                "--password-env",
                "TLCP_TEST_UNSET_VAR",
                "x",
            ],
            "TLCP_TEST_UNSET_VAR",
        ),
    ];
    for (args, hint) in cases {
        let started = Instant::now();
        let (status, lines, err) = run(args);
        assert!(!status.success(), "{args:?}");
        assert!(lines.is_empty(), "{args:?}: {lines:?}");
        assert!(err.contains(hint), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
