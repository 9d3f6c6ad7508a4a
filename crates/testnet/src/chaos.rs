//! `medblock testnet chaos`: load, random faults, and what came of them.
//!
//! On a running testnet it pauses the demo traffic, then drives visits at a steady rate through
//! the hospital departments, each answered at commit (`POST /submit` with `wait`), and records
//! every acknowledged one: (hospital, department, sequence, height, block hash). Meanwhile it
//! perturbs one node at a time, chosen with a seeded RNG among the orderers and endorsers (and
//! the departments with `--include-departments`): SIGKILL and a restart after a short random
//! pause, SIGSTOP and SIGCONT, or a cut at the p2p layer and a reconnect ([`crate::perturb`]).
//! Every node's `/status` is sampled every [`SAMPLE_EVERY`]; the best height over time gives
//! the stalls (how long the best height stood still) and, per perturbation, the recovery time
//! (from the fault, and from its undo, until the best height moved again).
//!
//! Then the load stops, the network converges, and every node is asked where each
//! department's sequence numbers of the run sit on its ledger (`GET /ledger/events`): an
//! acknowledged visit not at its acknowledged height and block on a node that has reached
//! that height is lost; more events of the run on the ledger than visits handed to the
//! department means a visit went on the ledger twice. The results folder gets
//! `timeline.csv`, `perturbations.csv`, `acknowledged.csv`, `summary.json` and
//! `timeline.png`; [`ChaosReport::verdict`] fails when anything acknowledged was lost, a visit
//! is on the ledger twice, the ledgers disagree or the network did not converge.

use crate::error::{Result, TestnetError};
use crate::ops::progress;
use crate::perturb::{self, Perturbation};
use crate::process;
use crate::state::{NodeEntry, TestnetState};
use crate::{http, status, traffic};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often every node's `/status` is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// How long a submitted visit may wait for its commit.
const COMMIT_WAIT: Duration = Duration::from_secs(60);

/// Most visits waiting for their answer at once; beyond it the load skips a beat.
const MAX_IN_FLIGHT: u64 = 5_000;

/// Most sequence numbers one `GET /ledger/events` asks about (the node's limit).
const LEDGER_SPAN: u64 = 10_000;

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// The testnet directory.
    pub dir: PathBuf,
    /// Kills (SIGKILL, then a restart after the hold).
    pub kills: usize,
    /// Pauses (SIGSTOP, then SIGCONT after the hold).
    pub pauses: usize,
    /// Disconnects at the p2p layer (reconnected after the hold).
    pub disconnects: usize,
    /// Visits per second, spread over the departments.
    pub load: f64,
    /// Departments may be perturbed too (else orderers and endorsers only).
    pub include_departments: bool,
    /// The RNG seed (which nodes, which faults, the pauses between them).
    pub seed: u64,
    /// Seconds between one perturbation's undo and the next perturbation (uniform in range).
    pub every: (f64, f64),
    /// Seconds a perturbation lasts before it is undone (uniform in range).
    pub hold: (f64, f64),
    /// Load before the first perturbation.
    pub warmup: Duration,
    /// Load after the last perturbation's undo.
    pub settle: Duration,
    /// How long to wait for the network to converge once the load stopped.
    pub converge_timeout: Duration,
    /// The results folder (default `DIR/results/chaos-<UTC time>`).
    pub out: Option<PathBuf>,
}

/// Why a chaos run failed its checks.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// Acknowledged visits are not on the ledger where they were acknowledged.
    #[error("{lost} acknowledged visit(s) lost (see {results})")]
    Lost {
        /// How many.
        lost: u64,
        /// The results folder.
        results: PathBuf,
    },
    /// A visit is on the ledger more than once.
    #[error("{duplicated} visit(s) on the ledger twice (see {results})")]
    Duplicated {
        /// How many.
        duplicated: u64,
        /// The results folder.
        results: PathBuf,
    },
    /// The ledgers disagree.
    #[error("the ledgers disagree (see {results})")]
    Disagree {
        /// The results folder.
        results: PathBuf,
    },
    /// The network did not converge after the load stopped.
    #[error("the network did not converge within {secs}s after the load stopped (see {results})")]
    NotConverged {
        /// How long it was given.
        secs: u64,
        /// The results folder.
        results: PathBuf,
    },
    /// The results could not be written.
    #[error("writing the results: {0}")]
    Results(#[from] medblock_bench::BenchError),
}

/// One acknowledged visit: where the department said it was committed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Acknowledged {
    /// The run's visit number.
    pub visit: u64,
    /// The department node it went through.
    pub node: String,
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// Sequence number.
    pub sequence: u64,
    /// Height it was committed at.
    pub height: u64,
    /// Its block (hex).
    pub block_hash: String,
    /// Milliseconds from the start of the run when it was sent.
    pub sent_ms: u64,
    /// Milliseconds from the start when the answer came.
    pub acked_ms: u64,
}

/// One perturbation and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct PerturbationRow {
    /// 1-based.
    pub index: usize,
    /// The node.
    pub node: String,
    /// Its roles.
    pub roles: String,
    /// kill, pause or disconnect.
    pub kind: String,
    /// Seconds from the start of the run when it was applied.
    pub start_s: f64,
    /// Seconds it was held.
    pub hold_s: f64,
    /// Seconds from the start when the undo began (restart, resume, reconnect).
    pub undo_s: f64,
    /// Seconds from the start when the undo was done (a restarted node answering).
    pub back_s: f64,
    /// Seconds from the fault until the best height moved (empty: never).
    pub recovery_s: Option<f64>,
    /// Seconds from the undo until the best height moved (empty: never).
    pub recovery_after_undo_s: Option<f64>,
    /// The longer of the two: this perturbation's recovery time.
    pub recovery_max_s: Option<f64>,
    /// The longest time the best height stood still from the fault until the next
    /// perturbation (or the end of the load).
    pub longest_stall_s: f64,
    /// What went wrong applying or undoing it, if anything.
    pub error: String,
}

/// One line of the timeline: the best height at a time, and what happened then.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// Seconds from the start of the run.
    pub time_s: f64,
    /// The best height any node reported.
    pub best_height: u64,
    /// What happened (empty for a plain sample).
    pub event: String,
}

