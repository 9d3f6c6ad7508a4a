//! A hospital's patient registry: the exact local patient id (MRN) → the patient's public
//! signing and sealing keys and the recording authorization he signed at enrolment, with a
//! reverse index key → id so one key is never enrolled under two ids at one hospital.
//!
//! Only public material is kept: the authorization's bytes and the patient's signature over
//! them (both go on the ledger with every event anyway). Ids are validated with
//! [`validate_patient_id`] and stored exactly, never normalised: `a.b` and `a_b` are two
//! patients. Every write is synced; the entry and its index change in one write batch.

use crate::error::StorageError;
use medblock_core::authorization::{
    AuthorizationError, VerifiedAuthorization, validate_patient_id,
};
use medblock_core::keys::{PublicKey, SealingPublic};
use prost::Message;
use rocksdb::{DB, WriteBatch, WriteOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Column family of the reverse index: patient key (32 bytes) → patient id.
const BY_KEY: &str = "by_key";

/// Why the registry refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The id is not a valid local patient id.
    #[error(transparent)]
    BadId(#[from] AuthorizationError),
    /// The id is enrolled with another key.
    #[error("patient id {patient_id:?} is already enrolled with another key ({enrolled_key})")]
    IdTaken {
        /// The id.
        patient_id: String,
        /// The key it is enrolled with (hex).
        enrolled_key: String,
    },
    /// The key is enrolled under another id.
    #[error("key {key} is already enrolled under patient id {enrolled_id:?}")]
    KeyTaken {
        /// The key (hex).
        key: String,
        /// The id it is enrolled under.
        enrolled_id: String,
    },
    /// A renewal with an older authorization than the one held.
    #[error(
        "patient {patient_id:?} holds authorization serial {held}; serial {offered} is older and is not taken"
    )]
    StaleSerial {
        /// The id.
        patient_id: String,
        /// The serial enrolled.
        held: u64,
        /// The serial offered.
        offered: u64,
    },
    /// What is stored does not decode or verify (damaged or tampered with).
    #[error("registry at {path}: entry {patient_id:?} is corrupt: {reason}")]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// The id.
        patient_id: String,
        /// What is wrong.
        reason: String,
    },
    /// RocksDB failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One enrolled patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The local id, exactly as enrolled.
    pub patient_id: String,
    /// His recording authorization (verified when read), naming his public keys.
    pub authorization: VerifiedAuthorization,
    /// When he first enrolled (ms since the Unix epoch).
    pub enrolled_at_ms: u64,
    /// When the entry last changed.
    pub updated_at_ms: u64,
}

impl RegistryEntry {
    /// His public signing key.
    pub fn patient_key(&self) -> PublicKey {
        self.authorization.parsed.patient
    }

    /// His public sealing key.
    pub fn sealing_key(&self) -> SealingPublic {
        self.authorization.parsed.sealing
    }
}

/// What an enrolment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolStatus {
    /// A new patient.
    Enrolled,
    /// The same id, key and authorization were already held.
    Unchanged,
    /// The same id and key with a new authorization.
    Renewed,
}

impl EnrolStatus {
    /// `enrolled`, `unchanged` or `renewed`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolStatus::Enrolled => "enrolled",
            EnrolStatus::Unchanged => "unchanged",
            EnrolStatus::Renewed => "renewed",
        }
    }
}

/// How an entry is stored (the keys are read from the authorization).
#[derive(Clone, PartialEq, Message)]
struct StoredEntry {
    #[prost(bytes = "vec", tag = "1")]
    authorization: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    authorization_signature: Vec<u8>,
    #[prost(uint64, tag = "3")]
    enrolled_at_ms: u64,
    #[prost(uint64, tag = "4")]
    updated_at_ms: u64,
}

/// The registry: its own RocksDB database (default column family id → entry, `by_key`).
pub struct PatientRegistry {
    db: DB,
    path: PathBuf,
    /// Enrolments check then write: one at a time.
    write: Mutex<()>,
}

impl std::fmt::Debug for PatientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientRegistry")
            .field("path", &self.path)
            .finish()
    }
}

