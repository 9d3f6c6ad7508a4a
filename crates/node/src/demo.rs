//! `medblock demo`: a local MedBlock network end to end, in one process, on embedded defaults.
//!
//! Every step is the real code: each patient signs, with his own key, a recording authorization
//! for each hospital (his keys stay in his key file); departments seal and sign events under
//! it, the endorser admits them (signatures, certificates, authorizations) and packs blocks sorted by upload time, a beacon-chosen
//! committee of PBFT replicas decides each block with signed votes, two committers verify the
//! block and its commit certificate and append it to their own RocksDB ledgers, and a patient
//! finds his records by bread crumbs, checks Merkle proofs, decrypts his summaries and checks the
//! EMR the hospital returns against the on-chain hash. Only the transport is in memory: the
//! libp2p network runs the same machines between processes.

use anyhow::{Context, Result, anyhow, bail, ensure};
use medblock_core::access::proof::{self, Verifier};
use medblock_core::authorization::{AuthorizationTerms, VerifiedAuthorization, sign_authorization};
use medblock_core::block::{ChainTip, PackRequest, pack_block};
use medblock_core::block_rules::{Admission, BlockLimits, check_proposal};
use medblock_core::cert::TrustStore;
use medblock_core::consensus::pbft::{ReplicaAction, ReplicaInput, ValueCheck};
use medblock_core::consensus::{
    Beacon, ConsensusConfig, InvalidProposal, PrimaryCheck, ProposalValidator, certificate,
    pbft::Replica, select_committee,
};
use medblock_core::crumbs::pseudonym;
use medblock_core::event::{NewAuthorizedEvent, admit_event, build_authorized_event};
use medblock_core::genesis::{default_params, verify_genesis};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::synthetic::World;
use medblock_core::wire::{self, Role};
use medblock_core::{Hash32, ParsedEvent, VerifiedBlock, sealing, sha256};
use medblock_storage::keyfile::{save_identity, save_signing_key};
use medblock_storage::{EmrStore, Ledger, OpenCheck, RocksEmrStore};
use prost::Message;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Options of `medblock demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the demo network keeps its CA, keys, ledgers and EMR databases (wiped first).
    #[arg(long, default_value = ".medblock/demo")]
    pub dir: PathBuf,
    /// Patients visiting the two hospitals.
    #[arg(long, default_value_t = 20)]
    pub patients: usize,
    /// Visits uploaded during the demo.
    #[arg(long, default_value_t = 200)]
    pub events: usize,
    /// Most events per block.
    #[arg(long, default_value_t = 50)]
    pub block_events: usize,
    /// Orderers eligible for the committee (the beacon picks 4 of them).
    #[arg(long, default_value_t = 6)]
    pub orderers: usize,
    /// Seed of the synthetic world; random when not given.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the demo did, for people and for `--json`.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// The genesis hash naming the network.
    pub network: String,
    /// Events admitted by the endorser.
    pub events_admitted: usize,
    /// Blocks decided and committed.
    pub blocks: u64,
    /// The committee the beacon picked (hex keys).
    pub committee: Vec<String>,
    /// Each committer's ledger hash after the last block.
    pub committer_ledger_hashes: Vec<String>,
    /// Whether all committers agree.
    pub agree: bool,
    /// The patient whose records were read.
    pub patient: String,
    /// His records, newest first per department.
    pub records: Vec<RecordView>,
}

/// One record as the patient sees it after checking and decrypting it.
#[derive(Debug, Serialize)]
pub struct RecordView {
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// Block height.
    pub height: u64,
    /// Block id.
    pub block_hash: String,
    /// Sequence number.
    pub sequence: u64,
    /// Receipt time.
    pub timestamp: u64,
    /// The decrypted diagnosis.
    pub diagnosis: String,
    /// Whether the EMR fetched by pointer hashes to the on-chain value.
    pub emr_verified: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the demo and returns its report.
pub fn run(args: &DemoArgs) -> Result<DemoReport> {
    ensure!(
        args.patients > 0 && args.events > 0,
        "--patients and --events must be positive"
    );
    ensure!(
        args.orderers >= 4,
        "--orderers must be at least 4 (a committee of 3f+1 with f = 1)"
    );
    ensure!(
        (1..=1000).contains(&args.block_events),
        "--block-events must be 1..=1000"
    );
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("wiping {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir)?;
    tracing::info!(dir = %args.dir.display(), seed, "creating a MedBlock network");

    // --- CA, certificates, genesis, key files -------------------------------------------------
    let mut world = World::generate(&mut rng, 2, args.patients);
    let orderer_keys: Vec<SigningKey> = (0..args.orderers)
        .map(|_| SigningKey::generate(&mut rng))
        .collect();
    let params = default_params();
    let genesis = world.genesis(&orderer_keys, "medblock-demo", params, now_ms());
    let genesis_bytes = genesis.encode_to_vec();
    std::fs::write(args.dir.join("genesis.pb"), &genesis_bytes)?;
    let genesis =
        verify_genesis(&genesis_bytes).context("the genesis just written does not verify")?;
    let trust: TrustStore = genesis.trust.clone();
    let config = medblock_core::config::ConfigState::from_genesis(&genesis);
    write_keys(&args.dir, &world, &orderer_keys)?;
    tracing::info!(network = %genesis.hash, certificates = genesis.body.certificates.len(), "genesis signed by the CA");

    // --- hospitals' EMR databases --------------------------------------------------------------
    let mut emr_stores = BTreeMap::new();
    for h in medblock_core::synthetic::HOSPITALS {
        emr_stores.insert(
            h.to_string(),
            RocksEmrStore::open(&args.dir.join("hospitals").join(h).join("emr"))?,
        );
    }

    // --- Enrolment: each patient signs, on his side, a recording authorization for each ------
    // hospital; the hospitals receive it (his public keys and his signature), never his keys.
    let start = now_ms();
    let mut registry: BTreeMap<(usize, String), VerifiedAuthorization> = BTreeMap::new();
    for (p, patient) in world.patients.iter().enumerate() {
        for h in medblock_core::synthetic::HOSPITALS {
            let signed = sign_authorization(
                &patient.signing,
                &patient.sealing.public(),
                &AuthorizationTerms {
                    hospital: h.to_owned(),
                    departments: Vec::new(),
                    serial: 1,
                    not_before_ms: start.saturating_sub(60_000),
                    not_after_ms: start + 365 * 24 * 3600 * 1000,
                },
            );
            registry.insert(
                (p, h.to_owned()),
                VerifiedAuthorization::from_signed(signed)?,
            );
        }
    }

    // --- Steps 1-2: departments upload, the endorser admits ------------------------------------
    let mut pending: Vec<ParsedEvent> = Vec::with_capacity(args.events);
    let departments = world.departments.len();
    let regulator = world.regulator.sealing.public();
    for i in 0..args.events {
        let (p, d) = (
            rng.random_range(0..args.patients),
            rng.random_range(0..departments),
        );
        let seq = world.departments[d].next_sequence;
        let (summary, emr) = world.summary(d, seq);
        let pointer = summary
            .pointer
            .clone()
            .ok_or_else(|| anyhow!("summary without pointer"))?;
        let store = emr_stores
            .get(&pointer.hospital)
            .ok_or_else(|| anyhow!("no EMR store for {}", pointer.hospital))?;
        store.put(&pointer.record_id, &emr)?;
        // The department seals and signs with its own key under the patient's authorization.
        let dept = &world.departments[d];
        let authorization = registry
            .get(&(p, dept.hospital.clone()))
            .ok_or_else(|| anyhow!("patient {p} is not enrolled at {}", dept.hospital))?;
        let created = start + i as u64;
        let mut event = build_authorized_event(
            &NewAuthorizedEvent {
                summary: &summary,
                sequence: seq,
                hospital: &dept.hospital,
                department: &dept.name,
                authorization,
                provider: &dept.key,
                regulator: Some(&regulator),
                created_at_ms: created,
            },
            &mut rng,
        );
        event.received_at_ms = created;
        world.departments[d].next_sequence += 1;
        let admitted = admit_event(&event.encode_to_vec(), &trust, now_ms())
            .context("the endorser refused a department's event")?;
        pending.push(admitted);
    }
    tracing::info!(
        events = pending.len(),
        "endorser admitted the uploads (both signatures, certificates)"
    );

    // --- Steps 3-4: the primary proposes, a beacon-chosen committee decides --------------------
    let eligible: Vec<PublicKey> = orderer_keys.iter().map(SigningKey::public).collect();
    let beacon = Beacon::sign(&world.endorser, 1, Hash32::ZERO, 1);
    let committee = select_committee(&beacon.seed(), &eligible, params.committee_size as usize);
    let cfg = ConsensusConfig::from(&params);
    let mut replicas: Vec<Replica> = committee
        .members()
        .iter()
        .filter_map(|m| orderer_keys.iter().find(|k| k.public() == *m))
        .map(|k| {
            Replica::new(
                cfg.clone(),
                k.clone(),
                1,
                Some(beacon.clone()),
                committee.clone(),
                1,
            )
        })
        .collect();
    ensure!(
        replicas.len() == committee.len(),
        "committee member without a key"
    );
    tracing::info!(committee = ?committee.members(), "beacon picked the turn's committee");

    let committers: Vec<Ledger> = (1..=2)
        .map(|i| {
            Ledger::open(
                &args.dir.join(format!("committer-{i}")).join("ledger"),
                OpenCheck::Full,
                4096,
            )
        })
        .collect::<Result<_, _>>()?;
    let mut tip = ChainTip::GENESIS;
    let policy = wire::AccessPolicy {
        version: 1,
        challenge_ttl_ms: 60_000,
        reader_roles: vec![Role::Regulator as i32],
    };
    let mut queue: VecDeque<ParsedEvent> = pending.into();
    while !queue.is_empty() {
        let take = queue.len().min(args.block_events);
        let events: Vec<ParsedEvent> = queue.drain(..take).collect();
        let mut block = pack_block(
            &PackRequest {
                tip,
                endorser: &world.endorser,
                region: "region-1",
                policy: policy.clone(),
                packed_at_ms: now_ms(),
                last_of_turn: false,
            },
            events,
        );
        block.orderer_timestamp_ms = now_ms().max(tip.timestamp_ms);
        let height = tip.height + 1;
        let value = proposal(&world.endorser, 1, height, &block);
        let blocks = LedgerBlockCheck {
            config: &config,
            ledger: &committers[0],
            limits: BlockLimits::from_params(&params),
            max_skew_ms: params.max_clock_skew_ms,
        };
        let check = PrimaryCheck {
            primary: world.endorser.public(),
            turn: 1,
            validator: &blocks,
        };
        let decision = decide(&mut replicas, height, value, &check)?;
        let mut decided = block;
        decided.certificate = Some(decision.certificate.clone());

        // --- Step 6: committers verify block + certificate and append ------------------------
        for ledger in &committers {
            let verified =
                VerifiedBlock::verify(decided.clone(), params.max_block_events as usize)?;
            let cert = certificate::verify(
                &decision.certificate,
                &eligible,
                params.committee_size as usize,
            )
            .map_err(|e| anyhow!("commit certificate refused: {e}"))?;
            certificate::expect(&cert, verified.height(), &verified.id)
                .map_err(|e| anyhow!("{e}"))?;
            ledger.commit(&verified)?;
        }
        tip = committers[0].tip();
        tracing::info!(height = tip.height, events = take, block = %tip.id, commits = decision.certificate.commits.len(), "block decided and committed");
    }
    let hashes: Vec<String> = committers
        .iter()
        .map(|l| l.ledger_hash().to_hex())
        .collect();
    let agree = hashes.windows(2).all(|w| w[0] == w[1]);
    ensure!(agree, "committers disagree on the ledger hash: {hashes:?}");

    // --- A patient reads his records -----------------------------------------------------------
    let patient = world
        .patients
        .first()
        .ok_or_else(|| anyhow!("no patients"))?;
    let records = patient_records(
        &committers[0],
        patient,
        &emr_stores,
        &Verifier::new(&genesis),
    )?;
    tracing::info!(
        records = records.len(),
        "patient read, verified and decrypted his records"
    );
    Ok(DemoReport {
        network: genesis.hash.to_hex(),
        events_admitted: args.events,
        blocks: tip.height,
        committee: committee.members().iter().map(|k| k.to_hex()).collect(),
        committer_ledger_hashes: hashes,
        agree,
        patient: patient.signing.public().to_hex(),
        records,
    })
}

fn write_keys(dir: &Path, world: &World, orderers: &[SigningKey]) -> Result<()> {
    let keys = dir.join("keys");
    save_signing_key(
        &keys.join("ca.key"),
        "MedBlock demo CA",
        &world_ca_key(world),
    )?;
    save_signing_key(&keys.join("endorser-1.key"), "endorser-1", &world.endorser)?;
    for (i, k) in orderers.iter().enumerate() {
        save_signing_key(
            &keys.join(format!("orderer-{}.key", i + 1)),
            &format!("orderer-{}", i + 1),
            k,
        )?;
    }
    for d in &world.departments {
        save_signing_key(
            &keys.join(format!("{}-{}.key", d.hospital, d.name)),
            &format!("{}/{}", d.hospital, d.name),
            &d.key,
        )?;
    }
    save_identity(&keys.join("regulator.key"), "regulator", &world.regulator)?;
    for (i, p) in world.patients.iter().enumerate() {
        save_identity(
            &dir.join("patients")
                .join(format!("patient-{:03}.key", i + 1)),
            &format!("patient {}", i + 1),
            p,
        )?;
    }
    Ok(())
}

fn world_ca_key(world: &World) -> SigningKey {
    world.ca.signing_key().clone()
}

fn proposal(
    primary: &SigningKey,
    turn: u64,
    height: u64,
    block: &wire::Block,
) -> wire::ProposedValue {
    // The demo runs one turn per block through PBFT alone: no turn bookkeeping to end.
    let env = medblock_core::consensus::node::sign_proposal(
        primary,
        turn,
        height,
        block.encode_to_vec(),
        false,
    );
    wire::ProposedValue {
        kind: Some(wire::proposed_value::Kind::Proposal(env)),
    }
}

/// The orderer's check of a ledger block (the primary's signature is checked around it by
/// core's [`PrimaryCheck`]): core's one validity predicate over a committer's ledger (the demo
/// decides one block at a time, so nothing is pending above it).
struct LedgerBlockCheck<'a> {
    config: &'a medblock_core::config::ConfigState,
    ledger: &'a Ledger,
    limits: BlockLimits,
    max_skew_ms: u64,
}

impl ProposalValidator for LedgerBlockCheck<'_> {
    fn validate(
        &self,
        height: u64,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let admission = Admission {
            config: self.config,
            now_ms,
            max_skew_ms: self.max_skew_ms,
        };
        check_proposal(
            payload,
            self.ledger,
            &self.ledger.revoked_authorizations(),
            &self.limits,
            &admission,
        )
        .map(|(block, _)| block.id)
        .map_err(|e| InvalidProposal {
            height,
            reason: e.to_string(),
            blame: true,
        })
    }
}

/// Runs PBFT among the committee's replicas over an in-memory FIFO until every replica decided
/// `height`. Messages travel between replicas exactly as the network would carry them.
fn decide(
    replicas: &mut [Replica],
    height: u64,
    value: wire::ProposedValue,
    check: &dyn ValueCheck,
) -> Result<medblock_core::consensus::pbft::Decision> {
    let mut inbox: VecDeque<(usize, ReplicaInput)> = VecDeque::new();
    for i in 0..replicas.len() {
        inbox.push_back((
            i,
            ReplicaInput::Propose {
                height,
                value: value.clone(),
            },
        ));
    }
    let mut decisions: Vec<Option<medblock_core::consensus::pbft::Decision>> =
        vec![None; replicas.len()];
    let mut steps = 0usize;
    while let Some((to, input)) = inbox.pop_front() {
        steps += 1;
        if steps > 100_000 {
            bail!("consensus did not decide height {height}");
        }
        let Some(replica) = replicas.get_mut(to) else {
            continue;
        };
        for action in replica.handle(input, now_ms(), check) {
            match action {
                ReplicaAction::Broadcast(msg) => {
                    for other in (0..decisions.len()).filter(|o| *o != to) {
                        inbox.push_back((other, ReplicaInput::Message(msg.clone())));
                    }
                }
                ReplicaAction::Decide(d) if d.height == height => {
                    if let Some(slot) = decisions.get_mut(to) {
                        *slot = Some(*d);
                    }
                }
                _ => {}
            }
        }
        if decisions.iter().all(Option::is_some) {
            break;
        }
    }
    let first = decisions
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| anyhow!("no replica decided height {height}"))?;
    Ok(first)
}

/// The light-node path on a committer's ledger, with the same code a peer and a light node run
/// over the network: bread crumbs, each event of the patient proved from its block's signature
/// collection (core's `access::proof`), checked against the block's Merkle root and commit
/// certificate by a verifier that knows only genesis, decrypted, and its EMR fetched and hashed.
fn patient_records(
    ledger: &Ledger,
    patient: &medblock_core::Identity,
    emr_stores: &BTreeMap<String, RocksEmrStore>,
    verifier: &Verifier,
) -> Result<Vec<RecordView>> {
    let me = pseudonym(&patient.signing.public());
    let mut out = Vec::new();
    for crumb in ledger.crumbs(&me)? {
        let block = ledger
            .block_skeleton(&crumb.block_id)?
            .ok_or_else(|| anyhow!("crumb names a missing block"))?;
        let entries = proof::entries(&block)?;
        let tree = proof::tree(&entries).ok_or_else(|| anyhow!("malformed event hash"))?;
        for (i, entry) in entries.iter().enumerate() {
            if entry.pseudonym.as_slice() != me.0.as_bytes()
                || entry.department != crumb.department.department
                || entry.hospital != crumb.department.hospital
            {
                continue;
            }
            let bytes = ledger
                .event(&crumb.block_id, i as u32)?
                .ok_or_else(|| anyhow!("missing event"))?;
            let record = proof::prove(&block, &tree, i, bytes)
                .ok_or_else(|| anyhow!("no proof"))
                .and_then(|p| Ok(verifier.check(&p)?))?;
            let e = &record.event;
            let summary =
                sealing::open(&e.event.encrypted_summary, &e.binding(), &patient.sealing)?;
            let pointer = summary.pointer.clone().unwrap_or_default();
            let emr = emr_stores
                .get(&pointer.hospital)
                .ok_or_else(|| anyhow!("unknown hospital {}", pointer.hospital))?
                .get(&pointer.record_id)?;
            out.push(RecordView {
                hospital: e.body.hospital.clone(),
                department: e.body.department.clone(),
                height: record.height,
                block_hash: record.block_id.to_hex(),
                sequence: e.body.sequence,
                timestamp: e.event.received_at_ms,
                diagnosis: summary.diagnosis.clone(),
                emr_verified: sha256(&emr).as_bytes().as_slice() == summary.emr_sha256,
            });
        }
    }
    Ok(out)
}

/// Prints the report for people.
pub fn print(report: &DemoReport) {
    println!("MedBlock demo network {}", &report.network[..16]);
    println!(
        "  {} events admitted, {} blocks decided by a committee of {}",
        report.events_admitted,
        report.blocks,
        report.committee.len()
    );
    println!(
        "  committers agree on ledger hash {}: {}",
        &report.committer_ledger_hashes[0][..16],
        report.agree
    );
    println!(
        "  patient {}… has {} records (newest first per department):",
        &report.patient[..16],
        report.records.len()
    );
    for r in &report.records {
        println!(
            "    {:<10} {:<11} height {:>3}  seq {:>4}  {:<32} EMR hash {}",
            r.hospital,
            r.department,
            r.height,
            r.sequence,
            r.diagnosis,
            if r.emr_verified {
                "verified"
            } else {
                "MISMATCH"
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_records_visits_under_patient_signed_authorizations_and_reads_them_back() {
        let dir = tempfile::tempdir().expect("dir");
        let report = run(&DemoArgs {
            dir: dir.path().join("demo"),
            patients: 2,
            events: 60,
            block_events: 50,
            orderers: 4,
            seed: Some(7),
            json: false,
        })
        .expect("the demo runs");
        assert_eq!(report.events_admitted, 60);
        assert!(report.agree);
        assert!(!report.records.is_empty());
        assert!(report.records.iter().all(|r| r.emr_verified));
        // One key, records from both hospitals.
        let hospitals: std::collections::BTreeSet<&str> =
            report.records.iter().map(|r| r.hospital.as_str()).collect();
        assert_eq!(hospitals.len(), 2, "{hospitals:?}");
        // The hospitals' data holds no patient key file.
        assert!(!dir.path().join("demo/hospitals/st-mary/patients").exists());
    }
}