/// p50, p99 and max of a set of durations, in seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Spread {
    /// How many.
    pub count: usize,
    /// Median (nearest rank).
    pub p50_s: f64,
    /// 99th percentile (nearest rank).
    pub p99_s: f64,
    /// Largest.
    pub max_s: f64,
}

impl Spread {
    /// Of `secs` (NaN left out).
    pub fn of(secs: &[f64]) -> Self {
        let ms: Vec<f64> = secs.iter().map(|s| s * 1000.0).collect();
        let p = medblock_bench::Percentiles::from_samples(&ms);
        Self {
            count: p.count,
            p50_s: round3(p.p50_ms / 1000.0),
            p99_s: round3(p.p99_ms / 1000.0),
            max_s: round3(p.max_ms / 1000.0),
        }
    }
}

/// What a chaos run found.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// The results folder.
    pub results: PathBuf,
    /// The seed.
    pub seed: u64,
    /// Visits per second asked for.
    pub load_per_s: f64,
    /// Seconds the load ran.
    pub load_s: f64,
    /// Visits sent.
    pub sent: u64,
    /// Visits answered as committed.
    pub acknowledged: u64,
    /// Visits answered without a commit in time, or with an error.
    pub unacknowledged: u64,
    /// Visits whose request failed before reaching the node (connection refused).
    pub undelivered: u64,
    /// Visits whose answer never came (the connection broke, the node died meanwhile).
    pub no_answer: u64,
    /// Acknowledged visits not at their acknowledged place on some node that reached that
    /// height (or on no node at all).
    pub lost: u64,
    /// Visits on the ledger twice (events of the run beyond the visits handed over).
    pub duplicated: u64,
    /// Events of the run on the ledger whose visit was not acknowledged (committed after the
    /// answer was lost or timed out).
    pub committed_unacknowledged: u64,
    /// A few of the lost visits, for the record.
    pub lost_examples: Vec<String>,
    /// The stretches during the load when the best height stood still.
    pub stall: Spread,
    /// The perturbations' recovery times (the longer of from-fault and from-undo).
    pub recovery: Spread,
    /// Recovery from the fault only.
    pub recovery_from_fault: Spread,
    /// Recovery by kind and role of the node (`kill orderer`, ...).
    pub recovery_by_kind: BTreeMap<String, Spread>,
    /// Perturbations after which the best height never moved again.
    pub never_recovered: usize,
    /// Every ledger agrees (`testnet status`).
    pub agree: bool,
    /// The network converged after the load.
    pub converged: bool,
    /// Seconds it took to converge.
    pub converge_s: f64,
    /// Best height when the load started and at the end.
    pub heights: (u64, u64),
    /// The perturbations.
    pub perturbations: Vec<PerturbationRow>,
    /// What `timeline.png` shows.
    pub legend: String,
}

impl ChaosReport {
    /// Fails when anything acknowledged was lost, a visit is on the ledger twice, the ledgers
    /// disagree or the network did not converge.
    pub fn verdict(&self, converge_timeout: Duration) -> std::result::Result<(), ChaosError> {
        let results = self.results.clone();
        if self.lost > 0 {
            return Err(ChaosError::Lost {
                lost: self.lost,
                results,
            });
        }
        if self.duplicated > 0 {
            return Err(ChaosError::Duplicated {
                duplicated: self.duplicated,
                results,
            });
        }
        if !self.agree {
            return Err(ChaosError::Disagree { results });
        }
        if !self.converged {
            return Err(ChaosError::NotConverged {
                secs: converge_timeout.as_secs(),
                results,
            });
        }
        Ok(())
    }

    /// A few lines for people.
    pub fn render(&self) -> String {
        let opt = |v: f64| format!("{v:.2}s");
        let mut out = format!(
            "chaos: {} perturbations, load {} visits/s for {:.0}s, seed {}\n\
             sent {}, acknowledged {}, unacknowledged {} (undelivered {}, no answer {}), \
             lost {}, duplicated {}, committed but unacknowledged {}\n\
             stall (best height still): p50 {} p99 {} max {} over {} stretches\n\
             recovery: p50 {} p99 {} max {} over {} perturbations ({} never recovered)\n",
            self.perturbations.len(),
            self.load_per_s,
            self.load_s,
            self.seed,
            self.sent,
            self.acknowledged,
            self.unacknowledged,
            self.undelivered,
            self.no_answer,
            self.lost,
            self.duplicated,
            self.committed_unacknowledged,
            opt(self.stall.p50_s),
            opt(self.stall.p99_s),
            opt(self.stall.max_s),
            self.stall.count,
            opt(self.recovery.p50_s),
            opt(self.recovery.p99_s),
            opt(self.recovery.max_s),
            self.recovery.count,
            self.never_recovered,
        );
        for (kind, s) in &self.recovery_by_kind {
            out.push_str(&format!(
                "  {kind:<22} n={:<3} p50 {} max {}\n",
                s.count,
                opt(s.p50_s),
                opt(s.max_s)
            ));
        }
        out.push_str(&format!(
            "heights {} -> {}; ledgers {}; {} in {:.1}s\nresults: {}\n",
            self.heights.0,
            self.heights.1,
            if self.agree { "agree" } else { "DISAGREE" },
            if self.converged {
                "converged"
            } else {
                "NOT converged"
            },
            self.converge_s,
            self.results.display()
        ));
        out
    }
}

/// Parses `MIN-MAX` (or one number) seconds.
pub fn parse_range(text: &str) -> std::result::Result<(f64, f64), String> {
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && (0.0..=3600.0).contains(v))
            .ok_or_else(|| format!("{text:?}: give seconds as MIN-MAX, each 0 to 3600"))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(format!("{text:?}: the minimum is above the maximum"));
    }
    Ok((a, b))
}

// ------------------------------------------------------------------------------------------
// Figures from the samples (pure, tested below).

