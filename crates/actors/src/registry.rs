//! The hospital's front desk for patients: enrolment challenges and the patient registry, shared
//! by the HTTP API (enrol, look up) and the client (each visit's patient is looked up here).
//!
//! A patient enrols with his public keys only. He asks for a challenge (a fresh nonce bound to
//! this hospital and his local id, single use, valid [`CHALLENGE_TTL_MS`]), signs an enrolment
//! over it with the recording authorization he gives, and the desk checks both signatures, the
//! nonce, the id and that the key is not enrolled under another id before the registry keeps
//! the entry (a synced RocksDB write). A bulk file's enrolments are signed offline, without a
//! nonce. Registry entries are cached in memory for the client's hot path.

use crate::clock::now_ms;
use crate::shared::Ctx;
use medblock_core::authorization::{
    AuthorizationError, VerifiedAuthorization, validate_patient_id, verify_enrolment,
};
use medblock_core::wire;
use medblock_storage::{EnrolStatus, PatientRegistry, RegistryEntry, RegistryError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// How long a challenge may be answered.
pub const CHALLENGE_TTL_MS: u64 = 5 * 60 * 1000;
/// Challenges one patient id may have open at once.
pub const CHALLENGES_PER_PATIENT: usize = 4;
/// Challenges (open or answered and not yet expired) the node keeps at most.
pub const CHALLENGES_TOTAL: usize = 10_000;
/// Registry entries kept in memory; the cache starts over when it reaches this size.
const ENTRY_CACHE: usize = 16_384;

/// Why an enrolment or a look-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// Malformed input, a bad id or a signature that does not verify.
    #[error(transparent)]
    Authorization(#[from] AuthorizationError),
    /// The registry refused (id or key taken, stale serial) or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A nonce this node never issued (or forgot after its expiry).
    #[error("unknown enrolment challenge: ask for a new one")]
    UnknownChallenge,
    /// A nonce answered before.
    #[error("the enrolment challenge was already used: ask for a new one")]
    ReplayedChallenge,
    /// A nonce answered too late.
    #[error("the enrolment challenge expired at {expired_at_ms}: ask for a new one")]
    ExpiredChallenge {
        /// When it expired.
        expired_at_ms: u64,
    },
    /// A nonce issued for another patient id.
    #[error("the challenge was issued for patient id {issued_for:?}, not {patient_id:?}")]
    ChallengeForAnotherId {
        /// The id it was issued for.
        issued_for: String,
        /// The id signed.
        patient_id: String,
    },
    /// A challenge enrolment without a nonce, or a bulk one with one.
    #[error("{0}")]
    Nonce(&'static str),
    /// Too many challenges open.
    #[error("too many open enrolment challenges {0}; try again in a few minutes")]
    TooManyChallenges(&'static str),
    /// The authorization ended, or the patient revoked it on the ledger.
    #[error("the authorization (serial {serial}) cannot be used: {reason}")]
    Unusable {
        /// Its serial.
        serial: u64,
        /// Why.
        reason: String,
    },
    /// His authorization does not let this department record this visit (another department,
    /// outside its window, revoked).
    #[error("patient {patient_id}'s recording authorization does not allow this visit: {reason}")]
    NotAuthorized {
        /// The id.
        patient_id: String,
        /// Why.
        reason: AuthorizationError,
    },
    /// The node is shutting down (its registry is closed).
    #[error("the node is shutting down")]
    Closed,
    /// The id is not enrolled.
    #[error("patient {patient_id} is not enrolled at hospital {hospital}")]
    NotEnrolled {
        /// The id.
        patient_id: String,
        /// This hospital.
        hospital: String,
    },
}

impl EnrolError {
    /// The error's kind, as the HTTP API names it (`code`).
    pub fn code(&self) -> &'static str {
        match self {
            EnrolError::Authorization(AuthorizationError::BadPatientId { .. })
            | EnrolError::Registry(RegistryError::BadId(_)) => "bad_patient_id",
            EnrolError::Authorization(AuthorizationError::BadSignature { .. }) => "bad_signature",
            EnrolError::Authorization(_) | EnrolError::Nonce(_) => "malformed",
            EnrolError::Registry(RegistryError::IdTaken { .. }) => "id_taken",
            EnrolError::Registry(RegistryError::KeyTaken { .. }) => "key_taken",
            EnrolError::Registry(RegistryError::StaleSerial { .. }) => "stale_serial",
            EnrolError::Registry(_) => "storage",
            EnrolError::UnknownChallenge => "unknown_challenge",
            EnrolError::ReplayedChallenge => "replayed_challenge",
            EnrolError::ExpiredChallenge { .. } => "expired_challenge",
            EnrolError::ChallengeForAnotherId { .. } => "challenge_mismatch",
            EnrolError::TooManyChallenges(_) => "too_many_challenges",
            EnrolError::Unusable { .. } => "unusable_authorization",
            EnrolError::NotAuthorized { .. } => "not_authorized",
            EnrolError::NotEnrolled { .. } => "not_enrolled",
            EnrolError::Closed => "unavailable",
        }
    }
}

/// A challenge as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Challenge {
    /// This hospital.
    pub hospital: String,
    /// The id it is bound to.
    pub patient_id: String,
    /// 32 random bytes (hex): what the patient signs.
    pub nonce: String,
    /// When it can no longer be answered (ms since the Unix epoch).
    pub expires_at_ms: u64,
}

/// A registry entry as the API returns it (public material only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PatientView {
    /// The local id.
    pub patient_id: String,
    /// Signing key (hex).
    pub patient_key: String,
    /// Sealing key (hex).
    pub sealing_key: String,
    /// The hospital.
    pub hospital: String,
    /// The authorization's serial.
    pub serial: u64,
    /// Departments it covers (empty: all).
    pub departments: Vec<String>,
    /// Its window.
    pub not_before_ms: u64,
    /// Its window.
    pub not_after_ms: u64,
    /// First enrolment.
    pub enrolled_at_ms: u64,
    /// What this enrolment did (`enrolled`, `unchanged`, `renewed`); absent on a look-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl PatientView {
    /// The view of `entry`.
    pub fn of(entry: &RegistryEntry, status: Option<EnrolStatus>) -> Self {
        let body = &entry.authorization.parsed.body;
        Self {
            patient_id: entry.patient_id.clone(),
            patient_key: entry.patient_key().to_hex(),
            sealing_key: hex::encode(entry.sealing_key().0),
            hospital: body.hospital.clone(),
            serial: body.serial,
            departments: body.departments.clone(),
            not_before_ms: body.not_before_ms,
            not_after_ms: body.not_after_ms,
            enrolled_at_ms: entry.enrolled_at_ms,
            status: status.map(|s| s.as_str().to_owned()),
        }
    }
}

