//! Enrolment from the patient's side, over a hospital department node's HTTP API: the patient
//! signs a recording authorization and an enrolment statement with his own key, and the
//! hospital receives his public keys and those signatures only. Two ways, as the contract has
//! them: interactively (`POST /patients/challenge`, then `POST /patients/enrol` with the
//! challenge's nonce signed), or offline in bulk (one JSON line per patient, signed with an
//! empty nonce, `POST /patients/bulk`). The demo patients of `testnet up` and the benchmark's
//! patients are enrolled here; the patient command line (`medblock patient enroll`, `patient
//! keys authorize`) does the same for a person.

use crate::error::{Result, TestnetError};
use crate::http::Api;
use medblock_core::authorization::{
    AuthorizationTerms, SignedAuthorization, sign_authorization, sign_enrolment,
};
use medblock_core::keys::Identity;
use prost::Message;
use std::time::Duration;

/// How long a demo authorization is valid.
pub const VALID_DAYS: u64 = 365;

/// The serial of the demo's and the bench's authorizations (one per patient and hospital).
pub const SERIAL: u64 = 1;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The patient's recording authorization for every department of `hospital`, valid from a
/// minute ago (clocks differ a little) for [`VALID_DAYS`].
pub fn authorization(patient: &Identity, hospital: &str) -> SignedAuthorization {
    let now = now_ms();
    sign_authorization(
        &patient.signing,
        &patient.sealing.public(),
        &AuthorizationTerms {
            hospital: hospital.to_owned(),
            departments: Vec::new(),
            serial: SERIAL,
            not_before_ms: now.saturating_sub(60_000),
            not_after_ms: now + VALID_DAYS * 24 * 3600 * 1000,
        },
    )
}

/// One line of a bulk enrolment file: `{"patient_id": ..., "enrolment": "<hex>"}`, signed
/// offline (empty nonce) for `hospital`.
pub fn bulk_line(patient: &Identity, hospital: &str, patient_id: &str) -> String {
    let enrolment = sign_enrolment(
        &patient.signing,
        hospital,
        patient_id,
        &[],
        &authorization(patient, hospital),
        now_ms(),
    );
    serde_json::json!({
        "patient_id": patient_id,
        "enrolment": hex::encode(enrolment.encode_to_vec()),
    })
    .to_string()
}

fn client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| TestnetError::Invalid(format!("HTTP client: {e}")))
}

fn http_err(url: &str, e: impl std::fmt::Display) -> TestnetError {
    TestnetError::Http {
        node: url.to_owned(),
        reason: e.to_string(),
    }
}

/// Posts `body` (JSON value or raw text) to `url`; the JSON answer, or the node's error.
async fn post(
    http: &reqwest::Client,
    api: &Api,
    url: &str,
    body: reqwest::Body,
    content_type: &str,
) -> Result<serde_json::Value> {
    let r = api
        .authorize(http.post(url))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    let code = r.status();
    let text = r.text().await.map_err(|e| http_err(url, e))?;
    if !code.is_success() {
        return Err(http_err(url, format!("answered {code}: {}", text.trim())));
    }
    serde_json::from_str(&text).map_err(|e| http_err(url, format!("{e}: {text}")))
}

/// Enrols `patient` as `patient_id` at the department node `node` (its HTTP API): asks
/// for a challenge, signs it with the authorization, presents both. Returns the node's answer
/// (`status` is `enrolled`, `unchanged` or `renewed`).
pub async fn enrol(node: &Api, patient: &Identity, patient_id: &str) -> Result<serde_json::Value> {
    let http = client(Duration::from_secs(15))?;
    let api = node;
    let node = api.url.as_str();
    let url = format!("{node}/patients/challenge");
    let challenge = post(
        &http,
        api,
        &url,
        serde_json::json!({ "patient_id": patient_id })
            .to_string()
            .into(),
        "application/json",
    )
    .await?;
    let hospital = challenge["hospital"]
        .as_str()
        .ok_or_else(|| http_err(&url, format!("no hospital in the challenge {challenge}")))?;
    let nonce = challenge["nonce"]
        .as_str()
        .and_then(|n| hex::decode(n).ok())
        .ok_or_else(|| http_err(&url, format!("no hex nonce in the challenge {challenge}")))?;
    let enrolment = sign_enrolment(
        &patient.signing,
        hospital,
        patient_id,
        &nonce,
        &authorization(patient, hospital),
        now_ms(),
    );
    post(
        &http,
        api,
        &format!("{node}/patients/enrol"),
        serde_json::json!({ "enrolment": hex::encode(enrolment.encode_to_vec()) })
            .to_string()
            .into(),
        "application/json",
    )
    .await
}

/// Posts a bulk enrolment file (JSON Lines) to the department node `node`; its answer
/// (`{enrolled, unchanged, renewed, refused: [...]}`). Fails when any line was refused.
pub async fn enrol_bulk(node: &Api, lines: &[String]) -> Result<serde_json::Value> {
    let http = client(Duration::from_secs(120))?;
    let url = format!("{}/patients/bulk", node.url);
    let mut file = lines.join("\n");
    file.push('\n');
    let answer = post(&http, node, &url, file.into(), "application/x-ndjson").await?;
    match answer["refused"].as_array() {
        Some(refused) if !refused.is_empty() => Err(http_err(
            &url,
            format!(
                "{} of {} lines refused: {answer}",
                refused.len(),
                lines.len()
            ),
        )),
        _ => Ok(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::authorization::verify_enrolment;
    use medblock_core::wire;

    #[test]
    fn a_bulk_line_is_an_offline_enrolment_the_hospital_verifies() {
        let patient = Identity::generate(&mut rand::rng());
        let line: serde_json::Value =
            serde_json::from_str(&bulk_line(&patient, "st-mary", "MRN-7")).expect("json");
        assert_eq!(line["patient_id"], "MRN-7");
        let bytes = hex::decode(line["enrolment"].as_str().expect("hex")).expect("hex");
        let enrolment = wire::Enrolment::decode(bytes.as_slice()).expect("an enrolment");
        let verified = verify_enrolment(&enrolment, "st-mary").expect("verifies");
        assert_eq!(verified.patient_id, "MRN-7");
        assert!(verified.nonce.is_empty());
        assert_eq!(
            verified.authorization.parsed.patient,
            patient.signing.public()
        );
        assert!(verified.authorization.parsed.body.departments.is_empty());
        assert!(verify_enrolment(&enrolment, "riverside").is_err());
    }
}
