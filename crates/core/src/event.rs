//! Events, the paper's unit of upload: a signed body, the patient's and the department's
//! signatures, the sealed summary and the endorser's receipt time.
//!
//! Parsing ([`ParsedEvent::parse`]) checks structure and the event hash; signature checks are a
//! separate step so a block can verify all its events in one batch.

use crate::authorization::{
    AuthorizationCache, AuthorizationError, ParsedAuthorization, RevokedAuthorizations,
    VerifiedAuthorization,
};
use crate::cert::TrustStore;
use crate::codec::{decode_bounded, limits};
use crate::crumbs::{Pseudonym, pseudonym};
use crate::error::{CertificateError, LedgerError};
use crate::hash::{Hash32, sha256, tagged_hash};
use crate::keys::{PublicKey, SealingPublic, Signature, SigningKey, purpose, verify_batch_mixed};
use crate::sealing::{SummaryBinding, seal};
use crate::wire::{self, Role};
use prost::Message;
use rand_core::CryptoRng;

/// What a department needs to turn a summary into an event.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The summary to seal.
    pub summary: &'a wire::Summary,
    /// Unique per (hospital, department): the department's next sequence number.
    pub sequence: u64,
    /// The department's hospital.
    pub hospital: &'a str,
    /// The department.
    pub department: &'a str,
    /// The patient's signing key (the patient signs at the desk, per the paper's Step 1).
    pub patient: &'a SigningKey,
    /// The patient's sealing key, to which the summary is sealed.
    pub patient_sealing: &'a SealingPublic,
    /// The department's signing key, certified with role CLIENT.
    pub provider: &'a SigningKey,
    /// The regulator's sealing key when genesis names one.
    pub regulator: Option<&'a SealingPublic>,
    /// The department's clock.
    pub created_at_ms: u64,
}

/// Seals the summary and signs the event with the patient's and the department's keys
/// (the paper's Step 1, the patient countersigning at the desk). The receipt time is left for
/// the endorser.
pub fn build_event<R: CryptoRng + ?Sized>(new: &NewEvent<'_>, rng: &mut R) -> wire::Event {
    let (body, encrypted_summary) = sealed_body(
        Header {
            summary: new.summary,
            sequence: new.sequence,
            hospital: new.hospital,
            department: new.department,
            patient: new.patient.public(),
            patient_sealing: new.patient_sealing,
            provider: new.provider.public(),
            regulator: new.regulator,
            created_at_ms: new.created_at_ms,
        },
        Vec::new(),
        rng,
    );
    wire::Event {
        patient_signature: new.patient.sign(purpose::EVENT, &body).to_vec(),
        provider_signature: new.provider.sign(purpose::EVENT, &body).to_vec(),
        body,
        encrypted_summary,
        received_at_ms: 0,
        authorization: Vec::new(),
    }
}

/// What a department needs to record a visit under the patient's recording authorization,
/// without the patient's private key (see [`crate::authorization`]).
#[derive(Debug, Clone)]
pub struct NewAuthorizedEvent<'a> {
    /// The summary to seal.
    pub summary: &'a wire::Summary,
    /// Unique per (hospital, department): the department's next sequence number.
    pub sequence: u64,
    /// The department's hospital.
    pub hospital: &'a str,
    /// The department.
    pub department: &'a str,
    /// The patient's authorization, from the hospital's registry: it names his public keys.
    pub authorization: &'a VerifiedAuthorization,
    /// The department's signing key, certified with role CLIENT.
    pub provider: &'a SigningKey,
    /// The regulator's sealing key when genesis names one.
    pub regulator: Option<&'a SealingPublic>,
    /// The department's clock.
    pub created_at_ms: u64,
}

