//! Primary turns, as a pure state machine run by every node.
//!
//! The elected endorsers (one per region) become primary in a fixed order: by region name, turn
//! `t` belongs to region `regions[t % n]`, held by that region's endorser of the highest view
//! this node has verified. Turn numbers only increase. Every node feeds the same inputs and
//! computes the same primary and the same orderer committee.
//!
//! * **Beacon and committee.** When a turn starts, its primary signs the turn's [`Beacon`] over
//!   (turn, id of the last decided block, first height) and broadcasts it; every node that
//!   verifies it derives the committee with [`turn_committee`]. Ed25519 is deterministic, so the
//!   primary has one seed per turn and cannot grind it; it can only withhold it, and then it
//!   stalls and loses its turn.
//! * **End of turn.** When all its blocks are confirmed the primary signs an [`wire::EndTurnBody`]
//!   (turn, next height, id of its last decided block) in a [`wire::SignedEnvelope`] with
//!   purpose [`statement::END_TURN`]. A node accepts it only when its own decided chain reaches
//!   the same height with the same id (if behind, it keeps the claim in one slot, asks to catch
//!   up and re-checks as blocks arrive): a primary cannot make nodes start the next turn on a
//!   chain they did not decide.
//! * **Stalled primary.** If the turn makes no progress for `turn_timeout_ms` (since it began or
//!   since its last decided block), each other endorser signs a [`wire::TurnSkip`] naming the
//!   turn and its own decided tip, once per turn, and re-broadcasts it at each timeout. When more
//!   than half of the endorsers other than the primary agree on the same (turn, tip), every node
//!   moves to the next turn from that tip. We chose signed skips over "everybody advances at its
//!   own timeout" because local clocks differ: deterministic advance would let nodes disagree on
//!   whose turn it is, whereas a skip quorum is a proof every node verifies identically, and two
//!   such quorums for one turn intersect in an endorser that would have to sign two different
//!   skips (refused and reported as equivocation).
//!
//! Once a turn's beacon is known, endorser skips are refused ([`TurnError::BeaconSeen`]): a turn
//! with a committee ends only by a value its own committee decides with PBFT (a `TurnEnd` at the
//! next height, see [`crate::consensus::node`]), so no block of that turn can be decided at or
//! after the height where it ended — PBFT decides one value per height. The composite
//! [`crate::consensus::node::ConsensusNode`] drives this machine that way and enters the next
//! turn with [`Turns::advance`]. Endorser skips remain only for a turn whose primary never
//! produced a beacon (no committee, nothing decided in it). The stand-alone [`TurnInput::EndTurn`]
//! path (end of turn by the primary's signature alone) is kept for tests and light observers.

use super::beacon::{Beacon, BeaconError};
use super::committee::{Committee, select_committee};
use super::config::ConsensusConfig;
use super::election::EndorserView;
use super::statement;
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::wire;
use prost::Message;
use std::collections::BTreeMap;

/// Signing purpose of a turn skip (stalled primary).
pub const TURN_SKIP: &str = "medblock/turn-skip/v1";

/// What a skip signs: turn, next height and chain id, fixed width (no encoding to vary).
pub fn skip_statement(turn: u64, next_height: u64, chain_hash: &Hash32) -> Vec<u8> {
    let mut v = Vec::with_capacity(48);
    v.extend_from_slice(&turn.to_be_bytes());
    v.extend_from_slice(&next_height.to_be_bytes());
    v.extend_from_slice(chain_hash.as_bytes());
    v
}

/// An endorser signs a skip of `turn` at its decided tip.
pub fn sign_skip(
    key: &SigningKey,
    turn: u64,
    next_height: u64,
    chain_hash: &Hash32,
) -> wire::TurnSkip {
    wire::TurnSkip {
        turn,
        next_height,
        chain_hash: chain_hash.0.to_vec(),
        signer: key.public().as_bytes().to_vec(),
        signature: key
            .sign(TURN_SKIP, &skip_statement(turn, next_height, chain_hash))
            .to_vec(),
    }
}

/// A primary signs the end of `turn`: its blocks end at `next_height - 1` with id `chain_hash`.
/// The signature covers the exact body bytes that travel.
pub fn sign_end_turn(
    key: &SigningKey,
    turn: u64,
    next_height: u64,
    chain_hash: &Hash32,
) -> wire::SignedEnvelope {
    let body = wire::EndTurnBody {
        turn,
        next_height,
        primary_key: key.public().as_bytes().to_vec(),
        chain_hash: chain_hash.0.to_vec(),
    }
    .encode_to_vec();
    let signature = key.sign(statement::END_TURN, &body).to_vec();
    wire::SignedEnvelope { body, signature }
}

/// The orderer committee of the turn a verified beacon seeds: the same on every node because it
/// depends only on the beacon and the eligible orderers (in any order).
pub fn turn_committee(beacon: &Beacon, eligible: &[PublicKey], size: usize) -> Committee {
    select_committee(&beacon.seed(), eligible, size)
}

