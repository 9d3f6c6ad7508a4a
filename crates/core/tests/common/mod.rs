//! Shared fixtures for the ledger tests and benchmarks: a CA, certified departments and an
//! endorser, a patient and a regulator, and helpers that build valid events and blocks.
//!
//! Everything is drawn from a seeded ChaCha20 RNG, so every run builds the same keys and bytes.
#![allow(dead_code)]

use medblock_core::block::{ChainTip, PackRequest, pack_block};
use medblock_core::cert::{CertificateAuthority, TrustStore};
use medblock_core::event::{NewEvent, ParsedEvent, build_event};
use medblock_core::hash::{Hash32, sha256};
use medblock_core::keys::{Identity, SigningKey, purpose};
use medblock_core::merkle::merkle_root;
use medblock_core::wire::{self, Role};
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub const HOSPITAL: &str = "st-mary";
pub const DEPARTMENT: &str = "cardiology";
pub const OTHER_DEPARTMENT: &str = "oncology";
pub const REGION: &str = "north";
/// The tests' "now": every certificate is valid around it.
pub const NOW: u64 = 1_700_000_000_000;
pub const DAY: u64 = 86_400_000;
pub const MAX_EVENTS: usize = 1000;

/// A deterministic cryptographic RNG.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A summary whose texts depend on `i`.
pub fn summary(i: u64) -> wire::Summary {
    wire::Summary {
        diagnosis: format!("diagnosis #{i}: stable angina"),
        examination_results: format!("ECG {i}: ST depression"),
        treatment_plan: "beta blocker, follow-up in 4 weeks".into(),
        pointer: Some(wire::RecordPointer {
            hospital: HOSPITAL.into(),
            record_id: format!("emr-{i}"),
        }),
        emr_sha256: sha256(&i.to_be_bytes()).0.to_vec(),
    }
}

/// A certificate body valid for a year around [`NOW`].
pub fn cert_body(
    serial: u64,
    name: &str,
    key: &SigningKey,
    roles: &[Role],
    hospital: &str,
    department: &str,
) -> wire::CertificateBody {
    wire::CertificateBody {
        serial,
        name: name.into(),
        hospital: hospital.into(),
        department: department.into(),
        region: REGION.into(),
        roles: roles.iter().map(|r| *r as i32).collect(),
        public_key: key.public().as_bytes().to_vec(),
        sealing_key: Vec::new(),
        peer_id: format!("peer-{serial}").into_bytes(),
        not_before_ms: NOW - DAY,
        not_after_ms: NOW + 365 * DAY,
        issuer_key: Vec::new(),
    }
}

/// A small network: one CA, two departments of one hospital, an endorser, a patient, a second
/// patient and a regulator, with a trust store holding every certificate.
pub struct Fixture {
    pub rng: ChaCha20Rng,
    pub ca: CertificateAuthority,
    pub trust: TrustStore,
    pub dept: Identity,
    pub dept_cert: wire::Certificate,
    pub other_dept: Identity,
    pub other_dept_cert: wire::Certificate,
    pub endorser: SigningKey,
    pub endorser_cert: wire::Certificate,
    pub patient: Identity,
    pub patient2: Identity,
    pub regulator: Identity,
}

impl Fixture {
    /// The configuration of a genesis holding the fixture's certificates, in its one region.
    #[allow(dead_code)]
    pub fn config(&self) -> medblock_core::config::ConfigState {
        medblock_core::config::ConfigState::new(
            self.trust.clone(),
            vec![REGION.to_string()],
            medblock_core::genesis::default_params(),
        )
    }

    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let ca = CertificateAuthority::new(SigningKey::generate(&mut rng));
        let dept = Identity::generate(&mut rng);
        let other_dept = Identity::generate(&mut rng);
        let endorser = SigningKey::generate(&mut rng);
        let patient = Identity::generate(&mut rng);
        let patient2 = Identity::generate(&mut rng);
        let regulator = Identity::generate(&mut rng);
        let dept_cert = ca.issue(cert_body(
            10,
            "cardiology desk",
            &dept.signing,
            &[Role::Client],
            HOSPITAL,
            DEPARTMENT,
        ));
        let other_dept_cert = ca.issue(cert_body(
            11,
            "oncology desk",
            &other_dept.signing,
            &[Role::Client],
            HOSPITAL,
            OTHER_DEPARTMENT,
        ));
        let endorser_cert = ca.issue(cert_body(
            20,
            "endorser-1",
            &endorser,
            &[Role::Endorser, Role::Committer],
            HOSPITAL,
            "",
        ));
        let mut trust = TrustStore::new(ca.public());
        for c in [&dept_cert, &other_dept_cert, &endorser_cert] {
            trust.add(c).expect("fixture certificate");
        }
        Self {
            rng,
            ca,
            trust,
            dept,
            dept_cert,
            other_dept,
            other_dept_cert,
            endorser,
            endorser_cert,
            patient,
            patient2,
            regulator,
        }
    }

    /// An event of `patient` written by the cardiology desk, sealed to the patient and the
    /// regulator; receipt time unset (0, so absent from the encoding).
    pub fn event(&mut self, sequence: u64) -> wire::Event {
        let s = summary(sequence);
        let patient_sealing = self.patient.sealing.public();
        let regulator = self.regulator.sealing.public();
        build_event(
            &NewEvent {
                summary: &s,
                sequence,
                hospital: HOSPITAL,
                department: DEPARTMENT,
                patient: &self.patient.signing,
                patient_sealing: &patient_sealing,
                provider: &self.dept.signing,
                regulator: Some(&regulator),
                created_at_ms: NOW,
            },
            &mut self.rng,
        )
    }

    /// An event with every choice open: which patient, which department key and name, whether
    /// the regulator is a recipient.
    #[allow(clippy::too_many_arguments)]
    pub fn event_with(
        &mut self,
        sequence: u64,
        patient: &Identity,
        provider: &SigningKey,
        department: &str,
        summary_: &wire::Summary,
        with_regulator: bool,
    ) -> wire::Event {
        let patient_sealing = patient.sealing.public();
        let regulator = self.regulator.sealing.public();
        build_event(
            &NewEvent {
                summary: summary_,
                sequence,
                hospital: HOSPITAL,
                department,
                patient: &patient.signing,
                patient_sealing: &patient_sealing,
                provider,
                regulator: with_regulator.then_some(&regulator),
                created_at_ms: NOW,
            },
            &mut self.rng,
        )
    }

    /// `n` admitted events (sequences `first..first+n`), receipt times `NOW + i`.
    pub fn parsed_events(&mut self, first: u64, n: usize) -> Vec<ParsedEvent> {
        (0..n as u64)
            .map(|i| {
                let mut e = self.event(first + i);
                e.received_at_ms = NOW + i;
                ParsedEvent::from_wire(e).expect("fixture event parses")
            })
            .collect()
    }

    /// The packing request of the fixture's endorser over `tip`.
    pub fn pack_request(&self, tip: ChainTip) -> PackRequest<'_> {
        PackRequest {
            tip,
            endorser: &self.endorser,
            region: REGION,
            policy: policy(),
            packed_at_ms: NOW + 1_000,
            last_of_turn: false,
        }
    }

    /// A valid first block of `n` events, with an orderer timestamp.
    pub fn block(&mut self, n: usize) -> wire::Block {
        let events = self.parsed_events(1, n);
        let mut block = pack_block(&self.pack_request(ChainTip::GENESIS), events);
        block.orderer_timestamp_ms = NOW + 2_000;
        block
    }
}

