//! `medblock bench`: throughput and submit-to-commit latency of the reference network (4
//! orderers, 2 regions, 2 hospitals), measured on the real thing started in this process:
//! departments seal and sign, endorsers verify and pack, the committee runs PBFT over libp2p on
//! 127.0.0.1, committers write RocksDB. Two measurements:
//! - a burst: many events submitted at once, the committed rate when the network is saturated;
//! - open-loop runs: events offered at fixed rates whatever the network does (a new submission
//!   every 1/rate seconds, never waiting for the previous one), each event's latency from
//!   submission to the committed receipt, reported as percentiles.

use crate::localnet::{LocalNet, reference_network};
use anyhow::{Context as _, Result, bail};
use clap::Args;
use medblock_actors::client::Visit;
use medblock_actors::node::RunningNode;
use medblock_core::genesis::default_params;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `medblock bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Events submitted at once to measure the saturated throughput (0 skips the burst).
    #[arg(long, default_value_t = 4000)]
    pub burst: usize,
    /// Offered loads in events per second for the open-loop latency runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200")]
    pub rates: Vec<u32>,
    /// Seconds of offered load per rate.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Keep the network's files in this directory (default: a temporary one, removed).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a burst measured.
#[derive(Debug, Clone, Serialize)]
pub struct BurstFigures {
    /// Events submitted.
    pub events: usize,
    /// From the first submission to the last commit.
    pub seconds: f64,
    /// Committed events per second.
    pub events_per_s: f64,
}

/// What one open-loop run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RateFigures {
    /// Offered events per second.
    pub offered_per_s: u32,
    /// Events submitted.
    pub submitted: usize,
    /// Events committed (the rest failed or timed out).
    pub committed: usize,
    /// Committed events per second, first submission to last commit.
    pub committed_per_s: f64,
    /// Submit-to-commit latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest event.
    pub max_ms: f64,
}

/// Everything `medblock bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Nodes in the network.
    pub nodes: usize,
    /// Orderers (the PBFT committee is drawn from them).
    pub orderers: usize,
    /// Consensus parameters that matter for the figures.
    pub max_block_events: u32,
    /// Primary's packing interval.
    pub block_interval_ms: u64,
    /// The saturated throughput, when measured.
    pub burst: Option<BurstFigures>,
    /// The open-loop runs.
    pub rates: Vec<RateFigures>,
}

/// Nearest-rank percentile of sorted samples (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0.0)
}

fn visit(i: usize) -> Visit {
    Visit {
        patient: format!("bench-patient-{}", i % 200),
        diagnosis: format!("J06.9 acute upper respiratory infection, visit {i}"),
        examination_results: "temperature 38.1 C; pharynx erythematous; lungs clear; CRP 12 mg/L"
            .into(),
        treatment_plan: "paracetamol 500 mg up to 4x daily for 3 days; review if not improving"
            .into(),
        emr: None,
    }
}

/// Runs the benchmark: starts the reference network, measures, stops it.
pub fn run(args: &BenchArgs) -> Result<BenchReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("runtime")?;
    let tmp;
    let root = match &args.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("temporary directory")?;
            tmp.path().to_owned()
        }
    };
    let params = default_params();
    let specs = reference_network();
    let orderers = specs.iter().filter(|s| s.has("orderer")).count();
    tracing::info!(nodes = specs.len(), orderers, dir = %root.display(), "starting the reference network");
    let mut net = LocalNet::create(&root, specs, params, medblock_actors::clock::now_ms())?;
    net.start_all()?;
    rt.block_on(net.wait_ready(Duration::from_secs(60)))?;
    let departments: Vec<RunningNode> = net
        .specs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.has("client"))
        .filter_map(|(i, _)| net.node(i).map(|n| n.node.clone()))
        .collect();
    if departments.is_empty() {
        bail!("the network has no department to submit through");
    }
    tracing::info!("network ready; warming up (first blocks, patient keys)");
    rt.block_on(burst(&departments, 200, 0))?;

    let burst_figures = if args.burst > 0 {
        tracing::info!(events = args.burst, "burst: all events submitted at once");
        Some(rt.block_on(burst(&departments, args.burst, 1_000_000))?)
    } else {
        None
    };
    let mut rates = Vec::new();
    for (k, rate) in args.rates.iter().enumerate() {
        tracing::info!(
            rate,
            seconds = args.seconds,
            run = k + 1,
            of = args.rates.len(),
            "open-loop run"
        );
        let figures = rt.block_on(open_loop(
            &departments,
            *rate,
            args.seconds,
            2_000_000 + k * 1_000_000,
        ))?;
        tracing::info!(
            rate,
            p50_ms = figures.p50_ms,
            p99_ms = figures.p99_ms,
            committed_per_s = figures.committed_per_s,
            "run done"
        );
        rates.push(figures);
    }
    let report = BenchReport {
        nodes: net.specs.len(),
        orderers,
        max_block_events: params.max_block_events,
        block_interval_ms: params.block_interval_ms,
        burst: burst_figures,
        rates,
    };
    net.stop_all();
    Ok(report)
}

