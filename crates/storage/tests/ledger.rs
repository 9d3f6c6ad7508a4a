//! The ledger's rules on disk: commits, refusals that leave the store unchanged, reopening,
//! tamper detection and bread crumbs.

mod common;

use common::{block_on, rng};
use medblock_core::block_rules::BlockRuleError;
use medblock_core::crumbs::{DepartmentId, pseudonym};
use medblock_core::synthetic::World;
use medblock_core::{BlockError, ChainTip, LedgerError, VerifiedBlock};
use medblock_storage::{Ledger, OpenCheck, StorageError};
use rand::RngExt;

fn open(dir: &std::path::Path) -> Ledger {
    Ledger::open(dir, OpenCheck::Full, 4096).expect("ledger opens")
}

#[test]
fn committed_blocks_read_back_exactly_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(1);
    let mut world = World::generate(&mut r, 2, 5);
    let ledger = open(dir.path());
    assert_eq!(ledger.tip(), ChainTip::GENESIS);
    let mut ids = Vec::new();
    for h in 1..=3u64 {
        let tip = ledger.tip();
        let block = block_on(&mut world, &tip, 4, &mut r, |i| (i % 5, i % 8));
        let new_tip = ledger.commit(&block).unwrap();
        assert_eq!(new_tip.height, h);
        assert_eq!(new_tip.id, block.id);
        ids.push((block.id, block.block.clone()));
    }
    drop(ledger);
    let ledger = open(dir.path());
    assert_eq!(ledger.tip().height, 3);
    for (h, (id, block)) in ids.iter().enumerate() {
        assert_eq!(ledger.block_id_at(h as u64 + 1).unwrap(), Some(*id));
        assert_eq!(ledger.block(id).unwrap().as_ref(), Some(block));
    }
    assert_eq!(ledger.ledger_hash(), ids[2].0);
}

#[test]
fn a_block_that_does_not_extend_the_tip_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(2);
    let mut world = World::generate(&mut r, 1, 3);
    let ledger = open(dir.path());
    let b1 = block_on(&mut world, &ChainTip::GENESIS, 3, &mut r, |i| (i % 3, 0));
    ledger.commit(&b1).unwrap();
    let tip = ledger.tip();

    // Same height again (built on genesis): height mismatch.
    let stale = block_on(&mut world, &ChainTip::GENESIS, 2, &mut r, |i| (i % 3, 1));
    let err = ledger.commit(&stale).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Ledger(LedgerError::Block(BlockError::HeightMismatch {
                expected: 2,
                found: 1
            }))
        ),
        "{err}"
    );
    // Right height, wrong previous hash.
    let forged_tip = ChainTip {
        id: medblock_core::sha256(b"elsewhere"),
        ..tip
    };
    let fork = block_on(&mut world, &forged_tip, 2, &mut r, |i| (i % 3, 1));
    let err = ledger.commit(&fork).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Ledger(LedgerError::Block(BlockError::PreviousHashMismatch {
                height: 2,
                ..
            }))
        ),
        "{err}"
    );
    assert_eq!(ledger.tip(), tip);
    assert_eq!(ledger.block_id_at(2).unwrap(), None);
    // The refused blocks left no crumbs behind.
    let p = pseudonym(&world.patients[0].signing.public());
    assert!(ledger.crumbs(&p).unwrap().iter().all(|c| c.height == 1));
}

#[test]
fn an_event_already_on_the_ledger_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(3);
    let mut world = World::generate(&mut r, 1, 2);
    let ledger = open(dir.path());
    let b1 = block_on(&mut world, &ChainTip::GENESIS, 2, &mut r, |i| (i, 0));
    ledger.commit(&b1).unwrap();
    let tip = ledger.tip();
    // A retried event (same hospital, department, sequence) packed again by another endorser.
    let again = b1.events[0].clone();
    let dup = world
        .block(&tip, vec![again], tip.timestamp_ms + 5)
        .unwrap();
    let err = ledger.commit(&dup).unwrap_err();
    assert!(
        matches!(&err, StorageError::DuplicateEvent { sequence: 1, department, .. } if department == "cardiology"),
        "{err}"
    );
    assert_eq!(ledger.tip(), tip);
    assert_eq!(ledger.block(&dup.id).unwrap(), None);
}

