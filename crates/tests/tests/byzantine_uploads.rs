//! Upload rules against certified insiders (issue 19), on the 10-node network over libp2p:
//!
//! * a (hospital, department, sequence) already pending or committed with another event is
//!   refused as a conflict and the first event stays; the same event again is a retry;
//! * an access record needs a relationship the ledger knows and is limited per author key;
//! * a Byzantine department that reuses sequence numbers, or floods access records for keys
//!   nobody knows, is refused and counted while the honest department's visits commit.

mod common;

use common::byzantine::{Attack, alone, network, run_on};
use common::cluster::{Cluster, block_on, standard, test_params, visits};
use common::enrol::enrol_visits_in_process;
use common::uploads::{
    authorization, committed, endorser_of, receipts, refusals, upload, visit, wait,
};
use medblock_actors::byzantine::ByzantineConfig;
use medblock_actors::committer::ingress::FindEvent;
use medblock_actors::shared::Counters;
use medblock_core::EventKey;
use medblock_core::access::admission::ACCESS_RECORDS_PER_KEY;
use medblock_core::access::record::build_access_event;
use medblock_core::keys::Identity;
use medblock_core::wire::{self, error_reply::Code};
use std::time::Duration;

fn grant(grantee: &Identity, records: &[(&str, &str, u64)]) -> wire::AccessRecord {
    wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Grant(wire::ConsentGrant {
            grantee_key: grantee.signing.public().as_bytes().to_vec(),
            grantee_name: "dr test".into(),
            records: records
                .iter()
                .map(|(h, d, s)| wire::GrantedRecord {
                    hospital: (*h).into(),
                    department: (*d).into(),
                    sequence: *s,
                    wrap: None,
                })
                .collect(),
        })),
    }
}

fn revoke(grantee: &Identity) -> wire::AccessRecord {
    wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Revoke(wire::ConsentRevoke {
            grantee_key: grantee.signing.public().as_bytes().to_vec(),
        })),
    }
}

fn access(author: &Identity, record: &wire::AccessRecord) -> wire::Event {
    build_access_event(
        &author.signing,
        rand::random::<u64>() >> 1,
        record,
        common::uploads::now(),
    )
}

#[test]
fn a_reused_sequence_is_a_conflict_and_access_records_need_a_relationship_and_a_quota() {
    let _alone = alone();
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let dept = c.index("h1-cardiology");
    let provider = c.options(dept).identity;
    let (endorser, endorser_node) = endorser_of(&c, dept, "region-1");
    let patient = Identity::generate(&mut rand::rng());
    let auth = authorization(&patient, "h1", 1);
    // A number far above the department's own, so its client never takes it.
    let seq = 3_000_000;
    let first = visit(&auth, &provider, seq, "the record the regulator must see");
    let other = visit(
        &auth,
        &provider,
        seq,
        "another record under the same number",
    );

    // Pending: the same event again is a retry; another one under its number is a conflict,
    // also within one batch.
    let a = upload(&c, dept, endorser, std::slice::from_ref(&first));
    assert!(a.refused.is_empty(), "{:?}", refusals(&a));
    let a = upload(&c, dept, endorser, &[first.clone(), other.clone()]);
    let r = refusals(&a);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].0, r[0].1), (1, Code::Conflict as i32), "{r:?}");
    assert!(r[0].2.contains("pending"), "{r:?}");
    let in_one = visit(&auth, &provider, seq + 1, "one");
    let a = upload(
        &c,
        dept,
        endorser,
        &[in_one, visit(&auth, &provider, seq + 1, "two")],
    );
    let r = refusals(&a);
    assert_eq!(
        r.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(1, Code::Conflict as i32)]
    );

    // Committed: the first event stays; the other is refused naming the first's hash, and
    // the first again is answered committed (only the very same event is).
    wait("the first event to commit", Duration::from_secs(30), || {
        committed(&c, dept, endorser, "h1", "cardiology", seq)
    });
    let a = upload(&c, dept, endorser, std::slice::from_ref(&other));
    let r = refusals(&a);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, Code::Conflict as i32, "{r:?}");
    let first_hash = medblock_core::ParsedEvent::from_wire(first.clone())
        .expect("parses")
        .event_hash;
    assert!(
        r[0].2.contains("committed") && r[0].2.contains(&first_hash.to_hex()),
        "{r:?}"
    );
    let a = upload(&c, dept, endorser, std::slice::from_ref(&first));
    assert!(a.refused.is_empty(), "{:?}", refusals(&a));
    let got = receipts(&a);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, wire::ReceiptStatus::Committed as i32);

    // Access records. A stranger's key: no record of his on the ledger.
    let stranger = Identity::generate(&mut rand::rng());
    let doctor = Identity::generate(&mut rand::rng());
    let a = upload(
        &c,
        dept,
        endorser,
        &[access(&stranger, &grant(&doctor, &[]))],
    );
    let r = refusals(&a);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, Code::AccessRefused as i32, "{r:?}");
    // The patient, known now, may grant his own committed record, not one that is not his.
    let a = upload(
        &c,
        dept,
        endorser,
        &[
            access(&patient, &grant(&doctor, &[("h1", "cardiology", seq + 7)])),
            access(&patient, &grant(&doctor, &[("h1", "cardiology", seq)])),
        ],
    );
    let r = refusals(&a);
    assert_eq!(
        r.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(0, Code::AccessRefused as i32)],
        "{r:?}"
    );
    // His quota: one grant admitted, so of a batch of as many revocations as the quota, the
    // last is refused.
    let batch: Vec<wire::Event> = (0..ACCESS_RECORDS_PER_KEY)
        .map(|_| access(&patient, &revoke(&doctor)))
        .collect();
    let a = upload(&c, dept, endorser, &batch);
    let r = refusals(&a);
    assert_eq!(
        r.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(ACCESS_RECORDS_PER_KEY - 1, Code::OverQuota as i32)],
        "{r:?}"
    );
    // Each refusal counted once, under its reason.
    let counters = &c.node(endorser_node).node.ctx.counters;
    assert_eq!(Counters::get(&counters.sequence_conflicts), 3);
    assert_eq!(Counters::get(&counters.access_records_refused), 3);
}

