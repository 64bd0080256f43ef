//! `tlcp-bench`: tlcp-client side by side with the other Lightstreamer clients.
//!
//! ```sh
//! cargo run --release -p tlcp-bench -- compare           # full run, writes docs/benchmarks.md
//! cargo run --release -p tlcp-bench -- compare --quick   # harness check (CI), writes no doc
//! ```
//!
//! `compare` builds what it needs (the release `tlcp` binary, the bench-only
//! `bench/lightstreamer-rs` project, the official Node and Python clients through
//! `interop/setup.sh`), then runs each scenario against a fresh `tlcp serve` process with
//! each contender in its own process, and writes one table per scenario. See
//! `bench/README.md`.
//!
//! `contender <name> <args>` runs one of the Rust contenders (`tlcp-client`,
//! `tlcp-client-busy-poll`, `raw-split`, `raw-decode`): the harness starts it as a child.

mod compare;
mod contenders;
mod measure;
mod report;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let result = match argv.next().as_deref() {
        Some("compare") => compare::run(argv.collect()),
        Some("report") => compare::report_again(argv.collect()),
        Some("contender") => match argv.next() {
            Some(name) => contenders::run(&name, argv.collect()),
            None => Err("contender: name the contender".into()),
        },
        _ => Err(
            "usage: tlcp-bench compare [--quick] [--skip-build] [--only CONTENDER,..] [--cases ID,..] [--doc PATH]\n       tlcp-bench report [JSON] [--doc PATH]\n       tlcp-bench contender NAME --url URL --scenario S [--mode M] [--items N] [--warmup S] [--duration S] [--timeout S]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlcp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
