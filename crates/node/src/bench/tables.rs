//! The paper's Tables 4 and 5 measured on the testnet.
//!
//! * Table 4: `n` service-provider requests (an upload and its confirmation) sent together; the
//!   time until the last one is confirmed, for the paper's `n`.
//! * Table 5: a compressed hospital day. Arrivals follow the day curve's first column (visits per
//!   two-hour period, real-time upload's flow in the paper), each period compressed to a few
//!   seconds; the committed flow per period is counted by commit time, once with every record
//!   urgent (real-time upload) and once with records allowed to wait (turn-based, paced upload).
//! * Table 5's steady state: several compressed days back to back with records allowed to wait
//!   most of a day (the paper's MedBlock column uploads the day's records through the night);
//!   the flow of the last day is counted.

use super::load::{self, Planned, Sample};
use super::target::Target;
use anyhow::Result;
use medblock_bench::day::DayCurve;
use medblock_bench::flow::{self, Committed, Flow};
use medblock_bench::paper::TABLE4;
use medblock_bench::plots::Table4Row;
use serde::Serialize;
use std::time::Duration;

/// Table 4, measured.
pub async fn table4(target: &Target, first: u64, patience: Duration) -> Result<Vec<Table4Row>> {
    let mut rows = Vec::new();
    let mut next = first;
    for (n, medblock, medshare) in TABLE4 {
        let plan = load::burst(target, next, n as usize);
        next += u64::from(n);
        let samples = load::run(target, plan, patience).await?;
        let all = samples.iter().all(|s| s.committed.is_some());
        let last = samples.iter().filter_map(|s| s.committed).max();
        let measured_s = match (all, last) {
            (true, Some(l)) => l.as_secs_f64(),
            _ => anyhow::bail!("table 4: not all of {n} requests were confirmed"),
        };
        tracing::info!(requests = n, seconds = measured_s, "table 4 row");
        rows.push(Table4Row {
            requests: n,
            measured_s,
            paper_medblock_s: medblock,
            paper_medshare_s: medshare,
        });
    }
    Ok(rows)
}

/// How one compressed day was run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DayPlan {
    /// Seconds one two-hour period lasts.
    pub period_s: f64,
    /// Visits in the day.
    pub events: u64,
    /// How long each record may wait, in milliseconds (0: real-time upload).
    pub upload_within_ms: u64,
}

/// One day's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DayRun {
    /// The plan.
    pub plan: DayPlan,
    /// Arrivals per period.
    pub arrivals: Vec<u64>,
    /// Committed flow per period and its peak/mean, longest delay.
    pub flow: Flow,
    /// Visits not confirmed within the patience.
    pub lost: usize,
    /// The lost visits by why they were lost.
    pub lost_reasons: std::collections::BTreeMap<String, usize>,
}

/// Runs one compressed day and counts the committed flow per period.
pub async fn day(target: &Target, curve: &DayCurve, first: u64, plan: DayPlan) -> Result<DayRun> {
    let period = Duration::from_secs_f64(plan.period_s);
    let offsets = curve.arrival_offsets(plan.events, period);
    let (samples, committed) = send_on_schedule(target, first, &offsets, &plan).await?;
    let periods = curve.periods.len();
    Ok(DayRun {
        plan,
        arrivals: curve.arrivals_per_period(plan.events),
        flow: flow::analyse(&committed, plan.period_s, periods),
        lost: samples.len() - committed.len(),
        lost_reasons: load::failures(&samples),
    })
}

/// Several compressed days back to back; the flow of the last one.
#[derive(Debug, Clone, Serialize)]
pub struct SteadyRun {
    /// Each day's plan.
    pub plan: DayPlan,
    /// Days run; the last is counted.
    pub days: usize,
    /// Arrivals per period of each day.
    pub arrivals: Vec<u64>,
    /// The last day's committed flow (commits after it are `after_day`), and the longest delay
    /// of any record of the run.
    pub flow: Flow,
    /// Records committed within the last day: in a steady state, one day's arrivals.
    pub committed_in_day: u64,
    /// Visits not confirmed within the patience.
    pub lost: usize,
    /// The lost visits by why they were lost.
    pub lost_reasons: std::collections::BTreeMap<String, usize>,
    /// Every visit of the run (`table5-steady-events.csv`), to find the late ones.
    #[serde(skip)]
    pub events: Vec<SteadyEvent>,
}

impl SteadyRun {
    /// The longest any record waited beyond its allowed wait, in periods (0 if none did).
    pub fn max_overdue_periods(&self) -> f64 {
        let allowed_s = self.plan.upload_within_ms as f64 / 1000.0;
        let over_s = (self.flow.max_delay_s - allowed_s).max(0.0);
        if self.plan.period_s > 0.0 {
            over_s / self.plan.period_s
        } else {
            0.0
        }
    }
}

