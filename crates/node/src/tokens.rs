//! API tokens of a node's HTTP API: the operator issues them (`medblock node token create`),
//! hospital systems present them (`Authorization: Bearer <token>`), the operator revokes them
//! (`medblock node token revoke`).
//!
//! The node keeps only each token's SHA-256, with an id, a name and when it was created (and
//! revoked), in `DATA_DIR/api-tokens.json` (mode 0600, written whole to a temporary file and
//! renamed over the old one, under an advisory lock so two commands do not lose each other's
//! change). The secret is printed once, when the token is created, and never stored.
//!
//! A running node checks a presented token against the file through a [`TokenVerifier`], which
//! stats the file on every request and reads it again when it changed (size, mtime, inode), so
//! a token created or revoked while the node runs counts from the next request on.

use medblock_core::hash::sha256;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The token file's name inside a node's data directory.
pub const TOKEN_FILE: &str = "api-tokens.json";

/// Prefix of every token, so one is recognisable in a config file or a leak scanner.
pub const TOKEN_PREFIX: &str = "mbt_";

/// The version of the file format.
const VERSION: u32 = 1;

/// Errors of the token store.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file (or its lock or temporary file) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a token file this version understands.
    #[error("{} is not a valid API token file: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A token name that is empty, too long or has characters outside `A-Z a-z 0-9 . _ - @`.
    #[error("bad token name {0:?}: 1 to 64 characters of A-Z a-z 0-9 . _ - @")]
    BadName(String),
    /// An active token already has this name.
    #[error("an active token is already named {0:?} (revoke it first, or choose another name)")]
    NameTaken(String),
    /// No token has this id or name.
    #[error("no API token has the id or name {0:?}")]
    Unknown(String),
    /// The name is shared by several tokens that are still active.
    #[error("{name:?} names {count} active tokens; revoke by id")]
    Ambiguous {
        /// The name given.
        name: String,
        /// How many active tokens bear it.
        count: usize,
    },
}

/// One token as the file keeps it: never the secret, only its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Short random id (hex), for `token revoke` and the logs.
    pub id: String,
    /// The operator's label (who or what holds it).
    pub name: String,
    /// SHA-256 of the token's text, hex.
    pub sha256: String,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
    /// When it was revoked (Unix ms), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
}

impl TokenRecord {
    /// Not revoked.
    pub fn active(&self) -> bool {
        self.revoked_at_ms.is_none()
    }
}

/// A token as `token list` shows it: everything but its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
    /// When it was revoked (Unix ms), if it was.
    pub revoked_at_ms: Option<u64>,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(r: &TokenRecord) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            created_at_ms: r.created_at_ms,
            revoked_at_ms: r.revoked_at_ms,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// Format version (1).
    pub version: u32,
    /// Every token ever created here, revoked ones included.
    pub tokens: Vec<TokenRecord>,
}

impl Default for TokenFile {
    fn default() -> Self {
        Self {
            version: VERSION,
            tokens: Vec::new(),
        }
    }
}

/// A newly created token: its record and the secret, which exists nowhere else.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What the file keeps.
    pub info: TokenInfo,
    /// The token's text (`mbt_` and 64 hex digits), to hand to the hospital system once.
    pub secret: String,
}

