//! One configuration change: how the CA signs it, how a node checks and reads it, and the
//! hash a block header binds its changes with.

use super::{ConfigError, MAX_CHANGE_BYTES};
use crate::cert::{CertificateAuthority, VerifiedCertificate, verify_certificate};
use crate::codec::decode_bounded;
use crate::hash::{Hash32, tagged_hash};
use crate::keys::{PublicKey, Signature, purpose};
use crate::wire::{self, config_change_body::Change};
use prost::Message;

const CHANGE_ID_TAG: &str = "medblock/config-change-id/v1";
const CONFIG_HASH_TAG: &str = "medblock/config-hash/v1";

/// What a checked change does.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigChangeKind {
    /// A certificate issued (its CA signature checked too).
    Issue(Box<VerifiedCertificate>),
    /// A certificate revoked from the block's height on.
    Revoke {
        /// The certificate's serial.
        serial: u64,
        /// Why, for people.
        reason: String,
    },
    /// A new region.
    AddRegion(String),
    /// The complete new consensus parameters.
    Params(wire::ConsensusParams),
}

/// A configuration change whose CA signature has been checked; not yet checked against the
/// state it would apply to (that is [`super::ConfigState::check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SignedChange {
    /// Its id: the tagged hash of its encoded bytes (replays are refused by id).
    pub id: Hash32,
    /// The encoded [`wire::ConfigChange`], as carried in a block.
    pub bytes: Vec<u8>,
    /// When the CA signed it.
    pub issued_at_ms: u64,
    /// What it does.
    pub kind: ConfigChangeKind,
}

impl SignedChange {
    /// Decodes untrusted bytes and checks the CA's signature (and, for an issued certificate,
    /// the certificate's own CA signature).
    pub fn decode(ca: &PublicKey, bytes: &[u8]) -> Result<Self, ConfigError> {
        let signed: wire::ConfigChange =
            decode_bounded("configuration change", bytes, MAX_CHANGE_BYTES)?;
        let signature =
            Signature::from_slice(&signed.ca_signature).map_err(|_| ConfigError::NotSignedByCa)?;
        ca.verify(purpose::CONFIG_CHANGE, &signed.body, &signature)
            .map_err(|_| ConfigError::NotSignedByCa)?;
        let body: wire::ConfigChangeBody =
            decode_bounded("configuration change body", &signed.body, MAX_CHANGE_BYTES)?;
        let kind = match body.change {
            None => return Err(ConfigError::Empty),
            Some(Change::Issue(cert)) => ConfigChangeKind::Issue(Box::new(
                verify_certificate(ca, &cert).map_err(|_| ConfigError::NotSignedByCa)?,
            )),
            Some(Change::Revoke(r)) => ConfigChangeKind::Revoke {
                serial: r.serial,
                reason: r.reason,
            },
            Some(Change::AddRegion(name)) => {
                if name.trim().is_empty() || name.len() > 64 {
                    return Err(ConfigError::Malformed(format!(
                        "region name {name:?} (1 to 64 characters)"
                    )));
                }
                ConfigChangeKind::AddRegion(name)
            }
            Some(Change::Params(p)) => ConfigChangeKind::Params(p),
        };
        Ok(Self {
            id: change_id(bytes),
            bytes: bytes.to_vec(),
            issued_at_ms: body.issued_at_ms,
            kind,
        })
    }

    /// Whether the change alters consensus membership or parameters (and so must end its
    /// block's turn): anything but a certificate that takes part in no consensus role.
    pub fn changes_consensus(&self) -> bool {
        use crate::wire::Role;
        match &self.kind {
            ConfigChangeKind::Issue(cert) => [Role::Endorser, Role::Orderer, Role::Committer]
                .into_iter()
                .any(|r| cert.has_role(r)),
            // A revoked key may be a voter, candidate or orderer; treating every revocation as
            // a membership change keeps the rule simple and the cost is one shorter turn.
            ConfigChangeKind::Revoke { .. } => true,
            ConfigChangeKind::AddRegion(_) | ConfigChangeKind::Params(_) => true,
        }
    }

    /// A short description for logs and answers.
    pub fn describe(&self) -> String {
        match &self.kind {
            ConfigChangeKind::Issue(c) => format!(
                "issue certificate {} to {} ({})",
                c.body.serial,
                c.body.name,
                c.roles()
                    .iter()
                    .map(|r| crate::cert::role_name(*r))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            ConfigChangeKind::Revoke { serial, reason } => {
                format!("revoke certificate {serial} ({reason})")
            }
            ConfigChangeKind::AddRegion(r) => format!("add region {r}"),
            ConfigChangeKind::Params(p) => format!(
                "consensus parameters: committee size {}, turn timeout {} ms, view-change timeout {} ms",
                p.committee_size, p.turn_timeout_ms, p.view_change_timeout_ms
            ),
        }
    }
}

/// The id of an encoded change.
pub fn change_id(bytes: &[u8]) -> Hash32 {
    tagged_hash(CHANGE_ID_TAG, &[bytes])
}

/// What `BlockHeader.config_hash` holds for a block carrying `changes` (encoded, in block
/// order): empty for none, so blocks without changes keep the ids they always had.
pub fn config_hash(changes: &[Vec<u8>]) -> Vec<u8> {
    if changes.is_empty() {
        return Vec::new();
    }
    let ids: Vec<Hash32> = changes.iter().map(|c| change_id(c)).collect();
    let parts: Vec<&[u8]> = ids.iter().map(|h| h.as_bytes().as_slice()).collect();
    tagged_hash(CONFIG_HASH_TAG, &parts).0.to_vec()
}

/// The CA signs `change`, issued at `issued_at_ms`.
pub fn sign_change(
    ca: &CertificateAuthority,
    change: Change,
    issued_at_ms: u64,
) -> wire::ConfigChange {
    let body = wire::ConfigChangeBody {
        issued_at_ms,
        issuer_key: ca.public().as_bytes().to_vec(),
        change: Some(change),
    }
    .encode_to_vec();
    let ca_signature = ca.sign(purpose::CONFIG_CHANGE, &body).to_vec();
    wire::ConfigChange { body, ca_signature }
}
