//! One record per Encounter: the Encounter, every resource that references it, and the Patient
//! (so the record reads alone). Its EMR is a FHIR R4 Bundle of type `collection` whose bytes the
//! hospital stores and whose SHA-256 goes on the ledger.

use crate::bundle::{Bundle, references};
use crate::department::department_of;
use crate::summary::{SummaryText, summarize};
use serde_json::{Map, Value, json};

/// Resource types left out of encounter records although they reference encounters:
/// a Provenance names every resource it documents (a whole history), not one visit.
const NOT_PART_OF_A_VISIT: [&str; 1] = ["Provenance"];

/// One encounter, ready to record.
#[derive(Debug, Clone)]
pub struct EncounterRecord {
    /// The Encounter's id.
    pub encounter_id: String,
    /// The Encounter's fullUrl in the source bundle.
    pub full_url: String,
    /// The department it is filed under (one of [`crate::DEPARTMENTS`]).
    pub department: &'static str,
    /// `Encounter.period.start`, when given.
    pub start: Option<String>,
    /// Entry indices of its resources: the Patient, the Encounter, then the resources that
    /// reference it, in bundle order.
    pub resources: Vec<usize>,
    /// The summary for the ledger.
    pub summary: SummaryText,
    /// The EMR: the per-encounter Bundle's JSON bytes.
    pub emr: Vec<u8>,
}

impl EncounterRecord {
    /// The id under which the hospital stores the EMR (the ledger's pointer).
    pub fn record_id(&self) -> String {
        format!("Encounter/{}", self.encounter_id)
    }
}

/// The records of every Encounter of a validated bundle, in bundle order.
pub fn encounters(bundle: &Bundle) -> Vec<EncounterRecord> {
    let enc_indices: Vec<usize> = bundle
        .entries
        .iter()
        .filter(|e| e.resource_type == "Encounter")
        .map(|e| e.index)
        .collect();
    // For each encounter, the resources referencing it (one pass over the bundle).
    let mut members: std::collections::HashMap<usize, Vec<usize>> =
        enc_indices.iter().map(|i| (*i, Vec::new())).collect();
    for e in &bundle.entries {
        if e.resource_type == "Encounter" || NOT_PART_OF_A_VISIT.contains(&e.resource_type.as_str())
        {
            continue;
        }
        let mut targets: Vec<usize> = references(&e.resource)
            .iter()
            .filter_map(|r| bundle.resolve(&r.reference))
            .filter(|t| members.contains_key(t))
            .collect();
        targets.sort_unstable();
        targets.dedup();
        for t in targets {
            if let Some(m) = members.get_mut(&t) {
                m.push(e.index);
            }
        }
    }
    enc_indices
        .into_iter()
        .filter_map(|i| {
            let enc = bundle.get(i)?;
            let mut resources = vec![bundle.patient, i];
            resources.extend(members.remove(&i).unwrap_or_default());
            let summary = summarize(bundle, &resources);
            let emr = record_bundle(bundle, &enc.id, &resources);
            Some(EncounterRecord {
                encounter_id: if enc.id.is_empty() {
                    enc.full_url.trim_start_matches("urn:uuid:").to_owned()
                } else {
                    enc.id.clone()
                },
                full_url: enc.full_url.clone(),
                department: department_of(&enc.resource),
                start: enc
                    .resource
                    .pointer("/period/start")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                resources,
                summary,
                emr,
            })
        })
        .collect()
}

/// The FHIR R4 `collection` Bundle of the given entries, serialised (keys in a fixed order, so
/// the same record always gives the same bytes and hash).
fn record_bundle(bundle: &Bundle, id: &str, resources: &[usize]) -> Vec<u8> {
    let entries: Vec<Value> = resources
        .iter()
        .filter_map(|i| bundle.get(*i))
        .map(|e| json!({ "fullUrl": e.full_url, "resource": e.resource }))
        .collect();
    let mut b = Map::new();
    b.insert("resourceType".into(), json!("Bundle"));
    if !id.is_empty() {
        b.insert("id".into(), json!(format!("encounter-{id}")));
    }
    b.insert("type".into(), json!("collection"));
    b.insert("entry".into(), Value::Array(entries));
    serde_json::to_vec(&Value::Object(b)).unwrap_or_default()
}
