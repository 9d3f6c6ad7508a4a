//! SHA-256 digests with domain separation.
//!
//! Every hash in MedBlock is a [`Hash32`]; hashing always names what is hashed (a domain tag) so
//! that bytes of one kind can never be passed off as bytes of another.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest: event hashes, block hashes, Merkle nodes, pseudonyms, ledger hashes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero hash, used as the previous hash of the first block.
    pub const ZERO: Hash32 = Hash32([0u8; 32]);

    /// Reads a digest from untrusted bytes; `None` when the length is not 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash32)
    }

    /// The digest as a byte slice.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, the form people read in logs, JSON and the CLI.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        Self::from_slice(&bytes)
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Plain SHA-256 of one byte string, with no domain tag. Used where the paper fixes the
/// definition: an event hash is the SHA-256 of the encrypted summary, an EMR hash is the SHA-256
/// of the EMR's bytes.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(bytes).into())
}

/// SHA-256 over a domain tag and length-prefixed parts, so that `("ab","c")` and `("a","bc")`
/// never collide and a digest of one kind is never valid as another.
pub fn tagged_hash(domain: &str, parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    h.update((domain.len() as u64).to_be_bytes());
    h.update(domain.as_bytes());
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    Hash32(h.finalize().into())
}
