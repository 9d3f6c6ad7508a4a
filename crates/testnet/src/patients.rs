//! Patients of the demo: their key files (written by the departments that registered them)
//! are copied to `DIR/patients/<hospital>/<patient>.key`, owner-only, so a person can act as
//! a patient. [`read_records_hook`] is where the patient light node plugs in.

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

/// The patient-side step of the demo: "a patient reading his records". The light node that
/// reads records over the network (bread crumbs, Merkle proofs, decryption, EMR fetch) lands
/// with the `patient` branch; after merging, this function calls it with `key` and a
/// committer's URL and returns what to print. Until then it says how to do it by hand.
pub fn read_records_hook(state: &TestnetState, key: &std::path::Path) -> String {
    let node = state
        .members()
        .find(|n| n.spec.roles.iter().any(|r| r == "committer"))
        .map(|n| n.url())
        .unwrap_or_default();
    format!(
        "patient key {} — read his records with the patient light node against {node} \
         (hook: medblock_testnet::patients::read_records_hook)",
        key.display()
    )
}
