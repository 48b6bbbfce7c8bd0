//! `invar`: the one binary. Wall-clock time (speed reports, deadlines) is read here and
//! passed into the deterministic crates, never read inside them.

mod check_cmd;
mod progress;
mod raft_sim_cmd;
mod sim_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Invar: an etcd-compatible key-value store built to be tested by deterministic simulation.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate whole clusters (members, clients, faults) deterministically over many seeds;
    /// a failure writes a repro file and prints the command that replays it.
    Sim(Box<sim_cmd::SimArgs>),
    /// Simulate the consensus core alone (faster, consensus properties only).
    RaftSim(raft_sim_cmd::RaftSimArgs),
    /// Check recorded histories for linearizability and watch guarantees.
    Check(check_cmd::CheckArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sim(args) => sim_cmd::run(*args),
        Command::RaftSim(args) => raft_sim_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("invar: {error:#}");
            ExitCode::from(2)
        }
    }
}
