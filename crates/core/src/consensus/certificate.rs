//! Commit certificates: 2f+1 signed PBFT commits for one block id, plus the beacon evidence that
//! lets a committer or light node recompute the committee without having been in it.

use super::beacon::{Beacon, BeaconError};
use super::committee::{Committee, select_committee};
use super::statement::{self, VoteKind};
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature, verify_batch};
use crate::wire;
use std::collections::BTreeSet;

/// Why a commit certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateVerifyError {
    /// The block id is not 32 bytes.
    #[error("malformed block id")]
    MalformedBlockId,
    /// The certificate is for another block, height or turn than expected.
    #[error("certificate is for {what} {got}, expected {expected}")]
    Mismatch {
        /// Which field.
        what: &'static str,
        /// What the certificate says.
        got: String,
        /// What the verifier expected.
        expected: String,
    },
    /// A signer key or signature of the wrong shape.
    #[error("malformed commit signature #{index}")]
    MalformedSignature {
        /// Position in the certificate.
        index: usize,
    },
    /// A signer that is not in the turn's committee.
    #[error("signer {key} is not in the committee")]
    NotInCommittee {
        /// The stranger.
        key: String,
    },
    /// The same signer twice.
    #[error("signer {key} appears twice")]
    DuplicateSigner {
        /// The repeated key.
        key: String,
    },
    /// Fewer distinct valid signers than 2f+1.
    #[error("quorum short: {got} commits, {needed} needed")]
    QuorumShort {
        /// Distinct signers.
        got: usize,
        /// 2f+1.
        needed: usize,
    },
    /// A commit signature that does not verify.
    #[error("forged commit signature from {key}")]
    BadSignature {
        /// Whose signature failed.
        key: String,
    },
    /// The beacon evidence does not verify.
    #[error("beacon evidence: {0}")]
    Beacon(#[from] BeaconError),
    /// The beacon evidence is for another turn or height range.
    #[error("beacon evidence is inconsistent with the certificate")]
    BeaconMismatch,
}

/// A certificate that verified: what was decided, where, and by whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// Turn that decided it.
    pub turn: u64,
    /// PBFT view it was decided in.
    pub view: u64,
    /// Height decided.
    pub height: u64,
    /// The decided block (or turn-end) id.
    pub block_id: Hash32,
    /// The turn's primary, from the beacon evidence, when present.
    pub primary: Option<PublicKey>,
}

/// Builds a certificate from matching commit votes (already verified by the PBFT log).
pub fn build(
    turn: u64,
    view: u64,
    height: u64,
    block_id: Hash32,
    commits: &[(PublicKey, Signature)],
    beacon: Option<&Beacon>,
) -> wire::CommitCertificate {
    let mut c = wire::CommitCertificate {
        turn,
        view,
        height,
        block_id: block_id.0.to_vec(),
        commits: commits
            .iter()
            .map(|(k, s)| wire::CommitSignature {
                orderer_key: k.as_bytes().to_vec(),
                signature: s.to_vec(),
            })
            .collect(),
        ..Default::default()
    };
    if let Some(b) = beacon {
        c.beacon_chain_hash = b.chain_hash.0.to_vec();
        c.primary_key = b.primary.as_bytes().to_vec();
        c.beacon_signature = b.signature.to_vec();
        c.beacon_start_height = b.start_height;
    }
    c
}

/// Verifies `cert` against a committee the caller already knows (an orderer of the turn).
pub fn verify_with_committee(
    cert: &wire::CommitCertificate,
    committee: &Committee,
) -> Result<VerifiedCertificate, CertificateVerifyError> {
    let block_id =
        Hash32::from_slice(&cert.block_id).ok_or(CertificateVerifyError::MalformedBlockId)?;
    let stmt = statement::vote(cert.turn, cert.view, cert.height, &block_id);
    let mut seen = BTreeSet::new();
    let mut parsed = Vec::with_capacity(cert.commits.len());
    for (index, c) in cert.commits.iter().enumerate() {
        let key = PublicKey::from_slice(&c.orderer_key)
            .map_err(|_| CertificateVerifyError::MalformedSignature { index })?;
        let sig = Signature::from_slice(&c.signature)
            .map_err(|_| CertificateVerifyError::MalformedSignature { index })?;
        if !committee.contains(&key) {
            return Err(CertificateVerifyError::NotInCommittee { key: key.to_hex() });
        }
        if !seen.insert(key) {
            return Err(CertificateVerifyError::DuplicateSigner { key: key.to_hex() });
        }
        parsed.push((key, sig));
    }
    if parsed.len() < committee.quorum() {
        return Err(CertificateVerifyError::QuorumShort {
            got: parsed.len(),
            needed: committee.quorum(),
        });
    }
    let items: Vec<(&PublicKey, &[u8], &Signature)> = parsed
        .iter()
        .map(|(k, s)| (k, stmt.as_slice(), s))
        .collect();
    if verify_batch(VoteKind::Commit.purpose(), &items).is_err() {
        for (k, s) in &parsed {
            if k.verify(VoteKind::Commit.purpose(), &stmt, s).is_err() {
                return Err(CertificateVerifyError::BadSignature { key: k.to_hex() });
            }
        }
        // Batch and single verification disagree only on malformed keys.
        return Err(CertificateVerifyError::BadSignature {
            key: String::from("(batch)"),
        });
    }
    let primary = PublicKey::from_slice(&cert.primary_key).ok();
    Ok(VerifiedCertificate {
        turn: cert.turn,
        view: cert.view,
        height: cert.height,
        block_id,
        primary,
    })
}