/// Submits `n` events split over the departments at once and waits for every commit.
async fn burst(departments: &[RunningNode], n: usize, first: usize) -> Result<BurstFigures> {
    let start = Instant::now();
    let per = n.div_ceil(departments.len());
    let mut tasks = Vec::new();
    for (d, node) in departments.iter().enumerate() {
        let visits: Vec<Visit> = (0..per)
            .map(|i| visit(first + d * per + i))
            .take(n.saturating_sub(d * per))
            .collect();
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            node.submit(visits, true, Duration::from_secs(600)).await
        }));
    }
    let mut committed = 0;
    for t in tasks {
        let outcomes = t.await.context("submitter")?.context("submit")?;
        committed += outcomes.iter().filter(|o| o.status == "committed").count();
    }
    if committed < n {
        bail!("only {committed} of {n} events committed");
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BurstFigures {
        events: n,
        seconds,
        events_per_s: n as f64 / seconds.max(1e-9),
    })
}

/// Offers `rate` events per second for `seconds`, each submitted on its own, and measures each
/// one's submit-to-commit latency.
async fn open_loop(
    departments: &[RunningNode],
    rate: u32,
    seconds: u64,
    first: usize,
) -> Result<RateFigures> {
    let total = (rate as u64 * seconds) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let Some(node) = departments.get(i % departments.len()).cloned() else {
            bail!("no department");
        };
        let v = visit(first + i);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let r = node.submit(vec![v], true, Duration::from_secs(120)).await;
            let ok = matches!(&r, Ok(o) if o.iter().all(|o| o.status == "committed"));
            (ok, t0.elapsed(), start.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut last = Duration::ZERO;
    for t in tasks {
        let (ok, latency, done_at) = t.await.context("submitter")?;
        if ok {
            latencies.push(latency.as_secs_f64() * 1000.0);
            last = last.max(done_at);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(RateFigures {
        offered_per_s: rate,
        submitted: total,
        committed: latencies.len(),
        committed_per_s: latencies.len() as f64 / last.as_secs_f64().max(1e-9),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        p999_ms: percentile(&latencies, 99.9),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    })
}

/// Prints the report for people.
pub fn print(r: &BenchReport) {
    println!(
        "reference network: {} nodes, {} orderers; blocks of up to {} events every {} ms",
        r.nodes, r.orderers, r.max_block_events, r.block_interval_ms
    );
    if let Some(b) = &r.burst {
        println!(
            "burst: {} events committed in {:.2} s = {:.0} events/s",
            b.events, b.seconds, b.events_per_s
        );
    }
    println!(
        "{:>10} {:>10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "offered/s",
        "submitted",
        "committed",
        "committed/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms"
    );
    for f in &r.rates {
        println!(
            "{:>10} {:>10} {:>10} {:>12.1} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            f.offered_per_s,
            f.submitted,
            f.committed,
            f.committed_per_s,
            f.p50_ms,
            f.p99_ms,
            f.p999_ms,
            f.max_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 99.9), 100.0);
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }
}
