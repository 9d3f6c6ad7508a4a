//! Endorser election inside one region, as a pure state machine.
//!
//! Like a board vote (paper, "Consensus mechanism"), the nodes of a region sign a vote for an
//! endorser candidate in an election round (the view number). A strict majority (> n/2) of the
//! region's members for one candidate in one round elects it; the majority's signed votes form a
//! [`wire::ViewCertificate`] that any node verifies with [`verify_view_certificate`] knowing only
//! the region's member keys (from their certificates), without having watched the vote.
//!
//! When more than half of the members sign a [`wire::CrashSignal`] against the endorser of the
//! current view, round `view + 1` starts and the crashed endorser cannot be elected in it.
//!
//! Safety: two strict majorities of the same member set intersect, so two certificates for one
//! view with different endorsers need a member that signed two different votes in that round —
//! signed evidence of equivocation, which this machine refuses and reports. State is bounded: at
//! most one vote and one crash signal per member, and only for the current round.
//!
//! Not handled here (the driver's policy): which candidate an honest member votes for, and when
//! it decides the endorser has crashed.
//!
//! Split votes: with [`Election::set_round_timeout`], a round that elects nobody within the
//! timeout moves on to the next round ([`ElectionAction::RoundTimedOut`]); the crashed endorser
//! stays excluded. The driver then re-votes with a deterministic choice (the consensus node votes
//! for the round's candidate in a fixed rotation of the preference order), so honest members
//! converge on one candidate. Votes for a later round are kept (one per member) and counted when
//! this node gets there; a majority of them for one candidate elects at once, so a node whose
//! clock lags adopts the round the others already finished.
//!
//! Voters and candidates may be different sets ([`Election::with_candidates`]): the majority is
//! counted over the voters; only candidates can be elected.

use super::statement;
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::wire;
use std::collections::{BTreeMap, BTreeSet};

/// A region's endorser for one view, as proven by a majority of the region's votes: the paper's
/// view (K_pub, View_num) granted to the elected node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndorserView {
    /// The region it endorses for.
    pub region: String,
    /// The view (election round) it was elected in; higher views supersede lower ones.
    pub view: u64,
    /// The endorser's public key.
    pub endorser: PublicKey,
}

/// Why an election message or certificate was refused. Every refusal is typed so the driver can
/// count it and, for equivocation, keep the evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ElectionError {
    /// A key or signature field of the wrong length or not a curve point.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The message is about another region.
    #[error("message for region {got:?}, this is {expected:?}")]
    WrongRegion {
        /// Region named by the message.
        got: String,
        /// Region of this machine.
        expected: String,
    },
    /// The message is for another round than the current one (stale or not yet started).
    #[error("message for view {got}, current view is {current}")]
    WrongRound {
        /// View named by the message.
        got: u64,
        /// Current view.
        current: u64,
    },
    /// The signer is not a member of the region.
    #[error("{key} is not a member of the region")]
    NotMember {
        /// The stranger's key (hex).
        key: String,
    },
    /// The candidate is not a member of the region.
    #[error("candidate {key} is not a member of the region")]
    CandidateNotMember {
        /// The candidate's key (hex).
        key: String,
    },
    /// The candidate was declared crashed in the previous round and may not stand in this one.
    #[error("candidate {key} was declared crashed and cannot be elected in view {view}")]
    ExcludedCandidate {
        /// The candidate's key (hex).
        key: String,
        /// The round.
        view: u64,
    },
    /// A signature that does not verify.
    #[error("forged signature from {key}")]
    BadSignature {
        /// Whose signature failed (hex).
        key: String,
    },
    /// The same member sent the same message twice; it is counted once.
    #[error("duplicate message from {key}")]
    Duplicate {
        /// The member (hex).
        key: String,
    },
    /// The same member signed two different votes in one round: refused, with the evidence.
    #[error("{key} voted twice in view {view}")]
    Equivocation {
        /// The equivocating member (hex).
        key: String,
        /// The round.
        view: u64,
        /// The vote counted first and the conflicting one, both validly signed.
        evidence: Box<(wire::ElectionVote, wire::ElectionVote)>,
    },
    /// A crash signal while no endorser holds the current view.
    #[error("no endorser is elected in view {view}")]
    NoEndorser {
        /// The current view.
        view: u64,
    },
    /// A crash signal against a key that is not the current endorser.
    #[error("{key} is not the endorser of view {view}")]
    NotCurrentEndorser {
        /// The key named (hex).
        key: String,
        /// The current view.
        view: u64,
    },
    /// A certificate without a strict majority of distinct valid voters.
    #[error("short majority: {got} votes, {needed} needed")]
    ShortMajority {
        /// Distinct valid votes.
        got: usize,
        /// floor(n/2) + 1.
        needed: usize,
    },
    /// A vote inside a certificate for another region, view or candidate than the certificate.
    #[error("certificate vote #{index} does not match the certificate")]
    CertificateMismatch {
        /// Position in the certificate.
        index: usize,
    },
    /// A verified certificate for the current view names another endorser than the one this
    /// machine saw elected: members equivocated.
    #[error("conflicting certificate for view {view}")]
    ConflictingCertificate {
        /// The view.
        view: u64,
    },
    /// The local node is asked to sign but holds no member key.
    #[error("this node is not a member of the region")]
    NotAVoter,
    /// The region has no members.
    #[error("the region has no members")]
    EmptyRegion,
}