/// Seals the summary to the patient's sealing key (and the regulator's), binds the patient's
/// authorization and signs with the department's key. The patient's signature is the one he
/// made over the authorization at enrolment.
pub fn build_authorized_event<R: CryptoRng + ?Sized>(
    new: &NewAuthorizedEvent<'_>,
    rng: &mut R,
) -> wire::Event {
    let auth = new.authorization;
    let (body, encrypted_summary) = sealed_body(
        Header {
            summary: new.summary,
            sequence: new.sequence,
            hospital: new.hospital,
            department: new.department,
            patient: auth.parsed.patient,
            patient_sealing: &auth.parsed.sealing,
            provider: new.provider.public(),
            regulator: new.regulator,
            created_at_ms: new.created_at_ms,
        },
        auth.parsed.hash.0.to_vec(),
        rng,
    );
    wire::Event {
        patient_signature: auth.signed.signature.to_vec(),
        provider_signature: new.provider.sign(purpose::EVENT, &body).to_vec(),
        body,
        encrypted_summary,
        received_at_ms: 0,
        authorization: auth.signed.body.clone(),
    }
}

struct Header<'a> {
    summary: &'a wire::Summary,
    sequence: u64,
    hospital: &'a str,
    department: &'a str,
    patient: PublicKey,
    patient_sealing: &'a SealingPublic,
    provider: PublicKey,
    regulator: Option<&'a SealingPublic>,
    created_at_ms: u64,
}

/// The encoded body and the sealed summary it names.
fn sealed_body<R: CryptoRng + ?Sized>(
    h: Header<'_>,
    authorization_hash: Vec<u8>,
    rng: &mut R,
) -> (Vec<u8>, Vec<u8>) {
    let binding = SummaryBinding {
        sequence: h.sequence,
        hospital: h.hospital.to_owned(),
        department: h.department.to_owned(),
        patient_key: h.patient,
    };
    let mut recipients = vec![*h.patient_sealing];
    recipients.extend(h.regulator.copied());
    let encrypted_summary = seal(h.summary, &binding, &recipients, rng);
    let body = wire::EventBody {
        sequence: h.sequence,
        hospital: h.hospital.to_owned(),
        department: h.department.to_owned(),
        patient_key: h.patient.as_bytes().to_vec(),
        provider_key: h.provider.as_bytes().to_vec(),
        event_hash: sha256(&encrypted_summary).0.to_vec(),
        created_at_ms: h.created_at_ms,
        authorization_hash,
    }
    .encode_to_vec();
    (body, encrypted_summary)
}

/// The identity of an event across the whole ledger: the same (hospital, department, sequence)
/// can be committed only once, which makes a client's retry to another endorser idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(pub Hash32);

impl EventKey {
    /// The key of `sequence` at `hospital`/`department`.
    pub fn new(hospital: &str, department: &str, sequence: u64) -> Self {
        EventKey(tagged_hash(
            "medblock/event-key/v1",
            &[
                hospital.as_bytes(),
                department.as_bytes(),
                &sequence.to_be_bytes(),
            ],
        ))
    }
}

/// An event whose structure and hash have been checked, with its fields decoded. Signatures are
/// checked by [`ParsedEvent::verify_signatures`] or in a batch by [`verify_event_signatures`].
#[derive(Debug, Clone)]
pub struct ParsedEvent {
    /// The event as decoded from the bytes received.
    pub event: wire::Event,
    /// Its decoded body.
    pub body: wire::EventBody,
    /// The patient's key.
    pub patient: PublicKey,
    /// The department's key.
    pub provider: PublicKey,
    /// The patient's signature.
    pub patient_signature: Signature,
    /// The department's signature.
    pub provider_signature: Signature,
    /// SHA-256 of the encrypted summary.
    pub event_hash: Hash32,
    /// The patient's pseudonym (bread-crumb key).
    pub pseudonym: Pseudonym,
    /// The patient's recording authorization when he did not sign the body himself; the
    /// patient signature is then over its bytes.
    pub authorization: Option<ParsedAuthorization>,
}

impl ParsedEvent {
    /// Decodes untrusted bytes and checks everything but signatures and certificates: sizes,
    /// keys, signature lengths, sealed-summary structure, and that the body's event hash is the
    /// SHA-256 of the encrypted summary.
    pub fn parse(bytes: &[u8]) -> Result<Self, LedgerError> {
        let event: wire::Event = decode_bounded("event", bytes, limits::MAX_EVENT_BYTES)?;
        Self::from_wire(event)
    }

