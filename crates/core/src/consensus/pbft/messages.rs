//! Decoding and verifying PBFT messages off the wire into typed, checked values. Nothing here
//! panics on bad input: every failure is a [`PbftError`].

use crate::consensus::certificate::{self, CertificateVerifyError};
use crate::consensus::committee::Committee;
use crate::consensus::statement::{self, VoteKind};
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::wire;
use prost::Message;
use std::collections::BTreeSet;

/// Why a PBFT message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PbftError {
    /// The bytes are not the expected protobuf message.
    #[error("cannot decode {0}")]
    Decode(&'static str),
    /// A field of the wrong shape (key, hash, signature, missing value).
    #[error("malformed field {0}")]
    Malformed(&'static str),
    /// For another turn than this committee's.
    #[error("message for turn {got}, committee runs turn {expected}")]
    WrongTurn {
        /// Turn in the message.
        got: u64,
        /// Turn of the committee.
        expected: u64,
    },
    /// Signed by someone outside the committee.
    #[error("signer is not in the committee")]
    NotMember,
    /// Signed by a member that is not the leader of that view.
    #[error("signer is not the leader of view {0}")]
    NotLeader(u64),
    /// A signature that does not verify.
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    /// A view change or new view whose content does not hold together.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// Which message.
        what: &'static str,
        /// Why.
        why: &'static str,
    },
    /// A certificate inside a view change that does not verify.
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateVerifyError),
}

fn key(bytes: &[u8], what: &'static str) -> Result<PublicKey, PbftError> {
    PublicKey::from_slice(bytes).map_err(|_| PbftError::Malformed(what))
}

fn sig(bytes: &[u8], what: &'static str) -> Result<Signature, PbftError> {
    Signature::from_slice(bytes).map_err(|_| PbftError::Malformed(what))
}

fn digest(bytes: &[u8]) -> Result<Hash32, PbftError> {
    Hash32::from_slice(bytes).ok_or(PbftError::Malformed("digest"))
}

/// A vote whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedVote {
    /// Prepare, commit or checkpoint.
    pub kind: VoteKind,
    /// View voted in.
    pub view: u64,
    /// Height voted for.
    pub height: u64,
    /// Block (or turn-end) id.
    pub digest: Hash32,
    /// Who voted.
    pub voter: PublicKey,
    /// Their signature over the statement.
    pub signature: Signature,
    /// The vote as received (for prepared certificates).
    pub wire: wire::Vote,
}

/// Signs a vote.
pub fn sign_vote(
    key: &SigningKey,
    kind: VoteKind,
    turn: u64,
    view: u64,
    height: u64,
    digest: &Hash32,
) -> wire::Vote {
    let s = key.sign(kind.purpose(), &statement::vote(turn, view, height, digest));
    wire::Vote {
        kind: kind as u32,
        turn,
        view,
        height,
        digest: digest.0.to_vec(),
        voter: key.public().as_bytes().to_vec(),
        signature: s.to_vec(),
    }
}

/// Checks a vote's shape, membership and signature.
pub fn check_vote(
    v: &wire::Vote,
    turn: u64,
    committee: &Committee,
) -> Result<CheckedVote, PbftError> {
    let kind = VoteKind::from_wire(v.kind).ok_or(PbftError::Malformed("vote kind"))?;
    if v.turn != turn {
        return Err(PbftError::WrongTurn {
            got: v.turn,
            expected: turn,
        });
    }
    let voter = key(&v.voter, "voter")?;
    if !committee.contains(&voter) {
        return Err(PbftError::NotMember);
    }
    let d = digest(&v.digest)?;
    let s = sig(&v.signature, "vote signature")?;
    voter
        .verify(
            kind.purpose(),
            &statement::vote(v.turn, v.view, v.height, &d),
            &s,
        )
        .map_err(|_| PbftError::BadSignature("vote"))?;
    Ok(CheckedVote {
        kind,
        view: v.view,
        height: v.height,
        digest: d,
        voter,
        signature: s,
        wire: v.clone(),
    })
}

