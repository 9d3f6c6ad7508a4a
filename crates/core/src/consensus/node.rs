//! [`ConsensusNode`]: the one composite machine a live node and the simulator both drive.
//!
//! It owns a node's regional elections (one [`Election`] per region: a voter in its own region,
//! an observer elsewhere), the primary [`Turns`], the turn's PBFT [`Replica`] when the node sits
//! in the turn's committee, and catch-up. Like every machine here it takes `(input, now_ms)` and
//! returns [`NodeAction`]s: no I/O, no clock, no randomness.
//!
//! # How turns hand over
//!
//! A turn whose beacon is known (so it has a committee) ends only by a value its committee
//! decides with PBFT: the primary's block flagged `last_of_turn` (the turn ends with it, and
//! the next starts one height up), or a `TurnEnd` at the next height, carrying the primary's
//! signed end of turn when the primary ended it with nothing to propose, or none when the
//! committee skips a stalled primary (no progress
//! for half of `turn_timeout_ms` on the members that prepare it, the full timeout on the leader
//! that proposes it) or one its region replaced. PBFT decides one value per height, so once a
//! turn end is decided at height `h`, no block of that turn can ever be decided at `h` or above:
//! a late block of a skipped turn cannot conflict with the next turn's block. The turn end
//! takes no ledger height (the next turn's first block is at `h`), is not handed to the driver
//! as [`NodeAction::Decided`], and is served by the node itself to peers that catch up. A
//! certificate of a later turn also proves that the earlier turns ended (its committee only ran
//! after seeing them end), so a node that missed a turn end follows the chain anyway.
//!
//! A turn whose primary never produces its beacon has no committee and decides nothing; the
//! other endorsers' signed skips ([`Turns`]) move every node on. A region's newly elected
//! endorser holds that region's later turns; it does not take over a turn in progress.
//! Residual risk, documented: a Byzantine primary that shows its beacon to (at least 2f+1 of)
//! its committee but withholds it from a majority of the endorsers while the network is
//! asynchronous could let both an endorser-skip quorum and its committee act for one turn;
//! committee members repeat the beacon every `turn_timeout_ms` to close that window in
//! practice.
//!
//! # Elections
//!
//! On start every voter votes for its region's first candidate (preference order), so a fresh
//! network elects without coordination; the winning votes form a view certificate that is
//! broadcast to every node. In round `r` voters vote for the candidate at `r` in the preference
//! order rotated by `r`, skipping the one declared crashed: after a crash signal quorum the next
//! candidate, and after a split round that timed out (`turn_timeout_ms`, doubling) again one
//! deterministic choice. Turn messages that arrive before every region has a verified endorser
//! wait in a bounded buffer.

use super::beacon::Beacon;
use super::catchup::CatchUp;
use super::certificate;
use super::committee::Committee;
use super::config::ConsensusConfig;
use super::election::{
    Election, ElectionAction, ElectionError, ElectionInput, ElectionMessage, EndorserView,
};
use super::pbft::{PbftMessage, Replica, ReplicaAction, ReplicaInput, ValueCheck};
use super::statement;
use super::turns::{self, TurnAction, TurnError, TurnInput, TurnMessage, TurnStart, Turns};
use super::validator::InvalidProposal;
use crate::hash::{Hash32, tagged_hash};
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::wire;
use crate::wire::consensus_message::Kind;
use prost::Message;
use std::collections::{BTreeMap, VecDeque};

/// Messages kept while the node cannot place them yet (endorsers unknown, or a later turn).
const EARLY_CAPACITY: usize = 1024;
/// Decided values kept to answer peers (and turn ends, which the driver's ledger lacks).
const RECENT_CAPACITY: usize = 64;

/// One region as genesis describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSetup {
    /// Its name (turn order is by name).
    pub name: String,
    /// Nodes that vote in its elections; a strict majority elects.
    pub voters: Vec<PublicKey>,
    /// Endorser candidates, in preference order (who is voted for first).
    pub candidates: Vec<PublicKey>,
}

/// Everything a node needs to start consensus.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    /// Network-wide parameters (from genesis).
    pub cfg: ConsensusConfig,
    /// This node's key.
    pub key: SigningKey,
    /// This node's region.
    pub region: String,
    /// Whether it votes in its region's election.
    pub voter: bool,
    /// Whether it is an endorser candidate of its region.
    pub endorser: bool,
    /// Whether it is an eligible orderer.
    pub orderer: bool,
    /// Every region.
    pub regions: Vec<RegionSetup>,
    /// The eligible orderers committees are drawn from.
    pub orderers: Vec<PublicKey>,
    /// Where to start: genesis, or the node's persisted ledger tip.
    pub start: TurnStart,
}

/// What drives a [`ConsensusNode`]. (Messages travel unboxed: the agreed driver API, and an
/// input lives only for one call.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum NodeInput {
    /// Anything received from `from` (sender authenticated by the transport; every signature
    /// inside is still checked).
    Message {
        /// The transport-authenticated sender.
        from: PublicKey,
        /// The message.
        msg: wire::ConsensusMessage,
    },
    /// The timer fired (or any periodic tick).
    Tick,
    /// The local primary's next block (opaque, an encoded block) at `height`, in answer to
    /// [`NodeAction::NeedProposal`].
    Propose {
        /// Its height.
        height: u64,
        /// The encoded block.
        payload: Vec<u8>,
        /// The primary's last block of the turn: once decided, the turn ends with it (no
        /// separate turn-end round, which cost every turn a whole PBFT round).
        last_of_turn: bool,
    },
    /// The local primary has nothing more to propose this turn.
    EndMyTurn,
    /// The driver verified and committed a decided block (after [`NodeAction::Decided`], or
    /// from its own catch-up).
    Committed {
        /// Its height.
        height: u64,
        /// Its id.
        block_id: Hash32,
        /// The turn its certificate is for.
        turn: u64,
        /// Whether the block ends its turn ([`ChainValidator::ends_turn`] of its payload).
        last_of_turn: bool,
    },
    /// The driver's failure detector: `region`'s endorser looks crashed.
    SuspectEndorser {
        /// The region.
        region: String,
    },
}

/// What a [`ConsensusNode`] asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeAction {
    /// Send to every consensus node (gossip or direct sends).
    Broadcast(wire::ConsensusMessage),
    /// Send to one node.
    Send {
        /// The recipient.
        to: PublicKey,
        /// The message.
        msg: wire::ConsensusMessage,
    },
    /// Send to these nodes (a turn's committee); a gossip driver may broadcast instead.
    Multicast {
        /// The recipients.
        to: Vec<PublicKey>,
        /// The message.
        msg: wire::ConsensusMessage,
    },
    /// Feed [`NodeInput::Tick`] at `at_ms`, replacing any earlier timer.
    SetTimer {
        /// Deadline in the driver's milliseconds.
        at_ms: u64,
    },
    /// A block is decided and its certificate verified: check the payload, commit it, then feed
    /// [`NodeInput::Committed`]. Decisions come in height order, each once.
    Decided(Box<wire::DecidedValue>),
    /// The local endorser is the primary of `turn`: answer [`NodeAction::NeedProposal`] with
    /// [`NodeInput::Propose`] or [`NodeInput::EndMyTurn`].
    MyTurn {
        /// The turn.
        turn: u64,
        /// Its first height.
        start_height: u64,
        /// Id of the block before it.
        chain_hash: Hash32,
    },
    /// The primary may propose `height` now; `previous` is the id at `height - 1`.
    NeedProposal {
        /// The turn.
        turn: u64,
        /// The height to fill.
        height: u64,
        /// The block it must extend.
        previous: Hash32,
    },
    /// A new turn (committee `None`), or its committee became known.
    TurnChanged {
        /// The turn.
        turn: u64,
        /// Its primary.
        primary: PublicKey,
        /// Its committee once the beacon verified.
        committee: Option<Vec<PublicKey>>,
    },
    /// A region's endorser was elected (verified view certificate).
    Elected {
        /// The region.
        region: String,
        /// The election round.
        view: u64,
        /// The endorser.
        endorser: PublicKey,
    },
    /// Fetch decided values from `from_height` (send a `CatchUpRequest` to a peer) and feed the
    /// answer back as [`NodeInput::Message`].
    CatchUp {
        /// First missing height.
        from_height: u64,
    },
    /// An input was refused (for metrics).
    Rejected {
        /// Why, as a fixed label.
        reason: &'static str,
    },
}