struct Pending {
    patient_id: String,
    expires_at_ms: u64,
    used: bool,
}

/// Issued challenges: single use, expiring, bounded per id and in total.
#[derive(Default)]
struct Challenges {
    by_nonce: HashMap<[u8; 32], Pending>,
}

impl Challenges {
    fn purge(&mut self, now: u64) {
        self.by_nonce.retain(|_, p| p.expires_at_ms > now);
    }

    fn issue(&mut self, patient_id: &str, now: u64) -> Result<([u8; 32], u64), EnrolError> {
        self.purge(now);
        if self.by_nonce.len() >= CHALLENGES_TOTAL {
            return Err(EnrolError::TooManyChallenges("at this hospital"));
        }
        let open = self
            .by_nonce
            .values()
            .filter(|p| !p.used && p.patient_id == patient_id)
            .count();
        if open >= CHALLENGES_PER_PATIENT {
            return Err(EnrolError::TooManyChallenges("for this patient id"));
        }
        let nonce: [u8; 32] = rand::random();
        let expires_at_ms = now + CHALLENGE_TTL_MS;
        self.by_nonce.insert(
            nonce,
            Pending {
                patient_id: patient_id.to_owned(),
                expires_at_ms,
                used: false,
            },
        );
        Ok((nonce, expires_at_ms))
    }