/// Signs an envelope over the encoded body.
pub fn seal<M: Message>(key: &SigningKey, purpose: &str, body: &M) -> wire::SignedEnvelope {
    let body = body.encode_to_vec();
    let signature = key.sign(purpose, &body).to_vec();
    wire::SignedEnvelope { body, signature }
}

fn open<M: Message + Default>(
    env: &wire::SignedEnvelope,
    what: &'static str,
) -> Result<M, PbftError> {
    M::decode(env.body.as_slice()).map_err(|_| PbftError::Decode(what))
}

fn verify_env(
    env: &wire::SignedEnvelope,
    signer: &PublicKey,
    purpose: &'static str,
    what: &'static str,
) -> Result<(), PbftError> {
    let s = sig(&env.signature, what)?;
    signer
        .verify(purpose, &env.body, &s)
        .map_err(|_| PbftError::BadSignature(what))
}

/// A pre-prepare whose leader signature verified (the value is checked by the replica).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedPrePrepare {
    /// View.
    pub view: u64,
    /// Height.
    pub height: u64,
    /// The id the leader claims for the value.
    pub digest: Hash32,
    /// The value.
    pub value: wire::ProposedValue,
    /// As received.
    pub envelope: wire::SignedEnvelope,
}

/// Checks a pre-prepare's body, turn, leadership and signature.
pub fn check_pre_prepare(
    env: &wire::SignedEnvelope,
    turn: u64,
    committee: &Committee,
) -> Result<CheckedPrePrepare, PbftError> {
    let b: wire::PrePrepareBody = open(env, "pre-prepare")?;
    if b.turn != turn {
        return Err(PbftError::WrongTurn {
            got: b.turn,
            expected: turn,
        });
    }
    let leader = key(&b.leader, "leader")?;
    if committee.leader(b.view) != Some(&leader) {
        return Err(PbftError::NotLeader(b.view));
    }
    verify_env(env, &leader, statement::PRE_PREPARE, "pre-prepare")?;
    let value = b.value.ok_or(PbftError::Malformed("value"))?;
    Ok(CheckedPrePrepare {
        view: b.view,
        height: b.height,
        digest: digest(&b.digest)?,
        value,
        envelope: env.clone(),
    })
}

/// A prepared certificate that verified: 2f+1 prepares for the leader's pre-prepare.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedPrepared {
    /// View it prepared in.
    pub view: u64,
    /// Height.
    pub height: u64,
    /// Value id.
    pub digest: Hash32,
    /// The value, to re-propose in the new view.
    pub value: wire::ProposedValue,
}

/// Checks a prepared certificate.
pub fn check_prepared(
    p: &wire::PreparedCertificate,
    turn: u64,
    committee: &Committee,
) -> Result<CheckedPrepared, PbftError> {
    let pp = p
        .pre_prepare
        .as_ref()
        .ok_or(PbftError::Malformed("prepared pre-prepare"))?;
    let pp = check_pre_prepare(pp, turn, committee)?;
    let mut voters = BTreeSet::new();
    for v in &p.prepares {
        let v = check_vote(v, turn, committee)?;
        if v.kind != VoteKind::Prepare
            || v.view != pp.view
            || v.height != pp.height
            || v.digest != pp.digest
        {
            return Err(PbftError::Invalid {
                what: "prepared certificate",
                why: "prepare does not match",
            });
        }
        voters.insert(v.voter);
    }
    if voters.len() < committee.quorum() {
        return Err(PbftError::Invalid {
            what: "prepared certificate",
            why: "quorum short",
        });
    }
    Ok(CheckedPrepared {
        view: pp.view,
        height: pp.height,
        digest: pp.digest,
        value: pp.value,
    })
}

/// A view change that verified.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedViewChange {
    /// Sender.
    pub sender: PublicKey,
    /// View it asks for.
    pub new_view: u64,
    /// First height the sender has not decided (proven).
    pub next_height: u64,
    /// Its highest prepared value for `next_height`.
    pub prepared: Option<CheckedPrepared>,
    /// As received.
    pub envelope: wire::SignedEnvelope,
}

