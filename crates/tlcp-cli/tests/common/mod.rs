//! The built `tlcp` binary as a user runs it, for the CLI tests: a child process whose
//! stdout lines arrive on a channel, killed on drop; every wait is bounded.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tlcp");
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A running `tlcp` whose stdout lines arrive on a channel; killed on drop.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tlcp");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr) = mpsc::channel();
        let mut err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    pub(crate) fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no line within {WAIT:?}: {e}"))
    }

    /// The next line whose event is `event`.
    pub(crate) fn until(&self, event: &str) -> String {
        let tag = format!("{{\"event\":\"{event}\"");
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no {event} line within {WAIT:?}: {e}"));
            if line.starts_with(&tag) {
                return line;
            }
        }
    }

    /// Waits for the exit; returns the status, the remaining stdout lines and stderr.
    pub(crate) fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tlcp did not exit within {WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut lines = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            lines.push(l);
        }
        let err = self
            .stderr
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default();
        (status, lines, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tlcp serve` on a free port; its URL.
pub(crate) fn server() -> (Running, String) {
    let s = Running::start(&["serve", "--listen", "127.0.0.1:0"]);
    let first = s.line();
    let url = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    (s, url)
}

pub(crate) fn run(args: &[&str]) -> (ExitStatus, Vec<String>, String) {
    Running::start(args).finish()
}

pub(crate) fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}
