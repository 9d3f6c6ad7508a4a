//! The endorser's pending queue and the client's outbox (durable, ordered, idempotent), and the
//! ledger hash that reveals a ledger tampered with on disk.

mod common;

use common::{block_on, rng};
use medblock_core::EventKey;
use medblock_core::synthetic::World;
use medblock_storage::audit::block_content_digest;
use medblock_storage::keys_layout::{CF_EVENTS, LEDGER_CFS, event_key};
use medblock_storage::{EventQueue, Ledger, LedgerHashes, OpenCheck};

#[test]
fn queue_keeps_upload_order_survives_reopen_and_ignores_retries() {
    let dir = tempfile::tempdir().unwrap();
    let a = EventKey::new("h1", "cardiology", 1);
    let b = EventKey::new("h1", "cardiology", 2);
    let c = EventKey::new("h2", "oncology", 1);
    {
        let q = EventQueue::open(dir.path()).unwrap();
        assert_eq!(q.insert(300, &a, b"a").unwrap(), 300);
        assert_eq!(q.insert(100, &b, b"b").unwrap(), 100);
        assert_eq!(q.insert(200, &c, b"c").unwrap(), 200);
        // A retry of `a` later keeps its first place.
        assert_eq!(q.insert(900, &a, b"a").unwrap(), 300);
        q.set_counter("next_sequence", 42).unwrap();
    }
    let q = EventQueue::open(dir.path()).unwrap();
    assert_eq!(q.len().unwrap(), 3);
    assert_eq!(q.counter("next_sequence").unwrap(), 42);
    assert_eq!(q.counter("never_set").unwrap(), 0);
    let order: Vec<EventKey> = q
        .oldest(10, &|_| false)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(order, vec![b, c, a]);
    let skipped: Vec<EventKey> = q
        .oldest(1, &|k| *k == b)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(skipped, vec![c]);
    // The orders alone (what pacing reads), ascending, with the same skipping.
    assert_eq!(q.orders(&|_| false).unwrap(), vec![100, 200, 300]);
    assert_eq!(q.orders(&|k| *k == c).unwrap(), vec![100, 300]);
    assert_eq!(q.get(&c).unwrap().as_deref(), Some(&b"c"[..]));
    assert_eq!(q.remove([&b, &EventKey::new("x", "y", 9)]).unwrap(), 1);
    assert_eq!(q.get(&b).unwrap(), None);
    assert_eq!(q.len().unwrap(), 2);
}

#[test]
fn a_batch_is_queued_in_one_write_keeping_retries_and_repeats_in_their_first_place() {
    use medblock_storage::{EmrStore, LinkedEmr, QueuedEvent, RocksEmrStore};
    let dir = tempfile::tempdir().unwrap();
    let a = EventKey::new("h1", "cardiology", 1);
    let b = EventKey::new("h1", "cardiology", 2);
    let c = EventKey::new("h1", "cardiology", 3);
    let item = |order_ms, key, bytes: &[u8]| QueuedEvent {
        order_ms,
        key,
        bytes: bytes.to_vec(),
    };
    {
        let q = EventQueue::open(dir.path().join("q").as_path()).unwrap();
        q.insert(500, &a, b"a").unwrap();
        // `a` is already queued, `b` comes twice in the batch: each keeps its first place.
        let placed = q
            .insert_many(&[
                item(100, b, b"b"),
                item(50, a, b"a2"),
                item(300, c, b"c"),
                item(10, b, b"b2"),
            ])
            .unwrap();
        assert_eq!(placed, vec![100, 500, 300, 100]);
        assert!(q.insert_many(&[]).unwrap().is_empty());
    }
    let q = EventQueue::open(dir.path().join("q").as_path()).unwrap();
    assert_eq!(q.orders(&|_| false).unwrap(), vec![100, 300, 500]);
    assert_eq!(q.get(&a).unwrap().as_deref(), Some(&b"a"[..]));
    assert_eq!(q.get(&b).unwrap().as_deref(), Some(&b"b"[..]));

    // The hospital's EMRs of a batch, each linked to its event, and their hashes in order.
    let emr = RocksEmrStore::open(dir.path().join("emr").as_path()).unwrap();
    let records = [
        LinkedEmr {
            record_id: "cardiology/1",
            emr: b"first record",
            department: "cardiology",
            sequence: 1,
        },
        LinkedEmr {
            record_id: "cardiology/2",
            emr: b"second record",
            department: "cardiology",
            sequence: 2,
        },
    ];
    let hashes = emr.put_linked_many(&records).unwrap();
    assert_eq!(
        hashes,
        vec![
            medblock_core::sha256(b"first record"),
            medblock_core::sha256(b"second record")
        ]
    );
    assert_eq!(emr.get("cardiology/2").unwrap(), b"second record");
    assert_eq!(
        emr.linked("cardiology", 1).unwrap().as_deref(),
        Some("cardiology/1")
    );
    assert_eq!(emr.linked("cardiology", 3).unwrap(), None);
}

#[test]
fn an_event_rewritten_on_disk_changes_the_ledger_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(7);
    let mut world = World::generate(&mut r, 2, 4);
    let mut hashes_at_commit = Vec::new();
    {
        let ledger = Ledger::open(dir.path(), OpenCheck::Full, 4096).unwrap();
        let mut running = LedgerHashes::rebuild(&ledger, 100, &mut |_, _| {}).unwrap();
        for _ in 0..3 {
            let tip = ledger.tip();
            let block = block_on(&mut world, &tip, 3, &mut r, |i| (i % 4, i % 2));
            ledger.commit(&block).unwrap();
            running.push(block.height(), &block_content_digest(&block.block));
            hashes_at_commit.push(running.latest());
        }
        // Recomputing from disk gives the same chain as computing at commit time.
        let rebuilt = LedgerHashes::rebuild(&ledger, 100, &mut |_, _| {}).unwrap();
        for (h, hash) in &hashes_at_commit {
            assert_eq!(rebuilt.at(*h), Some(*hash));
        }
    }
    // Rewrite one byte of an event of block 2, behind the ledger's back.
    let block2 = {
        let ledger = Ledger::open(dir.path(), OpenCheck::HashChain, 4096).unwrap();
        ledger.block_id_at(2).unwrap().unwrap()
    };
    {
        let opts = rocksdb::Options::default();
        let db = rocksdb::DB::open_cf(&opts, dir.path(), LEDGER_CFS).unwrap();
        let cf = db.cf_handle(CF_EVENTS).unwrap();
        let key = event_key(&block2, 1);
        let mut bytes = db.get_cf(cf, &key).unwrap().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        db.put_cf(cf, &key, bytes).unwrap();
    }
    // The header chain still checks (the tamper is in an event), but the ledger hash differs
    // from height 2 on, while height 1 still agrees.
    let ledger = Ledger::open(dir.path(), OpenCheck::HashChain, 4096).unwrap();
    let tampered = LedgerHashes::rebuild(&ledger, 100, &mut |_, _| {}).unwrap();
    assert_eq!(tampered.at(1), Some(hashes_at_commit[0].1));
    assert_ne!(tampered.at(2), Some(hashes_at_commit[1].1));
    assert_ne!(tampered.latest().1, hashes_at_commit[2].1);
}