    /// [`ParsedEvent::parse`] on an already decoded event.
    pub fn from_wire(event: wire::Event) -> Result<Self, LedgerError> {
        let body: wire::EventBody =
            decode_bounded("event body", &event.body, limits::MAX_EVENT_BYTES)?;
        if body.hospital.is_empty() {
            return Err(LedgerError::MissingField {
                what: "event body",
                field: "hospital",
            });
        }
        if body.department.is_empty() {
            return Err(LedgerError::MissingField {
                what: "event body",
                field: "department",
            });
        }
        let patient = PublicKey::from_slice(&body.patient_key)
            .map_err(|e| LedgerError::key("patient key", e))?;
        let provider = PublicKey::from_slice(&body.provider_key)
            .map_err(|e| LedgerError::key("provider key", e))?;
        let patient_signature = Signature::from_slice(&event.patient_signature)
            .map_err(|e| LedgerError::key("patient signature", e))?;
        let provider_signature = Signature::from_slice(&event.provider_signature)
            .map_err(|e| LedgerError::key("provider signature", e))?;
        let claimed = Hash32::from_slice(&body.event_hash).ok_or(LedgerError::Malformed {
            what: "event body",
            reason: format!("event hash is {} bytes, expected 32", body.event_hash.len()),
        })?;
        let actual = sha256(&event.encrypted_summary);
        if claimed != actual {
            return Err(LedgerError::EventHashMismatch { claimed, actual });
        }
        if crate::access::format::is_access(&body) {
            // An access record carries its encoded record where a visit has a sealed summary.
            crate::access::format::parse_record(&body, &event.encrypted_summary)?;
        } else {
            crate::sealing::decode_sealed(&event.encrypted_summary)?;
        }
        let authorization = parse_authorization(&event, &body, &patient)?;
        Ok(Self {
            authorization,
            pseudonym: pseudonym(&patient),
            event,
            body,
            patient,
            provider,
            patient_signature,
            provider_signature,
            event_hash: actual,
        })
    }

    /// What the patient signed and for which purpose: the body when he countersigned, his
    /// recording authorization otherwise.
    pub fn patient_signed(&self) -> (&'static str, &[u8]) {
        match self.authorization {
            Some(_) => (purpose::AUTHORIZATION, self.event.authorization.as_slice()),
            None => (purpose::EVENT, self.event.body.as_slice()),
        }
    }

    /// Checks the patient's and the department's signatures (the patient's over the body or
    /// over his recording authorization).
    pub fn verify_signatures(&self) -> Result<(), LedgerError> {
        let (patient_purpose, patient_signed) = self.patient_signed();
        self.patient
            .verify(patient_purpose, patient_signed, &self.patient_signature)
            .map_err(|_| LedgerError::BadPatientSignature {
                sequence: self.body.sequence,
                hospital: self.body.hospital.clone(),
                department: self.body.department.clone(),
            })?;
        self.provider
            .verify(purpose::EVENT, &self.event.body, &self.provider_signature)
            .map_err(|_| LedgerError::BadProviderSignature {
                sequence: self.body.sequence,
                hospital: self.body.hospital.clone(),
                department: self.body.department.clone(),
            })
    }

    /// Checks that the department's key is certified (role CLIENT, not revoked, inside its window
    /// at `at_ms`) for the hospital and department the event names.
    /// Access records (consent, regulator reads) are authorized by their author instead: a
    /// patient's consent by his own two signatures, a regulator read by a REGULATOR certificate.
    pub fn authorize_provider(&self, trust: &TrustStore, at_ms: u64) -> Result<(), LedgerError> {
        if crate::access::format::is_access(&self.body) {
            if self.body.department == crate::access::format::READ_DEPARTMENT {
                trust.authorize(&self.provider, Role::Regulator, at_ms)?;
            }
            return Ok(());
        }
        let cert = trust.authorize(&self.provider, Role::Client, at_ms)?;
        if cert.body.hospital != self.body.hospital || cert.body.department != self.body.department
        {
            return Err(CertificateError::WrongAffiliation {
                serial: cert.body.serial,
                cert_hospital: cert.body.hospital.clone(),
                cert_department: cert.body.department.clone(),
                hospital: self.body.hospital.clone(),
                department: self.body.department.clone(),
            }
            .into());
        }
        Ok(())
    }

