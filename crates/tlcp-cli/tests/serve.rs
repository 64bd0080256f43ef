//! `tlcp serve` as a user runs it: the built binary, on a port chosen by the OS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The address in `tlcp serve`'s first line (`... listening on http://<addr> ...`).
fn served_address(first: &str) -> String {
    first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned()
}

/// POSTs a `create_session` with `body` to the server at `addr`, and reads the whole
/// response (the connection closes after it).
fn create_session(addr: &str, body: &str) -> String {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        tcp,
        "POST /lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).expect("read response");
    resp
}

#[test]
fn serve_answers_a_session_creation() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlcp"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tlcp");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read");
    let body = "LS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0";
    let resp = create_session(&served_address(&first), body);
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(resp.contains("\r\nCONOK,S"), "{resp}");
    assert!(resp.contains("\r\nSERVNAME,tlcp-server\r\n"), "{resp}");
    assert!(resp.contains("\r\nLOOP,0\r\n"), "{resp}");
}

#[test]
fn bad_flags_say_what_to_fix() {
    let out = Command::new(env!("CARGO_BIN_EXE_tlcp"))
        .args(["serve", "--feed-rate", "fast"])
        .output()
        .expect("run tlcp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--feed-rate"), "{err}");
    assert!(err.contains("`max`"), "{err}");
}

#[test]
fn busy_port_is_explained() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let out = Command::new(env!("CARGO_BIN_EXE_tlcp"))
        .args(["serve", "--listen", &addr.to_string()])
        .output()
        .expect("run tlcp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn cut_streams_every_prints_each_cut() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlcp"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cut-streams-every",
            "0.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tlcp");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    assert!(first.contains("listening on http://"), "{first}");
    // Bounded: the process is killed (and stdout closed) after 10 s whatever happens.
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let mut times = vec![];
    for line in lines.by_ref().take(3) {
        let line = line.expect("read");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["event"], "cut", "{line}");
        assert_eq!(v["sessions"], 0, "{line}");
        times.push(v["at_us"].as_u64().expect("at_us"));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    drop(killer);
    assert_eq!(times.len(), 3);
    assert!(times.windows(2).all(|w| w[1] > w[0] + 50_000), "{times:?}");
}

#[test]
fn stats_every_prints_the_write_delays() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlcp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--stats-every", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tlcp");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    let addr = served_address(&first);
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    // A polling session with a subscription: its SUBOK, CONF and snapshot are written in
    // the first response.
    let body = "LS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0\r\n\
                LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=item1&LS_schema=last_price&LS_data_adapter=STOCKS&LS_snapshot=true";
    let resp = create_session(&addr, body);
    assert!(resp.contains("\r\nSUBOK,1,1,1\r\n"), "{resp}");
    // The periods' lines: one of them counts what was written.
    let mut written = 0;
    for line in lines.by_ref().take(10) {
        let line = line.expect("read");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["event"], "stats", "{line}");
        let d = &v["delay_us"];
        let (p50, p99, max) = (d["p50"].as_u64(), d["p99"].as_u64(), d["max"].as_u64());
        assert!(p50 <= p99 && p99 <= max, "{line}");
        written += v["lines"].as_u64().expect("lines");
        if written > 0 {
            // Well under the test's own time.
            assert!(max.expect("max") < 10_000_000, "{line}");
            break;
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();
    drop(killer);
    // SUBOK, CONF and the snapshot's update at least.
    assert!(written >= 3, "{written}");
}
