//! Which access records an endorser admits: each needs a relationship the ledger knows between
//! its author and the patient it is about, and each author has a quota.
//!
//! An access record is signed only by its author (see [`super::record`]), and anyone can make a
//! key, so the signatures alone let a certified insider (or anyone who reaches an endorser)
//! fill blocks with records of keys nobody knows. The relationships, by record kind:
//!
//! * consent grant, consent revocation, revocation of a recording authorization: authored by
//!   the patient himself, who must be a patient the ledger knows (at least one record of his is
//!   committed); a grant may name only records of his that are on the ledger. A revocation of a
//!   grantee he never granted is allowed (it changes nothing, and a patient may revoke while
//!   his grant is still pending); the quota bounds it.
//! * regulator read: authored by the regulator genesis names, about a patient the ledger knows.
//!
//! A grantee authors no record kind, so a grantee's key is refused like any stranger's unless it
//! is a known patient itself. A patient who has nothing on the ledger yet cannot revoke a
//! recording authorization this way; nothing was recorded under it, and his hospital's desk
//! can withdraw his enrolment instead.

use crate::keys::PublicKey;
use crate::wire::{self, access_record::Kind};
use std::collections::{HashMap, VecDeque};

/// Access records one author key may have admitted per [`QUOTA_WINDOW_MS`] at one endorser.
///
/// Why 60 a minute: consent is human-paced (a patient grants or revokes with one command each),
/// and a regulator read is one record per patient read interactively, so one a second
/// sustained is well above honest use; yet it bounds what one key can put on the ledger to
/// 60 records (at most 60 × 64 KiB, under 4 MiB) a minute per endorser, instead of whatever its
/// link carries.
pub const ACCESS_RECORDS_PER_KEY: u32 = 60;
/// The quota's window.
pub const QUOTA_WINDOW_MS: u64 = 60_000;

/// Why an access record is refused at admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessAdmissionError {
    /// The author is not a patient the ledger knows.
    #[error("access record refused: its author {author} has no record on the ledger")]
    UnknownPatient {
        /// The author.
        author: PublicKey,
    },
    /// A grant names a record that is not the author's, or not on the ledger.
    #[error(
        "access record refused: the grant names {hospital}/{department}#{sequence}, which is \
         not a committed record of its author"
    )]
    NotHisRecord {
        /// Hospital.
        hospital: String,
        /// Department.
        department: String,
        /// Sequence.
        sequence: u64,
    },
    /// A regulator read not authored by genesis's regulator.
    #[error("access record refused: regulator read by {author}, not the regulator genesis names")]
    NotRegulator {
        /// The author.
        author: PublicKey,
    },
    /// A regulator read about a patient the ledger does not know.
    #[error("access record refused: regulator read of {patient}, who has no record on the ledger")]
    UnknownReadPatient {
        /// The patient named.
        patient: PublicKey,
    },
    /// The record's kind or keys do not decode (event parsing normally refuses these first).
    #[error("access record refused: {0}")]
    Malformed(String),
    /// The author used up his quota.
    #[error(
        "access record refused: {author} had {admitted} access records admitted in the last \
         {window_s} s, at most {max}; retry later"
    )]
    OverQuota {
        /// The author.
        author: PublicKey,
        /// Records admitted in the window.
        admitted: usize,
        /// The quota.
        max: u32,
        /// The window in seconds.
        window_s: u64,
    },
    /// The ledger could not be read: nothing was decided.
    #[error("access record not judged: ledger unreadable: {0}")]
    Unavailable(String),
}

impl AccessAdmissionError {
    /// The refusal code the uploader reads: `OVER_QUOTA` (retry later), `BUSY` when the
    /// ledger could not be read (nothing was judged), `ACCESS_REFUSED` otherwise.
    pub fn code(&self) -> wire::error_reply::Code {
        use wire::error_reply::Code;
        match self {
            AccessAdmissionError::OverQuota { .. } => Code::OverQuota,
            AccessAdmissionError::Unavailable(_) => Code::Busy,
            _ => Code::AccessRefused,
        }
    }
}

/// What the rules read of the ledger (the endorser implements it over its RocksDB ledger).
pub trait LedgerRelations {
    /// Whether at least one record of `patient` (a visit or an access record) is committed.
    fn knows_patient(&self, patient: &PublicKey) -> Result<bool, String>;
    /// The patient key of the committed record (hospital, department, sequence), if any.
    fn record_patient(
        &self,
        hospital: &str,
        department: &str,
        sequence: u64,
    ) -> Result<Option<PublicKey>, String>;
}

