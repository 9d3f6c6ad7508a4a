//! The patient's key file and its backup: created owner-only, exported, restored to the same
//! keys, and a damaged or mismatched backup refused with a typed error.

mod common;

use medblock_node::patient::{PatientError, keys};
use std::os::unix::fs::PermissionsExt;

#[test]
fn keys_are_created_exported_and_restored_to_the_same_identity() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("me.key");
    let backup = dir.path().join("me.backup");
    let restored = dir.path().join("restored.key");
    let id = keys::create(&key, "me").expect("create");
    assert!(
        keys::create(&key, "me").is_err(),
        "never overwrites a key file"
    );
    let exported = keys::export(&key, &backup).expect("export");
    assert_eq!(exported.signing.public(), id.signing.public());
    let mode = std::fs::metadata(&backup)
        .expect("backup")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "backup readable by its owner only");
    let back = keys::restore(&backup, &restored, "me").expect("restore");
    assert_eq!(back.signing.public(), id.signing.public());
    assert_eq!(back.sealing.public(), id.sealing.public());

    // A backup whose public key was swapped for another is refused.
    let other = keys::create(&dir.path().join("other.key"), "other").expect("other");
    let text = std::fs::read_to_string(&backup).expect("read");
    let line = format!("public: {}", id.signing.public().to_hex());
    let forged = text.replace(
        &line,
        &format!("public: {}", other.signing.public().to_hex()),
    );
    let bad = dir.path().join("bad.backup");
    std::fs::write(&bad, forged).expect("write");
    let e = keys::restore(&bad, &dir.path().join("x.key"), "x").unwrap_err();
    assert!(matches!(e, PatientError::Storage(_)), "{e}");
    std::fs::write(&bad, "not a backup").expect("write");
    let e = keys::restore(&bad, &dir.path().join("y.key"), "y").unwrap_err();
    assert!(matches!(e, PatientError::Storage(_)), "{e}");
}

#[test]
fn the_keys_commands_print_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("p.key");
    let out = std::process::Command::new(common::bin::medblock())
        .args(["patient", "keys", "create", "--json", "--out"])
        .arg(&key)
        .output()
        .expect("medblock runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["public"].as_str().map(str::len), Some(64));
    assert!(v["sealing_public"].is_string());
}
