//! Key files and the hospital EMR database.

use medblock_core::{Identity, sha256};
use medblock_storage::keyfile::{load_identity, load_signing_key, save_identity, save_signing_key};
use medblock_storage::{EmrStore, RocksEmrStore, StorageError};
use rand::SeedableRng;
use std::os::unix::fs::PermissionsExt;

#[test]
fn key_files_are_owner_only_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let id = Identity::generate(&mut r);
    let path = dir.path().join("keys/patient.key");
    save_identity(&path, "patient 1", &id).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let back = load_identity(&path).unwrap();
    assert_eq!(back.signing.public(), id.signing.public());
    assert_eq!(back.sealing.public(), id.sealing.public());
    // Never overwritten.
    assert!(matches!(
        save_identity(&path, "again", &id),
        Err(StorageError::KeyFile { .. })
    ));

    let node = dir.path().join("node.key");
    save_signing_key(&node, "node", &id.signing).unwrap();
    assert_eq!(
        load_signing_key(&node).unwrap().public(),
        id.signing.public()
    );
    // A signing-only file is not an identity.
    assert!(matches!(
        load_identity(&node),
        Err(StorageError::KeyFile { .. })
    ));
}

#[test]
fn a_key_file_others_can_read_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(10);
    let path = dir.path().join("open.key");
    save_identity(&path, "x", &Identity::generate(&mut r)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_identity(&path).unwrap_err();
    assert!(
        matches!(err, StorageError::KeyFileTooOpen { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"));
}

#[test]
fn garbage_key_files_get_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("a", &b"not json"[..]),
        (
            "b",
            br#"{"version":1,"label":"x","signing":"zz","sealing":null}"#,
        ),
        (
            "c",
            br#"{"version":2,"label":"x","signing":"00","sealing":null}"#,
        ),
        (
            "d",
            br#"{"version":1,"label":"x","signing":"0011","sealing":null}"#,
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            matches!(load_signing_key(&path), Err(StorageError::KeyFile { .. })),
            "{name}"
        );
    }
    assert!(matches!(
        load_signing_key(&dir.path().join("missing")),
        Err(StorageError::KeyFile { .. })
    ));
}

#[test]
fn the_emr_store_returns_what_was_stored_and_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksEmrStore::open(dir.path()).unwrap();
    let emr = br#"{"resourceType":"Bundle","type":"collection"}"#;
    assert_eq!(store.put("enc-1", emr).unwrap(), sha256(emr));
    assert_eq!(store.get("enc-1").unwrap(), emr);
    assert!(store.contains("enc-1").unwrap());
    assert!(!store.contains("enc-2").unwrap());
    assert!(matches!(
        store.get("enc-2"),
        Err(StorageError::NoSuchRecord { .. })
    ));
    drop(store);
    let store = RocksEmrStore::open(dir.path()).unwrap();
    assert_eq!(store.get("enc-1").unwrap(), emr);
}

#[test]
fn an_event_finds_its_emr_through_its_link_and_the_link_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksEmrStore::open(dir.path()).unwrap();
        let h = store
            .put_linked(
                "Encounter/e-1",
                b"{\"resourceType\":\"Bundle\"}",
                "emergency",
                7,
            )
            .unwrap();
        assert_eq!(h, sha256(b"{\"resourceType\":\"Bundle\"}"));
        store
            .put_linked("cardiology/1", b"plain visit", "cardiology", 1)
            .unwrap();
    }
    let store = RocksEmrStore::open(dir.path()).unwrap();
    assert_eq!(
        store.linked("emergency", 7).unwrap().as_deref(),
        Some("Encounter/e-1")
    );
    assert_eq!(
        store.linked("cardiology", 1).unwrap().as_deref(),
        Some("cardiology/1")
    );
    // Another department or sequence links nothing, even where a prefix matches.
    assert_eq!(store.linked("emergency", 8).unwrap(), None);
    assert_eq!(store.linked("emergenc", 7).unwrap(), None);
    assert_eq!(
        store.get("Encounter/e-1").unwrap(),
        b"{\"resourceType\":\"Bundle\"}"
    );
}