pub fn policy() -> wire::AccessPolicy {
    wire::AccessPolicy {
        version: 1,
        challenge_ttl_ms: 60_000,
        reader_roles: vec![Role::Regulator as i32],
    }
}

/// The decoded header of `block`.
pub fn header(block: &wire::Block) -> wire::BlockHeader {
    wire::BlockHeader::decode(block.header.as_slice()).expect("header")
}

/// The decoded signature collection of `block`.
pub fn collection(block: &wire::Block) -> wire::SignatureCollection {
    wire::SignatureCollection::decode(block.signature_collection.as_slice()).expect("collection")
}

/// Re-encodes `header` into `block` and signs it again with `endorser`, so that a test can
/// change one thing of a block and still present a validly signed header.
pub fn resign(block: &mut wire::Block, header: &wire::BlockHeader, endorser: &SigningKey) {
    block.header = header.encode_to_vec();
    block.endorser_signature = endorser.sign(purpose::BLOCK_HEADER, &block.header).to_vec();
}

/// Builds a validly signed block from `events` in the order given (no sorting), with every
/// header commitment correct: what `pack_block` does, minus the sort, so tests can present
/// blocks that break only the ordering or uniqueness rules.
pub fn block_in_order(events: &[ParsedEvent], endorser: &SigningKey, tip: ChainTip) -> wire::Block {
    block_from_parts(
        events.iter().map(|e| e.event.clone()).collect(),
        events.iter().map(ParsedEvent::signature_entry).collect(),
        endorser,
        tip,
    )
}

/// Builds a validly signed block around raw events and signature entries: every header
/// commitment (eq. 1 over the events' summaries, Merkle root, collection hash, count) is
/// computed from what is given, whether or not the events would parse.
pub fn block_from_parts(
    events: Vec<wire::Event>,
    entries: Vec<wire::SignatureEntry>,
    endorser: &SigningKey,
    tip: ChainTip,
) -> wire::Block {
    let hashes: Vec<Hash32> = events
        .iter()
        .map(|e| sha256(&e.encrypted_summary))
        .collect();
    let collection = wire::SignatureCollection { entries }.encode_to_vec();
    let header = wire::BlockHeader {
        version: medblock_core::block::BLOCK_VERSION,
        height: tip.height + 1,
        previous_hash: tip.id.0.to_vec(),
        block_hash: medblock_core::block::events_block_hash(&hashes).0.to_vec(),
        merkle_root: merkle_root(&hashes).0.to_vec(),
        signature_collection_hash: sha256(&collection).0.to_vec(),
        access_policy: Some(policy()),
        endorser_key: endorser.public().as_bytes().to_vec(),
        region: REGION.into(),
        packed_at_ms: NOW + 1_000,
        event_count: events.len() as u32,
        last_of_turn: false,
        config_hash: Vec::new(),
    };
    let mut block = wire::Block {
        header: Vec::new(),
        endorser_signature: Vec::new(),
        orderer_timestamp_ms: NOW + 2_000,
        signature_collection: collection,
        events: events.iter().map(|e| e.encode_to_vec()).collect(),
        certificate: None,
        config_changes: Vec::new(),
    };
    resign(&mut block, &header, endorser);
    block
}

/// Flips bits `mask` of byte `pos` of `bytes`.
pub fn flip(bytes: &[u8], pos: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[pos] ^= mask;
    out
}
