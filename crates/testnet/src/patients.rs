//! Patients of the demo: their key files (written by the departments that registered them)
//! are copied to `DIR/patients/<hospital>/<patient>.key`, owner-only, so a person can act as
//! a patient; [`read_records_hook`] reads one patient's records with the patient light node.

use crate::error::{Result, TestnetError};
use crate::state::TestnetState;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Copies every department's patient key files under `DIR/patients/`; returns how many.
pub fn collect(state: &TestnetState) -> Result<usize> {
    let mut n = 0;
    for d in state.members().filter(|n| n.spec.is_department()) {
        let from = d.dir.join("data").join("patients");
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        let to = state.dir.join("patients").join(&d.spec.hospital);
        std::fs::create_dir_all(&to)
            .map_err(|e| TestnetError::io(format!("creating {}", to.display()), e))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| TestnetError::io(format!("securing {}", to.display()), e))?;
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "key") {
                let target = to.join(e.file_name());
                if !target.exists() {
                    std::fs::copy(&path, &target)
                        .map_err(|e| TestnetError::io(format!("copying {}", path.display()), e))?;
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| {
                            TestnetError::io(format!("securing {}", target.display()), e)
                        })?;
                }
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The patient key files collected so far.
pub fn key_files(state: &TestnetState) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(hospitals) = std::fs::read_dir(state.dir.join("patients")) {
        for h in hospitals.flatten() {
            if let Ok(keys) = std::fs::read_dir(h.path()) {
                out.extend(keys.flatten().map(|k| k.path()));
            }
        }
    }
    out.sort();
    out
}

/// The patient-side step of the demo: "a patient reading his records". It runs the patient
/// light node (`medblock patient records`, the same binary as the nodes) against two
/// committers, for the collected patients in turn until one has committed records (the demo
/// traffic keeps adding them; it tries for up to `patience`). The light node proves the key over
/// each peer's challenge, checks every record against its block's Merkle root and commit
/// certificate, and decrypts the summaries. Returns what to print.
pub fn read_records_hook(state: &TestnetState, patience: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + patience;
    let mut last = String::from("no patient has been registered yet");
    loop {
        let _ = collect(state);
        for key in key_files(state) {
            match records(state, &key, true) {
                Ok(json) if json.trim_start().starts_with('[') && json.trim() != "[]" => {
                    return match records(state, &key, false) {
                        Ok(text) => format!(
                            "A patient reads his records with his light node ({}):\n{}",
                            key.display(),
                            text.trim_end()
                        ),
                        Err(e) => e,
                    };
                }
                Ok(_) => last = format!("{} has no committed record yet", key.display()),
                Err(e) => last = e,
            }
        }
        if std::time::Instant::now() > deadline {
            return format!("the patient light node read no records: {last}");
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// Runs `medblock patient records` for `key`; its stdout, or why it failed.
fn records(
    state: &TestnetState,
    key: &std::path::Path,
    json: bool,
) -> std::result::Result<String, String> {
    let peers: Vec<String> = state
        .members()
        .filter(|n| n.spec.roles.iter().any(|r| r == "committer"))
        .take(2)
        .map(|n| n.multiaddr())
        .collect();
    let mut cmd = std::process::Command::new(&state.bin);
    cmd.arg("patient")
        .arg("records")
        .arg("--key")
        .arg(key)
        .arg("--genesis")
        .arg(state.genesis());
    for p in &peers {
        cmd.arg("--peer").arg(p);
    }
    if json {
        cmd.arg("--json");
    }
    cmd.env("RUST_LOG", "warn");
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "the patient light node could not read {}'s records: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )),
        Err(e) => Err(format!("could not run the patient light node: {e}")),
    }
}