/// One visit of the steady-state run, seconds from the run's start (empty when unknown).
#[derive(Debug, Clone, Serialize)]
pub struct SteadyEvent {
    /// The department it was submitted through (index in the testnet's departments).
    pub department: usize,
    /// Sent by the load generator.
    pub sent_s: f64,
    /// Recorded by the department.
    pub recorded_s: Option<f64>,
    /// Ordered by the ledger (its block's orderer timestamp).
    pub ordered_s: Option<f64>,
    /// Seen committed by the department.
    pub committed_s: Option<f64>,
    /// The answer reached the load generator.
    pub answered_s: Option<f64>,
}

/// Runs `days` compressed days back to back (the same curve each day) and counts the committed
/// flow of the last day.
pub async fn days(
    target: &Target,
    curve: &DayCurve,
    first: u64,
    plan: DayPlan,
    days: usize,
) -> Result<SteadyRun> {
    let period = Duration::from_secs_f64(plan.period_s);
    let periods = curve.periods.len();
    let day = period * u32::try_from(periods).unwrap_or(u32::MAX);
    let one_day = curve.arrival_offsets(plan.events, period);
    let offsets: Vec<Duration> = (0..days)
        .flat_map(|d| {
            let shift = day * u32::try_from(d).unwrap_or(u32::MAX);
            one_day.iter().map(move |o| *o + shift)
        })
        .collect();
    let (samples, committed) = send_on_schedule(target, first, &offsets, &plan).await?;
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let events = samples
        .iter()
        .map(|s| SteadyEvent {
            department: s.department,
            sent_s: s.sent.as_secs_f64(),
            recorded_s: secs(s.ledger_recorded),
            ordered_s: secs(s.ledger_ordered),
            committed_s: secs(s.ledger_committed),
            answered_s: secs(s.committed),
        })
        .collect();
    let start_s = day.as_secs_f64() * days.saturating_sub(1) as f64;
    let flow = flow::analyse_day_of_run(&committed, plan.period_s, periods, start_s);
    Ok(SteadyRun {
        plan,
        days,
        arrivals: curve.arrivals_per_period(plan.events),
        committed_in_day: flow.per_period.iter().sum(),
        flow,
        lost: samples.len() - committed.len(),
        lost_reasons: load::failures(&samples),
        events,
    })
}

/// Part of a period over which a department's visits are handed over together (see
/// [`send_on_schedule`]).
const HANDOVER_PER_PERIOD: f64 = 100.0;

/// Sends the visits on schedule (with the plan's allowed wait) and waits for every answer:
/// the samples, and the committed ones as arrival and commit times.
///
/// Each department's visits are handed over in batches every 1/[`HANDOVER_PER_PERIOD`] of a
/// period (a hospital system forwarding what its wards entered in the last moments), each batch
/// at the end of its slot, so no visit is recorded before its time. One request per visit would
/// hold one connection open per record until it commits: with records allowed to wait most of a
/// day that is tens of thousands of sockets, more than a process may open. Arrivals are counted
/// when the department records them, so the batching shows in the flow as it really happened.
async fn send_on_schedule(
    target: &Target,
    first: u64,
    offsets: &[Duration],
    plan: &DayPlan,
) -> Result<(Vec<Sample>, Vec<Committed>)> {
    let visits = load::visits(
        &target.departments,
        first,
        offsets.len(),
        plan.upload_within_ms,
    );
    let slot = Duration::from_secs_f64((plan.period_s / HANDOVER_PER_PERIOD).max(0.001));
    let mut batches: std::collections::BTreeMap<(u128, usize), Vec<serde_json::Value>> =
        std::collections::BTreeMap::new();
    for (at, (department, visit)) in offsets.iter().zip(visits) {
        let k = at.as_nanos() / slot.as_nanos().max(1);
        batches.entry((k, department)).or_default().push(visit);
    }
    let planned: Vec<Planned> = batches
        .into_iter()
        .map(|((k, department), visits)| Planned {
            at: slot * u32::try_from(k + 1).unwrap_or(u32::MAX),
            department,
            visits,
        })
        .collect();
    let patience = Duration::from_millis(plan.upload_within_ms) + Duration::from_secs(120);
    let samples: Vec<Sample> = load::run(target, planned, patience).await?;
    let committed = samples
        .iter()
        .filter_map(|s| {
            Some(Committed {
                arrived_s: s.ledger_recorded.unwrap_or(s.sent).as_secs_f64(),
                committed_s: s.ledger_committed.or(s.committed)?.as_secs_f64(),
            })
        })
        .collect();
    Ok((samples, committed))
}
