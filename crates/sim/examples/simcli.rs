//! `medblock sim` without the node binary: the same arguments and output (`run_cli`), so the
//! simulator's results can be compared across commits by building this crate alone:
//! `cargo run -p medblock-sim --example simcli -- --orderers 4 --seeds 1..200 --json`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: medblock_sim::cli::SimArgs,
}

fn main() {
    let cli = Cli::parse();
    match medblock_sim::cli::run_cli(&cli.args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