/// How many earlier voter sets an election remembers for the certificates they signed.
const EARLIER_VOTER_SETS: usize = 8;

/// Votes needed among `n` members: a strict majority.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// What drives an election machine.
#[derive(Clone, Debug, PartialEq)]
pub enum ElectionInput {
    /// The local member votes for `candidate` in the current round (driver's choice).
    CastVote {
        /// Whom to elect.
        candidate: PublicKey,
    },
    /// The local member declares the current endorser crashed (driver's failure detector).
    SignalCrash,
    /// A vote received from the network.
    Vote(wire::ElectionVote),
    /// A crash signal received from the network.
    Crash(wire::CrashSignal),
    /// A view certificate received (a node that missed the votes catches up with it).
    Certificate(wire::ViewCertificate),
    /// Time passed: a round without an endorser past its timeout moves to the next round.
    Tick,
}

/// Messages an election machine sends to the region.
#[derive(Clone, Debug, PartialEq)]
pub enum ElectionMessage {
    /// The local member's signed vote.
    Vote(wire::ElectionVote),
    /// The local member's signed crash signal.
    Crash(wire::CrashSignal),
    /// A freshly formed certificate, announced to the whole network.
    Certificate(wire::ViewCertificate),
}

/// What an election machine asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum ElectionAction {
    /// Send to the region's members (certificates: to the whole network).
    Broadcast(ElectionMessage),
    /// An endorser holds the view; hand `view` to the turn schedule.
    Elected {
        /// The granted view.
        view: EndorserView,
        /// Its proof.
        certificate: wire::ViewCertificate,
    },
    /// A majority declared the endorser crashed: round `view` is open, `excluded` may not win.
    NewRound {
        /// The new round.
        view: u64,
        /// The crashed endorser.
        excluded: PublicKey,
    },
    /// Round `view - 1` elected nobody within the timeout (split vote): round `view` is open.
    RoundTimedOut {
        /// The new round.
        view: u64,
    },
}

/// Counters for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElectionStats {
    /// Messages refused.
    pub rejected: u64,
    /// Equivocations detected.
    pub equivocations: u64,
}

