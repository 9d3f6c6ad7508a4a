//! The EMR of a visit entered by hand (`medblock client submit` without an EMR of its own), as a
//! FHIR R4 `collection` Bundle: Patient, Encounter, and a Condition, Observation and CarePlan for
//! the summary's three fields. Every record a hospital keeps is then FHIR, whichever way it came.

use serde_json::{Value, json};

/// What a hand-entered visit says.
#[derive(Debug, Clone)]
pub struct VisitEmr<'a> {
    /// Random bytes the resources' urn:uuid fullUrls are made from (the caller draws them, so
    /// this stays pure).
    pub seed: [u8; 16],
    /// The hospital.
    pub hospital: &'a str,
    /// The department (the Encounter's service type).
    pub department: &'a str,
    /// The patient's id at the hospital (a Patient identifier).
    pub patient: &'a str,
    /// Diagnosis (a Condition when not empty).
    pub diagnosis: &'a str,
    /// Examination results (an Observation when not empty).
    pub examination_results: &'a str,
    /// Treatment plan (a CarePlan when not empty).
    pub treatment_plan: &'a str,
}

/// A version-4-shaped UUID from the seed and an index.
fn uuid(seed: &[u8; 16], index: u8) -> String {
    let mut b = *seed;
    b[15] ^= index;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The visit's FHIR Bundle, serialised.
pub fn visit_bundle(v: &VisitEmr<'_>) -> Vec<u8> {
    let [p, e, c, o, cp] = [0u8, 1, 2, 3, 4].map(|i| uuid(&v.seed, i));
    let id = |u: &str| u.trim_start_matches("urn:uuid:").to_owned();
    let subject = json!({ "reference": p });
    let encounter = json!({ "reference": e });
    let mut entries = vec![
        json!({"fullUrl": p, "resource": {
            "resourceType": "Patient", "id": id(&p),
            "identifier": [{"system": format!("urn:medblock:{}:patient", v.hospital), "value": v.patient}]}}),
        json!({"fullUrl": e, "resource": {
            "resourceType": "Encounter", "id": id(&e), "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "serviceType": {"text": v.department}, "subject": subject}}),
    ];
    let mut add = |url: &str, resource: Value| {
        entries.push(json!({ "fullUrl": url, "resource": resource }));
    };
    if !v.diagnosis.is_empty() {
        add(
            &c,
            json!({"resourceType": "Condition", "id": id(&c), "code": {"text": v.diagnosis},
                   "subject": subject, "encounter": encounter}),
        );
    }
    if !v.examination_results.is_empty() {
        add(
            &o,
            json!({"resourceType": "Observation", "id": id(&o), "status": "final",
                   "code": {"text": "examination results"}, "valueString": v.examination_results,
                   "subject": subject, "encounter": encounter}),
        );
    }
    if !v.treatment_plan.is_empty() {
        add(
            &cp,
            json!({"resourceType": "CarePlan", "id": id(&cp), "status": "active",
                   "intent": "plan", "description": v.treatment_plan,
                   "category": [{"text": v.treatment_plan}],
                   "subject": subject, "encounter": encounter}),
        );
    }
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
    serde_json::to_vec(&bundle).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_entered_visit_is_a_valid_bundle_that_maps_back_to_its_summary() {
        let bytes = visit_bundle(&VisitEmr {
            seed: [7; 16],
            hospital: "h1",
            department: "cardiology",
            patient: "alice",
            diagnosis: "otitis media",
            examination_results: "red eardrum",
            treatment_plan: "amoxicillin",
        });
        let imp = crate::import_bytes("visit", &bytes).expect("valid FHIR");
        assert_eq!(imp.encounters.len(), 1);
        let s = &imp.encounters[0].summary;
        assert_eq!(s.diagnosis, "otitis media");
        assert_eq!(s.examination_results, "examination results: red eardrum");
        assert_eq!(s.treatment_plan, "care plan: amoxicillin");
        assert_eq!(imp.bundle.entries.len(), 5);
        // Another seed, other fullUrls; empty fields add no resource.
        let other = visit_bundle(&VisitEmr {
            seed: [8; 16],
            hospital: "h1",
            department: "cardiology",
            patient: "alice",
            diagnosis: "x",
            examination_results: "",
            treatment_plan: "",
        });
        let imp2 = crate::import_bytes("visit", &other).expect("valid FHIR");
        assert_eq!(imp2.bundle.entries.len(), 3);
        assert_ne!(
            imp2.bundle.entries[0].full_url,
            imp.bundle.entries[0].full_url
        );
    }
}
