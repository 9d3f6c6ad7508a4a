//! What `medblock bench` measured: the JSON report, the CSV files and PNG plots of the results
//! folder, and the text for people.

use super::BenchArgs;
use super::tables::{self, DayRun};
use crate::patient::bench::BenchFigures as RecordsFigures;
use anyhow::Result;
use medblock_bench::ceiling::Ceiling;
use medblock_bench::output::ResultsDir;
use medblock_bench::plots::{self, LoadPoint, RecordsRow, Table4Row};
use medblock_bench::stats::Percentiles;
use serde::Serialize;
use std::path::PathBuf;

/// The saturating burst.
#[derive(Debug, Clone, Serialize)]
pub struct BurstFigures {
    /// Events submitted at once.
    pub events: usize,
    /// Events committed.
    pub committed: usize,
    /// Committed events per second, first submission to last commit.
    pub events_per_s: f64,
    /// Submit-to-commit latency of the burst's events.
    pub latency: Percentiles,
}

/// One open-loop run.
#[derive(Debug, Clone, Serialize)]
pub struct RateFigures {
    /// Offered events per second.
    pub offered_per_s: f64,
    /// Events submitted.
    pub submitted: usize,
    /// Events committed.
    pub committed: usize,
    /// Committed events per second.
    pub committed_per_s: f64,
    /// Submit-to-commit latency.
    pub latency: Percentiles,
    /// Every event of the run, to place the tail in time (`latency-samples.csv`).
    #[serde(skip)]
    pub samples: Vec<LatencySample>,
}

/// One row of `table5-steady.csv`: a period of the steady state's last day.
#[derive(Debug, Clone, Serialize)]
pub struct SteadyRow {
    /// The period, as the day curve names it.
    pub period: String,
    /// Visits that arrived in it (each day).
    pub arrivals: u64,
    /// Records committed in it on the last day.
    pub committed: u64,
    /// The paper's MedBlock column for the period (GB/h), for comparison of shape.
    pub paper_medblock_gb_per_h: f64,
}

/// One row of `latency-samples.csv`: one open-loop event.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySample {
    /// The run's offered load, events per second.
    pub offered_per_s: f64,
    /// When the event was sent, seconds from the run's start.
    pub sent_s: f64,
    /// Submit-to-commit latency (empty when it did not commit).
    pub latency_ms: Option<f64>,
}

/// Table 5: the same compressed day with real-time and with turn-based upload.
#[derive(Debug, Clone, Serialize)]
pub struct Table5 {
    /// Every record urgent.
    pub realtime: DayRun,
    /// Records may wait (most of) one period.
    pub turn: DayRun,
    /// The lowest peak/mean ANY schedule could reach on these arrivals if no record may wait
    /// more than one period (see `medblock_bench::flow::min_peak_over_mean_with_delay`).
    pub turn_bound_peak_mean: f64,
    /// Records may wait most of a day: the flow of the last of several days.
    pub steady: tables::SteadyRun,
}

