//! The orderer's test-only misbehaviours ([`ByzantineConfig`]): what a certified insider in a
//! committee could send instead of what its honest machine asked for. The consensus machine
//! itself stays honest; these rewrite its outgoing PBFT messages, as a compromised binary
//! would.

use crate::byzantine::ByzantineConfig;
use medblock_core::consensus::pbft::messages::{seal, sign_vote};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::hash::{Hash32, tagged_hash};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::wire;
use medblock_core::wire::consensus_message::Kind;
use prost::Message as _;

/// A message for some recipients.
pub type Sends = Vec<(Vec<PublicKey>, wire::ConsensusMessage)>;

/// A second, made-up block id: what an equivocator signs beside the real one.
fn fake_digest(real: &[u8]) -> Vec<u8> {
    tagged_hash("medblock/test/byzantine-equivocation", &[real])
        .0
        .to_vec()
}

fn msg(kind: Kind) -> wire::ConsensusMessage {
    wire::ConsensusMessage { kind: Some(kind) }
}

/// What a Byzantine orderer multicasts to `to` in place of `m` (unchanged when `cfg` asks
/// nothing of this message). Halves are split by key order, so every run splits the same way.
pub fn rewrite(
    cfg: &ByzantineConfig,
    key: &SigningKey,
    to: Vec<PublicKey>,
    m: wire::ConsensusMessage,
) -> Sends {
    let mut sorted = to.clone();
    sorted.sort();
    let half: Vec<PublicKey> = sorted
        .iter()
        .take(sorted.len().div_ceil(2))
        .copied()
        .collect();
    match &m.kind {
        Some(Kind::Vote(v))
            if matches!(
                VoteKind::from_wire(v.kind),
                Some(VoteKind::Prepare | VoteKind::Commit)
            ) =>
        {
            if cfg.drop_votes {
                return Vec::new();
            }
            if cfg.equivocate_votes
                && let Some(kind) = VoteKind::from_wire(v.kind)
                && let Some(d) = Hash32::from_slice(&fake_digest(&v.digest))
            {
                // The real vote to everyone, and a vote for a block that does not exist to
                // half of them: that half holds two votes signed by this key for one slot.
                let fake = sign_vote(key, kind, v.turn, v.view, v.height, &d);
                return vec![(to, m), (half, msg(Kind::Vote(fake)))];
            }
            vec![(to, m)]
        }
        Some(Kind::PrePrepare(env)) if cfg.equivocate_proposals => {
            let Ok(mut body) = wire::PrePrepareBody::decode(env.body.as_slice()) else {
                return vec![(to, m)];
            };
            // A second pre-prepare for the same slot under another digest, to half the
            // committee after the real one: two leader-signed pre-prepares for one (view,
            // height). The value stays the same bytes, so the receivers' only grounds to
            // refuse it are the equivocation itself.
            body.digest = fake_digest(&body.digest);
            let fake = seal(key, statement::PRE_PREPARE, &body);
            vec![(to, m), (half, msg(Kind::PrePrepare(fake)))]
        }
        _ => vec![(to, m)],
    }
}

/// The test-only crash point ([`ByzantineConfig::crash_after_prepare`]): remembers the slots
/// whose pre-prepare carried a block, and says when this orderer's own prepare for one of them
/// has gone out.
#[derive(Debug, Default)]
pub struct CrashPoint {
    block_slots: std::collections::BTreeSet<(u64, u64, u64)>,
}

impl CrashPoint {
    /// Notes a pre-prepare (received or sent) that carries a block.
    pub fn saw(&mut self, m: &wire::ConsensusMessage) {
        let Some(Kind::PrePrepare(env)) = &m.kind else {
            return;
        };
        let Ok(b) = wire::PrePrepareBody::decode(env.body.as_slice()) else {
            return;
        };
        if matches!(
            b.value.as_ref().and_then(|v| v.kind.as_ref()),
            Some(wire::proposed_value::Kind::Proposal(_))
        ) {
            if self.block_slots.len() >= 64 {
                self.block_slots.pop_first();
            }
            self.block_slots.insert((b.turn, b.view, b.height));
        }
    }

    /// Whether `m`, just sent, is this orderer's prepare for a block.
    pub fn reached(&self, m: &wire::ConsensusMessage) -> bool {
        matches!(
            &m.kind,
            Some(Kind::Vote(v)) if VoteKind::from_wire(v.kind) == Some(VoteKind::Prepare)
                && self.block_slots.contains(&(v.turn, v.view, v.height))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<SigningKey> {
        let mut rng = rand::rng();
        (0..n).map(|_| SigningKey::generate(&mut rng)).collect()
    }

    fn vote(key: &SigningKey, kind: VoteKind) -> wire::ConsensusMessage {
        msg(Kind::Vote(sign_vote(key, kind, 1, 0, 5, &Hash32([3; 32]))))
    }

    #[test]
    fn honest_config_sends_unchanged() {
        let k = keys(4);
        let to: Vec<_> = k[1..].iter().map(SigningKey::public).collect();
        let m = vote(&k[0], VoteKind::Prepare);
        let out = rewrite(&ByzantineConfig::default(), &k[0], to.clone(), m.clone());
        assert_eq!(out, vec![(to, m)]);
    }

    #[test]
    fn drop_votes_sends_no_prepare_or_commit_but_keeps_checkpoints() {
        let k = keys(4);
        let to: Vec<_> = k[1..].iter().map(SigningKey::public).collect();
        let cfg = ByzantineConfig {
            drop_votes: true,
            ..Default::default()
        };
        assert!(rewrite(&cfg, &k[0], to.clone(), vote(&k[0], VoteKind::Commit)).is_empty());
        assert_eq!(
            rewrite(&cfg, &k[0], to, vote(&k[0], VoteKind::Checkpoint)).len(),
            1
        );
    }

    #[test]
    fn equivocate_votes_signs_a_second_digest_for_half() {
        let k = keys(4);
        let to: Vec<_> = k[1..].iter().map(SigningKey::public).collect();
        let cfg = ByzantineConfig {
            equivocate_votes: true,
            ..Default::default()
        };
        let out = rewrite(&cfg, &k[0], to, vote(&k[0], VoteKind::Prepare));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].0.len(), 2);
        let (Some(Kind::Vote(a)), Some(Kind::Vote(b))) = (&out[0].1.kind, &out[1].1.kind) else {
            panic!("votes expected");
        };
        assert_eq!((a.view, a.height, a.kind), (b.view, b.height, b.kind));
        assert_ne!(a.digest, b.digest);
    }
}