/// Why a turn message or input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    /// No endorsers, or two views for one region at start.
    #[error("invalid endorser set: {0}")]
    InvalidEndorsers(&'static str),
    /// A field of the wrong length or shape.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The body does not decode.
    #[error("cannot decode {0}")]
    Decode(&'static str),
    /// A message larger than the configured limit.
    #[error("message of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message for another turn than the current one.
    #[error("message for turn {got}, current turn is {current}")]
    WrongTurn {
        /// Turn named.
        got: u64,
        /// Current turn.
        current: u64,
    },
    /// The signer is not the current primary (or the local node is asked to act as primary
    /// when it is not).
    #[error("{key} is not the primary of turn {turn}")]
    NotPrimary {
        /// The key (hex).
        key: String,
        /// The turn.
        turn: u64,
    },
    /// A skip from a key that is not an endorser other than the primary.
    #[error("{key} may not sign a skip of turn {turn}")]
    NotEligible {
        /// The key (hex).
        key: String,
        /// The turn.
        turn: u64,
    },
    /// A signature that does not verify.
    #[error("forged {what} signature from {key}")]
    BadSignature {
        /// Which message.
        what: &'static str,
        /// Claimed signer (hex).
        key: String,
    },
    /// A beacon that does not verify or does not match the turn.
    #[error("beacon: {0}")]
    Beacon(#[from] BeaconError),
    /// A beacon for another primary, chain or height than the turn's.
    #[error("beacon does not match the turn's {0}")]
    BeaconMismatch(&'static str),
    /// The same skip twice.
    #[error("duplicate skip from {key}")]
    Duplicate {
        /// The signer (hex).
        key: String,
    },
    /// Two different skips of one turn from one endorser.
    #[error("{key} signed two different skips of turn {turn}")]
    Equivocation {
        /// The signer (hex).
        key: String,
        /// The turn.
        turn: u64,
    },
    /// A claimed chain that contradicts what this node decided.
    #[error("chain conflict at height {height}")]
    ChainConflict {
        /// First height where the claim and the local chain disagree.
        height: u64,
    },
    /// A decided block out of order.
    #[error("decided height {got}, expected {expected}")]
    OutOfOrder {
        /// Height fed.
        got: u64,
        /// Next height this machine expects.
        expected: u64,
    },
    /// An endorser view for a region the network does not have.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    /// An endorser view not newer than the one held.
    #[error("view {got} of region {region:?} is not newer than {held}")]
    StaleView {
        /// The region.
        region: String,
        /// The view offered.
        got: u64,
        /// The view held.
        held: u64,
    },
    /// The local node holds no endorser key.
    #[error("this node is not an endorser")]
    NotAnEndorser,
    /// A skip for a turn whose beacon (and so committee) is known: that turn ends only by its
    /// committee's decision.
    #[error("turn {turn} has a committee; only its committee ends it")]
    BeaconSeen {
        /// The turn.
        turn: u64,
    },
    /// An advance to a turn that is not later than the current one.
    #[error("cannot advance to turn {got} from turn {current}")]
    NotLater {
        /// Turn asked for.
        got: u64,
        /// Current turn.
        current: u64,
    },
}

/// What drives the turn machine.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnInput {
    /// The local primary's blocks are all confirmed: end the turn.
    EndMyTurn,
    /// A primary's signed end-of-turn (body: [`wire::EndTurnBody`]).
    EndTurn(wire::SignedEnvelope),
    /// A primary's beacon for its turn.
    Beacon(wire::BeaconShare),
    /// An endorser's skip of a stalled turn.
    Skip(wire::TurnSkip),
    /// The ledger decided (and verified) a block.
    BlockDecided {
        /// Its height.
        height: u64,
        /// The turn its certificate is for.
        turn: u64,
        /// Its id.
        block_id: Hash32,
    },
    /// The last timer set has fired (or any periodic tick).
    Tick,
    /// A region elected a new endorser (its view certificate verified by the caller).
    ViewChanged(EndorserView),
}

/// Messages the turn machine sends to every node.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnMessage {
    /// The local primary's end of turn.
    EndTurn(wire::SignedEnvelope),
    /// The local primary's beacon.
    Beacon(wire::BeaconShare),
    /// The local endorser's skip.
    Skip(wire::TurnSkip),
}

/// What the turn machine asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnAction {
    /// Feed [`TurnInput::Tick`] at `at_ms`, replacing any earlier timer.
    SetTimer {
        /// Deadline in the driver's milliseconds.
        at_ms: u64,
    },
    /// Send to every node.
    Broadcast(TurnMessage),
    /// A turn began (or its primary changed after an election).
    NewTurn {
        /// The turn.
        turn: u64,
        /// Its primary endorser.
        primary: PublicKey,
        /// First height it decides.
        start_height: u64,
        /// Id of the last decided block before it.
        chain_hash: Hash32,
    },
    /// The turn's beacon verified: this is its orderer committee.
    Committee {
        /// The turn.
        turn: u64,
        /// The committee.
        committee: Committee,
        /// The beacon, to put in commit certificates as evidence.
        beacon: Beacon,
    },
    /// Claims this node must check need decided blocks it lacks: fetch from `from_height`.
    CatchUp {
        /// First missing height.
        from_height: u64,
    },
}

/// Where a turn machine starts: the turn and the decided chain before it, so a restarted node
/// resumes where it was instead of at turn 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnStart {
    /// The turn.
    pub turn: u64,
    /// Its first height.
    pub start_height: u64,
    /// Id of the last decided block before it (genesis id at turn 0).
    pub chain_hash: Hash32,
}

/// Counters for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Messages refused.
    pub rejected: u64,
    /// Turns left by a skip quorum.
    pub skipped_turns: u64,
    /// Skip equivocations seen.
    pub equivocations: u64,
}

/// One node's view of the primary turns.
#[derive(Debug)]
pub struct Turns {
    cfg: ConsensusConfig,
    key: Option<SigningKey>,
    endorsers: BTreeMap<String, EndorserView>,
    eligible: Vec<PublicKey>,
    turn: u64,
    primary: PublicKey,
    start_height: u64,
    chain_hash: Hash32,
    next_height: u64,
    tip: Hash32,
    deadline_ms: u64,
    committee: Option<(Committee, Beacon)>,
    next_beacon: Option<Beacon>,
    pending_end: Option<(u64, Hash32)>,
    my_skip: Option<wire::TurnSkip>,
    skips: BTreeMap<PublicKey, (u64, Hash32)>,
    stats: TurnStats,
}

fn parse_key(bytes: &[u8], what: &'static str) -> Result<PublicKey, TurnError> {
    PublicKey::from_slice(bytes).map_err(|_| TurnError::Malformed(what))
}

fn parse_hash(bytes: &[u8]) -> Result<Hash32, TurnError> {
    Hash32::from_slice(bytes).ok_or(TurnError::Malformed("chain_hash"))
}

fn parse_sig(bytes: &[u8]) -> Result<Signature, TurnError> {
    Signature::from_slice(bytes).map_err(|_| TurnError::Malformed("signature"))
}

