//! Recording authorizations on a real network (nodes over libp2p on 127.0.0.1, RocksDB): the
//! endorser admits only events a patient's authorization covers, the patient's revocation
//! reaches every node through the ledger, and from then on the endorser refuses new uploads
//! under it and an orderer refuses a block that carries one, even from a certified endorser.

mod common;

use common::cluster::{Cluster, block_on, standard, test_params};
use medblock_core::access::record;
use medblock_core::authorization::{
    AuthorizationId, AuthorizationTerms, RevokedAuthorizations, VerifiedAuthorization,
    sign_authorization,
};
use medblock_core::block::{ChainTip, PackRequest, pack_block};
use medblock_core::consensus::node::ChainValidator;
use medblock_core::event::{NewAuthorizedEvent, ParsedEvent, build_authorized_event};
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::wire::{self, error_reply::Code, net_request, net_response};
use prost::Message as _;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const HOUR: u64 = 3_600_000;

fn now() -> u64 {
    medblock_actors::clock::now_ms()
}

fn authorization(
    patient: &Identity,
    hospital: &str,
    serial: u64,
    from: u64,
    to: u64,
) -> VerifiedAuthorization {
    VerifiedAuthorization::from_signed(sign_authorization(
        &patient.signing,
        &patient.sealing.public(),
        &AuthorizationTerms {
            hospital: hospital.into(),
            departments: Vec::new(),
            serial,
            not_before_ms: from,
            not_after_ms: to,
        },
    ))
    .expect("the patient's own authorization")
}

/// An event of h1/cardiology under `auth`; `hospital_in_body` lets the department claim another
/// hospital's consent.
fn event(
    auth: &VerifiedAuthorization,
    provider: &Identity,
    sequence: u64,
    created_at_ms: u64,
) -> wire::Event {
    let summary = wire::Summary {
        diagnosis: format!("visit {sequence}"),
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
            created_at_ms,
        },
        &mut rand::rng(),
    )
}

