//! `tlcp bench` as a user runs it: against the embedded server, throughput and many
//! subscriptions; exit 0 and one JSON line with the documented keys. Every wait is bounded.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tlcp");
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `tlcp` with `args` (killed after [`LIMIT`]); its stdout, once it exited 0.
fn tlcp(args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlcp");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("tlcp {args:?} still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tlcp {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The only line of `stdout`, parsed; its `event` checked.
fn json_line(stdout: &str, event: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line:\n{stdout}");
    assert!(
        lines[0].starts_with(&format!("{{\"event\":\"{event}\"")),
        "event first: {}",
        lines[0]
    );
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(v["event"], event);
    v
}

fn number(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

#[test]
fn throughput_against_the_embedded_server() {
    let out = tlcp(&["bench", "--duration", "1"]);
    let v = json_line(&out, "bench");
    assert_eq!(v["mode"], "DISTINCT");
    assert_eq!(v["server"], "embedded");
    assert_eq!(v["fields"], 10);
    let (updates, seconds) = (number(&v, "updates"), number(&v, "seconds"));
    assert!(updates > 0.0, "no updates: {v}");
    assert!((0.9..5.0).contains(&seconds), "seconds: {v}");
    assert!(number(&v, "updates_per_sec") > 0.0);
    // DISTINCT folds nothing: each update read stands for itself; every value is read
    // (10 fields of at least one character).
    assert_eq!(number(&v, "represented"), updates, "{v}");
    assert!(number(&v, "value_bytes") >= updates * 10.0, "{v}");
    assert!(number(&v, "bytes") > 0.0);
    assert!(number(&v, "bytes_per_sec") > 0.0);
    assert!(number(&v, "mb_per_sec") >= 0.0);
    let stats = &v["stats"];
    assert!(number(stats, "updates") >= updates, "stats: {v}");
    assert_eq!(stats["sessions"], 1);
    for key in [
        "bytes",
        "chunks",
        "dropped_by_slow_consumers",
        "conflated",
        "lost_updates",
    ] {
        assert!(stats[key].is_u64(), "stats.{key}: {v}");
    }
}

#[test]
fn one_subscription_of_several_items() {
    let out = tlcp(&[
        "bench",
        "--duration",
        "0.5",
        "--item",
        "bench1,bench2 bench3",
    ]);
    let v = json_line(&out, "bench");
    assert_eq!(v["item"], "bench1 bench2 bench3");
    assert!(number(&v, "updates") > 0.0, "no updates: {v}");
}

#[test]
fn merge_mode() {
    let out = tlcp(&[
        "bench",
        "--duration",
        "0.5",
        "--mode",
        "merge",
        "--fields",
        "ts,seq,f1",
    ]);
    let v = json_line(&out, "bench");
    assert_eq!(v["mode"], "MERGE");
    assert_eq!(v["fields"], 3);
    assert!(number(&v, "updates") > 0.0, "no updates: {v}");
}

#[test]
fn many_subscriptions() {
    let out = tlcp(&["bench", "--subscriptions", "200"]);
    let v = json_line(&out, "bench_subscriptions");
    assert_eq!(v["count"], 200);
    assert!(number(&v, "seconds") > 0.0);
    assert!(number(&v, "subscriptions_per_sec") > 0.0);
    if cfg!(target_os = "linux") {
        let rss = number(&v, "rss_mb");
        assert!(rss > 1.0 && rss < 4096.0, "rss_mb: {v}");
    }
}

#[test]
fn unreachable_server_is_a_one_line_error() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = Command::new(BIN)
        .args(["bench", "--duration", "1", "--timeout", "3"])
        .arg("--server")
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run tlcp");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("tlcp: "),
        "{out:?}"
    );
}