impl Turns {
    /// Starts at `start` (from genesis or the node's persisted state). `endorsers` holds one
    /// verified view per region; `eligible` the orderers committees are drawn from; `key` the
    /// local endorser's key (`None` on other nodes).
    pub fn new(
        cfg: ConsensusConfig,
        key: Option<SigningKey>,
        endorsers: Vec<EndorserView>,
        eligible: Vec<PublicKey>,
        start: TurnStart,
        now_ms: u64,
    ) -> Result<(Self, Vec<TurnAction>), TurnError> {
        let TurnStart {
            turn,
            start_height,
            chain_hash,
        } = start;
        let mut map = BTreeMap::new();
        for v in endorsers {
            if map.insert(v.region.clone(), v).is_some() {
                return Err(TurnError::InvalidEndorsers("two views for one region"));
            }
        }
        let first = map
            .values()
            .next()
            .ok_or(TurnError::InvalidEndorsers("no endorsers"))?
            .endorser;
        let mut me = Self {
            cfg,
            key,
            endorsers: map,
            eligible,
            turn,
            primary: first,
            start_height,
            chain_hash,
            next_height: start_height,
            tip: chain_hash,
            deadline_ms: now_ms,
            committee: None,
            next_beacon: None,
            pending_end: None,
            my_skip: None,
            skips: BTreeMap::new(),
            stats: TurnStats::default(),
        };
        let out = me.begin(turn, start_height, chain_hash, now_ms);
        Ok((me, out))
    }

    /// The current turn.
    pub fn turn(&self) -> u64 {
        self.turn
    }

    /// The current primary.
    pub fn primary(&self) -> PublicKey {
        self.primary
    }

    /// The current turn's first height.
    pub fn start_height(&self) -> u64 {
        self.start_height
    }

    /// The current turn's committee, once its beacon verified.
    pub fn committee(&self) -> Option<&Committee> {
        self.committee.as_ref().map(|(c, _)| c)
    }

    /// The first height this node has not seen decided.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }

    /// Counters.
    pub fn stats(&self) -> &TurnStats {
        &self.stats
    }

    /// When the current turn counts as stalled (no progress since then minus the timeout).
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// The current turn's verified beacon, once known.
    pub fn beacon(&self) -> Option<&Beacon> {
        self.committee.as_ref().map(|(_, b)| b)
    }

    /// The id of the last decided block before the current turn.
    pub fn chain_hash(&self) -> Hash32 {
        self.chain_hash
    }

    /// The endorser this node holds for `region`.
    pub fn endorser_of(&self, region: &str) -> Option<&EndorserView> {
        self.endorsers.get(region)
    }

    /// Whether `key` is the current endorser of some region.
    pub fn is_endorser(&self, key: &PublicKey) -> bool {
        self.endorsers.values().any(|v| v.endorser == *key)
    }

    /// Enters the later turn `turn` from (`start_height`, `chain_hash`): its predecessor ended
    /// by a decision of its committee (a decided turn end, or a certificate of a later turn
    /// that proves it). The caller checked the decision; this machine announces the turn, arms
    /// its timer and, on the new primary, signs its beacon.
    pub fn advance(
        &mut self,
        turn: u64,
        start_height: u64,
        chain_hash: Hash32,
        now_ms: u64,
    ) -> Result<Vec<TurnAction>, TurnError> {
        if turn <= self.turn {
            return Err(TurnError::NotLater {
                got: turn,
                current: self.turn,
            });
        }
        if start_height > self.next_height {
            self.next_height = start_height;
            self.tip = chain_hash;
        }
        Ok(self.begin(turn, start_height, chain_hash, now_ms))
    }

    /// The region and endorser holding `turn`, by the fixed region order.
    pub fn primary_of(&self, turn: u64) -> Option<&EndorserView> {
        let n = self.endorsers.len() as u64;
        let i = turn.checked_rem(n)?;
        self.endorsers.values().nth(usize::try_from(i).ok()?)
    }

    fn me(&self) -> Option<PublicKey> {
        self.key.as_ref().map(|k| k.public())
    }

    /// Feeds one input at `now_ms`.
    pub fn handle(&mut self, input: TurnInput, now_ms: u64) -> Result<Vec<TurnAction>, TurnError> {
        let r = match input {
            TurnInput::EndMyTurn => self.end_my_turn(now_ms),
            TurnInput::EndTurn(env) => self.on_end_turn(&env, now_ms),
            TurnInput::Beacon(b) => self.on_beacon(&b),
            TurnInput::Skip(s) => self.on_skip(&s, now_ms),
            TurnInput::BlockDecided {
                height,
                turn,
                block_id,
            } => self.on_decided(height, turn, block_id, now_ms),
            TurnInput::Tick => Ok(self.on_tick(now_ms)),
            TurnInput::ViewChanged(v) => self.on_view(v, now_ms),
        };
        if let Err(e) = &r {
            self.stats.rejected += 1;
            if matches!(e, TurnError::Equivocation { .. }) {
                self.stats.equivocations += 1;
            }
        }
        r
    }

    /// Enters `turn` from the tip (`start_height`, `chain_hash`).
    fn begin(
        &mut self,
        turn: u64,
        start_height: u64,
        chain_hash: Hash32,
        now_ms: u64,
    ) -> Vec<TurnAction> {
        self.turn = turn;
        self.start_height = start_height;
        self.chain_hash = chain_hash;
        self.committee = None;
        self.pending_end = None;
        self.my_skip = None;
        self.skips.clear();
        if let Some(p) = self.primary_of(turn) {
            self.primary = p.endorser;
        }
        self.deadline_ms = now_ms.saturating_add(self.cfg.turn_timeout_ms);
        let mut out = vec![
            TurnAction::NewTurn {
                turn,
                primary: self.primary,
                start_height,
                chain_hash,
            },
            TurnAction::SetTimer {
                at_ms: self.deadline_ms,
            },
        ];
        self.primary_duties(&mut out);
        if let Some(b) = self.next_beacon.take()
            && b.turn == turn
        {
            // Verified on arrival; matched against the turn now.
            let _ = self.accept_beacon(b, &mut out);
        }
        out
    }

