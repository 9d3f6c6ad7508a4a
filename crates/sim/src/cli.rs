//! `medblock sim`: runs a range of seeds and reports safety, liveness, heights and messages per
//! decision, per run and in total.

use crate::runner::{Behaviour, RunReport, SimConfig, run};
use serde::Serialize;
use std::ops::RangeInclusive;

/// Arguments of `medblock sim`.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Eligible orderers (each turn's committee of 3f+1 is drawn from them).
    #[arg(long, default_value_t = 4)]
    pub orderers: usize,
    /// Byzantine orderers among them.
    #[arg(long, default_value_t = 1)]
    pub byzantine: usize,
    /// Seeds to run, as A..B (inclusive) or a single number.
    #[arg(long, default_value = "1..10", value_parser = parse_seeds)]
    pub seeds: RangeInclusive<u64>,
    /// Heights each run must decide (two blocks per turn, so several turns).
    #[arg(long, default_value_t = 4)]
    pub heights: u64,
    /// Force one Byzantine behaviour (default: one per seed, in rotation).
    #[arg(long, value_enum)]
    pub behaviour: Option<Behaviour>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `A..B` (inclusive) or `A`.
pub fn parse_seeds(s: &str) -> Result<RangeInclusive<u64>, String> {
    let parse = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|e| format!("bad seed {x:?}: {e}"))
    };
    match s.split_once("..") {
        Some((a, b)) => {
            let b = b.strip_prefix('=').unwrap_or(b);
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                return Err(format!("empty seed range {s}"));
            }
            Ok(a..=b)
        }
        None => {
            let a = parse(s)?;
            Ok(a..=a)
        }
    }
}

/// Totals over all runs.
#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    /// Runs made.
    pub runs: u64,
    /// Runs where two honest nodes decided differently at one height.
    pub safety_violations: u64,
    /// Runs where some honest node did not reach the target after healing.
    pub liveness_failures: u64,
    /// Lowest height any honest node reached in any run.
    pub decided_heights_min: u64,
    /// Highest height reached.
    pub decided_heights_max: u64,
    /// Messages per decided height, over all runs.
    pub messages_per_decision: f64,
    /// View changes started by honest nodes, over all runs.
    pub view_changes: u64,
    /// Fewest turns any run went through.
    pub turns_min: u64,
    /// Turns skipped (stalled, crashed or replaced primaries), over all runs.
    pub skipped_turns: u64,
}

/// The whole output.
#[derive(Clone, Debug, Serialize)]
pub struct SimOutput {
    /// Per run.
    pub runs: Vec<RunReport>,
    /// In total.
    pub totals: Totals,
}

/// Runs the seeds; the caller prints and sets the exit code from `totals`.
pub fn simulate(args: &SimArgs) -> SimOutput {
    let runs: Vec<RunReport> = args
        .seeds
        .clone()
        .map(|seed| {
            let mut cfg = SimConfig::new(args.orderers, args.byzantine, seed);
            cfg.target_height = args.heights;
            cfg.behaviour = args.behaviour;
            run(&cfg)
        })
        .collect();
    let messages: u64 = runs.iter().map(|r| r.messages).sum();
    let decisions: u64 = runs.iter().map(|r| r.max_height).sum();
    let totals = Totals {
        runs: runs.len() as u64,
        safety_violations: runs.iter().filter(|r| !r.safety).count() as u64,
        liveness_failures: runs.iter().filter(|r| !r.liveness).count() as u64,
        decided_heights_min: runs.iter().map(|r| r.min_height).min().unwrap_or(0),
        decided_heights_max: runs.iter().map(|r| r.max_height).max().unwrap_or(0),
        messages_per_decision: if decisions == 0 {
            0.0
        } else {
            messages as f64 / decisions as f64
        },
        view_changes: runs.iter().map(|r| r.view_changes).sum(),
        turns_min: runs.iter().map(|r| r.turns).min().unwrap_or(0),
        skipped_turns: runs.iter().map(|r| r.skipped_turns).sum(),
    };
    SimOutput { runs, totals }
}

/// Runs `medblock sim`; returns whether every run kept safety and liveness.
pub fn run_cli(args: &SimArgs) -> Result<bool, serde_json::Error> {
    let out = simulate(args);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for r in &out.runs {
            println!(
                "seed {:>6} {:<15} safety {:<4} liveness {:<4} heights {}..{} msgs/decision {:>7.1} view-changes {} turns {} skipped {}",
                r.seed,
                format!("{:?}", r.behaviour),
                ok(r.safety),
                ok(r.liveness),
                r.min_height,
                r.max_height,
                r.messages_per_decision,
                r.view_changes,
                r.turns,
                r.skipped_turns
            );
        }
        let t = &out.totals;
        println!(
            "total: runs {} safety_violations {} liveness_failures {} heights {}..{} msgs/decision {:.1} view-changes {} turns_min {} skipped {}",
            t.runs,
            t.safety_violations,
            t.liveness_failures,
            t.decided_heights_min,
            t.decided_heights_max,
            t.messages_per_decision,
            t.view_changes,
            t.turns_min,
            t.skipped_turns
        );
    }
    Ok(out.totals.safety_violations == 0 && out.totals.liveness_failures == 0)
}

fn ok(b: bool) -> &'static str {
    if b { "ok" } else { "FAIL" }
}