/// Starts a Byzantine department's own visits (answered once recorded, not committed) in the
/// background; the thread yields the sequence numbers they were recorded under.
fn department_visits(c: &Cluster, name: &str, n: usize) -> std::thread::JoinHandle<Vec<u64>> {
    let node = c.node(c.index(name)).node.clone();
    let v = visits(&format!("byz-{name}"), n, 10);
    enrol_visits_in_process(&node, &v);
    std::thread::spawn(move || {
        let mut recorded = Vec::new();
        for batch in v.chunks(4) {
            let node = node.clone();
            let batch = batch.to_vec();
            match block_on(async move { node.submit(batch, false, Duration::from_secs(10)).await })
            {
                Ok(out) => recorded.extend(out.iter().map(|o| o.sequence)),
                Err(e) => eprintln!("the Byzantine department could not record: {e}"),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        recorded
    })
}

#[test]
fn a_department_reusing_sequence_numbers_is_refused_and_commits_continue() {
    let mut attack = Attack::new(
        "h2-oncology",
        ByzantineConfig {
            reuse_sequences: true,
            ..Default::default()
        },
    );
    attack.load_for = Duration::from_secs(20);
    let _alone = alone();
    let c = network(&attack);
    let byzantine = department_visits(&c, "h2-oncology", 60);
    let out = run_on(&c, &attack);
    let mut used = byzantine.join().expect("department thread");
    let recorded = used.len();
    used.sort_unstable();
    used.dedup();
    assert!(
        used.len() < recorded,
        "the department reused no number: {recorded} records, {} numbers",
        used.len()
    );
    let conflicts = out.rejected.get("sequence_conflict").copied().unwrap_or(0);
    assert!(conflicts > 0, "no sequence conflict refused: {out:?}");
    // Every number it used holds one event, in the same block on every honest ledger: the
    // first one accepted under it (the later ones were refused, not queued).
    let bad = c.index("h2-oncology");
    let honest: Vec<usize> = c.running().into_iter().filter(|i| *i != bad).collect();
    let places = |i: usize| {
        let node = c.node(i).node.clone();
        let keys: Vec<EventKey> = used
            .iter()
            .map(|s| EventKey::new("h2", "oncology", *s))
            .collect();
        block_on(async move {
            let mut at = Vec::new();
            for k in keys {
                let found = node.committer.find_event.send(FindEvent(k)).await;
                at.push(found.ok().and_then(Result::ok).flatten());
            }
            at
        })
    };
    wait(
        "every number the department used to be committed on every honest ledger",
        Duration::from_secs(30),
        || {
            let first = places(honest[0]);
            first.iter().all(Option::is_some) && honest.iter().all(|i| places(*i) == first)
        },
    );
    eprintln!(
        "reuse_sequences: {} numbers for {recorded} records: {out:?}",
        used.len()
    );
}

#[test]
fn a_department_flooding_access_records_is_refused_and_commits_continue() {
    let mut attack = Attack::new(
        "h2-oncology",
        ByzantineConfig {
            flood_access_per_sec: 50,
            ..Default::default()
        },
    );
    attack.load_for = Duration::from_secs(20);
    let out = common::byzantine::run(&attack);
    let refused = out.rejected.get("access_record").copied().unwrap_or(0);
    // 50 a second for the 20 s of load at least, each refused at the region's endorser.
    assert!(refused >= 500, "access records refused: {refused}: {out:?}");
    eprintln!("flood_access_per_sec: {out:?}");
}