    /// Consumes `nonce` for `patient_id`. An answered nonce is remembered until its expiry, so
    /// a replay is told apart from a nonce never issued.
    fn take(&mut self, nonce: &[u8], patient_id: &str, now: u64) -> Result<(), EnrolError> {
        let key: [u8; 32] = nonce
            .try_into()
            .map_err(|_| EnrolError::Nonce("the enrolment's nonce is not 32 bytes"))?;
        let p = self
            .by_nonce
            .get_mut(&key)
            .ok_or(EnrolError::UnknownChallenge)?;
        if p.used {
            return Err(EnrolError::ReplayedChallenge);
        }
        if p.expires_at_ms <= now {
            let expired_at_ms = p.expires_at_ms;
            self.by_nonce.remove(&key);
            return Err(EnrolError::ExpiredChallenge { expired_at_ms });
        }
        if p.patient_id != patient_id {
            return Err(EnrolError::ChallengeForAnotherId {
                issued_for: p.patient_id.clone(),
                patient_id: patient_id.to_owned(),
            });
        }
        p.used = true;
        Ok(())
    }

    /// Test hook: makes `nonce` expire now.
    fn expire(&mut self, nonce: &[u8], now: u64) {
        if let Ok(key) = <[u8; 32]>::try_from(nonce)
            && let Some(p) = self.by_nonce.get_mut(&key)
        {
            p.expires_at_ms = now;
        }
    }
}

/// The shared front desk of one department node (see the module's documentation).
pub struct PatientDesk {
    ctx: Ctx,
    /// `None` once the node shut down, so the database is closed whoever still holds the desk.
    registry: RwLock<Option<PatientRegistry>>,
    challenges: Mutex<Challenges>,
    cache: RwLock<HashMap<String, Arc<RegistryEntry>>>,
}

impl std::fmt::Debug for PatientDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientDesk")
            .field("registry", &self.registry)
            .finish()
    }
}

impl PatientDesk {
    /// The desk over the node's registry.
    pub fn new(ctx: Ctx, registry: PatientRegistry) -> Self {
        Self {
            ctx,
            registry: RwLock::new(Some(registry)),
            challenges: Mutex::default(),
            cache: RwLock::default(),
        }
    }

    /// Closes the registry (at the node's shutdown): what needs it is refused from now on.
    pub fn close(&self) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Runs `f` on the open registry.
    fn with_registry<T>(
        &self,
        f: impl FnOnce(&PatientRegistry) -> Result<T, RegistryError>,
    ) -> Result<T, EnrolError> {
        let guard = self.registry.read().unwrap_or_else(|e| e.into_inner());
        let registry = guard.as_ref().ok_or(EnrolError::Closed)?;
        Ok(f(registry)?)
    }

    /// This hospital.
    pub fn hospital(&self) -> &str {
        &self.ctx.certificate.body.hospital
    }

    /// A fresh challenge for `patient_id`.
    pub fn challenge(&self, patient_id: &str) -> Result<Challenge, EnrolError> {
        validate_patient_id(patient_id)?;
        let (nonce, expires_at_ms) = self
            .challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .issue(patient_id, now_ms())?;
        Ok(Challenge {
            hospital: self.hospital().to_owned(),
            patient_id: patient_id.to_owned(),
            nonce: hex::encode(nonce),
            expires_at_ms,
        })
    }

    /// Makes an issued challenge expire now (for tests of expiry).
    pub fn expire_challenge(&self, nonce: &[u8]) {
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expire(nonce, now_ms());
    }

    /// Enrols an answered challenge: the signatures first (a bad one consumes nothing), then
    /// the nonce (single use), then the registry.
    pub fn enrol(&self, enrolment: &wire::Enrolment) -> Result<PatientView, EnrolError> {
        let verified = verify_enrolment(enrolment, self.hospital())?;
        if verified.nonce.is_empty() {
            return Err(EnrolError::Nonce(
                "an enrolment without a challenge nonce is taken only in a bulk file",
            ));
        }
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(&verified.nonce, &verified.patient_id, now_ms())?;
        self.keep(&verified.patient_id, &verified.authorization)
    }