/// The driver's check of an opaque payload: decodes it as a block, checks that it is for
/// `height`, extends `previous`, and is valid; returns its id (what certificates sign).
pub trait ChainValidator {
    /// The block's id or why it is refused.
    fn validate(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal>;

    /// The id of a block whose commit certificate this node has already checked: 2f+1 of the
    /// committee validated exactly these bytes before committing, so a node following the chain
    /// need not repeat their work (on a ledger block, two signature checks per event on every
    /// node). The default re-validates, for validators whose check is cheap.
    fn decided_id(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        self.validate(height, previous, payload, now_ms)
    }

    /// Whether the payload is its primary's last block of the turn. The flag must be bound by
    /// the id `validate` returns (a ledger block carries it in its header), so that every node
    /// that follows a certificate agrees on where the turn ended; the primary's proposal must
    /// say the same.
    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal>;
}

/// Why a node could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConsensusError {
    /// No regions configured.
    #[error("no regions configured")]
    NoRegions,
    /// The node's own region is not among the regions.
    #[error("region {0:?} is not configured")]
    UnknownRegion(String),
    /// A region's voters or candidates are unusable.
    #[error("region {region:?}: {source}")]
    Region {
        /// The region.
        region: String,
        /// Why.
        source: ElectionError,
    },
    /// Two regions with one name.
    #[error("region {0:?} configured twice")]
    DuplicateRegion(String),
    /// No eligible orderers.
    #[error("no eligible orderers")]
    NoOrderers,
    /// The turn machine refused the start.
    #[error("turns: {0}")]
    Turns(#[from] TurnError),
}

/// Counters, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Blocks decided (handed to the driver).
    pub decided: u64,
    /// PBFT view changes this node started.
    pub view_changes: u64,
    /// Endorsers elected (certificates verified), all regions.
    pub elections: u64,
    /// Election rounds that timed out without an endorser.
    pub election_timeouts: u64,
    /// Turns ended by a decided turn end.
    pub turn_ends: u64,
    /// Of those, turns skipped (primary stalled or replaced), plus endorser-skip quorums.
    pub skipped_turns: u64,
    /// Inputs refused.
    pub rejected: u64,
}

/// One region's endorser as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionStatus {
    /// The region.
    pub name: String,
    /// Its endorser, once elected.
    pub endorser: Option<PublicKey>,
    /// The current election round.
    pub view: u64,
}

/// A snapshot for `/status`, metrics and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeStatus {
    /// First height not yet decided.
    pub next_height: u64,
    /// First height the driver has not reported committed.
    pub committed_next: u64,
    /// The current turn (`None` until every region has an endorser).
    pub turn: Option<u64>,
    /// The current primary.
    pub primary: Option<PublicKey>,
    /// The PBFT view, when this node is in the committee.
    pub pbft_view: Option<u64>,
    /// The current committee, once its beacon verified.
    pub committee: Option<Vec<PublicKey>>,
    /// Whether this node sits in it.
    pub in_committee: bool,
    /// Every region.
    pub regions: Vec<RegionStatus>,
    /// Counters.
    pub stats: NodeStats,
}

struct Region {
    candidates: Vec<PublicKey>,
    election: Election,
    my_vote: Option<wire::ElectionVote>,
    my_crash: Option<wire::CrashSignal>,
}

/// The id a turn end is decided under: the turn, the height it closes at and the block before.
pub fn turn_end_id(turn: u64, height: u64, previous: &Hash32) -> Hash32 {
    tagged_hash(
        "medblock/turn-end/v1",
        &[
            &turn.to_be_bytes(),
            &height.to_be_bytes(),
            previous.as_bytes(),
        ],
    )
}

/// Signs a block proposal of the primary (what [`NodeInput::Propose`] sends); `last_of_turn`
/// ends the turn with this block once it is decided.
pub fn sign_proposal(
    key: &SigningKey,
    turn: u64,
    height: u64,
    payload: Vec<u8>,
    last_of_turn: bool,
) -> wire::SignedEnvelope {
    let body = wire::ProposalBody {
        turn,
        height,
        primary_key: key.public().as_bytes().to_vec(),
        payload,
        last_of_turn,
    }
    .encode_to_vec();
    let signature = key.sign(statement::PROPOSAL, &body).to_vec();
    wire::SignedEnvelope { body, signature }
}

fn msg(kind: Kind) -> wire::ConsensusMessage {
    wire::ConsensusMessage { kind: Some(kind) }
}

/// The turn a turn-bound message names, if it is one.
fn turn_of(kind: &Kind) -> Option<u64> {
    fn body<M: Message + Default>(e: &wire::SignedEnvelope) -> Option<M> {
        M::decode(e.body.as_slice()).ok()
    }
    match kind {
        // The head only: decoding the whole body copied the block to read one number.
        Kind::Proposal(e) => body::<wire::ProposalHead>(e).map(|b| b.turn),
        Kind::EndTurn(e) => body::<wire::EndTurnBody>(e).map(|b| b.turn),
        Kind::PrePrepare(e) => body::<wire::PrePrepareBody>(e).map(|b| b.turn),
        Kind::ViewChange(e) => body::<wire::ViewChangeBody>(e).map(|b| b.turn),
        Kind::NewView(e) => body::<wire::NewViewBody>(e).map(|b| b.turn),
        Kind::Vote(v) => Some(v.turn),
        Kind::Beacon(b) => Some(b.turn),
        Kind::TurnSkip(s) => Some(s.turn),
        _ => None,
    }
}

/// Whether a decided value is a block its primary flagged as the last of its turn. The flag is
/// inside the primary's signed proposal, checked with the value.
fn ends_its_turn(dv: &wire::DecidedValue) -> bool {
    match dv.value.as_ref().and_then(|v| v.kind.as_ref()) {
        Some(wire::proposed_value::Kind::Proposal(env)) => {
            wire::ProposalHead::decode(env.body.as_slice()).is_ok_and(|h| h.last_of_turn)
        }
        _ => false,
    }
}

/// Checks a primary's signed proposal for (`turn`, `height`) and returns its payload.
fn open_proposal(
    env: &wire::SignedEnvelope,
    primary: &PublicKey,
    turn: u64,
    height: u64,
) -> Result<wire::ProposalBody, &'static str> {
    let body =
        wire::ProposalBody::decode(env.body.as_slice()).map_err(|_| "undecodable proposal")?;
    if body.primary_key != primary.as_bytes() || body.turn != turn || body.height != height {
        return Err("proposal from another primary, turn or height");
    }
    let sig = Signature::from_slice(&env.signature).map_err(|_| "malformed signature")?;
    primary
        .verify(statement::PROPOSAL, &env.body, &sig)
        .map_err(|_| "bad primary signature")?;
    Ok(body)
}

/// Checks a primary's signed end of turn; returns (turn, next height, chain hash).
fn open_end_turn(
    env: &wire::SignedEnvelope,
    primary: &PublicKey,
) -> Result<(u64, u64, Hash32), &'static str> {
    let body = wire::EndTurnBody::decode(env.body.as_slice()).map_err(|_| "undecodable end")?;
    if body.primary_key != primary.as_bytes() {
        return Err("end of turn from another primary");
    }
    let sig = Signature::from_slice(&env.signature).map_err(|_| "malformed signature")?;
    primary
        .verify(statement::END_TURN, &env.body, &sig)
        .map_err(|_| "bad end-of-turn signature")?;
    let hash = Hash32::from_slice(&body.chain_hash).ok_or("malformed chain hash")?;
    Ok((body.turn, body.next_height, hash))
}

