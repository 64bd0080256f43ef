//! Runs each example binary (built by `cargo test` next to the test binaries) against the
//! demo server it starts in process: it must exit 0 within its time limit and print what
//! it shows.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/<name>`: the test binary is in `target/<profile>/deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} not built: run the tests with `cargo test -p tlcp-client` (which builds the examples)",
        path.display()
    );
    path
}

/// Runs an example with a time limit; its stdout.
fn run(name: &str) -> String {
    let mut child = Command::new(example(name))
        .env_remove("TLCP_SERVER")
        .env_remove("TLCP_PROXY")
        .env_remove("TLCP_CA_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().expect("stdout reader");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.success(),
        "{name} failed ({status}):\n{stdout}\n{stderr}"
    );
    stdout
}

fn assert_has(output: &str, needles: &[&str]) {
    for needle in needles {
        assert!(output.contains(needle), "expected {needle:?} in:\n{output}");
    }
}

#[test]
fn quickstart() {
    let out = run("quickstart");
    assert_has(
        &out,
        &[
            "status: CONNECTED:",
            "subscribed: 3 items, 3 fields",
            "(snapshot: true)",
            "done: 6 quotes",
        ],
    );
}

#[test]
fn portfolio() {
    let out = run("portfolio");
    assert_has(
        &out,
        &[
            "ADD    key=item3",
            "ADD    key=item7",
            "DELETE key=item7",
            "UPDATE key=item3   qty=15",
            "done: item7 deleted: true, item3 price updates: 3",
        ],
    );
    // The second level fills last_price in.
    assert!(
        out.lines()
            .any(|l| l.starts_with("UPDATE key=item3") && !l.ends_with("last_price=-")),
        "no second-level price in:\n{out}"
    );
}

#[test]
fn messages() {
    let out = run("messages");
    assert_has(
        &out,
        &[
            "ECHO|hello         processed, response \"hello\"",
            "SELL|item1|1000    denied (-4)",
            "BUY|nosuchstock|1  denied (-2)",
            "HELLO              denied (-1)",
            "done: 6 messages sent",
        ],
    );
}

#[test]
fn tls_proxy() {
    let out = run("tls_proxy");
    assert_has(
        &out,
        &[
            "ClientBuilder {",
            "Secret(***)",
            "\"<redacted>\"",
            "custom_cas: 1",
            "secrets redacted: yes",
            "not connecting: set TLCP_SERVER",
        ],
    );
    for secret in [
        "example-password",
        "example-proxy-password",
        "example-token",
    ] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
}

#[test]
fn listener() {
    let out = run("listener");
    assert_has(
        &out,
        &[
            "[client] status: CONNECTED:",
            "[client] event: SessionCreated",
            "[quotes] subscribed: 2 items, 2 fields",
            "done: 5 updates through the listener",
        ],
    );
}
