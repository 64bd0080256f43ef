//! A real `nats-server` (Debian package `nats-server`) on a loopback port, for the bridge
//! tests: started by the test, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` process of the test's own, listening on `127.0.0.1`.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts one on a free port.
    ///
    /// # Panics
    ///
    /// If `nats-server` is not on the PATH (with how to install it), or does not listen
    /// within 10 s.
    pub fn start() -> Self {
        // The port is free when picked, but another process may take it before
        // nats-server binds it: then this one exits, and another port is tried.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("no free loopback port: {e}"));
            if let Some(server) = Self::try_start_on(port) {
                return server;
            }
        }
        panic!("nats-server did not start on any of 5 free ports");
    }

    /// Starts one on `port` (to restart a server where its clients expect it).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`], or if the port is taken.
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port)
            .unwrap_or_else(|| panic!("nats-server could not listen on 127.0.0.1:{port}"))
    }

    /// Starts one on `port`; `None` if it exits (port taken). Ready once a connection to
    /// the port gets nats-server's `INFO` greeting (not merely accepted: another process
    /// may be listening there).
    fn try_start_on(port: u16) -> Option<Self> {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start nats-server ({e}): this test needs it on PATH; install it \
                     with `apt-get install -y nats-server` (.ci/test does)"
                )
            });
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if matches!(server.child.try_wait(), Ok(Some(_))) {
                return None;
            }
            if greets(port) {
                return Some(server);
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on 127.0.0.1:{port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (as a crash would: clients see the connection drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a connection to `port` gets a NATS `INFO` line.
fn greets(port: u16) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO ")
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
