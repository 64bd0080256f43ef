//! `Notification::parse_bytes` never panics on any line; whatever parses encodes to a line
//! that parses back to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlcp_proto::Notification;

fuzz_target!(|line: &[u8]| {
    // A line as the framer yields it has no LF (it may have CRs).
    if line.contains(&b'\n') {
        return;
    }
    let Ok(n) = Notification::parse_bytes(line) else {
        return;
    };
    let _ = (n.tag(), n.counts_for_recovery(), format!("{n:?}"));
    let mut encoded = String::new();
    n.encode(&mut encoded);
    let again = encoded.strip_suffix("\r\n").expect("encode ends with CRLF");
    assert_eq!(Notification::parse(again).as_ref(), Ok(&n), "{encoded:?}");
});
