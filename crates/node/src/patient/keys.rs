//! The patient's keys: created into an owner-only key file, exported to a backup and restored
//! from it. The backup is an armored text file holding the secret keys in hex, written
//! owner-only and *without a passphrase*: whoever holds the file holds the keys, so keep it
//! offline (printed, or on a removable disk).

use super::error::PatientError;
use medblock_core::keys::{Identity, SealingSecret, SigningKey};
use medblock_storage::StorageError;
use medblock_storage::keyfile::{load_identity, save_identity};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use zeroize::Zeroizing;

const BEGIN: &str = "-----BEGIN MEDBLOCK PATIENT KEY BACKUP-----";
const END: &str = "-----END MEDBLOCK PATIENT KEY BACKUP-----";

fn io(path: &Path, e: impl std::fmt::Display) -> PatientError {
    PatientError::Storage(StorageError::KeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Creates a new identity in `path` (0600; refuses to overwrite).
pub fn create(path: &Path, label: &str) -> Result<Identity, PatientError> {
    let id = Identity::generate(&mut rand::rng());
    save_identity(path, label, &id)?;
    Ok(id)
}

/// Writes the backup of the key file `key` to `out` (0600; refuses to overwrite).
pub fn export(key: &Path, out: &Path) -> Result<Identity, PatientError> {
    let id = load_identity(key)?;
    let text = Zeroizing::new(format!(
        "{BEGIN}\npublic: {}\nsealing-public: {}\nsigning: {}\nsealing: {}\n{END}\n",
        id.signing.public().to_hex(),
        hex::encode(id.sealing.public().0),
        hex::encode(id.signing.to_bytes().as_ref()),
        hex::encode(id.sealing.to_bytes().as_ref()),
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| io(out, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(out, e))?;
    f.sync_all().map_err(|e| io(out, e))?;
    Ok(id)
}

/// Reads a backup and writes its keys to the key file `out` (0600; refuses to overwrite).
/// Refuses a backup whose public key does not match its secret key.
pub fn restore(backup: &Path, out: &Path, label: &str) -> Result<Identity, PatientError> {
    let text = Zeroizing::new(std::fs::read_to_string(backup).map_err(|e| io(backup, e))?);
    let id = parse_backup(&text).map_err(|e| io(backup, e))?;
    save_identity(out, label, &id)?;
    Ok(id)
}

fn parse_backup(text: &str) -> Result<Identity, String> {
    let inner = text
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(inner, _)| inner)
        .ok_or("not a MedBlock patient key backup")?;
    let field = |name: &str| -> Result<Zeroizing<Vec<u8>>, String> {
        let line = inner
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .ok_or(format!("backup lacks `{name}`"))?;
        hex::decode(line.trim())
            .map(Zeroizing::new)
            .map_err(|e| format!("`{name}` is not hex: {e}"))
    };
    let signing = SigningKey::from_bytes(&field("signing")?).map_err(|e| e.to_string())?;
    let sealing = SealingSecret::from_bytes(&field("sealing")?).map_err(|e| e.to_string())?;
    let public = field("public")?;
    if public.as_slice() != signing.public().as_bytes() {
        return Err("the backup's public key does not match its secret key".into());
    }
    Ok(Identity { signing, sealing })
}
