//! Ed25519 signing keys (patients, departments, nodes, the CA) and X25519 sealing keys.
//!
//! Every signature is domain-separated: the signed bytes are `tag || 0x00 || message`, so a
//! signature made for one purpose (an event, a vote, a query challenge) is never valid for
//! another. Randomness is always passed in: `core` owns no RNG.

use crate::hash::{Hash32, tagged_hash};
use ed25519_dalek::Signer;
use rand_core::CryptoRng;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use zeroize::Zeroizing;

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A public key that is not 32 bytes or not a valid curve point.
    #[error("malformed public key ({len} bytes)")]
    MalformedPublicKey {
        /// Length of what was given.
        len: usize,
    },
    /// A signature that is not 64 bytes.
    #[error("malformed signature ({len} bytes, expected 64)")]
    MalformedSignature {
        /// Length of what was given.
        len: usize,
    },
    /// The signature does not verify under the key for this message and purpose.
    #[error("signature does not verify for {purpose}")]
    BadSignature {
        /// The domain tag the signature was checked under.
        purpose: &'static str,
    },
    /// A secret key file whose contents are not 32 bytes.
    #[error("malformed secret key ({len} bytes, expected 32)")]
    MalformedSecretKey {
        /// Length of what was given.
        len: usize,
    },
}

/// Purposes a signature can be made for; each is its own domain tag.
pub mod purpose {
    /// A patient or department signing an event body.
    pub const EVENT: &str = "medblock/event/v1";
    /// An endorser signing a block header.
    pub const BLOCK_HEADER: &str = "medblock/block-header/v1";
    /// The CA signing a certificate.
    pub const CERTIFICATE: &str = "medblock/certificate/v1";
    /// The CA signing a revocation list.
    pub const REVOCATIONS: &str = "medblock/revocations/v1";
    /// A configuration change (certificate issued or revoked, region added, parameters).
    pub const CONFIG_CHANGE: &str = "medblock/config-change/v1";
    /// An endorser acknowledging an upload.
    pub const RECEIPT: &str = "medblock/receipt/v1";
    /// An endorser acknowledging a batch of uploads at once (one signature for the batch).
    pub const RECEIPT_BATCH: &str = "medblock/receipt-batch/v1";
    /// A visitor answering an access-control challenge.
    pub const ACCESS_CHALLENGE: &str = "medblock/access-challenge/v1";
    /// A serving peer signing a query response.
    pub const QUERY_RESPONSE: &str = "medblock/query-response/v1";
    /// A patient authorizing a hospital's departments to record his visits.
    pub const AUTHORIZATION: &str = "medblock/recording-authorization/v1";
    /// A patient enrolling at a hospital under his local id there.
    pub const ENROLMENT: &str = "medblock/enrolment/v1";
}

/// An Ed25519 public key: identifies a patient, a department, a node or the CA.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

/// An Ed25519 signature, 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

/// An Ed25519 signing key. Its bytes are wiped from memory when dropped.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the caller's cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Rebuilds a key from its 32 secret bytes (a key file, a backup, a deterministic test seed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::MalformedSecretKey { len: bytes.len() })?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The 32 secret bytes, wrapped so they are wiped after use; only for writing key files.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` for one `purpose` (see [`purpose`]).
    pub fn sign(&self, purpose: &str, message: &[u8]) -> Signature {
        let msg = domain_message(purpose, message);
        Signature(self.0.sign(&msg).to_bytes())
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public={})", self.public())
    }
}

impl PublicKey {
    /// Reads a public key from untrusted bytes, checking length and curve point, and refusing
    /// small-order ("weak") points: nobody holds their secret, and ed25519 batch verification
    /// (used for blocks) would accept forged signatures under them.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::MalformedPublicKey { len: bytes.len() })?;
        checked_key(&arr)?;
        Ok(Self(arr))
    }

    /// The key's 32 bytes, as they go on the wire.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex of the key.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters into a key.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let bytes =
            hex::decode(s).map_err(|_| KeyError::MalformedPublicKey { len: s.len() / 2 })?;
        Self::from_slice(&bytes)
    }

    /// A short fingerprint of the key, for indexes and logs.
    pub fn fingerprint(&self) -> Hash32 {
        tagged_hash("medblock/key-fingerprint/v1", &[&self.0])
    }

    /// Checks `signature` over `message` for one `purpose`, in strict mode (no malleable
    /// signatures, no small-order keys).
    pub fn verify(
        &self,
        purpose: &'static str,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), KeyError> {
        VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
        let vk = checked_key(&self.0)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        let msg = domain_message(purpose, message);
        vk.verify_strict(&msg, &sig)
            .map_err(|_| KeyError::BadSignature { purpose })
    }

    pub(crate) fn dalek(&self) -> Result<ed25519_dalek::VerifyingKey, KeyError> {
        checked_key(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Signature {
    /// Reads a signature from untrusted bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| KeyError::MalformedSignature { len: bytes.len() })?;
        Ok(Self(arr))
    }

    /// The signature's 64 bytes, as they go on the wire.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The signature as an owned byte vector (for protobuf fields).
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..8]))
    }
}

/// Keys this process has already decompressed and found to be valid, non-weak points. Every node
/// parses the same patient and department keys many times (at admission, in the proposal, the
/// pre-prepare, the decided block, the ledger), and decompressing a point (a field square root)
/// was the hottest path of a loaded network: about a fifth of all CPU. Bounded: cleared when
/// full. Only valid keys are kept, so a cached answer is the answer decompression would give.
static KEY_CACHE: LazyLock<Mutex<HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Most keys [`KEY_CACHE`] holds (about 3 MB).
const KEY_CACHE_CAPACITY: usize = 16_384;

