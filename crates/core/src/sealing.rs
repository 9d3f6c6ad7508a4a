//! Sealing a summary to its readers: the summary is encrypted once under a random content key
//! (AES-256-GCM), and that key is wrapped to each recipient with an ephemeral X25519 exchange,
//! HKDF-SHA256 and AES-256-GCM.
//!
//! Both layers carry associated data that binds the ciphertext to its event (sequence number,
//! hospital, department and patient key), so a ciphertext moved into another event does not open.
//! The regulator is an optional second recipient named in genesis: it reads summaries through its
//! own wrap of the content key, and no patient's private key is ever escrowed. Granting a doctor
//! access later re-wraps the same content key to the grantee ([`rewrap_for`]).

use crate::codec::{decode_bounded, limits};
use crate::error::LedgerError;
use crate::hash::{Hash32, tagged_hash};
use crate::keys::{PublicKey, SealingPublic, SealingSecret};
use crate::wire;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce};

type Nonce = GcmNonce<aes_gcm::aead::consts::U12>;
use hkdf::Hkdf;
use prost::Message;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Format version of [`wire::SealedSummary`].
pub const SEALED_SUMMARY_VERSION: u32 = 1;

/// What a sealed summary is bound to: the event it belongs in. Opening with any other binding
/// fails, which defeats moving a ciphertext between events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryBinding {
    /// The event's sequence number.
    pub sequence: u64,
    /// The hospital that wrote the event.
    pub hospital: String,
    /// The department that wrote the event.
    pub department: String,
    /// The patient the event is about.
    pub patient_key: PublicKey,
}

impl SummaryBinding {
    /// The associated data both encryption layers authenticate.
    fn aad(&self) -> Hash32 {
        tagged_hash(
            "medblock/summary-binding/v1",
            &[
                &self.sequence.to_be_bytes(),
                self.hospital.as_bytes(),
                self.department.as_bytes(),
                self.patient_key.as_bytes(),
            ],
        )
    }
}

/// The hint that lets a recipient find its wrap without trying them all.
pub fn recipient_hint(recipient: &SealingPublic) -> Hash32 {
    tagged_hash("medblock/recipient-hint/v1", &[&recipient.0])
}

/// Encrypts `summary` for `recipients` (the patient first; then the regulator if genesis names
/// one). Returns the encoded [`wire::SealedSummary`] that goes into the event.
pub fn seal<R: CryptoRng + ?Sized>(
    summary: &wire::Summary,
    binding: &SummaryBinding,
    recipients: &[SealingPublic],
    rng: &mut R,
) -> Vec<u8> {
    let aad = binding.aad();
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut());
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let plaintext = Zeroizing::new(summary.encode_to_vec());
    let ciphertext = aes(&content_key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: aad.as_bytes(),
            },
        )
        .unwrap_or_default(); // AES-GCM encryption fails only for inputs over 64 GiB.
    let wraps = recipients
        .iter()
        .map(|r| wrap_key(&content_key, r, &aad, rng))
        .collect();
    wire::SealedSummary {
        version: SEALED_SUMMARY_VERSION,
        nonce: nonce.to_vec(),
        ciphertext,
        recipients: wraps,
    }
    .encode_to_vec()
}

/// Opens a sealed summary with a recipient's secret key. Fails with
/// [`LedgerError::NotARecipient`] when the key was never a recipient, and
/// [`LedgerError::SealOpenFailed`] when the bytes were tampered with or belong to another event.
pub fn open(
    sealed: &[u8],
    binding: &SummaryBinding,
    secret: &SealingSecret,
) -> Result<wire::Summary, LedgerError> {
    let sealed = decode_sealed(sealed)?;
    let aad = binding.aad();
    let content_key = unwrap_key(&sealed, secret, &aad)?;
    let nonce = nonce12(&sealed.nonce)?;
    let plaintext = Zeroizing::new(
        aes(&content_key)
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| LedgerError::SealOpenFailed)?,
    );
    decode_bounded("summary", &plaintext, limits::MAX_SEALED_SUMMARY_BYTES)
}

/// Re-seals the content key of an existing summary to one more recipient (consent: a patient
/// grants a doctor read access). Only a current recipient can do it; the ciphertext is unchanged.
/// Returns the new recipient's key wrap.
pub fn rewrap_for<R: CryptoRng + ?Sized>(
    sealed: &[u8],
    binding: &SummaryBinding,
    secret: &SealingSecret,
    grantee: &SealingPublic,
    rng: &mut R,
) -> Result<wire::KeyWrap, LedgerError> {
    let sealed = decode_sealed(sealed)?;
    let aad = binding.aad();
    let content_key = unwrap_key(&sealed, secret, &aad)?;
    Ok(wrap_key(&content_key, grantee, &aad, rng))
}

/// Opens a summary through a key wrap held outside the sealed summary (a consent grant).
pub fn open_with_wrap(
    sealed: &[u8],
    wrap: &wire::KeyWrap,
    binding: &SummaryBinding,
    secret: &SealingSecret,
) -> Result<wire::Summary, LedgerError> {
    let mut sealed_msg = decode_sealed(sealed)?;
    sealed_msg.recipients = vec![wrap.clone()];
    open(&sealed_msg.encode_to_vec(), binding, secret)
}

/// What an EMR sent to a visitor is bound to: the hash of the signed query it answers, so a
/// sealed EMR moved into the answer of another query does not open.
pub fn emr_binding(query_hash: &Hash32) -> Hash32 {
    tagged_hash("medblock/emr-binding/v1", &[query_hash.as_bytes()])
}

