//! A driver for profiling the receive hot path (the `decode` benchmark's stream) under
//! `valgrind --tool=callgrind`, which divan's harness makes hard to read:
//!
//! ```sh
//! cargo build --profile bench -p tlcp-proto --example decode_profile
//! valgrind --tool=callgrind target/release/examples/decode_profile apply 20
//! callgrind_annotate callgrind.out.<pid>
//! ```
//!
//! Arguments: the path to run (`frame`, `parse` or `apply`, the default) and the number of
//! passes over the 10,000-line buffer (default 20). Prints the time per line (wall clock: a
//! rough figure; the benchmark is the reference).

#![allow(missing_docs)]

#[path = "../benches/support/feed.rs"]
mod feed;

use std::hint::black_box;
use std::time::Instant;

use tlcp_proto::{LineDecoder, Notification};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "apply".to_owned());
    let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let feed = feed::generate(10_000, 2025);
    let mut dec = LineDecoder::default();
    let mut models = feed::models();
    let mut work = 0usize;
    let start = Instant::now();
    for _ in 0..passes {
        for mut chunk in feed.chunks(16 * 1024) {
            while let Some(line) = dec.next_line(&mut chunk).expect("short lines") {
                if path == "frame" {
                    work += black_box(line).len();
                    continue;
                }
                let Notification::Update {
                    sub_id,
                    item,
                    values,
                } = Notification::parse_bytes(line).expect("valid line")
                else {
                    continue;
                };
                if path == "parse" {
                    work += black_box(values).len();
                    continue;
                }
                let model = &mut models[sub_id as usize - 1];
                let update = model.update(item as usize, values).expect("valid update");
                work += update.changed_fields().count();
            }
        }
    }
    let lines = passes * feed.lines;
    let ns = start.elapsed().as_nanos() as f64 / lines.max(1) as f64;
    println!("{path}: {lines} lines, {ns:.1} ns/line (work {work})");
}
