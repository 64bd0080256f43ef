//! `tlcp demo --format table` under a pseudo-terminal (`script` from util-linux): the
//! alternate screen shows the header and the item rows, and the terminal is restored.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_table_under_a_pty() {
    let has_script = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_script {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tlcp");
    let inner = format!("stty cols 120 rows 20; {bin} demo --format table --duration 2");
    let mut child = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tlcp demo --format table did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "{:?}", out.status);
    let screen = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "tlcp",
        "STOCKS",
        "updates/s",
        "WS-STREAMING",
        "stock_name",
        "last_price",
        "item1",
        "item10",
        "Anduct",
    ] {
        assert!(screen.contains(needle), "no {needle:?} in {screen:?}");
    }
    // Alternate screen entered, then left (the terminal is restored).
    assert!(screen.contains("\x1b[?1049h"));
    assert!(screen.contains("\x1b[?1049l"));
}
