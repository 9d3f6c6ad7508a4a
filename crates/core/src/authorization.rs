//! The patient's consent to be recorded while he is not there, and his enrolment at a hospital.
//!
//! A patient's private keys never leave his side. At enrolment he signs, once, a *recording
//! authorization*: this hospital, these departments (or all), this window, this serial. Every
//! event the hospital then records for him carries the authorization's bytes and his signature
//! over them in place of a signature over the event body, and the body (signed by the
//! department) binds the authorization by hash. So each event on the ledger is attributable to
//! the patient's consent and to the department, and anyone who may see the event verifies both
//! signatures without the patient having been online. He ends an authorization with a
//! revocation he signs (an access record, [`crate::access::record`]); from that block on no
//! event under it can be decided.
//!
//! Enrolment proves the patient holds the key he enrols: he signs the hospital's fresh nonce,
//! the hospital's name and his local id (MRN) there, with the authorization inside.

use crate::codec::decode_bounded;
use crate::hash::{Hash32, tagged_hash};
use crate::keys::{PublicKey, SealingPublic, Signature, SigningKey, purpose};
use crate::wire;
use prost::Message;
use std::collections::{HashMap, HashSet};

/// Version of the authorization body this build writes and reads.
pub const AUTHORIZATION_VERSION: u32 = 1;
/// Largest encoded authorization body (a few department names).
pub const MAX_AUTHORIZATION_BYTES: usize = 4 * 1024;
/// Most departments one authorization may name.
pub const MAX_AUTHORIZED_DEPARTMENTS: usize = 64;
/// Largest encoded enrolment.
pub const MAX_ENROLMENT_BYTES: usize = 8 * 1024;
/// Longest local patient id (MRN).
pub const MAX_PATIENT_ID_LEN: usize = 64;

/// Why an authorization, an enrolment or a patient id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// Bytes that do not decode, or fields out of shape.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The patient's signature over the authorization (or enrolment) does not verify.
    #[error("the patient's signature over the {what} does not verify")]
    BadSignature {
        /// What was signed.
        what: &'static str,
    },
    /// The authorization's key is not the event's patient key.
    #[error("the authorization is the consent of another patient")]
    WrongPatient,
    /// The event's body does not name these authorization bytes.
    #[error("the event's authorization hash does not match the authorization it carries")]
    HashMismatch,
    /// Made out to another hospital.
    #[error("the authorization is made out to hospital {authorized:?}, not {hospital:?}")]
    WrongHospital {
        /// The hospital it names.
        authorized: String,
        /// The hospital of the event.
        hospital: String,
    },
    /// The department is not among those it names.
    #[error("the authorization does not cover department {department:?} of {hospital:?}")]
    WrongDepartment {
        /// The hospital.
        hospital: String,
        /// The department of the event.
        department: String,
    },
    /// The event's time is outside the authorization's window.
    #[error(
        "the authorization (serial {serial}) covers {not_before_ms}..={not_after_ms}, not an event created at {at_ms}"
    )]
    OutsideWindow {
        /// The authorization's serial.
        serial: u64,
        /// Start of its window.
        not_before_ms: u64,
        /// End of its window.
        not_after_ms: u64,
        /// The event's creation time.
        at_ms: u64,
    },
    /// The patient revoked it on the ledger.
    #[error("the patient revoked authorization {serial} at {hospital:?}")]
    Revoked {
        /// The hospital.
        hospital: String,
        /// The serial.
        serial: u64,
    },
    /// An enrolment for another hospital or id than the one it was presented to.
    #[error("the enrolment is for {what} {found:?}, not {expected:?}")]
    EnrolmentMismatch {
        /// Which field differs.
        what: &'static str,
        /// What this hospital expected.
        expected: String,
        /// What the patient signed.
        found: String,
    },
    /// A local patient id that is empty, too long or has characters outside the allowed set.
    #[error(
        "patient id {id:?} is not valid: 1 to {MAX_PATIENT_ID_LEN} characters of A-Z a-z 0-9 . _ - : (ids are kept exactly, never normalised)"
    )]
    BadPatientId {
        /// The id as given.
        id: String,
    },
}

/// What a patient consents to at one hospital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationTerms {
    /// The hospital.
    pub hospital: String,
    /// Departments covered; empty for every department of the hospital.
    pub departments: Vec<String>,
    /// Unique per (patient, hospital): how he names it to revoke it.
    pub serial: u64,
    /// Start of the window (event creation time).
    pub not_before_ms: u64,
    /// End of the window.
    pub not_after_ms: u64,
}

