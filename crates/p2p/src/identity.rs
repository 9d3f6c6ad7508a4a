//! The node's MedBlock ed25519 key *is* its libp2p identity: these conversions let the rest of
//! the node speak in `medblock_core::keys::PublicKey` while libp2p's `PeerId` stays inside this crate.

use crate::P2pError;
use libp2p::PeerId;
use libp2p::identity;
use medblock_core::keys::{PublicKey, SigningKey};

/// Multihash code of the "identity" hash: ed25519 peer ids embed the public key verbatim.
const IDENTITY_MULTIHASH: u64 = 0x00;

/// The bytes a certificate's `peer_id` field must hold for `key` (`PeerId::to_bytes()`), so a
/// certificate can be checked against the key the noise handshake authenticated.
pub fn peer_id_bytes(key: &PublicKey) -> Vec<u8> {
    // A MedBlock PublicKey is always a valid curve point, so this conversion only fails for keys
    // that cannot exist; fall back to an empty (never matching) id rather than panic.
    to_peer_id(key).map(PeerId::to_bytes).unwrap_or_default()
}

/// The base58 text form of `key`'s peer id, as it appears after `/p2p/` in a multiaddr
/// (build bootstrap addresses from it).
pub fn peer_id_string(key: &PublicKey) -> String {
    to_peer_id(key).map(PeerId::to_base58).unwrap_or_default()
}

/// Recovers the MedBlock key from peer-id bytes (e.g. a certificate's `peer_id` field).
/// Refuses anything that is not an ed25519 key embedded in an identity multihash.
pub fn peer_key_from_peer_id(bytes: &[u8]) -> Result<PublicKey, P2pError> {
    let peer = PeerId::from_bytes(bytes).map_err(|e| P2pError::InvalidPeerId(e.to_string()))?;
    key_of(&peer)
}

/// The MedBlock key behind a peer id in its text form (as after `/p2p/` in a multiaddr).
pub fn peer_key_from_peer_id_text(text: &str) -> Result<PublicKey, P2pError> {
    let peer: PeerId = text
        .parse()
        .map_err(|e| P2pError::InvalidPeerId(format!("{text}: {e}")))?;
    key_of(&peer)
}

/// The MedBlock key of the peer a multiaddr names (its last `/p2p/<peer id>` part), so a light
/// node knows whose signature to expect before it dials.
pub fn peer_key_from_addr(addr: &str) -> Result<PublicKey, P2pError> {
    let ma: libp2p::Multiaddr = addr
        .parse()
        .map_err(|e| P2pError::InvalidPeerId(format!("{addr}: {e}")))?;
    let peer = ma
        .iter()
        .filter_map(|p| match p {
            libp2p::multiaddr::Protocol::P2p(id) => Some(id),
            _ => None,
        })
        .last()
        .ok_or_else(|| P2pError::InvalidPeerId(format!("{addr} has no /p2p/<peer id>")))?;
    key_of(&peer)
}

/// The libp2p keypair for a node's signing key.
pub(crate) fn keypair(key: &SigningKey) -> Result<identity::Keypair, P2pError> {
    let mut secret = key.to_bytes();
    identity::Keypair::ed25519_from_bytes(secret.as_mut())
        .map_err(|e| P2pError::InvalidConfig(format!("secret key unusable by libp2p: {e}")))
}

/// The peer id of a MedBlock key.
pub(crate) fn to_peer_id(key: &PublicKey) -> Result<PeerId, P2pError> {
    let ed = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .map_err(|e| P2pError::InvalidPeerId(e.to_string()))?;
    Ok(identity::PublicKey::from(ed).to_peer_id())
}

/// The MedBlock key behind a peer id.
pub(crate) fn key_of(peer: &PeerId) -> Result<PublicKey, P2pError> {
    let mh = peer.as_ref();
    if mh.code() != IDENTITY_MULTIHASH {
        return Err(P2pError::InvalidPeerId(
            "peer id is a hash, not an embedded ed25519 key".into(),
        ));
    }
    let public = identity::PublicKey::try_decode_protobuf(mh.digest())
        .map_err(|e| P2pError::InvalidPeerId(e.to_string()))?;
    let ed = public
        .try_into_ed25519()
        .map_err(|_| P2pError::InvalidPeerId("peer key is not ed25519".into()))?;
    PublicKey::from_slice(&ed.to_bytes()).map_err(|e| P2pError::InvalidPeerId(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signing(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32]).unwrap_or_else(|e| panic!("test key: {e}"))
    }

    #[test]
    fn peer_id_round_trip() {
        for seed in [1u8, 7, 200] {
            let sk = signing(seed);
            let pk = sk.public();
            let bytes = peer_id_bytes(&pk);
            assert!(!bytes.is_empty());
            assert_eq!(peer_key_from_peer_id(&bytes), Ok(pk));
            // The libp2p keypair built from the secret has the same peer id.
            let kp = keypair(&sk).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(kp.public().to_peer_id().to_bytes(), bytes);
            assert_eq!(kp.public().to_peer_id().to_base58(), peer_id_string(&pk));
        }
    }

    #[test]
    fn garbage_peer_ids_are_refused() {
        assert!(peer_key_from_peer_id(&[]).is_err());
        assert!(peer_key_from_peer_id(&[0, 3, 1, 2, 3]).is_err());
        // A sha256-multihash peer id (as RSA keys use) carries no key.
        let hashed = PeerId::random().to_bytes();
        assert!(matches!(
            peer_key_from_peer_id(&hashed),
            Err(P2pError::InvalidPeerId(_))
        ));
    }
}
