//! Events, the paper's unit of upload: a signed body, the patient's and the department's
//! signatures, the sealed summary and the endorser's receipt time.
//!
//! Parsing ([`ParsedEvent::parse`]) checks structure and the event hash; signature checks are a
//! separate step so a block can verify all its events in one batch.

use crate::cert::TrustStore;
use crate::codec::{decode_bounded, limits};
use crate::crumbs::{Pseudonym, pseudonym};
use crate::error::{CertificateError, LedgerError};
use crate::hash::{Hash32, sha256, tagged_hash};
use crate::keys::{PublicKey, SealingPublic, Signature, SigningKey, purpose, verify_batch};
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
/// (the paper's Step 1). The receipt time is left for the endorser.
pub fn build_event<R: CryptoRng + ?Sized>(new: &NewEvent<'_>, rng: &mut R) -> wire::Event {
    let binding = SummaryBinding {
        sequence: new.sequence,
        hospital: new.hospital.to_owned(),
        department: new.department.to_owned(),
        patient_key: new.patient.public(),
    };
    let mut recipients = vec![*new.patient_sealing];
    recipients.extend(new.regulator.copied());
    let encrypted_summary = seal(new.summary, &binding, &recipients, rng);
    let body = wire::EventBody {
        sequence: new.sequence,
        hospital: new.hospital.to_owned(),
        department: new.department.to_owned(),
        patient_key: new.patient.public().as_bytes().to_vec(),
        provider_key: new.provider.public().as_bytes().to_vec(),
        event_hash: sha256(&encrypted_summary).0.to_vec(),
        created_at_ms: new.created_at_ms,
    }
    .encode_to_vec();
    wire::Event {
        patient_signature: new.patient.sign(purpose::EVENT, &body).to_vec(),
        provider_signature: new.provider.sign(purpose::EVENT, &body).to_vec(),
        body,
        encrypted_summary,
        received_at_ms: 0,
    }
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
        if crate::access::record::is_access(&body) {
            // An access record carries its encoded record where a visit has a sealed summary.
            crate::access::record::parse_record(&body, &event.encrypted_summary)?;
        } else {
            crate::sealing::decode_sealed(&event.encrypted_summary)?;
        }
        Ok(Self {
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

    /// Checks the patient's and the department's signatures over the body bytes.
    pub fn verify_signatures(&self) -> Result<(), LedgerError> {
        self.patient
            .verify(purpose::EVENT, &self.event.body, &self.patient_signature)
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
        if crate::access::record::is_access(&self.body) {
            if self.body.department == crate::access::record::READ_DEPARTMENT {
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

/// Full check of one event as an endorser receives it (the paper's Step 2): structure, hash,
/// both signatures, and the department's certificate at `now_ms`.
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

/// [`admit_event`] for a batch of uploads, each judged on its own: one malformed, badly signed
/// or uncertified event is refused without refusing the others. The signatures of the events
/// that parse are checked in one ed25519 batch (about twice as fast as one by one); only when
/// that batch fails is each event checked alone, to find the bad ones.
pub fn admit_events(
    events: Vec<wire::Event>,
    trust: &TrustStore,
    now_ms: u64,
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
            ParsedEvent::from_wire(e)
        })
        .collect();
    let parsed: Vec<&ParsedEvent> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut items = Vec::with_capacity(parsed.len() * 2);
    for e in &parsed {
        items.push((&e.patient, e.event.body.as_slice(), &e.patient_signature));
        items.push((&e.provider, e.event.body.as_slice(), &e.provider_signature));
    }
    let all_signed = !items.is_empty() && verify_batch(purpose::EVENT, &items).is_ok();
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
        if let Err(err) = checked {
            *slot = Err(err);
        }
    }
    out
}

/// Verifies the two signatures of every event in one ed25519 batch; when the batch fails, finds
/// and reports the first bad event.
pub fn verify_event_signatures(events: &[ParsedEvent]) -> Result<(), (usize, LedgerError)> {
    let mut items = Vec::with_capacity(events.len() * 2);
    for e in events {
        items.push((&e.patient, e.event.body.as_slice(), &e.patient_signature));
        items.push((&e.provider, e.event.body.as_slice(), &e.provider_signature));
    }
    if verify_batch(purpose::EVENT, &items).is_ok() {
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