    /// Enrols one line of a bulk file: an enrolment signed offline (no nonce) for `patient_id`.
    pub fn enrol_offline(
        &self,
        patient_id: &str,
        enrolment: &wire::Enrolment,
    ) -> Result<PatientView, EnrolError> {
        validate_patient_id(patient_id)?;
        let verified = verify_enrolment(enrolment, self.hospital())?;
        if verified.patient_id != patient_id {
            return Err(AuthorizationError::EnrolmentMismatch {
                what: "patient id",
                expected: patient_id.to_owned(),
                found: verified.patient_id,
            }
            .into());
        }
        if !verified.nonce.is_empty() {
            return Err(EnrolError::Nonce(
                "a bulk file's enrolment is signed offline, with an empty nonce",
            ));
        }
        self.keep(&verified.patient_id, &verified.authorization)
    }

    fn keep(
        &self,
        patient_id: &str,
        authorization: &VerifiedAuthorization,
    ) -> Result<PatientView, EnrolError> {
        let now = now_ms();
        let body = &authorization.parsed.body;
        let unusable = |reason: &str| EnrolError::Unusable {
            serial: body.serial,
            reason: reason.to_owned(),
        };
        if body.not_after_ms < now {
            return Err(unusable("its window has ended"));
        }
        if self
            .ctx
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .revoked_at(&authorization.parsed.id())
            .is_some()
        {
            return Err(unusable("the patient revoked it on the ledger"));
        }
        let (status, entry) = self.with_registry(|r| r.enrol(patient_id, authorization, now))?;
        if status != EnrolStatus::Unchanged {
            tracing::info!(
                patient = patient_id,
                key = %entry.patient_key(),
                serial = body.serial,
                status = status.as_str(),
                "patient enrolled"
            );
        }
        let view = PatientView::of(&entry, Some(status));
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= ENTRY_CACHE {
            cache.clear();
        }
        cache.insert(patient_id.to_owned(), Arc::new(entry));
        Ok(view)
    }

    /// The entry of `patient_id`, if enrolled (from memory when it can).
    pub fn get(&self, patient_id: &str) -> Result<Option<Arc<RegistryEntry>>, EnrolError> {
        if let Some(e) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(patient_id)
        {
            return Ok(Some(e.clone()));
        }
        let Some(entry) = self.with_registry(|r| r.get(patient_id))? else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= ENTRY_CACHE {
            cache.clear();
        }
        cache.insert(patient_id.to_owned(), entry.clone());
        Ok(Some(entry))
    }

    /// The authorization under which `department` of this hospital records a visit of
    /// `patient_id` created at `at_ms`: refused when he is not enrolled, when it does not cover
    /// the department or the time, or when he revoked it on the ledger.
    pub fn authorization_for(
        &self,
        patient_id: &str,
        department: &str,
        at_ms: u64,
    ) -> Result<Arc<RegistryEntry>, EnrolError> {
        let entry = self
            .get(patient_id)?
            .ok_or_else(|| EnrolError::NotEnrolled {
                patient_id: patient_id.to_owned(),
                hospital: self.hospital().to_owned(),
            })?;
        let parsed = &entry.authorization.parsed;
        let refused = |reason: AuthorizationError| EnrolError::NotAuthorized {
            patient_id: patient_id.to_owned(),
            reason,
        };
        parsed
            .covers(self.hospital(), department, at_ms)
            .map_err(refused)?;
        if self
            .ctx
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .revoked_at(&parsed.id())
            .is_some()
        {
            return Err(refused(AuthorizationError::Revoked {
                hospital: parsed.body.hospital.clone(),
                serial: parsed.body.serial,
            }));
        }
        Ok(entry)
    }
}