/// Everything measured, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The run's name (its results folder).
    pub run: String,
    /// The cargo profile that built the binary under test ([`build_profile`]).
    pub profile: &'static str,
    /// Whether it was the quick run.
    pub quick: bool,
    /// Live nodes of the testnet.
    pub nodes: usize,
    /// Orderers.
    pub orderers: usize,
    /// Departments the load went through.
    pub departments: usize,
    /// Saturated committed events per second (the burst).
    pub events_per_s: f64,
    /// Submit-to-commit p50 at half of the saturated rate, ms.
    pub p50_ms: f64,
    /// Submit-to-commit p99 at half of the saturated rate, ms.
    pub p99_ms: f64,
    /// Submit-to-commit p99.9 at half of the saturated rate, ms.
    pub p999_ms: f64,
    /// The offered load p50/p99 were measured at, events/s.
    pub latency_load_per_s: f64,
    /// The machine's ed25519 verification ceiling.
    pub ceiling: Ceiling,
    /// Signature verifications per committed event, summed over all nodes.
    pub verifications_per_event: f64,
    /// Events/s the signature ceiling allows: ceiling ÷ verifications per event.
    pub signature_bound_per_s: f64,
    /// events_per_s ÷ signature_bound_per_s.
    pub ceiling_ratio: f64,
    /// Table 5: peak/mean of the committed flow, real-time upload.
    pub table5_realtime_peak_mean: f64,
    /// Table 5: peak/mean of the committed flow, turn-based upload.
    pub table5_turn_peak_mean: f64,
    /// Table 5: the longest any record waited with turn-based upload, in periods.
    pub table5_max_delay_periods: f64,
    /// Table 5, steady state (records may wait most of a day): peak/mean of the last day.
    pub table5_steady_peak_mean: f64,
    /// Table 5, steady state: the longest any record waited, in periods.
    pub table5_steady_max_delay_periods: f64,
    /// Table 5, steady state: the longest any record waited beyond the wait it was allowed,
    /// in periods (0 when every record met its deadline).
    pub table5_steady_max_overdue_periods: f64,
    /// The burst.
    pub burst: BurstFigures,
    /// The open-loop runs.
    pub rates: Vec<RateFigures>,
    /// Table 4.
    pub table4: Vec<Table4Row>,
    /// Table 5.
    pub table5: Table5,
    /// Records lookups.
    pub records: Vec<RecordsFigures>,
    /// The benchmark's patients' enrolment: bulk rate and interactive latency.
    pub enrolment: Option<super::target::EnrolmentFigures>,
    /// Files written (CSV, PNG, JSON).
    pub files: Vec<PathBuf>,
}

/// The parts [`BenchReport::new`] assembles.
pub struct Parts {
    pub(super) run: String,
    pub(super) quick: bool,
    pub(super) nodes: usize,
    pub(super) orderers: usize,
    pub(super) departments: usize,
    pub(super) ceiling: Ceiling,
    pub(super) verifications_per_event: f64,
    pub(super) signature_bound_per_s: f64,
    pub(super) burst: BurstFigures,
    pub(super) rates: Vec<RateFigures>,
    pub(super) at_half: Option<RateFigures>,
    pub(super) table4: Vec<Table4Row>,
    pub(super) table5: Table5,
    pub(super) records: Vec<RecordsFigures>,
}

impl BenchReport {
    /// The report, with the headline figures derived from the parts.
    pub fn new(p: Parts) -> Self {
        let lat = p.at_half.as_ref();
        Self {
            run: p.run,
            profile: build_profile(),
            quick: p.quick,
            nodes: p.nodes,
            orderers: p.orderers,
            departments: p.departments,
            events_per_s: p.burst.events_per_s,
            p50_ms: lat.map(|r| r.latency.p50_ms).unwrap_or(0.0),
            p99_ms: lat.map(|r| r.latency.p99_ms).unwrap_or(0.0),
            p999_ms: lat.map(|r| r.latency.p999_ms).unwrap_or(0.0),
            latency_load_per_s: lat.map(|r| r.offered_per_s).unwrap_or(0.0),
            ceiling_ratio: p.burst.events_per_s / p.signature_bound_per_s.max(1e-9),
            ceiling: p.ceiling,
            verifications_per_event: p.verifications_per_event,
            signature_bound_per_s: p.signature_bound_per_s,
            table5_realtime_peak_mean: p.table5.realtime.flow.peak_over_mean,
            table5_turn_peak_mean: p.table5.turn.flow.peak_over_mean,
            table5_max_delay_periods: p.table5.turn.flow.max_delay_periods,
            table5_steady_peak_mean: p.table5.steady.flow.peak_over_mean,
            table5_steady_max_delay_periods: p.table5.steady.flow.max_delay_periods,
            table5_steady_max_overdue_periods: p.table5.steady.max_overdue_periods(),
            burst: p.burst,
            rates: p.rates,
            table4: p.table4,
            table5: p.table5,
            records: p.records,
            enrolment: None,
            files: Vec::new(),
        }
    }
}

/// One row of `records.csv`.
#[derive(Serialize)]
struct RecordsCsv {
    ledger_events: usize,
    records: usize,
    crumbs_p50_ms: f64,
    full_scan_p50_ms: f64,
    serve_p50_ms: f64,
    verify_p50_ms: f64,
    end_to_end_p50_ms: f64,
}

