//! Key files: a party's secret keys on disk, readable by its owner only.
//!
//! Files are created with mode 0600 and loading refuses a file that group or others can read,
//! as ssh does, because a key file anyone on the machine can copy is a leaked key.

use crate::error::StorageError;
use medblock_core::{Identity, SealingSecret, SigningKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroize;

/// A hex secret in a key file, wiped from memory when dropped.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// What a key file holds: a signing key and, for parties that receive sealed summaries, a
/// sealing key, each as hex.
#[derive(Serialize, Deserialize)]
struct KeyFileV1 {
    version: u32,
    /// Who the keys belong to, for people reading the file name.
    label: String,
    signing: Secret,
    sealing: Option<Secret>,
}

/// Writes `identity` to `path` with owner-only permissions. Refuses to overwrite.
pub fn save_identity(path: &Path, label: &str, identity: &Identity) -> Result<(), StorageError> {
    write_file(
        path,
        &KeyFileV1 {
            version: 1,
            label: label.to_owned(),
            signing: Secret(hex::encode(identity.signing.to_bytes().as_ref())),
            sealing: Some(Secret(hex::encode(identity.sealing.to_bytes().as_ref()))),
        },
    )
}

/// Writes a signing key alone (a node, the CA) to `path` with owner-only permissions.
pub fn save_signing_key(path: &Path, label: &str, key: &SigningKey) -> Result<(), StorageError> {
    write_file(
        path,
        &KeyFileV1 {
            version: 1,
            label: label.to_owned(),
            signing: Secret(hex::encode(key.to_bytes().as_ref())),
            sealing: None,
        },
    )
}

/// Loads a full identity (signing and sealing keys).
pub fn load_identity(path: &Path) -> Result<Identity, StorageError> {
    let file = read_file(path)?;
    let sealing = file.sealing.as_ref().ok_or_else(|| StorageError::KeyFile {
        path: path.to_path_buf(),
        reason: "holds no sealing key".into(),
    })?;
    Ok(Identity {
        signing: signing_from(path, &file.signing)?,
        sealing: SealingSecret::from_bytes(&decode_hex(path, sealing)?).map_err(|e| {
            StorageError::KeyFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?,
    })
}

/// Loads the signing key of a key file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, StorageError> {
    let file = read_file(path)?;
    signing_from(path, &file.signing)
}

fn signing_from(path: &Path, s: &Secret) -> Result<SigningKey, StorageError> {
    SigningKey::from_bytes(&decode_hex(path, s)?).map_err(|e| StorageError::KeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn decode_hex(path: &Path, s: &Secret) -> Result<zeroize::Zeroizing<Vec<u8>>, StorageError> {
    hex::decode(&s.0)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| StorageError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("not hex: {e}"),
        })
}

fn write_file(path: &Path, file: &KeyFileV1) -> Result<(), StorageError> {
    let err = |reason: String| StorageError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let json =
        zeroize::Zeroizing::new(serde_json::to_vec_pretty(file).map_err(|e| err(e.to_string()))?);
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| err(e.to_string()))?;
    f.write_all(&json).map_err(|e| err(e.to_string()))?;
    f.sync_all().map_err(|e| err(e.to_string()))
}

fn read_file(path: &Path) -> Result<KeyFileV1, StorageError> {
    let err = |reason: String| StorageError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StorageError::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| err(e.to_string()))?);
    let file: KeyFileV1 =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("not a MedBlock key file: {e}")))?;
    if file.version != 1 {
        return Err(err(format!(
            "key file version {} is not supported",
            file.version
        )));
    }
    Ok(file)
}