/// A recording authorization as it travels: the encoded body and the patient's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuthorization {
    /// Encoded [`wire::RecordingAuthorizationBody`].
    pub body: Vec<u8>,
    /// The patient's signature over `body`, purpose [`purpose::AUTHORIZATION`].
    pub signature: Signature,
}

/// Signs `terms` with the patient's key. Done on the patient's side only.
pub fn sign_authorization(
    patient: &SigningKey,
    sealing: &SealingPublic,
    terms: &AuthorizationTerms,
) -> SignedAuthorization {
    let body = wire::RecordingAuthorizationBody {
        version: AUTHORIZATION_VERSION,
        patient_key: patient.public().as_bytes().to_vec(),
        patient_sealing_key: sealing.0.to_vec(),
        hospital: terms.hospital.clone(),
        departments: terms.departments.clone(),
        serial: terms.serial,
        not_before_ms: terms.not_before_ms,
        not_after_ms: terms.not_after_ms,
    }
    .encode_to_vec();
    let signature = patient.sign(purpose::AUTHORIZATION, &body);
    SignedAuthorization { body, signature }
}

/// The tagged hash an event body names its authorization by.
pub fn authorization_hash(body: &[u8]) -> Hash32 {
    tagged_hash("medblock/recording-authorization-hash/v1", &[body])
}

/// The ledger-wide name of an authorization: whose, where, which serial. Revocations name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorizationId {
    /// The patient.
    pub patient: PublicKey,
    /// The hospital.
    pub hospital: String,
    /// The patient's serial.
    pub serial: u64,
}

/// A decoded authorization body whose shape was checked (its signature is checked with the
/// event's, in one batch, or by [`ParsedAuthorization::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The decoded body.
    pub body: wire::RecordingAuthorizationBody,
    /// The patient's signing key.
    pub patient: PublicKey,
    /// The patient's sealing key.
    pub sealing: SealingPublic,
    /// [`authorization_hash`] of the encoded body.
    pub hash: Hash32,
}

impl ParsedAuthorization {
    /// Decodes untrusted body bytes and checks their shape.
    pub fn parse(bytes: &[u8]) -> Result<Self, AuthorizationError> {
        let bad = |reason: String| AuthorizationError::Malformed {
            what: "recording authorization",
            reason,
        };
        let body: wire::RecordingAuthorizationBody =
            decode_bounded("recording authorization", bytes, MAX_AUTHORIZATION_BYTES)
                .map_err(|e| bad(e.to_string()))?;
        if body.version != AUTHORIZATION_VERSION {
            return Err(bad(format!(
                "version {} (expected {AUTHORIZATION_VERSION})",
                body.version
            )));
        }
        let patient = PublicKey::from_slice(&body.patient_key)
            .map_err(|e| bad(format!("patient key: {e}")))?;
        let sealing = SealingPublic::from_slice(&body.patient_sealing_key)
            .map_err(|e| bad(format!("sealing key: {e}")))?;
        if body.hospital.is_empty() {
            return Err(bad("no hospital".into()));
        }
        if body.departments.len() > MAX_AUTHORIZED_DEPARTMENTS
            || body.departments.iter().any(|d| d.is_empty())
        {
            return Err(bad("empty department or too many departments".into()));
        }
        if body.not_after_ms < body.not_before_ms {
            return Err(bad("window ends before it starts".into()));
        }
        Ok(Self {
            hash: authorization_hash(bytes),
            body,
            patient,
            sealing,
        })
    }

    /// Checks the patient's signature over the encoded body.
    pub fn verify(&self, bytes: &[u8], signature: &Signature) -> Result<(), AuthorizationError> {
        self.patient
            .verify(purpose::AUTHORIZATION, bytes, signature)
            .map_err(|_| AuthorizationError::BadSignature {
                what: "recording authorization",
            })
    }

    /// Whether it lets `hospital`/`department` record an event created at `at_ms`.
    pub fn covers(
        &self,
        hospital: &str,
        department: &str,
        at_ms: u64,
    ) -> Result<(), AuthorizationError> {
        if self.body.hospital != hospital {
            return Err(AuthorizationError::WrongHospital {
                authorized: self.body.hospital.clone(),
                hospital: hospital.to_owned(),
            });
        }
        if !self.body.departments.is_empty()
            && !self.body.departments.iter().any(|d| d == department)
        {
            return Err(AuthorizationError::WrongDepartment {
                hospital: hospital.to_owned(),
                department: department.to_owned(),
            });
        }
        if at_ms < self.body.not_before_ms || at_ms > self.body.not_after_ms {
            return Err(AuthorizationError::OutsideWindow {
                serial: self.body.serial,
                not_before_ms: self.body.not_before_ms,
                not_after_ms: self.body.not_after_ms,
                at_ms,
            });
        }
        Ok(())
    }

