//! Primary turns, as a pure state machine run by every node.
//!
//! The elected endorsers (one per region) become primary in a fixed order: by region name, turn
//! `t` belongs to region `regions[t % n]`, held by that region's endorser of the highest view
//! this node has verified. Turn numbers only increase. Every node feeds the same inputs and
//! computes the same primary and the same orderer committee.
//!
//! * **A primary deposed mid-turn.** A region may elect a new endorser while its turn runs;
//!   nodes that began the turn before the view certificate reached them hold the deposed one.
//!   While a node has accepted no beacon for the turn, the turn passes to the new endorser
//!   (its beacon is taken, or kept until the certificate arrives); once it has one, the turn
//!   ends by that committee's decision. Each node still accepts one beacon per turn.
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

use super::beacon::Beacon;
use super::committee::{Committee, select_committee};
use super::config::ConsensusConfig;
use super::election::EndorserView;
use super::statement;
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::wire;
use prost::Message;
use std::collections::BTreeMap;

mod error;
pub use error::TurnError;

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
    /// A verified beacon of the current turn by an endorser other than the primary held, kept
    /// (no committee yet) until a view certificate makes its signer the turn's endorser.
    newer_beacon: Option<Beacon>,
    /// The endorsers this node has held as the current turn's primary, the one it began with
    /// first: until the turn has a beacon, a beacon by any of them is the turn's.
    held_primaries: Vec<PublicKey>,
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
            newer_beacon: None,
            held_primaries: Vec::new(),
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

    /// The turn before the current one ended at `start_height` (its primary's last block was
    /// decided just below it) although this node began the current turn lower down: it left
    /// the previous turn on an endorser skip quorum that raced the previous primary's beacon,
    /// and the committee drawn from that beacon went on to decide the block. The current turn
    /// begins again where the chain says it does (a primary re-signs its beacon for that
    /// start; the beacon it signed for the lower one matches nothing any more).
    ///
    /// Refused unless `ended` is the previous turn and `start_height` is above the current
    /// turn's start: it never moves a turn back, and a block the current turn's own committee
    /// decided is not one of the previous turn.
    pub fn rebase(
        &mut self,
        ended: u64,
        start_height: u64,
        chain_hash: Hash32,
        now_ms: u64,
    ) -> Result<Vec<TurnAction>, TurnError> {
        if ended.saturating_add(1) != self.turn || start_height <= self.start_height {
            return Err(TurnError::NotLater {
                got: ended.saturating_add(1),
                current: self.turn,
            });
        }
        if start_height > self.next_height {
            self.next_height = start_height;
            self.tip = chain_hash;
        }
        Ok(self.begin(self.turn, start_height, chain_hash, now_ms))
    }

    /// Installs a decided reconfiguration's parameters and orderer pool. Committees drawn from
    /// now on use them; the current turn's committee, already drawn, stays (the block that
    /// reconfigures ends the turn, so the new pool's first committee is the next turn's).
    pub fn reconfigure(&mut self, cfg: ConsensusConfig, eligible: Vec<PublicKey>) {
        self.cfg = cfg;
        self.eligible = eligible;
    }

    /// A region that starts taking turns (a decided reconfiguration gave it its first
    /// endorser candidate), held by `view` — its first candidate at view 0, which every node
    /// derives from the same configuration, so all agree on its turns' primary before its
    /// election's certificate reaches them. Its turns start with the next turn (the block that
    /// added it ended the current one). A region already held is left as it is.
    pub fn add_region(&mut self, view: EndorserView) {
        self.endorsers.entry(view.region.clone()).or_insert(view);
    }

    /// Brings the current turn's stall deadline forward to `at_ms` (the driver lost its
    /// primary): endorsers sign their skips then instead of at the turn timeout.
    pub fn hasten(&mut self, at_ms: u64) -> Vec<TurnAction> {
        if at_ms >= self.deadline_ms {
            return Vec::new();
        }
        self.deadline_ms = at_ms;
        vec![TurnAction::SetTimer { at_ms }]
    }

    /// Sets the local endorser's key: a node certified as an endorser candidate by a decided
    /// reconfiguration signs its turns' beacons from now on; one no longer a candidate stops.
    pub fn set_key(&mut self, key: Option<SigningKey>) {
        self.key = key;
    }

    /// A node restarted in the middle of `turn` starts this machine at its ledger tip, but the
    /// turn began lower: sets where it began (the tip certificate's beacon evidence, which the
    /// turn's committee certified), so the turn's beacon matches again and the node rejoins
    /// its committee. The chain position stays at the tip. Ignored once the committee is
    /// known, for another turn, or for a start above the current one.
    pub fn resume_turn(&mut self, turn: u64, start_height: u64, chain_hash: Hash32) {
        if turn == self.turn && self.committee.is_none() && start_height <= self.start_height {
            self.start_height = start_height;
            self.chain_hash = chain_hash;
        }
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
            TurnInput::Beacon(b) => self.on_beacon(&b, now_ms),
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
        self.newer_beacon = None;
        self.pending_end = None;
        self.my_skip = None;
        self.skips.clear();
        if let Some(p) = self.primary_of(turn) {
            self.primary = p.endorser;
        }
        self.held_primaries = vec![self.primary];
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

    fn on_beacon(
        &mut self,
        share: &wire::BeaconShare,
        now_ms: u64,
    ) -> Result<Vec<TurnAction>, TurnError> {
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
        if b.primary != self.primary && self.committee.is_none() {
            // The turn's region elected its signer after this node began the turn (with the
            // endorser it deposed): take the turn over if this node holds that view already,
            // else keep the beacon until the view certificate arrives. Or the signer is the
            // deposed endorser, whose beacon went out before the election and drew the
            // committee the other nodes hold (this node missed it, e.g. while restarting):
            // the turn is that beacon's.
            if self.turn_endorser() == Some(b.primary) || self.held_primaries.contains(&b.primary) {
                self.take_over(b.primary, now_ms, &mut out);
                self.accept_beacon(b, &mut out)?;
            } else {
                self.newer_beacon = Some(b);
            }
            return Ok(out);
        }
        self.accept_beacon(b, &mut out)?;
        Ok(out)
    }

    /// The endorser this node holds for the current turn's region (the primary unless the
    /// region elected another since the turn began).
    fn turn_endorser(&self) -> Option<PublicKey> {
        self.primary_of(self.turn).map(|v| v.endorser)
    }

    /// The current turn, begun with an endorser its region has deposed since and without a
    /// beacon, passes to the endorser elected in its place: it signs the beacon (on its own
    /// node) and gets a full turn timeout.
    ///
    /// Why this is safe: a node takes a turn over only while it has accepted no beacon for it,
    /// and it never accepts a second one, so every honest orderer joins at most one committee
    /// per turn, as before. Nodes that began the turn after the election hold the new endorser
    /// already; without the take-over, the nodes that began it just before held the deposed
    /// (often dead) one, refused the new endorser's beacon and could not skip the turn either
    /// (the other endorsers held its committee): the turn stalled until the deposed endorser
    /// came back.
    fn take_over(&mut self, primary: PublicKey, now_ms: u64, out: &mut Vec<TurnAction>) {
        self.primary = primary;
        if !self.held_primaries.contains(&primary) {
            self.held_primaries.push(primary);
        }
        // The new primary's skip of its own turn no longer counts.
        self.skips.remove(&primary);
        self.deadline_ms = now_ms.saturating_add(self.cfg.turn_timeout_ms);
        out.push(TurnAction::NewTurn {
            turn: self.turn,
            primary,
            start_height: self.start_height,
            chain_hash: self.chain_hash,
        });
        out.push(TurnAction::SetTimer {
            at_ms: self.deadline_ms,
        });
        self.primary_duties(out);
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
        let new = v.endorser;
        self.endorsers.insert(v.region.clone(), v);
        self.skips.remove(&old);
        // The new endorser holds its region's future turns. A current turn of its region that
        // has a beacon ends by its committee's decision; one without a beacon passes to it
        // ([`Self::take_over`]), with its beacon if it came first.
        let mut out = Vec::new();
        if self.committee.is_none() && self.primary != new && self.turn_endorser() == Some(new) {
            self.take_over(new, now_ms, &mut out);
            if let Some(b) = self.newer_beacon.take()
                && b.primary == new
            {
                self.accept_beacon(b, &mut out)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
