//! Uploading hand-made events straight to an endorser over the network, as a department
//! (certified or Byzantine) could: for tests of the endorser's upload rules.

#![allow(dead_code)]

use super::cluster::{Cluster, block_on};
use medblock_core::authorization::{AuthorizationTerms, VerifiedAuthorization, sign_authorization};
use medblock_core::event::{NewAuthorizedEvent, build_authorized_event};
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::wire::{self, net_request, net_response};
use prost::Message as _;
use std::time::{Duration, Instant};

pub const HOUR: u64 = 3_600_000;

pub fn now() -> u64 {
    medblock_actors::clock::now_ms()
}

/// `patient`'s authorization for `hospital` (every department), valid an hour back and a day on.
pub fn authorization(patient: &Identity, hospital: &str, serial: u64) -> VerifiedAuthorization {
    let t = now();
    VerifiedAuthorization::from_signed(sign_authorization(
        &patient.signing,
        &patient.sealing.public(),
        &AuthorizationTerms {
            hospital: hospital.into(),
            departments: Vec::new(),
            serial,
            not_before_ms: t - HOUR,
            not_after_ms: t + 24 * HOUR,
        },
    ))
    .expect("the patient's own authorization")
}

/// A visit of h1/cardiology under `auth`, with `diagnosis` as its content.
pub fn visit(
    auth: &VerifiedAuthorization,
    provider: &Identity,
    sequence: u64,
    diagnosis: &str,
) -> wire::Event {
    let summary = wire::Summary {
        diagnosis: diagnosis.into(),
        ..Default::default()
    };
    build_authorized_event(
        &NewAuthorizedEvent {
            summary: &summary,
            sequence,
            hospital: "h1",
            department: "cardiology",
            authorization: auth,
            provider: &provider.signing,
            regulator: None,
            created_at_ms: now(),
        },
        &mut rand::rng(),
    )
}

/// Sends `events` in one upload batch from node `from` to `endorser`.
pub fn upload(
    c: &Cluster,
    from: usize,
    endorser: PublicKey,
    events: &[wire::Event],
) -> wire::BatchAnswer {
    let batch = wire::NetRequest {
        kind: Some(net_request::Kind::UploadBatch(wire::UploadBatch {
            uploads: events
                .iter()
                .map(|e| wire::Upload {
                    event: Some(e.clone()),
                    upload_within_ms: 0,
                })
                .collect(),
        })),
    };
    let net = c.node(from).node.ctx.net.clone();
    let answer = block_on(async move { net.request(endorser, batch).await }).expect("answered");
    match answer.kind {
        Some(net_response::Kind::BatchAnswer(a)) => a,
        other => panic!("not a batch answer: {other:?}"),
    }
}

/// The refusals of an answer: (index, code, message).
pub fn refusals(a: &wire::BatchAnswer) -> Vec<(u32, i32, String)> {
    a.refused
        .iter()
        .map(|r| {
            let e = r.error.clone().unwrap_or_default();
            (r.index, e.code, e.message)
        })
        .collect()
}

/// The receipts of an answer (its signed batch receipt's bodies; unchecked).
pub fn receipts(a: &wire::BatchAnswer) -> Vec<wire::ReceiptBody> {
    a.receipt
        .as_ref()
        .and_then(|r| wire::ReceiptBatchBody::decode(r.body.as_slice()).ok())
        .map(|b| b.receipts)
        .unwrap_or_default()
}

/// Whether `endorser` answers (hospital, department, sequence) as committed.
pub fn committed(
    c: &Cluster,
    from: usize,
    endorser: PublicKey,
    h: &str,
    d: &str,
    seq: u64,
) -> bool {
    let net = c.node(from).node.ctx.net.clone();
    let query = wire::NetRequest {
        kind: Some(net_request::Kind::Receipts(wire::ReceiptQuery {
            hospital: h.into(),
            department: d.into(),
            sequences: vec![seq],
        })),
    };
    let Ok(wire::NetResponse {
        kind: Some(net_response::Kind::Receipts(list)),
    }) = block_on(async move { net.request(endorser, query).await })
    else {
        return false;
    };
    list.receipts
        .iter()
        .filter_map(|r| wire::ReceiptBody::decode(r.body.as_slice()).ok())
        .any(|b| b.sequence == seq && b.status == wire::ReceiptStatus::Committed as i32)
}

/// Waits until `done`, failing after `timeout`.
pub fn wait(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The elected endorser of `region` as node `from` sees it, and the index of the node that
/// runs it.
pub fn endorser_of(c: &Cluster, from: usize, region: &str) -> (PublicKey, usize) {
    let hex = c
        .status(from)
        .endorsers
        .into_iter()
        .find(|r| r.region == region)
        .and_then(|r| r.endorser)
        .expect("the region has an endorser");
    let key = PublicKey::from_hex(&hex).expect("endorser key");
    let node = c
        .running()
        .into_iter()
        .find(|i| c.status(*i).key == hex)
        .expect("the endorser runs here");
    (key, node)
}
