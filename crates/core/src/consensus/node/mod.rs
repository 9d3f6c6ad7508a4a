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
//!
//! # Layout
//!
//! The driver's side is [`NodeInput`] (`input.rs`) and [`NodeAction`] (`action.rs`).
//! [`ConsensusNode::handle`] (`handle.rs`) passes each input, with the step's context
//! (`step.rs`: the time, the chain validator, the actions so far), to the file of its concern:
//!
//! * `election.rs`: this node's votes and crash signals, certificates; starts the turns.
//! * `triage.rs`: routes received messages; parks those it cannot place yet.
//! * `turn.rs`: the [`Turns`] machine's inputs and actions, and what follows a turn change.
//! * `primary.rs`: the local primary's proposals and end of turn.
//! * `replica.rs`: the turn's PBFT replica, the values offered to it, its actions.
//! * `check.rs`: [`ChainValidator`] and the turn rules values are checked with.
//! * `decided.rs`: decisions, decided values from peers (verified first), the driver's commits.
//! * `reconfigure.rs`: a decided block's new membership, installed before the next turn.
//! * `catch_up.rs`: serving and asking for decided values.
//! * `liveness.rs`: peers the driver lost: a lost PBFT leader or turn primary is not waited for.
//! * `timers.rs`: ticks, re-sends, announcements and the driver's one timer.
//! * `setup.rs` and `status.rs`: what a node starts from, and its snapshot.

mod action;
mod catch_up;
mod check;
mod decided;
mod election;
mod handle;
mod input;
mod liveness;
mod primary;
mod reconfigure;
mod replica;
mod resume;
mod setup;
mod status;
mod step;
mod timers;
mod triage;
mod turn;

pub use super::reconfiguration::Reconfiguration;
pub use action::NodeAction;
pub use check::{ChainValidator, turn_end_id};
use check::{NodeCheck, ends_its_turn, open_end_turn, open_proposal};
use decided::Chain;
pub use input::NodeInput;
use primary::PrimaryBook;
pub use primary::sign_proposal;
use replica::Pbft;
pub use setup::{ConsensusError, NodeSetup, RegionSetup};
pub use status::{ConsensusStatus, NodeStats, RegionStatus};
use step::{NoCheck, Step};
use timers::Timers;
use triage::{Parked, turn_of};

use super::beacon::Beacon;
use super::catchup::CatchUp;
use super::certificate;
use super::committee::Committee;
use super::config::ConsensusConfig;
use super::election::{
    Election, ElectionAction, ElectionError, ElectionInput, ElectionMessage, EndorserView,
};
use super::pbft::{
    PbftMessage, Replica, ReplicaAction, ReplicaInput, SafetyRecord, SafetyRecordError, ValueCheck,
};
use super::statement;
use super::turns::{self, TurnAction, TurnError, TurnInput, TurnMessage, TurnStart, Turns};
use super::value_check::InvalidProposal;
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

struct Region {
    /// Who votes in its elections (as the membership in force lists them).
    voters: Vec<PublicKey>,
    candidates: Vec<PublicKey>,
    election: Election,
    my_vote: Option<wire::ElectionVote>,
    my_crash: Option<wire::CrashSignal>,
    /// The last endorser this node saw elected, kept while a new round runs: the turn
    /// machine starts from it (see `on_elected`).
    last_elected: Option<EndorserView>,
}

fn msg(kind: Kind) -> wire::ConsensusMessage {
    wire::ConsensusMessage { kind: Some(kind) }
}

/// One node's consensus: elections, turns, the turn's PBFT replica and catch-up.
pub struct ConsensusNode {
    /// Network-wide parameters.
    cfg: ConsensusConfig,
    /// This node's key, and its public half.
    key: SigningKey,
    me: PublicKey,
    /// This node's region and roles (from its setup).
    region: String,
    voter: bool,
    endorser: bool,
    /// Whether the node's setup gave it the orderer role (it then orders while it is in the
    /// pool).
    orderer_role: bool,
    /// Whether it orders now: the role, and a place in the current pool.
    orderer: bool,
    /// Every region's election.
    regions: BTreeMap<String, Region>,
    /// The eligible orderers committees are drawn from.
    orderers: Vec<PublicKey>,
    /// Where the turns start once every region has an endorser.
    start: TurnStart,
    /// The primary turns (`None` until every region has an endorser).
    turns: Option<Turns>,
    /// The decided chain as this node knows it.
    chain: Chain,
    /// Messages and decided values held until the node can place them.
    parked: Parked,
    /// The turn's PBFT replica, when this node sits in the committee.
    pbft: Pbft,
    /// What the local endorser did as the turn's primary.
    as_primary: PrimaryBook,
    /// Deadlines and progress times.
    timers: Timers,
    /// Counters (a running replica's view changes are added in `status`).
    stats: NodeStats,
    /// Peers the driver lost the connection to, and since when (`liveness.rs`).
    lost: BTreeMap<PublicKey, u64>,
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
        let me = setup.key.public();
        // A node whose region is not configured yet (a hospital in a region the ledger has not
        // added, or whose certificate is not on it yet) observes: it votes and proposes once a
        // decided reconfiguration gives it a place (`reconfigure.rs`).
        let known = setup.regions.iter().any(|r| r.name == setup.region);
        let setup = NodeSetup {
            voter: setup.voter && known,
            endorser: setup.endorser && known,
            ..setup
        };
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
                voters: r.voters.clone(),
                candidates: r.candidates.clone(),
                election,
                my_vote: None,
                my_crash: None,
                last_elected: None,
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
            orderer_role: setup.orderer,
            orderer: setup.orderer && setup.orderers.contains(&me),
            regions,
            orderers: setup.orderers,
            start: setup.start,
            turns: None,
            chain: Chain::new(setup.start),
            parked: Parked::new(batch.saturating_mul(2)),
            pbft: Pbft::default(),
            as_primary: PrimaryBook::default(),
            timers: Timers::new(&setup.cfg, now_ms),
            stats: NodeStats::default(),
            lost: BTreeMap::new(),
            cfg: setup.cfg,
        };
        let mut step = Step::new(now_ms, &NoCheck);
        let region = node.region.clone();
        node.vote_for_round(&region, &mut step);
        node.arm_timer(&mut step);
        Ok((node, step.out))
    }

    /// This node's key.
    pub fn public_key(&self) -> PublicKey {
        self.me
    }

    /// The first height not yet decided.
    pub fn next_height(&self) -> u64 {
        self.chain.next_height
    }

    /// The id of the last decided block.
    pub fn tip(&self) -> Hash32 {
        self.chain.tip
    }

    /// The decided turn ends this node remembers (the last few turns) from `from_height` on.
    /// Ledgers hold blocks only, so a peer serving catch-up from its ledger adds these: the node
    /// catching up then learns which turns ended, not only the blocks, and rejoins the current
    /// turn instead of waiting for a timeout.
    pub fn turn_ends_from(&self, from_height: u64) -> Vec<wire::DecidedValue> {
        self.chain
            .turn_ends
            .range(from_height..)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn reject(&mut self, reason: &'static str, step: &mut Step<'_>) {
        self.stats.rejected += 1;
        step.out.push(NodeAction::Rejected { reason });
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
}
