//! The turn beacon: the primary's Ed25519 signature over the decided chain. Ed25519 signatures
//! are deterministic, so the primary has exactly one seed it can produce per turn and chain: it
//! may withhold it (and lose its turn) but cannot grind it.

use super::statement;
use crate::hash::{Hash32, tagged_hash};
use crate::keys::{KeyError, PublicKey, Signature, SigningKey};
use crate::wire;

/// A verified beacon for one turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beacon {
    /// The turn it seeds.
    pub turn: u64,
    /// Id of the last decided block before the turn.
    pub chain_hash: Hash32,
    /// First height the turn decides.
    pub start_height: u64,
    /// The turn's primary endorser.
    pub primary: PublicKey,
    /// Its signature over the statement.
    pub signature: Signature,
}

/// Why a beacon was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeaconError {
    /// A key, hash or signature field of the wrong length.
    #[error("malformed beacon field: {0}")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("beacon signature: {0}")]
    Signature(#[from] KeyError),
}

impl Beacon {
    /// The primary signs its turn's beacon.
    pub fn sign(key: &SigningKey, turn: u64, chain_hash: Hash32, start_height: u64) -> Self {
        let signature = key.sign(
            statement::BEACON,
            &statement::beacon(turn, &chain_hash, start_height),
        );
        Self {
            turn,
            chain_hash,
            start_height,
            primary: key.public(),
            signature,
        }
    }

    /// Reads and verifies the beacon fields of a share (the view certificate is checked by the
    /// turn schedule, which knows the regions).
    pub fn from_wire(share: &wire::BeaconShare) -> Result<Self, BeaconError> {
        Self::from_parts(
            share.turn,
            &share.chain_hash,
            share.start_height,
            &share.primary_key,
            &share.signature,
        )
    }

    /// Reads and verifies a beacon from its raw fields (a share or a certificate's evidence).
    pub fn from_parts(
        turn: u64,
        chain_hash: &[u8],
        start_height: u64,
        primary: &[u8],
        signature: &[u8],
    ) -> Result<Self, BeaconError> {
        let chain_hash =
            Hash32::from_slice(chain_hash).ok_or(BeaconError::Malformed("chain_hash"))?;
        let primary =
            PublicKey::from_slice(primary).map_err(|_| BeaconError::Malformed("primary_key"))?;
        let signature =
            Signature::from_slice(signature).map_err(|_| BeaconError::Malformed("signature"))?;
        primary.verify(
            statement::BEACON,
            &statement::beacon(turn, &chain_hash, start_height),
            &signature,
        )?;
        Ok(Self {
            turn,
            chain_hash,
            start_height,
            primary,
            signature,
        })
    }

    /// The turn's random seed: a hash of the signature (and what it covers).
    pub fn seed(&self) -> Hash32 {
        tagged_hash(
            "medblock/beacon-seed/v1",
            &[
                &self.turn.to_be_bytes(),
                self.chain_hash.as_bytes(),
                self.signature.as_bytes(),
            ],
        )
    }

    /// The share as it travels (without a view certificate).
    pub fn to_wire(&self) -> wire::BeaconShare {
        wire::BeaconShare {
            turn: self.turn,
            chain_hash: self.chain_hash.0.to_vec(),
            start_height: self.start_height,
            primary_key: self.primary.as_bytes().to_vec(),
            signature: self.signature.to_vec(),
            view: None,
        }
    }
}
