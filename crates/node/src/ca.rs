//! `medblock ca`: the certificate authority's commands. The CA keeps its key file and a TOML
//! register of what it issued and revoked in one directory; it writes node certificates and
//! genesis, and signs configuration changes (a certificate issued after genesis, a revocation,
//! a region, consensus parameters) for a running network to decide (`--node`).

use anyhow::{Context, Result, ensure};
use medblock_core::cert::{CertificateAuthority, parse_role, role_name};
use medblock_core::config::sign_change;
use medblock_core::genesis::{GenesisSpec, build_genesis, default_params};
use medblock_core::keys::{Identity, SigningKey};
use medblock_core::wire;
use medblock_core::wire::config_change_body::Change;
use medblock_p2p::peer_id_bytes;
use medblock_storage::keyfile::{load_identity, load_signing_key, save_identity, save_signing_key};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File names inside a CA directory and a node directory.
pub mod files {
    /// The CA's signing key.
    pub const CA_KEY: &str = "ca.key";
    /// The CA's register.
    pub const CA_REGISTER: &str = "ca.toml";
    /// A node's keys.
    pub const NODE_KEY: &str = "node.key";
    /// A node's certificate.
    pub const CERTIFICATE: &str = "certificate.pb";
    /// Genesis.
    pub const GENESIS: &str = "genesis.pb";
    /// A node's config.
    pub const CONFIG: &str = "node.toml";
}

/// One issued certificate, as the register keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issued {
    /// Serial.
    pub serial: u64,
    /// Holder name.
    pub name: String,
    /// Holder key (hex).
    pub key: String,
    /// Region.
    pub region: String,
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// Roles.
    pub roles: Vec<String>,
    /// The certificate (hex of its protobuf bytes).
    pub certificate: String,
}

/// The CA's register.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Register {
    /// Network name.
    pub network: String,
    /// Regions.
    pub regions: Vec<String>,
    /// Next serial to issue.
    pub next_serial: u64,
    /// Revocation list version last signed.
    pub revocation_version: u64,
    /// Revoked serials.
    pub revoked: Vec<u64>,
    /// Everything issued.
    pub issued: Vec<Issued>,
}

fn read_register(dir: &Path) -> Result<Register> {
    let path = dir.join(files::CA_REGISTER);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} (run `medblock ca init --dir {}` first)",
            path.display(),
            dir.display()
        )
    })?;
    toml::from_str(&text).with_context(|| format!("{} is not a CA register", path.display()))
}