/// Checks the relationship `author` (the event's patient and provider, whose signatures were
/// verified) has with what `record` is about. `regulator` is genesis's regulator key.
pub fn check_relationship(
    record: &wire::AccessRecord,
    author: &PublicKey,
    regulator: Option<&PublicKey>,
    ledger: &dyn LedgerRelations,
) -> Result<(), AccessAdmissionError> {
    let unavailable = AccessAdmissionError::Unavailable;
    let known = |k: &PublicKey| ledger.knows_patient(k).map_err(unavailable);
    match &record.kind {
        Some(Kind::Read(r)) => {
            if regulator != Some(author) {
                return Err(AccessAdmissionError::NotRegulator { author: *author });
            }
            let patient = PublicKey::from_slice(&r.patient_key)
                .map_err(|e| AccessAdmissionError::Malformed(e.to_string()))?;
            if !known(&patient)? {
                return Err(AccessAdmissionError::UnknownReadPatient { patient });
            }
            Ok(())
        }
        Some(Kind::Grant(g)) => {
            if !known(author)? {
                return Err(AccessAdmissionError::UnknownPatient { author: *author });
            }
            for r in &g.records {
                let owner = ledger
                    .record_patient(&r.hospital, &r.department, r.sequence)
                    .map_err(unavailable)?;
                if owner.as_ref() != Some(author) {
                    return Err(AccessAdmissionError::NotHisRecord {
                        hospital: r.hospital.clone(),
                        department: r.department.clone(),
                        sequence: r.sequence,
                    });
                }
            }
            Ok(())
        }
        Some(Kind::Revoke(_)) | Some(Kind::RevokeAuthorization(_)) => {
            if !known(author)? {
                return Err(AccessAdmissionError::UnknownPatient { author: *author });
            }
            Ok(())
        }
        None => Err(AccessAdmissionError::Malformed("no record kind".into())),
    }
}

/// Per-author quota of admitted access records over a sliding window. Memory is bounded by
/// the authors admitted within the window (a refused record takes no slot), and each author's
/// times by the quota.
#[derive(Debug, Clone)]
pub struct AccessQuota {
    max: u32,
    window_ms: u64,
    admitted: HashMap<PublicKey, VecDeque<u64>>,
}

impl Default for AccessQuota {
    fn default() -> Self {
        Self::new(ACCESS_RECORDS_PER_KEY, QUOTA_WINDOW_MS)
    }
}

impl AccessQuota {
    /// At most `max` records per author per `window_ms`.
    pub fn new(max: u32, window_ms: u64) -> Self {
        Self {
            max,
            window_ms: window_ms.max(1),
            admitted: HashMap::new(),
        }
    }