fn upload(
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

fn refusals(a: &wire::BatchAnswer) -> Vec<(u32, i32, String)> {
    a.refused
        .iter()
        .map(|r| {
            let e = r.error.clone().unwrap_or_default();
            (r.index, e.code, e.message)
        })
        .collect()
}

fn committed(c: &Cluster, from: usize, endorser: PublicKey, h: &str, d: &str, seq: u64) -> bool {
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

fn wait(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn only_covered_unrevoked_authorizations_are_admitted_or_decided() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    let dept = c.index("h1-cardiology");
    let provider = c.options(dept).identity;
    let endorser_hex = c
        .status(dept)
        .endorsers
        .into_iter()
        .find(|r| r.region == "region-1")
        .and_then(|r| r.endorser)
        .expect("region-1 has an endorser");
    let endorser = PublicKey::from_hex(&endorser_hex).expect("endorser key");
    let endorser_node = c
        .running()
        .into_iter()
        .find(|i| c.status(*i).key == endorser_hex)
        .expect("the endorser runs here");

    let patient = Identity::generate(&mut rand::rng());
    let t = now();
    let auth = authorization(&patient, "h1", 1, t - HOUR, t + 24 * HOUR);
    let elsewhere = authorization(&patient, "h2", 2, t - HOUR, t + 24 * HOUR);
    let expired = authorization(&patient, "h1", 3, t - 48 * HOUR, t - 24 * HOUR);

    // Sequences far above the department's own, so its client never collides with them.
    let base = 2_000_000;
    let mut stolen = event(&auth, &provider, base + 3, t);
    let other = authorization(
        &Identity::generate(&mut rand::rng()),
        "h1",
        1,
        t - HOUR,
        t + HOUR,
    );
    stolen.authorization = other.signed.body.clone();
    let batch = vec![
        event(&auth, &provider, base, t),
        event(&elsewhere, &provider, base + 1, t),
        event(&expired, &provider, base + 2, t),
        stolen,
    ];
    let answer = upload(&c, dept, endorser, &batch);
    let refused = refusals(&answer);
    assert_eq!(
        refused.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![
            (1, Code::Rejected as i32),
            (2, Code::Rejected as i32),
            (3, Code::Rejected as i32)
        ],
        "{refused:?}"
    );
    assert!(
        refused[0].2.contains("made out to hospital \"h2\""),
        "{refused:?}"
    );
    assert!(refused[1].2.contains("covers"), "{refused:?}");
    assert!(refused[2].2.contains("authorization hash"), "{refused:?}");
    wait(
        "the covered visit to commit",
        Duration::from_secs(30),
        || committed(&c, dept, endorser, "h1", "cardiology", base),
    );

    // The patient revokes authorization 1 at h1: an access record he signs himself.
    let seq = rand::random::<u64>() >> 1;
    let revocation = record::build_access_event(
        &patient.signing,
        seq,
        &wire::AccessRecord {
            kind: Some(wire::access_record::Kind::RevokeAuthorization(
                wire::AuthorizationRevoke {
                    hospital: "h1".into(),
                    serial: 1,
                },
            )),
        },
        now(),
    );
    let answer = upload(&c, dept, endorser, &[revocation]);
    assert!(answer.refused.is_empty(), "{:?}", refusals(&answer));
    wait("the revocation to commit", Duration::from_secs(30), || {
        committed(
            &c,
            dept,
            endorser,
            record::ACCESS_HOSPITAL,
            record::CONSENT_DEPARTMENT,
            seq,
        )
    });
    let id = AuthorizationId {
        patient: patient.signing.public(),
        hospital: "h1".into(),
        serial: 1,
    };
    wait(
        "every node to know the revocation",
        Duration::from_secs(20),
        || {
            c.running().into_iter().all(|i| {
                let n = &c.node(i).node;
                n.ctx
                    .revoked
                    .read()
                    .map(|r| r.revoked_at(&id).is_some())
                    .unwrap_or(false)
            })
        },
    );

    // The endorser refuses a new visit under it.
    let late = event(&auth, &provider, base + 10, now());
    let answer = upload(&c, dept, endorser, std::slice::from_ref(&late));
    let refused = refusals(&answer);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].2.contains("revoked authorization 1"),
        "{refused:?}"
    );

    // A certified endorser that packs it anyway: the orderer's check refuses the block, and
    // without the revocation the very same block would pass. The check runs over a chain of
    // its own (an empty RocksDB ledger, the block first on it): the running orderer's ledger
    // is locked by its node, and only the revocation is under test here.
    let tip = ChainTip::GENESIS;
    let ledger_dir = tempfile::tempdir().expect("temp dir");
    let chain = medblock_actors::block_check::OrdererChain::new(std::sync::Arc::new(
        medblock_storage::Ledger::open(
            ledger_dir.path(),
            medblock_storage::OpenCheck::HashChain,
            1000,
        )
        .expect("ledger")
        .with_genesis(&c.node(0).node.ctx.genesis)
        .expect("configuration from genesis"),
    ));
    let counters = medblock_actors::shared::Counters::default();
    let mut stamped = late.clone();
    stamped.received_at_ms = now();
    let parsed = ParsedEvent::from_wire(stamped).expect("the event itself is well formed");
    let endorser_identity = c.options(endorser_node).identity;
    let mut block = pack_block(
        &PackRequest {
            tip,
            endorser: &endorser_identity.signing,
            region: "region-1",
            policy: wire::AccessPolicy::default(),
            packed_at_ms: now(),
            last_of_turn: false,
        },
        vec![parsed],
    );
    block.orderer_timestamp_ms = now();
    let payload = block.encode_to_vec();
    let orderer = c
        .running()
        .into_iter()
        .find(|i| c.status(*i).roles.iter().any(|r| r == "orderer"))
        .expect("an orderer");
    let ctx = c.node(orderer).node.ctx.clone();
    // The node's revocation, placed below the block under test (on the test's own chain the
    // block is at height 1).
    let known = ctx.revoked.read().expect("revoked").revoked_at(&id);
    assert!(known.is_some(), "the orderer knows the revocation");
    let mut revoked = RevokedAuthorizations::default();
    revoked.insert(id.clone(), 0);
    let check = |revoked: &RevokedAuthorizations| {
        medblock_actors::block_check::BlockCheck {
            revoked,
            tips: &BTreeMap::new(),
            chain: &chain,
            limits: medblock_core::block_rules::BlockLimits::from_params(&test_params()),
            max_skew_ms: 60_000,
            counters: &counters,
            regulator: None,
        }
        .validate(tip.height + 1, &tip.id, &payload, now())
    };
    let err = check(&revoked).expect_err("the orderer refuses the revoked authorization");
    assert!(err.reason.contains("revoked"), "{err}");
    assert!(
        check(&RevokedAuthorizations::default()).is_ok(),
        "the block is otherwise valid"
    );

    // The visit recorded before the revocation stays on the ledger.
    assert!(committed(&c, dept, endorser, "h1", "cardiology", base));
}