/// Writes the results folder: CSV files, PNG plots and `report.json`.
pub fn write_files(r: &mut BenchReport, args: &BenchArgs) -> Result<()> {
    let base = args.out.clone().unwrap_or_else(|| args.dir.join("results"));
    let dir = ResultsDir::create(&base, &r.run)?;
    let mut files = Vec::new();
    let points: Vec<LoadPoint> = r
        .rates
        .iter()
        .map(|f| LoadPoint {
            offered_per_s: f.offered_per_s,
            committed_per_s: f.committed_per_s,
            p50_ms: f.latency.p50_ms,
            p99_ms: f.latency.p99_ms,
            p999_ms: f.latency.p999_ms,
        })
        .collect();
    files.push(dir.write_csv("throughput-latency.csv", &points)?);
    let samples: Vec<&LatencySample> = r.rates.iter().flat_map(|f| &f.samples).collect();
    files.push(dir.write_csv("latency-samples.csv", &samples)?);
    files.push(plots::latency_vs_load(&dir.path, &points)?);
    files.push(dir.write_csv("table4.csv", &r.table4)?);
    files.push(plots::table4(&dir.path, &r.table4)?);
    let curve = args.day_curve()?;
    let t5 = &r.table5;
    let rows = medblock_bench::table5_rows(
        &curve,
        &t5.realtime.arrivals,
        &t5.realtime.flow,
        &t5.turn.flow,
    );
    files.push(dir.write_csv("table5.csv", &rows)?);
    let steady: Vec<SteadyRow> = curve
        .periods
        .iter()
        .enumerate()
        .map(|(k, p)| SteadyRow {
            period: p.label(),
            arrivals: t5.steady.arrivals.get(k).copied().unwrap_or(0),
            committed: t5.steady.flow.per_period.get(k).copied().unwrap_or(0),
            paper_medblock_gb_per_h: p.medblock_gb_per_h,
        })
        .collect();
    files.push(dir.write_csv("table5-steady.csv", &steady)?);
    files.push(dir.write_csv("table5-steady-events.csv", &t5.steady.events)?);
    files.push(plots::table5(
        &dir.path,
        &curve,
        &t5.realtime.flow,
        &t5.turn.flow,
    )?);
    if !r.records.is_empty() {
        let rows: Vec<RecordsCsv> = r
            .records
            .iter()
            .map(|f| RecordsCsv {
                ledger_events: f.ledger_events,
                records: f.records,
                crumbs_p50_ms: f.crumbs_ms.0,
                full_scan_p50_ms: f.full_scan_ms.0,
                serve_p50_ms: f.serve_ms.0,
                verify_p50_ms: f.verify_ms.0,
                end_to_end_p50_ms: f.end_to_end_ms.0,
            })
            .collect();
        files.push(dir.write_csv("records.csv", &rows)?);
        let plot: Vec<RecordsRow> = r
            .records
            .iter()
            .map(|f| RecordsRow {
                ledger_events: f.ledger_events as u64,
                crumbs_ms: f.crumbs_ms.0,
                full_scan_ms: f.full_scan_ms.0,
            })
            .collect();
        files.push(plots::records(&dir.path, &plot)?);
    }
    let json = dir.path.join("report.json");
    files.push(json.clone());
    r.files = files;
    std::fs::write(&json, serde_json::to_vec_pretty(r)?)?;
    Ok(())
}

/// Which cargo profile built this binary: `release` (`scripts/install-release`, the image) or
/// `dev` (`cargo build`/`cargo test`: our code at opt-level 1, debug assertions on). Figures
/// from the two differ, so every report names it.
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
}

