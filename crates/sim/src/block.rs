//! The simulator's blocks: a few fake events sorted by upload time, some marked invalid by a
//! Byzantine endorser, hashed to an id. Its validator is what the real node's ledger check is to
//! a real block.

use medblock_core::consensus::{ChainValidator, InvalidProposal, ProposalValidator};
use medblock_core::{Hash32, tagged_hash};

/// Bytes before the events: height, previous id, nonce, last-of-turn flag, event count.
const HEAD: usize = 53;

/// A fake event: its upload time and whether its signatures would verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimEvent {
    /// Upload time (ms).
    pub uploaded_at_ms: u64,
    /// False when the endorser packed an event whose signatures do not verify.
    pub valid: bool,
}

/// A fake block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimBlock {
    /// Height it is packed for.
    pub height: u64,
    /// Id of the block it extends.
    pub previous: Hash32,
    /// Makes two blocks for one height differ (an equivocating primary).
    pub nonce: u64,
    /// The primary's last block of its turn (bound by the id, like a ledger block's header).
    pub last_of_turn: bool,
    /// Events, sorted by upload time.
    pub events: Vec<SimEvent>,
}

impl SimBlock {
    /// Fixed-layout encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEAD + 9 * self.events.len());
        v.extend_from_slice(&self.height.to_be_bytes());
        v.extend_from_slice(self.previous.as_bytes());
        v.extend_from_slice(&self.nonce.to_be_bytes());
        v.push(u8::from(self.last_of_turn));
        v.extend_from_slice(&(self.events.len() as u32).to_be_bytes());
        for e in &self.events {
            v.extend_from_slice(&e.uploaded_at_ms.to_be_bytes());
            v.push(u8::from(e.valid));
        }
        v
    }

    /// Decodes untrusted bytes; `None` when malformed.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let u64_at = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
        };
        let height = u64_at(0)?;
        let previous = Hash32::from_slice(b.get(8..40)?)?;
        let nonce = u64_at(40)?;
        let last_of_turn = match *b.get(48)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let n = u32::from_be_bytes(b.get(49..HEAD)?.try_into().ok()?) as usize;
        if b.len() != HEAD + 9 * n {
            return None;
        }
        let mut events = Vec::with_capacity(n);
        for i in 0..n {
            let at = HEAD + 9 * i;
            events.push(SimEvent {
                uploaded_at_ms: u64_at(at)?,
                valid: *b.get(at + 8)? == 1,
            });
        }
        Some(Self {
            height,
            previous,
            nonce,
            last_of_turn,
            events,
        })
    }
}

/// Checks simulator blocks: well formed, for this height, events sorted and all valid.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimValidator;

impl ProposalValidator for SimValidator {
    fn validate(
        &self,
        height: u64,
        payload: &[u8],
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let bad = |reason: &str| InvalidProposal {
            height,
            reason: reason.to_string(),
        };
        let b = SimBlock::decode(payload).ok_or_else(|| bad("malformed block"))?;
        if b.height != height {
            return Err(bad("wrong height"));
        }
        if !b
            .events
            .windows(2)
            .all(|w| w[0].uploaded_at_ms <= w[1].uploaded_at_ms)
        {
            return Err(bad("events not sorted by upload time"));
        }
        if b.events.iter().any(|e| !e.valid) {
            return Err(bad("invalid event"));
        }
        Ok(tagged_hash("medblock-sim/block/v1", &[payload]))
    }
}

impl ChainValidator for SimValidator {
    fn validate(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let id = ProposalValidator::validate(self, height, payload, now_ms)?;
        match SimBlock::decode(payload) {
            Some(b) if b.previous == *previous => Ok(id),
            _ => Err(InvalidProposal {
                height,
                reason: "does not extend the decided chain".to_string(),
            }),
        }
    }

    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal> {
        SimBlock::decode(payload)
            .map(|b| b.last_of_turn)
            .ok_or_else(|| InvalidProposal {
                height,
                reason: "malformed block".to_string(),
            })
    }
}