    /// Its ledger-wide name.
    pub fn id(&self) -> AuthorizationId {
        AuthorizationId {
            patient: self.patient,
            hospital: self.body.hospital.clone(),
            serial: self.body.serial,
        }
    }
}

/// A signed authorization whose signature verified: what a hospital's registry keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAuthorization {
    /// The signed bytes.
    pub signed: SignedAuthorization,
    /// Their decoded form.
    pub parsed: ParsedAuthorization,
}

impl VerifiedAuthorization {
    /// Parses and verifies untrusted bytes and signature.
    pub fn new(body: Vec<u8>, signature: &[u8]) -> Result<Self, AuthorizationError> {
        let parsed = ParsedAuthorization::parse(&body)?;
        let signature =
            Signature::from_slice(signature).map_err(|e| AuthorizationError::Malformed {
                what: "recording authorization",
                reason: format!("signature: {e}"),
            })?;
        parsed.verify(&body, &signature)?;
        Ok(Self {
            signed: SignedAuthorization { body, signature },
            parsed,
        })
    }

    /// [`VerifiedAuthorization::new`] on what [`sign_authorization`] made.
    pub fn from_signed(signed: SignedAuthorization) -> Result<Self, AuthorizationError> {
        let sig = signed.signature;
        Self::new(signed.body, sig.as_bytes())
    }
}

/// Checks a local patient id (MRN): 1 to [`MAX_PATIENT_ID_LEN`] characters of letters, digits
/// and `.`, `_`, `-`, `:`. Ids are compared exactly; nothing is ever normalised, so `a.b` and
/// `a_b` are two patients.
pub fn validate_patient_id(id: &str) -> Result<(), AuthorizationError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_PATIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(AuthorizationError::BadPatientId { id: id.to_owned() })
    }
}

/// Signs an enrolment on the patient's side: the hospital's challenge (or, for a bulk file
/// made offline, no nonce), his local id there and the authorization he gives.
pub fn sign_enrolment(
    patient: &SigningKey,
    hospital: &str,
    patient_id: &str,
    nonce: &[u8],
    authorization: &SignedAuthorization,
    signed_at_ms: u64,
) -> wire::Enrolment {
    let body = wire::EnrolmentBody {
        hospital: hospital.to_owned(),
        patient_id: patient_id.to_owned(),
        nonce: nonce.to_vec(),
        authorization: authorization.body.clone(),
        authorization_signature: authorization.signature.to_vec(),
        signed_at_ms,
    }
    .encode_to_vec();
    wire::Enrolment {
        signature: patient.sign(purpose::ENROLMENT, &body).to_vec(),
        body,
    }
}

/// An enrolment whose signatures verified for this hospital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEnrolment {
    /// The patient's local id, exactly as signed.
    pub patient_id: String,
    /// The nonce he signed (empty for an offline enrolment).
    pub nonce: Vec<u8>,
    /// His authorization.
    pub authorization: VerifiedAuthorization,
}

/// Verifies an enrolment presented to `hospital`: decodes it, checks the id, that it is made
/// out to this hospital, that the authorization is this patient's and for this hospital, and
/// both of the patient's signatures. Whether the nonce is fresh is the caller's check (it keeps
/// the challenges it issued).
pub fn verify_enrolment(
    enrolment: &wire::Enrolment,
    hospital: &str,
) -> Result<VerifiedEnrolment, AuthorizationError> {
    let body: wire::EnrolmentBody =
        decode_bounded("enrolment", &enrolment.body, MAX_ENROLMENT_BYTES).map_err(|e| {
            AuthorizationError::Malformed {
                what: "enrolment",
                reason: e.to_string(),
            }
        })?;
    validate_patient_id(&body.patient_id)?;
    if body.hospital != hospital {
        return Err(AuthorizationError::EnrolmentMismatch {
            what: "hospital",
            expected: hospital.to_owned(),
            found: body.hospital,
        });
    }
    let authorization =
        VerifiedAuthorization::new(body.authorization, &body.authorization_signature)?;
    if authorization.parsed.body.hospital != hospital {
        return Err(AuthorizationError::WrongHospital {
            authorized: authorization.parsed.body.hospital.clone(),
            hospital: hospital.to_owned(),
        });
    }
    let signature =
        Signature::from_slice(&enrolment.signature).map_err(|e| AuthorizationError::Malformed {
            what: "enrolment",
            reason: format!("signature: {e}"),
        })?;
    authorization
        .parsed
        .patient
        .verify(purpose::ENROLMENT, &enrolment.body, &signature)
        .map_err(|_| AuthorizationError::BadSignature { what: "enrolment" })?;
    Ok(VerifiedEnrolment {
        patient_id: body.patient_id,
        nonce: body.nonce,
        authorization,
    })
}

