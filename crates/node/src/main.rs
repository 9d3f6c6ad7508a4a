//! The `medblock` binary. Each subcommand's logic lives in its crate; this file only parses and
//! dispatches.

use clap::{Parser, Subcommand};

/// MedBlock: a permissioned blockchain for sharing medical records.
#[derive(Parser, Debug)]
#[command(name = "medblock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the deterministic consensus simulator over a range of seeds.
    Sim(medblock_sim::cli::SimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => {
            if !medblock_sim::cli::run_cli(&args)? {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
