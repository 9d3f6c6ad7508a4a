//! Extra department credentials of a hospital's client node. A hospital that imports records
//! from its own systems (e.g. FHIR) files each visit under the department that saw the patient;
//! an event's department must match the certificate of the key that signs it, so the node holds
//! one CA-issued key and certificate per department it submits for, under
//! `data/departments/<department>/{node.key, certificate.pb}` (what `medblock ca issue
//! --node-dir` writes). Certificates are known network-wide once on the ledger: genesis, or a
//! configuration change decided later (`medblock ca issue --node URL`).

use crate::error::ActorError;
use crate::shared::Ctx;
use medblock_core::keys::Identity;
use medblock_core::wire::{self, Role};
use medblock_storage::keyfile::load_identity;
use prost::Message as _;
use std::collections::HashMap;
use std::path::Path;

/// Key file name inside a department directory (as `medblock ca issue` writes it).
pub const KEY_FILE: &str = "node.key";
/// Certificate file name inside a department directory.
pub const CERTIFICATE_FILE: &str = "certificate.pb";

/// Loads every department directory under `dir` (absent: none). Each certificate must be
/// CA-signed, for the key beside it, with role CLIENT, for this node's hospital; anything else
/// stops the node with a configuration error rather than producing events endorsers refuse.
pub fn load(dir: &Path, ctx: &Ctx) -> Result<HashMap<String, Identity>, ActorError> {
    let mut out = HashMap::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let hospital = ctx.certificate.body.hospital.clone();
    for entry in read.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let bad = |why: String| ActorError::Config(format!("{}: {why}", path.display()));
        let bytes = std::fs::read(path.join(CERTIFICATE_FILE)).map_err(|e| bad(e.to_string()))?;
        let cert = wire::Certificate::decode(bytes.as_slice())
            .map_err(|e| bad(format!("certificate does not decode: {e}")))?;
        let identity = load_identity(&path.join(KEY_FILE))?;
        // The CA's signature here; whether endorsers take its events is the ledger's say (a
        // department certified after genesis uploads once its certificate is decided).
        let verified = medblock_core::cert::verify_certificate(ctx.config().trust().ca(), &cert)?;
        if verified.key != identity.signing.public() {
            return Err(bad("the certificate is for another key".into()));
        }
        if !verified.roles().contains(&Role::Client) {
            return Err(bad("the certificate lacks the client role".into()));
        }
        if verified.body.hospital != hospital || verified.body.department.is_empty() {
            return Err(bad(format!(
                "the certificate is for {}/{}, not a department of {hospital}",
                verified.body.hospital, verified.body.department
            )));
        }
        tracing::info!(
            department = verified.body.department,
            "department credentials loaded"
        );
        out.insert(verified.body.department.clone(), identity);
    }
    Ok(out)
}
