//! What a replica must not forget across a crash, and the guard that keeps it from signing
//! against it.
//!
//! PBFT's safety argument assumes an honest replica never signs two different digests for one
//! (view, height) and never returns to a view it left. A replica that restarts with an empty
//! memory breaks both: it may prepare another value where it already prepared one, or accept
//! messages in a view it promised (by its view change) to have left, so one restart plus one
//! Byzantine member exceeds f = 1. The replica therefore keeps a [`SafetyRecord`] (its view,
//! the view it is changing to, the digest of every pre-prepare, prepare and commit it signed,
//! and its prepared certificate) and hands it to its driver as [`ReplicaAction::Persist`],
//! *first* in the step's actions, so a driver that carries out actions in order writes it before
//! any message that depends on it leaves. On restart the driver gives it back through
//! [`Replica::restore`].
//!
//! Entries are forgotten once their height is committed to the driver's ledger
//! ([`Replica::committed_through`]): a restarted node resumes above its ledger tip and never
//! works at those heights again. Heights decided but not yet committed are kept, since the
//! node may restart below them.

use super::{Replica, ReplicaAction};
use crate::hash::Hash32;
use crate::keys::PublicKey;
use crate::wire;
use prost::Message;
use std::collections::BTreeMap;

/// Entries a record may hold: heights within the replica's window times views within its
/// window is far less; a record above this is corrupt, not large.
const MAX_ENTRIES: usize = 16 * 1024;

/// What a replica signs for a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SignedKind {
    /// As leader: the value of the slot.
    PrePrepare = 1,
    /// "I accepted this pre-prepare."
    Prepare = 2,
    /// "I saw 2f+1 prepares for it."
    Commit = 3,
}

impl SignedKind {
    fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::PrePrepare),
            2 => Some(Self::Prepare),
            3 => Some(Self::Commit),
            _ => None,
        }
    }
}

/// One signed statement, as persisted.
#[derive(Clone, PartialEq, Message)]
pub struct SignedEntry {
    /// [`SignedKind`] as a number.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// View.
    #[prost(uint64, tag = "2")]
    pub view: u64,
    /// Height.
    #[prost(uint64, tag = "3")]
    pub height: u64,
    /// The digest signed (32 bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub digest: Vec<u8>,
}

/// A replica's safety state, as its driver persists it (protobuf, so a record written by an
/// older node still decodes).
#[derive(Clone, PartialEq, Message)]
pub struct SafetyRecord {
    /// The turn the replica ran.
    #[prost(uint64, tag = "1")]
    pub turn: u64,
    /// The view it was in.
    #[prost(uint64, tag = "2")]
    pub view: u64,
    /// The view it asked to change to (0: none).
    #[prost(uint64, tag = "3")]
    pub changing: u64,
    /// Everything it signed at heights not yet committed locally.
    #[prost(message, repeated, tag = "4")]
    pub signed: Vec<SignedEntry>,
    /// Its prepared certificate for its current height, which its view changes must carry.
    #[prost(message, optional, tag = "5")]
    pub prepared: Option<wire::PreparedCertificate>,
}

/// Why stored bytes are not a usable record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetyRecordError {
    /// Not a protobuf record.
    #[error("safety record does not decode")]
    Decode,
    /// An entry with an unknown kind.
    #[error("safety record entry of unknown kind {0}")]
    Kind(u32),
    /// An entry whose digest is not 32 bytes.
    #[error("safety record entry with a {0}-byte digest")]
    Digest(usize),
    /// Two entries for one slot with different digests: the record cannot be trusted.
    #[error("safety record holds two digests for one slot (view {view}, height {height})")]
    Conflict {
        /// View.
        view: u64,
        /// Height.
        height: u64,
    },
    /// More entries than a replica ever keeps.
    #[error("safety record with {0} entries")]
    TooLarge(usize),
}

impl SafetyRecord {
    /// The bytes to store.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Reads stored bytes, checking every entry.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SafetyRecordError> {
        let r = Self::decode(bytes).map_err(|_| SafetyRecordError::Decode)?;
        r.entries()?;
        Ok(r)
    }

    /// The entries as a map, refusing malformed or contradictory ones.
    fn entries(&self) -> Result<BTreeMap<Slot, Hash32>, SafetyRecordError> {
        if self.signed.len() > MAX_ENTRIES {
            return Err(SafetyRecordError::TooLarge(self.signed.len()));
        }
        let mut out = BTreeMap::new();
        for e in &self.signed {
            let kind = SignedKind::from_u32(e.kind).ok_or(SafetyRecordError::Kind(e.kind))?;
            let d =
                Hash32::from_slice(&e.digest).ok_or(SafetyRecordError::Digest(e.digest.len()))?;
            if let Some(old) = out.insert((e.height, e.view, kind), d)
                && old != d
            {
                return Err(SafetyRecordError::Conflict {
                    view: e.view,
                    height: e.height,
                });
            }
        }
        Ok(out)
    }
}

