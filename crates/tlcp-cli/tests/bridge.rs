//! `tlcp bridge` as a user runs it: against `tlcp serve` and a real `nats-server`
//! (Debian package `nats-server`; `.ci/run` installs it), read back with a plain NATS
//! protocol subscriber.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Running, json, run, server};
use tlcp_testkit::nats::NatsServer;

/// A NATS subscriber speaking the text protocol: `SUB`, then `PING` until `PONG` says the
/// subscription is in place.
struct NatsSub(BufReader<TcpStream>);

impl NatsSub {
    fn new(port: u16, subject: &str) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            stream,
            "CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n"
        )
        .expect("subscribe");
        let mut sub = Self(BufReader::new(stream));
        loop {
            let l = sub.line();
            if l.starts_with("PONG") {
                return sub;
            }
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.0.read_line(&mut l).expect("read from nats");
        l.trim_end().to_owned()
    }

    /// The next message: subject and payload.
    fn next(&mut self) -> (String, String) {
        loop {
            let l = self.line();
            if l.starts_with("PING") {
                self.0.get_mut().write_all(b"PONG\r\n").expect("pong");
            }
            if let Some(rest) = l.strip_prefix("MSG ") {
                let subject = rest.split(' ').next().unwrap_or_default().to_owned();
                return (subject, self.line());
            }
        }
    }
}

#[test]
fn bridge_help_lists_its_options() {
    let (status, lines, _) = run(&["bridge", "--help"]);
    assert!(status.success());
    let help = lines.join("\n");
    for flag in [
        "--nats",
        "--prefix",
        "--items",
        "--fields",
        "--report-every",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn bridge_republishes_updates_on_nats_subjects() {
    let nats = NatsServer::start();
    let (_server, url) = server();
    let mut sub = NatsSub::new(nats.port(), "cli.>");
    let bridge = Running::start(&[
        "bridge",
        "--server",
        &url,
        "--adapter-set",
        "DEMO",
        "--data-adapter",
        "FEED",
        "--mode",
        "distinct",
        "--items",
        "one,two",
        "--fields",
        "seq,f1",
        "--nats",
        &format!("nats://127.0.0.1:{}", nats.port()),
        "--prefix",
        "cli",
        "--report-every",
        "0.2",
        "--count",
        "20",
    ]);
    let mut last = std::collections::HashMap::new();
    for _ in 0..20 {
        let (subject, payload) = sub.next();
        let v = json(&payload);
        let item = v["item"].as_str().expect("item").to_owned();
        assert_eq!(subject, format!("cli.{item}"));
        let seq: u64 = v["fields"]["seq"]
            .as_str()
            .expect("seq")
            .parse()
            .expect("n");
        let prev = last.insert(item, seq).unwrap_or(0);
        assert_eq!(seq, prev + 1, "{payload}");
    }
    let report = bridge.until("report");
    assert!(json(&report)["rate"].as_f64().is_some(), "{report}");
    let (status, lines, err) = bridge.finish();
    assert!(status.success(), "{err}");
    let end = lines
        .iter()
        .find(|l| l.starts_with("{\"event\":\"end\""))
        .unwrap_or_else(|| panic!("no end line in {lines:?}"));
    let end = json(end);
    assert!(end["published"].as_u64().expect("published") >= 20, "{end}");
    assert_eq!(end["dropped"], 0);
}

#[test]
fn bridge_without_a_server_is_a_one_line_error() {
    let (status, _, err) = run(&[
        "bridge",
        "--server",
        "http://127.0.0.1:1",
        "--items",
        "a",
        "--fields",
        "b",
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("cannot reach"), "{err}");
}
