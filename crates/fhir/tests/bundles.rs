//! Bundle validation and encounter extraction, on hand-made bundles (every bad-bundle case names
//! its file and entry) and on a real Synthea patient from the shared data set.

use medblock_fhir::{
    FhirError, Location, emr_resources, import_bytes, merge_emrs, record_resources,
};
use serde_json::{Value, json};

const FILE: &str = "patients/alice.json";

fn good() -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1"}},
            {"fullUrl": "urn:uuid:e1", "resource": {"resourceType": "Encounter", "id": "e1",
                "class": {"code": "EMER"}, "subject": {"reference": "urn:uuid:p1"},
                "serviceProvider": {"reference": "Organization?identifier=https://x|1"},
                "period": {"start": "2020-01-01T10:00:00Z"}}},
            {"fullUrl": "urn:uuid:e2", "resource": {"resourceType": "Encounter", "id": "e2",
                "class": {"code": "AMB"}, "type": [{"text": "Prenatal visit"}],
                "subject": {"reference": "urn:uuid:p1"}}},
            {"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Condition", "id": "c1",
                "code": {"text": "Acute bronchitis"}, "subject": {"reference": "urn:uuid:p1"},
                "encounter": {"reference": "urn:uuid:e1"}}},
            {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Observation", "id": "o1",
                "code": {"text": "Body temperature"}, "valueQuantity": {"value": 38.5, "unit": "Cel"},
                "encounter": {"reference": "urn:uuid:e1"}}},
            {"fullUrl": "urn:uuid:d1", "resource": {"resourceType": "DiagnosticReport", "id": "d1",
                "code": {"text": "Chest X-ray"}, "encounter": {"reference": "urn:uuid:e1"},
                "result": [{"reference": "urn:uuid:o1"}]}},
            {"fullUrl": "urn:uuid:m0", "resource": {"resourceType": "Medication", "id": "m0",
                "code": {"coding": [{"display": "Amoxicillin 500 MG"}]}}},
            {"fullUrl": "urn:uuid:m1", "resource": {"resourceType": "MedicationRequest", "id": "m1",
                "medicationReference": {"reference": "urn:uuid:m0"},
                "encounter": {"reference": "urn:uuid:e1"}}},
            {"fullUrl": "urn:uuid:pr1", "resource": {"resourceType": "Procedure", "id": "pr1",
                "code": {"text": "Ultrasound"}, "encounter": {"reference": "urn:uuid:e2"}}},
            {"fullUrl": "urn:uuid:cp1", "resource": {"resourceType": "CarePlan", "id": "cp1",
                "category": [{"text": "Routine antenatal care"}],
                "encounter": {"reference": "urn:uuid:e2"}}},
            {"fullUrl": "urn:uuid:cl1", "resource": {"resourceType": "Claim", "id": "cl1",
                "item": [{"encounter": [{"reference": "urn:uuid:e1"}]}]}},
            {"fullUrl": "urn:uuid:pv", "resource": {"resourceType": "Provenance", "id": "pv",
                "target": [{"reference": "urn:uuid:e1"}, {"reference": "urn:uuid:e2"}]}}
        ]
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

fn entry_of(e: &FhirError) -> (usize, Option<String>) {
    let entry = e.entry().expect("the error names an entry");
    (entry.index, entry.full_url.clone())
}

#[test]
fn encounters_get_their_resources_department_and_summary() {
    let imp = import_bytes(FILE, &bytes(&good())).expect("valid");
    assert_eq!(imp.patient_id, "p1");
    assert_eq!(imp.encounters.len(), 2);
    let e1 = &imp.encounters[0];
    assert_eq!(e1.encounter_id, "e1");
    assert_eq!(e1.record_id(), "Encounter/e1");
    assert_eq!(e1.department, "emergency");
    assert_eq!(e1.start.as_deref(), Some("2020-01-01T10:00:00Z"));
    assert_eq!(e1.summary.diagnosis, "Acute bronchitis");
    assert_eq!(
        e1.summary.examination_results,
        "Body temperature: 38.5 Cel; report: Chest X-ray"
    );
    assert_eq!(e1.summary.treatment_plan, "medication: Amoxicillin 500 MG");
    let got: Vec<String> = record_resources(&imp.bundle, e1).into_keys().collect();
    // Patient, Encounter, and what references e1 (not the Provenance, not e2's resources).
    let want = ["c1", "cl1", "d1", "e1", "m1", "o1", "p1"].map(|s| format!("urn:uuid:{s}"));
    assert_eq!(got, want);
    let e2 = &imp.encounters[1];
    assert_eq!(e2.department, "obstetrics");
    assert_eq!(e2.summary.diagnosis, "");
    assert_eq!(
        e2.summary.treatment_plan,
        "procedure: Ultrasound; care plan: Routine antenatal care"
    );
}