impl PatientRegistry {
    /// Opens (creating if needed) the registry in `path`.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let mut opts = crate::db_options();
        opts.create_missing_column_families(true);
        let db = DB::open_cf(&opts, path, [BY_KEY]).map_err(|e| StorageError::rocks(path, e))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
            write: Mutex::new(()),
        })
    }

    fn rocks(&self, e: rocksdb::Error) -> RegistryError {
        StorageError::rocks(&self.path, e).into()
    }

    fn by_key(&self) -> Result<&rocksdb::ColumnFamily, RegistryError> {
        self.db.cf_handle(BY_KEY).ok_or_else(|| {
            StorageError::Rocks {
                path: self.path.clone(),
                reason: "by_key column family missing".into(),
            }
            .into()
        })
    }

    /// The entry of `patient_id`, if enrolled (the id is validated first).
    pub fn get(&self, patient_id: &str) -> Result<Option<RegistryEntry>, RegistryError> {
        validate_patient_id(patient_id)?;
        let Some(bytes) = self
            .db
            .get_pinned(patient_id.as_bytes())
            .map_err(|e| self.rocks(e))?
        else {
            return Ok(None);
        };
        let corrupt = |reason: String| RegistryError::Corrupt {
            path: self.path.clone(),
            patient_id: patient_id.to_owned(),
            reason,
        };
        let stored = StoredEntry::decode(bytes.as_ref()).map_err(|e| corrupt(e.to_string()))?;
        let authorization =
            VerifiedAuthorization::new(stored.authorization, &stored.authorization_signature)
                .map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(RegistryEntry {
            patient_id: patient_id.to_owned(),
            authorization,
            enrolled_at_ms: stored.enrolled_at_ms,
            updated_at_ms: stored.updated_at_ms,
        }))
    }

    /// The id `key` is enrolled under, if any.
    pub fn id_of_key(&self, key: &PublicKey) -> Result<Option<String>, RegistryError> {
        let cf = self.by_key()?;
        Ok(self
            .db
            .get_cf(cf, key.as_bytes())
            .map_err(|e| self.rocks(e))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Enrols `patient_id` with the keys and consent of `authorization` (verified by the
    /// caller, who also checked the patient proved he holds the key). Refused when the id is
    /// enrolled with another key, the key under another id, or the authorization is older than
    /// the one held; the same authorization again changes nothing.
    pub fn enrol(
        &self,
        patient_id: &str,
        authorization: &VerifiedAuthorization,
        now_ms: u64,
    ) -> Result<(EnrolStatus, RegistryEntry), RegistryError> {
        validate_patient_id(patient_id)?;
        let _one = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let key = authorization.parsed.patient;
        if let Some(other) = self.id_of_key(&key)?
            && other != patient_id
        {
            return Err(RegistryError::KeyTaken {
                key: key.to_hex(),
                enrolled_id: other,
            });
        }
        let held = self.get(patient_id)?;
        let (status, enrolled_at_ms) = match &held {
            None => (EnrolStatus::Enrolled, now_ms),
            Some(h) if h.patient_key() != key => {
                return Err(RegistryError::IdTaken {
                    patient_id: patient_id.to_owned(),
                    enrolled_key: h.patient_key().to_hex(),
                });
            }
            Some(h) if h.authorization.signed == authorization.signed => {
                return Ok((EnrolStatus::Unchanged, h.clone()));
            }
            Some(h) if authorization.parsed.body.serial < h.authorization.parsed.body.serial => {
                return Err(RegistryError::StaleSerial {
                    patient_id: patient_id.to_owned(),
                    held: h.authorization.parsed.body.serial,
                    offered: authorization.parsed.body.serial,
                });
            }
            Some(h) => (EnrolStatus::Renewed, h.enrolled_at_ms),
        };
        let stored = StoredEntry {
            authorization: authorization.signed.body.clone(),
            authorization_signature: authorization.signed.signature.to_vec(),
            enrolled_at_ms,
            updated_at_ms: now_ms,
        };
        let mut batch = WriteBatch::default();
        batch.put(patient_id.as_bytes(), stored.encode_to_vec());
        batch.put_cf(self.by_key()?, key.as_bytes(), patient_id.as_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(|e| self.rocks(e))?;
        Ok((
            status,
            RegistryEntry {
                patient_id: patient_id.to_owned(),
                authorization: authorization.clone(),
                enrolled_at_ms,
                updated_at_ms: now_ms,
            },
        ))
    }

    /// How many patients are enrolled.
    pub fn len(&self) -> Result<usize, RegistryError> {
        let mut n = 0;
        for item in self.db.iterator(rocksdb::IteratorMode::Start) {
            item.map_err(|e| self.rocks(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether nobody is enrolled.
    pub fn is_empty(&self) -> Result<bool, RegistryError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::authorization::{AuthorizationTerms, sign_authorization};
    use medblock_core::keys::Identity;

    fn auth(id: &Identity, serial: u64) -> VerifiedAuthorization {
        let signed = sign_authorization(
            &id.signing,
            &id.sealing.public(),
            &AuthorizationTerms {
                hospital: "h1".into(),
                departments: Vec::new(),
                serial,
                not_before_ms: 0,
                not_after_ms: u64::MAX,
            },
        );
        VerifiedAuthorization::from_signed(signed).expect("verifies")
    }

    #[test]
    fn exact_ids_one_key_each_and_renewals() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("registry");
        let mut rng = rand::rng();
        let (p, q) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        {
            let r = PatientRegistry::open(&path).expect("open");
            let (s, _) = r.enrol("a.b", &auth(&p, 1), 10).expect("enrol");
            assert_eq!(s, EnrolStatus::Enrolled);
            assert!(matches!(
                r.enrol("a_b", &auth(&p, 1), 11),
                Err(RegistryError::KeyTaken { .. })
            ));
            assert!(matches!(
                r.enrol("a.b", &auth(&q, 1), 12),
                Err(RegistryError::IdTaken { .. })
            ));
            assert!(matches!(
                r.enrol("a b", &auth(&q, 1), 12),
                Err(RegistryError::BadId(_))
            ));
            let (s, _) = r.enrol("a_b", &auth(&q, 1), 13).expect("other id");
            assert_eq!(s, EnrolStatus::Enrolled);
            let (s, _) = r.enrol("a.b", &auth(&p, 1), 14).expect("same");
            assert_eq!(s, EnrolStatus::Unchanged);
            let (s, e) = r.enrol("a.b", &auth(&p, 2), 15).expect("renew");
            assert_eq!((s, e.enrolled_at_ms), (EnrolStatus::Renewed, 10));
            assert!(matches!(
                r.enrol("a.b", &auth(&p, 1), 16),
                Err(RegistryError::StaleSerial { .. })
            ));
        }
        let r = PatientRegistry::open(&path).expect("reopen");
        let e = r.get("a.b").expect("read").expect("held");
        assert_eq!(e.patient_key(), p.signing.public());
        assert_eq!(e.authorization.parsed.body.serial, 2);
        assert_eq!(
            r.get("a_b").expect("read").map(|e| e.patient_key()),
            Some(q.signing.public())
        );
        assert_eq!(r.get("a-b").expect("read"), None);
        assert_eq!(
            r.id_of_key(&q.signing.public()).expect("index"),
            Some("a_b".into())
        );
        assert_eq!(r.len().expect("len"), 2);
    }
}