/// One node's view of one region's election.
#[derive(Debug)]
pub struct Election {
    region: String,
    members: BTreeSet<PublicKey>,
    /// The voter sets in force before `members` since the candidates last changed, newest
    /// last: a certificate one of them elected still stands (see [`Election::set_voters`]).
    earlier: Vec<BTreeSet<PublicKey>>,
    candidates: BTreeSet<PublicKey>,
    key: Option<SigningKey>,
    timeout_ms: Option<u64>,
    deadline_ms: Option<u64>,
    timeouts: u32,
    floor: u64,
    future: BTreeMap<PublicKey, (PublicKey, wire::ElectionVote)>,
    view: u64,
    excluded: Option<PublicKey>,
    elected: Option<(EndorserView, wire::ViewCertificate)>,
    votes: BTreeMap<PublicKey, (PublicKey, wire::ElectionVote)>,
    crashes: BTreeMap<PublicKey, wire::CrashSignal>,
    stats: ElectionStats,
}

fn parse_key(bytes: &[u8], what: &'static str) -> Result<PublicKey, ElectionError> {
    PublicKey::from_slice(bytes).map_err(|_| ElectionError::Malformed(what))
}

fn parse_sig(bytes: &[u8]) -> Result<Signature, ElectionError> {
    Signature::from_slice(bytes).map_err(|_| ElectionError::Malformed("signature"))
}

/// Signs a vote for `candidate` in `view` of `region` (what [`ElectionInput::CastVote`] sends;
/// public so tests and tools can build votes).
pub fn sign_vote(
    key: &SigningKey,
    region: &str,
    view: u64,
    candidate: &PublicKey,
) -> wire::ElectionVote {
    let sig = key.sign(
        statement::ELECTION_VOTE,
        &statement::region(region, view, candidate.as_bytes()),
    );
    wire::ElectionVote {
        region: region.to_string(),
        view,
        candidate: candidate.as_bytes().to_vec(),
        voter: key.public().as_bytes().to_vec(),
        signature: sig.to_vec(),
    }
}

/// Signs a crash signal against `endorser` of `view` in `region`.
pub fn sign_crash(
    key: &SigningKey,
    region: &str,
    view: u64,
    endorser: &PublicKey,
) -> wire::CrashSignal {
    let sig = key.sign(
        statement::CRASH_SIGNAL,
        &statement::region(region, view, endorser.as_bytes()),
    );
    wire::CrashSignal {
        region: region.to_string(),
        view,
        endorser_key: endorser.as_bytes().to_vec(),
        signer: key.public().as_bytes().to_vec(),
        signature: sig.to_vec(),
    }
}

/// A vote whose fields parsed and whose signature verified.
struct CheckedVote {
    voter: PublicKey,
    candidate: PublicKey,
}

/// Checks a vote's shape, membership and signature (not its round).
fn check_vote(
    v: &wire::ElectionVote,
    members: &BTreeSet<PublicKey>,
    candidates: &BTreeSet<PublicKey>,
) -> Result<CheckedVote, ElectionError> {
    let voter = parse_key(&v.voter, "voter")?;
    if !members.contains(&voter) {
        return Err(ElectionError::NotMember {
            key: voter.to_hex(),
        });
    }
    let candidate = parse_key(&v.candidate, "candidate")?;
    if !candidates.contains(&candidate) {
        return Err(ElectionError::CandidateNotMember {
            key: candidate.to_hex(),
        });
    }
    let sig = parse_sig(&v.signature)?;
    voter
        .verify(
            statement::ELECTION_VOTE,
            &statement::region(&v.region, v.view, candidate.as_bytes()),
            &sig,
        )
        .map_err(|_| ElectionError::BadSignature {
            key: voter.to_hex(),
        })?;
    Ok(CheckedVote { voter, candidate })
}

/// Verifies a view certificate against the region's member keys, for a node that was not there:
/// every vote must be a member's valid signature for the certificate's region, view and
/// endorser, voters distinct, and more than half of the members. Returns the granted view.
pub fn verify_view_certificate(
    cert: &wire::ViewCertificate,
    region_members: &[PublicKey],
) -> Result<EndorserView, ElectionError> {
    verify_view_certificate_with(cert, region_members, region_members)
}

