//! `tlcp`: the command line of the tlcp toolkit.
//!
//! No subcommands exist yet; `tlcp --version` and `tlcp --help` work.

use clap::Parser;

/// The tlcp toolkit for Lightstreamer (TLCP). Subcommands arrive with the client and server.
#[derive(Debug, Parser)]
#[command(name = "tlcp", version, about)]
struct Cli {}

fn main() {
    let Cli {} = Cli::parse();
    println!(
        "tlcp {}: no subcommands yet (the protocol core is what exists so far)",
        env!("CARGO_PKG_VERSION")
    );
}