#[test]
fn tampering_with_a_stored_block_is_found_when_the_ledger_opens() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(4);
    let mut world = World::generate(&mut r, 1, 2);
    let ledger = open(dir.path());
    let mut tip = ChainTip::GENESIS;
    for _ in 0..3 {
        let b = block_on(&mut world, &tip, 2, &mut r, |i| (i, i));
        tip = ledger.commit(&b).unwrap();
    }
    let victim = ledger.block_id_at(2).unwrap().unwrap();
    drop(ledger);

    // Flip one byte of one event of block 2, directly in RocksDB.
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let db = rocksdb::DB::open_cf(&opts, dir.path(), medblock_storage::keys_layout::LEDGER_CFS)
            .unwrap();
        let cf = db
            .cf_handle(medblock_storage::keys_layout::CF_EVENTS)
            .unwrap();
        let key = medblock_storage::keys_layout::event_key(&victim, 1);
        let mut v = db.get_cf(cf, &key).unwrap().unwrap();
        let at = v.len() / 2;
        v[at] ^= 0x01;
        db.put_cf(cf, &key, v).unwrap();
    }
    // A header-only walk cannot see an event change; the full audit must.
    Ledger::open(dir.path(), OpenCheck::HashChain, 4096).expect("hash chain of headers is intact");
    let err = Ledger::open(dir.path(), OpenCheck::Full, 4096).unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { height: 2, .. }),
        "{err}"
    );

    // Tampering with the signature collection (outside the block id) is caught by its hash in
    // the header, even by the header-only walk.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            medblock_storage::keys_layout::LEDGER_CFS,
        )
        .unwrap();
        let cf = db
            .cf_handle(medblock_storage::keys_layout::CF_BLOCKS)
            .unwrap();
        let mut v = db.get_cf(cf, victim.as_bytes()).unwrap().unwrap();
        let last = v.len() - 1;
        v[last] ^= 0x01;
        db.put_cf(cf, victim.as_bytes(), v).unwrap();
    }
    let err = Ledger::open(dir.path(), OpenCheck::HashChain, 4096).unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { height: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("signature collection"), "{err}");
}

#[test]
fn tampering_with_a_stored_header_breaks_the_hash_chain() {
    use medblock_core::wire;
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(6);
    let mut world = World::generate(&mut r, 1, 2);
    let ledger = open(dir.path());
    let mut tip = ChainTip::GENESIS;
    for _ in 0..3 {
        let b = block_on(&mut world, &tip, 2, &mut r, |i| (i, i));
        tip = ledger.commit(&b).unwrap();
    }
    assert_eq!(tip.height, 3);
    let victim = ledger.block_id_at(1).unwrap().unwrap();
    drop(ledger);
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            medblock_storage::keys_layout::LEDGER_CFS,
        )
        .unwrap();
        let cf = db
            .cf_handle(medblock_storage::keys_layout::CF_BLOCKS)
            .unwrap();
        let stored = db.get_cf(cf, victim.as_bytes()).unwrap().unwrap();
        let mut block = wire::Block::decode(stored.as_slice()).unwrap();
        let at = block.header.len() / 2;
        block.header[at] ^= 0x01;
        db.put_cf(cf, victim.as_bytes(), block.encode_to_vec())
            .unwrap();
    }
    let err = Ledger::open(dir.path(), OpenCheck::HashChain, 4096).unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { height: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("does not hash to its id"), "{err}");
}

