//! Patients enrol the way the patient does: his keys are made here, on the test's (the
//! patient's) side; he asks the hospital's node for a challenge, signs the enrolment with his
//! recording authorization and sends it. Over HTTP ([`enrol`]) for networks of processes, and
//! through the node's front desk ([`enrol_in_process`]) for the in-process cluster, which serves
//! no HTTP.

#![allow(dead_code)]

use medblock_actors::RunningNode;
use medblock_actors::client::Visit;
use medblock_core::authorization::{
    AuthorizationTerms, SignedAuthorization, sign_authorization, sign_enrolment,
};
use medblock_core::keys::Identity;
use medblock_core::wire;
use prost::Message;
use std::collections::BTreeSet;

const DAY_MS: u64 = 24 * 3600 * 1000;

fn now_ms() -> u64 {
    medblock_actors::clock::now_ms()
}

/// Terms for every department of `hospital`, from a day ago for a year.
pub fn terms(hospital: &str, serial: u64) -> AuthorizationTerms {
    AuthorizationTerms {
        hospital: hospital.to_owned(),
        departments: Vec::new(),
        serial,
        not_before_ms: now_ms().saturating_sub(DAY_MS),
        not_after_ms: now_ms() + 365 * DAY_MS,
    }
}

/// `patient`'s authorization for `terms`.
pub fn authorize(patient: &Identity, terms: &AuthorizationTerms) -> SignedAuthorization {
    sign_authorization(&patient.signing, &patient.sealing.public(), terms)
}

/// The hex of `patient`'s enrolment at `hospital` as `patient_id` over `nonce` (empty for a
/// bulk file), with an authorization for every department.
pub fn enrolment_hex(patient: &Identity, hospital: &str, patient_id: &str, nonce: &[u8]) -> String {
    let auth = authorize(patient, &terms(hospital, 1));
    hex::encode(
        sign_enrolment(
            &patient.signing,
            hospital,
            patient_id,
            nonce,
            &auth,
            now_ms(),
        )
        .encode_to_vec(),
    )
}

/// One line of a bulk enrolment file for `patient`.
pub fn bulk_line(patient: &Identity, hospital: &str, patient_id: &str) -> String {
    serde_json::json!({
        "patient_id": patient_id,
        "enrolment": enrolment_hex(patient, hospital, patient_id, &[]),
    })
    .to_string()
}

/// POSTs JSON to `url` with the node's test token ([`super::api::token_for`]); the status and
/// the JSON answer.
pub fn post_json(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    post_json_with(url, body, super::api::token_for(url).as_deref())
}

/// POSTs JSON to `url` with `token` (none: no `Authorization` header); the status and the JSON
/// answer.
pub fn post_json_with(
    url: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    super::cluster::block_on(async {
        let mut r = reqwest::Client::new().post(url).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.expect("the node answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    })
}

/// GETs `url` with the node's test token; the status and the JSON answer.
pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    get_json_with(url, super::api::token_for(url).as_deref())
}

/// GETs `url` with `token` (none: no `Authorization` header); the status and the JSON answer.
pub fn get_json_with(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    super::cluster::block_on(async {
        let mut r = reqwest::Client::new().get(url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.expect("the node answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    })
}

/// A fresh challenge from the node at `http_base` for `patient_id`: (hospital, nonce).
pub fn challenge(http_base: &str, patient_id: &str) -> (String, Vec<u8>) {
    let base = http_base.trim_end_matches('/');
    let (status, c) = post_json(
        &format!("{base}/patients/challenge"),
        &serde_json::json!({ "patient_id": patient_id }),
    );
    assert_eq!(status, 200, "challenge for {patient_id}: {c}");
    let hospital = c["hospital"].as_str().expect("hospital").to_owned();
    let nonce = hex::decode(c["nonce"].as_str().expect("nonce")).expect("hex nonce");
    (hospital, nonce)
}

/// Enrols `patient` as `patient_id` at the node at `http_base`; the node's answer.
pub fn enrol_as(http_base: &str, patient: &Identity, patient_id: &str) -> serde_json::Value {
    let base = http_base.trim_end_matches('/');
    let (hospital, nonce) = challenge(base, patient_id);
    let (status, v) = post_json(
        &format!("{base}/patients/enrol"),
        &serde_json::json!({ "enrolment": enrolment_hex(patient, &hospital, patient_id, &nonce) }),
    );
    assert_eq!(status, 200, "enrolment of {patient_id}: {v}");
    v
}

/// A new patient (keys made here) enrolled as `patient_id` at the node at `http_base`.
pub fn enrol(http_base: &str, patient_id: &str) -> Identity {
    let patient = Identity::generate(&mut rand::rng());
    enrol_as(http_base, &patient, patient_id);
    patient
}

/// Enrols `patient` as `patient_id` through an in-process node's front desk.
pub fn enrol_as_in_process(node: &RunningNode, patient: &Identity, patient_id: &str) {
    let desk = node.patients().expect("a department node");
    let c = desk.challenge(patient_id).expect("challenge");
    let nonce = hex::decode(&c.nonce).expect("hex nonce");
    let auth = authorize(patient, &terms(&c.hospital, 1));
    let e: wire::Enrolment = sign_enrolment(
        &patient.signing,
        &c.hospital,
        patient_id,
        &nonce,
        &auth,
        now_ms(),
    );
    desk.enrol(&e).expect("enrolled");
}

/// Enrols `patient` as `mrn` at `department`'s hospital the way `medblock patient enroll` does
/// (the CLI's own consent and signing code: every department, 30 days), through the node's
/// front desk.
pub fn enrol_like_cli(
    c: &super::cluster::Cluster,
    department: &str,
    patient: &Identity,
    mrn: &str,
) {
    use medblock_node::patient::enrol::{Consent, sign};
    let node = c.node(c.index(department)).node.clone();
    let desk = node.patients().expect("a department node");
    let ch = desk.challenge(mrn).expect("challenge");
    let nonce = hex::decode(&ch.nonce).expect("nonce");
    let consent = Consent::new(Vec::new(), 30).expect("consent");
    let (enrolment, _) = sign(patient, &ch.hospital, mrn, &nonce, &consent, now_ms());
    desk.enrol(&enrolment).expect("enrolled");
}

/// A new patient enrolled as `patient_id` at an in-process department node.
pub fn enrol_in_process(node: &RunningNode, patient_id: &str) -> Identity {
    let patient = Identity::generate(&mut rand::rng());
    enrol_as_in_process(node, &patient, patient_id);
    patient
}

/// Enrols, at an in-process department node, every patient of `visits` not enrolled there yet.
pub fn enrol_visits_in_process(node: &RunningNode, visits: &[Visit]) {
    let desk = node.patients().expect("a department node");
    let ids: BTreeSet<&str> = visits.iter().map(|v| v.patient.as_str()).collect();
    for id in ids {
        if desk.get(id).expect("registry readable").is_none() {
            enrol_in_process(node, id);
        }
    }
}

/// Enrols, at the node at `http_base`, each id of `ids` not enrolled there yet.
pub fn enrol_ids(http_base: &str, ids: impl IntoIterator<Item = String>) {
    let base = http_base.trim_end_matches('/');
    let ids: BTreeSet<String> = ids.into_iter().collect();
    for id in ids {
        let (status, _) = get_json(&format!("{base}/patients/{id}"));
        if status == 404 {
            enrol(base, &id);
        }
    }
}
