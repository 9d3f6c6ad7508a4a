//! A real MedBlock network in one process: RocksDB ledgers, libp2p over 127.0.0.1, the role
//! actors and the consensus machines, with nodes killed, restarted and tampered with.

mod common;

use common::cluster::{Cluster, block_on, standard, test_params};
use common::enrol::enrol_visits_in_process;
use std::collections::BTreeSet;
use std::time::Duration;

fn committers(c: &Cluster) -> Vec<usize> {
    c.running()
        .into_iter()
        .filter(|i| c.specs[*i].roles.iter().any(|r| r == "committer"))
        .collect()
}

/// `n` synthetic visits for `patients` patients, enrolled at department node `name` first.
fn visits_at(
    c: &Cluster,
    name: &str,
    prefix: &str,
    n: usize,
    patients: usize,
) -> Vec<medblock_actors::client::Visit> {
    let v = common::cluster::visits(prefix, n, patients);
    enrol_visits_in_process(&c.node(c.index(name)).node, &v);
    v
}

/// Submits through a department node (its patients enrolled first) and waits for every commit.
fn submit(
    c: &Cluster,
    name: &str,
    prefix: &str,
    n: usize,
) -> Vec<medblock_actors::client::SubmitOutcome> {
    let node = c.node(c.index(name)).node.clone();
    let v = visits_at(c, name, prefix, n, 25);
    block_on(async move { node.submit(v, true, Duration::from_secs(120)).await })
        .expect("all visits committed")
}

fn wait_same_ledger(c: &Cluster, min_height: u64, timeout: Duration) -> (u64, String) {
    let who = committers(c);
    let st = c.wait_for(
        "every committer at the same height and ledger hash",
        timeout,
        |st| {
            let mine: Vec<_> = st
                .iter()
                .filter(|(i, _)| who.contains(i))
                .map(|(_, s)| s)
                .collect();
            let hashes: BTreeSet<_> = mine
                .iter()
                .map(|s| (s.height, s.ledger_hash.clone()))
                .collect();
            hashes.len() == 1 && mine.first().is_some_and(|s| s.height >= min_height)
        },
    );
    let s = &st
        .iter()
        .find(|(i, _)| who.contains(i))
        .expect("a committer")
        .1;
    (s.height, s.ledger_hash.clone())
}

#[test]
fn thousand_events_from_two_hospitals_commit_and_every_committer_agrees() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| submit(&c, "h1-cardiology", "h1", 500));
        let b = s.spawn(|| submit(&c, "h2-oncology", "h2", 500));
        (a.join().expect("h1"), b.join().expect("h2"))
    });
    assert_eq!(a.len() + b.len(), 1000);
    assert!(
        a.iter()
            .chain(&b)
            .all(|o| o.status == "committed" && o.height > 0)
    );
    let seqs: BTreeSet<(String, u64)> = a
        .iter()
        .chain(&b)
        .map(|o| (o.hospital.clone(), o.sequence))
        .collect();
    assert_eq!(seqs.len(), 1000, "every event has its own sequence");
    let max_height = a.iter().chain(&b).map(|o| o.height).max().unwrap_or(0);
    let (height, _) = wait_same_ledger(&c, max_height, Duration::from_secs(60));
    assert!(height >= max_height);
    // Every committer holds all 1,000 events.
    for i in committers(&c) {
        let s = c.status(i);
        assert!(
            s.counters["events_committed"] >= 1000,
            "{} committed {}",
            s.name,
            s.counters["events_committed"]
        );
        assert!(s.flagged.is_empty(), "{} flagged {:?}", s.name, s.flagged);
    }
    // Each replica of a committee publishes the block it decided with its own certificate:
    // the copies after the first are dropped unparsed, and the ledgers above still agree.
    let skipped: u64 = committers(&c)
        .into_iter()
        .map(|i| c.status(i).counters["decided_copies_skipped"])
        .sum();
    assert!(skipped > 0, "no copy of a committed block was skipped");
}

