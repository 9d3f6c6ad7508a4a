//! What a patient (or a grantee, or the regulator) reads: one record's summary, an EMR fetched
//! from the hospital that keeps it, and the check of every record against two peers.

use super::commands::{Conn, RecordRef};
use super::error::PatientError;
use super::session::{CATCH_UP_RETRIES, LightNode};
use super::{authz, view};
use anyhow::{Context, Result};
use medblock_core::access::ProofError;
use medblock_core::keys::PublicKey;
use medblock_core::sha256;
use serde::Serialize;
use std::time::Duration;

pub(super) async fn first_peer(node: &LightNode) -> Result<PublicKey, PatientError> {
    node.known_peers()
        .await
        .first()
        .copied()
        .ok_or_else(|| PatientError::NoPeer("no peer given".into()))
}

/// Opens one record's summary (the visitor's own, granted, or as the regulator).
pub async fn show(
    node: &LightNode,
    patient: &PublicKey,
    record: &RecordRef,
) -> Result<
    (
        medblock_core::access::proof::CheckedRecord,
        view::SummaryView,
    ),
    PatientError,
> {
    let answer = node.records(patient).await?;
    let r = view::find(
        &answer.records,
        &record.hospital,
        &record.department,
        record.sequence,
    )?;
    let summary = view::open(&node.identity, r, &answer.records)?;
    Ok((r.clone(), view::SummaryView::of(r, &summary)))
}

/// What `fetch --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct FetchView {
    /// The hospital that keeps the EMR (the record's pointer).
    pub hospital: String,
    /// The key of the department node it came from (hex).
    pub fetched_from: String,
    /// That node's name, as its certificate in genesis gives it.
    pub fetched_from_name: String,
    /// The file it was written to (`--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// The EMR's record id.
    pub record_id: String,
    /// Its SHA-256 (hex), equal to the ledger's.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// The EMR itself when it is JSON, as hospitals keep it: a FHIR R4 Bundle (imported
    /// encounters and hand-entered visits alike), so `fetch --json` hands the record to FHIR
    /// tooling as it is. Present only with `--out -`, and when the hospital keeps JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emr: Option<serde_json::Value>,
}

/// Fetches a record's EMR from the hospital that keeps it and checks its SHA-256 against the
/// summary's (on the ledger). The hospital is the one the record's pointer names; its node is
/// found among those genesis certifies for it, through the light node's peers and Kademlia
/// ([`LightNode::find_emr`]), unless `hospital_peer` names it.
pub async fn fetch(
    node: &mut LightNode,
    patient: &PublicKey,
    record: &RecordRef,
    hospital_peer: Option<&str>,
    conn: &Conn,
) -> Result<(FetchView, Vec<u8>), PatientError> {
    let (checked, summary) = show(node, patient, record).await?;
    let hospital = if summary.emr_hospital.is_empty() {
        checked.event.body.hospital.clone()
    } else {
        summary.emr_hospital.clone()
    };
    let (peer, emr) = match hospital_peer {
        Some(addr) => {
            let peer = node.add_peer(addr).await?;
            (
                peer,
                node.emr_from(peer, &checked, &summary.emr_record_id)
                    .await?,
            )
        }
        None => {
            let patience = Duration::from_secs(conn.timeout.max(1).saturating_mul(3));
            node.find_emr(&checked, &hospital, &summary.emr_record_id, patience)
                .await?
        }
    };
    check_emr(&summary, &emr)?;
    Ok((
        FetchView {
            hospital,
            fetched_from: peer.to_hex(),
            fetched_from_name: node.name_of(&peer),
            out: None,
            record_id: summary.emr_record_id.clone(),
            sha256: summary.emr_sha256.clone(),
            bytes: emr.len(),
            emr: serde_json::from_slice(&emr).ok(),
        },
        emr,
    ))
}

/// Checks an EMR against the SHA-256 its summary carries.
pub fn check_emr(summary: &view::SummaryView, emr: &[u8]) -> Result<(), PatientError> {
    let actual = sha256(emr).to_hex();
    if actual != summary.emr_sha256 {
        return Err(medblock_core::access::ProofError::EmrHashMismatch {
            record_id: summary.emr_record_id.clone(),
            expected: summary.emr_sha256.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}

/// What `verify --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyView {
    /// Records checked.
    pub records: usize,
    /// Peers that answered and agreed.
    pub peers: usize,
}

/// Checks the patient's records with every known peer that answers, each answer against the
/// others: any proof failure, left-out record, or record under an authorization he had revoked
/// before its block is an error.
pub async fn verify(node: &LightNode, patient: &PublicKey) -> Result<VerifyView, PatientError> {
    let mut answers = Vec::new();
    for p in node.known_peers().await {
        let answer = records_with_a_signed_tip(node, p, patient).await?;
        authz::check_not_revoked(&answer.records)?;
        answers.push(answer);
    }
    // Every answer must cover the highest tip a certified committer signed, over all of them
    // (a peer short of it is asked again a few times: it may only be a block behind).
    node.cross_check(&mut answers, patient).await?;
    Ok(VerifyView {
        records: answers.first().map_or(0, |a| a.records.len()),
        peers: answers.len(),
    })
}

/// `peer`'s answer about `patient`. A peer that holds no certified committer's signed tip yet
/// (one just started, or one that is not a committer and has not heard a claim since it
/// joined) is asked again, a second apart, up to [`CATCH_UP_RETRIES`] times: its answer cannot
/// be cross-checked without one, and an honest peer hears a claim within a gossip round.
async fn records_with_a_signed_tip(
    node: &LightNode,
    peer: PublicKey,
    patient: &PublicKey,
) -> Result<super::session::Answer, PatientError> {
    let mut tries = 0;
    loop {
        match node.records_from(peer, patient).await {
            Err(PatientError::Proof(ProofError::MissingSignedTip)) if tries < CATCH_UP_RETRIES => {
                tries += 1;
                tracing::info!(%peer, "the peer holds no signed tip yet; asking again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// Writes `bytes` to `path`, readable by its owner only (an EMR is medical data).
pub(super) fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on open: make it owner-only too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