/// The stretches of `[from, to]` during which the best height in `samples` (time, height; in
/// time order) stood still: the times between successive rises, the first from `from`, the
/// last until `to`.
pub fn still_stretches(samples: &[(f64, u64)], from: f64, to: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut last_change = from;
    let mut height = samples
        .iter()
        .take_while(|(t, _)| *t <= from)
        .last()
        .map(|(_, h)| *h);
    for &(t, h) in samples.iter().filter(|(t, _)| *t > from && *t <= to) {
        match height {
            Some(prev) if h > prev => {
                out.push(t - last_change);
                last_change = t;
                height = Some(h);
            }
            None => height = Some(h),
            _ => {}
        }
    }
    if to > last_change {
        out.push(to - last_change);
    }
    out
}

/// Seconds from `at` until the best height in `samples` rose above what it was at `at`
/// (`None` if it never did).
pub fn recovery_after(samples: &[(f64, u64)], at: f64) -> Option<f64> {
    let base = samples
        .iter()
        .take_while(|(t, _)| *t <= at)
        .map(|(_, h)| *h)
        .max()
        .unwrap_or(0);
    samples
        .iter()
        .find(|(t, h)| *t > at && *h > base)
        .map(|(t, _)| t - at)
}

/// The longest still stretch that starts or lies within `[from, to]`.
fn longest_stall(samples: &[(f64, u64)], from: f64, to: f64) -> f64 {
    // The stretch running at `from` counts from its own start.
    let start = samples
        .iter()
        .take_while(|(t, _)| *t <= from)
        .zip(samples.iter().skip(1))
        .filter(|(a, b)| b.1 > a.1 && b.0 <= from)
        .map(|(_, b)| b.0)
        .last()
        .unwrap_or(from);
    still_stretches(samples, start.min(from), to)
        .into_iter()
        .fold(0.0, f64::max)
}

// ------------------------------------------------------------------------------------------
// The run.

/// What the load and the samplers share.
struct Shared {
    started: Instant,
    best: Mutex<Vec<(f64, u64)>>,
    heights: Mutex<BTreeMap<String, u64>>,
    events: Mutex<Vec<(f64, String)>>,
    acked: Mutex<Vec<Acknowledged>>,
    /// Departments not to send to (killed or paused).
    down: Mutex<HashSet<String>>,
    /// Visits handed to each department (delivered or of unknown fate).
    handed: Mutex<BTreeMap<String, u64>>,
    sent: AtomicU64,
    unacknowledged: AtomicU64,
    undelivered: AtomicU64,
    no_answer: AtomicU64,
    in_flight: AtomicU64,
    load_on: AtomicBool,
    sampling: AtomicBool,
}

impl Shared {
    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn event(&self, what: impl Into<String>) {
        let what = what.into();
        let t = self.now_s();
        progress(format!("chaos {t:>6.1}s: {what}"));
        if let Ok(mut e) = self.events.lock() {
            e.push((t, what));
        }
    }

    fn best_now(&self) -> u64 {
        self.heights
            .lock()
            .map(|h| h.values().copied().max().unwrap_or(0))
            .unwrap_or(0)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestnetError::io("starting an async runtime", e))
}

fn client(pool: bool) -> Result<reqwest::Client> {
    let b = reqwest::Client::builder();
    let b = if pool {
        b.pool_idle_timeout(Duration::from_secs(20))
    } else {
        // A killed node's pooled connections are dead: a submit must not go out on one.
        b.pool_max_idle_per_host(0)
    };
    b.build()
        .map_err(|e| TestnetError::Invalid(format!("HTTP client: {e}")))
}

/// Polls one node's `/status` every [`SAMPLE_EVERY`] while sampling is on.
async fn sample_node(shared: Arc<Shared>, c: reqwest::Client, name: String, url: String) {
    while shared.sampling.load(Ordering::Relaxed) {
        let tick = tokio::time::Instant::now();
        let asked = c
            .get(format!("{url}/status"))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        if let Ok(r) = asked
            && let Ok(v) = r.json::<serde_json::Value>().await
            && let Some(h) = v["height"].as_u64()
            && let Ok(mut heights) = shared.heights.lock()
        {
            heights.insert(name.clone(), h);
        }
        tokio::time::sleep_until(tick + SAMPLE_EVERY).await;
    }
}

/// Records the best height every [`SAMPLE_EVERY`] while sampling is on.
async fn sample_best(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while shared.sampling.load(Ordering::Relaxed) {
        tick.tick().await;
        let best = shared.best_now();
        let t = shared.now_s();
        if let Ok(mut b) = shared.best.lock() {
            b.push((t, best));
        }
    }
}

/// What became of one submitted visit.
enum Answer {
    Acked(Box<Acknowledged>),
    Unacknowledged,
    Undelivered,
    Silent,
}

async fn submit_one(
    c: &reqwest::Client,
    api: &http::Api,
    visit: &serde_json::Value,
) -> std::result::Result<serde_json::Value, Answer> {
    let body = serde_json::json!({
        "visits": [visit],
        "wait": true,
        "timeout_ms": COMMIT_WAIT.as_millis() as u64,
    });
    let r = api
        .authorize(c.post(format!("{}/submit", api.url)))
        .timeout(COMMIT_WAIT + Duration::from_secs(15))
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                Answer::Undelivered
            } else {
                Answer::Silent
            }
        })?;
    r.json().await.map_err(|_| Answer::Silent)
}

/// Sends one visit and records what came of it.
async fn visit(
    shared: Arc<Shared>,
    c: reqwest::Client,
    dept: NodeEntry,
    api: http::Api,
    number: u64,
    body: serde_json::Value,
) -> Answer {
    let sent_ms = shared.started.elapsed().as_millis() as u64;
    let answer = match submit_one(&c, &api, &body).await {
        Err(a) => a,
        Ok(v) => {
            let o = &v[0];
            match (
                o["status"].as_str(),
                o["height"].as_u64(),
                o["sequence"].as_u64(),
            ) {
                (Some("committed"), Some(height), Some(sequence)) if height > 0 => {
                    Answer::Acked(Box::new(Acknowledged {
                        visit: number,
                        node: dept.spec.name.clone(),
                        hospital: o["hospital"].as_str().unwrap_or_default().to_owned(),
                        department: o["department"].as_str().unwrap_or_default().to_owned(),
                        sequence,
                        height,
                        block_hash: o["block_hash"].as_str().unwrap_or_default().to_owned(),
                        sent_ms,
                        acked_ms: shared.started.elapsed().as_millis() as u64,
                    }))
                }
                _ => Answer::Unacknowledged,
            }
        }
    };
    match &answer {
        Answer::Acked(a) => {
            if let Ok(mut acked) = shared.acked.lock() {
                acked.push((**a).clone());
            }
        }
        Answer::Unacknowledged => {
            shared.unacknowledged.fetch_add(1, Ordering::Relaxed);
        }
        Answer::Undelivered => {
            shared.undelivered.fetch_add(1, Ordering::Relaxed);
            // Never reached the node: not handed over.
            if let Ok(mut h) = shared.handed.lock()
                && let Some(n) = h.get_mut(&dept.spec.name)
            {
                *n = n.saturating_sub(1);
            }
        }
        Answer::Silent => {
            shared.no_answer.fetch_add(1, Ordering::Relaxed);
        }
    }
    answer
}