/// What the turn's replica checks values with.
struct NodeCheck<'a> {
    turn: u64,
    primary: PublicKey,
    skip_ok: bool,
    /// The value comes with a commit certificate already checked (see
    /// [`ChainValidator::decided_id`]).
    certified: bool,
    validator: &'a dyn ChainValidator,
}

impl NodeCheck<'_> {
    fn value(
        &self,
        height: u64,
        previous: &Hash32,
        value: &wire::ProposedValue,
        now_ms: u64,
        skip_ok: bool,
    ) -> Result<Hash32, InvalidProposal> {
        let bad = |reason: &str| InvalidProposal {
            height,
            reason: reason.to_string(),
        };
        match &value.kind {
            Some(wire::proposed_value::Kind::Proposal(env)) => {
                let body = open_proposal(env, &self.primary, self.turn, height).map_err(bad)?;
                let id = if self.certified {
                    self.validator
                        .decided_id(height, previous, &body.payload, now_ms)
                } else {
                    self.validator
                        .validate(height, previous, &body.payload, now_ms)
                }?;
                if self.validator.ends_turn(height, &body.payload)? != body.last_of_turn {
                    return Err(bad("last-of-turn flag differs from the block's"));
                }
                Ok(id)
            }
            Some(wire::proposed_value::Kind::TurnEnd(te)) => {
                if te.turn != self.turn {
                    return Err(bad("turn end for another turn"));
                }
                match &te.end_turn {
                    Some(env) => {
                        let (t, h, hash) = open_end_turn(env, &self.primary).map_err(bad)?;
                        if t != self.turn || h != height || hash != *previous {
                            return Err(bad("end of turn for another turn or tip"));
                        }
                    }
                    None if skip_ok => {}
                    None => return Err(bad("primary is not stalled")),
                }
                Ok(turn_end_id(self.turn, height, previous))
            }
            None => Err(bad("empty value")),
        }
    }
}

impl ValueCheck for NodeCheck<'_> {
    fn check(
        &self,
        height: u64,
        _value: &wire::ProposedValue,
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        Err(InvalidProposal {
            height,
            reason: "previous block unknown".to_string(),
        })
    }

    fn check_after(
        &self,
        height: u64,
        previous: Option<&Hash32>,
        value: &wire::ProposedValue,
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        match previous {
            Some(p) => self.value(height, p, value, now_ms, self.skip_ok),
            None => self.check(height, value, now_ms),
        }
    }
}

/// One node's consensus: elections, turns, the turn's PBFT replica and catch-up.
pub struct ConsensusNode {
    cfg: ConsensusConfig,
    key: SigningKey,
    me: PublicKey,
    region: String,
    voter: bool,
    endorser: bool,
    orderer: bool,
    regions: BTreeMap<String, Region>,
    orderers: Vec<PublicKey>,
    start: TurnStart,
    turns: Option<Turns>,
    early: VecDeque<(PublicKey, wire::ConsensusMessage)>,
    ahead: VecDeque<(PublicKey, wire::ConsensusMessage)>,
    /// Proposals and PBFT messages of the current turn that arrived before its beacon named
    /// the committee (messages travel on separate streams, so the primary's proposal can
    /// overtake its beacon): replayed once this node's replica starts, instead of being lost
    /// until a re-send.
    unseated: VecDeque<(PublicKey, u64, Kind)>,
    next_height: u64,
    tip: Hash32,
    committed_next: u64,
    last_cert: Option<wire::CommitCertificate>,
    recent: BTreeMap<u64, wire::DecidedValue>,
    turn_ends: BTreeMap<u64, wire::DecidedValue>,
    replica: Option<Replica>,
    replica_timer: Option<u64>,
    pending_end: Option<wire::SignedEnvelope>,
    asked: Option<(u64, u64)>,
    my_proposal: Option<(u64, u64, wire::SignedEnvelope)>,
    my_end: Option<(u64, wire::SignedEnvelope)>,
    turn_progress: u64,
    replay_early: bool,
    catchup: CatchUp,
    timer: Option<u64>,
    resend_at: u64,
    announce_at: u64,
    last_progress: u64,
    catch_up_at: u64,
    stats: NodeStats,
}

impl std::fmt::Debug for ConsensusNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusNode")
            .field("me", &self.me)
            .field("status", &self.status())
            .finish()
    }
}

impl ConsensusNode {
    /// Starts a node: sets up every region's election (voting for the first candidate when this
    /// node votes), and returns the first actions (its vote, its timer).
    pub fn new(setup: NodeSetup, now_ms: u64) -> Result<(Self, Vec<NodeAction>), ConsensusError> {
        if setup.regions.is_empty() {
            return Err(ConsensusError::NoRegions);
        }
        if setup.orderers.is_empty() {
            return Err(ConsensusError::NoOrderers);
        }
        if !setup.regions.iter().any(|r| r.name == setup.region) {
            return Err(ConsensusError::UnknownRegion(setup.region.clone()));
        }
        let me = setup.key.public();
        let mut regions = BTreeMap::new();
        for r in &setup.regions {
            let mine = r.name == setup.region && setup.voter && r.voters.contains(&me);
            let key = mine.then(|| setup.key.clone());
            let mut election =
                Election::with_candidates(r.name.clone(), &r.voters, &r.candidates, key, 0)
                    .map_err(|source| ConsensusError::Region {
                        region: r.name.clone(),
                        source,
                    })?;
            if mine {
                // Only voters move rounds on a timeout; observers follow certificates.
                election.set_round_timeout(setup.cfg.turn_timeout_ms, now_ms);
            }
            let region = Region {
                candidates: r.candidates.clone(),
                election,
                my_vote: None,
                my_crash: None,
            };
            if regions.insert(r.name.clone(), region).is_some() {
                return Err(ConsensusError::DuplicateRegion(r.name.clone()));
            }
        }
        let batch = u64::from(setup.cfg.catch_up_batch.max(1));
        let mut node = Self {
            key: setup.key,
            me,
            region: setup.region,
            voter: setup.voter,
            endorser: setup.endorser,
            orderer: setup.orderer && setup.orderers.contains(&me),
            regions,
            orderers: setup.orderers,
            start: setup.start,
            turns: None,
            early: VecDeque::new(),
            ahead: VecDeque::new(),
            unseated: VecDeque::new(),
            next_height: setup.start.start_height,
            tip: setup.start.chain_hash,
            committed_next: setup.start.start_height,
            last_cert: None,
            recent: BTreeMap::new(),
            turn_ends: BTreeMap::new(),
            replica: None,
            replica_timer: None,
            pending_end: None,
            asked: None,
            my_proposal: None,
            my_end: None,
            turn_progress: now_ms,
            replay_early: false,
            catchup: CatchUp::new(batch.saturating_mul(2)),
            timer: None,
            resend_at: now_ms.saturating_add(setup.cfg.view_change_timeout_ms),
            announce_at: now_ms.saturating_add(setup.cfg.turn_timeout_ms / 2),
            last_progress: now_ms,
            catch_up_at: now_ms,
            stats: NodeStats::default(),
            cfg: setup.cfg,
        };
        let mut out = Vec::new();
        let region = node.region.clone();
        node.vote_for_round(&region, now_ms, &mut out);
        node.arm_timer(now_ms, &mut out);
        Ok((node, out))
    }

    /// This node's key.
    pub fn public_key(&self) -> PublicKey {
        self.me
    }

    /// The first height not yet decided.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }

    /// The id of the last decided block.
    pub fn tip(&self) -> Hash32 {
        self.tip
    }