    /// If the local node is the primary, sign and announce the turn's beacon.
    fn primary_duties(&mut self, out: &mut Vec<TurnAction>) {
        if let Some(key) = &self.key
            && key.public() == self.primary
        {
            let b = Beacon::sign(key, self.turn, self.chain_hash, self.start_height);
            out.push(TurnAction::Broadcast(TurnMessage::Beacon(b.to_wire())));
            let _ = self.accept_beacon(b, out);
        }
    }

    fn accept_beacon(&mut self, b: Beacon, out: &mut Vec<TurnAction>) -> Result<(), TurnError> {
        if b.primary != self.primary {
            return Err(TurnError::BeaconMismatch("primary"));
        }
        if b.chain_hash != self.chain_hash {
            return Err(TurnError::BeaconMismatch("chain_hash"));
        }
        if b.start_height != self.start_height {
            return Err(TurnError::BeaconMismatch("start_height"));
        }
        if self.committee.is_some() {
            // Ed25519 is deterministic: a second valid beacon is the same beacon.
            return Ok(());
        }
        let committee = turn_committee(&b, &self.eligible, self.cfg.committee_size);
        self.committee = Some((committee.clone(), b.clone()));
        out.push(TurnAction::Committee {
            turn: self.turn,
            committee,
            beacon: b,
        });
        Ok(())
    }

    fn on_beacon(&mut self, share: &wire::BeaconShare) -> Result<Vec<TurnAction>, TurnError> {
        let b = Beacon::from_wire(share)?;
        let mut out = Vec::new();
        if b.turn == self.turn.saturating_add(1) {
            // The next primary may start before this node sees the turn end: keep one.
            if self.endorsers.values().any(|v| v.endorser == b.primary) {
                self.next_beacon = Some(b);
            }
            return Ok(out);
        }
        if b.turn != self.turn {
            return Err(TurnError::WrongTurn {
                got: b.turn,
                current: self.turn,
            });
        }
        self.accept_beacon(b, &mut out)?;
        Ok(out)
    }

    fn end_my_turn(&mut self, now_ms: u64) -> Result<Vec<TurnAction>, TurnError> {
        let key = self.key.as_ref().ok_or(TurnError::NotAnEndorser)?;
        if key.public() != self.primary {
            return Err(TurnError::NotPrimary {
                key: key.public().to_hex(),
                turn: self.turn,
            });
        }
        let env = sign_end_turn(key, self.turn, self.next_height, &self.tip);
        let mut out = vec![TurnAction::Broadcast(TurnMessage::EndTurn(env))];
        out.extend(self.begin(
            self.turn.saturating_add(1),
            self.next_height,
            self.tip,
            now_ms,
        ));
        Ok(out)
    }

    fn on_end_turn(
        &mut self,
        env: &wire::SignedEnvelope,
        now_ms: u64,
    ) -> Result<Vec<TurnAction>, TurnError> {
        if env.body.len() > self.cfg.max_message_bytes {
            return Err(TurnError::TooLarge {
                len: env.body.len(),
                max: self.cfg.max_message_bytes,
            });
        }
        let body = wire::EndTurnBody::decode(env.body.as_slice())
            .map_err(|_| TurnError::Decode("end of turn"))?;
        if body.turn != self.turn {
            return Err(TurnError::WrongTurn {
                got: body.turn,
                current: self.turn,
            });
        }
        let signer = parse_key(&body.primary_key, "primary_key")?;
        if signer != self.primary {
            return Err(TurnError::NotPrimary {
                key: signer.to_hex(),
                turn: self.turn,
            });
        }
        let sig = parse_sig(&env.signature)?;
        signer
            .verify(statement::END_TURN, &env.body, &sig)
            .map_err(|_| TurnError::BadSignature {
                what: "end of turn",
                key: signer.to_hex(),
            })?;
        let hash = parse_hash(&body.chain_hash)?;
        if body.next_height < self.start_height {
            return Err(TurnError::ChainConflict {
                height: body.next_height,
            });
        }
        self.settle_end(body.next_height, hash, now_ms)
    }

    /// Ends the turn at the primary's claimed tip once the local chain confirms it.
    fn settle_end(
        &mut self,
        next_height: u64,
        hash: Hash32,
        now_ms: u64,
    ) -> Result<Vec<TurnAction>, TurnError> {
        if next_height > self.next_height {
            self.pending_end = Some((next_height, hash));
            return Ok(vec![TurnAction::CatchUp {
                from_height: self.next_height,
            }]);
        }
        if next_height < self.next_height || hash != self.tip {
            return Err(TurnError::ChainConflict {
                height: next_height.saturating_sub(1),
            });
        }
        Ok(self.begin(self.turn.saturating_add(1), next_height, hash, now_ms))
    }

    fn on_decided(
        &mut self,
        height: u64,
        turn: u64,
        block_id: Hash32,
        now_ms: u64,
    ) -> Result<Vec<TurnAction>, TurnError> {
        if height != self.next_height {
            return Err(TurnError::OutOfOrder {
                got: height,
                expected: self.next_height,
            });
        }
        self.next_height = height.saturating_add(1);
        self.tip = block_id;
        let mut out = Vec::new();
        if turn == self.turn {
            self.deadline_ms = now_ms.saturating_add(self.cfg.turn_timeout_ms);
            out.push(TurnAction::SetTimer {
                at_ms: self.deadline_ms,
            });
        }
        if let Some((h, hash)) = self.pending_end
            && h == self.next_height
        {
            self.pending_end = None;
            out.extend(self.settle_end(h, hash, now_ms)?);
        }
        Ok(out)
    }