/// [`verify_view_certificate`] for a region whose candidates are not all voters: the majority is
/// counted over `voters`, and the endorser must be one of `candidates`.
pub fn verify_view_certificate_with(
    cert: &wire::ViewCertificate,
    voters: &[PublicKey],
    candidates: &[PublicKey],
) -> Result<EndorserView, ElectionError> {
    let members: BTreeSet<PublicKey> = voters.iter().copied().collect();
    let candidates: BTreeSet<PublicKey> = candidates.iter().copied().collect();
    verify_counted(cert, &members, &candidates, majority(members.len()))
}

/// Checks every vote of `cert` against `members` and `candidates` and that `needed` distinct
/// voters signed it.
fn verify_counted(
    cert: &wire::ViewCertificate,
    members: &BTreeSet<PublicKey>,
    candidates: &BTreeSet<PublicKey>,
    needed: usize,
) -> Result<EndorserView, ElectionError> {
    if members.is_empty() {
        return Err(ElectionError::EmptyRegion);
    }
    let endorser = parse_key(&cert.endorser_key, "endorser_key")?;
    if !candidates.contains(&endorser) {
        return Err(ElectionError::CandidateNotMember {
            key: endorser.to_hex(),
        });
    }
    let mut voters = BTreeSet::new();
    for (index, v) in cert.votes.iter().enumerate() {
        if v.region != cert.region || v.view != cert.view || v.candidate != cert.endorser_key {
            return Err(ElectionError::CertificateMismatch { index });
        }
        let c = check_vote(v, members, candidates)?;
        if !voters.insert(c.voter) {
            return Err(ElectionError::Duplicate {
                key: c.voter.to_hex(),
            });
        }
    }
    if voters.len() < needed {
        return Err(ElectionError::ShortMajority {
            got: voters.len(),
            needed,
        });
    }
    Ok(EndorserView {
        region: cert.region.clone(),
        view: cert.view,
        endorser,
    })
}

impl Election {
    /// A machine for `region` with its member keys (from their certificates), starting at
    /// election round `view`. `key` is the local member's key, `None` for an observer.
    pub fn new(
        region: impl Into<String>,
        members: &[PublicKey],
        key: Option<SigningKey>,
        view: u64,
    ) -> Result<Self, ElectionError> {
        Self::with_candidates(region, members, members, key, view)
    }

    /// A machine whose `voters` elect one of `candidates` (a region whose endorser candidates
    /// are not all voters, or whose voters may not all stand).
    pub fn with_candidates(
        region: impl Into<String>,
        voters: &[PublicKey],
        candidates: &[PublicKey],
        key: Option<SigningKey>,
        view: u64,
    ) -> Result<Self, ElectionError> {
        let members: BTreeSet<PublicKey> = voters.iter().copied().collect();
        let candidates: BTreeSet<PublicKey> = candidates.iter().copied().collect();
        if members.is_empty() || candidates.is_empty() {
            return Err(ElectionError::EmptyRegion);
        }
        Ok(Self {
            region: region.into(),
            members,
            earlier: Vec::new(),
            candidates,
            key,
            timeout_ms: None,
            deadline_ms: None,
            timeouts: 0,
            floor: view,
            future: BTreeMap::new(),
            view,
            excluded: None,
            elected: None,
            votes: BTreeMap::new(),
            crashes: BTreeMap::new(),
            stats: ElectionStats::default(),
        })
    }

    /// The current election round.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// The endorser holding the current view, if one is elected.
    pub fn endorser(&self) -> Option<&EndorserView> {
        self.elected.as_ref().map(|(v, _)| v)
    }

    /// The proof of the current endorser's view, to serve to nodes that ask.
    pub fn certificate(&self) -> Option<&wire::ViewCertificate> {
        self.elected.as_ref().map(|(_, c)| c)
    }

