//! Enrolment at a hospital, on the patient's side: his recording authorization (which
//! departments of which hospital may record his visits while he is away, for how long, under
//! which serial) signed with his key, and his enrolment statement signed over the hospital's
//! fresh challenge (`POST /patients/challenge`, then `POST /patients/enrol`), or with no
//! challenge as one line of a hospital's bulk onboarding file. Only public keys and signatures
//! leave his side.

use super::error::PatientError;
use super::time::{local_date, local_datetime};
use medblock_core::authorization::{
    AuthorizationTerms, MAX_AUTHORIZED_DEPARTMENTS, sign_authorization, sign_enrolment,
    validate_patient_id,
};
use medblock_core::keys::Identity;
use medblock_core::wire;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long an authorization lasts when `--valid-days` is not given.
pub const DEFAULT_VALID_DAYS: u64 = 365;

/// How far before "now" an authorization's window opens: a hospital whose clock is a little
/// behind the patient's still records the visit he enrols at.
pub const CLOCK_LEEWAY_MS: u64 = 10 * 60 * 1000;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// What the patient consents to, before the hospital is known (the challenge names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Departments covered; empty for all.
    pub departments: Vec<String>,
    /// Days the window lasts.
    pub valid_days: u64,
}

impl Consent {
    /// Checks the departments and the window's length.
    pub fn new(departments: Vec<String>, valid_days: u64) -> Result<Self, PatientError> {
        let departments: Vec<String> = departments
            .into_iter()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .collect();
        if departments.len() > MAX_AUTHORIZED_DEPARTMENTS {
            return Err(PatientError::Usage(format!(
                "at most {MAX_AUTHORIZED_DEPARTMENTS} departments"
            )));
        }
        if valid_days == 0 || valid_days > 100 * 365 {
            return Err(PatientError::Usage(
                "--valid-days must be between 1 and 36500".into(),
            ));
        }
        Ok(Self {
            departments,
            valid_days,
        })
    }

    /// The terms for `hospital` signed at `now_ms`: serial `now_ms` (his serials at one
    /// hospital then grow with time and never repeat), window from a little before now to
    /// `valid_days` later.
    pub fn terms(&self, hospital: &str, now_ms: u64) -> AuthorizationTerms {
        AuthorizationTerms {
            hospital: hospital.to_owned(),
            departments: self.departments.clone(),
            serial: now_ms,
            not_before_ms: now_ms.saturating_sub(CLOCK_LEEWAY_MS),
            not_after_ms: now_ms.saturating_add(self.valid_days.saturating_mul(DAY_MS)),
        }
    }
}

/// What the patient consented to and the hospital's answer, as `enroll` prints it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrolView {
    /// The hospital.
    pub hospital: String,
    /// His local id there.
    pub patient_id: String,
    /// His signing key (hex).
    pub patient_key: String,
    /// His sealing key (hex).
    pub sealing_key: String,
    /// The authorization's serial (how he names it to revoke it).
    pub serial: u64,
    /// Departments covered; empty for all.
    pub departments: Vec<String>,
    /// Start of the window (ms since the epoch).
    pub not_before_ms: u64,
    /// End of the window (ms since the epoch).
    pub not_after_ms: u64,
    /// Start of the window, local ISO date-time.
    #[serde(default)]
    pub not_before: String,
    /// End of the window, local ISO date-time.
    #[serde(default)]
    pub not_after: String,
    /// `enrolled`, `unchanged` or `renewed`.
    pub status: String,
}

impl EnrolView {
    /// Fills the ISO dates from the ms fields.
    fn dated(mut self) -> Self {
        self.not_before = local_datetime(self.not_before_ms);
        self.not_after = local_datetime(self.not_after_ms);
        self
    }

    /// The text `enroll` prints.
    pub fn human(&self) -> String {
        let departments = if self.departments.is_empty() {
            "every department".to_owned()
        } else {
            format!("departments {}", self.departments.join(", "))
        };
        format!(
            "{} at {} as patient {}.\nYou authorized {} of {} to record your visits from {} to {} (authorization serial {}).\nRevoke it any time with `medblock patient authorization revoke --hospital {} --serial {}`.",
            match self.status.as_str() {
                "unchanged" => "Already enrolled",
                "renewed" => "Enrolment renewed",
                _ => "Enrolled",
            },
            self.hospital,
            self.patient_id,
            departments,
            self.hospital,
            local_date(self.not_before_ms),
            local_date(self.not_after_ms),
            self.serial,
            self.hospital,
            self.serial
        )
    }
}