/// Sends `rate` visits per second round the departments not down, while the load is on.
async fn drive(
    shared: Arc<Shared>,
    departments: Vec<(NodeEntry, http::Api)>,
    rate: f64,
    mut number: u64,
) -> Result<()> {
    let c = client(false)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut buffers: Vec<VecDeque<serde_json::Value>> = vec![VecDeque::new(); departments.len()];
    let mut next = 0usize;
    while shared.load_on.load(Ordering::Relaxed) {
        tick.tick().await;
        if shared.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            continue;
        }
        let down = shared.down.lock().map(|d| d.clone()).unwrap_or_default();
        let Some(i) = (0..departments.len())
            .map(|k| (next + k) % departments.len())
            .find(|k| {
                departments
                    .get(*k)
                    .is_some_and(|(d, _)| !down.contains(&d.spec.name))
            })
        else {
            continue;
        };
        next = i + 1;
        let (Some((dept, api)), Some(buffer)) = (departments.get(i), buffers.get_mut(i)) else {
            continue;
        };
        if buffer.is_empty() {
            buffer.extend(traffic::visits(&dept.spec, number, 64));
        }
        let Some(body) = buffer.pop_front() else {
            continue;
        };
        number += 1;
        shared.sent.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = shared.handed.lock() {
            *h.entry(dept.spec.name.clone()).or_insert(0) += 1;
        }
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let (s, c, d, a) = (shared.clone(), c.clone(), dept.clone(), api.clone());
        tokio::spawn(async move {
            visit(s.clone(), c, d, a, number, body).await;
            s.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    Ok(())
}

/// Prints a progress line every 5 s while sampling is on.
async fn report_progress(shared: Arc<Shared>, total: usize, done: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    while shared.sampling.load(Ordering::Relaxed) {
        tick.tick().await;
        let acked = shared.acked.lock().map(|a| a.len()).unwrap_or(0);
        progress(format!(
            "chaos {:>6.1}s: best height {}, sent {}, acknowledged {}, waiting {}, perturbations {}/{}",
            shared.now_s(),
            shared.best_now(),
            shared.sent.load(Ordering::Relaxed),
            acked,
            shared.in_flight.load(Ordering::Relaxed),
            done.load(Ordering::Relaxed),
            total
        ));
    }
}

/// Which perturbations, in which order, on which nodes.
fn plan(
    opts: &ChaosOptions,
    candidates: &[NodeEntry],
    rng: &mut StdRng,
) -> Vec<(Perturbation, NodeEntry, f64, f64)> {
    let mut kinds: Vec<Perturbation> = std::iter::repeat_n(Perturbation::Kill, opts.kills)
        .chain(std::iter::repeat_n(Perturbation::Pause, opts.pauses))
        .chain(std::iter::repeat_n(
            Perturbation::Disconnect,
            opts.disconnects,
        ))
        .collect();
    // Fisher-Yates with the run's RNG.
    for i in (1..kinds.len()).rev() {
        let j = rng.random_range(0..=i);
        kinds.swap(i, j);
    }
    let uniform = |rng: &mut StdRng, (a, b): (f64, f64)| {
        if b > a { rng.random_range(a..b) } else { a }
    };
    kinds
        .into_iter()
        .filter_map(|k| {
            let node = candidates
                .get(rng.random_range(0..candidates.len().max(1)))?
                .clone();
            let hold = uniform(rng, opts.hold);
            let gap = uniform(rng, opts.every);
            Some((k, node, hold, gap))
        })
        .collect()
}

/// Submits one visit through each department and waits for its commit: the run's first
/// sequence number there (everything the run sends later gets a higher one).
async fn first_sequences(
    shared: &Arc<Shared>,
    departments: &[(NodeEntry, http::Api)],
) -> Result<BTreeMap<String, u64>> {
    let c = client(false)?;
    let mut out = BTreeMap::new();
    for (n, (dept, api)) in departments.iter().enumerate() {
        let body = traffic::visits(&dept.spec, n as u64, 1)
            .into_iter()
            .next()
            .unwrap_or_default();
        let mut last = String::new();
        for _ in 0..5 {
            shared.sent.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut h) = shared.handed.lock() {
                *h.entry(dept.spec.name.clone()).or_insert(0) += 1;
            }
            match visit(
                shared.clone(),
                c.clone(),
                dept.clone(),
                api.clone(),
                n as u64,
                body.clone(),
            )
            .await
            {
                Answer::Acked(a) => {
                    out.insert(dept.spec.name.clone(), a.sequence);
                    break;
                }
                _ => last = format!("{}: first visit not committed", dept.spec.name),
            }
        }
        if !out.contains_key(&dept.spec.name) {
            return Err(TestnetError::Invalid(last));
        }
    }
    Ok(out)
}

/// Where one node holds a department's sequence numbers `from..=to`.
async fn ledger_events(
    c: &reqwest::Client,
    api: &http::Api,
    hospital: &str,
    department: &str,
    from: u64,
    to: u64,
) -> Result<BTreeMap<u64, (u64, String)>> {
    let mut out = BTreeMap::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start + LEDGER_SPAN - 1);
        let r = api
            .authorize(c.get(format!("{}/ledger/events", api.url)))
            .query(&[
                ("hospital", hospital.to_owned()),
                ("department", department.to_owned()),
                ("from", start.to_string()),
                ("to", end.to_string()),
            ])
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| TestnetError::Http {
                node: api.url.clone(),
                reason: e.to_string(),
            })?;
        let code = r.status();
        let v: serde_json::Value = r.json().await.map_err(|e| TestnetError::Http {
            node: api.url.clone(),
            reason: e.to_string(),
        })?;
        if !code.is_success() {
            return Err(TestnetError::Http {
                node: api.url.clone(),
                reason: format!("/ledger/events answered {code}: {v}"),
            });
        }
        for e in v["events"].as_array().into_iter().flatten() {
            if let (Some(s), Some(h), Some(b)) = (
                e["sequence"].as_u64(),
                e["height"].as_u64(),
                e["block_hash"].as_str(),
            ) {
                out.insert(s, (h, b.to_owned()));
            }
        }
        start = end + 1;
    }
    Ok(out)
}

