//! The certificate authority and the trust store every node keeps.
//!
//! A certificate binds a key (and for nodes a libp2p peer id) to a name, hospital, region and
//! roles, inside a validity window, under a serial, signed by the CA named in genesis. The CA
//! revokes with a signed, versioned list; a node only ever moves to a newer list.

use crate::codec::{decode_bounded, limits};
use crate::error::{CertificateError, LedgerError};
use crate::keys::{PublicKey, Signature, SigningKey, purpose};
use crate::wire::{self, Role};
use prost::Message;
use std::collections::{BTreeSet, HashMap};

/// A certificate checked against the CA key, with its decoded body and holder key.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCertificate {
    /// The decoded, CA-signed body.
    pub body: wire::CertificateBody,
    /// The holder's signing key.
    pub key: PublicKey,
    /// The certificate exactly as the CA signed it.
    pub raw: wire::Certificate,
}

impl VerifiedCertificate {
    /// Whether the certificate lists `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.body.roles.contains(&(role as i32))
    }

    /// The holder's roles, ignoring unknown values.
    pub fn roles(&self) -> Vec<Role> {
        self.body
            .roles
            .iter()
            .filter_map(|r| Role::try_from(*r).ok())
            .collect()
    }
}

/// A human name for a role, as used in errors, configs and the CLI.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Unspecified => "unspecified",
        Role::Client => "client",
        Role::Endorser => "endorser",
        Role::Orderer => "orderer",
        Role::Committer => "committer",
        Role::Patient => "patient",
        Role::Regulator => "regulator",
    }
}

/// Parses a role name written by people (configs, CLI flags).
pub fn parse_role(name: &str) -> Option<Role> {
    Some(match name.to_ascii_lowercase().as_str() {
        "client" => Role::Client,
        "endorser" => Role::Endorser,
        "orderer" => Role::Orderer,
        "committer" => Role::Committer,
        "patient" => Role::Patient,
        "regulator" => Role::Regulator,
        _ => return None,
    })
}

/// The CA's signing side: issues certificates and revocation lists.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    key: SigningKey,
}

impl CertificateAuthority {
    /// A CA holding `key` (its public half goes into genesis).
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// The CA's signing key, for writing the CA's key file.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The CA's public key.
    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    /// Signs a certificate body. The issuer field is set to this CA.
    pub fn issue(&self, mut body: wire::CertificateBody) -> wire::Certificate {
        body.issuer_key = self.public().as_bytes().to_vec();
        let body = body.encode_to_vec();
        let signature = self.key.sign(purpose::CERTIFICATE, &body).to_vec();
        wire::Certificate { body, signature }
    }

    /// Signs a revocation list of `version` naming `revoked_serials`.
    pub fn revocation_list(
        &self,
        version: u64,
        revoked_serials: BTreeSet<u64>,
        issued_at_ms: u64,
    ) -> wire::RevocationList {
        let body = wire::RevocationListBody {
            version,
            revoked_serials: revoked_serials.into_iter().collect(),
            issued_at_ms,
            issuer_key: self.public().as_bytes().to_vec(),
        }
        .encode_to_vec();
        let signature = self.key.sign(purpose::REVOCATIONS, &body).to_vec();
        wire::RevocationList { body, signature }
    }

    /// Signs arbitrary bytes for `purpose`, e.g. the genesis body.
    pub fn sign(&self, purpose: &str, bytes: &[u8]) -> Signature {
        self.key.sign(purpose, bytes)
    }
}

/// Checks a certificate's signature against the CA key and decodes it.
pub fn verify_certificate(
    ca: &PublicKey,
    cert: &wire::Certificate,
) -> Result<VerifiedCertificate, LedgerError> {
    let body: wire::CertificateBody =
        decode_bounded("certificate", &cert.body, limits::MAX_CERTIFICATE_BYTES)?;
    let signature = Signature::from_slice(&cert.signature)
        .map_err(|e| LedgerError::key("certificate signature", e))?;
    ca.verify(purpose::CERTIFICATE, &cert.body, &signature)
        .map_err(|_| CertificateError::NotSignedByCa {
            serial: body.serial,
        })?;
    let key = PublicKey::from_slice(&body.public_key)
        .map_err(|e| LedgerError::key("certificate key", e))?;
    Ok(VerifiedCertificate {
        body,
        key,
        raw: cert.clone(),
    })
}

/// Decodes and verifies an encoded certificate received from a peer.
pub fn decode_certificate(
    ca: &PublicKey,
    bytes: &[u8],
) -> Result<VerifiedCertificate, LedgerError> {
    let cert: wire::Certificate =
        decode_bounded("certificate", bytes, limits::MAX_CERTIFICATE_BYTES + 128)?;
    verify_certificate(ca, &cert)
}

/// What a node knows of the CA: its key, the certificates it has seen, the newest revocation
/// list. Answers "may this key act in this role at this time?".
#[derive(Debug, Clone)]
pub struct TrustStore {
    ca: PublicKey,
    by_key: HashMap<PublicKey, VerifiedCertificate>,
    revoked: BTreeSet<u64>,
    revocation_version: u64,
}

