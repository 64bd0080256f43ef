//! Drives the official Lightstreamer client libraries from Rust tests.
//!
//! The official clients (npm `lightstreamer-client-node` 9.2.2, PyPI
//! `lightstreamer-client-lib` 2.2.3) are the independent judge of `tlcp-server`: what they
//! accept, real Lightstreamer servers send. Each library is wrapped by a small generic
//! driver program under `interop/` that turns JSON commands into API calls and listener
//! callbacks into JSON events. The scenarios live here, in Rust; the drivers hold none.
//!
//! [`OfficialClient`] starts one driver process and talks to it: [`OfficialClient::send`]
//! a command, [`OfficialClient::expect`] an event. [`ensure_installed`] runs
//! `interop/setup.sh` once per test process (npm and PyPI installs; fast when done).
//!
//! ```no_run
//! use std::time::Duration;
//! use serde_json::json;
//! use tlcp_testkit::official::{OfficialClient, OfficialKind, is_event_of, is_status};
//!
//! # async fn scenario(port: u16) {
//! let t = Duration::from_secs(10);
//! for kind in OfficialKind::ALL {
//!     let mut client = OfficialClient::start(kind).await;
//!     client
//!         .send(json!({"cmd": "connect", "url": format!("http://127.0.0.1:{port}"),
//!                      "adapter_set": "DEMO", "transport": "WS-STREAMING"}))
//!         .await;
//!     client.expect("connected", t, is_status("CONNECTED:WS-STREAMING")).await;
//!     client
//!         .send(json!({"cmd": "subscribe", "id": "s1", "mode": "MERGE",
//!                      "items": ["item1"], "fields": ["last_price"]}))
//!         .await;
//!     let update = client.expect("first update", t, is_event_of("update", "s1")).await;
//!     assert!(update["fields"]["last_price"].is_string());
//!     assert!(client.exit().await.success());
//! }
//! # }
//! ```
//!
//! Each event is examined once, in arrival order, by the call that reads it: `expect` skips
//! (but logs) the events before its match, and [`OfficialClient::events`] keeps them all.
//!
#![doc = include_str!("../../../interop/PROTOCOL.md")]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

/// How long [`OfficialClient::start`] waits for the driver's `ready` event.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`OfficialClient::exit`] waits for the driver to end.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many of the last events a failure message lists.
const LOG_TAIL: usize = 40;

/// How many bytes of the end of the driver's stderr a failure message shows.
const STDERR_TAIL: usize = 8_000;

/// Which official client library a driver wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfficialKind {
    /// npm `lightstreamer-client-node` 9.2.2, driven by `interop/node/driver.js`.
    Node,
    /// PyPI `lightstreamer-client-lib` 2.2.3, driven by `interop/python/driver.py`.
    Python,
}

impl OfficialKind {
    /// Both libraries, for tests that run the same scenario against each.
    pub const ALL: [OfficialKind; 2] = [OfficialKind::Node, OfficialKind::Python];

    /// A short name: `node` or `python`.
    pub fn name(self) -> &'static str {
        match self {
            OfficialKind::Node => "node",
            OfficialKind::Python => "python",
        }
    }

    /// The command that starts this kind's driver, with paths under `root`.
    fn command(self, root: &Path) -> Command {
        match self {
            OfficialKind::Node => {
                let mut cmd = Command::new("node");
                cmd.arg(root.join("interop/node/driver.js"));
                cmd
            }
            OfficialKind::Python => {
                let mut cmd = Command::new(root.join("interop/python/.venv/bin/python"));
                cmd.arg(root.join("interop/python/driver.py"));
                cmd.env("PYTHONUNBUFFERED", "1");
                cmd
            }
        }
    }
}

impl fmt::Display for OfficialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The root of the tlcp workspace (where `interop/` lives), from this crate's manifest dir.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/tlcp-testkit sits two levels below the workspace root")
        .to_path_buf()
}

/// Installs the official clients by running `interop/setup.sh`, once per test process.
///
/// Later calls return at once (or wait for the first one to finish). The script is
/// idempotent and takes well under a second when everything is installed.
///
/// # Panics
///
/// When the script fails (no `node`/`npm`/`python3`, registry unreachable, ...), with its
/// output; every later call panics with the same message.
pub fn ensure_installed() {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = SETUP.get_or_init(run_setup) {
        panic!("{message}");
    }
}