#[test]
fn bread_crumbs_match_a_full_scan_after_10k_events_from_500_patients() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(5);
    let mut world = World::generate(&mut r, 2, 500);
    let ledger = open(dir.path());
    let departments = world.departments.len();
    let mut expected: std::collections::HashMap<(usize, usize), Vec<u64>> = Default::default();
    let mut tip = ChainTip::GENESIS;
    let per_block = 250;
    for _ in 0..(10_000 / per_block) {
        let picks: Vec<(usize, usize)> = (0..per_block)
            .map(|_| (r.random_range(0..500), r.random_range(0..departments)))
            .collect();
        let height = tip.height + 1;
        for &(p, d) in &picks {
            let heights = expected.entry((p, d)).or_default();
            if heights.last() != Some(&height) {
                heights.push(height);
            }
        }
        let block = block_on(&mut world, &tip, per_block, &mut r, |i| picks[i]);
        tip = ledger.commit(&block).unwrap();
    }
    assert_eq!(tip.height, 40);
    // Each block verified once, to check every crumb points at a block holding the patient.
    let blocks: std::collections::HashMap<_, _> = (1..=tip.height)
        .map(|h| {
            let id = ledger.block_id_at(h).unwrap().unwrap();
            let block = ledger.block(&id).unwrap().unwrap();
            (id, VerifiedBlock::verify(block, 4096).unwrap())
        })
        .collect();
    for (p, patient) in world.patients.iter().enumerate() {
        let ps = pseudonym(&patient.signing.public());
        let crumbs = ledger.crumbs(&ps).unwrap();
        assert_eq!(crumbs, ledger.scan_crumbs(&ps).unwrap(), "patient {p}");
        for (d, dept) in world.departments.iter().enumerate() {
            let id = DepartmentId {
                hospital: dept.hospital.clone(),
                department: dept.name.clone(),
            };
            let in_dept: Vec<u64> = ledger
                .crumbs_in(&ps, &id)
                .unwrap()
                .iter()
                .map(|c| c.height)
                .collect();
            let mut want = expected.get(&(p, d)).cloned().unwrap_or_default();
            want.reverse(); // newest first
            assert_eq!(in_dept, want, "patient {p} department {d}");
            for c in ledger.crumbs_in(&ps, &id).unwrap() {
                assert_eq!(Some(c.block_id), ledger.block_id_at(c.height).unwrap());
                let block = &blocks[&c.block_id];
                assert!(
                    block
                        .events
                        .iter()
                        .any(|e| e.pseudonym == ps && e.body.department == dept.name)
                );
            }
        }
    }
    // A patient who never visited has no crumbs.
    let stranger = medblock_core::Identity::generate(&mut r);
    assert!(
        ledger
            .crumbs(&pseudonym(&stranger.signing.public()))
            .unwrap()
            .is_empty()
    );
}

/// A ledger of 12 blocks of 40 events from 30 patients in every department, some patients
/// several times in one block and in one department, with what each patient's events are
/// (location and bytes) recorded as the blocks are built.
fn patients_ledger(
    dir: &std::path::Path,
) -> (
    Ledger,
    World,
    std::collections::HashMap<usize, Vec<medblock_storage::PatientEvent>>,
) {
    let mut r = rng(7);
    let mut world = World::generate(&mut r, 2, 30);
    let ledger = open(dir);
    let departments = world.departments.len();
    let mut expected: std::collections::HashMap<usize, Vec<medblock_storage::PatientEvent>> =
        Default::default();
    let mut tip = ChainTip::GENESIS;
    for _ in 0..12 {
        // Patients 0..10 are three times likelier than the others: repeats within a block.
        let picks: Vec<(usize, usize)> = (0..40)
            .map(|_| {
                let p = if r.random_bool(0.5) {
                    r.random_range(0..10)
                } else {
                    r.random_range(0..30)
                };
                (p, r.random_range(0..departments))
            })
            .collect();
        let block = block_on(&mut world, &tip, picks.len(), &mut r, |i| picks[i]);
        for (index, (e, bytes)) in block.events.iter().zip(&block.block.events).enumerate() {
            let p = world
                .patients
                .iter()
                .position(|id| id.signing.public() == e.patient)
                .expect("the event's patient is one of the world's");
            expected
                .entry(p)
                .or_default()
                .push(medblock_storage::PatientEvent {
                    location: medblock_storage::EventLocation {
                        height: block.height(),
                        index: index as u32,
                    },
                    block_id: block.id,
                    bytes: bytes.clone(),
                });
        }
        tip = ledger.commit(&block).unwrap();
    }
    (ledger, world, expected)
}

