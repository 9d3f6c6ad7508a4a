//! Who takes part in consensus: derived by core from the configuration in force (genesis plus
//! the configuration changes on the ledger; see `medblock_core::config`), so every node
//! computes the same sets at the same height. Re-exported here for the actors.

pub use medblock_core::config::{Membership, RegionMembers};
