//! `medblock client import PATH...`: FHIR R4 patient bundles into a hospital's department node.
//!
//! Each file is read and validated whole by `medblock-fhir` here, in the importer; a bad bundle
//! is reported (file and entry) and nothing of it is sent. A good bundle's encounters go in one
//! `POST /import` to the hospital's node, which checks them all before storing the first EMR,
//! files each under its department (the node holds a certified key per department), and answers
//! once the events are committed. The bundle's patient must be enrolled in the hospital's
//! registry under the Patient's local id (its MR identifier, else its resource id; see
//! [`medblock_fhir::Bundle::registry_id`]) with an authorization that covers the departments: a
//! bundle whose patient is not is refused whole (the error names the file and the patient) and
//! nothing of it is stored. Bundles go through `--concurrency` at a time; a progress bar runs on stderr and a
//! summary ends the run.

use crate::http::ImportBody;
use anyhow::{Context, Result};
use clap::Args;
use medblock_actors::client::import::{ImportOutcome, ImportVisit};
use medblock_fhir::FhirError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `client import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The hospital's department node (HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// FHIR R4 Bundle files (.json or .json.bz2) or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// File every encounter under this department instead of the one its type maps to.
    #[arg(long)]
    pub department: Option<String>,
    /// Bundles in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds to wait for one bundle's commit.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Return once accepted instead of once committed.
    #[arg(long)]
    pub no_wait: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// The department node's API token.
    #[command(flatten)]
    pub token: crate::api_token::TokenArgs,
}

/// One bundle's result.
#[derive(Debug, Clone, Serialize)]
pub struct BundleResult {
    /// The file.
    pub file: String,
    /// The patient's local id the registry matched (MR identifier, else the FHIR Patient id;
    /// empty if the bundle did not parse).
    pub patient_id: String,
    /// The patient's MedBlock key (hex; empty when nothing was recorded).
    pub patient_key: String,
    /// Encounter ids in the bundle, in order.
    pub encounter_ids: Vec<String>,
    /// The node's answer per encounter.
    pub outcomes: Vec<ImportOutcome>,
    /// Why the bundle was refused or skipped.
    pub error: Option<String>,
    /// Skipped (a directory bundle) rather than refused.
    pub skipped: bool,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportSummary {
    /// Bundle files read.
    pub files: usize,
    /// Patients imported (bundles accepted).
    pub patients: usize,
    /// Encounters in the accepted bundles.
    pub encounters: usize,
    /// Events submitted (new encounters).
    pub events_submitted: usize,
    /// Events committed.
    pub events_committed: usize,
    /// Encounters skipped as imported before.
    pub already_imported: usize,
    /// Files refused, with the reason (file and entry).
    pub failed: Vec<(String, String)>,
    /// Files skipped (directory bundles).
    pub skipped: Vec<String>,
    /// Encounters per department.
    pub departments: BTreeMap<String, usize>,
    /// EMR bytes stored.
    pub emr_bytes: u64,
    /// Event bytes submitted for the ledger.
    pub event_bytes: u64,
    /// Mean EMR size per submitted encounter.
    pub mean_emr_bytes: f64,
    /// Mean event size (ledger bytes) per submitted encounter.
    pub mean_event_bytes: f64,
    /// Ledger bytes against EMR size: submitted encounters in EMR-size bands.
    pub by_emr_size: Vec<SizeBand>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Submitted encounters per second of wall time.
    pub encounters_per_second: f64,
}

/// Encounters whose EMR size falls in `[from, to)` bytes.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SizeBand {
    /// Lower bound (bytes, inclusive).
    pub from: u64,
    /// Upper bound (bytes, exclusive; `u64::MAX` for the last band).
    pub to: u64,
    /// Encounters in the band.
    pub encounters: usize,
    /// Their EMR bytes.
    pub emr_bytes: u64,
    /// Their ledger event bytes.
    pub event_bytes: u64,
}

/// EMR-size band edges: 4 KiB, 16 KiB, 64 KiB, 256 KiB.
const BANDS: [u64; 4] = [4 << 10, 16 << 10, 64 << 10, 256 << 10];

fn band_of(s: &mut ImportSummary, emr: u64) -> Option<&mut SizeBand> {
    if s.by_emr_size.is_empty() {
        let mut from = 0;
        for to in BANDS.into_iter().chain([u64::MAX]) {
            s.by_emr_size.push(SizeBand {
                from,
                to,
                ..SizeBand::default()
            });
            from = to;
        }
    }
    s.by_emr_size
        .iter_mut()
        .find(|b| emr >= b.from && emr < b.to)
}

/// Every bundle file named by `paths` (directories expanded, sorted).
pub fn bundle_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let n = f.to_string_lossy();
                    n.ends_with(".json") || n.ends_with(".json.bz2")
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A parsed, validated bundle turned into the node's import visits.
struct Prepared {
    patient_id: String,
    encounter_ids: Vec<String>,
    visits: Vec<ImportVisit>,
}

fn prepare(path: &Path, department: Option<&str>) -> Result<Prepared, FhirError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| FhirError::Unreadable {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    let imp = medblock_fhir::import_bytes(&name, &bytes)?;
    let patient_id = imp.patient_id.clone();
    let mut encounter_ids = Vec::new();
    let mut visits = Vec::new();
    for rec in imp.encounters {
        encounter_ids.push(rec.encounter_id.clone());
        visits.push(ImportVisit {
            patient: patient_id.clone(),
            department: department.unwrap_or(rec.department).to_owned(),
            record_id: rec.record_id(),
            diagnosis: rec.summary.diagnosis,
            examination_results: rec.summary.examination_results,
            treatment_plan: rec.summary.treatment_plan,
            // serde_json writes UTF-8.
            emr: String::from_utf8_lossy(&rec.emr).into_owned(),
        });
    }
    Ok(Prepared {
        patient_id,
        encounter_ids,
        visits,
    })
}

async fn post(
    http: &reqwest::Client,
    node: &str,
    body: &ImportBody,
    timeout: Duration,
) -> Result<Vec<ImportOutcome>> {
    let r = http
        .post(format!("{}/import", node.trim_end_matches('/')))
        .timeout(timeout + Duration::from_secs(30))
        .json(body)
        .send()
        .await
        .with_context(|| format!("no node answering at {node}"))?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() || status == 202 {
        // The node's own message when it gives one (e.g. "patient X is not enrolled at ...").
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        if status.is_client_error() {
            anyhow::bail!(
                "node answered {status}: {message}; nothing of the bundle was imported{}",
                crate::api_token::hint(status)
            );
        }
        anyhow::bail!("node answered {status}: {message}");
    }
    Ok(serde_json::from_str(&text)?)
}

async fn one(http: reqwest::Client, args: Arc<ImportArgs>, path: PathBuf) -> BundleResult {
    let file = path.display().to_string();
    let dept = args.department.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&path, dept.as_deref())).await;
    let mut result = BundleResult {
        file,
        patient_id: String::new(),
        patient_key: String::new(),
        encounter_ids: Vec::new(),
        outcomes: Vec::new(),
        error: None,
        skipped: false,
    };
    let p = match prepared {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            result.skipped = matches!(e, FhirError::DirectoryBundle { .. });
            result.error = Some(e.to_string());
            return result;
        }
        Err(e) => {
            result.error = Some(format!("parser task failed: {e}"));
            return result;
        }
    };
    result.patient_id = p.patient_id;
    result.encounter_ids = p.encounter_ids;
    if p.visits.is_empty() {
        return result;
    }
    let timeout = Duration::from_secs(args.timeout);
    let body = ImportBody {
        visits: p.visits,
        wait: !args.no_wait,
        timeout_ms: timeout.as_millis() as u64,
    };
    match post(&http, &args.node, &body, timeout).await {
        Ok(out) => {
            result.patient_key = out
                .iter()
                .map(|o| o.outcome.patient_key.clone())
                .find(|k| !k.is_empty())
                .unwrap_or_default();
            result.outcomes = out;
        }
        Err(e) => result.error = Some(format!("{}: {e:#}", result.file)),
    }
    result
}

fn progress(hidden: bool, len: usize) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} bundles {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Imports every bundle; returns each bundle's result and the summary.
pub async fn run(args: ImportArgs) -> Result<(Vec<BundleResult>, ImportSummary)> {
    let files = bundle_files(&args.paths)?;
    let started = Instant::now();
    let bar = progress(args.quiet || args.json, files.len());
    let http = args
        .token
        .client(&args.node)?
        .pool_idle_timeout(crate::http::CLIENT_IDLE)
        .build()?;
    let args = Arc::new(args);
    let mut set = tokio::task::JoinSet::new();
    let mut pending = files.into_iter();
    let mut results = Vec::new();
    let mut summary = ImportSummary::default();
    let width = args.concurrency.max(1);
    loop {
        while set.len() < width {
            let Some(path) = pending.next() else { break };
            set.spawn(one(http.clone(), args.clone(), path));
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let r = done.context("import task failed")?;
        tally(&mut summary, &r);
        bar.inc(1);
        bar.set_message(format!(
            "{} encounters, {:.0}/s",
            summary.encounters,
            summary.events_submitted as f64 / started.elapsed().as_secs_f64().max(1e-3)
        ));
        results.push(r);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    let n = summary.events_submitted.max(1) as f64;
    summary.mean_emr_bytes = summary.emr_bytes as f64 / n;
    summary.mean_event_bytes = summary.event_bytes as f64 / n;
    summary.encounters_per_second = summary.events_submitted as f64 / summary.seconds.max(1e-3);
    results.sort_by(|a, b| a.file.cmp(&b.file));
    Ok((results, summary))
}

fn tally(s: &mut ImportSummary, r: &BundleResult) {
    s.files += 1;
    match (&r.error, r.skipped) {
        (Some(_), true) => s.skipped.push(r.file.clone()),
        (Some(e), false) => s.failed.push((r.file.clone(), e.clone())),
        (None, _) => {
            s.patients += 1;
            s.encounters += r.encounter_ids.len();
            for o in &r.outcomes {
                *s.departments
                    .entry(o.outcome.department.clone())
                    .or_default() += 1;
                if o.outcome.status == "already imported" {
                    s.already_imported += 1;
                    continue;
                }
                s.events_submitted += 1;
                s.events_committed += usize::from(o.outcome.status == "committed");
                s.emr_bytes += o.emr_bytes;
                s.event_bytes += o.event_bytes;
                if let Some(b) = band_of(s, o.emr_bytes) {
                    b.encounters += 1;
                    b.emr_bytes += o.emr_bytes;
                    b.event_bytes += o.event_bytes;
                }
            }
        }
    }
}

/// Prints the summary for people.
pub fn print(s: &ImportSummary) {
    println!(
        "imported {} patient(s), {} encounter(s) from {} file(s) in {:.1} s ({:.1} encounters/s)",
        s.patients, s.encounters, s.files, s.seconds, s.encounters_per_second
    );
    println!(
        "  events submitted {}, committed {}, already imported {}",
        s.events_submitted, s.events_committed, s.already_imported
    );
    println!(
        "  EMR bytes stored {} (mean {:.0} per encounter); ledger event bytes {} (mean {:.0})",
        s.emr_bytes, s.mean_emr_bytes, s.event_bytes, s.mean_event_bytes
    );
    for (d, n) in &s.departments {
        println!("  {d}: {n}");
    }
    if s.events_submitted > 0 {
        println!("  EMR size band        encounters  mean EMR B  mean ledger event B");
    }
    for b in s.by_emr_size.iter().filter(|b| b.encounters > 0) {
        let n = b.encounters as f64;
        let to = if b.to == u64::MAX {
            "...".to_owned()
        } else {
            format!("{} KiB", b.to >> 10)
        };
        println!(
            "  {:>4} KiB - {:>8} {:>11} {:>11.0} {:>20.0}",
            b.from >> 10,
            to,
            b.encounters,
            b.emr_bytes as f64 / n,
            b.event_bytes as f64 / n
        );
    }
    for f in &s.skipped {
        println!("  skipped {f} (directory bundle)");
    }
    for (_, e) in &s.failed {
        println!("  REFUSED {e}");
    }
}

/// Runs `client import` from the command line; fails when any bundle was refused.
pub fn cli(args: ImportArgs) -> Result<()> {
    let json = args.json;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (results, summary) = rt.block_on(run(args))?;
    if json {
        let patients: Vec<_> = results
            .iter()
            .filter(|r| r.error.is_none())
            .map(|r| {
                serde_json::json!({
                    "file": r.file, "patient_id": r.patient_id, "patient_key": r.patient_key,
                    "encounters": r.encounter_ids.len(),
                })
            })
            .collect();
        let v = serde_json::json!({ "summary": summary, "patients": patients });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print(&summary);
    }
    anyhow::ensure!(
        summary.failed.is_empty(),
        "{} bundle(s) refused; nothing of them was imported",
        summary.failed.len()
    );
    Ok(())
}
