//! The simulator's blocks: a few fake events sorted by upload time, some marked invalid by a
//! Byzantine endorser, hashed to an id. Its validator is what the real node's ledger check is to
//! a real block.

use medblock_core::block::ChainTip;
use medblock_core::block_rules::{
    BlockFacts, BlockLimits, BlockRuleError, ChainBelow, Inclusion, check_chain, max_block_bytes,
};
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
    /// The scripted membership change it carries (`k`: the run's `k`-th; 0: none). Encoded as
    /// one trailing byte only when set, so blocks without one keep their bytes and ids.
    pub config: u8,
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
        if self.config != 0 {
            v.push(self.config);
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
        let body = HEAD.checked_add(n.checked_mul(9)?)?;
        let config = match b.len().checked_sub(body)? {
            0 => 0,
            // A trailing byte names a change; zero would be a second encoding of "none".
            1 => match *b.get(body)? {
                0 => return None,
                k => k,
            },
            _ => return None,
        };
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
            config,
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
            blame: true,
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

/// The simulator's blocks under core's one validity predicate ([`check_chain`]), as far as
/// their model goes: they carry no orderer time and no event identity (a fake event is an
/// upload time and a validity flag), so the time and duplicate rules have nothing to check and
/// the predicate applies its link, height, count and byte rules.
impl BlockFacts for SimBlock {
    type Key = ();

    fn height(&self) -> u64 {
        self.height
    }

    fn previous(&self) -> Hash32 {
        self.previous
    }

    fn orderer_timestamp_ms(&self) -> Option<u64> {
        None
    }

    fn event_keys(&self) -> Vec<()> {
        Vec::new()
    }

    fn event_count(&self) -> usize {
        self.events.len()
    }

    fn encoded_len(&self) -> usize {
        HEAD + 9 * self.events.len() + usize::from(self.config != 0)
    }
}

/// The chain below a simulated proposal: only the block consensus decided below it, whose id
/// is what a simulated block links to (its model has no time).
struct SimBelow {
    previous: Hash32,
}

impl ChainBelow<()> for SimBelow {
    fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, BlockRuleError> {
        Ok(Some(ChainTip {
            height,
            id: self.previous,
            timestamp_ms: 0,
        }))
    }

    fn included(&self, _: &(), _: u64) -> Result<Option<Inclusion>, BlockRuleError> {
        Ok(None)
    }
}

/// Limits of simulated blocks: the codec's event ceiling and the byte limit of the default
/// frame (the simulator's blocks are far below both; the rules are applied all the same).
fn sim_limits() -> BlockLimits {
    BlockLimits {
        max_events: medblock_core::codec::limits::MAX_BLOCK_EVENTS,
        max_bytes: max_block_bytes(u64::from(
            medblock_core::genesis::default_params().max_message_bytes,
        )),
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
        let bad = |reason: String| InvalidProposal {
            height,
            reason,
            blame: true,
        };
        let b = SimBlock::decode(payload).ok_or_else(|| bad("malformed block".into()))?;
        let below = SimBelow {
            previous: *previous,
        };
        check_chain(&b, &below, &sim_limits()).map_err(|e| bad(e.to_string()))?;
        Ok(id)
    }

    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal> {
        SimBlock::decode(payload)
            .map(|b| b.last_of_turn)
            .ok_or_else(|| InvalidProposal {
                height,
                reason: "malformed block".to_string(),
                blame: true,
            })
    }
}
