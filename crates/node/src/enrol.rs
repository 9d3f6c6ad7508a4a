//! The enrolment API of a department node (see README, "Enrolment"):
//! `POST /patients/challenge`, `POST /patients/enrol`, `POST /patients/bulk` and
//! `GET /patients/{patient_id}`, over the node's [`PatientDesk`]. Signature checks and the
//! registry's synced writes run on actix's blocking pool, not on the HTTP worker.
//!
//! Errors are `{"error": "...", "code": "..."}`: 400 malformed, bad id, bad signature or an
//! authorization that cannot be used; 404 not enrolled; 409 id (or key) already enrolled with
//! another key (id), or an older serial than the one held; 410 challenge expired, replayed or
//! unknown; 429 too many open challenges.

use actix_web::{HttpResponse, web};
use medblock_actors::RunningNode;
use medblock_actors::registry::{EnrolError, PatientDesk, PatientView};
use medblock_core::authorization::MAX_ENROLMENT_BYTES;
use medblock_core::wire;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest bulk file `POST /patients/bulk` takes.
pub const MAX_BULK_BYTES: usize = 64 << 20;

/// Body of `POST /patients/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// The patient's local id (MRN).
    pub patient_id: String,
}

/// Body of `POST /patients/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// Hex of the prost-encoded `wire::Enrolment`.
    pub enrolment: String,
}

/// One line of a bulk enrolment file (JSON Lines).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkLine {
    /// The patient's local id; must be the one the enrolment signs.
    pub patient_id: String,
    /// Hex of the prost-encoded `wire::Enrolment`, signed offline with an empty nonce.
    pub enrolment: String,
}

/// A refused line of a bulk file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BulkRefusal {
    /// Line number (from 1).
    pub line: usize,
    /// The id the line names (empty when the line does not parse).
    pub patient_id: String,
    /// Why.
    pub error: String,
    /// The error's kind.
    pub code: String,
}

/// Answer of `POST /patients/bulk`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BulkSummary {
    /// New patients.
    pub enrolled: usize,
    /// Lines that changed nothing.
    pub unchanged: usize,
    /// New authorizations of enrolled patients.
    pub renewed: usize,
    /// Lines refused.
    pub refused: Vec<BulkRefusal>,
}

/// The HTTP status of an enrolment error.
pub fn status_of(e: &EnrolError) -> actix_web::http::StatusCode {
    use actix_web::http::StatusCode as S;
    use medblock_storage::RegistryError as R;
    match e {
        EnrolError::Registry(R::IdTaken { .. } | R::KeyTaken { .. } | R::StaleSerial { .. }) => {
            S::CONFLICT
        }
        EnrolError::Registry(R::Storage(_) | R::Corrupt { .. }) | EnrolError::Closed => {
            S::SERVICE_UNAVAILABLE
        }
        EnrolError::UnknownChallenge
        | EnrolError::ReplayedChallenge
        | EnrolError::ExpiredChallenge { .. } => S::GONE,
        EnrolError::TooManyChallenges(_) => S::TOO_MANY_REQUESTS,
        EnrolError::NotEnrolled { .. } => S::NOT_FOUND,
        EnrolError::NotAuthorized { .. } => S::FORBIDDEN,
        _ => S::BAD_REQUEST,
    }
}

/// The response of an enrolment error.
pub fn error_response(e: &EnrolError) -> HttpResponse {
    HttpResponse::build(status_of(e))
        .json(serde_json::json!({ "error": e.to_string(), "code": e.code() }))
}

fn bad(message: String) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "error": message, "code": "malformed" }))
}

/// The node's desk, or the answer of a node that is not a department.
fn desk(node: &RunningNode) -> Result<Arc<PatientDesk>, Box<HttpResponse>> {
    node.patients().cloned().map_err(|e| {
        Box::new(
            HttpResponse::NotFound()
                .json(serde_json::json!({ "error": e.to_string(), "code": "not_a_department" })),
        )
    })
}

/// Decodes a hex-encoded `wire::Enrolment`.
pub fn decode_enrolment(hex_text: &str) -> Result<wire::Enrolment, String> {
    if hex_text.len() > 2 * MAX_ENROLMENT_BYTES + 256 {
        return Err("the enrolment is too long".into());
    }
    let bytes = hex::decode(hex_text.trim()).map_err(|e| format!("enrolment is not hex: {e}"))?;
    wire::Enrolment::decode(bytes.as_slice()).map_err(|e| format!("enrolment does not decode: {e}"))
}

