//! Synthetic hospitals, departments and patients with real keys and certificates: the demo
//! traffic of a local network, and the fixtures of tests and benchmarks. Deterministic for a
//! given RNG, and every event it makes is valid under the ledger's rules.

use crate::block::{ChainTip, PackRequest, pack_block};
use crate::cert::CertificateAuthority;
use crate::error::LedgerError;
use crate::event::{NewEvent, ParsedEvent, build_event};
use crate::keys::{Identity, SigningKey};
use crate::wire::{self, Role};
use crate::{VerifiedBlock, sha256};
use rand_core::CryptoRng;

/// Hospitals, departments and diagnoses the synthetic world draws from.
pub const HOSPITALS: [&str; 2] = ["st-mary", "riverside"];
/// Departments every synthetic hospital has.
pub const DEPARTMENTS: [&str; 4] = ["cardiology", "radiology", "oncology", "emergency"];
const DIAGNOSES: [&str; 6] = [
    "essential hypertension",
    "acute bronchitis",
    "type 2 diabetes mellitus",
    "fracture of the distal radius",
    "migraine without aura",
    "community-acquired pneumonia",
];

/// A department with its certified signing key.
#[derive(Debug, Clone)]
pub struct Department {
    /// Its hospital.
    pub hospital: String,
    /// Its name.
    pub name: String,
    /// Its signing key (certified with role CLIENT).
    pub key: SigningKey,
    /// Its certificate.
    pub certificate: wire::Certificate,
    /// The next sequence number it will use.
    pub next_sequence: u64,
}

/// A synthetic world: a CA, an endorser, departments and patients.
#[derive(Debug, Clone)]
pub struct World {
    /// The certificate authority.
    pub ca: CertificateAuthority,
    /// An endorser key with its certificate.
    pub endorser: SigningKey,
    /// The endorser's certificate.
    pub endorser_certificate: wire::Certificate,
    /// The regulator's identity.
    pub regulator: Identity,
    /// Departments of every hospital.
    pub departments: Vec<Department>,
    /// Patients.
    pub patients: Vec<Identity>,
}

/// Certificate lifetime of synthetic parties: from 0 to far in the future.
const FOREVER_MS: u64 = u64::MAX / 2;

