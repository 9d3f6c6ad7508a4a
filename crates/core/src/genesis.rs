//! Genesis: the CA key, the initial certificates, the regulator key and the consensus
//! parameters, signed by the CA. Its hash names the network: two nodes with different genesis
//! hashes are on different networks.

use crate::cert::{CertificateAuthority, TrustStore};
use crate::codec::{decode_bounded, limits};
use crate::error::LedgerError;
use crate::hash::{Hash32, tagged_hash};
use crate::keys::{PublicKey, SealingPublic, Signature};
use crate::wire;
use prost::Message;

/// Signature purpose of the genesis body.
pub const GENESIS_PURPOSE: &str = "medblock/genesis/v1";

/// Consensus parameters a small network runs well with; every value can be overridden.
pub fn default_params() -> wire::ConsensusParams {
    wire::ConsensusParams {
        max_block_events: 1000,
        block_interval_ms: 500,
        turn_timeout_ms: 10_000,
        view_change_timeout_ms: 2_000,
        committee_size: 4,
        checkpoint_interval: 16,
        ledger_gossip_interval_ms: 3_000,
        max_message_bytes: 16 * 1024 * 1024,
        max_clock_skew_ms: 30_000,
    }
}

/// What goes into a new network's genesis.
#[derive(Debug, Clone)]
pub struct GenesisSpec {
    /// A human name for the network.
    pub network: String,
    /// The regions whose nodes elect endorsers.
    pub regions: Vec<String>,
    /// Certificates of the founding nodes, departments and regulator.
    pub certificates: Vec<wire::Certificate>,
    /// The regulator, when one may read summaries: its signing and sealing keys.
    pub regulator: Option<(PublicKey, SealingPublic)>,
    /// Consensus parameters.
    pub params: wire::ConsensusParams,
    /// Creation time.
    pub created_at_ms: u64,
}

/// Signs a genesis with the CA.
pub fn build_genesis(ca: &CertificateAuthority, spec: &GenesisSpec) -> wire::Genesis {
    let body = wire::GenesisBody {
        network: spec.network.clone(),
        ca_key: ca.public().as_bytes().to_vec(),
        certificates: spec.certificates.clone(),
        regulator_sealing_key: spec
            .regulator
            .map(|(_, s)| s.0.to_vec())
            .unwrap_or_default(),
        regulator_key: spec
            .regulator
            .map(|(k, _)| k.as_bytes().to_vec())
            .unwrap_or_default(),
        params: Some(spec.params),
        created_at_ms: spec.created_at_ms,
        regions: spec.regions.clone(),
    }
    .encode_to_vec();
    let ca_signature = ca.sign(GENESIS_PURPOSE, &body).to_vec();
    wire::Genesis { body, ca_signature }
}

/// A genesis whose signature and certificates have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedGenesis {
    /// The decoded body.
    pub body: wire::GenesisBody,
    /// The network's name: the hash of the genesis bytes.
    pub hash: Hash32,
    /// The CA key.
    pub ca: PublicKey,
    /// A trust store holding the genesis certificates.
    pub trust: TrustStore,
    /// Consensus parameters.
    pub params: wire::ConsensusParams,
    /// The regulator's signing key, when named.
    pub regulator_key: Option<PublicKey>,
    /// The regulator's sealing key, when named.
    pub regulator_sealing: Option<SealingPublic>,
}

/// Decodes and verifies a genesis from untrusted bytes.
pub fn verify_genesis(bytes: &[u8]) -> Result<VerifiedGenesis, LedgerError> {
    let genesis: wire::Genesis = decode_bounded("genesis", bytes, limits::MAX_GENESIS_BYTES)?;
    let body: wire::GenesisBody =
        decode_bounded("genesis body", &genesis.body, limits::MAX_GENESIS_BYTES)?;
    let ca =
        PublicKey::from_slice(&body.ca_key).map_err(|e| LedgerError::key("genesis CA key", e))?;
    let signature = Signature::from_slice(&genesis.ca_signature)
        .map_err(|e| LedgerError::key("genesis signature", e))?;
    ca.verify(GENESIS_PURPOSE, &genesis.body, &signature)
        .map_err(|e| LedgerError::key("genesis signature", e))?;
    let mut trust = TrustStore::new(ca);
    for cert in &body.certificates {
        trust.add(cert)?;
    }
    let params = body.params.ok_or(LedgerError::MissingField {
        what: "genesis",
        field: "params",
    })?;
    let regulator_key = if body.regulator_key.is_empty() {
        None
    } else {
        Some(
            PublicKey::from_slice(&body.regulator_key)
                .map_err(|e| LedgerError::key("regulator key", e))?,
        )
    };
    let regulator_sealing = if body.regulator_sealing_key.is_empty() {
        None
    } else {
        Some(
            SealingPublic::from_slice(&body.regulator_sealing_key)
                .map_err(|e| LedgerError::key("regulator sealing key", e))?,
        )
    };
    Ok(VerifiedGenesis {
        hash: tagged_hash("medblock/genesis-hash/v1", &[bytes]),
        body,
        ca,
        trust,
        params,
        regulator_key,
        regulator_sealing,
    })
}