    /// Handles one input at `now_ms`; `check` validates block payloads (the driver's ledger
    /// rules).
    pub fn handle(
        &mut self,
        input: NodeInput,
        now_ms: u64,
        check: &dyn ChainValidator,
    ) -> Vec<NodeAction> {
        let mut out = Vec::new();
        match input {
            NodeInput::Message { from, msg } => self.on_message(from, msg, now_ms, check, &mut out),
            NodeInput::Tick => {
                // The driver's timer fired: it holds none until the next `SetTimer`.
                self.timer = None;
                self.on_tick(now_ms, check, &mut out)
            }
            NodeInput::Propose {
                height,
                payload,
                last_of_turn,
            } => self.on_propose(height, payload, last_of_turn, now_ms, check, &mut out),
            NodeInput::EndMyTurn => self.on_end_my_turn(now_ms, check, &mut out),
            NodeInput::Committed {
                height,
                block_id,
                turn,
                last_of_turn,
            } => {
                let block = (height, block_id, turn, last_of_turn);
                self.on_committed(block, now_ms, check, &mut out)
            }
            NodeInput::SuspectEndorser { region } => self.on_suspect(&region, now_ms, &mut out),
        }
        if self.replay_early && self.turns.is_some() {
            self.replay_early = false;
            let early: Vec<_> = self.early.drain(..).collect();
            for (from, m) in early {
                self.on_message(from, m, now_ms, check, &mut out);
            }
        }
        self.arm_timer(now_ms, &mut out);
        out
    }