impl TrustStore {
    /// An empty store trusting the CA `ca`.
    pub fn new(ca: PublicKey) -> Self {
        Self {
            ca,
            by_key: HashMap::new(),
            revoked: BTreeSet::new(),
            revocation_version: 0,
        }
    }

    /// The CA key everything chains to.
    pub fn ca(&self) -> &PublicKey {
        &self.ca
    }

    /// Adds a certificate after checking it chains to the CA. A later certificate for the same
    /// key (a renewal) replaces the earlier one.
    pub fn add(&mut self, cert: &wire::Certificate) -> Result<VerifiedCertificate, LedgerError> {
        let verified = verify_certificate(&self.ca, cert)?;
        let replace = self
            .by_key
            .get(&verified.key)
            .is_none_or(|old| old.body.serial <= verified.body.serial);
        if replace {
            self.by_key.insert(verified.key, verified.clone());
        }
        Ok(verified)
    }

    /// Moves to a newer revocation list after checking the CA signed it.
    pub fn apply_revocations(&mut self, list: &wire::RevocationList) -> Result<u64, LedgerError> {
        let body: wire::RevocationListBody =
            decode_bounded("revocation list", &list.body, limits::MAX_REVOCATION_BYTES)?;
        let signature = Signature::from_slice(&list.signature)
            .map_err(|e| LedgerError::key("revocation list signature", e))?;
        self.ca
            .verify(purpose::REVOCATIONS, &list.body, &signature)
            .map_err(|e| LedgerError::key("revocation list signature", e))?;
        if body.version <= self.revocation_version {
            return Err(CertificateError::StaleRevocationList {
                offered: body.version,
                held: self.revocation_version,
            }
            .into());
        }
        self.revoked = body.revoked_serials.into_iter().collect();
        self.revocation_version = body.version;
        Ok(self.revocation_version)
    }

    /// Revokes `serial` (a revocation decided on the ledger; see `config::ConfigState`).
    pub fn revoke(&mut self, serial: u64) {
        self.revoked.insert(serial);
    }

    /// The version of the revocation list in force.
    pub fn revocation_version(&self) -> u64 {
        self.revocation_version
    }

    /// The certificate held for `key`, whatever its status.
    pub fn get(&self, key: &PublicKey) -> Option<&VerifiedCertificate> {
        self.by_key.get(key)
    }

    /// Every certificate held.
    pub fn certificates(&self) -> impl Iterator<Item = &VerifiedCertificate> {
        self.by_key.values()
    }

    /// Whether `serial` is on the revocation list.
    pub fn is_revoked(&self, serial: u64) -> bool {
        self.revoked.contains(&serial)
    }

    /// Checks that `key` holds a certificate inside its window at `at_ms`, not revoked, with
    /// `role`.
    pub fn authorize(
        &self,
        key: &PublicKey,
        role: Role,
        at_ms: u64,
    ) -> Result<&VerifiedCertificate, CertificateError> {
        let cert = self
            .by_key
            .get(key)
            .ok_or_else(|| CertificateError::Unknown { key: key.to_hex() })?;
        check_window(cert, at_ms)?;
        if self.revoked.contains(&cert.body.serial) {
            return Err(CertificateError::Revoked {
                serial: cert.body.serial,
                name: cert.body.name.clone(),
            });
        }
        if !cert.has_role(role) {
            return Err(CertificateError::MissingRole {
                serial: cert.body.serial,
                name: cert.body.name.clone(),
                role: role_name(role),
            });
        }
        Ok(cert)
    }

    /// [`TrustStore::authorize`], plus the certificate's binding to the libp2p peer id that
    /// presents it: a node's consensus messages count only from the peer its certificate names.
    pub fn authorize_peer(
        &self,
        key: &PublicKey,
        peer_id: &[u8],
        role: Role,
        at_ms: u64,
    ) -> Result<&VerifiedCertificate, CertificateError> {
        let cert = self.authorize(key, role, at_ms)?;
        if cert.body.peer_id.as_slice() != peer_id {
            return Err(CertificateError::WrongPeer {
                serial: cert.body.serial,
            });
        }
        Ok(cert)
    }
}

fn check_window(cert: &VerifiedCertificate, at_ms: u64) -> Result<(), CertificateError> {
    if at_ms < cert.body.not_before_ms {
        return Err(CertificateError::NotYetValid {
            serial: cert.body.serial,
            name: cert.body.name.clone(),
            not_before_ms: cert.body.not_before_ms,
            at_ms,
        });
    }
    if at_ms > cert.body.not_after_ms {
        return Err(CertificateError::Expired {
            serial: cert.body.serial,
            name: cert.body.name.clone(),
            not_after_ms: cert.body.not_after_ms,
            at_ms,
        });
    }
    Ok(())
}
