//! A PBFT replica across a crash: what it persists (first, before what it sends), and what a
//! replica restored from that record refuses to sign; plus vote equivocation evidence.
//!
//! Committee of four in index order (leader of view v = member v mod 4), f = 1, quorum 3.

use medblock_core::consensus::ConsensusConfig;
use medblock_core::consensus::InvalidProposal;
use medblock_core::consensus::committee::Committee;
use medblock_core::consensus::pbft::messages::{seal, sign_vote};
use medblock_core::consensus::pbft::{
    PbftMessage, Replica, ReplicaAction, ReplicaInput, SafetyRecord, ValueCheck,
};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, tagged_hash, wire};
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const TURN: u64 = 7;
const T: u64 = 100;

fn cfg() -> ConsensusConfig {
    ConsensusConfig {
        committee_size: 4,
        view_change_timeout_ms: T,
        checkpoint_interval: 2,
        ..ConsensusConfig::default()
    }
}

fn key(i: usize) -> SigningKey {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let mut ks: Vec<_> = (0..4).map(|_| SigningKey::generate(&mut rng)).collect();
    ks.swap_remove(i)
}

fn public(i: usize) -> PublicKey {
    key(i).public()
}

fn committee() -> Committee {
    Committee::new((0..4).map(public).collect())
}

fn value(name: &str) -> wire::ProposedValue {
    wire::ProposedValue {
        kind: Some(wire::proposed_value::Kind::Proposal(wire::SignedEnvelope {
            body: name.as_bytes().to_vec(),
            signature: Vec::new(),
        })),
    }
}

fn digest(name: &str) -> Hash32 {
    tagged_hash("pbft-recovery/value", &[name.as_bytes()])
}

struct Check;

impl ValueCheck for Check {
    fn check(
        &self,
        height: u64,
        value: &wire::ProposedValue,
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        match &value.kind {
            Some(wire::proposed_value::Kind::Proposal(e)) => {
                Ok(tagged_hash("pbft-recovery/value", &[&e.body]))
            }
            _ => Err(InvalidProposal {
                height,
                reason: "not a proposal".into(),
                blame: true,
            }),
        }
    }
}

fn pp(leader: usize, view: u64, height: u64, v: &str) -> ReplicaInput {
    let body = wire::PrePrepareBody {
        turn: TURN,
        view,
        height,
        leader: public(leader).as_bytes().to_vec(),
        value: Some(value(v)),
        digest: digest(v).0.to_vec(),
    };
    ReplicaInput::Message(PbftMessage::PrePrepare(seal(
        &key(leader),
        statement::PRE_PREPARE,
        &body,
    )))
}

fn vote(kind: VoteKind, who: usize, view: u64, height: u64, v: &str) -> ReplicaInput {
    ReplicaInput::Message(PbftMessage::Vote(sign_vote(
        &key(who),
        kind,
        TURN,
        view,
        height,
        &digest(v),
    )))
}

fn replica(me: usize) -> Replica {
    Replica::new(cfg(), key(me), TURN, None, committee(), 1)
}

/// The (kind, view, height, digest) of every PBFT vote this replica sent.
fn sent_votes(actions: &[ReplicaAction]) -> Vec<(u32, u64, u64, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::Broadcast(PbftMessage::Vote(v)) => {
                Some((v.kind, v.view, v.height, v.digest.clone()))
            }
            _ => None,
        })
        .collect()
}

fn last_record(actions: &[ReplicaAction]) -> Option<SafetyRecord> {
    actions.iter().rev().find_map(|a| match a {
        ReplicaAction::Persist(r) => Some((**r).clone()),
        _ => None,
    })
}

/// A backup (member 1) prepares "a" at (view 0, height 1), persisting first; the leader
/// (Byzantine) then re-proposes "b" for the same slot to the restarted backup.
fn prepared_a_then_crash() -> SafetyRecord {
    let mut r = replica(1);
    let acts = r.handle(pp(0, 0, 1, "a"), 0, &Check);
    assert!(
        matches!(acts.first(), Some(ReplicaAction::Persist(_))),
        "the record comes before the prepare it covers: {acts:?}"
    );
    assert_eq!(
        sent_votes(&acts),
        vec![(VoteKind::Prepare as u32, 0, 1, digest("a").0.to_vec())]
    );
    let rec = last_record(&acts).expect("a record");
    // Through its bytes, as the store keeps it.
    SafetyRecord::from_bytes(&rec.encode_to_vec()).expect("record decodes")
}