#[test]
fn a_full_scan_and_the_bread_crumbs_find_exactly_each_patients_events() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, world, expected) = patients_ledger(dir.path());
    assert_eq!(ledger.tip().height, 12);
    let mut repeated_in_a_block = false;
    for (p, patient) in world.patients.iter().enumerate() {
        let key = patient.signing.public();
        let want = expected.get(&p).cloned().unwrap_or_default();
        let scanned = ledger.scan_patient_events(&key).unwrap();
        assert_eq!(scanned, want, "full scan, patient {p}");
        assert_eq!(
            ledger.patient_events(&key).unwrap(),
            scanned,
            "bread crumbs against the full scan, patient {p}"
        );
        for e in &scanned {
            let parsed = medblock_core::ParsedEvent::parse(&e.bytes).unwrap();
            assert_eq!(parsed.patient, key, "patient {p} got another's event");
        }
        repeated_in_a_block |= scanned
            .windows(2)
            .any(|w| w[0].location.height == w[1].location.height);
    }
    assert!(
        repeated_in_a_block,
        "the fixture must put one patient twice in a block"
    );
    // Every event of the ledger belongs to exactly one patient's answer.
    let total: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total, 12 * 40);
    // A patient who never visited has no events, either way.
    let stranger = medblock_core::Identity::generate(&mut rng(8))
        .signing
        .public();
    assert!(ledger.scan_patient_events(&stranger).unwrap().is_empty());
    assert!(ledger.patient_events(&stranger).unwrap().is_empty());
}

#[test]
fn a_lost_bread_crumb_shows_as_a_difference_from_the_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, world, _) = patients_ledger(dir.path());
    let key = world.patients[0].signing.public();
    let ps = pseudonym(&key);
    let crumb = ledger
        .crumbs(&ps)
        .unwrap()
        .pop()
        .expect("patient 0 has crumbs");
    drop(ledger);
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            medblock_storage::keys_layout::LEDGER_CFS,
        )
        .unwrap();
        let cf = db
            .cf_handle(medblock_storage::keys_layout::CF_CRUMBS)
            .unwrap();
        let k = medblock_storage::keys_layout::crumb_key(&ps, &crumb.department, crumb.height);
        db.delete_cf(cf, k).unwrap();
    }
    let ledger = open(dir.path());
    let by_crumbs = ledger.patient_events(&key).unwrap();
    let scanned = ledger.scan_patient_events(&key).unwrap();
    assert_ne!(by_crumbs, scanned);
    assert!(by_crumbs.len() < scanned.len());
    assert!(
        scanned
            .iter()
            .any(|e| e.location.height == crumb.height && !by_crumbs.contains(e))
    );
}

#[test]
fn commit_applies_the_block_byte_limit_of_the_validity_predicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(9);
    let mut world = World::generate(&mut r, 1, 3);
    let ledger = open(dir.path()).with_max_block_bytes(1_000);
    let b1 = block_on(&mut world, &ChainTip::GENESIS, 3, &mut r, |i| (i % 3, 0));
    let err = ledger.commit(&b1).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Refused(BlockRuleError::TooManyBytes { max: 1_000, .. })
        ),
        "{err}"
    );
    assert_eq!(ledger.tip(), ChainTip::GENESIS, "nothing written");
}

/// The bread-crumb memtable carries no bloom filter: RocksDB zeroes one sized from the write
/// buffer (6.7 MB at a tenth of 64 MiB) in every node's memory, idle or not. The files keep
/// theirs, and the prefix extractor that patient look-ups seek with.
#[test]
fn the_crumbs_memtable_reserves_no_bloom_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(dir.path());
    let options = std::fs::read_dir(dir.path())
        .expect("ledger dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("OPTIONS-"))
        })
        .max()
        .expect("RocksDB wrote its OPTIONS file");
    let text = std::fs::read_to_string(&options).expect("OPTIONS readable");
    let crumbs = text
        .split("[CFOptions ")
        .find(|s| s.starts_with("\"breadcrumbs\""))
        .expect("the breadcrumbs column family");
    let setting = |name: &str| {
        crumbs
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} in {}", options.display()))
            .to_owned()
    };
    assert_eq!(
        setting("memtable_prefix_bloom_size_ratio")
            .parse::<f64>()
            .ok(),
        Some(0.0)
    );
    assert_eq!(setting("prefix_extractor"), "rocksdb.FixedPrefix.32");
    drop(ledger);
}