/// (height, view, kind).
type Slot = (u64, u64, SignedKind);

/// The replica's memory of what it signed.
#[derive(Clone, Debug, Default)]
pub(super) struct SignedLog {
    entries: BTreeMap<Slot, Hash32>,
    /// Something a restart must know changed since the last [`ReplicaAction::Persist`].
    dirty: bool,
}

impl SignedLog {
    /// Whether this replica may sign `digest` for the slot; records it when it may. It may
    /// unless it already signed another digest there.
    pub(super) fn allow(&mut self, kind: SignedKind, view: u64, height: u64, d: &Hash32) -> bool {
        match self.entries.get(&(height, view, kind)) {
            Some(old) => old == d,
            None => {
                self.entries.insert((height, view, kind), *d);
                self.dirty = true;
                true
            }
        }
    }

    pub(super) fn touch(&mut self) {
        self.dirty = true;
    }
}

impl Replica {
    /// What this replica must remember across a restart.
    pub fn safety_record(&self) -> SafetyRecord {
        SafetyRecord {
            turn: self.turn,
            view: self.view,
            changing: self.changing.unwrap_or(0),
            signed: self
                .signed
                .entries
                .iter()
                .map(|((height, view, kind), d)| SignedEntry {
                    kind: *kind as u32,
                    view: *view,
                    height: *height,
                    digest: d.0.to_vec(),
                })
                .collect(),
            prepared: self.prepared.clone(),
        }
    }

    /// Takes back what this replica persisted before a restart (call after
    /// [`Replica::resume_at`]). A record of another turn is ignored: votes name their turn, so
    /// they cannot conflict across turns. The replica resumes no lower than the view it was in,
    /// stays out of a view it asked to leave, keeps its prepared certificate, and will not sign
    /// another digest where it signed one.
    pub fn restore(&mut self, record: &SafetyRecord) -> Result<(), SafetyRecordError> {
        let entries = record.entries()?;
        if record.turn != self.turn {
            return Ok(());
        }
        self.signed.entries = entries
            .into_iter()
            .filter(|((h, _, _), _)| *h >= self.next_height)
            .collect();
        self.view = self.view.max(record.view);
        if record.changing > self.view {
            // It sent a view change for this view: until that view is entered it accepts
            // nothing in the old one, as before the crash. The timer re-sends it.
            self.changing = Some(record.changing);
        }
        if self.prepared.is_none() {
            self.prepared = record.prepared.clone();
        }
        Ok(())
    }

    /// The driver committed every height up to `height` to its ledger: what this replica signed
    /// there can be forgotten (a restart resumes above it).
    pub fn committed_through(&mut self, height: u64) {
        let before = self.signed.entries.len();
        self.signed.entries.retain(|(h, _, _), _| *h > height);
        if self.signed.entries.len() != before {
            self.signed.touch();
        }
    }

    /// Puts the record first among `out` when it changed: a driver that carries out actions in
    /// order writes it before sending anything signed in this step.
    pub(super) fn flush_safety(&mut self, out: &mut Vec<ReplicaAction>) {
        if std::mem::take(&mut self.signed.dirty) {
            out.insert(0, ReplicaAction::Persist(Box::new(self.safety_record())));
        }
    }

    /// Compares a vote with the first its voter cast for the slot (remembered apart from the
    /// log, see `evidence.rs`); two different digests from one key is equivocation.
    pub(super) fn vote_conflict(
        &mut self,
        v: &super::messages::CheckedVote,
        out: &mut Vec<ReplicaAction>,
    ) {
        use crate::consensus::statement::VoteKind;
        let far = v.height >= self.next_height.saturating_add(super::HEIGHT_WINDOW)
            || v.view > self.view.saturating_add(super::view_change::VIEW_WINDOW);
        if !far && self.votes_seen.conflicts(v) {
            let what = match v.kind {
                VoteKind::Prepare => "prepare",
                _ => "commit",
            };
            self.evidence(v.voter, what, v.view, v.height, out);
        }
    }

    pub(super) fn evidence(
        &mut self,
        signer: PublicKey,
        what: &'static str,
        view: u64,
        height: u64,
        out: &mut Vec<ReplicaAction>,
    ) {
        self.stats.equivocations += 1;
        out.push(ReplicaAction::Equivocation {
            signer,
            what,
            view,
            height,
        });
    }
}