/// Prints the report for people.
pub fn print(r: &BenchReport) {
    println!(
        "testnet: {} nodes, {} orderers, {} departments, {} build; results in {}",
        r.nodes,
        r.orderers,
        r.departments,
        r.profile,
        r.files
            .first()
            .and_then(|f| f.parent())
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    println!(
        "ed25519 ceiling: {:.0} verifications/s on {} threads; {:.1} verifications per event \
         over all nodes -> signature bound {:.0} events/s",
        r.ceiling.verifications_per_s,
        r.ceiling.threads,
        r.verifications_per_event,
        r.signature_bound_per_s
    );
    if let Some(e) = &r.enrolment {
        println!(
            "enrolment: {} patients in bulk at {:.0}/s; interactive (challenge, signature, \
             enrolment) p50 {:.1} ms, p99 {:.1} ms",
            e.bulk_patients, e.bulk_per_s, e.interactive.p50_ms, e.interactive.p99_ms
        );
    }
    println!(
        "burst: {} of {} events committed, {:.0} events/s = {:.3} of the signature bound \
         (target 0.5)",
        r.burst.committed, r.burst.events, r.events_per_s, r.ceiling_ratio
    );
    println!(
        "{:>10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "offered/s", "committed", "committed/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for f in &r.rates {
        println!(
            "{:>10.0} {:>10} {:>12.1} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            f.offered_per_s,
            f.committed,
            f.committed_per_s,
            f.latency.p50_ms,
            f.latency.p99_ms,
            f.latency.p999_ms,
            f.latency.max_ms
        );
    }
    println!("Table 4: latency of n requests (upload and confirmation), seconds");
    println!(
        "{:>8} {:>10} {:>16} {:>16}",
        "n", "measured", "paper MedBlock", "paper MeDShare"
    );
    for t in &r.table4 {
        println!(
            "{:>8} {:>10.2} {:>16.2} {:>16.2}",
            t.requests, t.measured_s, t.paper_medblock_s, t.paper_medshare_s
        );
    }
    let t5 = &r.table5;
    println!(
        "Table 5: a compressed day ({} events, {} s per two-hour period), committed per period",
        t5.realtime.plan.events, t5.realtime.plan.period_s
    );
    println!(
        "{:>8} {:>9} {:>10} {:>11}",
        "period", "arrivals", "real-time", "turn-based"
    );
    for i in 0..t5.realtime.arrivals.len() {
        println!(
            "{:>5}-{:02} {:>9} {:>10} {:>11}",
            format!("{:02}", i * 2),
            i * 2 + 2,
            t5.realtime.arrivals.get(i).copied().unwrap_or(0),
            t5.realtime.flow.per_period.get(i).copied().unwrap_or(0),
            t5.turn.flow.per_period.get(i).copied().unwrap_or(0)
        );
    }
    println!(
        "peak/mean: real-time {:.2}, turn-based {:.2} (records wait up to {} ms; no schedule \
         that delays no record more than one period can go below {:.2}); longest delay: \
         real-time {:.2} periods, turn-based {:.2} periods",
        r.table5_realtime_peak_mean,
        r.table5_turn_peak_mean,
        t5.turn.plan.upload_within_ms,
        t5.turn_bound_peak_mean,
        t5.realtime.flow.max_delay_periods,
        r.table5_max_delay_periods
    );
    let st = &t5.steady;
    println!(
        "steady state ({} days, records wait up to {} ms = {:.1} periods): last day's flow {:?}, \
         peak/mean {:.2}, {} of {} arrivals committed within the day ({} after it), longest \
         delay {:.2} periods ({:.2} beyond the allowed wait), {} lost {:?}",
        st.days,
        st.plan.upload_within_ms,
        st.plan.upload_within_ms as f64 / (st.plan.period_s * 1000.0),
        st.flow.per_period,
        r.table5_steady_peak_mean,
        st.committed_in_day,
        st.arrivals.iter().sum::<u64>(),
        st.flow.after_day,
        r.table5_steady_max_delay_periods,
        r.table5_steady_max_overdue_periods,
        st.lost,
        st.lost_reasons
    );
    if !r.records.is_empty() {
        println!("records of one patient (50 records), median ms:");
        println!(
            "{:>10} {:>10} {:>12} {:>10}",
            "events", "crumbs", "full scan", "end to end"
        );
        for f in &r.records {
            println!(
                "{:>10} {:>10.2} {:>12.1} {:>10.1}",
                f.ledger_events, f.crumbs_ms.0, f.full_scan_ms.0, f.end_to_end_ms.0
            );
        }
    }
}
