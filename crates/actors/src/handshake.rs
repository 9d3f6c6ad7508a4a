//! The certificate handshake: a peer's consensus messages count only once it has shown a valid
//! CA certificate bound to its PeerId (its key), for the same genesis. An admitted peer goes
//! into the node's [`PeerBook`](crate::peers::PeerBook).

use crate::clock::now_ms;
use crate::peers::PeerEntry;
use crate::shared::Shared;
use medblock_core::cert::verify_certificate;
use medblock_core::keys::PublicKey;
use medblock_core::wire;
use medblock_p2p::peer_id_bytes;

/// Why a peer's Hello was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The Hello lacks a certificate.
    #[error("the peer sent no certificate")]
    NoCertificate,
    /// The peer is on another network.
    #[error("the peer is on another network (genesis hash differs)")]
    WrongNetwork,
    /// The certificate does not chain to our CA.
    #[error("certificate refused: {0}")]
    BadCertificate(String),
    /// The certificate names another key than the connection's.
    #[error("certificate is for key {cert_key}, but the connection is from {peer}")]
    WrongKey {
        /// Key in the certificate.
        cert_key: String,
        /// Key of the connection.
        peer: String,
    },
    /// The certificate names another PeerId.
    #[error("certificate is bound to another PeerId")]
    WrongPeerId,
    /// Revoked, expired, not yet valid.
    #[error("certificate not valid now: {0}")]
    NotValid(String),
}

/// This node's Hello.
pub fn our_hello(shared: &Shared, height: u64) -> wire::Hello {
    wire::Hello {
        genesis_hash: shared.genesis_hash.clone(),
        certificate: Some(shared.certificate.raw.clone()),
        // Test-only Byzantine mode: announce a height this node does not have.
        height: shared.byzantine.claim_height.unwrap_or(height),
        http_address: shared.http_address.clone(),
    }
}

/// Checks a peer's Hello against our genesis and trust store and admits it.
pub fn admit(
    shared: &Shared,
    peer: &PublicKey,
    hello: &wire::Hello,
) -> Result<PeerEntry, HandshakeError> {
    if hello.genesis_hash != shared.genesis_hash {
        return Err(HandshakeError::WrongNetwork);
    }
    let cert = hello
        .certificate
        .as_ref()
        .ok_or(HandshakeError::NoCertificate)?;
    let now = now_ms();
    let config = shared.config();
    // The CA's signature makes a certificate; the ledger says whether it is still in force. A
    // certificate this node's ledger has not seen yet is admitted for connection (this node
    // may be behind, catching up from newer members), but only the ledger's certificates take
    // part: consensus, uploads and queries all check the configuration in force.
    let verified = verify_certificate(config.trust().ca(), cert)
        .map_err(|e| HandshakeError::BadCertificate(e.to_string()))?;
    if let Some(height) = config.state.revoked_at(verified.body.serial) {
        return Err(HandshakeError::NotValid(format!(
            "certificate {} ({}) was revoked on the ledger at height {height}",
            verified.body.serial, verified.body.name
        )));
    }
    if &verified.key != peer {
        return Err(HandshakeError::WrongKey {
            cert_key: verified.key.to_hex(),
            peer: peer.to_hex(),
        });
    }
    if verified.body.peer_id != peer_id_bytes(peer) {
        return Err(HandshakeError::WrongPeerId);
    }
    if verified.roles().is_empty() {
        return Err(HandshakeError::NotValid(
            "the certificate lists no role".into(),
        ));
    }
    if now < verified.body.not_before_ms || now > verified.body.not_after_ms {
        return Err(HandshakeError::NotValid(format!(
            "certificate {} ({}) is outside its validity window",
            verified.body.serial, verified.body.name
        )));
    }
    let entry = PeerEntry {
        name: verified.body.name.clone(),
        region: verified.body.region.clone(),
        roles: verified
            .roles()
            .into_iter()
            .map(|r| medblock_core::cert::role_name(r).to_owned())
            .collect(),
        serial: verified.body.serial,
        height: hello.height,
        http: hello.http_address.clone(),
    };
    shared.peers.insert(*peer, entry.clone());
    Ok(entry)
}
