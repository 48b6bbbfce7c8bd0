//! `invar`: the one binary.

use clap::Parser;

/// Invar: an etcd-compatible key-value store built to be tested by deterministic simulation.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