#[test]
fn killed_endorser_is_replaced_by_election_and_waiting_clients_retry_without_loss() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    let first = submit(&c, "h1-cardiology", "warmup", 20);
    assert_eq!(first.len(), 20);
    let before = c.status(c.index("orderer-1"));
    let r1 = before
        .endorsers
        .iter()
        .find(|e| e.region == "region-1")
        .and_then(|e| e.endorser.clone())
        .expect("region-1 endorser");
    let victim = c
        .running()
        .into_iter()
        .find(|i| c.status(*i).key == r1)
        .expect("endorser node");
    // Uploads in flight while the endorser dies: submitted without waiting, then killed.
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let during = visits_at(&c, "h1-cardiology", "during", 40, 10);
    let pending = block_on(async move { node.submit(during, false, Duration::from_secs(5)).await })
        .expect("accepted");
    c.kill(victim);
    // Region-1 elects the other candidate.
    let st = c.wait_for(
        "region-1 to elect another endorser",
        Duration::from_secs(60),
        |st| {
            st.iter().all(|(_, s)| {
                s.endorsers.iter().any(|e| {
                    e.region == "region-1" && e.endorser.as_ref().is_some_and(|k| *k != r1)
                })
            })
        },
    );
    let after = &st[0].1;
    assert!(
        after
            .endorsers
            .iter()
            .find(|e| e.region == "region-1")
            .is_some_and(|e| e.view > 0)
    );
    // Uploads continue, and the events in flight at the crash are all committed.
    let more = submit(&c, "h1-cardiology", "after", 30);
    assert!(more.iter().all(|o| o.status == "committed"));
    let h1 = c.index("h1-cardiology");
    c.wait_for("the outbox to drain", Duration::from_secs(90), |st| {
        st.iter().any(|(i, s)| *i == h1 && s.outbox == 0)
    });
    let max_seq = pending.iter().map(|o| o.sequence).max().unwrap_or(0);
    assert!(max_seq > 0);
    let s = c.status(h1);
    assert!(
        s.counters["client_retries"] > 0 || pending.is_empty(),
        "clients retried another endorser"
    );
    let (_, _) = wait_same_ledger(&c, 1, Duration::from_secs(60));
    let total: u64 = c.status(c.index("orderer-2")).counters["events_committed"];
    assert_eq!(total, 20 + 40 + 30, "no event lost or duplicated");
}

#[test]
fn a_stopped_orderer_does_not_stop_commits_and_catches_up_after_restart() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    submit(&c, "h2-oncology", "a", 20);
    let o4 = c.index("orderer-4");
    c.kill(o4);
    let out = submit(&c, "h2-oncology", "b", 60);
    assert!(out.iter().all(|o| o.status == "committed"));
    let top = out.iter().map(|o| o.height).max().unwrap_or(0);
    c.start(o4);
    c.wait_for(
        "the restarted orderer to catch up",
        Duration::from_secs(60),
        |st| st.iter().any(|(i, s)| *i == o4 && s.height >= top),
    );
    wait_same_ledger(&c, top, Duration::from_secs(60));
}

#[test]
fn a_ledger_tampered_with_on_disk_is_flagged_by_its_peers() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    submit(&c, "h1-cardiology", "t", 30);
    wait_same_ledger(&c, 1, Duration::from_secs(30));
    let victim = c.index("orderer-3");
    c.kill(victim);
    let ledger_dir = common::cluster::node_dir(c.dir.path(), "orderer-3")
        .join("data")
        .join("ledger");
    {
        use medblock_storage::keys_layout::{CF_EVENTS, LEDGER_CFS, event_key};
        let id = medblock_storage::Ledger::open(
            &ledger_dir,
            medblock_storage::OpenCheck::HashChain,
            4096,
        )
        .expect("ledger")
        .block_id_at(1)
        .expect("read")
        .expect("block 1");
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &ledger_dir, LEDGER_CFS)
            .expect("raw open");
        let cf = db.cf_handle(CF_EVENTS).expect("cf");
        let key = event_key(&id, 0);
        let mut bytes = db.get_cf(cf, &key).expect("get").expect("event 0");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x5a;
        db.put_cf(cf, &key, bytes).expect("tamper");
    }
    c.start(victim);
    let name = "orderer-3";
    // One gossip period is 1 s in the test genesis; allow a few for the restart itself.
    c.wait_for(
        "peers to flag the tampered node",
        Duration::from_secs(20),
        |st| {
            st.iter()
                .filter(|(i, _)| *i != victim)
                .filter(|(_, s)| s.flagged.iter().any(|f| f.name == name))
                .count()
                >= 3
        },
    );
}

