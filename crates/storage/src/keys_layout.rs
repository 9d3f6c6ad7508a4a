//! How keys are laid out in the column families, in one place so readers and writers agree.

use medblock_core::Hash32;
use medblock_core::crumbs::{DepartmentId, Pseudonym};

/// Column family of block skeletons (everything but the events), by block id.
pub const CF_BLOCKS: &str = "blocks";
/// Column family of event bytes by (block id, index), and the event-key index.
pub const CF_EVENTS: &str = "events";
/// Column family of bread crumbs.
pub const CF_CRUMBS: &str = "breadcrumbs";
/// Column family of the tip and the height → block id index.
pub const CF_META: &str = "meta";
/// Every column family the ledger uses.
pub const LEDGER_CFS: [&str; 4] = [CF_BLOCKS, CF_EVENTS, CF_CRUMBS, CF_META];

/// The tip record in `meta`.
pub const TIP_KEY: &[u8] = b"tip";

/// `p` + height: the catch-up proof kept with the block at that height.
pub fn proof_key(height: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'p';
    k[1..].copy_from_slice(&height.to_be_bytes());
    k
}

/// `r`: prefix of the recording authorizations patients revoked (see [`revocation_key`]).
pub const REVOCATION_PREFIX: u8 = b'r';

/// `r` + patient key + serial + hospital: a revoked recording authorization; the value is the
/// height of the block that holds the revocation.
pub fn revocation_key(id: &medblock_core::authorization::AuthorizationId) -> Vec<u8> {
    let mut k = Vec::with_capacity(41 + id.hospital.len());
    k.push(REVOCATION_PREFIX);
    k.extend_from_slice(id.patient.as_bytes());
    k.extend_from_slice(&id.serial.to_be_bytes());
    k.extend_from_slice(id.hospital.as_bytes());
    k
}

/// The authorization a [`revocation_key`] names.
pub fn parse_revocation_key(k: &[u8]) -> Option<medblock_core::authorization::AuthorizationId> {
    let rest = k.strip_prefix(&[REVOCATION_PREFIX])?;
    let patient = medblock_core::PublicKey::from_slice(rest.get(..32)?).ok()?;
    let serial = u64::from_be_bytes(rest.get(32..40)?.try_into().ok()?);
    let hospital = String::from_utf8(rest.get(40..)?.to_vec()).ok()?;
    Some(medblock_core::authorization::AuthorizationId {
        patient,
        hospital,
        serial,
    })
}

/// `c`: prefix of the configuration index (see [`config_key`]).
pub const CONFIG_PREFIX: u8 = b'c';

/// `c` + height: the block at that height carries configuration changes (the value is empty);
/// opening replays exactly these blocks to rebuild the configuration.
pub fn config_key(height: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = CONFIG_PREFIX;
    k[1..].copy_from_slice(&height.to_be_bytes());
    k
}

/// `h` + height: the id of the block at that height.
pub fn height_key(height: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'h';
    k[1..].copy_from_slice(&height.to_be_bytes());
    k
}

/// `e` + block id + index: one event's bytes.
pub fn event_key(block: &Hash32, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(37);
    k.push(b'e');
    k.extend_from_slice(block.as_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// `e` + block id: prefix of a block's events.
pub fn events_prefix(block: &Hash32) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'e');
    k.extend_from_slice(block.as_bytes());
    k
}

/// `k` + event key: where an event is (height + index), for duplicate checks and look-ups.
pub fn event_index_key(key: &medblock_core::EventKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'k');
    k.extend_from_slice(key.0.as_bytes());
    k
}

fn push_str(k: &mut Vec<u8>, s: &str) {
    k.extend_from_slice(&(s.len() as u32).to_be_bytes());
    k.extend_from_slice(s.as_bytes());
}

/// Prefix of all a patient's crumbs.
pub fn crumb_patient_prefix(p: &Pseudonym) -> Vec<u8> {
    p.0.as_bytes().to_vec()
}

/// Prefix of a patient's crumbs in one department.
pub fn crumb_department_prefix(p: &Pseudonym, d: &DepartmentId) -> Vec<u8> {
    let mut k = crumb_patient_prefix(p);
    push_str(&mut k, &d.hospital);
    push_str(&mut k, &d.department);
    k
}

/// A crumb's key: patient, department, then the inverted height so the newest block comes first.
pub fn crumb_key(p: &Pseudonym, d: &DepartmentId, height: u64) -> Vec<u8> {
    let mut k = crumb_department_prefix(p, d);
    k.extend_from_slice(&(u64::MAX - height).to_be_bytes());
    k
}

/// Reads the department and height back from a crumb key (after the 32-byte pseudonym).
pub fn parse_crumb_key(key: &[u8]) -> Option<(DepartmentId, u64)> {
    let rest = key.get(32..)?;
    let (hospital, rest) = take_str(rest)?;
    let (department, rest) = take_str(rest)?;
    let inv: [u8; 8] = rest.try_into().ok()?;
    Some((
        DepartmentId {
            hospital,
            department,
        },
        u64::MAX - u64::from_be_bytes(inv),
    ))
}

fn take_str(b: &[u8]) -> Option<(String, &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let s = b.get(4..4 + len)?;
    Some((String::from_utf8(s.to_vec()).ok()?, b.get(4 + len..)?))
}

/// The tip record: height, id, orderer timestamp.
pub fn encode_tip(tip: &medblock_core::ChainTip) -> [u8; 48] {
    let mut v = [0u8; 48];
    v[..8].copy_from_slice(&tip.height.to_be_bytes());
    v[8..40].copy_from_slice(tip.id.as_bytes());
    v[40..].copy_from_slice(&tip.timestamp_ms.to_be_bytes());
    v
}

/// Reads a tip record; `None` when it is not 48 bytes.
pub fn decode_tip(v: &[u8]) -> Option<medblock_core::ChainTip> {
    let height = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let id = Hash32::from_slice(v.get(8..40)?)?;
    let timestamp_ms = u64::from_be_bytes(v.get(40..48)?.try_into().ok()?);
    if v.len() != 48 {
        return None;
    }
    Some(medblock_core::ChainTip {
        height,
        id,
        timestamp_ms,
    })
}
