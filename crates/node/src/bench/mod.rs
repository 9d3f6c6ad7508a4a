//! `medblock bench --dir DIR`: drives a running testnet (`medblock testnet up`) and measures
//! what a hospital IT team and the paper care about, writing CSV files and PNG plots into a
//! results folder named after the run:
//! - the machine's ed25519 verification ceiling, measured in the same run, and the protocol's
//!   signature verifications per committed event, summed over every node's `/metrics`;
//! - a saturating burst (committed events per second) and its ratio to the signature bound
//!   (ceiling ÷ verifications per event);
//! - open-loop runs at fixed offered rates: submit-to-commit latency p50, p99, p99.9;
//! - the paper's Table 4 (n requests and their confirmation) beside its published columns;
//! - the paper's Table 5: a compressed hospital day, real-time against turn-based upload;
//! - patient `records` lookups on ledgers of 10k, 100k and 1M events, bread crumbs against a
//!   full scan (ledgers built through storage, see [`crate::patient::bench`]).
//!
//! The demo traffic is paused while measuring and restarted afterwards.

pub mod load;
pub mod report;
pub mod tables;
pub mod target;

use anyhow::{Context as _, Result};
use clap::Args;
use medblock_bench::day::DayCurve;
use medblock_bench::stats::Percentiles;
use medblock_bench::{ceiling, flow};
use report::{BenchReport, BurstFigures, RateFigures, Table5};
use std::path::PathBuf;
use std::time::Duration;
use tables::DayPlan;
use target::Target;

/// `medblock bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The running testnet's directory.
    #[arg(long, default_value = ".medblock/testnet")]
    pub dir: PathBuf,
    /// A run of about a minute: shorter runs, a 10k-event records ledger only.
    #[arg(long)]
    pub quick: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where results folders go (default: DIR/results).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Events of the saturating burst (default 8000, quick 1000): about four seconds at
    /// saturation, so the first turn's ramp and the last block's tail do not weigh on the rate.
    #[arg(long)]
    pub burst: Option<usize>,
    /// Offered loads for the open-loop runs, events/s, comma-separated (default: 25, 50 and
    /// 75% of the burst's committed rate; quick: 50%).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Seconds of offered load per rate (default 20, quick 6).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Seconds one two-hour period of the compressed day lasts (default 10, quick 1.5).
    #[arg(long)]
    pub period_s: Option<f64>,
    /// Seconds one period lasts in the steady-state run of several days (default 5, quick
    /// 0.5): shorter than `--period-s`, since it runs four days.
    #[arg(long)]
    pub steady_period_s: Option<f64>,
    /// Days of the steady-state run; the last is counted (default 3).
    #[arg(long)]
    pub steady_days: Option<usize>,
    /// The day curve (CSV: period_start_h, period_end_h, realtime_gb_per_h, medblock_gb_per_h;
    /// default: the paper's, embedded).
    #[arg(long)]
    pub day_curve: Option<PathBuf>,
    /// Where the records ledgers are built and kept between runs.
    #[arg(long, default_value = ".medblock/bench-records")]
    pub records_dir: PathBuf,
    /// Ledger sizes for the records lookups (default 10000,100000,1000000; quick 10000).
    #[arg(long, value_delimiter = ',')]
    pub records_sizes: Vec<usize>,
    /// Skip the records lookups.
    #[arg(long)]
    pub skip_records: bool,
}

impl BenchArgs {
    fn burst(&self) -> usize {
        self.burst.unwrap_or(if self.quick { 1000 } else { 8000 })
    }
    fn seconds(&self) -> f64 {
        self.seconds.unwrap_or(if self.quick { 6.0 } else { 20.0 })
    }
    fn steady_period_s(&self) -> f64 {
        self.steady_period_s
            .unwrap_or(if self.quick { 0.5 } else { 5.0 })
    }

    fn period_s(&self) -> f64 {
        self.period_s.unwrap_or(if self.quick { 1.5 } else { 10.0 })
    }
    /// The day curve Table 5 follows: `--day-curve`, or the paper's.
    fn day_curve(&self) -> Result<DayCurve> {
        match &self.day_curve {
            Some(p) => Ok(DayCurve::parse(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )?),
            None => Ok(DayCurve::embedded()),
        }
    }

    fn records_sizes(&self) -> Vec<usize> {
        if !self.records_sizes.is_empty() {
            self.records_sizes.clone()
        } else if self.quick {
            vec![10_000]
        } else {
            vec![10_000, 100_000, 1_000_000]
        }
    }
}