#[test]
fn peers_without_a_valid_certificate_or_with_a_revoked_one_cannot_take_part() {
    use medblock_core::keys::{Identity, SigningKey};
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    // An impostor: a certificate signed by another CA, for a fresh key.
    let rogue_ca =
        medblock_core::cert::CertificateAuthority::new(SigningKey::generate(&mut rand::rng()));
    let id = Identity::generate(&mut rand::rng());
    let key = id.signing.public();
    let cert = rogue_ca.issue(medblock_core::wire::CertificateBody {
        serial: 99,
        name: "impostor".into(),
        region: "region-1".into(),
        roles: vec![medblock_core::wire::Role::Orderer as i32],
        public_key: key.as_bytes().to_vec(),
        peer_id: medblock_p2p::peer_id_bytes(&key),
        not_before_ms: 0,
        not_after_ms: u64::MAX,
        ..Default::default()
    });
    let mut opts = c.options(0);
    opts.identity = id.clone();
    opts.certificate = cert.clone();
    opts.data_dir = c.dir.path().join("impostor");
    // Our own node refuses to start on a certificate that does not chain to the genesis CA...
    assert!(medblock_actors::node::NodeThread::spawn(opts.clone()).is_err());
    // A raw libp2p peer holding that key: the network refuses its Hello and its consensus traffic.
    let target = c.node(0).node.ctx.key();
    let addr = c.node(0).node.ctx.net.listen_addrs()[0].clone();
    let genesis_hash = c.node(0).node.ctx.genesis_hash.clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use medblock_core::wire::{self, error_reply::Code, net_request, net_response};
        let (net, _events) = medblock_p2p::spawn(medblock_p2p::P2pConfig::new(id.signing.clone(), "/ip4/127.0.0.1/tcp/0"))
            .await
            .expect("impostor network");
        net.dial(addr).await.expect("dial");
        let consensus = wire::NetRequest {
            kind: Some(net_request::Kind::Consensus(wire::ConsensusMessage::default())),
        };
        let first = net.request(target, consensus.clone()).await;
        assert!(
            matches!(&first, Ok(wire::NetResponse { kind: Some(net_response::Kind::Error(e)) }) if e.code == Code::Unauthorized as i32),
            "consensus before a hello: {first:?}"
        );
        let hello = wire::NetRequest {
            kind: Some(net_request::Kind::Hello(wire::Hello {
                genesis_hash,
                certificate: Some(cert),
                height: 0,
                http_address: String::new(),
            })),
        };
        let answer = net.request(target, hello).await;
        // Refused either way: an UNAUTHORIZED reply, or the node already cut the connection
        // (its own Hello to the impostor failed the certificate check first) and banned it.
        let refused = match &answer {
            Ok(wire::NetResponse { kind: Some(net_response::Kind::Error(e)) }) => e.code == Code::Unauthorized as i32,
            Ok(_) => false,
            Err(_) => true,
        };
        assert!(refused, "rogue hello: {answer:?}");
        net.shutdown().await;
    });
    assert!(c.status(0).counters["peers_refused"] >= 1);
    assert!(c.status(0).peers.iter().all(|p| p.name != "impostor"));
    // A revocation goes on the ledger: revoking one of the four orderers would leave fewer
    // than PBFT needs, and is refused before it reaches a block.
    let ca_dir = common::cluster::ca_dir(c.dir.path());
    let revoke = |name: &str| {
        let serial = medblock_node::ca::serial_of(&ca_dir, name).expect("serial");
        medblock_node::ca::revoke_change(
            &ca_dir,
            serial,
            "test: revoked",
            medblock_actors::clock::now_ms(),
        )
        .expect("revocation signed")
    };
    let via = c.node(c.index("orderer-1")).node.clone();
    let change = revoke("orderer-2");
    let refused = block_on(async move { via.submit_config(change).await })
        .expect_err("the last spare orderer cannot be revoked");
    assert!(
        refused.to_string().contains("3 orderers would remain"),
        "{refused}"
    );
    // A backup endorser can: once the revocation is decided every node drops it, and the
    // network goes on committing.
    let victim = c.index("r2-endorser-b");
    let via = c.node(c.index("orderer-1")).node.clone();
    let change = revoke("r2-endorser-b");
    block_on(async move { via.submit_config(change).await }).expect("submitted");
    let victim_key = c.status(victim).key;
    c.wait_for(
        "every other node to drop the revoked endorser",
        Duration::from_secs(30),
        |st| {
            st.iter()
                .filter(|(i, _)| *i != victim)
                .all(|(_, s)| s.peers.iter().all(|p| p.key != victim_key))
        },
    );
    let out = submit(&c, "h1-cardiology", "rv", 10);
    assert!(out.iter().all(|o| o.status == "committed"));
}