    fn trim(&mut self, now_ms: u64) {
        let window = self.window_ms;
        self.admitted.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// Whether `author` may have one more record admitted at `now_ms` (takes no slot).
    pub fn check(&mut self, author: &PublicKey, now_ms: u64) -> Result<(), AccessAdmissionError> {
        self.trim(now_ms);
        let admitted = self.admitted.get(author).map_or(0, VecDeque::len);
        if admitted >= self.max as usize {
            return Err(AccessAdmissionError::OverQuota {
                author: *author,
                admitted,
                max: self.max,
                window_s: self.window_ms / 1000,
            });
        }
        Ok(())
    }

    /// Takes one slot of `author`'s quota for a record admitted at `now_ms`.
    pub fn charge(&mut self, author: &PublicKey, now_ms: u64) {
        self.admitted.entry(*author).or_default().push_back(now_ms);
    }

    /// Authors holding slots now (for tests and metrics).
    pub fn authors(&self) -> usize {
        self.admitted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use std::collections::HashSet;

    #[derive(Default)]
    struct FakeLedger {
        patients: HashSet<PublicKey>,
        records: HashMap<(String, String, u64), PublicKey>,
    }

    impl LedgerRelations for FakeLedger {
        fn knows_patient(&self, patient: &PublicKey) -> Result<bool, String> {
            Ok(self.patients.contains(patient))
        }
        fn record_patient(&self, h: &str, d: &str, s: u64) -> Result<Option<PublicKey>, String> {
            Ok(self.records.get(&(h.into(), d.into(), s)).copied())
        }
    }

    fn key() -> PublicKey {
        SigningKey::generate(&mut rand::rng()).public()
    }

    fn grant(records: &[(&str, &str, u64)]) -> wire::AccessRecord {
        wire::AccessRecord {
            kind: Some(Kind::Grant(wire::ConsentGrant {
                grantee_key: key().as_bytes().to_vec(),
                grantee_name: "dr".into(),
                records: records
                    .iter()
                    .map(|(h, d, s)| wire::GrantedRecord {
                        hospital: (*h).into(),
                        department: (*d).into(),
                        sequence: *s,
                        wrap: None,
                    })
                    .collect(),
            })),
        }
    }

    fn revoke() -> wire::AccessRecord {
        wire::AccessRecord {
            kind: Some(Kind::Revoke(wire::ConsentRevoke {
                grantee_key: key().as_bytes().to_vec(),
            })),
        }
    }

    fn read(patient: &PublicKey) -> wire::AccessRecord {
        wire::AccessRecord {
            kind: Some(Kind::Read(wire::RegulatorRead {
                patient_key: patient.as_bytes().to_vec(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn a_known_patient_grants_his_own_records_and_revokes() {
        let alice = key();
        let mut l = FakeLedger::default();
        l.patients.insert(alice);
        l.records
            .insert(("h1".into(), "cardiology".into(), 3), alice);
        check_relationship(&grant(&[("h1", "cardiology", 3)]), &alice, None, &l).expect("grant");
        check_relationship(&revoke(), &alice, None, &l).expect("revoke");
    }

    #[test]
    fn a_stranger_key_is_refused_for_every_patient_authored_kind() {
        let stranger = key();
        let l = FakeLedger::default();
        let revoke_auth = wire::AccessRecord {
            kind: Some(Kind::RevokeAuthorization(wire::AuthorizationRevoke {
                hospital: "h1".into(),
                serial: 1,
            })),
        };
        for r in [grant(&[]), revoke(), revoke_auth] {
            let err = check_relationship(&r, &stranger, None, &l).expect_err("a stranger");
            assert_eq!(
                err,
                AccessAdmissionError::UnknownPatient { author: stranger }
            );
            assert_eq!(err.code(), wire::error_reply::Code::AccessRefused);
        }
    }

    #[test]
    fn a_grant_of_anothers_or_an_uncommitted_record_is_refused() {
        let (alice, bob) = (key(), key());
        let mut l = FakeLedger::default();
        l.patients.insert(alice);
        l.records.insert(("h1".into(), "cardiology".into(), 3), bob);
        for seq in [3, 4] {
            let err = check_relationship(&grant(&[("h1", "cardiology", seq)]), &alice, None, &l)
                .expect_err("not his");
            assert!(
                matches!(err, AccessAdmissionError::NotHisRecord { sequence, .. } if sequence == seq)
            );
        }
    }

    #[test]
    fn only_genesis_regulator_reads_and_only_known_patients() {
        let (regulator, other, alice, nobody) = (key(), key(), key(), key());
        let mut l = FakeLedger::default();
        l.patients.insert(alice);
        check_relationship(&read(&alice), &regulator, Some(&regulator), &l).expect("read");
        assert_eq!(
            check_relationship(&read(&alice), &other, Some(&regulator), &l),
            Err(AccessAdmissionError::NotRegulator { author: other })
        );
        assert_eq!(
            check_relationship(&read(&alice), &regulator, None, &l),
            Err(AccessAdmissionError::NotRegulator { author: regulator })
        );
        assert_eq!(
            check_relationship(&read(&nobody), &regulator, Some(&regulator), &l),
            Err(AccessAdmissionError::UnknownReadPatient { patient: nobody })
        );
    }

    #[test]
    fn the_quota_refuses_past_max_per_window_and_frees_slots_as_it_slides() {
        let (a, b) = (key(), key());
        let mut q = AccessQuota::new(3, 1_000);
        for t in [0, 10, 20] {
            q.check(&a, t).expect("within quota");
            q.charge(&a, t);
        }
        let err = q.check(&a, 500).expect_err("over quota");
        assert_eq!(err.code(), wire::error_reply::Code::OverQuota);
        assert!(matches!(
            err,
            AccessAdmissionError::OverQuota {
                admitted: 3,
                max: 3,
                ..
            }
        ));
        // Another key has its own quota.
        q.check(&b, 500).expect("b is within its quota");
        // The first slot frees once its time leaves the window.
        q.check(&a, 1_000).expect("one slot freed");
        // A refused check takes no slot, and empty authors are forgotten.
        q.check(&a, 5_000).expect("all free");
        assert_eq!(q.authors(), 0);
    }
}
