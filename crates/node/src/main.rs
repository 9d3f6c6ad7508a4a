//! The `medblock` binary. Each subcommand's logic lives in its crate; this file only parses and
//! dispatches.

use clap::{Parser, Subcommand};

/// MedBlock: a permissioned blockchain for sharing medical records.
#[derive(Parser, Debug)]
#[command(name = "medblock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as `text` or `json` (default: $MEDBLOCK_LOG_FORMAT, else text); filter with
    /// RUST_LOG.
    #[arg(long, global = true)]
    log_format: Option<medblock_monitoring::logging::LogFormat>,
    /// Log lines on stderr. `medblock patient ...` otherwise writes them to its log file
    /// ($MEDBLOCK_PATIENT_LOG, else $XDG_STATE_HOME/medblock/patient.log, else
    /// ~/.local/state/medblock/patient.log); other commands always log to stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a local MedBlock network end to end: CA, uploads, PBFT, committers, a patient's query.
    Demo(medblock_node::demo::DemoArgs),
    /// Run the deterministic consensus simulator over a range of seeds.
    Sim(medblock_sim::cli::SimArgs),
    /// Certificate authority: init, issue, genesis, revoke.
    #[command(subcommand)]
    Ca(medblock_node::cli::CaCommand),
    /// A node: init its config, run it.
    #[command(subcommand)]
    Node(medblock_node::cli::NodeCommand),
    /// A hospital department: submit visits through a department node.
    #[command(subcommand)]
    Client(medblock_node::cli::ClientCommand),
    /// A node's status.
    Status(medblock_node::cli::StatusArgs),
    /// Drive a running testnet: throughput, latency, the signature ceiling, the paper's Tables
    /// 4 and 5 and records lookups; CSV and PNG files in a results folder named after the run.
    Bench(medblock_node::bench::BenchArgs),
    /// A patient's light node: keys, enroll, authorization, records, show, fetch, verify, grant,
    /// revoke.
    #[command(subcommand)]
    Patient(medblock_node::patient::PatientCommand),
    /// A local network of node processes: up, status, add, remove, kill, restart, down.
    #[command(subcommand)]
    Testnet(medblock_testnet::cli::TestnetCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let format = cli
        .log_format
        .unwrap_or_else(medblock_monitoring::logging::LogFormat::from_env);
    if matches!(cli.command, Command::Patient(_)) {
        medblock_node::patient::logs::init(cli.verbose, format);
    } else {
        medblock_monitoring::logging::init(format);
    }
    match cli.command {
        Command::Demo(args) => {
            let report = medblock_node::demo::run(&args)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                medblock_node::demo::print(&report);
            }
        }
        Command::Ca(c) => medblock_node::cli::ca(c)?,
        Command::Node(c) => medblock_node::cli::node(c)?,
        Command::Client(c) => medblock_node::cli::client(c)?,
        Command::Status(a) => medblock_node::cli::status(a)?,
        Command::Bench(args) => {
            let report = medblock_node::bench::run(&args)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                medblock_node::bench::report::print(&report);
            }
        }
        Command::Patient(c) => medblock_node::patient::run(c)?,
        Command::Testnet(c) => medblock_testnet::cli::run(c)?,
        Command::Sim(args) => {
            if !medblock_sim::cli::run_cli(&args)? {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