/// The decompressed key, refusing malformed and small-order ("weak") points.
fn checked_key(bytes: &[u8; 32]) -> Result<ed25519_dalek::VerifyingKey, KeyError> {
    let cached = KEY_CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(bytes)
        .copied();
    if let Some(vk) = cached {
        return Ok(vk);
    }
    let vk = ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map_err(|_| KeyError::MalformedPublicKey { len: 32 })?;
    if vk.is_weak() {
        return Err(KeyError::MalformedPublicKey { len: 32 });
    }
    let mut cache = KEY_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= KEY_CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(*bytes, vk);
    Ok(vk)
}

/// Signatures this process has verified (one by one or in batches). A benchmark reads it from
/// every node to count what the protocol costs per event; it changes no behaviour.
static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many signatures this process has verified so far.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// Verifies many signatures of one purpose at once (ed25519 batch verification), about twice as
/// fast as one by one. On failure, callers that need to know *which* signature failed fall back to
/// [`PublicKey::verify`] one by one.
pub fn verify_batch(
    purpose: &'static str,
    items: &[(&PublicKey, &[u8], &Signature)],
) -> Result<(), KeyError> {
    let mixed: Vec<(&'static str, &PublicKey, &[u8], &Signature)> = items
        .iter()
        .map(|(k, m, s)| (purpose, *k, *m, *s))
        .collect();
    verify_batch_mixed(&mixed).map_err(|_| KeyError::BadSignature { purpose })
}

/// [`verify_batch`] where each signature has its own purpose (an event's department signs its
/// body, the patient his recording authorization): one ed25519 batch for all of them.
pub fn verify_batch_mixed(
    items: &[(&'static str, &PublicKey, &[u8], &Signature)],
) -> Result<(), KeyError> {
    let purpose = items.first().map(|i| i.0).unwrap_or(purpose::EVENT);
    if items.is_empty() {
        return Ok(());
    }
    VERIFICATIONS.fetch_add(items.len() as u64, Ordering::Relaxed);
    let msgs: Vec<Vec<u8>> = items
        .iter()
        .map(|(p, _, m, _)| domain_message(p, m))
        .collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    let keys = items
        .iter()
        .map(|(_, k, _, _)| k.dalek())
        .collect::<Result<Vec<_>, _>>()?;
    ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys)
        .map_err(|_| KeyError::BadSignature { purpose })
}

fn domain_message(purpose: &str, message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(purpose.len() + 1 + message.len());
    m.extend_from_slice(purpose.as_bytes());
    m.push(0);
    m.extend_from_slice(message);
    m
}

/// An X25519 secret key used to open summaries sealed to its owner (patient, grantee, regulator).
pub struct SealingSecret(x25519_dalek::StaticSecret);

/// The public half of a [`SealingSecret`]: what a client seals a summary to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SealingPublic(pub [u8; 32]);

impl SealingSecret {
    /// A fresh sealing key from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self(x25519_dalek::StaticSecret::from(*seed))
    }

    /// Rebuilds a sealing key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::MalformedSecretKey { len: bytes.len() })?;
        Ok(Self(x25519_dalek::StaticSecret::from(seed)))
    }

    /// The 32 secret bytes, wiped after use; only for writing key files.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> SealingPublic {
        SealingPublic(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    pub(crate) fn diffie_hellman(&self, their: &SealingPublic) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(
            self.0
                .diffie_hellman(&x25519_dalek::PublicKey::from(their.0))
                .to_bytes(),
        )
    }
}

impl Clone for SealingSecret {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl fmt::Debug for SealingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingSecret(public={})", hex::encode(self.public().0))
    }
}

impl SealingPublic {
    /// Reads a sealing key from untrusted bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::MalformedPublicKey { len: bytes.len() })?;
        Ok(Self(arr))
    }
}

impl fmt::Debug for SealingPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingPublic({})", &hex::encode(self.0)[..16])
    }
}

/// Everything one party holds: a signing key and a sealing key. Patients, departments and the
/// regulator each have one; nodes use only the signing half.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Signs events, votes, challenges.
    pub signing: SigningKey,
    /// Opens summaries sealed to this party.
    pub sealing: SealingSecret,
}

impl Identity {
    /// A fresh identity from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            signing: SigningKey::generate(rng),
            sealing: SealingSecret::generate(rng),
        }
    }
}

#[cfg(test)]
mod key_cache_tests {
    use super::*;

    #[test]
    fn cached_keys_give_the_same_answers_as_decompression() {
        let mut rng = rand::rng();
        let key = SigningKey::generate(&mut rng);
        let public = key.public();
        let sig = key.sign(purpose::EVENT, b"visit");
        for _ in 0..2 {
            // First from decompression, then from the cache: the same key and verdicts.
            assert_eq!(PublicKey::from_slice(public.as_bytes()), Ok(public));
            assert!(public.verify(purpose::EVENT, b"visit", &sig).is_ok());
            assert!(public.verify(purpose::EVENT, b"other", &sig).is_err());
        }
        // Weak and off-curve points are refused every time (never cached).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let off_curve = (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
            .expect("some y has no x on the curve");
        for bad in [identity, off_curve] {
            for _ in 0..2 {
                assert_eq!(
                    PublicKey::from_slice(&bad),
                    Err(KeyError::MalformedPublicKey { len: 32 })
                );
            }
        }
    }
}