/// The recording authorizations patients revoked on the ledger, each with the height of the
/// block that holds the revocation: an event under one of them is valid below that height and
/// refused at and above it. Folded from decided blocks in order; every node derives the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedAuthorizations {
    revoked: HashMap<AuthorizationId, u64>,
}

impl RevokedAuthorizations {
    /// Records that the patient revoked `id` in the block at `height` (the earliest one counts).
    pub fn insert(&mut self, id: AuthorizationId, height: u64) {
        let h = self.revoked.entry(id).or_insert(height);
        *h = (*h).min(height);
    }

    /// The height from which `id` no longer counts, if revoked.
    pub fn revoked_at(&self, id: &AuthorizationId) -> Option<u64> {
        self.revoked.get(id).copied()
    }

    /// Whether an event under `id` may be decided in a block at `height`.
    pub fn check(&self, id: &AuthorizationId, height: u64) -> Result<(), AuthorizationError> {
        match self.revoked_at(id) {
            Some(at) if height > at => Err(AuthorizationError::Revoked {
                hospital: id.hospital.clone(),
                serial: id.serial,
            }),
            _ => Ok(()),
        }
    }

    /// Folds the revocations among a decided block's events (access records by their author).
    pub fn fold_block<'a>(
        &mut self,
        height: u64,
        events: impl IntoIterator<Item = &'a crate::event::ParsedEvent>,
    ) {
        for e in events {
            if let Some(id) = revocation_of(e) {
                self.insert(id, height);
            }
        }
    }

    /// How many are known.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// The authorizations a decided block revokes, found without parsing its visits: only the
/// events its signature collection lists at the access hospital are decoded. For a node that
/// follows decided blocks whose certificates vouch for them (the orderer).
pub fn revocations_in_block(block: &wire::Block) -> Vec<AuthorizationId> {
    let Ok(collection) = decode_bounded::<wire::SignatureCollection>(
        "signature collection",
        &block.signature_collection,
        crate::codec::limits::MAX_BLOCK_BYTES,
    ) else {
        return Vec::new();
    };
    collection
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.hospital == crate::access::record::ACCESS_HOSPITAL)
        .filter_map(|(i, _)| block.events.get(i))
        .filter_map(|bytes| crate::event::ParsedEvent::parse(bytes).ok())
        .filter_map(|e| revocation_of(&e))
        .collect()
}

/// The authorization an access event revokes, if it is a patient's authorization revocation.
pub fn revocation_of(event: &crate::event::ParsedEvent) -> Option<AuthorizationId> {
    if !crate::access::record::is_access(&event.body) {
        return None;
    }
    let record = crate::access::record::record_of(event).ok()?;
    match record.kind {
        Some(wire::access_record::Kind::RevokeAuthorization(r)) => Some(AuthorizationId {
            patient: event.patient,
            hospital: r.hospital,
            serial: r.serial,
        }),
        _ => None,
    }
}

/// Patients' authorization signatures already verified, by (body hash, signature): a hospital
/// records many visits under one authorization, so its signature is checked once, not per event.
/// Bounded; cleared when full (the next check verifies again).
#[derive(Debug, Default)]
pub struct AuthorizationCache {
    verified: HashSet<(Hash32, [u8; 64])>,
}

/// Entries an [`AuthorizationCache`] holds before it starts over.
pub const AUTHORIZATION_CACHE_ENTRIES: usize = 100_000;

impl AuthorizationCache {
    /// Whether this signature over this body was verified before.
    pub fn contains(&self, hash: &Hash32, signature: &Signature) -> bool {
        self.verified.contains(&(*hash, *signature.as_bytes()))
    }

    /// Remembers a verified signature.
    pub fn insert(&mut self, hash: Hash32, signature: &Signature) {
        if self.verified.len() >= AUTHORIZATION_CACHE_ENTRIES {
            self.verified.clear();
        }
        self.verified.insert((hash, *signature.as_bytes()));
    }
}
