//! The configuration rule of a ledger block: its changes apply, in order, to the configuration
//! as of the block below, and a block that changes consensus membership or parameters is its
//! primary's last of the turn (so the next turn's committee is drawn from the new membership,
//! the same on every node).

use super::BlockRuleError;
use crate::block::VerifiedBlock;
use crate::config::{ConfigError, ConfigState};

/// Checks `block`'s configuration changes against `config` (the state as of the block below)
/// and returns the state after the block, or `None` when the block changes nothing. Without a
/// state (a ledger opened without its genesis, e.g. by a tool) a block with changes is refused:
/// nothing is appended that was not checked.
pub fn check_config(
    block: &VerifiedBlock,
    config: Option<&ConfigState>,
) -> Result<Option<ConfigState>, BlockRuleError> {
    let height = block.header.height;
    if block.block.config_changes.is_empty() {
        return Ok(None);
    }
    let config = config.ok_or(BlockRuleError::Config(ConfigError::NoState))?;
    let (changes, next) = config
        .check_block(height, &block.block.config_changes)
        .map_err(BlockRuleError::Config)?;
    if changes.iter().any(|c| c.changes_consensus()) && !block.header.last_of_turn {
        return Err(BlockRuleError::ConfigOutsideTurnEnd);
    }
    Ok(Some(next))
}