#[test]
fn the_emr_is_a_fhir_collection_bundle_holding_exactly_the_record() {
    let imp = import_bytes(FILE, &bytes(&good())).expect("valid");
    for rec in &imp.encounters {
        let v: Value = serde_json::from_slice(&rec.emr).expect("EMR is JSON");
        assert_eq!(v["resourceType"], "Bundle");
        assert_eq!(v["type"], "collection");
        let back = emr_resources("emr", &rec.emr).expect("parses back");
        assert_eq!(back, record_resources(&imp.bundle, rec));
    }
    // Same input, same bytes (the hash on the ledger is reproducible).
    let again = import_bytes(FILE, &bytes(&good())).expect("valid");
    assert_eq!(again.encounters[0].emr, imp.encounters[0].emr);
}

#[test]
fn not_json_names_the_file() {
    let e = import_bytes(FILE, b"{\"resourceType\": \"Bundle\", ").expect_err("bad");
    assert!(matches!(e, FhirError::NotJson { .. }), "{e}");
    assert_eq!(e.file(), FILE);
    assert!(e.to_string().starts_with(FILE), "{e}");
}

#[test]
fn bad_bzip2_names_the_file() {
    let e = import_bytes("x.json.bz2", b"BZh9garbage").expect_err("bad");
    assert!(matches!(e, FhirError::Decompress { .. }), "{e}");
    assert_eq!(e.file(), "x.json.bz2");
}

#[test]
fn wrong_top_level_resource_type() {
    let e = import_bytes(FILE, &bytes(&json!({"resourceType": "Patient", "id": "p"})))
        .expect_err("bad");
    match &e {
        FhirError::WrongResourceType {
            file, at, found, ..
        } => {
            assert_eq!(file, FILE);
            assert_eq!(*at, Location::Document);
            assert_eq!(found, "Patient");
        }
        other => panic!("wrong error {other}"),
    }
}

#[test]
fn wrong_entry_resource_type_names_the_entry() {
    let mut b = good();
    b["entry"][4]["resource"]["resourceType"] = json!("observation!");
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert!(matches!(e, FhirError::WrongResourceType { .. }), "{e}");
    assert_eq!(entry_of(&e), (4, Some("urn:uuid:o1".into())));
    assert!(e.to_string().contains("entry 4 (urn:uuid:o1)"), "{e}");
    let mut b = good();
    b["entry"][3]["resource"] = json!({"id": "no type"});
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert_eq!(entry_of(&e), (3, Some("urn:uuid:c1".into())));
}

#[test]
fn dangling_reference_names_entry_reference_and_path() {
    let mut b = good();
    b["entry"][5]["resource"]["result"][0]["reference"] = json!("urn:uuid:gone");
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    match &e {
        FhirError::DanglingReference {
            file,
            reference,
            path,
            ..
        } => {
            assert_eq!(file, FILE);
            assert_eq!(reference, "urn:uuid:gone");
            assert_eq!(path, ".result");
        }
        other => panic!("wrong error {other}"),
    }
    assert_eq!(entry_of(&e), (5, Some("urn:uuid:d1".into())));
    // A relative reference to a resource not in the bundle dangles too.
    let mut b = good();
    b["entry"][3]["resource"]["encounter"]["reference"] = json!("Encounter/nowhere");
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert_eq!(entry_of(&e), (3, Some("urn:uuid:c1".into())));
    // Relative references to entries present resolve.
    let mut b = good();
    b["entry"][3]["resource"]["encounter"]["reference"] = json!("Encounter/e1");
    assert!(import_bytes(FILE, &bytes(&b)).is_ok());
}

#[test]
fn no_patient_names_the_file() {
    let mut b = good();
    let entries = b["entry"].as_array_mut().expect("entries");
    entries.remove(0);
    // Keep references valid so the missing Patient is the first fault found.
    for e in entries.iter_mut() {
        if let Some(s) = e["resource"].get_mut("subject") {
            *s = json!({"display": "someone"});
        }
    }
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert_eq!(e, FhirError::NoPatient { file: FILE.into() });
}

#[test]
fn second_patient_duplicate_full_url_and_foreign_encounter_are_refused() {
    let mut b = good();
    b["entry"]
        .as_array_mut()
        .expect("entries")
        .push(json!({"fullUrl": "urn:uuid:p2", "resource": {"resourceType": "Patient"}}));
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert!(
        matches!(e, FhirError::SeveralPatients { first: 0, .. }),
        "{e}"
    );
    assert_eq!(entry_of(&e).0, 12);

    let mut b = good();
    b["entry"][4]["fullUrl"] = json!("urn:uuid:c1");
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert!(
        matches!(e, FhirError::DuplicateFullUrl { first: 3, .. }),
        "{e}"
    );

    let mut b = good();
    b["entry"][2]["resource"]["subject"] = json!({"reference": "urn:uuid:c1"});
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert!(matches!(e, FhirError::ForeignEncounter { .. }), "{e}");
    assert_eq!(entry_of(&e), (2, Some("urn:uuid:e2".into())));
}

