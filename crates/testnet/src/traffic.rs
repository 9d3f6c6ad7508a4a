//! Demo traffic: the built-in synthetic hospitals' departments record visits of synthetic
//! patients, a few every second, so a fresh testnet shows blocks being committed.

use crate::error::Result;
use crate::layout::NodeSpec;
use crate::state::TestnetState;
use crate::{http, patients, process};
use medblock_core::synthetic::World;
use std::time::Duration;

/// Synthetic patients per hospital.
pub const PATIENTS_PER_HOSPITAL: u64 = 10;

/// The patient id of patient `k` of a department's hospital.
pub fn patient_id(spec: &NodeSpec, k: u64) -> String {
    format!(
        "{}-patient-{:02}",
        spec.hospital,
        k % PATIENTS_PER_HOSPITAL + 1
    )
}

/// `count` synthetic visits at `spec`'s department, starting at visit number `from`.
pub fn visits(spec: &NodeSpec, from: u64, count: u64) -> Vec<serde_json::Value> {
    // The synthetic world's summaries: real-looking diagnoses, results and plans.
    let world = World::generate(&mut rand::rng(), 1, 0);
    (from..from + count)
        .map(|i| {
            let (summary, emr) = world.summary((i % 4) as usize, i + 1);
            serde_json::json!({
                "patient": patient_id(spec, i),
                "diagnosis": summary.diagnosis,
                "examination_results": summary.examination_results,
                "treatment_plan": summary.treatment_plan,
                "emr": String::from_utf8_lossy(&emr),
            })
        })
        .collect()
}

/// Submits `rate` visits per second (spread over the departments) until killed.
pub fn run(dir: &std::path::Path, rate: f64) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::TestnetError::io("starting an async runtime", e))?;
    let period = Duration::from_secs(2);
    let per_round = (rate * period.as_secs_f64()).ceil().max(1.0) as u64;
    let mut sent = 1u64;
    let mut rounds = 0u64;
    loop {
        let state = TestnetState::load(dir)?;
        let depts: Vec<_> = state
            .members()
            .filter(|n| n.spec.is_department() && n.pid.is_some_and(process::alive))
            .cloned()
            .collect();
        for d in &depts {
            let batch = visits(&d.spec, sent, per_round.div_ceil(depts.len() as u64));
            match rt.block_on(http::submit(
                &d.url(),
                &batch,
                false,
                Duration::from_secs(10),
            )) {
                Ok(_) => sent += batch.len() as u64,
                Err(e) => {
                    tracing::warn!(department = d.spec.name, error = %e, "visits not submitted")
                }
            }
        }
        rounds += 1;
        if rounds % 5 == 1 {
            if let Err(e) = patients::collect(&state) {
                tracing::warn!(error = %e, "patient keys not copied");
            }
            tracing::info!(sent, "demo traffic");
        }
        std::thread::sleep(period);
    }
}
