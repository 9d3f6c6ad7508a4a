//! Demo traffic: the built-in synthetic hospitals' departments record visits of the demo
//! patients, a few every second, so a fresh testnet shows blocks being committed. The same
//! patients (enrolled at every hospital by `testnet up`, [`crate::patients`]) visit every
//! hospital, so each has records from two hospitals in two regions.

use crate::error::Result;
use crate::layout::NodeSpec;
use crate::state::TestnetState;
use crate::{http, patients, process};
use medblock_core::synthetic::World;
use std::time::Duration;

/// `count` synthetic visits of the demo patients at `spec`'s department, starting at visit
/// number `from` (visit `i` is demo patient `i` modulo [`patients::DEMO_PATIENTS`]).
pub fn visits(spec: &NodeSpec, from: u64, count: u64) -> Vec<serde_json::Value> {
    visits_of(spec, from, count, patients::name)
}

/// `count` synthetic visits at `spec`'s department, starting at visit number `from`, visit
/// `i` by the patient `patient(i)` (his local id at the department's hospital, enrolled there
/// beforehand). The EMR the hospital keeps is a small FHIR-like Bundle naming the visit.
pub fn visits_of(
    spec: &NodeSpec,
    from: u64,
    count: u64,
    patient: impl Fn(u64) -> String,
) -> Vec<serde_json::Value> {
    // The synthetic world's summaries: real-looking diagnoses, results and plans.
    let world = World::generate(&mut rand::rng(), 1, 0);
    (from..from + count)
        .map(|i| {
            let (summary, _) = world.summary((i % 4) as usize, i + 1);
            let emr = serde_json::json!({
                "resourceType": "Bundle",
                "type": "collection",
                "id": format!("{}-{}-visit-{}", spec.hospital, spec.department, i + 1),
                "diagnosis": summary.diagnosis,
                "examination_results": summary.examination_results,
                "treatment_plan": summary.treatment_plan,
            });
            serde_json::json!({
                "patient": patient(i),
                "diagnosis": summary.diagnosis,
                "examination_results": summary.examination_results,
                "treatment_plan": summary.treatment_plan,
                "emr": emr.to_string(),
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
                &d.api(),
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
            tracing::info!(sent, "demo traffic");
        }
        std::thread::sleep(period);
    }
}