#[test]
fn deferrable_records_are_spread_over_turns_while_urgent_ones_go_with_the_next_turn() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    // A warm-up visit: patient keys and the first turn, so the rotation is measured.
    submit(&c, "h1-cardiology", "warm", 1);
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let within = 6_000u64;
    let mut deferred = visits_at(&c, "h1-cardiology", "later", 40, 10);
    for v in &mut deferred {
        v.upload_within_ms = within;
    }
    let urgent = visits_at(&c, "h1-cardiology", "now", 1, 1);
    let (later, now) = block_on(async move {
        let start = std::time::Instant::now();
        let later = {
            let node = node.clone();
            tokio::spawn(async move { node.submit(deferred, true, Duration::from_secs(60)).await })
        };
        // The urgent record is sent after the deferrable ones are queued.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = node.submit(urgent, true, Duration::from_secs(60)).await;
        let later = later.await.expect("submitter");
        (later.map(|l| (l, start.elapsed())), now)
    });
    let (later, elapsed) = later.expect("deferrable records committed");
    let now = now.expect("urgent record committed");
    assert!(later.iter().all(|o| o.status == "committed"));
    let heights: BTreeSet<u64> = later.iter().map(|o| o.height).collect();
    // Paced: 40 records allowed 6 s go over several turns, not in one block...
    assert!(
        heights.len() >= 3,
        "40 deferrable records went into only {heights:?}"
    );
    // ...the urgent record did not wait behind them...
    let urgent_height = now.first().map(|o| o.height).unwrap_or(u64::MAX);
    assert!(
        urgent_height < *heights.iter().max().unwrap_or(&0),
        "urgent record at {urgent_height}, deferrable ones up to {heights:?}"
    );
    // ...and every deferrable record was committed by its deadline (plus the commit's own time).
    assert!(
        elapsed < Duration::from_millis(within) + Duration::from_secs(5),
        "the last deferrable record took {elapsed:?}"
    );
}

#[test]
fn many_visits_submitted_at_once_are_numbered_without_gaps_or_repeats_and_all_commit() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let burst = visits_at(&c, "h1-cardiology", "burst", 300, 40);
    // 300 hospital systems' requests at once, one visit each: the department records them in
    // groups (one write per group), and each must still get its own sequence number.
    let outcomes = block_on(async move {
        let mut tasks = Vec::new();
        for (i, v) in burst.into_iter().enumerate() {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let out = node
                    .submit(vec![v], true, Duration::from_secs(120))
                    .await
                    .unwrap_or_else(|e| panic!("visit {i}: {e}"));
                out.into_iter().next().expect("one outcome")
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.expect("submitter"));
        }
        all
    });
    assert!(outcomes.iter().all(|o| o.status == "committed"));
    let sequences: BTreeSet<u64> = outcomes.iter().map(|o| o.sequence).collect();
    assert_eq!(sequences.len(), 300, "a sequence number was given twice");
    assert_eq!(sequences.iter().next(), Some(&1));
    assert_eq!(sequences.iter().last(), Some(&300));
    assert_eq!(
        c.status(c.index("h1-cardiology")).counters["uploads_accepted"]
            + c.status(c.index("r1-endorser-a")).counters["uploads_accepted"]
            + c.status(c.index("r1-endorser-b")).counters["uploads_accepted"],
        300,
        "each visit admitted once by an endorser"
    );
    wait_same_ledger(&c, 1, Duration::from_secs(30));
}

#[test]
fn visits_sent_one_by_one_a_millisecond_apart_share_synced_writes() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    let dept = c.index("h1-cardiology");
    let before = c.status(dept).counters;
    let node = c.node(dept).node.clone();
    let trickle = visits_at(&c, "h1-cardiology", "trickle", 100, 10);
    // A hospital system sending each visit as it happens, one request per visit, 1 ms apart:
    // each visit would be alone in the department's mailbox, and without a group-commit window
    // would cost its own synced writes.
    let started = std::time::Instant::now();
    let outcomes = block_on(async move {
        let mut tasks = Vec::new();
        for v in trickle {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                node.submit(vec![v], false, Duration::from_secs(60)).await
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("submitter").expect("recorded"));
        }
        all
    });
    let elapsed = started.elapsed();
    assert_eq!(outcomes.len(), 100);
    let sequences: BTreeSet<u64> = outcomes.iter().map(|o| o.sequence).collect();
    assert_eq!(sequences.len(), 100, "a sequence number was given twice");
    let after = c.status(dept).counters;
    let written = after["records_written"] - before["records_written"];
    let writes = after["record_writes"] - before["record_writes"];
    assert_eq!(written, 100, "every visit recorded once");
    // Each write covers at least one window of arrivals (a loaded machine that spaces the
    // visits further apart stretches the run, and the bound with it).
    let window = medblock_actors::client::GROUP_COMMIT_WINDOW;
    let bound = elapsed.as_millis() / window.as_millis().max(1) + 2;
    assert!(
        u128::from(writes) <= bound,
        "{writes} synced writes for 100 visits sent 1 ms apart over {elapsed:?}: no group commit"
    );
    wait_same_ledger(&c, 1, Duration::from_secs(30));
}