    /// The decided turn ends this node remembers (the last few turns) from `from_height` on.
    /// Ledgers hold blocks only, so a peer serving catch-up from its ledger adds these: the node
    /// catching up then learns which turns ended, not only the blocks, and rejoins the current
    /// turn instead of waiting for a timeout.
    pub fn turn_ends_from(&self, from_height: u64) -> Vec<wire::DecidedValue> {
        self.turn_ends
            .range(from_height..)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A snapshot of where this node stands.
    pub fn status(&self) -> NodeStatus {
        let committee = self
            .turns
            .as_ref()
            .and_then(|t| t.committee())
            .map(|c| c.members().to_vec());
        let mut stats = self.stats.clone();
        if let Some(r) = &self.replica {
            stats.view_changes += r.stats().view_changes_started;
        }
        NodeStatus {
            next_height: self.next_height,
            committed_next: self.committed_next,
            turn: self.turns.as_ref().map(|t| t.turn()),
            primary: self.turns.as_ref().map(|t| t.primary()),
            pbft_view: self.replica.as_ref().map(|r| r.view()),
            in_committee: committee.as_ref().is_some_and(|c| c.contains(&self.me)),
            committee,
            regions: self
                .regions
                .iter()
                .map(|(name, r)| RegionStatus {
                    name: name.clone(),
                    endorser: r.election.endorser().map(|v| v.endorser),
                    view: r.election.view(),
                })
                .collect(),
            stats,
        }
    }

    fn reject(&mut self, reason: &'static str, out: &mut Vec<NodeAction>) {
        self.stats.rejected += 1;
        out.push(NodeAction::Rejected { reason });
    }

    // ----- elections -----

    /// The candidate honest voters pick in round `view`: the preference order rotated by the
    /// round, skipping the one declared crashed.
    fn candidate_for(region: &Region) -> Option<PublicKey> {
        let n = region.candidates.len();
        if n == 0 {
            return None;
        }
        let view = region.election.view();
        let start = usize::try_from(view % n as u64).ok()?;
        (0..n)
            .filter_map(|i| region.candidates.get((start + i) % n))
            .find(|c| region.election.excluded() != Some(*c))
            .copied()
    }

    fn vote_for_round(&mut self, name: &str, now_ms: u64, out: &mut Vec<NodeAction>) {
        if !self.voter || name != self.region {
            return;
        }
        let Some(region) = self.regions.get_mut(name) else {
            return;
        };
        if region.election.endorser().is_some() {
            return;
        }
        let Some(candidate) = Self::candidate_for(region) else {
            return;
        };
        let view = region.election.view();
        if region.my_vote.as_ref().is_some_and(|v| v.view == view) {
            return;
        }
        match region
            .election
            .handle(ElectionInput::CastVote { candidate }, now_ms)
        {
            Ok(acts) => {
                for a in &acts {
                    if let ElectionAction::Broadcast(ElectionMessage::Vote(v)) = a {
                        region.my_vote = Some(v.clone());
                    }
                }
                self.election_actions(name, acts, now_ms, out);
            }
            Err(_) => self.reject("own vote refused", out),
        }
    }

    fn election_input(
        &mut self,
        name: &str,
        input: ElectionInput,
        now_ms: u64,
        out: &mut Vec<NodeAction>,
    ) {
        let Some(region) = self.regions.get_mut(name) else {
            self.reject("unknown region", out);
            return;
        };
        match region.election.handle(input, now_ms) {
            Ok(acts) => self.election_actions(name, acts, now_ms, out),
            Err(
                ElectionError::WrongRound { .. }
                | ElectionError::Duplicate { .. }
                | ElectionError::WrongRegion { .. },
            ) => {}
            Err(ElectionError::Equivocation { .. }) => self.reject("election equivocation", out),
            Err(ElectionError::BadSignature { .. }) => self.reject("forged election message", out),
            Err(_) => self.reject("invalid election message", out),
        }
    }

    fn election_actions(
        &mut self,
        name: &str,
        acts: Vec<ElectionAction>,
        now_ms: u64,
        out: &mut Vec<NodeAction>,
    ) {
        for a in acts {
            match a {
                ElectionAction::Broadcast(m) => out.push(NodeAction::Broadcast(match m {
                    ElectionMessage::Vote(v) => msg(Kind::ElectionVote(v)),
                    ElectionMessage::Crash(c) => msg(Kind::CrashSignal(c)),
                    ElectionMessage::Certificate(c) => msg(Kind::ViewAnnouncement(c)),
                })),
                ElectionAction::Elected { view, .. } => self.on_elected(view, now_ms, out),
                ElectionAction::NewRound { .. } => self.vote_for_round(name, now_ms, out),
                ElectionAction::RoundTimedOut { .. } => {
                    self.stats.election_timeouts += 1;
                    self.vote_for_round(name, now_ms, out);
                }
            }
        }
    }

    fn on_elected(&mut self, view: EndorserView, now_ms: u64, out: &mut Vec<NodeAction>) {
        self.stats.elections += 1;
        out.push(NodeAction::Elected {
            region: view.region.clone(),
            view: view.view,
            endorser: view.endorser,
        });
        if self.turns.is_some() {
            let r = self
                .turns
                .as_mut()
                .map(|t| t.handle(TurnInput::ViewChanged(view), now_ms));
            if let Some(Ok(acts)) = r {
                self.turn_actions(acts, now_ms, out);
            }
            return;
        }
        let views: Vec<EndorserView> = self
            .regions
            .values()
            .filter_map(|r| r.election.endorser().cloned())
            .collect();
        if views.len() < self.regions.len() {
            return;
        }
        let key = self.endorser.then(|| self.key.clone());
        match Turns::new(
            self.cfg.clone(),
            key,
            views,
            self.orderers.clone(),
            self.start,
            now_ms,
        ) {
            Ok((t, acts)) => {
                self.turns = Some(t);
                self.turn_actions(acts, now_ms, out);
                self.maybe_need_proposal(out);
            }
            Err(_) => {
                self.reject("turns refused the endorsers", out);
                return;
            }
        }
        // Messages kept until now are replayed once this input is handled (with its check).
        self.replay_early = true;
    }

    fn on_suspect(&mut self, name: &str, now_ms: u64, out: &mut Vec<NodeAction>) {
        if !self.voter || name != self.region {
            self.reject("not a voter of that region", out);
            return;
        }
        let Some(region) = self.regions.get_mut(name) else {
            return;
        };
        let view = region.election.view();
        if region.my_crash.as_ref().is_some_and(|c| c.view == view) {
            return;
        }
        match region.election.handle(ElectionInput::SignalCrash, now_ms) {
            Ok(acts) => {
                for a in &acts {
                    if let ElectionAction::Broadcast(ElectionMessage::Crash(c)) = a {
                        region.my_crash = Some(c.clone());
                    }
                }
                self.election_actions(name, acts, now_ms, out);
            }
            Err(_) => self.reject("no endorser to suspect", out),
        }
    }

    // ----- messages -----

    fn on_message(
        &mut self,
        from: PublicKey,
        m: wire::ConsensusMessage,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some(kind) = m.kind else {
            self.reject("empty message", out);
            return;
        };
        match kind {
            Kind::ElectionVote(v) => {
                if v.region == self.region {
                    let r = v.region.clone();
                    self.election_input(&r, ElectionInput::Vote(v), now_ms, out);
                }
            }
            Kind::CrashSignal(c) => {
                if c.region == self.region {
                    let r = c.region.clone();
                    self.election_input(&r, ElectionInput::Crash(c), now_ms, out);
                }
            }
            Kind::ViewAnnouncement(c) => {
                let r = c.region.clone();
                self.election_input(&r, ElectionInput::Certificate(c), now_ms, out);
            }
            Kind::CatchUpRequest(req) => self.serve(from, &req, out),
            Kind::Decided(dv) if self.turns.is_none() => {
                self.keep_early(from, msg(Kind::Decided(dv)), out)
            }
            Kind::Decided(dv) => self.on_decided_value(dv, now_ms, check, out),
            Kind::CatchUpResponse(r) if self.turns.is_none() => {
                self.keep_early(from, msg(Kind::CatchUpResponse(r)), out)
            }
            Kind::CatchUpResponse(r) => {
                for dv in r.decided {
                    self.on_decided_value(dv, now_ms, check, out);
                }
            }
            kind => {
                let Some(turn) = self.turns.as_ref().map(|t| t.turn()) else {
                    self.keep_early(from, msg(kind), out);
                    return;
                };
                let Some(t) = turn_of(&kind) else {
                    self.reject("undecodable turn message", out);
                    return;
                };
                if t > turn {
                    // A later turn: this node missed a turn end. Keep it and ask.
                    if self.ahead.len() >= EARLY_CAPACITY {
                        self.ahead.pop_front();
                    }
                    self.ahead.push_back((from, msg(kind)));
                    self.request_catch_up(now_ms, out);
                    return;
                }
                if t < turn {
                    return;
                }
                self.on_turn_message(from, kind, now_ms, check, out);
            }
        }
    }

    fn keep_early(
        &mut self,
        from: PublicKey,
        m: wire::ConsensusMessage,
        out: &mut Vec<NodeAction>,
    ) {
        if self.early.len() >= EARLY_CAPACITY {
            self.reject("early buffer full", out);
            return;
        }
        self.early.push_back((from, m));
    }

    fn on_turn_message(
        &mut self,
        from: PublicKey,
        kind: Kind,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        match kind {
            Kind::Beacon(b) => self.turn_input(TurnInput::Beacon(b), now_ms, check, out),
            Kind::TurnSkip(s) => self.turn_input(TurnInput::Skip(s), now_ms, check, out),
            Kind::EndTurn(env) => self.on_end_turn(env, now_ms, check, out),
            Kind::Proposal(env) => self.on_proposal(from, env, now_ms, check, out),
            kind if self.awaiting_committee() => self.keep_unseated(from, kind),
            kind => {
                let Some(m) = PbftMessage::from_wire(msg(kind)) else {
                    return;
                };
                if self.replica.is_some() {
                    self.drive_replica(ReplicaInput::Message(m), now_ms, check, out);
                }
            }
        }
    }

    fn turn_input(
        &mut self,
        input: TurnInput,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some(t) = self.turns.as_mut() else {
            return;
        };
        let skipped_before = t.stats().skipped_turns;
        match t.handle(input, now_ms) {
            Ok(acts) => {
                let skipped = t.stats().skipped_turns > skipped_before;
                if skipped {
                    self.stats.skipped_turns += 1;
                }
                self.turn_actions(acts, now_ms, out);
                self.after_turn_change(now_ms, check, out);
            }
            Err(TurnError::WrongTurn { .. } | TurnError::Duplicate { .. }) => {}
            Err(TurnError::BeaconSeen { .. }) => {}
            Err(TurnError::BadSignature { .. } | TurnError::Beacon(_)) => {
                self.reject("forged turn message", out)
            }
            Err(TurnError::Equivocation { .. }) => self.reject("turn skip equivocation", out),
            Err(_) => self.reject("invalid turn message", out),
        }
    }

    fn turn_actions(&mut self, acts: Vec<TurnAction>, now_ms: u64, out: &mut Vec<NodeAction>) {
        for a in acts {
            match a {
                TurnAction::SetTimer { .. } => {}
                TurnAction::Broadcast(m) => out.push(NodeAction::Broadcast(match m {
                    TurnMessage::EndTurn(e) => msg(Kind::EndTurn(e)),
                    TurnMessage::Beacon(b) => msg(Kind::Beacon(b)),
                    TurnMessage::Skip(s) => msg(Kind::TurnSkip(s)),
                })),
                TurnAction::NewTurn {
                    turn,
                    primary,
                    start_height,
                    chain_hash,
                } => {
                    if self.replica.as_ref().is_some_and(|r| r.turn() != turn) {
                        self.drop_replica();
                    }
                    self.pending_end = None;
                    self.my_proposal = None;
                    self.my_end = None;
                    self.asked = None;
                    self.last_progress = now_ms;
                    self.turn_progress = now_ms;
                    out.push(NodeAction::TurnChanged {
                        turn,
                        primary,
                        committee: None,
                    });
                    if primary == self.me {
                        out.push(NodeAction::MyTurn {
                            turn,
                            start_height,
                            chain_hash,
                        });
                    }
                }
                TurnAction::Committee {
                    turn,
                    committee,
                    beacon,
                } => {
                    let primary = beacon.primary;
                    out.push(NodeAction::TurnChanged {
                        turn,
                        primary,
                        committee: Some(committee.members().to_vec()),
                    });
                    if self.orderer && committee.contains(&self.me) {
                        self.start_replica(turn, beacon, committee);
                    }
                }
                TurnAction::CatchUp { from_height } => {
                    out.push(NodeAction::CatchUp { from_height })
                }
            }
        }
    }

    fn drop_replica(&mut self) {
        if let Some(r) = self.replica.take() {
            self.stats.view_changes += r.stats().view_changes_started;
        }
        self.replica_timer = None;
    }

    fn start_replica(&mut self, turn: u64, beacon: Beacon, committee: Committee) {
        self.drop_replica();
        let start = beacon.start_height;
        let mut r = Replica::new(
            self.cfg.clone(),
            self.key.clone(),
            turn,
            Some(beacon),
            committee,
            start,
        );
        if self.next_height > start {
            r.resume_at(self.next_height, self.last_cert.clone(), self.tip);
        }
        self.replica = Some(r);
        self.replica_timer = None;
    }

    /// After the turn may have changed: replay messages kept for it, feed a waiting end of
    /// turn, ask the primary for a block.
    fn after_turn_change(
        &mut self,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some(turn) = self.turns.as_ref().map(|t| t.turn()) else {
            return;
        };
        if self
            .ahead
            .iter()
            .any(|(_, m)| m.kind.as_ref().and_then(turn_of).is_some_and(|t| t <= turn))
        {
            let all: Vec<_> = self.ahead.drain(..).collect();
            for (from, m) in all {
                let t = m.kind.as_ref().and_then(turn_of);
                match t {
                    Some(t) if t == turn => {
                        if let Some(k) = m.kind {
                            self.on_turn_message(from, k, now_ms, check, out);
                        }
                    }
                    Some(t) if t > turn => self.ahead.push_back((from, m)),
                    _ => {}
                }
            }
        }
        self.replay_unseated(now_ms, check, out);
        self.feed_pending_end(now_ms, check, out);
        self.maybe_need_proposal(out);
    }

    fn current(&self) -> Option<(u64, PublicKey)> {
        self.turns.as_ref().map(|t| (t.turn(), t.primary()))
    }

    fn committee_members(&self) -> Option<Vec<PublicKey>> {
        self.turns
            .as_ref()
            .and_then(|t| t.committee())
            .map(|c| c.members().to_vec())
    }

    fn maybe_need_proposal(&mut self, out: &mut Vec<NodeAction>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        if primary != self.me || self.committee_members().is_none() || self.my_end.is_some() {
            return;
        }
        if self.asked == Some((turn, self.next_height)) {
            return;
        }
        if self
            .my_proposal
            .as_ref()
            .is_some_and(|(t, h, _)| *t == turn && *h >= self.next_height)
        {
            return;
        }
        self.asked = Some((turn, self.next_height));
        out.push(NodeAction::NeedProposal {
            turn,
            height: self.next_height,
            previous: self.tip,
        });
    }

    fn on_propose(
        &mut self,
        height: u64,
        payload: Vec<u8>,
        last_of_turn: bool,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some((turn, primary)) = self.current() else {
            self.reject("no turn yet", out);
            return;
        };
        let Some(members) = self.committee_members() else {
            self.reject("turn has no committee yet", out);
            return;
        };
        if primary != self.me {
            self.reject("not the primary", out);
            return;
        }
        if height != self.next_height || self.my_end.is_some() {
            self.reject("proposal for another height", out);
            return;
        }
        let env = sign_proposal(&self.key, turn, height, payload, last_of_turn);
        self.my_proposal = Some((turn, height, env.clone()));
        out.push(NodeAction::Multicast {
            to: members,
            msg: msg(Kind::Proposal(env.clone())),
        });
        if self.replica.is_some() {
            self.feed_value(
                height,
                wire::proposed_value::Kind::Proposal(env),
                now_ms,
                check,
                out,
            );
        }
    }

    fn on_end_my_turn(
        &mut self,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some((turn, primary)) = self.current() else {
            self.reject("no turn yet", out);
            return;
        };
        let Some(members) = self.committee_members() else {
            self.reject("turn has no committee yet", out);
            return;
        };
        if primary != self.me {
            self.reject("not the primary", out);
            return;
        }
        let env = turns::sign_end_turn(&self.key, turn, self.next_height, &self.tip);
        self.my_end = Some((turn, env.clone()));
        out.push(NodeAction::Multicast {
            to: members,
            msg: msg(Kind::EndTurn(env.clone())),
        });
        if self.replica.is_some() {
            self.pending_end = Some(env);
            self.feed_pending_end(now_ms, check, out);
        }
    }

    fn on_proposal(
        &mut self,
        from: PublicKey,
        env: wire::SignedEnvelope,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let Ok(body) = wire::ProposalHead::decode(env.body.as_slice()) else {
            self.reject("undecodable proposal", out);
            return;
        };
        if body.height < self.next_height {
            // The primary missed the decision: tell it again.
            if let Some(dv) = self.recent.get(&body.height) {
                out.push(NodeAction::Send {
                    to: from,
                    msg: msg(Kind::Decided(dv.clone())),
                });
            }
            return;
        }
        if open_proposal(&env, &primary, turn, body.height).is_err() {
            self.reject("invalid proposal", out);
            return;
        }
        if self.replica.is_some() {
            self.feed_value(
                body.height,
                wire::proposed_value::Kind::Proposal(env),
                now_ms,
                check,
                out,
            );
        } else if self.awaiting_committee() {
            self.keep_unseated(from, Kind::Proposal(env));
        }
    }

    /// An orderer in a turn whose beacon has not named the committee yet.
    fn awaiting_committee(&self) -> bool {
        self.orderer && self.replica.is_none() && self.committee_members().is_none()
    }

    fn keep_unseated(&mut self, from: PublicKey, kind: Kind) {
        let Some((turn, _)) = self.current() else {
            return;
        };
        if self.unseated.len() >= EARLY_CAPACITY {
            self.unseated.pop_front();
        }
        self.unseated.push_back((from, turn, kind));
    }

    /// Replays the current turn's messages kept while its committee was unknown, once this
    /// node's replica runs; drops them once the committee is known without this node.
    fn replay_unseated(
        &mut self,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        if self.unseated.is_empty() || self.awaiting_committee() {
            return;
        }
        let kept: Vec<_> = self.unseated.drain(..).collect();
        let (Some((turn, _)), true) = (self.current(), self.replica.is_some()) else {
            return;
        };
        for (from, t, kind) in kept {
            if t == turn {
                self.on_turn_message(from, kind, now_ms, check, out);
            }
        }
    }

    fn on_end_turn(
        &mut self,
        env: wire::SignedEnvelope,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        match open_end_turn(&env, &primary) {
            Ok((t, h, _)) if t == turn && h >= self.next_height => {
                self.pending_end = Some(env);
                self.feed_pending_end(now_ms, check, out);
            }
            Ok(_) => {}
            Err(_) => self.reject("invalid end of turn", out),
        }
    }

    /// Offers the primary's end of turn to the replica once this node's chain reaches it.
    fn feed_pending_end(
        &mut self,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let Some(env) = self.pending_end.clone() else {
            return;
        };
        let Ok((t, h, hash)) = open_end_turn(&env, &primary) else {
            self.pending_end = None;
            return;
        };
        if t != turn || h < self.next_height {
            self.pending_end = None;
            return;
        }
        if h > self.next_height || self.replica.is_none() {
            return;
        }
        if hash != self.tip {
            self.pending_end = None;
            self.reject("end of turn on another chain", out);
            return;
        }
        let te = wire::TurnEnd {
            turn,
            next: None,
            end_turn: Some(env),
        };
        self.feed_value(
            h,
            wire::proposed_value::Kind::TurnEnd(te),
            now_ms,
            check,
            out,
        );
    }

    fn feed_value(
        &mut self,
        height: u64,
        kind: wire::proposed_value::Kind,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let value = wire::ProposedValue { kind: Some(kind) };
        self.drive_replica(ReplicaInput::Propose { height, value }, now_ms, check, out);
    }

    /// Whether a turn end without the primary's signature may be prepared now: the turn made
    /// no progress for half its timeout, or the primary's region elected someone else.
    fn skip_ok(&self, now_ms: u64) -> bool {
        let Some(t) = &self.turns else {
            return false;
        };
        let stalled = now_ms
            >= self
                .turn_progress
                .saturating_add(self.cfg.turn_timeout_ms / 2);
        stalled || !t.is_endorser(&t.primary())
    }

    /// Whether the turn made no progress for a whole `turn_timeout_ms`.
    fn stalled(&self, now_ms: u64) -> bool {
        now_ms >= self.turn_progress.saturating_add(self.cfg.turn_timeout_ms)
    }

    fn drive_replica(
        &mut self,
        input: ReplicaInput,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let skip_ok = self.skip_ok(now_ms);
        let Some(replica) = self.replica.as_mut() else {
            return;
        };
        if replica.turn() != turn {
            return;
        }
        let nc = NodeCheck {
            turn,
            primary,
            skip_ok,
            certified: false,
            validator: check,
        };
        let members = replica.committee().members().to_vec();
        let acts = replica.handle(input, now_ms, &nc);
        for a in acts {
            match a {
                ReplicaAction::Broadcast(m) => out.push(NodeAction::Multicast {
                    to: members.iter().filter(|k| **k != self.me).copied().collect(),
                    msg: m.to_wire(),
                }),
                ReplicaAction::SetTimer { at_ms } => self.replica_timer = Some(at_ms),
                ReplicaAction::CancelTimer => self.replica_timer = None,
                ReplicaAction::Decide(d) => {
                    let dv = wire::DecidedValue {
                        value: Some(d.value),
                        certificate: Some(d.certificate),
                    };
                    self.apply(dv, d.height, d.digest, turn, true, now_ms, check, out);
                }
                ReplicaAction::PeerBehind { peer, from_height } => {
                    let req = wire::CatchUpRequest {
                        from_height,
                        max_count: self.cfg.catch_up_batch,
                    };
                    self.serve(peer, &req, out);
                }
                ReplicaAction::CatchUp { .. } => self.request_catch_up(now_ms, out),
            }
        }
    }

    // ----- decisions -----

    /// Applies a decided value at `self.next_height` (verified by the caller).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        dv: wire::DecidedValue,
        height: u64,
        id: Hash32,
        turn: u64,
        from_replica: bool,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        if height != self.next_height {
            return;
        }
        let is_end = matches!(
            dv.value.as_ref().and_then(|v| v.kind.as_ref()),
            Some(wire::proposed_value::Kind::TurnEnd(_))
        );
        let last_of_turn = !is_end && ends_its_turn(&dv);
        if from_replica {
            out.push(NodeAction::Broadcast(msg(Kind::Decided(dv.clone()))));
        }
        self.last_progress = now_ms;
        if self.turns.as_ref().is_some_and(|t| t.turn() == turn) {
            self.turn_progress = now_ms;
        }
        if is_end {
            let no_evidence = matches!(
                dv.value.as_ref().and_then(|v| v.kind.as_ref()),
                Some(wire::proposed_value::Kind::TurnEnd(te)) if te.end_turn.is_none()
            );
            self.stats.turn_ends += 1;
            if no_evidence {
                self.stats.skipped_turns += 1;
            }
            self.turn_ends.insert(height, dv);
            while self.turn_ends.len() > 8 {
                self.turn_ends.pop_first();
            }
            let r = self
                .turns
                .as_mut()
                .map(|t| t.advance(turn.saturating_add(1), height, self.tip, now_ms));
            if let Some(Ok(acts)) = r {
                self.turn_actions(acts, now_ms, out);
            }
            self.after_turn_change(now_ms, check, out);
            return;
        }
        self.next_height = height.saturating_add(1);
        self.tip = id;
        self.last_cert = dv.certificate.clone();
        self.stats.decided += 1;
        self.recent.insert(height, dv.clone());
        while self.recent.len() > RECENT_CAPACITY {
            self.recent.pop_first();
        }
        out.push(NodeAction::Decided(Box::new(dv)));
        let r = self.turns.as_mut().map(|t| {
            t.handle(
                TurnInput::BlockDecided {
                    height,
                    turn,
                    block_id: id,
                },
                now_ms,
            )
        });
        if let Some(Ok(acts)) = r {
            self.turn_actions(acts, now_ms, out);
        }
        if !from_replica
            && self.replica.as_ref().is_some_and(|r| r.turn() == turn)
            && let Some(d) = self.recent.get(&height).cloned()
            && let (Some(value), Some(certificate)) = (d.value, d.certificate)
        {
            // Keep the replica in step with what the node learned elsewhere.
            let input = ReplicaInput::Decided {
                height,
                value,
                digest: id,
                certificate,
            };
            self.drive_replica(input, now_ms, check, out);
        }
        if last_of_turn {
            self.end_turn_with(turn, height, id, now_ms, out);
        }
        self.after_turn_change(now_ms, check, out);
    }