#[test]
fn restored_replica_never_prepares_another_value_in_a_slot() {
    let rec = prepared_a_then_crash();
    let mut restarted = replica(1);
    restarted.restore(&rec).expect("restore");
    let acts = restarted.handle(pp(0, 0, 1, "b"), 10, &Check);
    assert!(
        sent_votes(&acts).is_empty(),
        "restored replica signed a second value: {acts:?}"
    );
    // The same value again is fine (a re-sent pre-prepare).
    let acts = restarted.handle(pp(0, 0, 1, "a"), 20, &Check);
    assert_eq!(sent_votes(&acts).len(), 1);
}

#[test]
fn without_the_record_a_restarted_replica_equivocates() {
    // What the record is for: the same restart with nothing persisted signs "b" too.
    let _ = prepared_a_then_crash();
    let mut amnesiac = replica(1);
    let acts = amnesiac.handle(pp(0, 0, 1, "b"), 10, &Check);
    assert_eq!(
        sent_votes(&acts),
        vec![(VoteKind::Prepare as u32, 0, 1, digest("b").0.to_vec())]
    );
}

#[test]
fn restored_replica_keeps_its_view_change_and_prepared_certificate() {
    let mut r = replica(1);
    let mut all = r.handle(pp(0, 0, 1, "a"), 0, &Check);
    all.extend(r.handle(vote(VoteKind::Prepare, 2, 0, 1, "a"), 1, &Check));
    all.extend(r.handle(vote(VoteKind::Prepare, 3, 0, 1, "a"), 2, &Check));
    // Prepared: it sent its commit. Then its timer fires: view change to 1.
    all.extend(r.handle(ReplicaInput::Timeout, T, &Check));
    assert!(r.is_changing_view());
    let rec = last_record(&all).expect("a record");
    assert_eq!(rec.changing, 1);
    assert!(rec.prepared.is_some(), "prepared certificate persisted");

    let mut restarted = replica(1);
    restarted.restore(&rec).expect("restore");
    assert!(
        restarted.is_changing_view(),
        "it promised to leave view 0; it stays out of it"
    );
    // A commit or prepare in view 0 for another value is not signed.
    let acts = restarted.handle(pp(0, 0, 1, "b"), 10, &Check);
    assert!(sent_votes(&acts).is_empty(), "{acts:?}");
    // Its next view change still carries the prepared certificate of "a".
    let acts = restarted.handle(ReplicaInput::Timeout, 10_000, &Check);
    let vc = acts
        .iter()
        .find_map(|a| match a {
            ReplicaAction::Broadcast(PbftMessage::ViewChange(e)) => {
                wire::ViewChangeBody::decode(e.body.as_slice()).ok()
            }
            _ => None,
        })
        .expect("a view change");
    assert!(vc.new_view >= 2);
    let p = vc.prepared.expect("prepared certificate carried");
    let ppb = wire::PrePrepareBody::decode(p.pre_prepare.expect("pre-prepare").body.as_slice())
        .expect("body");
    assert_eq!(ppb.digest, digest("a").0.to_vec());
}

#[test]
fn a_record_of_another_turn_changes_nothing_and_garbage_is_collected() {
    let mut rec = prepared_a_then_crash();
    rec.turn = TURN + 1;
    let mut r = replica(1);
    r.restore(&rec).expect("restore");
    assert_eq!(sent_votes(&r.handle(pp(0, 0, 1, "b"), 0, &Check)).len(), 1);

    let rec = prepared_a_then_crash();
    let mut r = replica(1);
    r.restore(&rec).expect("restore");
    r.committed_through(1);
    assert!(r.safety_record().signed.is_empty());
}

#[test]
fn two_votes_from_one_key_for_one_slot_are_evidence() {
    let mut r = replica(1);
    r.handle(pp(0, 0, 1, "a"), 0, &Check);
    let first = r.handle(vote(VoteKind::Prepare, 2, 0, 1, "a"), 1, &Check);
    assert!(
        !first
            .iter()
            .any(|a| matches!(a, ReplicaAction::Equivocation { .. }))
    );
    let second = r.handle(vote(VoteKind::Prepare, 2, 0, 1, "x"), 2, &Check);
    assert!(
        second.contains(&ReplicaAction::Equivocation {
            signer: public(2),
            what: "prepare",
            view: 0,
            height: 1,
        }),
        "{second:?}"
    );
    assert_eq!(r.stats().equivocations, 1);
}