/// The ledger check's findings.
#[derive(Debug, Default)]
struct LedgerCheck {
    lost: u64,
    lost_examples: Vec<String>,
    duplicated: u64,
    committed_unacknowledged: u64,
}

/// Asks every node where each department's sequence numbers of the run are.
async fn check_ledgers(
    nodes: &[NodeEntry],
    departments: &[(NodeEntry, http::Api)],
    first: &BTreeMap<String, u64>,
    handed: &BTreeMap<String, u64>,
    acked: &[Acknowledged],
) -> Result<LedgerCheck> {
    let c = client(true)?;
    let mut check = LedgerCheck::default();
    let mut lost: BTreeMap<u64, String> = BTreeMap::new();
    let mut in_place: HashSet<u64> = HashSet::new();
    for (dept, _) in departments {
        let (h, d) = (dept.spec.hospital.as_str(), dept.spec.department.as_str());
        let Some(&from) = first.get(&dept.spec.name) else {
            continue;
        };
        let given = handed.get(&dept.spec.name).copied().unwrap_or(0);
        let mine: Vec<&Acknowledged> = acked
            .iter()
            .filter(|a| a.hospital == h && a.department == d)
            .collect();
        let top = mine.iter().map(|a| a.sequence).max().unwrap_or(from);
        let to = top.max(from + 2 * given + 100);
        let mut most = 0u64;
        for node in nodes {
            let held = ledger_events(&c, &node.api(), h, d, from, to).await?;
            let node_height = held.values().map(|(h, _)| *h).max().unwrap_or(0);
            most = most.max(held.len() as u64);
            for a in &mine {
                match held.get(&a.sequence) {
                    Some((height, block)) if *height == a.height && *block == a.block_hash => {
                        in_place.insert(a.visit);
                    }
                    Some((height, block)) => {
                        lost.entry(a.visit).or_insert(format!(
                            "{h}/{d}#{}: acknowledged at {} {}, on {} at {height} {block}",
                            a.sequence, a.height, a.block_hash, node.spec.name
                        ));
                    }
                    // A node still below that height is behind, not lost (convergence says).
                    None if node_height < a.height => {}
                    None => {
                        lost.entry(a.visit).or_insert(format!(
                            "{h}/{d}#{}: acknowledged at {} {}, missing on {}",
                            a.sequence, a.height, a.block_hash, node.spec.name
                        ));
                    }
                }
            }
        }
        // Acknowledged, and at its place on no node at all.
        for a in mine.iter().filter(|a| !in_place.contains(&a.visit)) {
            lost.entry(a.visit).or_insert(format!(
                "{h}/{d}#{}: acknowledged at {} {}, at that place on no node",
                a.sequence, a.height, a.block_hash
            ));
        }
        check.duplicated += most.saturating_sub(given);
        check.committed_unacknowledged += most.saturating_sub(mine.len() as u64);
    }
    check.lost = lost.len() as u64;
    check.lost_examples = lost.into_values().take(20).collect();
    Ok(check)
}

