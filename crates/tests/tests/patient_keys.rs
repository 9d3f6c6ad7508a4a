//! The patient's key file and its backup: created owner-only, exported, restored to the same
//! keys, and a damaged or mismatched backup refused with a typed error. His keys stay on his
//! side: `keys authorize` signs a bulk enrolment line a hospital verifies (public keys and
//! signatures only), and `enroll` refuses a malformed id before sending anything.

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

/// `medblock patient ...`: (success, stdout, stderr), logs kept out of the way.
fn patient(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = std::process::Command::new(common::bin::medblock())
        .arg("patient")
        .args(args)
        .env_remove("RUST_LOG")
        .env("MEDBLOCK_PATIENT_LOG", dir.join("patient.log"))
        .output()
        .expect("medblock runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn keys_authorize_prints_one_bulk_line_the_hospital_verifies() {
    use medblock_core::authorization::verify_enrolment;
    use prost::Message;
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("p.key");
    let id = keys::create(&key, "p").expect("key");
    let key_s = key.display().to_string();
    let (ok, out, err) = patient(
        &[
            "keys",
            "authorize",
            "--key",
            &key_s,
            "--hospital",
            "st-mary",
            "--patient-id",
            "MRN:42.a_b-c",
            "--departments",
            "cardiology,oncology",
            "--valid-days",
            "30",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    // stdout is exactly one JSON line (appendable to the bulk file); the explanation is on stderr.
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("st-mary") && err.contains("serial"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("a JSON line");
    assert_eq!(v["patient_id"], "MRN:42.a_b-c");
    let bytes = hex::decode(v["enrolment"].as_str().expect("hex")).expect("hex");
    let enrolment =
        medblock_core::wire::Enrolment::decode(bytes.as_slice()).expect("an encoded Enrolment");
    let verified = verify_enrolment(&enrolment, "st-mary").expect("the hospital verifies it");
    assert!(verified.nonce.is_empty(), "a bulk line carries no nonce");
    assert_eq!(verified.patient_id, "MRN:42.a_b-c");
    let auth = &verified.authorization.parsed;
    assert_eq!(auth.patient, id.signing.public());
    assert_eq!(auth.sealing, id.sealing.public());
    assert_eq!(auth.body.departments, vec!["cardiology", "oncology"]);
    let days = (auth.body.not_after_ms - auth.body.not_before_ms) / 86_400_000;
    assert!((29..=30).contains(&days), "{days} days");
    // Made out to st-mary: another hospital refuses it.
    assert!(verify_enrolment(&enrolment, "riverside").is_err());
    // The private keys are nowhere in what it printed.
    let secret = hex::encode(id.signing.to_bytes().as_ref());
    assert!(!out.contains(&secret) && !err.contains(&secret));
}

#[test]
fn enroll_refuses_a_malformed_id_and_names_an_unreachable_hospital() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("p.key");
    keys::create(&key, "p").expect("key");
    let key_s = key.display().to_string();
    let (ok, _, err) = patient(
        &[
            "enroll",
            "--key",
            &key_s,
            "--hospital-node",
            "http://127.0.0.1:9",
            "--patient-id",
            "a b",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("not valid"), "{err}");
    // Port 9 (discard) is closed here: the error names the node, nothing else is printed.
    let (ok, out, err) = patient(
        &[
            "enroll",
            "--key",
            &key_s,
            "--hospital-node",
            "http://127.0.0.1:9",
            "--patient-id",
            "MRN-1",
            "--timeout",
            "3",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("127.0.0.1:9"), "{err}");
}