    /// A decided value from a peer (gossip or catch-up): verify and apply, or keep for later.
    fn on_decided_value(
        &mut self,
        dv: wire::DecidedValue,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let Some(height) = dv.certificate.as_ref().map(|c| c.height) else {
            self.reject("decided value without certificate", out);
            return;
        };
        if height < self.next_height
            || self
                .turns
                .as_ref()
                .zip(dv.certificate.as_ref())
                .is_some_and(|(t, c)| c.turn < t.turn())
        {
            // Already decided here, or a turn this node has left.
            return;
        }
        if height > self.next_height {
            if self.catchup.offer(self.next_height, dv).is_err() {
                self.reject("malformed decided value", out);
            }
            self.request_catch_up(now_ms, out);
            return;
        }
        self.verify_and_apply(dv, now_ms, check, out);
        while let Some(next) = self.catchup.take(self.next_height) {
            let before = (self.next_height, self.turns.as_ref().map(|t| t.turn()));
            self.verify_and_apply(next, now_ms, check, out);
            if (self.next_height, self.turns.as_ref().map(|t| t.turn())) == before {
                break;
            }
        }
    }

    fn verify_and_apply(
        &mut self,
        dv: wire::DecidedValue,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        match self.verify_decided(&dv, now_ms, check) {
            Ok((height, id, turn, beacon)) => {
                let current = self.turns.as_ref().map(|t| t.turn());
                if let Some(b) = beacon {
                    if current.is_some_and(|c| turn > c) {
                        // A certificate of a later turn: its predecessors ended; enter it.
                        let r = self
                            .turns
                            .as_mut()
                            .map(|t| t.advance(turn, b.start_height, b.chain_hash, now_ms));
                        match r {
                            Some(Ok(acts)) => self.turn_actions(acts, now_ms, out),
                            _ => {
                                self.reject("cannot enter the certificate's turn", out);
                                return;
                            }
                        }
                    }
                    // The certificate's beacon gives this node the turn's committee.
                    self.turn_input(TurnInput::Beacon(b.to_wire()), now_ms, check, out);
                }
                self.apply(dv, height, id, turn, false, now_ms, check, out);
            }
            Err(reason) => self.reject(reason, out),
        }
    }

