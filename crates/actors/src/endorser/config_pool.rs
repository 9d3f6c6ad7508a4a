//! Configuration changes waiting for a block: CA-signed changes submitted to any node reach
//! every endorser (gossip), each keeps them here, and whichever is primary packs them into the
//! last block of its turn. A change leaves the pool when the ledger holds it (or it no longer
//! applies, e.g. the same revocation decided from another submission).

use medblock_core::config::{ConfigError, ConfigState, MAX_CHANGES_PER_BLOCK, SignedChange};

/// Most changes waiting at once: changes are rare (an operator's command each), so a full pool
/// means a flood, refused rather than held.
const MAX_WAITING: usize = 64;

/// Changes waiting, in arrival order (a region added before its first certificate must be
/// packed before it).
#[derive(Debug, Default)]
pub(super) struct ConfigPool {
    waiting: Vec<SignedChange>,
}

impl ConfigPool {
    /// Checks `bytes` against the configuration in force and keeps it; the same change twice
    /// is kept once.
    pub(super) fn offer(
        &mut self,
        state: &ConfigState,
        bytes: &[u8],
    ) -> Result<SignedChange, ConfigError> {
        let change = state.check(bytes)?;
        if self.waiting.iter().any(|w| w.id == change.id) {
            return Ok(change);
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err(ConfigError::Malformed(format!(
                "{MAX_WAITING} configuration changes already wait for a block; try again later"
            )));
        }
        self.waiting.push(change.clone());
        Ok(change)
    }

    /// Whether any change waits.
    pub(super) fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The changes to pack into the block at `height` on top of `state` (the configuration as
    /// of the block below): each checked against the state the earlier ones leave, those that
    /// no longer apply dropped, at most [`MAX_CHANGES_PER_BLOCK`]. They stay in the pool until
    /// committed, so a block that is not decided does not lose them.
    pub(super) fn for_block(&mut self, state: &ConfigState, height: u64) -> Vec<Vec<u8>> {
        let mut next = state.clone();
        let mut out = Vec::new();
        let mut dead = Vec::new();
        for change in &self.waiting {
            if out.len() >= MAX_CHANGES_PER_BLOCK {
                break;
            }
            match next.check_block(height, std::slice::from_ref(&change.bytes)) {
                Ok((_, after)) => {
                    next = after;
                    out.push(change.bytes.clone());
                }
                Err(e) => {
                    tracing::warn!(change = %change.id, error = %e, "configuration change no longer applies; dropped");
                    dead.push(change.id);
                }
            }
        }
        self.waiting.retain(|c| !dead.contains(&c.id));
        out
    }

    /// Drops what `state` (the ledger's configuration after a commit) holds or refuses.
    pub(super) fn prune(&mut self, state: &ConfigState) {
        self.waiting.retain(|c| state.check_signed(c).is_ok());
    }
}