/// Patients the benchmark enrols at every department (its visits go to them).
pub const BENCH_PATIENTS: usize = 1000;

/// Runs the benchmark against the testnet and writes its results folder.
pub fn run(args: &BenchArgs) -> Result<BenchReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("runtime")?;
    let mut target = rt.block_on(Target::open(&args.dir))?;
    target.pause_traffic()?;
    // Patients are enrolled before any visit of theirs is submitted: in bulk, with keys made
    // here (on the patients' side), so the burst path only records visits.
    let run = medblock_actors::clock::now_ms() / 1000;
    tracing::info!(
        patients = BENCH_PATIENTS,
        "enrolling the benchmark's patients"
    );
    let out = match rt.block_on(target.enrol_patients(run, BENCH_PATIENTS)) {
        Ok(enrolment) => {
            tracing::info!(
                bulk_per_s = enrolment.bulk_per_s,
                interactive_p50_ms = enrolment.interactive.p50_ms,
                "patients enrolled"
            );
            rt.block_on(measure(args, &target)).map(|mut r| {
                r.enrolment = Some(enrolment);
                r
            })
        }
        Err(e) => Err(e),
    };
    if let Err(e) = target.resume_traffic() {
        tracing::warn!(error = %e, "demo traffic not restarted");
    }
    let mut report = out?;
    report::write_files(&mut report, args)?;
    Ok(report)
}