/// Checks a view change: signature, proof of its height and its prepared certificate.
pub fn check_view_change(
    env: &wire::SignedEnvelope,
    turn: u64,
    start_height: u64,
    committee: &Committee,
) -> Result<CheckedViewChange, PbftError> {
    let b: wire::ViewChangeBody = open(env, "view-change")?;
    if b.turn != turn {
        return Err(PbftError::WrongTurn {
            got: b.turn,
            expected: turn,
        });
    }
    let sender = key(&b.sender, "sender")?;
    if !committee.contains(&sender) {
        return Err(PbftError::NotMember);
    }
    verify_env(env, &sender, statement::VIEW_CHANGE, "view-change")?;
    if b.next_height < start_height {
        return Err(PbftError::Invalid {
            what: "view-change",
            why: "height before the turn",
        });
    }
    if b.next_height > start_height {
        let c = b.last_decided.as_ref().ok_or(PbftError::Invalid {
            what: "view-change",
            why: "height not proven",
        })?;
        let v = certificate::verify_with_committee(c, committee)?;
        if v.turn != turn || v.height + 1 != b.next_height {
            return Err(PbftError::Invalid {
                what: "view-change",
                why: "proof is for another height",
            });
        }
    }
    let prepared = match &b.prepared {
        None => None,
        Some(p) => {
            let p = check_prepared(p, turn, committee)?;
            if p.height != b.next_height || p.view >= b.new_view {
                return Err(PbftError::Invalid {
                    what: "view-change",
                    why: "prepared certificate out of place",
                });
            }
            Some(p)
        }
    };
    Ok(CheckedViewChange {
        sender,
        new_view: b.new_view,
        next_height: b.next_height,
        prepared,
        envelope: env.clone(),
    })
}

/// What a new view obliges: the height it starts at and, if some member may have decided
/// there, the one value the new leader must re-propose.
#[derive(Clone, Debug, PartialEq)]
pub struct NewViewPlan {
    /// The new view.
    pub view: u64,
    /// Highest proven next height among the view changes.
    pub start_height: u64,
    /// The highest-view prepared value at `start_height`, if any.
    pub carried: Option<(Hash32, wire::ProposedValue)>,
}

/// Computes the plan from 2f+1 view changes; every member computes the same.
pub fn plan(view: u64, vcs: &[CheckedViewChange]) -> NewViewPlan {
    let start_height = vcs.iter().map(|v| v.next_height).max().unwrap_or(0);
    let carried = vcs
        .iter()
        .filter(|v| v.next_height == start_height)
        .filter_map(|v| v.prepared.as_ref())
        .max_by_key(|p| p.view)
        .map(|p| (p.digest, p.value.clone()));
    NewViewPlan {
        view,
        start_height,
        carried,
    }
}

/// Checks a new view: leader signature and 2f+1 valid, distinct view changes for it.
pub fn check_new_view(
    env: &wire::SignedEnvelope,
    turn: u64,
    start_height: u64,
    committee: &Committee,
) -> Result<NewViewPlan, PbftError> {
    let b: wire::NewViewBody = open(env, "new-view")?;
    if b.turn != turn {
        return Err(PbftError::WrongTurn {
            got: b.turn,
            expected: turn,
        });
    }
    let leader = key(&b.leader, "leader")?;
    if committee.leader(b.view) != Some(&leader) {
        return Err(PbftError::NotLeader(b.view));
    }
    verify_env(env, &leader, statement::NEW_VIEW, "new-view")?;
    if b.view_changes.len() > committee.len() {
        return Err(PbftError::Invalid {
            what: "new-view",
            why: "too many view changes",
        });
    }
    let mut senders = BTreeSet::new();
    let mut vcs = Vec::with_capacity(b.view_changes.len());
    for vc in &b.view_changes {
        let vc = check_view_change(vc, turn, start_height, committee)?;
        if vc.new_view != b.view {
            return Err(PbftError::Invalid {
                what: "new-view",
                why: "view change for another view",
            });
        }
        if !senders.insert(vc.sender) {
            return Err(PbftError::Invalid {
                what: "new-view",
                why: "duplicate view change",
            });
        }
        vcs.push(vc);
    }
    if vcs.len() < committee.quorum() {
        return Err(PbftError::Invalid {
            what: "new-view",
            why: "quorum short",
        });
    }
    Ok(plan(b.view, &vcs))
}