    fn on_tick(&mut self, now_ms: u64) -> Vec<TurnAction> {
        if now_ms < self.deadline_ms {
            return vec![TurnAction::SetTimer {
                at_ms: self.deadline_ms,
            }];
        }
        self.deadline_ms = now_ms.saturating_add(self.cfg.turn_timeout_ms);
        let mut out = vec![TurnAction::SetTimer {
            at_ms: self.deadline_ms,
        }];
        let Some(me) = self.me() else {
            return out;
        };
        if self.committee.is_some() {
            // A turn with a committee is ended by its committee, never by endorser skips.
            return out;
        }
        if me == self.primary || !self.endorsers.values().any(|v| v.endorser == me) {
            return out;
        }
        let skip = match &self.my_skip {
            Some(s) => s.clone(),
            None => match &self.key {
                Some(key) => sign_skip(key, self.turn, self.next_height, &self.tip),
                None => return out,
            },
        };
        out.push(TurnAction::Broadcast(TurnMessage::Skip(skip.clone())));
        if self.my_skip.is_none() {
            self.my_skip = Some(skip.clone());
            if let Ok(more) = self.on_skip(&skip, now_ms) {
                out.extend(more);
            }
        }
        out
    }

    fn on_skip(&mut self, s: &wire::TurnSkip, now_ms: u64) -> Result<Vec<TurnAction>, TurnError> {
        if s.turn != self.turn {
            return Err(TurnError::WrongTurn {
                got: s.turn,
                current: self.turn,
            });
        }
        if self.committee.is_some() {
            return Err(TurnError::BeaconSeen { turn: self.turn });
        }
        let signer = parse_key(&s.signer, "signer")?;
        if signer == self.primary || !self.endorsers.values().any(|v| v.endorser == signer) {
            return Err(TurnError::NotEligible {
                key: signer.to_hex(),
                turn: self.turn,
            });
        }
        let hash = parse_hash(&s.chain_hash)?;
        let sig = parse_sig(&s.signature)?;
        signer
            .verify(
                TURN_SKIP,
                &skip_statement(s.turn, s.next_height, &hash),
                &sig,
            )
            .map_err(|_| TurnError::BadSignature {
                what: "skip",
                key: signer.to_hex(),
            })?;
        if let Some(prev) = self.skips.get(&signer) {
            if *prev == (s.next_height, hash) {
                return Err(TurnError::Duplicate {
                    key: signer.to_hex(),
                });
            }
            return Err(TurnError::Equivocation {
                key: signer.to_hex(),
                turn: self.turn,
            });
        }
        self.skips.insert(signer, (s.next_height, hash));
        let voters = self.endorsers.len().saturating_sub(1);
        let agreeing = self
            .skips
            .values()
            .filter(|v| **v == (s.next_height, hash))
            .count();
        if agreeing * 2 <= voters {
            return Ok(Vec::new());
        }
        // A quorum of endorsers left the turn at this tip.
        if s.next_height < self.next_height {
            return Err(TurnError::ChainConflict {
                height: s.next_height,
            });
        }
        if s.next_height == self.next_height && hash != self.tip {
            return Err(TurnError::ChainConflict {
                height: s.next_height.saturating_sub(1),
            });
        }
        self.stats.skipped_turns += 1;
        let mut out = Vec::new();
        if s.next_height > self.next_height {
            out.push(TurnAction::CatchUp {
                from_height: self.next_height,
            });
        }
        out.extend(self.begin(self.turn.saturating_add(1), s.next_height, hash, now_ms));
        Ok(out)
    }