#[test]
fn entries_without_resource_or_object_are_malformed() {
    let mut b = good();
    b["entry"][6] = json!("not an object");
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert!(matches!(e, FhirError::Malformed { .. }), "{e}");
    assert_eq!(entry_of(&e), (6, None));
    let mut b = good();
    b["entry"][1] = json!({"fullUrl": "urn:uuid:e1"});
    let e = import_bytes(FILE, &bytes(&b)).expect_err("bad");
    assert_eq!(entry_of(&e), (1, Some("urn:uuid:e1".into())));
}

/// The shared data set: `MEDBLOCK_FHIR_DATA`, else `../shared/data/fhir-synthea` beside the repo.
fn data_dir() -> std::path::PathBuf {
    std::env::var_os("MEDBLOCK_FHIR_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/fhir-synthea")
        })
}

#[test]
fn a_real_synthea_patient_parses_with_every_encounter_and_resource_accounted_for() {
    let path = data_dir().join("057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2");
    let raw = std::fs::read(&path).expect("the shared FHIR data set is present");
    let imp = import_bytes(&path.display().to_string(), &raw).expect("valid Synthea bundle");
    assert_eq!(imp.patient_id, "057aa36e-b892-9964-75b9-ffb46b097e34");
    let n_enc = imp
        .bundle
        .entries
        .iter()
        .filter(|e| e.resource_type == "Encounter")
        .count();
    assert_eq!(imp.encounters.len(), n_enc);
    assert!(n_enc > 0);
    for rec in &imp.encounters {
        assert!(medblock_fhir::DEPARTMENTS.contains(&rec.department));
        let back = emr_resources("emr", &rec.emr).expect("EMR parses");
        assert_eq!(back, record_resources(&imp.bundle, rec));
        assert!(
            rec.summary.diagnosis.len()
                + rec.summary.examination_results.len()
                + rec.summary.treatment_plan.len()
                <= 64 * 1024
        );
    }
    // Every Observation that names an encounter lands in exactly that encounter's record.
    let obs_with_encounter = imp
        .bundle
        .entries
        .iter()
        .filter(|e| e.resource_type == "Observation" && e.resource.get("encounter").is_some())
        .count();
    let obs_in_records: usize = imp
        .encounters
        .iter()
        .map(|r| {
            r.resources
                .iter()
                .filter(|i| imp.bundle.entries[**i].resource_type == "Observation")
                .count()
        })
        .sum();
    assert_eq!(obs_in_records, obs_with_encounter);
}

#[test]
fn the_shared_directory_bundles_are_recognised_not_imported() {
    let dir = data_dir();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("data dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with("0-") {
            continue;
        }
        let raw = std::fs::read(&path).expect("read");
        let e = import_bytes(name, &raw).expect_err("a directory is not a patient bundle");
        assert!(matches!(e, FhirError::DirectoryBundle { .. }), "{e}");
        seen += 1;
    }
    assert_eq!(seen, 2);
}

#[test]
fn a_patients_records_merge_into_one_bundle_with_each_resource_once() {
    let imp = import_bytes(FILE, &bytes(&good())).expect("valid");
    let merged =
        merge_emrs(imp.encounters.iter().map(|r| ("emr", r.emr.as_slice()))).expect("merges");
    let all = emr_resources("merged", &merged).expect("a FHIR Bundle");
    let mut want = std::collections::BTreeMap::new();
    for r in &imp.encounters {
        want.extend(record_resources(&imp.bundle, r));
    }
    assert_eq!(all, want);
    // The Patient is in both records but once in the merge.
    let v: Value = serde_json::from_slice(&merged).expect("json");
    let patients = v["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .count();
    assert_eq!(patients, 1);
    let e = merge_emrs([("record-7", b"not json".as_slice())]).expect_err("bad");
    assert_eq!(e.file(), "record-7");
}

#[test]
fn the_registry_id_is_the_patients_mr_identifier_else_its_resource_id() {
    let mut v = good();
    v["entry"][0]["resource"]["identifier"] = json!([
        {"system": "https://github.com/synthetichealth/synthea", "value": "not-the-mrn"},
        {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "SS"}]}, "value": "999-82-5655"},
        {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "MR"}]}, "system": "http://hospital.example", "value": "MRN-0042"}
    ]);
    let imp = import_bytes(FILE, &bytes(&v)).expect("valid");
    assert_eq!(imp.patient_id, "MRN-0042");
    assert_eq!(imp.bundle.patient_id(), "p1");
    // No MR identifier: the resource id.
    v["entry"][0]["resource"]["identifier"] = json!([{"value": "x"}]);
    let imp = import_bytes(FILE, &bytes(&v)).expect("valid");
    assert_eq!(imp.patient_id, "p1");
}
