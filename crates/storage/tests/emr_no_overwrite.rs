//! A record id in the EMR store is written once: other bytes under a held id are refused with a
//! typed error and nothing of that batch is written; the same bytes again are accepted.

use medblock_core::sha256;
use medblock_storage::StorageError;
use medblock_storage::emr::{EmrStore, LinkedEmr, RocksEmrStore};

const FIRST: &[u8] = br#"{"resourceType":"Bundle","id":"first"}"#;
const OTHER: &[u8] = br#"{"resourceType":"Bundle","id":"quietly edited"}"#;

#[test]
fn a_record_id_stored_again_with_other_bytes_is_refused_and_the_first_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksEmrStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .put_linked("Encounter/e-1", FIRST, "cardiology", 1)
            .unwrap(),
        sha256(FIRST)
    );

    let e = store
        .put_linked("Encounter/e-1", OTHER, "cardiology", 2)
        .unwrap_err();
    match &e {
        StorageError::RecordIdTaken {
            record_id,
            existing,
        } => {
            assert_eq!(record_id, "Encounter/e-1");
            assert_eq!(*existing, sha256(FIRST));
        }
        other => panic!("expected RecordIdTaken, got {other}"),
    }
    assert_eq!(store.get("Encounter/e-1").unwrap(), FIRST);
    assert_eq!(sha256(&store.get("Encounter/e-1").unwrap()), sha256(FIRST));
    // The refused write linked nothing either.
    assert_eq!(store.linked("cardiology", 2).unwrap(), None);

    // A batch holding one clashing id writes none of its records or links.
    let batch = [
        LinkedEmr {
            record_id: "Encounter/e-2",
            emr: b"new visit",
            department: "cardiology",
            sequence: 3,
        },
        LinkedEmr {
            record_id: "Encounter/e-1",
            emr: OTHER,
            department: "cardiology",
            sequence: 4,
        },
    ];
    assert!(matches!(
        store.put_linked_many(&batch),
        Err(StorageError::RecordIdTaken { .. })
    ));
    assert!(!store.contains("Encounter/e-2").unwrap());
    assert_eq!(store.linked("cardiology", 3).unwrap(), None);
    assert_eq!(store.linked("cardiology", 4).unwrap(), None);

    // One batch naming the same new id twice with different bytes is refused too.
    let twice = [
        LinkedEmr {
            record_id: "Encounter/e-3",
            emr: b"one",
            department: "cardiology",
            sequence: 5,
        },
        LinkedEmr {
            record_id: "Encounter/e-3",
            emr: b"two",
            department: "cardiology",
            sequence: 6,
        },
    ];
    assert!(matches!(
        store.put_linked_many(&twice),
        Err(StorageError::RecordIdTaken { .. })
    ));
    assert!(!store.contains("Encounter/e-3").unwrap());

    // After a restart the first record is still the one held.
    drop(store);
    let store = RocksEmrStore::open(dir.path()).unwrap();
    assert_eq!(store.get("Encounter/e-1").unwrap(), FIRST);
    assert_eq!(
        store.linked("cardiology", 1).unwrap().as_deref(),
        Some("Encounter/e-1")
    );
}

#[test]
fn the_same_bytes_again_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksEmrStore::open(dir.path()).unwrap();
    let h = store
        .put_linked("cardiology/1", FIRST, "cardiology", 1)
        .unwrap();
    assert_eq!(
        store
            .put_linked("cardiology/1", FIRST, "cardiology", 1)
            .unwrap(),
        h
    );
    let again = [LinkedEmr {
        record_id: "cardiology/1",
        emr: FIRST,
        department: "cardiology",
        sequence: 1,
    }];
    assert_eq!(store.put_linked_many(&again).unwrap(), vec![h]);
    assert_eq!(store.get("cardiology/1").unwrap(), FIRST);
    assert_eq!(
        store.linked("cardiology", 1).unwrap().as_deref(),
        Some("cardiology/1")
    );
}