    fn on_view(&mut self, v: EndorserView, now_ms: u64) -> Result<Vec<TurnAction>, TurnError> {
        let held = self
            .endorsers
            .get(&v.region)
            .ok_or_else(|| TurnError::UnknownRegion(v.region.clone()))?;
        if v.view <= held.view {
            return Err(TurnError::StaleView {
                region: v.region.clone(),
                got: v.view,
                held: held.view,
            });
        }
        let old = held.endorser;
        self.endorsers.insert(v.region.clone(), v);
        self.skips.remove(&old);
        // The new endorser holds its region's future turns. A current turn whose primary was
        // replaced is not taken over (nodes that hold its beacon and nodes that do not would
        // then run two committees for one turn): it ends by its committee's decision, or by
        // endorser skips when it never had a beacon.
        let _ = now_ms;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tagged_hash;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::collections::VecDeque;

    const TIMEOUT: u64 = 10_000;
    const REGIONS: [&str; 4] = ["delta", "alpha", "charlie", "bravo"];

    fn keys(seed: u64, n: usize) -> Vec<SigningKey> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..n).map(|_| SigningKey::generate(&mut rng)).collect()
    }

    fn cfg() -> ConsensusConfig {
        ConsensusConfig {
            committee_size: 4,
            turn_timeout_ms: TIMEOUT,
            ..ConsensusConfig::default()
        }
    }

    fn block(h: u64) -> Hash32 {
        tagged_hash("test-block", &[&h.to_be_bytes()])
    }

    /// Four endorsers, one machine each, connected by a lossless in-order network.
    struct Net {
        endorsers: Vec<SigningKey>,
        machines: Vec<Turns>,
        log: Vec<Vec<TurnAction>>,
        /// Drop every beacon (primaries that withhold them).
        drop_beacons: bool,
    }

    impl Net {
        fn new() -> Self {
            Self::build(false)
        }

        fn build(drop_beacons: bool) -> Self {
            // Regions listed out of order: the machines sort them by name.
            let endorsers = keys(1, 4);
            let views: Vec<EndorserView> = REGIONS
                .iter()
                .zip(&endorsers)
                .map(|(r, k)| EndorserView {
                    region: r.to_string(),
                    view: 0,
                    endorser: k.public(),
                })
                .collect();
            let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
            let start = TurnStart {
                turn: 0,
                start_height: 1,
                chain_hash: block(0),
            };
            let mut net = Net {
                endorsers: endorsers.clone(),
                machines: Vec::new(),
                log: vec![Vec::new(); 4],
                drop_beacons,
            };
            let mut first = Vec::new();
            for (i, k) in endorsers.iter().enumerate() {
                // Each node lists the endorsers in its own order.
                let mut v = views.clone();
                v.rotate_left(i);
                let mut e = eligible.clone();
                e.rotate_left(i * 3);
                let (m, acts) =
                    Turns::new(cfg(), Some(k.clone()), v, e, start, 0).expect("valid set");
                net.machines.push(m);
                first.push(acts);
            }
            for (i, acts) in first.into_iter().enumerate() {
                net.dispatch(i, acts, 0);
            }
            net
        }

        /// Index of the machine whose key is `k`.
        fn index(&self, k: &PublicKey) -> Option<usize> {
            self.endorsers.iter().position(|e| e.public() == *k)
        }

        fn input(&mut self, i: usize, input: TurnInput, now: u64) -> Result<(), TurnError> {
            let acts = self.machines[i].handle(input, now)?;
            self.dispatch(i, acts, now);
            Ok(())
        }

        fn all(&mut self, input: TurnInput, now: u64) {
            for i in 0..self.machines.len() {
                self.input(i, input.clone(), now).expect("accepted");
            }
        }

        fn dispatch(&mut self, from: usize, acts: Vec<TurnAction>, now: u64) {
            let mut queue: VecDeque<(usize, TurnAction)> =
                acts.into_iter().map(|a| (from, a)).collect();
            while let Some((src, a)) = queue.pop_front() {
                if let TurnAction::Broadcast(msg) = &a {
                    if self.drop_beacons && matches!(msg, TurnMessage::Beacon(_)) {
                        self.log[src].push(a);
                        continue;
                    }
                    for j in 0..self.machines.len() {
                        if j == src {
                            continue;
                        }
                        let input = match msg {
                            TurnMessage::EndTurn(e) => TurnInput::EndTurn(e.clone()),
                            TurnMessage::Beacon(b) => TurnInput::Beacon(b.clone()),
                            TurnMessage::Skip(s) => TurnInput::Skip(s.clone()),
                        };
                        // Late skips of a turn already left are refused; that is expected.
                        if let Ok(r) = self.machines[j].handle(input, now) {
                            queue.extend(r.into_iter().map(|x| (j, x)));
                        }
                    }
                }
                self.log[src].push(a);
            }
        }

        /// (turn, primary, committee) as every machine sees it now.
        fn views(&self) -> Vec<(u64, PublicKey, Option<Committee>)> {
            self.machines
                .iter()
                .map(|m| (m.turn(), m.primary(), m.committee().cloned()))
                .collect()
        }
    }

    fn sorted_endorsers(net: &Net) -> Vec<PublicKey> {
        let mut by_region: Vec<(&str, PublicKey)> = REGIONS
            .iter()
            .zip(&net.endorsers)
            .map(|(r, k)| (*r, k.public()))
            .collect();
        by_region.sort();
        by_region.into_iter().map(|(_, k)| k).collect()
    }

    #[test]
    fn primaries_rotate_and_committees_agree_and_change() {
        let mut net = Net::new();
        let order = sorted_endorsers(&net);
        let mut committees = Vec::new();
        let mut height = 1;
        let mut now = 0;
        for turn in 0..9u64 {
            let v = net.views();
            assert!(
                v.iter().all(|x| *x == v[0]),
                "nodes disagree in turn {turn}"
            );
            assert_eq!(v[0].0, turn);
            assert_eq!(v[0].1, order[(turn % 4) as usize], "fixed order by region");
            let committee = v[0].2.clone().expect("beacon delivered");
            assert_eq!(committee.len(), 4);
            // It is the one Beacon::sign(primary, turn, chain, start).seed() selects.
            let start = net.machines[0].start_height();
            let p = net.index(&v[0].1).expect("primary is a machine");
            let seed = Beacon::sign(&net.endorsers[p], turn, block(start - 1), start).seed();
            let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
            assert_eq!(committee, select_committee(&seed, &eligible, 4));
            committees.push(committee);
            // The turn decides two blocks, then its primary ends it.
            for _ in 0..2 {
                now += 100;
                net.all(
                    TurnInput::BlockDecided {
                        height,
                        turn,
                        block_id: block(height),
                    },
                    now,
                );
                height += 1;
            }
            let p = net.index(&v[0].1).expect("primary is a machine");
            net.input(p, TurnInput::EndMyTurn, now)
                .expect("primary ends");
            assert_eq!(net.machines[0].start_height(), height);
        }
        for w in committees.windows(2) {
            assert_ne!(w[0], w[1], "consecutive turns drew the same committee");
        }
        // Every machine announced the same sequence of turns.
        let turns = |i: usize| -> Vec<(u64, PublicKey, u64)> {
            net.log[i]
                .iter()
                .filter_map(|a| match a {
                    TurnAction::NewTurn {
                        turn,
                        primary,
                        start_height,
                        ..
                    } => Some((*turn, *primary, *start_height)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(turns(0).len(), 10);
        for i in 1..4 {
            assert_eq!(turns(i), turns(0));
        }
        // The committee helper is what nodes use.
        let b = Beacon::sign(&net.endorsers[0], 3, block(3), 4);
        let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
        let mut rev = eligible.clone();
        rev.reverse();
        assert_eq!(
            turn_committee(&b, &eligible, 4),
            turn_committee(&b, &rev, 4)
        );
    }

    #[test]
    fn forged_or_foreign_end_of_turn_is_refused_and_a_valid_one_advances() {
        let mut net = Net::new();
        let order = sorted_endorsers(&net);
        let primary = net.index(&order[0]).expect("machine");
        let other = net.index(&order[1]).expect("machine");
        let observer = (0..4).find(|i| *i != primary && *i != other).expect("3rd");
        net.all(
            TurnInput::BlockDecided {
                height: 1,
                turn: 0,
                block_id: block(1),
            },
            50,
        );
        let m = &mut net.machines[observer];

        let mut forged = sign_end_turn(&net.endorsers[primary], 0, 2, &block(1));
        forged.signature[3] ^= 1;
        assert!(matches!(
            m.handle(TurnInput::EndTurn(forged), 60),
            Err(TurnError::BadSignature { .. })
        ));
        // A valid signature over a body the primary never signed.
        let mut tampered = sign_end_turn(&net.endorsers[primary], 0, 2, &block(1));
        tampered.body = sign_end_turn(&net.endorsers[primary], 0, 3, &block(1)).body;
        assert!(matches!(
            m.handle(TurnInput::EndTurn(tampered), 60),
            Err(TurnError::BadSignature { .. })
        ));
        let foreign = sign_end_turn(&net.endorsers[other], 0, 2, &block(1));
        assert!(matches!(
            m.handle(TurnInput::EndTurn(foreign), 60),
            Err(TurnError::NotPrimary { turn: 0, .. })
        ));
        let wrong_turn = sign_end_turn(&net.endorsers[primary], 1, 2, &block(1));
        assert!(matches!(
            m.handle(TurnInput::EndTurn(wrong_turn), 60),
            Err(TurnError::WrongTurn { got: 1, current: 0 })
        ));
        // A chain this node did not decide.
        let lie = sign_end_turn(&net.endorsers[primary], 0, 2, &block(77));
        assert!(matches!(
            m.handle(TurnInput::EndTurn(lie), 60),
            Err(TurnError::ChainConflict { .. })
        ));
        let garbage = wire::SignedEnvelope {
            body: vec![0xff, 0xff, 0xff],
            signature: vec![1, 2],
        };
        assert_eq!(
            m.handle(TurnInput::EndTurn(garbage), 60),
            Err(TurnError::Decode("end of turn"))
        );
        assert_eq!(m.turn(), 0, "nothing refused moved the turn");
        assert_eq!(m.stats().rejected, 6);

        let good = sign_end_turn(&net.endorsers[primary], 0, 2, &block(1));
        let acts = m.handle(TurnInput::EndTurn(good), 60).expect("valid");
        assert!(acts.contains(&TurnAction::NewTurn {
            turn: 1,
            primary: order[1],
            start_height: 2,
            chain_hash: block(1),
        }));
        assert_eq!(m.primary(), order[1]);
    }

    #[test]
    fn end_of_turn_ahead_of_the_local_chain_waits_for_catch_up() {
        let mut net = Net::new();
        let order = sorted_endorsers(&net);
        let primary = net.index(&order[0]).expect("machine");
        let m = &mut net.machines[(primary + 1) % 4];
        let end = sign_end_turn(&net.endorsers[primary], 0, 3, &block(2));
        assert_eq!(
            m.handle(TurnInput::EndTurn(end), 10),
            Ok(vec![TurnAction::CatchUp { from_height: 1 }])
        );
        assert_eq!(m.turn(), 0);
        for h in 1..=2 {
            m.handle(
                TurnInput::BlockDecided {
                    height: h,
                    turn: 0,
                    block_id: block(h),
                },
                20,
            )
            .expect("in order");
        }
        assert_eq!((m.turn(), m.start_height()), (1, 3));
        assert_eq!(
            m.handle(
                TurnInput::BlockDecided {
                    height: 9,
                    turn: 1,
                    block_id: block(9),
                },
                30
            ),
            Err(TurnError::OutOfOrder {
                got: 9,
                expected: 3
            })
        );
    }

    #[test]
    fn a_stalled_primary_loses_its_turn_after_the_timeout() {
        // The primaries withhold their beacons: no committee, so endorser skips end the turn.
        let mut net = Net::build(true);
        let order = sorted_endorsers(&net);
        let p0 = net.index(&order[0]).expect("machine");
        let others: Vec<usize> = (0..4).filter(|i| *i != p0).collect();
        // Progress at 5s pushes the deadline to 15s.
        net.all(
            TurnInput::BlockDecided {
                height: 1,
                turn: 0,
                block_id: block(1),
            },
            5_000,
        );
        for &i in &others {
            net.input(i, TurnInput::Tick, TIMEOUT + 1).expect("tick");
        }
        assert!(net.views().iter().all(|v| v.0 == 0), "not stalled yet");
        // After the timeout one skip (of three voters) is not enough...
        net.input(others[0], TurnInput::Tick, 15_000).expect("tick");
        assert!(net.views().iter().all(|v| v.0 == 0));
        // ...two are: every node moves to the next endorser from the decided tip.
        net.input(others[1], TurnInput::Tick, 15_000).expect("tick");
        // (The stalled primary holds its own beacon, so it does not take skips: a consensus
        // node leaves such a turn by the next turn's certificates.)
        let all = net.views();
        let v: Vec<_> = others.iter().map(|i| all[*i].clone()).collect();
        assert!(
            v.iter().all(|x| (x.0, x.1) == (v[0].0, v[0].1)),
            "nodes disagree after skip"
        );
        assert_eq!(v[0].0, 1);
        assert_eq!(v[0].1, order[1]);
        assert!(others.iter().all(|i| net.machines[*i].start_height() == 2));
        assert_eq!(net.machines[others[2]].stats().skipped_turns, 1);

        // The stalled primary itself may not sign a skip, and skips are verified.
        let p1 = net.index(&order[1]).expect("machine");
        // A machine that holds no beacon of turn 1 (not its primary).
        let q = *others.iter().find(|i| **i != p1).expect("a third endorser");
        let m = &mut net.machines[q];
        assert!(matches!(
            m.handle(
                TurnInput::Skip(sign_skip(&net.endorsers[p1], 1, 2, &block(1))),
                16_000
            ),
            Err(TurnError::NotEligible { .. })
        ));
        let mut forged = sign_skip(&net.endorsers[p0], 1, 2, &block(1));
        forged.signature[0] ^= 1;
        assert!(matches!(
            m.handle(TurnInput::Skip(forged), 16_000),
            Err(TurnError::BadSignature { .. })
        ));
        let outsider = &keys(9, 1)[0];
        assert!(matches!(
            m.handle(
                TurnInput::Skip(sign_skip(outsider, 1, 2, &block(1))),
                16_000
            ),
            Err(TurnError::NotEligible { .. })
        ));
        m.handle(
            TurnInput::Skip(sign_skip(&net.endorsers[p0], 1, 2, &block(1))),
            16_000,
        )
        .expect("first skip");
        assert!(matches!(
            m.handle(
                TurnInput::Skip(sign_skip(&net.endorsers[p0], 1, 5, &block(4))),
                16_000
            ),
            Err(TurnError::Equivocation { turn: 1, .. })
        ));
        assert_eq!(
            m.turn(),
            1,
            "one skip and one refused equivocation: no quorum"
        );
    }

    #[test]
    fn skips_are_refused_once_the_turn_has_a_committee() {
        let mut net = Net::new();
        let order = sorted_endorsers(&net);
        let p0 = net.index(&order[0]).expect("machine");
        let other = (p0 + 1) % 4;
        let m = &mut net.machines[other];
        assert!(m.committee().is_some());
        assert_eq!(
            m.handle(
                TurnInput::Skip(sign_skip(&net.endorsers[(p0 + 2) % 4], 0, 1, &block(0))),
                TIMEOUT
            ),
            Err(TurnError::BeaconSeen { turn: 0 })
        );
        // Its own timeout signs nothing either.
        let acts = m.handle(TurnInput::Tick, 2 * TIMEOUT).expect("tick");
        assert!(
            acts.iter()
                .all(|a| !matches!(a, TurnAction::Broadcast(TurnMessage::Skip(_))))
        );
        // The committee's decision moves it on.
        let acts = m.advance(1, 1, block(0), 2 * TIMEOUT).expect("later turn");
        assert!(acts.contains(&TurnAction::NewTurn {
            turn: 1,
            primary: order[1],
            start_height: 1,
            chain_hash: block(0),
        }));
        assert!(matches!(
            m.advance(1, 1, block(0), 2 * TIMEOUT),
            Err(TurnError::NotLater { .. })
        ));
    }

    #[test]
    fn a_new_endorser_takes_its_regions_place() {
        let mut net = Net::new();
        let order = sorted_endorsers(&net);
        // "bravo" (second in order) elects a newcomer in view 1.
        let newcomer = keys(5, 1).remove(0);
        let view = EndorserView {
            region: "bravo".to_string(),
            view: 1,
            endorser: newcomer.public(),
        };
        let bravo_old = net
            .endorsers
            .iter()
            .zip(REGIONS)
            .find(|(_, r)| *r == "bravo")
            .map(|(k, _)| k.public())
            .expect("bravo");
        assert_eq!(order[1], bravo_old);
        net.all(TurnInput::ViewChanged(view.clone()), 100);
        let m = &mut net.machines[0];
        assert!(matches!(
            m.handle(TurnInput::ViewChanged(view.clone()), 100),
            Err(TurnError::StaleView { .. })
        ));
        assert!(matches!(
            m.handle(
                TurnInput::ViewChanged(EndorserView {
                    region: "zulu".into(),
                    ..view
                }),
                100
            ),
            Err(TurnError::UnknownRegion(_))
        ));
        let p0 = net.index(&order[0]).expect("machine");
        net.input(p0, TurnInput::EndMyTurn, 200)
            .expect("end turn 0");
        let v = net.views();
        assert!(v.iter().all(|x| x.0 == 1 && x.1 == newcomer.public()));
        assert!(v.iter().all(|x| x.2.is_none()), "beacon not yet received");
        // The replaced endorser cannot end the turn; the newcomer's beacon and end are taken.
        let old = net.index(&bravo_old).expect("machine");
        let m = &mut net.machines[p0];
        assert!(matches!(
            m.handle(
                TurnInput::EndTurn(sign_end_turn(&net.endorsers[old], 1, 1, &block(0))),
                300
            ),
            Err(TurnError::NotPrimary { .. })
        ));
        let beacon = Beacon::sign(&newcomer, 1, block(0), 1);
        let acts = m
            .handle(TurnInput::Beacon(beacon.to_wire()), 300)
            .expect("beacon");
        assert!(matches!(
            acts.as_slice(),
            [TurnAction::Committee { turn: 1, .. }]
        ));
        // A beacon by someone else for this turn is refused.
        assert_eq!(
            m.handle(
                TurnInput::Beacon(Beacon::sign(&net.endorsers[old], 1, block(0), 1).to_wire()),
                300
            ),
            Err(TurnError::BeaconMismatch("primary"))
        );
        let acts = m
            .handle(
                TurnInput::EndTurn(sign_end_turn(&newcomer, 1, 1, &block(0))),
                400,
            )
            .expect("newcomer ends its turn");
        assert!(acts.iter().any(|a| matches!(
            a,
            TurnAction::NewTurn { turn: 2, primary, .. } if *primary == order[2]
        )));
    }

    #[test]
    fn half_of_the_other_endorsers_cannot_skip_a_turn() {
        // Five regions: four endorsers besides the primary vote; two is exactly half.
        let k = keys(11, 5);
        let views: Vec<EndorserView> = ["a", "b", "c", "d", "e"]
            .iter()
            .zip(&k)
            .map(|(r, k)| EndorserView {
                region: r.to_string(),
                view: 0,
                endorser: k.public(),
            })
            .collect();
        let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
        let start = TurnStart {
            turn: 0,
            start_height: 1,
            chain_hash: block(0),
        };
        let (mut m, _) = Turns::new(cfg(), None, views, eligible, start, 0).expect("set");
        assert_eq!(m.primary(), k[0].public());
        for i in [1, 2] {
            let acts = m
                .handle(TurnInput::Skip(sign_skip(&k[i], 0, 1, &block(0))), TIMEOUT)
                .expect("skip");
            assert!(acts.is_empty());
        }
        // A skip at another tip does not add to the quorum for this one.
        m.handle(TurnInput::Skip(sign_skip(&k[3], 0, 2, &block(1))), TIMEOUT)
            .expect("skip");
        assert_eq!(m.turn(), 0);
        let acts = m
            .handle(TurnInput::Skip(sign_skip(&k[4], 0, 1, &block(0))), TIMEOUT)
            .expect("skip");
        assert!(acts.contains(&TurnAction::NewTurn {
            turn: 1,
            primary: k[1].public(),
            start_height: 1,
            chain_hash: block(0),
        }));
        // An observer (no key) never signs a skip, it only re-arms its timer.
        assert_eq!(
            m.handle(TurnInput::Tick, 10 * TIMEOUT),
            Ok(vec![TurnAction::SetTimer {
                at_ms: 11 * TIMEOUT
            }])
        );
    }
}
