//! Messages for future views or heights, kept until the replica gets there. Bounded per signer
//! (after signature checks, so nobody fills another's quota): a Byzantine member can only waste
//! its own share, and what is dropped is counted.

use crate::keys::PublicKey;
use crate::wire;
use std::collections::{BTreeMap, VecDeque};

/// A PBFT message, typed by kind (its contents are re-checked when replayed).
#[derive(Clone, Debug, PartialEq)]
pub enum PbftMessage {
    /// A leader's proposal for (view, height).
    PrePrepare(wire::SignedEnvelope),
    /// A prepare, commit or checkpoint vote.
    Vote(wire::Vote),
    /// A member's request to leave the current view.
    ViewChange(wire::SignedEnvelope),
    /// The new leader's proof that 2f+1 members asked for its view.
    NewView(wire::SignedEnvelope),
}

impl PbftMessage {
    /// The PBFT part of a consensus message; `None` for other kinds.
    pub fn from_wire(m: wire::ConsensusMessage) -> Option<Self> {
        use wire::consensus_message::Kind;
        match m.kind? {
            Kind::PrePrepare(e) => Some(Self::PrePrepare(e)),
            Kind::Vote(v) => Some(Self::Vote(v)),
            Kind::ViewChange(e) => Some(Self::ViewChange(e)),
            Kind::NewView(e) => Some(Self::NewView(e)),
            _ => None,
        }
    }

    /// The wire form, for sending.
    pub fn to_wire(&self) -> wire::ConsensusMessage {
        use wire::consensus_message::Kind;
        let kind = match self.clone() {
            Self::PrePrepare(e) => Kind::PrePrepare(e),
            Self::Vote(v) => Kind::Vote(v),
            Self::ViewChange(e) => Kind::ViewChange(e),
            Self::NewView(e) => Kind::NewView(e),
        };
        wire::ConsensusMessage { kind: Some(kind) }
    }
}

/// The bounded buffer of future messages.
#[derive(Clone, Debug)]
pub struct FutureBuffer {
    per_sender: BTreeMap<PublicKey, VecDeque<(u64, u64, PbftMessage)>>,
    capacity: usize,
    dropped: u64,
}

impl FutureBuffer {
    /// A buffer holding at most `capacity` messages per signer.
    pub fn new(capacity: usize) -> Self {
        Self {
            per_sender: BTreeMap::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Keeps `msg` (for `view`, `height`) from `sender`; when its quota is full, the message
    /// furthest in the future is dropped (it is the least likely to be needed soon).
    pub fn push(&mut self, sender: PublicKey, view: u64, height: u64, msg: PbftMessage) {
        let q = self.per_sender.entry(sender).or_default();
        if q.iter()
            .any(|(v, h, m)| *v == view && *h == height && m == &msg)
        {
            return;
        }
        q.push_back((view, height, msg));
        if q.len() > self.capacity {
            let far = q
                .iter()
                .enumerate()
                .max_by_key(|(_, (v, h, _))| (*h, *v))
                .map(|(i, _)| i);
            if let Some(i) = far {
                q.remove(i);
            }
            self.dropped += 1;
        }
    }

    /// Takes out every message at or below (`view`, `height`): the replica is there now.
    pub fn take_ready(&mut self, view: u64, height: u64) -> Vec<PbftMessage> {
        let mut out = Vec::new();
        for q in self.per_sender.values_mut() {
            let mut keep = VecDeque::with_capacity(q.len());
            for (v, h, m) in q.drain(..) {
                if v <= view && h <= height {
                    out.push(m);
                } else {
                    keep.push_back((v, h, m));
                }
            }
            *q = keep;
        }
        self.per_sender.retain(|_, q| !q.is_empty());
        out
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.per_sender.values().map(|q| q.len()).sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages dropped because a signer's quota was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