/// Verifies `cert` as an outsider (committer, light node): recomputes the turn's committee from
/// the beacon evidence and the genesis list of eligible orderers, then checks the commits.
/// Whether the beacon's primary really held the turn is the caller's check (it knows the
/// endorser views); the returned certificate names it.
pub fn verify(
    cert: &wire::CommitCertificate,
    eligible: &[PublicKey],
    committee_size: usize,
) -> Result<VerifiedCertificate, CertificateVerifyError> {
    let beacon = Beacon::from_parts(
        cert.turn,
        &cert.beacon_chain_hash,
        cert.beacon_start_height,
        &cert.primary_key,
        &cert.beacon_signature,
    )?;
    if cert.height < beacon.start_height {
        return Err(CertificateVerifyError::BeaconMismatch);
    }
    let committee = select_committee(&beacon.seed(), eligible, committee_size);
    verify_with_committee(cert, &committee)
}

/// Checks that a verified certificate is for the block and height the caller holds.
pub fn expect(
    v: &VerifiedCertificate,
    height: u64,
    block_id: &Hash32,
) -> Result<(), CertificateVerifyError> {
    if v.height != height {
        return Err(CertificateVerifyError::Mismatch {
            what: "height",
            got: v.height.to_string(),
            expected: height.to_string(),
        });
    }
    if &v.block_id != block_id {
        return Err(CertificateVerifyError::Mismatch {
            what: "block",
            got: v.block_id.to_hex(),
            expected: block_id.to_hex(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::committee::select_committee;
    use crate::consensus::statement;
    use crate::keys::SigningKey;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    struct Fixture {
        keys: Vec<SigningKey>,
        eligible: Vec<PublicKey>,
        beacon: Beacon,
        committee: Committee,
    }

    fn fixture(n: usize, size: usize) -> Fixture {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let keys: Vec<SigningKey> = (0..n).map(|_| SigningKey::generate(&mut rng)).collect();
        let eligible: Vec<PublicKey> = keys.iter().map(SigningKey::public).collect();
        let primary = SigningKey::generate(&mut rng);
        let beacon = Beacon::sign(&primary, 3, Hash32([9; 32]), 10);
        let committee = select_committee(&beacon.seed(), &eligible, size);
        Fixture {
            keys,
            eligible,
            beacon,
            committee,
        }
    }

    fn signed_cert(fx: &Fixture, signers: usize) -> wire::CommitCertificate {
        let id = Hash32([5; 32]);
        let stmt = statement::vote(3, 1, 12, &id);
        let commits: Vec<(PublicKey, Signature)> = fx
            .committee
            .members()
            .iter()
            .take(signers)
            .map(|m| {
                let k = fx
                    .keys
                    .iter()
                    .find(|k| k.public() == *m)
                    .expect("member key");
                (*m, k.sign(statement::COMMIT, &stmt))
            })
            .collect();
        build(3, 1, 12, id, &commits, Some(&fx.beacon))
    }

    #[test]
    fn quorum_of_commits_verifies_for_an_outsider() {
        let fx = fixture(10, 7);
        let cert = signed_cert(&fx, 5);
        let v = verify(&cert, &fx.eligible, 7).expect("valid certificate");
        assert_eq!(v.height, 12);
        assert_eq!(v.primary, Some(fx.beacon.primary));
        expect(&v, 12, &Hash32([5; 32])).expect("same block");
        assert!(expect(&v, 13, &Hash32([5; 32])).is_err());
    }

    #[test]
    fn one_forged_signature_is_rejected() {
        let fx = fixture(10, 7);
        let mut cert = signed_cert(&fx, 5);
        cert.commits[2].signature[10] ^= 1;
        assert!(matches!(
            verify(&cert, &fx.eligible, 7),
            Err(CertificateVerifyError::BadSignature { .. })
        ));
    }

    #[test]
    fn short_quorum_is_rejected() {
        let fx = fixture(10, 7);
        let cert = signed_cert(&fx, 4);
        assert_eq!(
            verify(&cert, &fx.eligible, 7),
            Err(CertificateVerifyError::QuorumShort { got: 4, needed: 5 })
        );
    }

    #[test]
    fn duplicate_signer_and_outsider_are_rejected() {
        let fx = fixture(10, 7);
        let mut cert = signed_cert(&fx, 5);
        let dup = cert.commits[0].clone();
        cert.commits[1] = dup;
        assert!(matches!(
            verify(&cert, &fx.eligible, 7),
            Err(CertificateVerifyError::DuplicateSigner { .. })
        ));
        let outsider = fx
            .eligible
            .iter()
            .find(|k| !fx.committee.contains(k))
            .expect("an orderer outside the committee");
        let mut cert = signed_cert(&fx, 5);
        cert.commits[0].orderer_key = outsider.as_bytes().to_vec();
        assert!(matches!(
            verify(&cert, &fx.eligible, 7),
            Err(CertificateVerifyError::NotInCommittee { .. })
        ));
    }

    #[test]
    fn tampered_beacon_evidence_is_rejected() {
        let fx = fixture(10, 7);
        let mut cert = signed_cert(&fx, 5);
        cert.beacon_chain_hash[0] ^= 1;
        assert!(matches!(
            verify(&cert, &fx.eligible, 7),
            Err(CertificateVerifyError::Beacon(_))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let fx = fixture(4, 4);
        let cert = wire::CommitCertificate {
            block_id: vec![1, 2, 3],
            commits: vec![wire::CommitSignature {
                orderer_key: vec![0; 5],
                signature: vec![],
            }],
            ..Default::default()
        };
        assert!(verify(&cert, &fx.eligible, 4).is_err());
        assert!(verify_with_committee(&cert, &fx.committee).is_err());
    }
}