#[test]
fn an_upload_batch_is_judged_event_by_event_under_one_signed_receipt() {
    use medblock_core::event::{NewEvent, build_event};
    use medblock_core::keys::{Identity, PublicKey, Signature, purpose};
    use medblock_core::wire::{self, error_reply::Code, net_request, net_response};
    use prost::Message as _;
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    let dept = c.index("h1-cardiology");
    let provider = c.options(dept).identity;
    let region = c
        .status(dept)
        .endorsers
        .into_iter()
        .find(|r| r.region == "region-1")
        .and_then(|r| r.endorser)
        .expect("region-1 has an endorser");
    let endorser = PublicKey::from_hex(&region).expect("endorser key");
    let patient = Identity::generate(&mut rand::rng());
    let event = |sequence: u64| {
        let summary = wire::Summary {
            diagnosis: format!("batch visit {sequence}"),
            ..Default::default()
        };
        build_event(
            &NewEvent {
                summary: &summary,
                sequence,
                hospital: "h1",
                department: "cardiology",
                patient: &patient.signing,
                patient_sealing: &patient.sealing.public(),
                provider: &provider.signing,
                regulator: None,
                created_at_ms: medblock_actors::clock::now_ms(),
            },
            &mut rand::rng(),
        )
    };
    // Sequences far above the department's own, so its client never collides with them.
    let mut events: Vec<wire::Event> = (0..6).map(|i| event(1_000_000 + i)).collect();
    // #2: the department's signature does not cover this body.
    events[2].provider_signature = provider.signing.sign(purpose::EVENT, b"other").to_vec();
    // #4: not an event at all.
    events[4] = wire::Event {
        body: vec![0xff; 40],
        ..Default::default()
    };
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
    let net = c.node(dept).node.ctx.net.clone();
    let answer = block_on(async move { net.request(endorser, batch).await }).expect("answered");
    let Some(net_response::Kind::BatchAnswer(answer)) = answer.kind else {
        panic!("not a batch answer: {answer:?}");
    };
    let refused: Vec<(u32, i32)> = answer
        .refused
        .iter()
        .map(|r| (r.index, r.error.as_ref().map_or(0, |e| e.code)))
        .collect();
    assert_eq!(
        refused,
        vec![(2, Code::Rejected as i32), (4, Code::Rejected as i32)]
    );
    let receipt = answer.receipt.expect("a receipt for the accepted events");
    let sig = Signature::from_slice(&receipt.signature).expect("signature");
    assert!(
        endorser
            .verify(purpose::RECEIPT_BATCH, &receipt.body, &sig)
            .is_ok()
    );
    // The same signature is not a receipt for one event (its own domain).
    assert!(
        endorser
            .verify(purpose::RECEIPT, &receipt.body, &sig)
            .is_err()
    );
    let body = wire::ReceiptBatchBody::decode(receipt.body.as_slice()).expect("body");
    let acked: Vec<u64> = body.receipts.iter().map(|r| r.sequence).collect();
    assert_eq!(acked, vec![1_000_000, 1_000_001, 1_000_003, 1_000_005]);
    assert!(
        body.receipts
            .iter()
            .all(|r| r.status == wire::ReceiptStatus::Accepted as i32
                && r.endorser_key == endorser.as_bytes())
    );
    // The accepted events are committed; the refused ones are neither queued nor committed.
    let net = c.node(dept).node.ctx.net.clone();
    let receipts = move || {
        let net = net.clone();
        let query = wire::NetRequest {
            kind: Some(net_request::Kind::Receipts(wire::ReceiptQuery {
                hospital: "h1".into(),
                department: "cardiology".into(),
                sequences: (1_000_000..1_000_006).collect(),
            })),
        };
        let answer = block_on(async move { net.request(endorser, query).await });
        let Ok(wire::NetResponse {
            kind: Some(net_response::Kind::Receipts(list)),
        }) = answer
        else {
            return Vec::new();
        };
        list.receipts
            .iter()
            .filter_map(|r| wire::ReceiptBody::decode(r.body.as_slice()).ok())
            .map(|b| (b.sequence, b.status))
            .collect::<Vec<_>>()
    };
    let committed = wire::ReceiptStatus::Committed as i32;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = receipts();
        if now.iter().filter(|(_, st)| *st == committed).count() == acked.len() {
            let seen: Vec<u64> = now.iter().map(|(s, _)| *s).collect();
            assert_eq!(
                seen, acked,
                "the refused events are unknown to the endorser"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "accepted events not committed: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
