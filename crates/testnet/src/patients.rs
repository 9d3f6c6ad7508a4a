//! The demo's patients, on the patient side: each has his own key file
//! `DIR/patients/<name>.key` (owner-only, the format `medblock patient keys create` writes),
//! made here and never sent anywhere. Each enrols at every hospital department of the testnet
//! with his public keys, proving possession over the hospital's challenge and signing the
//! recording authorization the hospital's events will carry ([`crate::enrol`]); no node ever
//! holds a patient's private key. [`read_records_hook`] then shows one patient reading his
//! records from two hospitals in two regions and fetching one EMR, with the patient light node.

use crate::enrol;
use crate::error::{Result, TestnetError};
use crate::ops::progress;
use crate::state::{NodeEntry, TestnetState};
use medblock_core::keys::Identity;
use medblock_storage::keyfile::{load_identity, save_identity};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Demo patients (each visits every hospital).
pub const DEMO_PATIENTS: u64 = 10;

/// The name of demo patient `k` (0-based, wrapping): his key file's stem and his local id (MRN)
/// at every hospital.
pub fn name(k: u64) -> String {
    format!("patient-{:02}", k % DEMO_PATIENTS + 1)
}

/// `DIR/patients`.
pub fn dir(state: &TestnetState) -> PathBuf {
    state.dir.join("patients")
}

/// `DIR/patients/<name>.key`.
pub fn key_path(state: &TestnetState, name: &str) -> PathBuf {
    dir(state).join(format!("{name}.key"))
}

/// Creates the demo patients' key files (0600, in a 0700 directory), keeping any that exist;
/// returns each patient's name and keys.
pub fn create(state: &TestnetState) -> Result<Vec<(String, Identity)>> {
    let d = dir(state);
    std::fs::create_dir_all(&d)
        .map_err(|e| TestnetError::io(format!("creating {}", d.display()), e))?;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| TestnetError::io(format!("securing {}", d.display()), e))?;
    (0..DEMO_PATIENTS)
        .map(|k| {
            let name = name(k);
            let path = key_path(state, &name);
            let keys = if path.exists() {
                load_identity(&path)
            } else {
                let id = Identity::generate(&mut rand::rng());
                save_identity(&path, &name, &id).map(|()| id)
            }
            .map_err(|e| TestnetError::Invalid(format!("{}: {e}", path.display())))?;
            Ok((name, keys))
        })
        .collect()
}

/// Enrols every demo patient at each of `departments` (challenge, signature, enrolment);
/// returns how many enrolments were made.
pub fn enrol_at(state: &TestnetState, departments: &[NodeEntry]) -> Result<usize> {
    let patients = create(state)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestnetError::io("starting an async runtime", e))?;
    let mut n = 0;
    for d in departments {
        for (name, keys) in &patients {
            rt.block_on(enrol::enrol(&d.api(), keys, name))
                .map_err(|e| {
                    TestnetError::Invalid(format!(
                        "enrolling {name} at {} ({}): {e}",
                        d.spec.hospital, d.spec.name
                    ))
                })?;
            n += 1;
        }
        progress(format!(
            "{} patients enrolled at {} ({}, {})",
            patients.len(),
            d.spec.hospital,
            d.spec.name,
            d.spec.region
        ));
    }
    Ok(n)
}

/// Creates the demo patients and enrols each at every hospital department of the testnet.
pub fn enrol_everywhere(state: &TestnetState) -> Result<usize> {
    let departments: Vec<NodeEntry> = state
        .members()
        .filter(|n| n.spec.is_department())
        .cloned()
        .collect();
    enrol_at(state, &departments)
}