/// The hex SHA-256 of a token's text.
pub fn hash_token(token: &str) -> String {
    sha256(token.as_bytes()).to_hex()
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The token file of the node whose data directory is `data_dir`.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// The token file: create, revoke, list.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// The store in file `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The store of the node whose data directory is `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(store_path(data_dir))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, path: &Path, source: std::io::Error) -> TokenError {
        let _ = self;
        TokenError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Parses the file's text.
    pub fn parse(&self, text: &str) -> Result<TokenFile, TokenError> {
        let bad = |reason: String| TokenError::Malformed {
            path: self.path.clone(),
            reason,
        };
        let file: TokenFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.version != VERSION {
            return Err(bad(format!(
                "version {} (this node reads {VERSION})",
                file.version
            )));
        }
        let mut ids = std::collections::HashSet::new();
        for t in &file.tokens {
            if t.id.is_empty() || !ids.insert(t.id.as_str()) {
                return Err(bad(format!("token id {:?} is empty or repeated", t.id)));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "token {:?} has no SHA-256 (64 hex digits)",
                    t.id
                )));
            }
        }
        Ok(file)
    }

    /// Reads the file; no file is no token.
    pub fn load(&self) -> Result<TokenFile, TokenError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => self.parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(self.io(&self.path, e)),
        }
    }

    /// Writes `file` whole: a temporary file (mode 0600) in the same directory, synced, renamed
    /// over the old one, and the directory synced.
    fn save(&self, file: &TokenFile) -> Result<(), TokenError> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        let text = serde_json::to_string_pretty(file).map_err(|e| TokenError::Malformed {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self
            .path
            .with_extension(format!("json.tmp.{}", std::process::id()));
        replace_private(&self.path, &tmp, text.as_bytes())?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Runs `change` on the file's content under an exclusive lock and saves the result.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut TokenFile) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let lock_path = self.path.with_extension("json.lock");
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| self.io(&lock_path, e))?;
        // SAFETY: flock on a file descriptor this function owns; released when `lock` drops.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        if rc != 0 {
            return Err(self.io(&lock_path, std::io::Error::last_os_error()));
        }
        let mut file = self.load()?;
        let out = change(&mut file)?;
        self.save(&file)?;
        drop(lock);
        Ok(out)
    }

    /// Creates a token named `name`; its secret is returned once and only its hash is kept.
    pub fn create(&self, name: &str, now_ms: u64) -> Result<NewToken, TokenError> {
        if !valid_name(name) {
            return Err(TokenError::BadName(name.to_owned()));
        }
        self.update(|file| {
            if file.tokens.iter().any(|t| t.active() && t.name == name) {
                return Err(TokenError::NameTaken(name.to_owned()));
            }
            let secret = format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
            let mut id = hex::encode(rand::random::<[u8; 6]>());
            while file.tokens.iter().any(|t| t.id == id) {
                id = hex::encode(rand::random::<[u8; 6]>());
            }
            let record = TokenRecord {
                id,
                name: name.to_owned(),
                sha256: hash_token(&secret),
                created_at_ms: now_ms,
                revoked_at_ms: None,
            };
            let info = TokenInfo::from(&record);
            file.tokens.push(record);
            Ok(NewToken { info, secret })
        })
    }

    /// Revokes the token with id `id_or_name`, or the one active token named so. Revoking a
    /// revoked token changes nothing.
    pub fn revoke(&self, id_or_name: &str, now_ms: u64) -> Result<TokenInfo, TokenError> {
        self.update(|file| {
            let index = match file.tokens.iter().position(|t| t.id == id_or_name) {
                Some(i) => i,
                None => {
                    let named: Vec<usize> = (0..file.tokens.len())
                        .filter(|i| file.tokens[*i].name == id_or_name && file.tokens[*i].active())
                        .collect();
                    match named.as_slice() {
                        [i] => *i,
                        [] => return Err(TokenError::Unknown(id_or_name.to_owned())),
                        many => {
                            return Err(TokenError::Ambiguous {
                                name: id_or_name.to_owned(),
                                count: many.len(),
                            });
                        }
                    }
                }
            };
            let t = &mut file.tokens[index];
            if t.revoked_at_ms.is_none() {
                t.revoked_at_ms = Some(now_ms);
            }
            Ok(TokenInfo::from(&*t))
        })
    }

    /// Every token (no secret, no hash).
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.load()?.tokens.iter().map(TokenInfo::from).collect())
    }
}

/// Why a presented token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    #[error(
        "this endpoint needs an API token: send `Authorization: Bearer <token>` (the node's operator issues one with `medblock node token create`)"
    )]
    Missing,
    /// A token this node never issued.
    #[error("the API token is not valid at this node")]
    Unknown,
    /// A token the operator revoked.
    #[error("the API token was revoked")]
    Revoked,
    /// The token file cannot be read: nothing is let in until it is fixed.
    #[error("the node's API token file cannot be read: {0}")]
    Store(String),
}

/// Who a request was let in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id.
    pub id: String,
    /// The token's name.
    pub name: String,
}

/// What identifies a version of the file: size, mtime and inode (a rename makes a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

#[derive(Debug, Default)]
struct Loaded {
    /// `None`: no file (no token).
    stamp: Option<Stamp>,
    /// Hash → (record, active).
    by_hash: HashMap<String, TokenRecord>,
    /// Why the file could not be read, if it could not.
    error: Option<String>,
}

