//! Catch-up: a member that is behind fetches decided values with their certificates, verifies
//! each, and applies them in height order. Out-of-order arrivals wait in a bounded window.

use crate::wire;
use prost::Message;
use std::collections::BTreeMap;

/// Why a catch-up message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatchUpError {
    /// Not a decoded decided value.
    #[error("cannot decode {0}")]
    Decode(&'static str),
    /// A decided value without value or certificate.
    #[error("decided value lacks its {0}")]
    Missing(&'static str),
}

/// Decided values received ahead of the local height, and the outstanding request.
#[derive(Clone, Debug)]
pub struct CatchUp {
    window: u64,
    pending: BTreeMap<u64, wire::DecidedValue>,
    requested_until: Option<(u64, u64)>,
}

impl CatchUp {
    /// Keeps at most `window` heights ahead.
    pub fn new(window: u64) -> Self {
        Self {
            window: window.max(1),
            pending: BTreeMap::new(),
            requested_until: None,
        }
    }

    /// Stores a decided value for later if it lies within the window above `next_height`.
    pub fn offer(&mut self, next_height: u64, dv: wire::DecidedValue) -> Result<(), CatchUpError> {
        let c = dv
            .certificate
            .as_ref()
            .ok_or(CatchUpError::Missing("certificate"))?;
        if dv.value.is_none() {
            return Err(CatchUpError::Missing("value"));
        }
        if c.height >= next_height && c.height < next_height + self.window {
            self.pending.entry(c.height).or_insert(dv);
        }
        Ok(())
    }

    /// The stored value for `next_height`, if any (to verify and apply), dropping older ones.
    pub fn take(&mut self, next_height: u64) -> Option<wire::DecidedValue> {
        self.pending.retain(|h, _| *h >= next_height);
        self.pending.remove(&next_height)
    }

    /// Whether values are known above `next_height` (a gap to fill).
    pub fn has_gap(&self, next_height: u64) -> bool {
        self.pending.keys().any(|h| *h > next_height)
    }

    /// A request for values from `from_height`, unless one is still outstanding at `now_ms`.
    pub fn request(
        &mut self,
        from_height: u64,
        batch: u32,
        now_ms: u64,
        retry_ms: u64,
    ) -> Option<wire::ConsensusMessage> {
        if let Some((h, deadline)) = self.requested_until
            && h >= from_height
            && now_ms < deadline
        {
            return None;
        }
        self.requested_until = Some((from_height, now_ms + retry_ms));
        Some(wire::ConsensusMessage {
            kind: Some(wire::consensus_message::Kind::CatchUpRequest(
                wire::CatchUpRequest {
                    from_height,
                    max_count: batch,
                },
            )),
        })
    }
}

/// Answers a request from a log of decided values (ascending heights), at most `max` of them.
pub fn serve<'a>(
    decided: impl Iterator<Item = &'a wire::DecidedValue>,
    req: &wire::CatchUpRequest,
    max: u32,
) -> wire::ConsensusMessage {
    let n = req.max_count.min(max) as usize;
    let decided = decided
        .filter(|d| {
            d.certificate
                .as_ref()
                .is_some_and(|c| c.height >= req.from_height)
        })
        .take(n)
        .cloned()
        .collect();
    wire::ConsensusMessage {
        kind: Some(wire::consensus_message::Kind::CatchUpResponse(
            wire::CatchUpResponse { decided },
        )),
    }
}

/// Decodes any consensus message from untrusted bytes, refusing oversized ones.
pub fn decode_message(
    bytes: &[u8],
    max_bytes: usize,
) -> Result<wire::ConsensusMessage, CatchUpError> {
    if bytes.len() > max_bytes {
        return Err(CatchUpError::Decode("oversized message"));
    }
    wire::ConsensusMessage::decode(bytes).map_err(|_| CatchUpError::Decode("consensus message"))
}
