//! What a patient writes to the ledger: consent grants and revocations to a grantee, and the
//! revocation of a recording authorization, each checked against the endorser's receipt.

use super::error::PatientError;
use super::session::LightNode;
use super::{authz, view};
use anyhow::Result;
use medblock_core::keys::{PublicKey, SealingPublic};
use serde::Serialize;
use std::time::Duration;

/// An endorser's receipt, for people.
#[derive(Debug, Clone, Serialize)]
pub struct UploadView {
    /// "accepted" or "committed".
    pub status: String,
    /// Sequence of the access record.
    pub sequence: u64,
}

impl UploadView {
    /// The view of a receipt body whose signature checked.
    pub(super) fn of_body(body: &medblock_core::wire::ReceiptBody) -> Self {
        Self {
            status: if body.status == medblock_core::wire::ReceiptStatus::Committed as i32 {
                "committed".into()
            } else {
                "accepted".into()
            },
            sequence: body.sequence,
        }
    }
}

/// Grants `grantee` the chosen records (`hospital/department/sequence`; every visit when none).
pub async fn grant(
    node: &LightNode,
    patient: &PublicKey,
    grantee: &PublicKey,
    sealing: &SealingPublic,
    name: &str,
    chosen: &[String],
) -> Result<UploadView, PatientError> {
    let answer = node.records(patient).await?;
    let mut picked = Vec::new();
    if chosen.is_empty() {
        picked.extend(
            answer
                .records
                .iter()
                .filter(|r| !medblock_core::access::record::is_access(&r.event.body)),
        );
    }
    for c in chosen {
        let parts: Vec<&str> = c.split('/').collect();
        let [h, d, s] = parts.as_slice() else {
            return Err(PatientError::Usage(format!(
                "--record {c:?}: use hospital/department/sequence"
            )));
        };
        let seq = s
            .parse()
            .map_err(|_| PatientError::Usage(format!("--record {c:?}: bad sequence")))?;
        picked.push(view::find(&answer.records, h, d, seq)?);
    }
    let record = view::grant(&node.identity, grantee, sealing, name, &picked)?;
    let (body, _) = node.upload_access_checked(answer.peer, &record).await?;
    Ok(UploadView::of_body(&body))
}

/// What `authorization revoke` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedView {
    /// The hospital.
    pub hospital: String,
    /// The serial revoked.
    pub serial: u64,
    /// Height of the block that holds the revocation.
    pub height: u64,
    /// That block's id (hex).
    pub block_hash: String,
    /// The endorser that accepted it (hex key).
    pub endorser: String,
}

/// Revokes his authorization `serial` at `hospital`: uploads the revocation (an access record
/// signed by him) through a peer, checks the endorser's receipt, and waits until his own
/// verified records show it on the ledger.
pub async fn revoke_authorization(
    node: &LightNode,
    hospital: &str,
    serial: u64,
    wait: Duration,
) -> Result<RevokedView, PatientError> {
    if hospital.is_empty() || hospital == medblock_core::access::record::ACCESS_HOSPITAL {
        return Err(PatientError::Usage(format!(
            "--hospital {hospital:?} is not a hospital"
        )));
    }
    let me = node.key();
    let record = authz::revoke_record(hospital, serial);
    let event = medblock_core::access::record::build_access_event(
        &node.identity.signing,
        rand::random(),
        &record,
        now_ms(),
    );
    let parsed = medblock_core::event::ParsedEvent::from_wire(event.clone())?;
    let mut last = None;
    let mut receipt = None;
    for peer in node.known_peers().await {
        match node.upload_access_event(peer, event.clone()).await {
            Ok(r) => {
                receipt = Some(node.check_receipt(&r, &parsed)?);
                break;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "upload refused; trying another peer");
                last = Some(e);
            }
        }
    }
    let receipt = match (receipt, last) {
        (Some(r), _) => r,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(PatientError::NoPeer("no peer given".into())),
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match node.records(&me).await {
            Ok(answer) => {
                if let Some(r) = answer
                    .records
                    .iter()
                    .find(|r| r.event.event_hash == parsed.event_hash)
                {
                    return Ok(RevokedView {
                        hospital: hospital.to_owned(),
                        serial,
                        height: r.height,
                        block_hash: r.block_id.to_hex(),
                        endorser: hex::encode(&receipt.endorser_key),
                    });
                }
            }
            Err(e) => tracing::debug!(error = %e, "records not read yet"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PatientError::NotCommitted(format!(
                "the revocation of authorization {serial} at {hospital}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
