//! Load on the testnet's departments over HTTP: every visit is its own `POST /submit` that
//! answers once the record is committed, so each event's submit-to-commit latency is measured
//! where a hospital system would see it. Open loop: a visit is sent at its planned time whatever
//! happened to the earlier ones, so a slow network shows up as latency, not as a lower offer.

use super::target::{Department, Target};
use anyhow::{Result, bail};
use std::time::{Duration, Instant};

/// One submitted visit and what became of it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The department it went to (index in the target's departments).
    pub department: usize,
    /// When it was sent, from the run's start.
    pub sent: Duration,
    /// When its commit was confirmed, from the run's start (None: failed or timed out).
    pub committed: Option<Duration>,
    /// When the department saw it committed, from the run's start, as its answer says. With
    /// thousands of requests held open (records that may wait a day), the answer can reach the
    /// load generator well after the commit; flows per period are counted on this clock.
    pub ledger_committed: Option<Duration>,
    /// When the department recorded it, from the run's start, as its answer says: the record's
    /// arrival at the hospital, which a load generator holding thousands of requests open may
    /// send later than planned.
    pub ledger_recorded: Option<Duration>,
    /// When the ledger ordered it (its block's orderer timestamp), from the run's start: the
    /// same on every node, however late the department saw the block.
    pub ledger_ordered: Option<Duration>,
    /// Why it was not confirmed (None when committed).
    pub failure: Option<Failure>,
}

/// Why a visit was not confirmed: a lost visit must say whether the network lost it or the
/// request never got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The department could not be reached, or the connection broke before an answer.
    Unreachable,
    /// No answer within the patience.
    TimedOut,
    /// The department answered with an error status (the HTTP code).
    Refused(u16),
    /// The answer was not a list of outcomes.
    BadAnswer,
    /// The answer says the visit was accepted but not (yet) committed.
    NotCommitted,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable => write!(f, "unreachable"),
            Failure::TimedOut => write!(f, "timed out"),
            Failure::Refused(code) => write!(f, "refused ({code})"),
            Failure::BadAnswer => write!(f, "bad answer"),
            Failure::NotCommitted => write!(f, "not committed"),
        }
    }
}

/// Lost visits counted by why they were lost.
pub fn failures(samples: &[Sample]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for f in samples.iter().filter_map(|s| s.failure) {
        *out.entry(f.to_string()).or_insert(0) += 1;
    }
    out
}

impl Sample {
    /// Submit-to-commit latency in milliseconds, when committed.
    pub fn latency_ms(&self) -> Option<f64> {
        self.committed
            .map(|c| c.saturating_sub(self.sent).as_secs_f64() * 1000.0)
    }
}

/// Visits ready to send in one request: the department and the JSON body of each visit.
#[derive(Debug, Clone)]
pub struct Planned {
    /// When to send them, from the run's start.
    pub at: Duration,
    /// Where.
    pub department: usize,
    /// The visits (JSON as `/submit` takes them): one, as a hospital system sends each visit
    /// as it happens, or a batch, as it hands in a backlog.
    pub visits: Vec<serde_json::Value>,
}

/// Visits per request in a burst: a hospital system handing in its backlog sends it in batches,
/// not a request per visit, so the load generator (on the same cores as the network it
/// measures) spends its time on the network's work rather than on HTTP requests.
pub const BURST_BATCH: usize = 50;

