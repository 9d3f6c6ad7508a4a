//! Configuration on the ledger: who may do what, decided by consensus.
//!
//! Genesis fixes the first membership; after it, the CA signs [`wire::ConfigChange`]s (a
//! certificate issued, one revoked, a region added, new consensus parameters) that endorsers
//! pack into blocks and orderers decide like events. Each takes effect at the height of the
//! block that holds it, on every node, because every node folds the same blocks in the same
//! order into a [`ConfigState`]: the trust store and the consensus [`Membership`] are functions
//! of genesis plus the ledger, so a restart rebuilds them and cannot forget a revocation.
//!
//! [`wire::ConfigChange`]: crate::wire::ConfigChange

mod change;
mod error;
mod membership;
mod state;

pub use change::{ConfigChangeKind, SignedChange, config_hash, sign_change};
pub use error::ConfigError;
pub use membership::{Membership, RegionMembers};
pub use state::{AppliedChange, ConfigState};

/// Largest encoded configuration change (a certificate with room to spare).
pub const MAX_CHANGE_BYTES: usize = 8 * 1024;
/// Most configuration changes one block may carry: changes are rare and each is checked
/// against the whole state, so a block stays cheap to check.
pub const MAX_CHANGES_PER_BLOCK: usize = 16;
/// Fewest orderers a network may be left with: PBFT needs 3f+1 with f >= 1.
pub const MIN_ORDERERS: usize = 4;