/// Waits until every member is healthy at one height and tip; the status at the end and
/// whether it converged.
fn converge(state: &TestnetState, timeout: Duration) -> Result<(status::NetworkStatus, bool)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestnetError::io("starting an async runtime", e))?;
    let deadline = Instant::now() + timeout;
    loop {
        let st = rt.block_on(status::network(state));
        if st.converged || Instant::now() > deadline {
            let ok = st.converged;
            return Ok((st, ok));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The results folder's default name: `chaos-YYYYMMDD-HHMMSS` (UTC).
fn run_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    medblock_bench::run_name(now, false).replacen("bench-", "chaos-", 1)
}

/// Runs chaos on the testnet at `opts.dir` and writes the results; the report says what came
/// of it ([`ChaosReport::verdict`] judges it).
pub fn run(opts: &ChaosOptions) -> Result<ChaosReport> {
    if !(opts.load.is_finite() && opts.load > 0.0 && opts.load <= 10_000.0) {
        return Err(TestnetError::Invalid(format!(
            "--load {}: give visits per second, more than 0 and at most 10000",
            opts.load
        )));
    }
    let mut state = TestnetState::load(&opts.dir)?;
    let members: Vec<NodeEntry> = state
        .members()
        .filter(|n| n.pid.is_some_and(process::alive))
        .cloned()
        .collect();
    if members.len() != state.members().count() {
        return Err(TestnetError::Invalid(
            "some nodes are not running: start them (`testnet up --dir ...`) first".into(),
        ));
    }
    let departments: Vec<(NodeEntry, http::Api)> = members
        .iter()
        .filter(|n| n.spec.is_department())
        .map(|n| (n.clone(), n.api()))
        .collect();
    if departments.is_empty() {
        return Err(TestnetError::Invalid(
            "this testnet has no hospital department to send visits through".into(),
        ));
    }
    let consensus = |n: &&NodeEntry| {
        n.spec
            .roles
            .iter()
            .any(|r| r == "orderer" || r == "endorser")
    };
    let candidates: Vec<NodeEntry> = members
        .iter()
        .filter(|n| consensus(n) || (opts.include_departments && n.spec.is_department()))
        .cloned()
        .collect();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let plan = plan(opts, &candidates, &mut rng);
    let results = match &opts.out {
        Some(p) => p.clone(),
        None => state.dir.join("results").join(run_name()),
    };
    std::fs::create_dir_all(&results)
        .map_err(|e| TestnetError::io(format!("creating {}", results.display()), e))?;
    progress(format!(
        "chaos: {} perturbations ({} kills, {} pauses, {} disconnects) of {} candidates, load {} visits/s, seed {}; results in {}",
        plan.len(),
        opts.kills,
        opts.pauses,
        opts.disconnects,
        candidates.len(),
        opts.load,
        opts.seed,
        results.display()
    ));

    // The demo traffic would add visits the run cannot tell from its own.
    let traffic_was = state.traffic_pid.filter(|p| process::alive(*p));
    if let Some(pid) = traffic_was {
        process::stop(pid, Duration::from_secs(5))?;
        state.traffic_pid = None;
        state.save()?;
        progress(format!("demo traffic (pid {pid}) paused for the run"));
    }
    let outcome = run_with(opts, &state, &members, departments, &plan, results);
    if traffic_was.is_some() {
        match crate::ops::start_traffic(&state.dir, 2.0) {
            Ok(pid) => progress(format!("demo traffic restarted (pid {pid})")),
            Err(e) => progress(format!("demo traffic not restarted: {e}")),
        }
    }
    outcome
}

fn run_with(
    opts: &ChaosOptions,
    state: &TestnetState,
    members: &[NodeEntry],
    departments: Vec<(NodeEntry, http::Api)>,
    plan: &[(Perturbation, NodeEntry, f64, f64)],
    results: PathBuf,
) -> Result<ChaosReport> {
    let rt = runtime()?;
    let shared = Arc::new(Shared {
        started: Instant::now(),
        best: Mutex::new(Vec::new()),
        heights: Mutex::new(BTreeMap::new()),
        events: Mutex::new(Vec::new()),
        acked: Mutex::new(Vec::new()),
        down: Mutex::new(HashSet::new()),
        handed: Mutex::new(BTreeMap::new()),
        sent: AtomicU64::new(0),
        unacknowledged: AtomicU64::new(0),
        undelivered: AtomicU64::new(0),
        no_answer: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        load_on: AtomicBool::new(true),
        sampling: AtomicBool::new(true),
    });
    let poll = client(true)?;
    for n in members {
        rt.spawn(sample_node(
            shared.clone(),
            poll.clone(),
            n.spec.name.clone(),
            n.url(),
        ));
    }
    rt.spawn(sample_best(shared.clone()));
    let done = Arc::new(AtomicU64::new(0));
    rt.spawn(report_progress(shared.clone(), plan.len(), done.clone()));

    let first = rt.block_on(first_sequences(&shared, &departments))?;
    shared.event(format!(
        "load starts: {} visits/s through {}",
        opts.load,
        departments
            .iter()
            .map(|(d, _)| d.spec.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let load_from = shared.now_s();
    let height_from = shared.best_now();
    let driver = rt.spawn(drive(
        shared.clone(),
        departments.clone(),
        opts.load,
        departments.len() as u64,
    ));
    std::thread::sleep(opts.warmup);

    let mut rows: Vec<PerturbationRow> = Vec::new();
    for (i, (kind, node, hold, gap)) in plan.iter().enumerate() {
        let name = node.spec.name.clone();
        let mut error = String::new();
        let stops = matches!(kind, Perturbation::Kill | Perturbation::Pause);
        if stops && let Ok(mut d) = shared.down.lock() {
            d.insert(name.clone());
        }
        let start_s = shared.now_s();
        shared.event(format!("{kind} {name} ({})", node.spec.roles.join(",")));
        if let Err(e) = perturb::apply(&state.dir, &name, *kind, Duration::from_secs(120)) {
            error = format!("{kind}: {e}");
            shared.event(format!("{kind} {name} failed: {e}"));
        }
        std::thread::sleep(Duration::from_secs_f64(*hold));
        let reverse = kind.reverse().unwrap_or(Perturbation::Restart);
        let undo_s = shared.now_s();
        shared.event(format!("{reverse} {name}"));
        let mut undone = perturb::apply(&state.dir, &name, reverse, Duration::from_secs(120));
        if undone.is_err() {
            // Once more, by a restart: the run must not leave a node down.
            std::thread::sleep(Duration::from_secs(1));
            undone = perturb::apply(
                &state.dir,
                &name,
                Perturbation::Restart,
                Duration::from_secs(120),
            );
        }
        if let Err(e) = undone {
            error.push_str(&format!(" {reverse}: {e}"));
            shared.event(format!("{reverse} {name} failed: {e}"));
        }
        let back_s = shared.now_s();
        shared.event(format!("{name} back ({reverse} done)"));
        if let Ok(mut d) = shared.down.lock() {
            d.remove(&name);
        }
        done.fetch_add(1, Ordering::Relaxed);
        rows.push(PerturbationRow {
            index: i + 1,
            node: name,
            roles: node.spec.roles.join(","),
            kind: kind.name().to_owned(),
            start_s: round3(start_s),
            hold_s: round3(*hold),
            undo_s: round3(undo_s),
            back_s: round3(back_s),
            recovery_s: None,
            recovery_after_undo_s: None,
            recovery_max_s: None,
            longest_stall_s: 0.0,
            error: error.trim().to_owned(),
        });
        if i + 1 < plan.len() {
            std::thread::sleep(Duration::from_secs_f64(*gap));
        }
    }
    std::thread::sleep(opts.settle);
    shared.load_on.store(false, Ordering::Relaxed);
    let load_to = shared.now_s();
    shared.event("load stops; waiting for the answers still due");
    let _ = rt.block_on(driver);
    let due = Instant::now() + COMMIT_WAIT + Duration::from_secs(20);
    while shared.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < due {
        std::thread::sleep(Duration::from_millis(200));
    }
    shared.event(format!(
        "answers in ({} still waiting); waiting for the network to converge",
        shared.in_flight.load(Ordering::Relaxed)
    ));
    let converge_from = Instant::now();
    let state_now = TestnetState::load(&state.dir)?;
    let (st, converged) = converge(&state_now, opts.converge_timeout)?;
    let converge_s = converge_from.elapsed().as_secs_f64();
    shared.event(if converged {
        format!("converged at height {}", st.min_height())
    } else {
        "NOT converged".to_owned()
    });
    shared.sampling.store(false, Ordering::Relaxed);
    std::thread::sleep(SAMPLE_EVERY * 3);

    let acked = shared.acked.lock().map(|a| a.clone()).unwrap_or_default();
    let handed = shared.handed.lock().map(|h| h.clone()).unwrap_or_default();
    let nodes: Vec<NodeEntry> = state_now
        .members()
        .filter(|n| n.pid.is_some_and(process::alive))
        .cloned()
        .collect();
    progress(format!(
        "chaos: checking {} acknowledged visits on {} ledgers",
        acked.len(),
        nodes.len()
    ));
    let check = rt.block_on(check_ledgers(&nodes, &departments, &first, &handed, &acked))?;
    rt.shutdown_timeout(Duration::from_secs(2));

    let best = shared.best.lock().map(|b| b.clone()).unwrap_or_default();
    let events = shared.events.lock().map(|e| e.clone()).unwrap_or_default();
    let next_starts: Vec<f64> = (0..rows.len())
        .map(|k| rows.get(k + 1).map_or(load_to, |r| r.start_s))
        .collect();
    for (row, until) in rows.iter_mut().zip(next_starts) {
        row.recovery_s = recovery_after(&best, row.start_s);
        row.recovery_after_undo_s = recovery_after(&best, row.undo_s);
        row.recovery_s = row.recovery_s.map(round3);
        row.recovery_after_undo_s = row.recovery_after_undo_s.map(round3);
        row.recovery_max_s = match (row.recovery_s, row.recovery_after_undo_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        row.longest_stall_s = round3(longest_stall(&best, row.start_s, until));
    }
    let recoveries: Vec<f64> = rows.iter().filter_map(|r| r.recovery_max_s).collect();
    let from_fault: Vec<f64> = rows.iter().filter_map(|r| r.recovery_s).collect();
    let mut by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &rows {
        if let Some(s) = r.recovery_max_s {
            let role = role_of(&r.roles);
            by_kind
                .entry(format!("{} {role}", r.kind))
                .or_default()
                .push(s);
        }
    }
    let stalls = still_stretches(&best, load_from, load_to);
    let height_to = best.last().map(|(_, h)| *h).unwrap_or(0);
    let report = ChaosReport {
        results: results.clone(),
        seed: opts.seed,
        load_per_s: opts.load,
        load_s: load_to - load_from,
        sent: shared.sent.load(Ordering::Relaxed),
        acknowledged: acked.len() as u64,
        unacknowledged: shared.unacknowledged.load(Ordering::Relaxed),
        undelivered: shared.undelivered.load(Ordering::Relaxed),
        no_answer: shared.no_answer.load(Ordering::Relaxed),
        lost: check.lost,
        duplicated: check.duplicated,
        committed_unacknowledged: check.committed_unacknowledged,
        lost_examples: check.lost_examples,
        stall: Spread::of(&stalls),
        recovery: Spread::of(&recoveries),
        recovery_from_fault: Spread::of(&from_fault),
        recovery_by_kind: by_kind
            .iter()
            .map(|(k, v)| (k.clone(), Spread::of(v)))
            .collect(),
        never_recovered: rows.iter().filter(|r| r.recovery_max_s.is_none()).count(),
        agree: st.agree,
        converged,
        converge_s,
        heights: (height_from, height_to),
        perturbations: rows,
        legend: "timeline.png: x seconds since the start of the run, y the best committed \
                 height any node reported (blue line, sampled every 100 ms); shaded spans from \
                 each fault to its undo: red kill (until restarted), orange pause (until \
                 resumed), green disconnect (until reconnected); black dots where the best \
                 height moved again after a perturbation"
            .into(),
    };
    write_results(&report, &best, &events, &acked)?;
    Ok(report)
}

/// The consensus role a node's perturbation is filed under.
fn role_of(roles: &str) -> &'static str {
    let has = |r: &str| roles.split(',').any(|x| x == r);
    if has("orderer") {
        "orderer"
    } else if has("endorser") {
        "endorser"
    } else if has("client") {
        "department"
    } else {
        "committer"
    }
}

fn write_results(
    report: &ChaosReport,
    best: &[(f64, u64)],
    events: &[(f64, String)],
    acked: &[Acknowledged],
) -> std::result::Result<(), ChaosError> {
    let dir = medblock_bench::ResultsDir {
        path: report.results.clone(),
    };
    let height_at = |t: f64| {
        best.iter()
            .take_while(|(s, _)| *s <= t)
            .last()
            .map_or(0, |(_, h)| *h)
    };
    let mut timeline: Vec<TimelineRow> = best
        .iter()
        .map(|(t, h)| TimelineRow {
            time_s: round3(*t),
            best_height: *h,
            event: String::new(),
        })
        .chain(events.iter().map(|(t, e)| TimelineRow {
            time_s: round3(*t),
            best_height: height_at(*t),
            event: e.clone(),
        }))
        .collect();
    timeline.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    dir.write_csv("timeline.csv", &timeline)?;
    dir.write_csv("perturbations.csv", &report.perturbations)?;
    dir.write_csv("acknowledged.csv", acked)?;
    let summary = dir.file("summary.json")?;
    let text = serde_json::to_string_pretty(report).unwrap_or_default();
    std::fs::write(&summary, text).map_err(|source| medblock_bench::BenchError::Io {
        path: summary.clone(),
        source,
    })?;
    let spans: Vec<medblock_bench::plots::ChaosSpan> = report
        .perturbations
        .iter()
        .map(|p| medblock_bench::plots::ChaosSpan {
            kind: p.kind.clone(),
            start_s: p.start_s,
            end_s: p.back_s,
            recovered_s: p.recovery_s.map_or(f64::NAN, |r| p.start_s + r),
        })
        .collect();
    medblock_bench::plots::chaos_timeline(
        &report.results,
        "timeline.png",
        &format!(
            "testnet chaos: {} perturbations, {} visits/s, seed {}",
            report.perturbations.len(),
            report.load_per_s,
            report.seed
        ),
        best,
        &spans,
    )?;
    Ok(())
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(f64, u64)]) -> Vec<(f64, u64)> {
        points.to_vec()
    }

    #[test]
    fn still_stretches_are_the_times_between_rises() {
        let s = samples(&[
            (0.0, 1),
            (0.5, 2),
            (1.0, 2),
            (1.5, 2),
            (2.0, 3),
            (4.0, 3),
            (5.0, 4),
        ]);
        assert_eq!(still_stretches(&s, 0.0, 6.0), vec![0.5, 1.5, 3.0, 1.0]);
        // A window starting mid-stretch counts from the window's start.
        assert_eq!(still_stretches(&s, 1.0, 5.0), vec![1.0, 3.0]);
        assert_eq!(still_stretches(&[], 0.0, 2.0), vec![2.0]);
    }

    #[test]
    fn recovery_is_the_time_until_the_height_rises() {
        let s = samples(&[(0.0, 5), (1.0, 5), (2.0, 5), (3.5, 6), (4.0, 7)]);
        assert_eq!(recovery_after(&s, 0.5), Some(3.0));
        assert!(recovery_after(&s, 3.6).is_some_and(|r| (r - 0.4).abs() < 1e-9));
        assert_eq!(recovery_after(&s, 4.0), None);
        assert_eq!(recovery_after(&[], 1.0), None);
    }

    #[test]
    fn the_longest_stall_counts_the_stretch_running_at_the_fault() {
        let s = samples(&[(0.0, 1), (1.0, 2), (2.0, 2), (5.0, 2), (6.0, 3), (6.5, 4)]);
        // The stretch from 1.0 (last rise before the fault at 2.0) to 6.0.
        assert_eq!(longest_stall(&s, 2.0, 7.0), 5.0);
        assert!((longest_stall(&s, 6.2, 6.5) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("2-5"), Ok((2.0, 5.0)));
        assert_eq!(parse_range("1.5"), Ok((1.5, 1.5)));
        assert!(parse_range("5-2").is_err());
        assert!(parse_range("x").is_err());
        assert!(parse_range("-1").is_err());
        assert!(parse_range("1-99999").is_err());
    }

    #[test]
    fn spreads_use_nearest_ranks() {
        let s = Spread::of(&[1.0, 2.0, 3.0, 10.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.p50_s, 2.0);
        assert_eq!(s.max_s, 10.0);
        assert_eq!(Spread::of(&[]), Spread::default());
    }

    #[test]
    fn plans_are_seeded_and_hold_every_perturbation() {
        let node = |name: &str| NodeEntry {
            spec: crate::layout::NodeSpec {
                name: name.into(),
                region: "region-1".into(),
                roles: vec!["orderer".into()],
                hospital: String::new(),
                department: String::new(),
            },
            dir: PathBuf::new(),
            p2p_port: 1,
            http_port: 2,
            peer_id: String::new(),
            pid: None,
            removed: false,
            host: None,
        };
        let nodes = vec![node("a"), node("b"), node("c")];
        let opts = ChaosOptions {
            dir: PathBuf::new(),
            kills: 5,
            pauses: 2,
            disconnects: 1,
            load: 1.0,
            include_departments: false,
            seed: 7,
            every: (2.0, 5.0),
            hold: (0.5, 2.0),
            warmup: Duration::ZERO,
            settle: Duration::ZERO,
            converge_timeout: Duration::ZERO,
            out: None,
        };
        let names = |p: &[(Perturbation, NodeEntry, f64, f64)]| {
            p.iter()
                .map(|(k, n, h, g)| format!("{k} {} {h:.3} {g:.3}", n.spec.name))
                .collect::<Vec<_>>()
        };
        let a = plan(&opts, &nodes, &mut StdRng::seed_from_u64(7));
        let b = plan(&opts, &nodes, &mut StdRng::seed_from_u64(7));
        assert_eq!(names(&a), names(&b));
        assert_eq!(a.len(), 8);
        assert_eq!(
            a.iter().filter(|p| p.0 == Perturbation::Kill).count(),
            5,
            "{:?}",
            names(&a)
        );
        assert!(
            a.iter()
                .all(|(_, _, h, g)| (0.5..2.0).contains(h) && (2.0..5.0).contains(g))
        );
        assert!(plan(&opts, &[], &mut StdRng::seed_from_u64(7)).is_empty());
    }

    #[test]
    fn the_verdict_fails_on_loss_duplicates_disagreement_and_no_convergence() {
        let ok = ChaosReport {
            results: PathBuf::from("r"),
            seed: 1,
            load_per_s: 1.0,
            load_s: 1.0,
            sent: 2,
            acknowledged: 2,
            unacknowledged: 0,
            undelivered: 0,
            no_answer: 0,
            lost: 0,
            duplicated: 0,
            committed_unacknowledged: 0,
            lost_examples: Vec::new(),
            stall: Spread::default(),
            recovery: Spread::default(),
            recovery_from_fault: Spread::default(),
            recovery_by_kind: BTreeMap::new(),
            never_recovered: 0,
            agree: true,
            converged: true,
            converge_s: 0.0,
            heights: (1, 2),
            perturbations: Vec::new(),
            legend: String::new(),
        };
        let t = Duration::from_secs(1);
        assert!(ok.verdict(t).is_ok());
        let lost = ChaosReport {
            lost: 1,
            ..ok.clone()
        };
        assert!(matches!(
            lost.verdict(t),
            Err(ChaosError::Lost { lost: 1, .. })
        ));
        let twice = ChaosReport {
            duplicated: 2,
            ..ok.clone()
        };
        assert!(matches!(
            twice.verdict(t),
            Err(ChaosError::Duplicated { duplicated: 2, .. })
        ));
        let split = ChaosReport {
            agree: false,
            ..ok.clone()
        };
        assert!(matches!(split.verdict(t), Err(ChaosError::Disagree { .. })));
        let apart = ChaosReport {
            converged: false,
            ..ok.clone()
        };
        assert!(matches!(
            apart.verdict(t),
            Err(ChaosError::NotConverged { .. })
        ));
        assert!(ok.render().contains("lost 0, duplicated 0"));
    }

    #[test]
    fn roles_file_under_the_strongest() {
        assert_eq!(role_of("orderer,endorser,committer"), "orderer");
        assert_eq!(role_of("endorser,committer"), "endorser");
        assert_eq!(role_of("client,committer"), "department");
        assert_eq!(role_of("committer"), "committer");
    }
}