fn write_register(dir: &Path, r: &Register) -> Result<()> {
    let path = dir.join(files::CA_REGISTER);
    let tmp = dir.join(format!("{}.tmp", files::CA_REGISTER));
    std::fs::write(&tmp, toml::to_string_pretty(r)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

fn load_ca(dir: &Path) -> Result<CertificateAuthority> {
    Ok(CertificateAuthority::new(load_signing_key(
        &dir.join(files::CA_KEY),
    )?))
}

/// `ca init`: a new CA key and an empty register.
pub fn init(dir: &Path, network: &str, regions: &[String]) -> Result<String> {
    ensure!(!regions.is_empty(), "name at least one region");
    std::fs::create_dir_all(dir)?;
    let key_path = dir.join(files::CA_KEY);
    ensure!(
        !key_path.exists(),
        "{} already exists: this directory holds a CA",
        key_path.display()
    );
    let key = SigningKey::generate(&mut rand::rng());
    save_signing_key(&key_path, "medblock CA", &key)?;
    write_register(
        dir,
        &Register {
            network: network.to_owned(),
            regions: regions.to_vec(),
            next_serial: 1,
            revocation_version: 0,
            revoked: Vec::new(),
            issued: Vec::new(),
        },
    )?;
    Ok(key.public().to_hex())
}

/// What `ca issue` binds.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Holder name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Hospital.
    pub hospital: String,
    /// Department (clients).
    pub department: String,
    /// Roles by name.
    pub roles: Vec<String>,
    /// Directory holding (or to receive) the holder's key file; the certificate is written there.
    pub node_dir: PathBuf,
    /// Validity in days.
    pub days: u64,
}

/// `ca issue`: certifies the key in the node directory (creating it if absent).
pub fn issue(dir: &Path, req: &IssueRequest, now_ms: u64) -> Result<Issued> {
    let ca = load_ca(dir)?;
    let mut reg = read_register(dir)?;
    ensure!(
        reg.regions.contains(&req.region),
        "region {:?} is not one of the network's regions {:?}",
        req.region,
        reg.regions
    );
    let mut roles = Vec::new();
    for r in &req.roles {
        roles.push(parse_role(r).with_context(|| format!("unknown role {r:?}"))?);
    }
    ensure!(!roles.is_empty(), "give at least one role");
    if roles.contains(&wire::Role::Client) {
        ensure!(
            !req.department.is_empty(),
            "a client (department) certificate needs --department"
        );
    }
    std::fs::create_dir_all(&req.node_dir)?;
    let key_path = req.node_dir.join(files::NODE_KEY);
    let identity = if key_path.exists() {
        load_identity(&key_path)?
    } else {
        let id = Identity::generate(&mut rand::rng());
        save_identity(&key_path, &req.name, &id)?;
        id
    };
    let serial = reg.next_serial;
    let key = identity.signing.public();
    let cert = ca.issue(wire::CertificateBody {
        serial,
        name: req.name.clone(),
        hospital: req.hospital.clone(),
        department: req.department.clone(),
        region: req.region.clone(),
        roles: roles.iter().map(|r| *r as i32).collect(),
        public_key: key.as_bytes().to_vec(),
        sealing_key: identity.sealing.public().0.to_vec(),
        peer_id: peer_id_bytes(&key),
        not_before_ms: now_ms.saturating_sub(60_000),
        not_after_ms: now_ms.saturating_add(req.days.saturating_mul(86_400_000)),
        issuer_key: Vec::new(),
    });
    let bytes = cert.encode_to_vec();
    std::fs::write(req.node_dir.join(files::CERTIFICATE), &bytes)?;
    let issued = Issued {
        serial,
        name: req.name.clone(),
        key: key.to_hex(),
        region: req.region.clone(),
        hospital: req.hospital.clone(),
        department: req.department.clone(),
        roles: roles.iter().map(|r| role_name(*r).to_owned()).collect(),
        certificate: hex::encode(&bytes),
    };
    reg.next_serial += 1;
    reg.issued.push(issued.clone());
    write_register(dir, &reg)?;
    Ok(issued)
}

/// `ca genesis`: signs a genesis naming every certificate issued so far (the founding members).
pub fn genesis(
    dir: &Path,
    out: &Path,
    params: Option<wire::ConsensusParams>,
    now_ms: u64,
) -> Result<String> {
    let ca = load_ca(dir)?;
    let reg = read_register(dir)?;
    ensure!(
        !reg.issued.is_empty(),
        "issue the founding nodes' certificates first"
    );
    let mut certificates = Vec::new();
    for i in &reg.issued {
        let bytes = hex::decode(&i.certificate)?;
        certificates.push(wire::Certificate::decode(bytes.as_slice())?);
    }
    let regulator = regulator_of(&certificates)?;
    let genesis = build_genesis(
        &ca,
        &GenesisSpec {
            network: reg.network.clone(),
            regions: reg.regions.clone(),
            certificates,
            regulator,
            params: params.unwrap_or_else(default_params),
            created_at_ms: now_ms,
        },
    );
    let bytes = genesis.encode_to_vec();
    std::fs::write(out, &bytes)?;
    let verified = medblock_core::genesis::verify_genesis(&bytes)?;
    Ok(verified.hash.to_hex())
}

/// The regulator genesis names: the first founding certificate with role REGULATOR (its
/// signing and sealing keys), so the CA grants regulator access by issuing that role.
fn regulator_of(
    certificates: &[wire::Certificate],
) -> Result<Option<(medblock_core::PublicKey, medblock_core::SealingPublic)>> {
    for c in certificates {
        let body = wire::CertificateBody::decode(c.body.as_slice())?;
        if body.roles.contains(&(wire::Role::Regulator as i32)) {
            let key = medblock_core::PublicKey::from_slice(&body.public_key)?;
            let sealing = medblock_core::SealingPublic::from_slice(&body.sealing_key)?;
            return Ok(Some((key, sealing)));
        }
    }
    Ok(None)
}

/// Where `ca` keeps the configuration changes it signed (one file each, named by kind and
/// subject), so an operator can submit one again or show what was signed.
pub fn changes_dir(dir: &Path) -> PathBuf {
    dir.join("changes")
}

fn keep_change(dir: &Path, name: &str, change: &wire::ConfigChange) -> Result<Vec<u8>> {
    let bytes = change.encode_to_vec();
    let out = changes_dir(dir);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join(format!("{name}.pb")), &bytes)?;
    Ok(bytes)
}