/// The patient key files, by name.
pub fn key_files(state: &TestnetState) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir(state))
        .map(|d| {
            d.flatten()
                .map(|k| k.path())
                .filter(|p| p.extension().is_some_and(|x| x == "key"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A record as `patient records --json` lists it.
#[derive(Debug, Clone)]
struct Listed {
    hospital: String,
    department: String,
    sequence: u64,
}

fn listed(json: &str) -> Vec<Listed> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some(Listed {
                hospital: r["hospital"].as_str()?.to_owned(),
                department: r["department"].as_str()?.to_owned(),
                sequence: r["sequence"].as_u64()?,
            })
        })
        .collect()
}

/// The patient-side step of the demo. It runs the patient light node (`medblock patient`, the
/// same binary as the nodes) against two committers, for the demo patients in turn, until one
/// has committed records from two hospitals in two regions (the demo traffic keeps adding them;
/// it tries for up to `patience`): it lists his records (the light node proves his key over
/// each peer's challenge, checks every record against its block's Merkle root and commit
/// certificate, and decrypts the summaries), then fetches one EMR from the hospital that holds
/// it, found from the record's pointer (no address given), checked against the ledger's hash.
/// Returns what to print.
pub fn read_records_hook(state: &TestnetState, patience: Duration) -> String {
    let regions: BTreeMap<String, String> = state
        .members()
        .filter(|n| n.spec.is_department())
        .map(|n| (n.spec.hospital.clone(), n.spec.region.clone()))
        .collect();
    // Two hospitals in two regions, or as many as the layout has.
    let wanted = regions
        .values()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        .clamp(1, 2);
    let deadline = std::time::Instant::now() + patience;
    let mut last = String::from("no patient key yet");
    loop {
        for key in key_files(state) {
            match light_node(state, &key, &["records", "--json"]) {
                Ok(json) => {
                    let records = listed(&json);
                    let mut by_hospital: BTreeMap<&str, &Listed> = BTreeMap::new();
                    for r in &records {
                        by_hospital.entry(r.hospital.as_str()).or_insert(r);
                    }
                    let in_regions: std::collections::BTreeSet<&String> =
                        by_hospital.keys().filter_map(|h| regions.get(*h)).collect();
                    if by_hospital.len() >= wanted && in_regions.len() >= wanted {
                        let fetch_from = by_hospital.values().last().copied().cloned();
                        return show(state, &key, &regions, fetch_from);
                    }
                    last = format!(
                        "{} has records from {} hospital(s) so far",
                        key.display(),
                        by_hospital.len()
                    );
                }
                Err(e) => last = e,
            }
        }
        if std::time::Instant::now() > deadline {
            return format!(
                "the patient light node found no patient with records from {wanted} hospital(s): {last}"
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Prints a patient's records and fetches one EMR.
fn show(
    state: &TestnetState,
    key: &Path,
    regions: &BTreeMap<String, String>,
    fetch: Option<Listed>,
) -> String {
    let hospitals: Vec<String> = regions.iter().map(|(h, r)| format!("{h} ({r})")).collect();
    let mut out = format!(
        "A patient reads his records from {} with his light node and his own key ({}):\n",
        hospitals.join(" and "),
        key.display()
    );
    match light_node(state, key, &["records"]) {
        Ok(text) => out.push_str(text.trim_end()),
        Err(e) => out.push_str(&e),
    }
    let Some(r) = fetch else {
        return out;
    };
    let file = key.with_extension(format!(
        "{}-{}-{}.emr",
        r.hospital, r.department, r.sequence
    ));
    let _ = std::fs::remove_file(&file);
    let seq = r.sequence.to_string();
    let out_file = file.display().to_string();
    let args = [
        "fetch",
        "--hospital",
        r.hospital.as_str(),
        "--department",
        r.department.as_str(),
        "--sequence",
        seq.as_str(),
        "--out",
        out_file.as_str(),
    ];
    out.push_str(&format!(
        "\n\nHe fetches the EMR of {}/{}/{} from {} (found from the record's pointer; its SHA-256 checked against the ledger):\n",
        r.hospital, r.department, r.sequence, r.hospital
    ));
    match light_node(state, key, &args) {
        Ok(said) => {
            out.push_str(said.trim_end());
            match std::fs::read(&file) {
                Ok(emr) => out.push_str(&format!("\n{}", String::from_utf8_lossy(&emr).trim_end())),
                Err(e) => out.push_str(&format!("\nno EMR in {}: {e}", file.display())),
            }
        }
        Err(e) => out.push_str(&e),
    }
    out
}

/// Runs `medblock patient <args> --key K --genesis G --peer ...` against two committers; its
/// stdout, or why it failed.
fn light_node(
    state: &TestnetState,
    key: &Path,
    args: &[&str],
) -> std::result::Result<String, String> {
    let peers: Vec<String> = state
        .members()
        .filter(|n| n.spec.roles.iter().any(|r| r == "committer"))
        .take(2)
        .map(|n| n.multiaddr())
        .collect();
    let mut cmd = std::process::Command::new(&state.bin);
    cmd.arg("patient")
        .args(args)
        .arg("--key")
        .arg(key)
        .arg("--genesis")
        .arg(state.genesis());
    for p in &peers {
        cmd.arg("--peer").arg(p);
    }
    cmd.env("RUST_LOG", "warn");
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "`medblock patient {}` failed for {}: {}",
            args.first().copied().unwrap_or_default(),
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )),
        Err(e) => Err(format!("could not run the patient light node: {e}")),
    }
}