#[derive(Debug, Deserialize)]
struct ChallengeAnswer {
    hospital: String,
    patient_id: String,
    nonce: String,
    #[serde(default)]
    expires_at_ms: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    code: String,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs, with the patient's key, the recording authorization `consent` gives `hospital` and
/// the enrolment as `patient_id` over `nonce` (empty for a bulk file), at `now_ms`.
pub fn sign(
    identity: &Identity,
    hospital: &str,
    patient_id: &str,
    nonce: &[u8],
    consent: &Consent,
    now_ms: u64,
) -> (wire::Enrolment, AuthorizationTerms) {
    let terms = consent.terms(hospital, now_ms);
    let authorization = sign_authorization(&identity.signing, &identity.sealing.public(), &terms);
    let enrolment = sign_enrolment(
        &identity.signing,
        hospital,
        patient_id,
        nonce,
        &authorization,
        now_ms,
    );
    (enrolment, terms)
}

/// POSTs `body` to `node``path` and decodes the answer; a refusal becomes
/// [`PatientError::Hospital`] with the node's code and message.
async fn post<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    node: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<T, PatientError> {
    let url = format!("{}{path}", node.trim_end_matches('/'));
    let err = |reason: String| PatientError::Http {
        node: node.to_owned(),
        reason,
    };
    let r = http
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| err(format!("no answer from {url}: {e}")))?;
    let status = r.status();
    let text = r
        .text()
        .await
        .map_err(|e| err(format!("reading the answer of {url}: {e}")))?;
    if !status.is_success() {
        let (code, message) = match serde_json::from_str::<ErrorAnswer>(&text) {
            Ok(e) => (e.code, e.error),
            Err(_) => (String::new(), text.trim().to_owned()),
        };
        return Err(PatientError::Hospital {
            status: status.as_u16(),
            code,
            message,
        });
    }
    serde_json::from_str(&text).map_err(|e| err(format!("unreadable answer from {url}: {e}")))
}

/// Enrols `identity` as `patient_id` at the hospital whose department node answers HTTP at
/// `node`: asks for a challenge, signs the authorization and the enrolment over it, and posts
/// it, with the desk's API token `token`. Checks that the hospital registered exactly his keys
/// and his authorization.
pub async fn enroll(
    identity: &Identity,
    node: &str,
    token: Option<&str>,
    patient_id: &str,
    consent: &Consent,
    timeout: Duration,
) -> Result<EnrolView, PatientError> {
    validate_patient_id(patient_id).map_err(|e| PatientError::Usage(e.to_string()))?;
    let http = crate::api_token::client_builder(token)
        .map_err(|e| PatientError::Usage(e.to_string()))?
        .timeout(timeout)
        .build()
        .map_err(|e| PatientError::Http {
            node: node.to_owned(),
            reason: e.to_string(),
        })?;
    let challenge: ChallengeAnswer = post(
        &http,
        node,
        "/patients/challenge",
        &serde_json::json!({ "patient_id": patient_id }),
    )
    .await?;
    let bad = |reason: String| PatientError::Http {
        node: node.to_owned(),
        reason,
    };
    if challenge.patient_id != patient_id {
        return Err(bad(format!(
            "the challenge is for patient {:?}, not {patient_id:?}",
            challenge.patient_id
        )));
    }
    let nonce = hex::decode(&challenge.nonce)
        .map_err(|e| bad(format!("the challenge's nonce is not hex: {e}")))?;
    let now = now_ms();
    if challenge.expires_at_ms != 0 && challenge.expires_at_ms < now {
        tracing::warn!(
            expires_at_ms = challenge.expires_at_ms,
            "the challenge looks expired (clocks apart?); trying anyway"
        );
    }
    let (enrolment, terms) = sign(
        identity,
        &challenge.hospital,
        patient_id,
        &nonce,
        consent,
        now,
    );
    let answer: EnrolView = post(
        &http,
        node,
        "/patients/enrol",
        &serde_json::json!({ "enrolment": hex::encode(enrolment.encode_to_vec()) }),
    )
    .await?;
    let mine = identity.signing.public().to_hex();
    if !answer.patient_key.eq_ignore_ascii_case(&mine) || answer.serial != terms.serial {
        return Err(bad(format!(
            "the hospital registered key {} serial {}, not this key {mine} serial {}",
            answer.patient_key, answer.serial, terms.serial
        )));
    }
    Ok(answer.dated())
}

/// One line of a hospital's bulk onboarding file (JSON Lines): `{"patient_id": "...",
/// "enrolment": "<hex of the encoded wire::Enrolment>"}`, signed offline with an empty nonce.
/// Returns the line and what it consents to.
pub fn bulk_line(
    identity: &Identity,
    hospital: &str,
    patient_id: &str,
    consent: &Consent,
) -> Result<(String, EnrolView), PatientError> {
    validate_patient_id(patient_id).map_err(|e| PatientError::Usage(e.to_string()))?;
    if hospital.is_empty() {
        return Err(PatientError::Usage("--hospital is empty".into()));
    }
    let now = now_ms();
    let (enrolment, terms) = sign(identity, hospital, patient_id, &[], consent, now);
    let line = serde_json::json!({
        "patient_id": patient_id,
        "enrolment": hex::encode(enrolment.encode_to_vec()),
    })
    .to_string();
    let view = EnrolView {
        hospital: hospital.to_owned(),
        patient_id: patient_id.to_owned(),
        patient_key: identity.signing.public().to_hex(),
        sealing_key: hex::encode(identity.sealing.public().0),
        serial: terms.serial,
        departments: terms.departments,
        not_before_ms: terms.not_before_ms,
        not_after_ms: terms.not_after_ms,
        not_before: String::new(),
        not_after: String::new(),
        status: "signed".into(),
    }
    .dated();
    Ok((line, view))
}