    /// The candidate barred from the current round (the endorser declared crashed).
    pub fn excluded(&self) -> Option<&PublicKey> {
        self.excluded.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> &ElectionStats {
        &self.stats
    }

    /// The region's name.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Sets the key this node votes with: a node that a decided reconfiguration made a voter
    /// of the region votes from its next round on (`None`: it only observes).
    pub fn set_key(&mut self, key: Option<SigningKey>) {
        self.key = key;
    }

    /// Arms the split-vote timeout: a round still without an endorser `timeout_ms` after it
    /// opened (counted from `now_ms` for the current round) moves on at the next
    /// [`ElectionInput::Tick`]. Successive timed-out rounds wait twice as long (up to 16x), so
    /// slow networks still converge.
    pub fn set_round_timeout(&mut self, timeout_ms: u64, now_ms: u64) {
        self.timeout_ms = Some(timeout_ms.max(1));
        self.deadline_ms = Some(now_ms.saturating_add(timeout_ms.max(1)));
    }

    /// Replaces the region's voters and candidates (a decided reconfiguration, applied at the
    /// same height on every node). Votes and crash signals of former voters, and votes for
    /// former candidates, are dropped. An elected endorser that is no longer a candidate loses
    /// its role exactly as a crash-signal quorum takes it: the round closes and the next opens
    /// with it excluded ([`ElectionAction::NewRound`]), so voters elect the next candidate by
    /// the path a crashed endorser's region already takes, and the turns learn the new
    /// endorser from its view certificate as after a crash.
    pub fn reconfigure(
        &mut self,
        voters: &[PublicKey],
        candidates: &[PublicKey],
        now_ms: u64,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        let members: BTreeSet<PublicKey> = voters.iter().copied().collect();
        let candidates: BTreeSet<PublicKey> = candidates.iter().copied().collect();
        if members.is_empty() || candidates.is_empty() {
            return Err(ElectionError::EmptyRegion);
        }
        self.votes
            .retain(|k, (c, _)| members.contains(k) && candidates.contains(c));
        self.future
            .retain(|k, (c, _)| members.contains(k) && candidates.contains(c));
        self.crashes.retain(|k, _| members.contains(k));
        self.members = members;
        self.earlier.clear();
        self.candidates = candidates;
        let mut out = Vec::new();
        if let Some(e) = self.endorser().map(|v| v.endorser)
            && !self.candidates.contains(&e)
        {
            self.excluded = Some(e);
            self.open_round(self.view.saturating_add(1), now_ms);
            self.floor = self.view;
            out.push(ElectionAction::NewRound {
                view: self.view,
                excluded: e,
            });
            self.replay_future(&mut out);
        }
        Ok(out)
    }

    /// Voters added or removed with the candidates unchanged: the electorate is `voters` from
    /// now on (its votes and crash signals count, a majority of it elects), and the round in
    /// progress carries on. Nodes apply a change at their own moment of the round, and a node
    /// that starts later meets certificates signed before it, so a certificate also stands if
    /// a majority of a voter set in force earlier (since the candidates last changed) signed
    /// it, counting only voters still in force: a revoked voter's signature never counts.
    pub fn set_voters(&mut self, voters: &[PublicKey]) -> Result<(), ElectionError> {
        let members: BTreeSet<PublicKey> = voters.iter().copied().collect();
        if members.is_empty() {
            return Err(ElectionError::EmptyRegion);
        }
        if members == self.members {
            return Ok(());
        }
        self.votes.retain(|k, _| members.contains(k));
        self.future.retain(|k, _| members.contains(k));
        self.crashes.retain(|k, _| members.contains(k));
        let before = std::mem::replace(&mut self.members, members);
        self.earlier.push(before);
        if self.earlier.len() > EARLIER_VOTER_SETS {
            self.earlier.remove(0);
        }
        Ok(())
    }

    /// A view certificate of this region: a majority of the voters in force, or of a voter set
    /// in force earlier counting only voters still in force ([`Election::set_voters`]).
    fn verify_certificate(&self, c: &wire::ViewCertificate) -> Result<EndorserView, ElectionError> {
        let now = verify_counted(
            c,
            &self.members,
            &self.candidates,
            majority(self.members.len()),
        );
        if now.is_ok() || self.earlier.is_empty() {
            return now;
        }
        for set in self.earlier.iter().rev() {
            let still: BTreeSet<PublicKey> = set.intersection(&self.members).copied().collect();
            if still.is_empty() {
                continue;
            }
            if let Ok(view) = verify_counted(c, &still, &self.candidates, majority(set.len())) {
                return Ok(view);
            }
        }
        now
    }

    /// When the current round times out, if it has no endorser and a timeout is armed.
    pub fn deadline(&self) -> Option<u64> {
        if self.elected.is_some() {
            return None;
        }
        self.deadline_ms
    }

    fn open_round(&mut self, view: u64, now_ms: u64) {
        self.view = view;
        self.elected = None;
        self.votes.clear();
        self.crashes.clear();
        if let Some(t) = self.timeout_ms {
            let backoff = 1u64 << self.timeouts.min(4);
            self.deadline_ms = Some(now_ms.saturating_add(t.saturating_mul(backoff)));
        }
    }

    /// Counts kept votes for the round just opened.
    fn replay_future(&mut self, out: &mut Vec<ElectionAction>) {
        let view = self.view;
        let ready: Vec<wire::ElectionVote> = self
            .future
            .values()
            .filter(|(_, v)| v.view == view)
            .map(|(_, v)| v.clone())
            .collect();
        self.future.retain(|_, (_, v)| v.view > view);
        for v in ready {
            if let Ok(more) = self.on_vote(v, Vec::new()) {
                out.extend(more);
            }
        }
    }

    fn on_tick(&mut self, now_ms: u64) -> Vec<ElectionAction> {
        match self.deadline() {
            Some(at) if now_ms >= at => {}
            _ => return Vec::new(),
        }
        self.timeouts = self.timeouts.saturating_add(1);
        let view = self.view.saturating_add(1);
        self.open_round(view, now_ms);
        let mut out = vec![ElectionAction::RoundTimedOut { view }];
        self.replay_future(&mut out);
        out
    }

    /// Keeps a verified vote for a later round (one per voter, the latest), and elects at once
    /// when a majority of kept votes agree on one candidate in one round.
    fn keep_future(
        &mut self,
        c: CheckedVote,
        v: wire::ElectionVote,
        now_ms: u64,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        if let Some((_, old)) = self.future.get(&c.voter)
            && old.view >= v.view
        {
            return Ok(Vec::new());
        }
        let (view, cand) = (v.view, c.candidate);
        self.future.insert(c.voter, (c.candidate, v));
        let backing: Vec<wire::ElectionVote> = self
            .future
            .values()
            .filter(|(k, v)| *k == cand && v.view == view)
            .map(|(_, v)| v.clone())
            .collect();
        if backing.len() < majority(self.members.len()) {
            return Ok(Vec::new());
        }
        let cert = wire::ViewCertificate {
            region: self.region.clone(),
            view,
            endorser_key: cand.as_bytes().to_vec(),
            votes: backing,
        };
        self.future.retain(|_, (_, v)| v.view > view);
        let mut out = self.on_certificate(&cert, now_ms)?;
        out.insert(
            0,
            ElectionAction::Broadcast(ElectionMessage::Certificate(cert)),
        );
        Ok(out)
    }

    /// Feeds one input at `now_ms` (crash detection is the driver's policy; the only timer is
    /// the optional split-vote timeout).
    pub fn handle(
        &mut self,
        input: ElectionInput,
        now_ms: u64,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        let r = match input {
            ElectionInput::CastVote { candidate } => self.cast_vote(candidate),
            ElectionInput::SignalCrash => self.signal_crash(now_ms),
            ElectionInput::Vote(v) => self.on_any_vote(v, now_ms),
            ElectionInput::Crash(c) => self.on_crash(c, Vec::new(), now_ms),
            ElectionInput::Certificate(c) => self.on_certificate(&c, now_ms),
            ElectionInput::Tick => Ok(self.on_tick(now_ms)),
        };
        if let Err(e) = &r {
            self.stats.rejected += 1;
            if matches!(e, ElectionError::Equivocation { .. }) {
                self.stats.equivocations += 1;
            }
        }
        r
    }

    fn cast_vote(&mut self, candidate: PublicKey) -> Result<Vec<ElectionAction>, ElectionError> {
        let key = self.key.as_ref().ok_or(ElectionError::NotAVoter)?;
        let vote = sign_vote(key, &self.region, self.view, &candidate);
        let out = vec![ElectionAction::Broadcast(ElectionMessage::Vote(
            vote.clone(),
        ))];
        self.on_vote(vote, out)
    }

    fn on_any_vote(
        &mut self,
        v: wire::ElectionVote,
        now_ms: u64,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        if v.region == self.region && v.view > self.view {
            let c = check_vote(&v, &self.members, &self.candidates)?;
            return self.keep_future(c, v, now_ms);
        }
        self.on_vote(v, Vec::new())
    }

    fn signal_crash(&mut self, now_ms: u64) -> Result<Vec<ElectionAction>, ElectionError> {
        let key = self.key.as_ref().ok_or(ElectionError::NotAVoter)?;
        let endorser = self
            .endorser()
            .ok_or(ElectionError::NoEndorser { view: self.view })?
            .endorser;
        let signal = sign_crash(key, &self.region, self.view, &endorser);
        let out = vec![ElectionAction::Broadcast(ElectionMessage::Crash(
            signal.clone(),
        ))];
        self.on_crash(signal, out, now_ms)
    }

    fn check_round(&self, region: &str, view: u64) -> Result<(), ElectionError> {
        if region != self.region {
            return Err(ElectionError::WrongRegion {
                got: region.to_string(),
                expected: self.region.clone(),
            });
        }
        if view != self.view {
            return Err(ElectionError::WrongRound {
                got: view,
                current: self.view,
            });
        }
        Ok(())
    }

    fn on_vote(
        &mut self,
        v: wire::ElectionVote,
        mut out: Vec<ElectionAction>,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        self.check_round(&v.region, v.view)?;
        let c = check_vote(&v, &self.members, &self.candidates)?;
        if self.excluded == Some(c.candidate) {
            return Err(ElectionError::ExcludedCandidate {
                key: c.candidate.to_hex(),
                view: self.view,
            });
        }
        if let Some((_, first)) = self.votes.get(&c.voter) {
            if *first == v {
                return Err(ElectionError::Duplicate {
                    key: c.voter.to_hex(),
                });
            }
            return Err(ElectionError::Equivocation {
                key: c.voter.to_hex(),
                view: self.view,
                evidence: Box::new((first.clone(), v)),
            });
        }
        self.votes.insert(c.voter, (c.candidate, v));
        if self.elected.is_some() {
            return Ok(out);
        }
        let backing: Vec<wire::ElectionVote> = self
            .votes
            .values()
            .filter(|(cand, _)| *cand == c.candidate)
            .map(|(_, v)| v.clone())
            .collect();
        if backing.len() >= majority(self.members.len()) {
            let view = EndorserView {
                region: self.region.clone(),
                view: self.view,
                endorser: c.candidate,
            };
            let certificate = wire::ViewCertificate {
                region: self.region.clone(),
                view: self.view,
                endorser_key: c.candidate.as_bytes().to_vec(),
                votes: backing,
            };
            self.elected = Some((view.clone(), certificate.clone()));
            self.timeouts = 0;
            out.push(ElectionAction::Broadcast(ElectionMessage::Certificate(
                certificate.clone(),
            )));
            out.push(ElectionAction::Elected { view, certificate });
        }
        Ok(out)
    }

    fn on_crash(
        &mut self,
        s: wire::CrashSignal,
        mut out: Vec<ElectionAction>,
        now_ms: u64,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        self.check_round(&s.region, s.view)?;
        let endorser = self
            .endorser()
            .ok_or(ElectionError::NoEndorser { view: self.view })?
            .endorser;
        let named = parse_key(&s.endorser_key, "endorser_key")?;
        if named != endorser {
            return Err(ElectionError::NotCurrentEndorser {
                key: named.to_hex(),
                view: self.view,
            });
        }
        let signer = parse_key(&s.signer, "signer")?;
        if !self.members.contains(&signer) {
            return Err(ElectionError::NotMember {
                key: signer.to_hex(),
            });
        }
        let sig = parse_sig(&s.signature)?;
        signer
            .verify(
                statement::CRASH_SIGNAL,
                &statement::region(&s.region, s.view, endorser.as_bytes()),
                &sig,
            )
            .map_err(|_| ElectionError::BadSignature {
                key: signer.to_hex(),
            })?;
        if self.crashes.contains_key(&signer) {
            return Err(ElectionError::Duplicate {
                key: signer.to_hex(),
            });
        }
        self.crashes.insert(signer, s);
        if self.crashes.len() >= majority(self.members.len()) {
            if !self.candidates.iter().any(|c| *c != endorser) {
                // The region's only candidate: a round without it could elect no one, and the
                // region would have no endorser even once it is back. Its turns are skipped
                // while it is down (turn skips); the quorum changes nothing here. Replayed to
                // a node that restarts later, these signals used to take the endorser from it
                // alone, and left it without turns (no endorser for that region) for good.
                return Ok(out);
            }
            self.excluded = Some(endorser);
            self.open_round(self.view.saturating_add(1), now_ms);
            self.floor = self.view;
            out.push(ElectionAction::NewRound {
                view: self.view,
                excluded: endorser,
            });
            self.replay_future(&mut out);
        }
        Ok(out)
    }

    fn on_certificate(
        &mut self,
        c: &wire::ViewCertificate,
        _now_ms: u64,
    ) -> Result<Vec<ElectionAction>, ElectionError> {
        if c.region != self.region {
            return Err(ElectionError::WrongRegion {
                got: c.region.clone(),
                expected: self.region.clone(),
            });
        }
        // Each endorser repeats its own certificate every turn timeout for the nodes that
        // missed it, so nearly every one a node receives is the one it holds. Checking its
        // majority of vote signatures again (one per voter: 26 in a region of 50) was the
        // dearest thing an idle committer did; an identical copy is already verified.
        if self.certificate() == Some(c) {
            return Ok(Vec::new());
        }
        let view = self.verify_certificate(c)?;
        if view.view < self.view && self.elected.is_none() && view.view >= self.floor {
            // This node's rounds only timed out (it missed the votes) while a majority already
            // elected in an earlier round that no crash quorum closed: adopt it.
            self.view = view.view;
            self.excluded = None;
            self.crashes.clear();
        } else if view.view < self.view {
            return Err(ElectionError::WrongRound {
                got: view.view,
                current: self.view,
            });
        }
        if view.view == self.view {
            match self.endorser() {
                Some(e) if e.endorser == view.endorser => return Ok(Vec::new()),
                Some(_) => {
                    return Err(ElectionError::ConflictingCertificate { view: view.view });
                }
                None => {}
            }
        } else {
            // A later round this node missed: the majority's word settles it.
            self.view = view.view;
            self.excluded = None;
            self.crashes.clear();
        }
        self.floor = self.floor.max(view.view);
        self.votes.clear();
        self.timeouts = 0;
        self.future.retain(|_, (_, v)| v.view > view.view);
        self.elected = Some((view.clone(), c.clone()));
        Ok(vec![ElectionAction::Elected {
            view,
            certificate: c.clone(),
        }])
    }
}

#[cfg(test)]
mod tests;