impl World {
    /// A world with `hospitals` × 4 departments and `patients` patients.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, hospitals: usize, patients: usize) -> Self {
        let ca = CertificateAuthority::new(SigningKey::generate(rng));
        let mut serial = 0u64;
        let mut issue =
            |name: String, hospital: &str, department: &str, role: Role, key: &SigningKey| {
                serial += 1;
                ca.issue(wire::CertificateBody {
                    serial,
                    name,
                    hospital: hospital.to_owned(),
                    department: department.to_owned(),
                    region: "region-1".into(),
                    roles: vec![role as i32],
                    public_key: key.public().as_bytes().to_vec(),
                    not_before_ms: 0,
                    not_after_ms: FOREVER_MS,
                    ..Default::default()
                })
            };
        let endorser = SigningKey::generate(rng);
        let endorser_certificate = issue(
            "endorser-1".into(),
            "st-mary",
            "",
            Role::Endorser,
            &endorser,
        );
        let mut departments = Vec::new();
        for h in 0..hospitals {
            let hospital = HOSPITALS
                .get(h)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("hospital-{h}"));
            for d in DEPARTMENTS {
                let key = SigningKey::generate(rng);
                let certificate =
                    issue(format!("{hospital}/{d}"), &hospital, d, Role::Client, &key);
                departments.push(Department {
                    hospital: hospital.clone(),
                    name: d.to_owned(),
                    key,
                    certificate,
                    next_sequence: 1,
                });
            }
        }
        let patients = (0..patients).map(|_| Identity::generate(rng)).collect();
        Self {
            ca,
            endorser,
            endorser_certificate,
            regulator: Identity::generate(rng),
            departments,
            patients,
        }
    }

    /// Every certificate the world issued (for a trust store or genesis).
    pub fn certificates(&self) -> Vec<wire::Certificate> {
        let mut v = vec![self.endorser_certificate.clone()];
        v.extend(self.departments.iter().map(|d| d.certificate.clone()));
        v
    }

    /// The genesis of a one-region network of this world plus `orderers` (certified as orderers
    /// and committers, serials from 1000, assigned to the world's hospitals in turn), naming the
    /// world's regulator. The demo and the benchmarks start their networks from it.
    pub fn genesis(
        &self,
        orderers: &[SigningKey],
        network: &str,
        params: wire::ConsensusParams,
        created_at_ms: u64,
    ) -> wire::Genesis {
        let mut certificates = self.certificates();
        for (i, k) in orderers.iter().enumerate() {
            certificates.push(self.ca.issue(wire::CertificateBody {
                serial: 1000 + i as u64,
                name: format!("orderer-{}", i + 1),
                hospital: HOSPITALS[i % HOSPITALS.len()].into(),
                region: "region-1".into(),
                roles: vec![Role::Orderer as i32, Role::Committer as i32],
                public_key: k.public().as_bytes().to_vec(),
                not_before_ms: 0,
                not_after_ms: u64::MAX / 2,
                ..Default::default()
            }));
        }
        crate::genesis::build_genesis(
            &self.ca,
            &crate::genesis::GenesisSpec {
                network: network.into(),
                regions: vec!["region-1".into()],
                certificates,
                regulator: Some((
                    self.regulator.signing.public(),
                    self.regulator.sealing.public(),
                )),
                params,
                created_at_ms,
            },
        )
    }

    /// A trust store that knows every certificate of the world.
    pub fn trust_store(&self) -> Result<crate::cert::TrustStore, LedgerError> {
        let mut t = crate::cert::TrustStore::new(self.ca.public());
        for c in self.certificates() {
            t.add(&c)?;
        }
        Ok(t)
    }

    /// A summary of a visit, with a pointer and the hash of a synthetic EMR.
    pub fn summary(&self, department: usize, sequence: u64) -> (wire::Summary, Vec<u8>) {
        let dept = self.departments.get(department);
        let hospital = dept.map(|d| d.hospital.clone()).unwrap_or_default();
        let diagnosis = DIAGNOSES
            .get((sequence as usize + department) % DIAGNOSES.len())
            .copied()
            .unwrap_or("observation");
        let record_id = format!(
            "{}-{}",
            dept.map(|d| d.name.as_str()).unwrap_or("x"),
            sequence
        );
        let emr = format!(
            "{{\"resourceType\":\"Bundle\",\"id\":\"{record_id}\",\"diagnosis\":\"{diagnosis}\"}}"
        )
        .into_bytes();
        let summary = wire::Summary {
            diagnosis: diagnosis.to_owned(),
            examination_results: format!("vitals recorded at visit {sequence}"),
            treatment_plan: "follow-up in two weeks".into(),
            pointer: Some(wire::RecordPointer {
                hospital,
                record_id,
            }),
            emr_sha256: sha256(&emr).0.to_vec(),
        };
        (summary, emr)
    }

    /// A signed event of `patient` at `department`, received at `received_at_ms`, using the
    /// department's next sequence number. `None` when an index is out of range.
    pub fn event<R: CryptoRng + ?Sized>(
        &mut self,
        patient: usize,
        department: usize,
        received_at_ms: u64,
        rng: &mut R,
    ) -> Option<ParsedEvent> {
        let sequence = self.departments.get(department)?.next_sequence;
        let (summary, _) = self.summary(department, sequence);
        let regulator = self.regulator.sealing.public();
        let patient_id = self.patients.get(patient)?;
        let patient_sealing = patient_id.sealing.public();
        let dept = self.departments.get(department)?;
        let mut event = build_event(
            &NewEvent {
                summary: &summary,
                sequence,
                hospital: &dept.hospital,
                department: &dept.name,
                patient: &patient_id.signing,
                patient_sealing: &patient_sealing,
                provider: &dept.key,
                regulator: Some(&regulator),
                created_at_ms: received_at_ms,
            },
            rng,
        );
        event.received_at_ms = received_at_ms;
        self.departments.get_mut(department)?.next_sequence += 1;
        ParsedEvent::from_wire(event).ok()
    }

    /// Packs `events` into a block on `tip`, stamped at `timestamp_ms` by the orderers, and
    /// verifies it.
    pub fn block(
        &self,
        tip: &ChainTip,
        events: Vec<ParsedEvent>,
        timestamp_ms: u64,
    ) -> Result<VerifiedBlock, LedgerError> {
        let mut block = pack_block(
            &PackRequest {
                tip: *tip,
                endorser: &self.endorser,
                region: "region-1",
                policy: wire::AccessPolicy {
                    version: 1,
                    challenge_ttl_ms: 60_000,
                    reader_roles: vec![Role::Regulator as i32],
                },
                packed_at_ms: timestamp_ms,
                last_of_turn: false,
            },
            events,
        );
        block.orderer_timestamp_ms = timestamp_ms.max(tip.timestamp_ms);
        VerifiedBlock::verify(block, crate::codec::limits::MAX_BLOCK_EVENTS)
    }
}