    /// Verifies a decided value at this node's next height. Returns its height, id, turn and,
    /// for a later turn, the beacon to enter it with.
    fn verify_decided(
        &self,
        dv: &wire::DecidedValue,
        now_ms: u64,
        check: &dyn ChainValidator,
    ) -> Result<(u64, Hash32, u64, Option<Beacon>), &'static str> {
        let turns = self.turns.as_ref().ok_or("endorsers not known yet")?;
        let cert = dv.certificate.as_ref().ok_or("no certificate")?;
        let value = dv.value.as_ref().ok_or("no value")?;
        let current = turns.turn();
        if cert.turn < current {
            return Err("decided value of an earlier turn");
        }
        let (verified, beacon) = if cert.turn == current
            && let Some(c) = turns.committee()
        {
            let v = certificate::verify_with_committee(cert, c).map_err(|_| "bad certificate")?;
            (v, None)
        } else {
            let v = certificate::verify(cert, &self.orderers, self.cfg.committee_size)
                .map_err(|_| "bad certificate")?;
            let b = Beacon::from_parts(
                cert.turn,
                &cert.beacon_chain_hash,
                cert.beacon_start_height,
                &cert.primary_key,
                &cert.beacon_signature,
            )
            .map_err(|_| "bad beacon evidence")?;
            if cert.turn == current {
                // This node lacks the beacon: it must be the turn's.
                if b.primary != turns.primary()
                    || b.start_height != turns.start_height()
                    || b.chain_hash != turns.chain_hash()
                {
                    return Err("beacon evidence for another turn start");
                }
                (v, Some(b))
            } else {
                if !self
                    .regions
                    .values()
                    .any(|r| r.candidates.contains(&b.primary))
                {
                    return Err("beacon of a non-candidate");
                }
                // The later turn must start at this node's tip.
                if b.start_height != self.next_height || b.chain_hash != self.tip {
                    return Err("later turn starts elsewhere");
                }
                (v, Some(b))
            }
        };
        if verified.height != self.next_height {
            return Err("certificate for another height");
        }
        let primary = match &beacon {
            Some(b) => b.primary,
            None => turns.primary(),
        };
        let nc = NodeCheck {
            turn: cert.turn,
            primary,
            skip_ok: true,
            certified: true,
            validator: check,
        };
        let id = nc
            .value(verified.height, &self.tip, value, now_ms, true)
            .map_err(|_| "decided value does not check")?;
        if id != verified.block_id {
            return Err("decided value is not what the certificate signs");
        }
        Ok((verified.height, id, cert.turn, beacon))
    }

    /// The driver committed (`height`, `block_id`, `turn`, `last_of_turn`).
    fn on_committed(
        &mut self,
        (height, block_id, turn, last_of_turn): (u64, Hash32, u64, bool),
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        if height < self.next_height {
            let known = self
                .recent
                .get(&height)
                .and_then(|d| d.certificate.as_ref())
                .map(|c| c.block_id.as_slice() == block_id.as_bytes());
            if known == Some(false) {
                self.reject("committed block differs from the decided one", out);
                return;
            }
            if height >= self.committed_next {
                self.committed_next = height.saturating_add(1);
            }
            return;
        }
        if height != self.next_height {
            self.reject("committed height out of order", out);
            return;
        }
        // The driver committed a block on its own (its catch-up): trust its verification.
        self.next_height = height.saturating_add(1);
        self.tip = block_id;
        self.committed_next = self.next_height;
        self.last_progress = now_ms;
        let r = self.turns.as_mut().map(|t| {
            t.handle(
                TurnInput::BlockDecided {
                    height,
                    turn,
                    block_id,
                },
                now_ms,
            )
        });
        if let Some(Ok(acts)) = r {
            self.turn_actions(acts, now_ms, out);
        }
        if let Some(r) = self.replica.as_mut() {
            r.resume_at(self.next_height, None, block_id);
        }
        if last_of_turn && self.end_turn_with(turn, height, block_id, now_ms, out) {
            self.after_turn_change(now_ms, check, out);
            return;
        }
        // A primary whose committer learned the block first asks for its next block now, not
        // at the next tick.
        self.maybe_need_proposal(out);
    }

    /// The block decided at `height` was its primary's last of `turn`: when `turn` is the
    /// current one, it ends here, as a decided turn end would one height up, and the next turn
    /// starts at `height + 1`. No block of `turn` can be decided above it: every replica leaves
    /// the turn on deciding this block, and PBFT decides heights in order. Returns whether the
    /// turn changed.
    fn end_turn_with(
        &mut self,
        turn: u64,
        height: u64,
        block_id: Hash32,
        now_ms: u64,
        out: &mut Vec<NodeAction>,
    ) -> bool {
        if self.turns.as_ref().is_none_or(|t| t.turn() != turn) {
            return false;
        }
        self.stats.turn_ends += 1;
        let r = self.turns.as_mut().map(|t| {
            t.advance(
                turn.saturating_add(1),
                height.saturating_add(1),
                block_id,
                now_ms,
            )
        });
        match r {
            Some(Ok(acts)) => {
                self.turn_actions(acts, now_ms, out);
                true
            }
            _ => false,
        }
    }

    fn serve(&mut self, to: PublicKey, req: &wire::CatchUpRequest, out: &mut Vec<NodeAction>) {
        let max = req.max_count.min(self.cfg.catch_up_batch.max(1)) as usize;
        let mut decided: Vec<wire::DecidedValue> = Vec::new();
        for h in req.from_height..=self.next_height {
            if decided.len() >= max {
                break;
            }
            if let Some(te) = self.turn_ends.get(&h) {
                decided.push(te.clone());
            }
            if let Some(dv) = self.recent.get(&h) {
                decided.push(dv.clone());
            }
        }
        if !decided.is_empty() {
            out.push(NodeAction::Send {
                to,
                msg: msg(Kind::CatchUpResponse(wire::CatchUpResponse { decided })),
            });
        }
    }

    fn request_catch_up(&mut self, now_ms: u64, out: &mut Vec<NodeAction>) {
        if now_ms < self.catch_up_at {
            return;
        }
        self.catch_up_at = now_ms.saturating_add(self.cfg.view_change_timeout_ms.max(1));
        out.push(NodeAction::CatchUp {
            from_height: self.next_height,
        });
    }

    // ----- time -----

    fn on_tick(&mut self, now_ms: u64, check: &dyn ChainValidator, out: &mut Vec<NodeAction>) {
        let names: Vec<String> = self.regions.keys().cloned().collect();
        for name in names {
            let due = self
                .regions
                .get(&name)
                .and_then(|r| r.election.deadline())
                .is_some_and(|d| now_ms >= d);
            if due {
                self.election_input(&name, ElectionInput::Tick, now_ms, out);
            }
        }
        if self.replica_timer.is_some_and(|t| now_ms >= t) {
            self.replica_timer = None;
            self.drive_replica(ReplicaInput::Timeout, now_ms, check, out);
        }
        if self.turns.is_some() {
            self.maybe_skip(now_ms, check, out);
            self.turn_input(TurnInput::Tick, now_ms, check, out);
        }
        if now_ms >= self.resend_at {
            self.resend_at = now_ms.saturating_add(self.cfg.view_change_timeout_ms.max(1));
            self.resend(now_ms, out);
        }
        if now_ms >= self.announce_at {
            self.announce_at = now_ms.saturating_add(self.cfg.turn_timeout_ms.max(1));
            self.announce(out);
        }
        let quiet = self.cfg.view_change_timeout_ms.saturating_mul(2);
        if now_ms >= self.last_progress.saturating_add(quiet) {
            self.request_catch_up(now_ms, out);
        }
    }

    /// A committee member proposes to end a stalled turn (the leader orders it if it agrees).
    fn maybe_skip(&mut self, now_ms: u64, check: &dyn ChainValidator, out: &mut Vec<NodeAction>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let Some(t) = &self.turns else {
            return;
        };
        if self.replica.is_none() || primary == self.me {
            return;
        }
        let replaced = !t.is_endorser(&primary);
        if !self.stalled(now_ms) && !replaced {
            return;
        }
        let te = wire::TurnEnd {
            turn,
            next: None,
            end_turn: None,
        };
        let h = self.next_height;
        self.feed_value(
            h,
            wire::proposed_value::Kind::TurnEnd(te),
            now_ms,
            check,
            out,
        );
    }

    fn resend(&mut self, _now_ms: u64, out: &mut Vec<NodeAction>) {
        if let Some(r) = self.regions.get(&self.region) {
            if r.election.endorser().is_none()
                && let Some(v) = &r.my_vote
                && v.view == r.election.view()
            {
                out.push(NodeAction::Broadcast(msg(Kind::ElectionVote(v.clone()))));
            }
            if let Some(c) = &r.my_crash
                && c.view == r.election.view()
            {
                out.push(NodeAction::Broadcast(msg(Kind::CrashSignal(c.clone()))));
            }
        }
        let Some((turn, primary)) = self.current() else {
            return;
        };
        if primary != self.me {
            return;
        }
        let Some(members) = self.committee_members() else {
            return;
        };
        if let Some((t, h, env)) = &self.my_proposal
            && *t == turn
            && *h >= self.next_height
        {
            out.push(NodeAction::Multicast {
                to: members.clone(),
                msg: msg(Kind::Proposal(env.clone())),
            });
        }
        if let Some((t, env)) = &self.my_end
            && *t == turn
        {
            out.push(NodeAction::Multicast {
                to: members,
                msg: msg(Kind::EndTurn(env.clone())),
            });
        }
    }

    /// Periodic announcements for nodes that missed them: the local endorser's view
    /// certificate, and the primary's beacon.
    fn announce(&mut self, out: &mut Vec<NodeAction>) {
        if let Some(r) = self.regions.get(&self.region)
            && r.election.endorser().is_some_and(|v| v.endorser == self.me)
            && let Some(c) = r.election.certificate()
        {
            out.push(NodeAction::Broadcast(msg(Kind::ViewAnnouncement(
                c.clone(),
            ))));
        }
        // The primary and the committee members repeat the turn's beacon: a node that missed it
        // (the primary may have crashed right after sending it) would otherwise neither know
        // the committee nor refuse endorser skips of a turn that has one.
        if let Some(t) = &self.turns
            && (t.primary() == self.me || self.replica.is_some())
            && let Some(b) = t.beacon()
        {
            out.push(NodeAction::Broadcast(msg(Kind::Beacon(b.to_wire()))));
        }
    }

    fn arm_timer(&mut self, now_ms: u64, out: &mut Vec<NodeAction>) {
        let mut at = self.resend_at.min(self.announce_at);
        if let Some(t) = self.replica_timer {
            at = at.min(t);
        }
        if let Some(t) = &self.turns {
            if t.deadline_ms() > now_ms {
                at = at.min(t.deadline_ms());
            }
            if self.replica.is_some() {
                let stall = self.turn_progress.saturating_add(self.cfg.turn_timeout_ms);
                if stall > now_ms {
                    at = at.min(stall);
                }
            }
        }
        for r in self.regions.values() {
            if let Some(d) = r.election.deadline() {
                at = at.min(d);
            }
        }
        let at = at.max(now_ms.saturating_add(1));
        if self.timer != Some(at) || at <= now_ms {
            self.timer = Some(at);
            out.push(NodeAction::SetTimer { at_ms: at });
        }
    }
}