/// `ca issue --node`: the configuration change that puts the certificate `serial` (issued by
/// [`issue`]) on the ledger, signed by the CA.
pub fn issue_change(dir: &Path, serial: u64, now_ms: u64) -> Result<Vec<u8>> {
    let ca = load_ca(dir)?;
    let reg = read_register(dir)?;
    let issued = reg
        .issued
        .iter()
        .find(|i| i.serial == serial)
        .with_context(|| format!("serial {serial} was never issued by this CA"))?;
    let cert = wire::Certificate::decode(hex::decode(&issued.certificate)?.as_slice())?;
    let change = sign_change(&ca, Change::Issue(cert), now_ms);
    keep_change(dir, &format!("issue-{serial}"), &change)
}

/// `ca revoke`: the configuration change revoking `serial`, signed by the CA; the register
/// records it. It is in force from the height of the block that decides it.
pub fn revoke_change(dir: &Path, serial: u64, reason: &str, now_ms: u64) -> Result<Vec<u8>> {
    let ca = load_ca(dir)?;
    let mut reg = read_register(dir)?;
    ensure!(
        reg.issued.iter().any(|i| i.serial == serial),
        "serial {serial} was never issued by this CA"
    );
    let change = sign_change(
        &ca,
        Change::Revoke(wire::Revocation {
            serial,
            reason: reason.to_owned(),
        }),
        now_ms,
    );
    if !reg.revoked.contains(&serial) {
        reg.revoked.push(serial);
        write_register(dir, &reg)?;
    }
    keep_change(dir, &format!("revoke-{serial}"), &change)
}

/// `ca add-region`: the configuration change adding region `name`, signed by the CA; the
/// register gains the region, so certificates can name it.
pub fn add_region_change(dir: &Path, name: &str, now_ms: u64) -> Result<Vec<u8>> {
    let ca = load_ca(dir)?;
    let mut reg = read_register(dir)?;
    ensure!(!name.trim().is_empty(), "give the region a name");
    if !reg.regions.iter().any(|r| r == name) {
        reg.regions.push(name.to_owned());
        write_register(dir, &reg)?;
    }
    let change = sign_change(&ca, Change::AddRegion(name.to_owned()), now_ms);
    keep_change(dir, &format!("region-{name}"), &change)
}

/// `ca params`: the configuration change setting the complete consensus parameters `params`.
pub fn params_change(dir: &Path, params: wire::ConsensusParams, now_ms: u64) -> Result<Vec<u8>> {
    let ca = load_ca(dir)?;
    let change = sign_change(&ca, Change::Params(params), now_ms);
    keep_change(dir, &format!("params-{now_ms}"), &change)
}

/// The serial of the certificate issued to `name`.
pub fn serial_of(dir: &Path, name: &str) -> Result<u64> {
    let reg = read_register(dir)?;
    reg.issued
        .iter()
        .rev()
        .find(|i| i.name == name)
        .map(|i| i.serial)
        .with_context(|| format!("no certificate issued to {name:?}"))
}