    /// The ledger-wide identity of this event.
    pub fn key(&self) -> EventKey {
        EventKey::new(
            &self.body.hospital,
            &self.body.department,
            self.body.sequence,
        )
    }

    /// What the sealed summary is bound to; needed to open it.
    pub fn binding(&self) -> SummaryBinding {
        SummaryBinding {
            sequence: self.body.sequence,
            hospital: self.body.hospital.clone(),
            department: self.body.department.clone(),
            patient_key: self.patient,
        }
    }

    /// The line of the block's signature collection that stands for this event.
    pub fn signature_entry(&self) -> wire::SignatureEntry {
        wire::SignatureEntry {
            pseudonym: self.pseudonym.0.0.to_vec(),
            hospital: self.body.hospital.clone(),
            department: self.body.department.clone(),
            sequence: self.body.sequence,
            event_hash: self.event_hash.0.to_vec(),
            patient_signature: self.event.patient_signature.clone(),
            provider_signature: self.event.provider_signature.clone(),
            received_at_ms: self.event.received_at_ms,
        }
    }
}

/// Parses the recording authorization an event carries, if any, and checks it against the
/// event: bound by the body's hash, the same patient, covering the hospital, the department and
/// the creation time. An access record carries none (its author signs it himself).
fn parse_authorization(
    event: &wire::Event,
    body: &wire::EventBody,
    patient: &PublicKey,
) -> Result<Option<ParsedAuthorization>, LedgerError> {
    if event.authorization.is_empty() && body.authorization_hash.is_empty() {
        return Ok(None);
    }
    if crate::access::format::is_access(body) {
        return Err(LedgerError::Malformed {
            what: "access record",
            reason: "an access record is signed by its author, not under an authorization".into(),
        });
    }
    let auth = ParsedAuthorization::parse(&event.authorization)?;
    if auth.hash.as_bytes().as_slice() != body.authorization_hash {
        return Err(AuthorizationError::HashMismatch.into());
    }
    if auth.patient != *patient {
        return Err(AuthorizationError::WrongPatient.into());
    }
    auth.covers(&body.hospital, &body.department, body.created_at_ms)?;
    Ok(Some(auth))
}

/// Full check of one event as an endorser receives it (the paper's Step 2): structure, hash,
/// both signatures, the patient's authorization, and the department's certificate at `now_ms`.
pub fn admit_event(
    bytes: &[u8],
    trust: &TrustStore,
    now_ms: u64,
) -> Result<ParsedEvent, LedgerError> {
    let parsed = ParsedEvent::parse(bytes)?;
    parsed.verify_signatures()?;
    parsed.authorize_provider(trust, now_ms)?;
    Ok(parsed)
}

/// Uploads an endorser takes in one request at most (see [`admit_events`]).
pub const MAX_UPLOAD_BATCH: usize = 1024;

/// What [`admit_events`] checks an upload against besides the trust store.
#[derive(Debug)]
pub struct Admission<'a> {
    /// Authorizations revoked on the ledger so far.
    pub revoked: &'a RevokedAuthorizations,
    /// Authorization signatures already verified.
    pub cache: &'a mut AuthorizationCache,
    /// The height the events would be decided at, at the earliest (the next block).
    pub height: u64,
}