/// Checks presented tokens against a [`TokenStore`], reading the file again whenever it
/// changed (a `stat` per check).
#[derive(Debug)]
pub struct TokenVerifier {
    store: TokenStore,
    loaded: Mutex<Option<Loaded>>,
}

impl TokenVerifier {
    /// A verifier of `store`'s tokens.
    pub fn new(store: TokenStore) -> Self {
        Self {
            store,
            loaded: Mutex::new(None),
        }
    }

    /// The store.
    pub fn store(&self) -> &TokenStore {
        &self.store
    }

    fn stamp(&self) -> Result<Option<Stamp>, std::io::Error> {
        match std::fs::metadata(self.store.path()) {
            Ok(m) => Ok(Some(Stamp {
                len: m.len(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
                ino: m.ino(),
                dev: m.dev(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read(&self, stamp: Option<Stamp>) -> Loaded {
        match self.store.load() {
            Ok(file) => Loaded {
                stamp,
                by_hash: file
                    .tokens
                    .into_iter()
                    .map(|t| (t.sha256.to_ascii_lowercase(), t))
                    .collect(),
                error: None,
            },
            Err(e) => Loaded {
                stamp,
                by_hash: HashMap::new(),
                error: Some(e.to_string()),
            },
        }
    }

    /// Reads the file again if it changed since the last check; the error if it cannot be read.
    pub fn refresh(&self) -> Result<(), TokenError> {
        let stamp = self.stamp().map_err(|e| TokenError::Io {
            path: self.store.path().to_owned(),
            source: e,
        })?;
        let mut guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let stale = guard.as_ref().is_none_or(|l| l.stamp != stamp);
        if stale {
            *guard = Some(self.read(stamp));
        }
        match guard.as_ref().and_then(|l| l.error.clone()) {
            Some(reason) => Err(TokenError::Malformed {
                path: self.store.path().to_owned(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Checks a presented token (`None`: none was presented).
    pub fn verify(&self, presented: Option<&str>) -> Result<Caller, Refusal> {
        if let Err(e) = self.refresh() {
            return Err(Refusal::Store(e.to_string()));
        }
        let Some(token) = presented.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(Refusal::Missing);
        };
        let hash = hash_token(token);
        let guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref().and_then(|l| l.by_hash.get(&hash)) {
            Some(t) if t.active() => Ok(Caller {
                id: t.id.clone(),
                name: t.name.clone(),
            }),
            Some(_) => Err(Refusal::Revoked),
            None => Err(Refusal::Unknown),
        }
    }
}

/// Reads a token from a file (its first non-empty line, trimmed).
pub fn read_token_file(path: &Path) -> Result<String, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|e| TokenError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| TokenError::Malformed {
            path: path.to_owned(),
            reason: "the file holds no token".into(),
        })
}

/// Writes a token's secret to `path` (mode 0600, replacing the file atomically).
pub fn write_token_file(path: &Path, secret: &str) -> Result<(), TokenError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "api-token".into());
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    replace_private(path, &tmp, secret.as_bytes())
}

/// Replaces `path` atomically with `bytes` and a newline, readable by its owner only: written
/// and synced to `tmp` (mode 0600), then renamed over `path`; `tmp` is removed on failure.
fn replace_private(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), TokenError> {
    let io = |p: &Path, e| TokenError::Io {
        path: p.to_owned(),
        source: e,
    };
    let _ = std::fs::remove_file(tmp);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(tmp);
        return Err(io(tmp, e));
    }
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().expect("dir");
        let store = TokenStore::in_data_dir(&dir.path().join("data"));
        (dir, store)
    }

    #[test]
    fn a_created_token_verifies_and_only_its_hash_is_stored() {
        let (_d, store) = store();
        let t = store.create("front-desk", 1_000).expect("created");
        assert!(t.secret.starts_with(TOKEN_PREFIX));
        assert_eq!(t.secret.len(), TOKEN_PREFIX.len() + 64);
        let text = std::fs::read_to_string(store.path()).expect("file");
        assert!(!text.contains(&t.secret), "the secret is never stored");
        assert!(text.contains(&hash_token(&t.secret)));
        let mode = std::fs::metadata(store.path())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let v = TokenVerifier::new(store.clone());
        let caller = v.verify(Some(&t.secret)).expect("valid");
        assert_eq!(caller.name, "front-desk");
        assert_eq!(caller.id, t.info.id);
        assert!(matches!(v.verify(None), Err(Refusal::Missing)));
        assert!(matches!(v.verify(Some("")), Err(Refusal::Missing)));
        assert!(matches!(
            v.verify(Some(&format!("{}0", t.secret))),
            Err(Refusal::Unknown)
        ));
        let list = store.list().expect("list");
        assert_eq!(list, vec![t.info.clone()]);
    }

    #[test]
    fn a_running_verifier_sees_tokens_created_and_revoked_after_it_started() {
        let (_d, store) = store();
        let v = TokenVerifier::new(store.clone());
        // No file: no token, and nothing is let in.
        assert!(matches!(v.verify(Some("mbt_x")), Err(Refusal::Unknown)));
        let a = store.create("a", 1).expect("a");
        assert!(v.verify(Some(&a.secret)).is_ok(), "created after start");
        let b = store.create("b", 2).expect("b");
        assert!(v.verify(Some(&b.secret)).is_ok());
        store.revoke("a", 3).expect("revoked by name");
        assert!(matches!(v.verify(Some(&a.secret)), Err(Refusal::Revoked)));
        assert!(v.verify(Some(&b.secret)).is_ok(), "b is still valid");
        store.revoke(&b.info.id, 4).expect("revoked by id");
        assert!(matches!(v.verify(Some(&b.secret)), Err(Refusal::Revoked)));
        let list = store.list().expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].revoked_at_ms, Some(3));
        assert_eq!(list[1].revoked_at_ms, Some(4));
        // Revoking again keeps the first time.
        assert_eq!(
            store.revoke(&b.info.id, 9).expect("again").revoked_at_ms,
            Some(4)
        );
    }

    #[test]
    fn names_are_checked_and_revocation_needs_a_known_unambiguous_token() {
        let (_d, store) = store();
        assert!(matches!(store.create("", 1), Err(TokenError::BadName(_))));
        assert!(matches!(
            store.create("a b", 1),
            Err(TokenError::BadName(_))
        ));
        store.create("desk", 1).expect("desk");
        assert!(matches!(
            store.create("desk", 2),
            Err(TokenError::NameTaken(_))
        ));
        assert!(matches!(
            store.revoke("nobody", 3),
            Err(TokenError::Unknown(_))
        ));
        store.revoke("desk", 3).expect("revoked");
        // The name is free again once its token is revoked.
        store.create("desk", 4).expect("desk again");
        store.revoke("desk", 5).expect("the active one");
        assert!(matches!(
            store.revoke("desk", 6),
            Err(TokenError::Unknown(_))
        ));
    }

    #[test]
    fn a_malformed_file_is_a_typed_error_and_lets_nobody_in() {
        let (_d, store) = store();
        let good = store.create("desk", 1).expect("desk");
        let v = TokenVerifier::new(store.clone());
        assert!(v.verify(Some(&good.secret)).is_ok());
        for bad in [
            "not json",
            r#"{"version": 2, "tokens": []}"#,
            r#"{"version": 1, "tokens": [{"id": "a", "name": "x", "sha256": "zz", "created_at_ms": 1}]}"#,
            r#"{"version": 1, "tokens": [], "extra": 1}"#,
        ] {
            std::fs::write(store.path(), bad).expect("write");
            assert!(
                matches!(store.load(), Err(TokenError::Malformed { .. })),
                "{bad}"
            );
            assert!(matches!(store.list(), Err(TokenError::Malformed { .. })));
            assert!(matches!(
                store.create("other", 2),
                Err(TokenError::Malformed { .. })
            ));
            assert!(matches!(v.refresh(), Err(TokenError::Malformed { .. })));
            assert!(
                matches!(v.verify(Some(&good.secret)), Err(Refusal::Store(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_token_file_is_written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("api-token");
        write_token_file(&path, "mbt_abc").expect("written");
        assert_eq!(read_token_file(&path).expect("read"), "mbt_abc");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "\n\n").expect("write");
        assert!(matches!(
            read_token_file(&path),
            Err(TokenError::Malformed { .. })
        ));
    }
}