async fn measure(args: &BenchArgs, target: &Target) -> Result<BenchReport> {
    let started = medblock_actors::clock::now_ms() / 1000;
    let run_name = medblock_bench::output::run_name(started, args.quick);
    // Visit numbers are unique per run so patients accumulate records across runs.
    let mut next = started * 100_000;
    let mut take = |n: usize| {
        let first = next;
        next += n as u64;
        first
    };
    let patience = Duration::from_secs(300);
    tracing::info!(
        departments = target.departments.len(),
        nodes = target.nodes.len(),
        "warming up (patient keys, first blocks)"
    );
    let warm = load::burst(target, take(40), 40);
    load::run(target, warm, patience).await?;

    let threads = ceiling::available_threads();
    let ceiling_time = Duration::from_secs_f64(if args.quick { 1.0 } else { 3.0 });
    tracing::info!(threads, "measuring the ed25519 verification ceiling");
    let ceiling = tokio::task::spawn_blocking(move || ceiling::measure(ceiling_time, threads))
        .await
        .context("ceiling")?;

    let n = args.burst();
    tracing::info!(events = n, "burst: every event submitted at once");
    let before = target.verifications().await?;
    let samples = load::run(target, load::burst(target, take(n), n), patience).await?;
    let after = target.verifications().await?;
    let committed = samples.iter().filter(|s| s.committed.is_some()).count();
    let burst = BurstFigures {
        events: n,
        committed,
        events_per_s: load::committed_rate(&samples),
        latency: Percentiles::from_samples(
            &samples
                .iter()
                .filter_map(|s| s.latency_ms())
                .collect::<Vec<_>>(),
        ),
    };
    let verifications_per_event = (after.saturating_sub(before)) as f64 / committed.max(1) as f64;
    let signature_bound_per_s = ceiling.verifications_per_s / verifications_per_event.max(1e-9);
    tracing::info!(
        events_per_s = burst.events_per_s,
        verifications_per_event,
        signature_bound_per_s,
        "burst done"
    );

    let rates: Vec<f64> = if !args.rates.is_empty() {
        args.rates.clone()
    } else if args.quick {
        vec![0.5 * burst.events_per_s]
    } else {
        [0.25, 0.5, 0.75]
            .iter()
            .map(|f| f * burst.events_per_s)
            .collect()
    };
    let mut rate_figures = Vec::new();
    for (k, rate) in rates.iter().enumerate() {
        let rate = rate.max(1.0);
        tracing::info!(
            rate,
            seconds = args.seconds(),
            run = k + 1,
            of = rates.len(),
            "open-loop run"
        );
        let first = take((rate * args.seconds()).ceil() as usize + 1);
        let samples = load::run(
            target,
            load::open_loop(target, first, rate, args.seconds()),
            patience,
        )
        .await?;
        let latencies: Vec<f64> = samples.iter().filter_map(|s| s.latency_ms()).collect();
        let f = RateFigures {
            offered_per_s: rate,
            submitted: samples.len(),
            committed: latencies.len(),
            committed_per_s: load::committed_rate(&samples),
            latency: Percentiles::from_samples(&latencies),
            samples: samples
                .iter()
                .map(|s| report::LatencySample {
                    offered_per_s: rate,
                    sent_s: s.sent.as_secs_f64(),
                    latency_ms: s.latency_ms(),
                })
                .collect(),
        };
        tracing::info!(
            rate,
            p50_ms = f.latency.p50_ms,
            p99_ms = f.latency.p99_ms,
            "open-loop run done"
        );
        rate_figures.push(f);
    }

    tracing::info!("table 4: n requests and their confirmation");
    let table4 = tables::table4(target, take(300), patience).await?;

    let curve = args.day_curve()?;
    let period_s = args.period_s();
    // The busiest period offers half of the saturated rate: real-time upload must keep up, so
    // the comparison is about the shape of the flow, not about congestion.
    let weights: Vec<f64> = curve.periods.iter().map(|p| p.realtime_gb_per_h).collect();
    let peak = weights.iter().copied().fold(0.0, f64::max).max(1e-9);
    let total_weight: f64 = weights.iter().sum();
    let day_events =
        |period_s: f64| (0.5 * burst.events_per_s * period_s * total_weight / peak).round() as u64;
    let events = day_events(period_s);
    // Turn-based: a record may wait most of one period (the pace needs some of the period to
    // commit what became due at its end).
    let within = (period_s * 0.8 * 1000.0) as u64;
    // The same day twice: every record urgent (real-time), then records allowed to wait.
    let mut runs = Vec::with_capacity(2);
    for upload_within_ms in [0, within] {
        tracing::info!(
            events,
            period_s,
            upload_within_ms,
            "table 5: a compressed day"
        );
        let plan = DayPlan {
            period_s,
            events,
            upload_within_ms,
        };
        runs.push(tables::day(target, &curve, take(events as usize), plan).await?);
    }
    let (Some(turn), Some(realtime)) = (runs.pop(), runs.pop()) else {
        anyhow::bail!("table 5 ran fewer than two days");
    };
    // The steady state: records may wait most of a day (11 of 12 periods), as the paper's
    // MedBlock column does (it uploads at night); several days back to back, the last counted.
    let steady_period_s = args.steady_period_s();
    let steady_days = args.steady_days.unwrap_or(3).max(1);
    let periods = curve.periods.len();
    let steady_events = day_events(steady_period_s);
    let steady_within = (steady_period_s * periods.saturating_sub(1).max(1) as f64 * 1000.0) as u64;
    tracing::info!(
        days = steady_days,
        events_per_day = steady_events,
        period_s = steady_period_s,
        upload_within_ms = steady_within,
        "table 5: steady state, records may wait most of a day"
    );
    let steady = tables::days(
        target,
        &curve,
        take(steady_events as usize * steady_days),
        DayPlan {
            period_s: steady_period_s,
            events: steady_events,
            upload_within_ms: steady_within,
        },
        steady_days,
    )
    .await?;
    let arrivals = curve.arrivals_per_period(events);
    let table5 = Table5 {
        turn_bound_peak_mean: flow::min_peak_over_mean_with_delay(&arrivals, 1),
        realtime,
        turn,
        steady,
    };

    let records = if args.skip_records {
        Vec::new()
    } else {
        let sizes = args.records_sizes();
        let dir = args.records_dir.clone();
        let runs = if args.quick { 5 } else { 20 };
        tracing::info!(?sizes, "records lookups: bread crumbs against a full scan");
        tokio::task::spawn_blocking(move || {
            crate::patient::bench::run(&crate::patient::bench::BenchArgs::with_sizes(
                dir, sizes, runs,
            ))
        })
        .await
        .context("records bench")??
    };

    // p50/p99 at half of the saturated rate (the run nearest to it).
    let half = 0.5 * burst.events_per_s;
    let at_half = rate_figures
        .iter()
        .min_by(|a, b| {
            (a.offered_per_s - half)
                .abs()
                .total_cmp(&(b.offered_per_s - half).abs())
        })
        .cloned();
    Ok(BenchReport::new(report::Parts {
        run: run_name,
        quick: args.quick,
        nodes: target.nodes.len(),
        orderers: target.orderers,
        departments: target.departments.len(),
        ceiling,
        verifications_per_event,
        signature_bound_per_s,
        burst,
        rates: rate_figures,
        at_half,
        table4,
        table5,
        records,
    }))
}