fn run_setup() -> Result<(), String> {
    let script = workspace_root().join("interop/setup.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `bash {}`: {e}", script.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "installing the official Lightstreamer clients failed: `bash {}` ended with {}.\n\
         It needs node + npm and python3, and reaches the npm and PyPI registries; run it \
         by hand to see why.\n--- stdout\n{}\n--- stderr\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    ))
}

/// A running driver of one official client library.
///
/// The process is killed when this value is dropped. Its stderr is kept (see
/// [`OfficialClient::stderr`]) and shown, with the last events, in every failure message.
pub struct OfficialClient {
    kind: OfficialKind,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stdout_closed: bool,
    events: Vec<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_task: Option<JoinHandle<()>>,
}

impl fmt::Debug for OfficialClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfficialClient")
            .field("kind", &self.kind)
            .field("pid", &self.child.id())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// What reading one line from the driver gave.
enum Next {
    /// A new event, at this index of the log.
    Event(usize),
    /// The deadline passed.
    Timeout,
    /// The driver closed its stdout (it exited or is exiting).
    Closed,
}

impl OfficialClient {
    /// Starts the driver of `kind` and waits for its `ready` event.
    ///
    /// # Panics
    ///
    /// When the installation fails, the driver cannot start, or `ready` does not come
    /// within [`READY_TIMEOUT`].
    pub async fn start(kind: OfficialKind) -> Self {
        let mut client = Self::spawn(kind).await;
        client
            .expect("ready", READY_TIMEOUT, is_event("ready"))
            .await;
        client
    }

    /// Starts the driver of `kind` without waiting for anything (see [`Self::start`]).
    ///
    /// Runs [`ensure_installed`] first. Must be called within a tokio runtime.
    ///
    /// # Panics
    ///
    /// When the installation fails or the driver cannot start.
    pub async fn spawn(kind: OfficialKind) -> Self {
        ensure_installed();
        let root = workspace_root();
        let mut command = kind.command(&root);
        command
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {kind} driver ({command:?}): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let stderr_task = tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&chunk[..n]);
            }
        });
        Self {
            kind,
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            stdout_closed: false,
            events: Vec::new(),
            stderr: buffer,
            stderr_task: Some(stderr_task),
        }
    }

    /// Which library this driver wraps.
    pub fn kind(&self) -> OfficialKind {
        self.kind
    }

    /// Every event read so far, in arrival order (including the ones `expect` skipped).
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Everything the driver wrote on stderr so far (library logs with `TLCP_INTEROP_LOG`).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    /// Sends one command (a JSON object, see the module docs).
    ///
    /// # Panics
    ///
    /// When the driver's stdin is closed or broken.
    pub async fn send(&mut self, cmd: Value) {
        self.send_raw(&cmd.to_string()).await;
    }

    /// Sends one raw line (a newline is added); for testing the drivers' error handling.
    ///
    /// # Panics
    ///
    /// When the driver's stdin is closed or broken.
    pub async fn send_raw(&mut self, line: &str) {
        let result = match self.stdin.as_mut() {
            None => Err("stdin was closed by close_stdin".to_owned()),
            Some(stdin) => {
                let mut bytes = Vec::with_capacity(line.len() + 1);
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
                match stdin.write_all(&bytes).await {
                    Ok(()) => stdin.flush().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        if let Err(e) = result {
            let message = self.failure(&format!("cannot send {line}: {e}")).await;
            panic!("{message}");
        }
    }

    /// Closes the driver's stdin; the driver then disconnects and exits (see
    /// [`Self::wait_exit`]).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Reads events until one satisfies `pred` and returns it; `what` names it in failures.
    ///
    /// Only events not yet read are examined; the ones before the match stay in the log.
    ///
    /// # Panics
    ///
    /// After `timeout`, or when the driver ends first, with the last events and the
    /// driver's stderr.
    pub async fn expect(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        self.read_until(what, timeout, pred).await;
        // read_until returns right after logging the match.
        self.events.last().cloned().unwrap_or(Value::Null)
    }

    /// Like [`Self::expect`], but returns every event read on the way, the match last.
    ///
    /// # Panics
    ///
    /// As [`Self::expect`].
    pub async fn collect_until(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&Value) -> bool,
    ) -> Vec<Value> {
        let start = self.events.len();
        self.read_until(what, timeout, pred).await;
        self.events[start..].to_vec()
    }

    /// Reads events for `duration` (or until the driver ends) and returns them.
    ///
    /// Useful to assert that something does *not* happen.
    pub async fn collect_for(&mut self, duration: Duration) -> Vec<Value> {
        let start = self.events.len();
        let deadline = Instant::now() + duration;
        while let Next::Event(_) = self.next_event(deadline).await {}
        self.events[start..].to_vec()
    }

    /// Sends `exit` and waits for the driver to end; returns its exit status.
    ///
    /// # Panics
    ///
    /// When the driver does not end within [`EXIT_TIMEOUT`].
    pub async fn exit(&mut self) -> ExitStatus {
        if self.stdin.is_some() {
            self.send(json!({"cmd": "exit"})).await;
        }
        self.wait_exit(EXIT_TIMEOUT).await
    }

    /// Waits for the driver to end, logging the events it still writes; returns its status.
    ///
    /// # Panics
    ///
    /// When the driver does not end within `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_event(deadline).await {
                Next::Event(_) => {}
                Next::Closed => break,
                Next::Timeout => {
                    let message = self
                        .failure(&format!(
                            "the driver did not close stdout within {timeout:?}"
                        ))
                        .await;
                    panic!("{message}");
                }
            }
        }
        match timeout_at(deadline, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                let message = self
                    .failure(&format!("cannot wait for the driver: {e}"))
                    .await;
                panic!("{message}");
            }
            Err(_) => {
                let message = self
                    .failure(&format!("the driver did not exit within {timeout:?}"))
                    .await;
                panic!("{message}");
            }
        }
    }

    async fn read_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            let headline = match self.next_event(deadline).await {
                Next::Event(i) if pred(&self.events[i]) => return,
                Next::Event(_) => continue,
                Next::Timeout => format!("timed out after {timeout:?} waiting for {what}"),
                Next::Closed => format!("the driver ended while waiting for {what}"),
            };
            let message = self.failure(&headline).await;
            panic!("{message}");
        }
    }

    async fn next_event(&mut self, deadline: Instant) -> Next {
        loop {
            if self.stdout_closed {
                return Next::Closed;
            }
            match timeout_at(deadline, self.stdout.next_line()).await {
                Err(_) => return Next::Timeout,
                Ok(Ok(Some(line))) if line.trim().is_empty() => {}
                Ok(Ok(Some(line))) => {
                    let event = serde_json::from_str(&line)
                        .unwrap_or_else(|_| json!({"ev": "non_json", "line": line}));
                    self.events.push(event);
                    return Next::Event(self.events.len() - 1);
                }
                Ok(Ok(None)) | Ok(Err(_)) => self.stdout_closed = true,
            }
        }
    }

    /// A failure message: the headline, the driver's state, its last events and stderr.
    async fn failure(&mut self, headline: &str) -> String {
        let mut state = match self.child.try_wait() {
            Ok(Some(status)) => format!("exited with {status}"),
            Ok(None) => "still running".to_owned(),
            Err(e) => format!("state unknown: {e}"),
        };
        if self.stdout_closed {
            // Give the process a moment to end and its stderr to be read to the end.
            if let Ok(Ok(status)) = timeout(Duration::from_secs(1), self.child.wait()).await {
                state = format!("exited with {status}");
            }
            if let Some(task) = self.stderr_task.take() {
                let _ = timeout(Duration::from_secs(1), task).await;
            }
        }
        let skipped = self.events.len().saturating_sub(LOG_TAIL);
        let mut message = format!(
            "{} driver: {headline}\n--- driver {state}; {} events",
            self.kind,
            self.events.len()
        );
        if skipped > 0 {
            message.push_str(&format!(", the first {skipped} not shown"));
        }
        message.push('\n');
        for event in &self.events[skipped..] {
            message.push_str(&format!("  {event}\n"));
        }
        let stderr = self.stderr();
        let tail_start = stderr
            .char_indices()
            .rev()
            .nth(STDERR_TAIL)
            .map_or(0, |(i, _)| i);
        message.push_str("--- driver stderr");
        if tail_start > 0 {
            message.push_str(" (end)");
        }
        message.push_str(" (set TLCP_INTEROP_LOG=debug for the library's log)\n");
        if stderr.is_empty() {
            message.push_str("(empty)\n");
        }
        message.push_str(&stderr[tail_start..]);
        message
    }
}

/// A predicate for [`OfficialClient::expect`]: an event named `ev` (`"update"`, `"msg"`, ...).
pub fn is_event(ev: &str) -> impl FnMut(&Value) -> bool + use<> {
    let ev = ev.to_owned();
    move |v| v["ev"].as_str() == Some(ev.as_str())
}

/// A predicate: an event named `ev` about the subscription or message `id`.
pub fn is_event_of(ev: &str, id: &str) -> impl FnMut(&Value) -> bool + use<> {
    let (ev, id) = (ev.to_owned(), id.to_owned());
    move |v| v["ev"].as_str() == Some(ev.as_str()) && v["id"].as_str() == Some(id.as_str())
}

/// A predicate: a `status` event with exactly this status (e.g. `"CONNECTED:WS-STREAMING"`).
pub fn is_status(status: &str) -> impl FnMut(&Value) -> bool + use<> {
    let status = status.to_owned();
    move |v| v["ev"] == "status" && v["status"].as_str() == Some(status.as_str())
}
