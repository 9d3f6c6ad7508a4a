//! The Byzantine orderers of a simulation: what they do to the consensus messages they send.

use crate::block::SimBlock;
use crate::runner::{World, block};
use medblock_core::consensus::node::sign_proposal;
use medblock_core::consensus::pbft::{PbftMessage, messages};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::keys::PublicKey;
use medblock_core::{Hash32, wire};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use serde::Serialize;

/// What the Byzantine nodes do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Behaviour {
    /// Byzantine orderers send nothing.
    Silent,
    /// As PBFT leader, send two different pre-prepares (colluding with the primary, which signs
    /// two blocks for one height).
    Equivocate,
    /// Send votes with forged signatures or impersonating other members.
    Forge,
    /// Send validly signed votes for wrong views.
    WrongView,
    /// Byzantine orderers stay silent while the first region's endorser proposes blocks with
    /// invalid events.
    InvalidPrimary,
    /// Byzantine orderers stay silent and the first primary endorser crashes early: its
    /// region's voters signal the crash, elect the next candidate, and turns pass on.
    CrashPrimary,
    /// Byzantine orderers stay silent and the second region's endorser stops proposing after
    /// its first turn: its committee skips its turns.
    StallPrimary,
}

impl Behaviour {
    /// Every behaviour, so a seed range covers them all.
    pub const ALL: [Behaviour; 7] = [
        Self::Silent,
        Self::Equivocate,
        Self::Forge,
        Self::WrongView,
        Self::InvalidPrimary,
        Self::CrashPrimary,
        Self::StallPrimary,
    ];

    pub(crate) fn silent_orderers(self) -> bool {
        !matches!(self, Self::Equivocate | Self::Forge | Self::WrongView)
    }
}

/// Rewrites what Byzantine orderer `from` sends to `to`; `None` drops it.
pub(crate) fn byzantine(
    world: &World,
    from: usize,
    to: usize,
    msg: wire::ConsensusMessage,
    rng: &mut ChaCha20Rng,
) -> Option<wire::ConsensusMessage> {
    use wire::consensus_message::Kind;
    let key = world.keys.get(from)?;
    match world.behaviour {
        b if b.silent_orderers() => None,
        Behaviour::Equivocate => {
            let Some(Kind::PrePrepare(env)) = &msg.kind else {
                return Some(msg);
            };
            if to.is_multiple_of(2) {
                return Some(msg);
            }
            let mut body = wire::PrePrepareBody::decode(env.body.as_slice()).ok()?;
            let Some(wire::proposed_value::Kind::Proposal(penv)) =
                body.value.as_ref().and_then(|v| v.kind.clone())
            else {
                return Some(msg);
            };
            let pbody = wire::ProposalBody::decode(penv.body.as_slice()).ok()?;
            let primary = PublicKey::from_slice(&pbody.primary_key).ok()?;
            let pkey = world.keys.get(world.index(&primary)?)?;
            let old = SimBlock::decode(&pbody.payload)?;
            // The colluding primary signs a second, different block for the same height, one
            // that disagrees on whether the turn ends with it.
            let flipped = !pbody.last_of_turn;
            let payload = block(
                pbody.height,
                old.previous,
                1 + rng.next_u64() % 1000,
                &[7, 8, 9],
                (false, flipped),
            );
            body.digest = medblock_core::tagged_hash("medblock-sim/block/v1", &[&payload])
                .0
                .to_vec();
            let alt = sign_proposal(pkey, pbody.turn, pbody.height, payload, flipped);
            body.value = Some(wire::ProposedValue {
                kind: Some(wire::proposed_value::Kind::Proposal(alt)),
            });
            let env = messages::seal(key, statement::PRE_PREPARE, &body);
            Some(PbftMessage::PrePrepare(env).to_wire())
        }
        Behaviour::Forge => {
            let mut msg = msg;
            match &mut msg.kind {
                Some(Kind::Vote(v)) => {
                    if rng.next_u32().is_multiple_of(2) {
                        if let Some(b) = v.signature.get_mut(0) {
                            *b ^= 0x55;
                        }
                    } else {
                        // Impersonate another orderer with our own signature.
                        let other = world.publics.get(to % world.orderers)?;
                        v.voter = other.as_bytes().to_vec();
                    }
                }
                Some(Kind::PrePrepare(e))
                | Some(Kind::ViewChange(e))
                | Some(Kind::NewView(e))
                | Some(Kind::Proposal(e))
                | Some(Kind::EndTurn(e)) => {
                    if let Some(b) = e.signature.get_mut(3) {
                        *b ^= 0xAA;
                    }
                }
                Some(Kind::Decided(dv)) => {
                    if let Some(c) = dv.certificate.as_mut()
                        && let Some(s) = c.commits.first_mut()
                        && let Some(b) = s.signature.get_mut(1)
                    {
                        *b ^= 0x11;
                    }
                }
                _ => {}
            }
            Some(msg)
        }
        Behaviour::WrongView => {
            let Some(Kind::Vote(v)) = &msg.kind else {
                return Some(msg);
            };
            let kind = VoteKind::from_wire(v.kind)?;
            let digest = Hash32::from_slice(&v.digest)?;
            let view = v.view + 1 + rng.next_u64() % 3;
            let v = messages::sign_vote(key, kind, v.turn, view, v.height, &digest);
            Some(PbftMessage::Vote(v).to_wire())
        }
        _ => None,
    }
}