/// Seals `plaintext` (an EMR) to one recipient: AES-256-GCM under a random content key wrapped
/// to `recipient` as for summaries, both layers authenticating `binding` (see [`emr_binding`]).
/// Whoever carries the result learns its length only.
pub fn seal_to<R: CryptoRng + ?Sized>(
    plaintext: &[u8],
    binding: &Hash32,
    recipient: &SealingPublic,
    rng: &mut R,
) -> wire::SealedSummary {
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut());
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let ciphertext = aes(&content_key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: binding.as_bytes(),
            },
        )
        .unwrap_or_default(); // AES-GCM encryption fails only for inputs over 64 GiB.
    wire::SealedSummary {
        version: SEALED_SUMMARY_VERSION,
        nonce: nonce.to_vec(),
        ciphertext,
        recipients: vec![wrap_key(&content_key, recipient, binding, rng)],
    }
}

/// Opens what [`seal_to`] sealed, with the recipient's secret key and the same binding.
/// [`LedgerError::NotARecipient`] when it was sealed to another key,
/// [`LedgerError::SealOpenFailed`] when tampered with or bound to something else.
pub fn open_sealed(
    sealed: &wire::SealedSummary,
    binding: &Hash32,
    secret: &SealingSecret,
) -> Result<Zeroizing<Vec<u8>>, LedgerError> {
    if sealed.version != SEALED_SUMMARY_VERSION {
        return Err(LedgerError::UnsupportedVersion {
            what: "sealed EMR",
            version: sealed.version,
            expected: SEALED_SUMMARY_VERSION,
        });
    }
    let content_key = unwrap_key(sealed, secret, binding)?;
    let nonce = nonce12(&sealed.nonce)?;
    aes(&content_key)
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed.ciphertext,
                aad: binding.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| LedgerError::SealOpenFailed)
}

/// Checks the structure of a sealed summary without opening it (what an endorser can check).
pub fn decode_sealed(sealed: &[u8]) -> Result<wire::SealedSummary, LedgerError> {
    let msg: wire::SealedSummary =
        decode_bounded("sealed summary", sealed, limits::MAX_SEALED_SUMMARY_BYTES)?;
    if msg.version != SEALED_SUMMARY_VERSION {
        return Err(LedgerError::UnsupportedVersion {
            what: "sealed summary",
            version: msg.version,
            expected: SEALED_SUMMARY_VERSION,
        });
    }
    nonce12(&msg.nonce)?;
    if msg.recipients.is_empty() {
        return Err(LedgerError::MissingField {
            what: "sealed summary",
            field: "recipients",
        });
    }
    Ok(msg)
}

fn aes(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

fn nonce12(bytes: &[u8]) -> Result<Nonce, LedgerError> {
    let arr: [u8; 12] = bytes.try_into().map_err(|_| LedgerError::Malformed {
        what: "sealed summary",
        reason: format!("nonce is {} bytes, expected 12", bytes.len()),
    })?;
    Ok(Nonce::from(arr))
}

fn kek(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &SealingPublic,
    aad: &Hash32,
) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(&recipient.0);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = Zeroizing::new([0u8; 32]);
    let mut info = b"medblock/key-wrap/v1".to_vec();
    info.extend_from_slice(aad.as_bytes());
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit, so expand cannot fail.
    let _ = hk.expand(&info, okm.as_mut());
    okm
}

fn wrap_key<R: CryptoRng + ?Sized>(
    content_key: &[u8; 32],
    recipient: &SealingPublic,
    aad: &Hash32,
    rng: &mut R,
) -> wire::KeyWrap {
    let ephemeral = SealingSecret::generate(rng);
    let ephemeral_public = ephemeral.public();
    let shared = ephemeral.diffie_hellman(recipient);
    let kek = kek(&shared, &ephemeral_public.0, recipient, aad);
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let wrapped_key = aes(&kek)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: content_key,
                aad: aad.as_bytes(),
            },
        )
        .unwrap_or_default();
    wire::KeyWrap {
        recipient_hint: recipient_hint(recipient).0.to_vec(),
        ephemeral_public: ephemeral_public.0.to_vec(),
        nonce: nonce.to_vec(),
        wrapped_key,
    }
}

fn unwrap_key(
    sealed: &wire::SealedSummary,
    secret: &SealingSecret,
    aad: &Hash32,
) -> Result<Zeroizing<[u8; 32]>, LedgerError> {
    let me = secret.public();
    let hint = recipient_hint(&me);
    let wrap = sealed
        .recipients
        .iter()
        .find(|w| w.recipient_hint.as_slice() == hint.as_bytes())
        .ok_or(LedgerError::NotARecipient)?;
    let ephemeral = SealingPublic::from_slice(&wrap.ephemeral_public)
        .map_err(|e| LedgerError::key("ephemeral key", e))?;
    let shared = secret.diffie_hellman(&ephemeral);
    let kek = kek(&shared, &ephemeral.0, &me, aad);
    let nonce = nonce12(&wrap.nonce)?;
    let key = Zeroizing::new(
        aes(&kek)
            .decrypt(
                &nonce,
                Payload {
                    msg: &wrap.wrapped_key,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| LedgerError::SealOpenFailed)?,
    );
    let arr: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| LedgerError::SealOpenFailed)?;
    Ok(Zeroizing::new(arr))
}
