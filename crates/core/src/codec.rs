//! Bounded decoding of untrusted bytes: size is checked before a byte is parsed, and every
//! failure is a typed [`LedgerError`].

use crate::error::LedgerError;

/// Size limits of the protocol, refused before decoding so that an oversized message costs
/// nothing to reject.
pub mod limits {
    /// An encrypted summary: diagnosis, results and plan are short texts, not the EMR.
    pub const MAX_SEALED_SUMMARY_BYTES: usize = 64 * 1024;
    /// One event: the sealed summary plus body and signatures.
    pub const MAX_EVENT_BYTES: usize = 72 * 1024;
    /// One block header.
    pub const MAX_HEADER_BYTES: usize = 4 * 1024;
    /// One certificate.
    pub const MAX_CERTIFICATE_BYTES: usize = 4 * 1024;
    /// One block with all its events (4,096 events of the largest size fit).
    pub const MAX_BLOCK_BYTES: usize = 320 * 1024 * 1024;
    /// The most events a block may hold whatever genesis says.
    pub const MAX_BLOCK_EVENTS: usize = 4096;
    /// A genesis file (certificates of every node of a large network).
    pub const MAX_GENESIS_BYTES: usize = 16 * 1024 * 1024;
    /// A revocation list.
    pub const MAX_REVOCATION_BYTES: usize = 4 * 1024 * 1024;
}

/// Decodes `bytes` as `M` after checking they are at most `max` long.
pub fn decode_bounded<M: prost::Message + Default>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<M, LedgerError> {
    if bytes.len() > max {
        return Err(LedgerError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    M::decode(bytes).map_err(|e| LedgerError::Malformed {
        what,
        reason: e.to_string(),
    })
}
