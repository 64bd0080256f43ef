//! `tlcp record` then `tlcp replay`: the built binary against `tlcp serve` on a port
//! chosen by the OS; the replay gives the same event lines. Every wait is bounded.

mod common;

use common::{json, run, server};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tlcp-record-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// The lines replay must reproduce exactly: the subscription's data and state.
fn events(lines: &[String]) -> Vec<String> {
    const KEPT: [&str; 3] = ["update", "subscribed", "end_of_snapshot"];
    lines
        .iter()
        .filter(|l| {
            let v = json(l);
            KEPT.contains(&v["event"].as_str().unwrap_or(""))
        })
        .cloned()
        .collect()
}

fn record_then_replay(name: &str, sub: &[&str], count: &str) {
    let (_server, url) = server();
    let file = temp(name);
    let path = file.to_str().expect("utf-8 path");
    let mut args = vec![
        "record",
        "--out",
        path,
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
    ];
    args.extend_from_slice(sub);
    args.extend_from_slice(&["--count", count, "--format", "jsonl"]);
    let (status, live, err) = run(&args);
    assert!(status.success(), "record: {status:?} {err}");
    let live_events = events(&live);
    let updates = live_events
        .iter()
        .filter(|l| l.contains("\"update\""))
        .count();
    assert_eq!(updates.to_string(), count, "{live:?}");
    assert!(
        live_events[0].starts_with("{\"event\":\"subscribed\""),
        "{live:?}"
    );
    let bytes = std::fs::read(&file).expect("recording written");
    assert!(bytes.starts_with(b"tlcp-record 1\n"));

    // No flags needed: the subscription is in the file.
    let (status, replayed, err) = run(&["replay", path]);
    assert!(status.success(), "replay: {status:?} {err}");
    assert_eq!(
        events(&replayed),
        live_events,
        "live {live:#?}\nreplayed {replayed:#?}"
    );

    // Twice the same. (Status lines may differ: the status is a `watch`, and a replay
    // runs faster than real time, so CONNECTING may be overtaken before it is read.)
    let (status, again, _) = run(&["replay", path]);
    assert!(status.success());
    assert_eq!(events(&again), events(&replayed));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn record_then_replay_merge() {
    record_then_replay(
        "merge.rec",
        &[
            "--data-adapter",
            "STOCKS",
            "--items",
            "item1",
            "item2",
            "item3",
            "--fields",
            "stock_name",
            "last_price",
            "time",
            "--snapshot",
            "true",
        ],
        "8",
    );
}

#[test]
fn record_then_replay_distinct() {
    record_then_replay(
        "distinct.rec",
        &[
            "--data-adapter",
            "STOCKS",
            "--mode",
            "distinct",
            "--items",
            "item1",
            "item2",
            "--fields",
            "last_price",
            "time",
            "--snapshot",
            "2",
        ],
        "6",
    );
}

#[test]
fn truncated_or_corrupt_recordings_are_refused() {
    let (_server, url) = server();
    let file = temp("truncate.rec");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, err) = run(&[
        "record",
        "--out",
        path,
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "STOCKS",
        "--items",
        "item1",
        "--fields",
        "last_price",
        "--count",
        "2",
        "--format",
        "jsonl",
    ]);
    assert!(status.success(), "record: {status:?} {err}");
    let bytes = std::fs::read(&file).expect("recording written");
    let bad = [
        ("cut", bytes[..bytes.len() - 3].to_vec()),
        ("garbage", b"hello\nworld\n".to_vec()),
        ("bad-record", {
            let mut b = bytes.clone();
            b.extend_from_slice(b"data 1 x 3\nabc\n");
            b
        }),
        ("bad-meta", b"tlcp-record 1\nmeta 0 0 2\n{}\n".to_vec()),
        ("diverging", {
            // A valid file whose data goes to a connection the session never opened.
            let meta = br#"{"tlcp_cli":1,"args":["--server","http://127.0.0.1:9","--items","a","--fields","b"]}"#;
            let mut b = format!("tlcp-record 1\nmeta 0 0 {}\n", meta.len()).into_bytes();
            b.extend_from_slice(meta);
            b.extend_from_slice(b"\ndata 7 0 3\nabc\n");
            b
        }),
    ];
    for (name, content) in bad {
        let f = temp(&format!("{name}.rec"));
        std::fs::write(&f, content).expect("write");
        let (status, lines, err) = run(&["replay", f.to_str().expect("utf-8")]);
        assert_eq!(status.code(), Some(1), "{name}: {lines:?} {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.starts_with("tlcp: "), "{name}: {err}");
        let _ = std::fs::remove_file(&f);
    }
    let (status, _, err) = run(&["replay", "/nonexistent/file.rec"]);
    assert_eq!(status.code(), Some(1), "{err}");
    let _ = std::fs::remove_file(&file);
}
