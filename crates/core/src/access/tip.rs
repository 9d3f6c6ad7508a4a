//! Signed tips: the height a records answer must cover, taken from ledger claims signed by
//! certified committers rather than from the answering peer's word.
//!
//! Committers gossip signed ledger claims (height, tip, ledger hash) on the ledger topic. A
//! serving peer puts the newest claims it holds in its answer ([`wire::SignedTip`], the same
//! bytes as a `LedgerClaim`); the light node checks each one: its signature under the key the
//! claim names, and that key certified by the network's CA (genesis, or a CA-signed certificate
//! the answer carries) as a committer at the claim's time. An answer with no claim, or with one
//! that does not check, is refused ([`ProofError::MissingSignedTip`],
//! [`ProofError::BadSignedTip`]); the highest verified height over every answer is what each
//! answer must cover ([`super::proof::find_omission`]).

use super::error::ProofError;
use crate::cert::{TrustStore, verify_certificate};
use crate::codec::decode_bounded;
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::wire::{self, Role};
use prost::Message;

/// Signature purpose of a committer's ledger claim.
pub const LEDGER_CLAIM_PURPOSE: &str = "medblock/ledger-claim/v1";
/// Most signed tips one answer may carry.
pub const MAX_SIGNED_TIPS: usize = 32;
/// Most certificates one answer may carry for its tips' signers.
pub const MAX_TIP_CERTIFICATES: usize = 32;
/// Largest encoded claim body.
const MAX_CLAIM_BYTES: usize = 1024;

/// Signs a ledger claim with `key` (the body's `node_key` is set here).
pub fn sign_claim(key: &SigningKey, mut body: wire::LedgerClaimBody) -> wire::LedgerClaim {
    body.node_key = key.public().as_bytes().to_vec();
    let body = body.encode_to_vec();
    wire::LedgerClaim {
        signature: key.sign(LEDGER_CLAIM_PURPOSE, &body).to_vec(),
        body,
    }
}

/// A gossiped claim as an answer carries it.
pub fn signed_tip(claim: &wire::LedgerClaim) -> wire::SignedTip {
    wire::SignedTip {
        body: claim.body.clone(),
        signature: claim.signature.clone(),
    }
}

/// A claim whose signature and signer checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedTip {
    /// The height the committer claimed.
    pub height: u64,
    /// The committer.
    pub signer: PublicKey,
}

/// Checks one signed tip: signed by the key it names, that key certified as a committer (by
/// `trust`, or by one of `certificates` chaining to `trust`'s CA) at the claim's time.
pub fn verify_tip(
    trust: &TrustStore,
    certificates: &[wire::Certificate],
    tip: &wire::SignedTip,
) -> Result<VerifiedTip, ProofError> {
    let bad = |r: String| ProofError::BadSignedTip(r);
    let body: wire::LedgerClaimBody = decode_bounded("ledger claim", &tip.body, MAX_CLAIM_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    let signer = PublicKey::from_slice(&body.node_key).map_err(|e| bad(format!("key: {e}")))?;
    let signature =
        Signature::from_slice(&tip.signature).map_err(|e| bad(format!("signature: {e}")))?;
    signer
        .verify(LEDGER_CLAIM_PURPOSE, &tip.body, &signature)
        .map_err(|_| bad(format!("the signature is not {signer}'s")))?;
    let at = body.issued_at_ms;
    let certified = match trust.authorize(&signer, Role::Committer, at) {
        Ok(_) => Ok(()),
        Err(e) => {
            // Not in the trust store: a certificate the answer carries, checked against the CA.
            let mut extended = None;
            for c in certificates {
                if let Ok(v) = verify_certificate(trust.ca(), c)
                    && v.key == signer
                {
                    let mut t = trust.clone();
                    if t.add(c).is_ok() {
                        extended = Some(t);
                    }
                    break;
                }
            }
            match extended {
                Some(t) => t
                    .authorize(&signer, Role::Committer, at)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => Err(e.to_string()),
            }
        }
    };
    certified.map_err(|e| bad(format!("{signer} is not a certified committer: {e}")))?;
    Ok(VerifiedTip {
        height: body.height,
        signer,
    })
}

/// The highest of an answer's signed tips, each checked ([`verify_tip`]). An answer without
/// one, or with one that does not check, is refused: a peer cannot escape the check by leaving
/// its tips out or by padding them.
pub fn highest_signed_tip(
    trust: &TrustStore,
    body: &wire::QueryResultBody,
) -> Result<VerifiedTip, ProofError> {
    if body.signed_tips.len() > MAX_SIGNED_TIPS {
        return Err(ProofError::BadSignedTip(format!(
            "{} signed tips, at most {MAX_SIGNED_TIPS}",
            body.signed_tips.len()
        )));
    }
    if body.tip_certificates.len() > MAX_TIP_CERTIFICATES {
        return Err(ProofError::BadSignedTip(format!(
            "{} certificates, at most {MAX_TIP_CERTIFICATES}",
            body.tip_certificates.len()
        )));
    }
    let mut best: Option<VerifiedTip> = None;
    for t in &body.signed_tips {
        let v = verify_tip(trust, &body.tip_certificates, t)?;
        if best.is_none_or(|b| v.height > b.height) {
            best = Some(v);
        }
    }
    best.ok_or(ProofError::MissingSignedTip)
}