/// Synthetic visits, `count` of them, spread over the departments round-robin, numbered from
/// `first` (so runs do not repeat a visit), each allowed to wait `upload_within_ms`.
pub fn visits(
    departments: &[Department],
    first: u64,
    count: usize,
    upload_within_ms: u64,
) -> Vec<(usize, serde_json::Value)> {
    let n = departments.len().max(1);
    let mut per: Vec<std::vec::IntoIter<serde_json::Value>> = departments
        .iter()
        .enumerate()
        .map(|(d, dept)| {
            let mine = count / n + usize::from(d < count % n);
            let patients = dept.patients.clone();
            if patients.is_empty() {
                medblock_testnet::traffic::visits(&dept.spec, first, mine as u64).into_iter()
            } else {
                medblock_testnet::traffic::visits_of(&dept.spec, first, mine as u64, |i| {
                    patients
                        .get((i % patients.len() as u64) as usize)
                        .cloned()
                        .unwrap_or_default()
                })
                .into_iter()
            }
        })
        .collect();
    // Interleaved, so a run's first seconds load every region.
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let before = out.len();
        for (d, it) in per.iter_mut().enumerate() {
            if let Some(mut v) = it.next() {
                if let Some(o) = v.as_object_mut() {
                    o.insert("upload_within_ms".into(), upload_within_ms.into());
                }
                out.push((d, v));
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// Sends every planned request at its time and waits for all answers; one sample per visit
/// (the visits of one request share its send and commit times).
pub async fn run(target: &Target, plan: Vec<Planned>, patience: Duration) -> Result<Vec<Sample>> {
    let start = Instant::now();
    let start_unix_ms = unix_ms();
    let mut tasks = Vec::with_capacity(plan.len());
    for p in plan {
        let Some(dept) = target.departments.get(p.department) else {
            bail!("no department {}", p.department);
        };
        let wake = start + p.at;
        if wake > Instant::now() {
            tokio::time::sleep_until(wake.into()).await;
        }
        let http = target.http().clone();
        let url = format!("{}/submit", dept.url);
        let token = dept.token.clone();
        let department = p.department;
        tasks.push(tokio::spawn(async move {
            let sent = start.elapsed();
            let n = p.visits.len();
            let body = serde_json::json!({
                "visits": p.visits,
                "wait": true,
                "timeout_ms": patience.as_millis() as u64,
            });
            match submit(&http, &url, token.as_deref(), &body, patience).await {
                Ok(at) if at.len() == n => {
                    let committed = Some(start.elapsed());
                    let on_run_clock = |ms: Option<u64>| {
                        ms.and_then(|ms| ms.checked_sub(start_unix_ms))
                            .map(Duration::from_millis)
                    };
                    at.into_iter()
                        .map(|t| Sample {
                            department,
                            sent,
                            committed,
                            ledger_committed: on_run_clock(t.committed_ms),
                            ledger_recorded: on_run_clock(t.recorded_ms),
                            ledger_ordered: on_run_clock(t.ordered_ms),
                            failure: None,
                        })
                        .collect()
                }
                outcome => {
                    let (failure, detail) = match outcome {
                        Ok(at) => (
                            Failure::BadAnswer,
                            format!("{} outcomes for {n} visits", at.len()),
                        ),
                        Err(e) => e,
                    };
                    tracing::warn!(%url, visits = n, %failure, detail, "visits not confirmed");
                    vec![
                        Sample {
                            department,
                            sent,
                            committed: None,
                            ledger_committed: None,
                            ledger_recorded: None,
                            ledger_ordered: None,
                            failure: Some(failure),
                        };
                        n
                    ]
                }
            }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for t in tasks {
        samples.extend(t.await?);
    }
    Ok(samples)
}

/// Milliseconds since the Unix epoch, the clock the departments' answers use.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The times an answer gives for one visit (None when it does not say).
struct Times {
    recorded_ms: Option<u64>,
    committed_ms: Option<u64>,
    ordered_ms: Option<u64>,
}

/// Posts visits and waits for the answer: for each visit, when the department recorded it,
/// when it saw it committed and when the ledger ordered it; why not, with the details, when
/// any visit was not committed.
async fn submit(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
    patience: Duration,
) -> std::result::Result<Vec<Times>, (Failure, String)> {
    let transport = |e: reqwest::Error| {
        let failure = if e.is_timeout() {
            Failure::TimedOut
        } else {
            Failure::Unreachable
        };
        // reqwest's message names the request; the cause is in the source chain.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        (failure, detail)
    };
    let mut request = http.post(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let answer = request
        .timeout(patience + Duration::from_secs(10))
        .json(body)
        .send()
        .await
        .map_err(transport)?;
    let code = answer.status();
    if !code.is_success() {
        let text = answer.text().await.unwrap_or_default();
        return Err((Failure::Refused(code.as_u16()), text));
    }
    let outcomes = answer
        .json::<serde_json::Value>()
        .await
        .map_err(transport)?;
    // The answer is the list of outcomes (or an object holding it).
    let Some(list) = outcomes
        .as_array()
        .or_else(|| outcomes.get("outcomes").and_then(|o| o.as_array()))
    else {
        return Err((Failure::BadAnswer, outcomes.to_string()));
    };
    if let Some(o) = list
        .iter()
        .find(|o| o.get("status").and_then(|s| s.as_str()) != Some("committed"))
    {
        return Err((Failure::NotCommitted, o.to_string()));
    }
    if list.is_empty() {
        return Err((Failure::BadAnswer, "no outcomes".into()));
    }
    Ok(list
        .iter()
        .map(|o| {
            let ms = |field: &str| o.get(field).and_then(|v| v.as_u64()).filter(|ms| *ms > 0);
            Times {
                recorded_ms: ms("recorded_at_ms"),
                committed_ms: ms("committed_at_ms"),
                ordered_ms: ms("ordered_at_ms"),
            }
        })
        .collect())
}

/// `count` visits all at once.
pub fn burst(target: &Target, first: u64, count: usize) -> Vec<Planned> {
    let mut per: Vec<Vec<serde_json::Value>> = vec![Vec::new(); target.departments.len()];
    for (department, visit) in visits(&target.departments, first, count, 0) {
        if let Some(v) = per.get_mut(department) {
            v.push(visit);
        }
    }
    let mut out = Vec::new();
    for (department, visits) in per.into_iter().enumerate() {
        for chunk in visits.chunks(BURST_BATCH) {
            out.push(Planned {
                at: Duration::ZERO,
                department,
                visits: chunk.to_vec(),
            });
        }
    }
    out
}

/// `rate` visits per second for `seconds`, evenly spaced.
pub fn open_loop(target: &Target, first: u64, rate: f64, seconds: f64) -> Vec<Planned> {
    let count = (rate * seconds).round().max(1.0) as usize;
    visits(&target.departments, first, count, 0)
        .into_iter()
        .enumerate()
        .map(|(i, (department, visit))| Planned {
            at: Duration::from_secs_f64(i as f64 / rate.max(1e-9)),
            department,
            visits: vec![visit],
        })
        .collect()
}

/// Committed events per second: committed events over the time from the first submission to
/// the last commit.
pub fn committed_rate(samples: &[Sample]) -> f64 {
    let first = samples.iter().map(|s| s.sent).min().unwrap_or_default();
    let last = samples
        .iter()
        .filter_map(|s| s.committed)
        .max()
        .unwrap_or_default();
    let n = samples.iter().filter(|s| s.committed.is_some()).count();
    n as f64 / last.saturating_sub(first).as_secs_f64().max(1e-9)
}