async fn on_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Box<HttpResponse>> {
    web::block(f).await.map_err(|e| {
        Box::new(
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "error": e.to_string(), "code": "unavailable" })),
        )
    })
}

/// `POST /patients/challenge`.
pub async fn challenge(
    node: web::Data<RunningNode>,
    body: web::Json<ChallengeRequest>,
) -> HttpResponse {
    let desk = match desk(&node) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    match desk.challenge(&body.patient_id) {
        Ok(c) => HttpResponse::Ok().json(c),
        Err(e) => error_response(&e),
    }
}

/// `POST /patients/enrol`.
pub async fn enrol(node: web::Data<RunningNode>, body: web::Json<EnrolRequest>) -> HttpResponse {
    let desk = match desk(&node) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let enrolment = match decode_enrolment(&body.enrolment) {
        Ok(e) => e,
        Err(m) => return bad(m),
    };
    match on_blocking(move || desk.enrol(&enrolment)).await {
        Ok(Ok(view)) => HttpResponse::Ok().json(view),
        Ok(Err(e)) => error_response(&e),
        Err(r) => *r,
    }
}

/// Enrols every line of a bulk file; a bad line is reported by number, the others enrolled.
/// Blank lines and lines starting with `#` are skipped.
pub fn enrol_bulk(desk: &PatientDesk, text: &str) -> BulkSummary {
    let mut summary = BulkSummary::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let refuse = |patient_id: &str, error: String, code: &str| BulkRefusal {
            line: i + 1,
            patient_id: patient_id.to_owned(),
            error,
            code: code.to_owned(),
        };
        let parsed: BulkLine = match serde_json::from_str(line) {
            Ok(p) => p,
            Err(e) => {
                let id = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v["patient_id"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                summary.refused.push(refuse(
                    &id,
                    format!("not a bulk line ({{\"patient_id\", \"enrolment\"}}): {e}"),
                    "malformed",
                ));
                continue;
            }
        };
        let enrolment = match decode_enrolment(&parsed.enrolment) {
            Ok(e) => e,
            Err(m) => {
                summary
                    .refused
                    .push(refuse(&parsed.patient_id, m, "malformed"));
                continue;
            }
        };
        match desk.enrol_offline(&parsed.patient_id, &enrolment) {
            Ok(PatientView { status, .. }) => match status.as_deref() {
                Some("enrolled") => summary.enrolled += 1,
                Some("renewed") => summary.renewed += 1,
                _ => summary.unchanged += 1,
            },
            Err(e) => summary
                .refused
                .push(refuse(&parsed.patient_id, e.to_string(), e.code())),
        }
    }
    summary
}

/// `POST /patients/bulk`: the body is the bulk file (JSON Lines).
pub async fn bulk(node: web::Data<RunningNode>, body: web::Bytes) -> HttpResponse {
    let desk = match desk(&node) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return bad("the bulk file is not UTF-8 text".into());
    };
    match on_blocking(move || enrol_bulk(&desk, &text)).await {
        Ok(summary) => HttpResponse::Ok().json(summary),
        Err(r) => *r,
    }
}

/// `GET /patients/{patient_id}`.
pub async fn get(node: web::Data<RunningNode>, path: web::Path<String>) -> HttpResponse {
    let desk = match desk(&node) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let id = path.into_inner();
    match desk.get(&id) {
        Ok(Some(entry)) => HttpResponse::Ok().json(PatientView::of(&entry, None)),
        Ok(None) => error_response(&EnrolError::NotEnrolled {
            patient_id: id,
            hospital: desk.hospital().to_owned(),
        }),
        Err(e) => error_response(&e),
    }
}

/// The enrolment routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/challenge", web::post().to(challenge))
        .route("/patients/enrol", web::post().to(enrol))
        .service(
            web::resource("/patients/bulk")
                .app_data(web::PayloadConfig::new(MAX_BULK_BYTES))
                .route(web::post().to(bulk)),
        )
        .route("/patients/{patient_id}", web::get().to(get));
}