/// [`admit_event`] for a batch of uploads, each judged on its own: one malformed, badly signed,
/// uncertified or unauthorized event is refused without refusing the others. The signatures of
/// the events that parse are checked in one ed25519 batch (about twice as fast as one by one),
/// an authorization signature once per batch and not again once cached; only when that batch
/// fails is each event checked alone, to find the bad ones.
pub fn admit_events(
    events: Vec<wire::Event>,
    trust: &TrustStore,
    now_ms: u64,
    admission: Admission<'_>,
) -> Vec<Result<ParsedEvent, LedgerError>> {
    let mut out: Vec<Result<ParsedEvent, LedgerError>> = events
        .into_iter()
        .map(|e| {
            let len = e.encoded_len();
            if len > limits::MAX_EVENT_BYTES {
                return Err(LedgerError::Malformed {
                    what: "event",
                    reason: format!(
                        "{len} bytes exceeds the maximum of {}",
                        limits::MAX_EVENT_BYTES
                    ),
                });
            }
            let parsed = ParsedEvent::from_wire(e)?;
            if let Some(a) = &parsed.authorization {
                admission.revoked.check(&a.id(), admission.height)?;
            }
            Ok(parsed)
        })
        .collect();
    let parsed: Vec<&ParsedEvent> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
    let all_signed = !parsed.is_empty()
        && verify_batch_mixed(&signature_items(parsed.iter().copied(), admission.cache)).is_ok();
    for slot in out.iter_mut() {
        let checked = match slot {
            Ok(e) => {
                let signed = if all_signed {
                    Ok(())
                } else {
                    e.verify_signatures()
                };
                signed.and_then(|()| e.authorize_provider(trust, now_ms))
            }
            Err(_) => continue,
        };
        match checked {
            Err(err) => *slot = Err(err),
            Ok(()) => {
                if let Ok(e) = slot
                    && let Some(a) = &e.authorization
                {
                    admission.cache.insert(a.hash, &e.patient_signature);
                }
            }
        }
    }
    out
}

/// The signatures to verify for `events`: each department's over its body, and each patient's
/// over the body or over his authorization, an authorization signature only once (a batch of
/// one patient's visits carries the same one) and not at all when already in `cache`.
fn signature_items<'a>(
    events: impl Iterator<Item = &'a ParsedEvent>,
    cache: &AuthorizationCache,
) -> Vec<(&'static str, &'a PublicKey, &'a [u8], &'a Signature)> {
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in events {
        items.push((
            purpose::EVENT,
            &e.provider,
            e.event.body.as_slice(),
            &e.provider_signature,
        ));
        match &e.authorization {
            Some(a) => {
                if cache.contains(&a.hash, &e.patient_signature)
                    || !seen.insert((a.hash, *e.patient_signature.as_bytes()))
                {
                    continue;
                }
                items.push((
                    purpose::AUTHORIZATION,
                    &e.patient,
                    e.event.authorization.as_slice(),
                    &e.patient_signature,
                ));
            }
            None => items.push((
                purpose::EVENT,
                &e.patient,
                e.event.body.as_slice(),
                &e.patient_signature,
            )),
        }
    }
    items
}

/// Verifies the two signatures of every event in one ed25519 batch; when the batch fails, finds
/// and reports the first bad event.
pub fn verify_event_signatures(events: &[ParsedEvent]) -> Result<(), (usize, LedgerError)> {
    verify_event_signatures_cached(events, &mut AuthorizationCache::default())
}

/// [`verify_event_signatures`], skipping authorization signatures `cache` already holds and
/// remembering the ones verified here.
pub fn verify_event_signatures_cached(
    events: &[ParsedEvent],
    cache: &mut AuthorizationCache,
) -> Result<(), (usize, LedgerError)> {
    if verify_batch_mixed(&signature_items(events.iter(), cache)).is_ok() {
        for e in events {
            if let Some(a) = &e.authorization {
                cache.insert(a.hash, &e.patient_signature);
            }
        }
        return Ok(());
    }
    for (i, e) in events.iter().enumerate() {
        e.verify_signatures().map_err(|err| (i, err))?;
    }
    // The batch failed but every signature verifies alone: only possible for a malformed key,
    // which parse already refused. Report it against the first event rather than accept.
    Err((
        0,
        LedgerError::key(
            "event signatures",
            crate::keys::KeyError::BadSignature {
                purpose: purpose::EVENT,
            },
        ),
    ))
}

/// Checks that no event of a block at `height` is recorded under an authorization its patient
/// revoked in an earlier block.
pub fn check_revocations(
    events: &[ParsedEvent],
    revoked: &RevokedAuthorizations,
    height: u64,
) -> Result<(), (usize, LedgerError)> {
    for (i, e) in events.iter().enumerate() {
        if let Some(a) = &e.authorization {
            revoked
                .check(&a.id(), height)
                .map_err(|err| (i, err.into()))?;
        }
    }
    Ok(())
}
