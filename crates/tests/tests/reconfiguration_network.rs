//! Reconfiguration on the ledger, on a real network (issue 18): RocksDB, libp2p on 127.0.0.1,
//! every actor. Orderers join and leave through CA-signed configuration changes decided by
//! consensus while a department keeps recording visits; each change takes effect at its
//! block's height on every node.

mod common;

use common::cluster::{Cluster, Spec, block_on, standard, test_params, visits};
use common::enrol::{enrol_in_process, enrol_visits_in_process};
use common::load::{Watch, load};
use medblock_actors::committer::ingress::ServeCatchUp;
use medblock_core::keys::Identity;
use medblock_core::keys::PublicKey;
use medblock_core::wire;
use medblock_node::ca;
use medblock_node::patient::LightNode;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The committee the running nodes report (names), once they all report the same one.
fn committee(c: &Cluster) -> BTreeSet<String> {
    let st = c.wait_for(
        "one committee on every node",
        Duration::from_secs(30),
        |st| {
            st.windows(2).all(|w| w[0].1.committee == w[1].1.committee)
                && st.first().is_some_and(|(_, s)| !s.committee.is_empty())
        },
    );
    // Statuses name members by key.
    st[0]
        .1
        .committee
        .iter()
        .map(|key| {
            st.iter()
                .find(|(_, s)| &s.key == key)
                .map(|(_, s)| s.name.clone())
                .unwrap_or_else(|| key.clone())
        })
        .collect()
}

/// The consensus parameters in force with a new committee size, signed by the CA.
fn committee_size(c: &Cluster, size: u32) -> Vec<u8> {
    let mut params = *c.node(0).node.ctx.config().params();
    params.committee_size = size;
    ca::params_change(
        &common::cluster::ca_dir(c.dir.path()),
        params,
        medblock_actors::clock::now_ms(),
    )
    .expect("params change")
}

#[test]
fn four_orderers_grow_to_seven_then_two_leave_while_a_department_records() {
    // Stalls are timed against the view-change timeout: no other network of this binary runs
    // meanwhile (three at once on two cores would time the machine, not the protocol).
    let _alone = common::byzantine::alone();
    if std::env::var_os("MEDBLOCK_TEST_LOGS").is_some() {
        medblock_monitoring::logging::init(medblock_monitoring::logging::LogFormat::Text);
    }
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let via = c.index("orderer-1");
    assert_eq!(committee(&c).len(), 4);

    let alice = patient_with_visits(&c, "h1-cardiology", "alice", 2);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let sender = load(&c, "h1-cardiology", stop.clone(), started.clone());
    // Stalls count from the first commit under load on.
    while !started.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (watch, watcher) = Watch::start(&c);

    // Three orderers join, one configuration change each, then the committee grows to 7
    // (f = 2). Each process starts and follows the chain first; its certificate then goes on
    // the ledger, and it orders from the next turn on.
    let mut added = Vec::new();
    for (name, region) in [
        ("orderer-5", "region-1"),
        ("orderer-6", "region-2"),
        ("orderer-7", "region-1"),
    ] {
        added.push(c.join(Spec::new(name, region, "orderer,committer"), via));
        eprintln!("{name} joined at {}", medblock_actors::clock::now_ms());
    }
    // A committee larger than the pool is refused before it reaches a block.
    let mut too_big = *c.node(via).node.ctx.config().params();
    too_big.committee_size = 10;
    let change = ca::params_change(
        &common::cluster::ca_dir(c.dir.path()),
        too_big,
        medblock_actors::clock::now_ms(),
    )
    .expect("signed");
    let node = c.node(via).node.clone();
    let err = block_on(async move { node.submit_config(change).await })
        .expect_err("committee above the pool");
    assert!(err.to_string().contains("7 orderers would remain"), "{err}");

    c.submit_change(committee_size(&c, 7), via, |s| {
        s.params().committee_size == 7
    });
    eprintln!("committee 7 at {}", medblock_actors::clock::now_ms());
    let seven = committee(&c);
    assert_eq!(seven.len(), 7, "{seven:?}");
    for name in ["orderer-5", "orderer-6", "orderer-7"] {
        assert!(seven.contains(name), "{name} in {seven:?}");
    }
    // The newcomers vote: a block decided by the 7 carries their commit signatures.
    let new_keys: Vec<PublicKey> = added.iter().map(|i| c.node(*i).node.ctx.key()).collect();
    let signed_by_new = wait_signed_by(&c, via, &new_keys);
    assert!(
        signed_by_new,
        "no commit certificate signed by a new orderer"
    );

    // Two leave: the committee shrinks back to 4 first (revoking one of 7 with a committee of
    // 7 would leave too few, and is refused), then orderer-6 and orderer-7 are revoked.
    let ca_dir = common::cluster::ca_dir(c.dir.path());
    let serial = ca::serial_of(&ca_dir, "orderer-7").expect("serial");
    let early = ca::revoke_change(&ca_dir, serial, "test", medblock_actors::clock::now_ms())
        .expect("signed");
    let node = c.node(via).node.clone();
    let err = block_on(async move { node.submit_config(early).await })
        .expect_err("6 orderers cannot hold a committee of 7");
    assert!(err.to_string().contains("6 orderers would remain"), "{err}");
    c.submit_change(committee_size(&c, 4), via, |s| {
        s.params().committee_size == 4
    });
    let revoked_keys: Vec<String> = ["orderer-6", "orderer-7"]
        .iter()
        .map(|n| c.node(c.index(n)).node.ctx.key().to_hex())
        .collect();
    eprintln!("committee 4 at {}", medblock_actors::clock::now_ms());
    c.revoke("orderer-6", via);
    eprintln!("orderer-6 revoked at {}", medblock_actors::clock::now_ms());
    c.revoke("orderer-7", via);
    eprintln!("orderer-7 revoked at {}", medblock_actors::clock::now_ms());
    let after = committee(&c);
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        !after.contains("orderer-6") && !after.contains("orderer-7"),
        "{after:?}"
    );
    // Every node dropped the revoked ones (whose processes `revoke` stopped).
    c.wait_for(
        "every node to drop the revoked orderers",
        Duration::from_secs(30),
        |st| {
            st.iter()
                .all(|(_, s)| s.peers.iter().all(|p| !revoked_keys.contains(&p.key)))
        },
    );
    // Commits go on with the five left.
    let h = c.status(via).height;
    c.wait_for(
        "commits after the removals",
        Duration::from_secs(30),
        |st| st.iter().all(|(_, s)| s.height > h + 2),
    );

    stop.store(true, Ordering::Relaxed);
    let acked = sender.join().expect("sender");
    watch.stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    let longest = watch.longest_ms.load(Ordering::Relaxed);
    assert!(!acked.is_empty(), "no visit committed");
    eprintln!(
        "reconfiguration under load: {} visits committed, longest stall {longest} ms",
        acked.len()
    );
    for i in c.running() {
        let s = c.status(i);
        eprintln!(
            "{} key={} turn={} height={} rejected={:?}",
            s.name,
            &s.key[..8],
            s.turn,
            s.height,
            s.counters.get("consensus_rejected")
        );
    }
    // Issue 18 asks that commits never stand still longer than the view-change timeout
    // (1.5 s here), joins and removals included. A newly certified orderer drawn into the next
    // committee votes at once; the next primary hears the end of the turn before it, and the
    // blocks just below it, straight from the replicas that decided it; a turn end (no block)
    // goes straight to every orderer too (gossip published only the first replica's copy,
    // which now and then left an orderer of the next committee behind); and a node that sees
    // a later turn asks the peer that showed it at once, not after the interval between
    // requests. Before these, 1.2-1.7 s stalls in about one run in four; since, 0.17-0.41 s in
    // 10 of 10 runs.
    let bound = test_params().view_change_timeout_ms;
    assert!(
        longest <= bound,
        "commits stalled {longest} ms (bound: the view-change timeout, {bound} ms)"
    );

    // Every ledger agrees, and holds every acknowledged visit where it was acknowledged.
    let st = c.wait_for("every ledger at one tip", Duration::from_secs(60), |st| {
        st.windows(2)
            .all(|w| (w[0].1.height, &w[0].1.tip_hash) == (w[1].1.height, &w[1].1.tip_hash))
    });
    let missing = common::load::missing(&c, st[0].0, acked);
    assert_eq!(missing, 0, "acknowledged visits not where acknowledged");

    // Alice's light node verifies her records in blocks certified before, during and after the
    // committee of 7 (it learns each configuration block and checks the next against it).
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let later: Vec<_> = visits("alice-later", 2, 1)
        .into_iter()
        .map(|mut v| {
            v.patient = "alice".into();
            v
        })
        .collect();
    let out = block_on(async move { node.submit(later, true, Duration::from_secs(60)).await })
        .expect("later visits");
    assert!(out.iter().all(|o| o.status == "committed"));
    let h = out.iter().map(|o| o.height).max().unwrap_or(0);
    c.wait_for(
        "orderer-1 at alice's last visit",
        Duration::from_secs(30),
        |st| st.iter().any(|(i, s)| *i == via && s.height >= h),
    );
    assert_eq!(light_records(&c, &alice, "orderer-1"), 4);
}

/// A patient enrolled at `dept` with `n` visits there (committed); his identity.
fn patient_with_visits(c: &Cluster, dept: &str, id: &str, n: usize) -> Identity {
    let node = c.node(c.index(dept)).node.clone();
    let patient = enrol_in_process(&node, id);
    let v: Vec<_> = visits(&format!("{id}-visit"), n, 1)
        .into_iter()
        .map(|mut v| {
            v.patient = id.to_owned();
            v
        })
        .collect();
    let out = block_on(async move { node.submit(v, true, Duration::from_secs(60)).await })
        .expect("visits");
    assert!(out.iter().all(|o| o.status == "committed"), "{out:?}");
    patient
}

/// `patient`'s records as his light node finds and verifies them through `peer` (every block
/// checked against the membership of its height, learned from the configuration blocks).
fn light_records(c: &Cluster, patient: &Identity, peer: &str) -> usize {
    let genesis = c.genesis.clone();
    let addr = c.p2p_addr(peer);
    let patient = patient.clone();
    block_on(async move {
        let node = LightNode::start(patient.clone(), &genesis, &[addr], Duration::from_secs(20))
            .await
            .expect("light node");
        let answer = node
            .records(&patient.signing.public())
            .await
            .expect("records verify");
        answer.records.len()
    })
}

/// Whether a block committed after now carries a commit signature of one of `keys` (waits
/// up to 30 s for one).
fn wait_signed_by(c: &Cluster, via: usize, keys: &[PublicKey]) -> bool {
    let ledger_height = c.status(via).height;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = ledger_height + 1;
    while Instant::now() < deadline {
        let node = c.node(via).node.clone();
        let served = block_on(async move {
            node.committer
                .catch_up
                .send(ServeCatchUp(wire::CatchUpRequest {
                    from_height: next,
                    max_count: 1,
                }))
                .await
        })
        .expect("committer answers");
        match served.decided.into_iter().next() {
            Some(d) => {
                let signers: Vec<Vec<u8>> = d
                    .certificate
                    .map(|cert| cert.commits.into_iter().map(|s| s.orderer_key).collect())
                    .unwrap_or_default();
                if keys
                    .iter()
                    .any(|k| signers.iter().any(|s| s.as_slice() == k.as_bytes()))
                {
                    return true;
                }
                next += 1;
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

#[test]
fn a_revoked_orderer_restarted_with_its_old_data_cannot_take_part_after_every_restart() {
    let _alone = common::byzantine::alone();
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let via = c.index("orderer-1");
    // A fifth orderer, so that one can be revoked (four must remain).
    let fifth = c.join(Spec::new("orderer-5", "region-1", "orderer,committer"), via);
    let fifth_key = c.node(fifth).node.ctx.key();
    let opts = c.options(fifth);
    c.revoke("orderer-5", via);
    let revoked_at = c
        .node(via)
        .node
        .ctx
        .config()
        .state
        .revoked_at(
            ca::serial_of(&common::cluster::ca_dir(c.dir.path()), "orderer-5").expect("serial"),
        )
        .expect("revoked");

    // Every other node restarts once: each rebuilds its configuration from its ledger.
    let all = c.running();
    for i in all.clone() {
        c.kill(i);
        // Addresses are ephemeral: bootstrap from a node that runs now.
        let other = c.running()[0];
        c.bootstrap = c.node(other).node.ctx.net.listen_addrs();
        c.start(i);
        c.wait_for(
            "the restarted node connected",
            Duration::from_secs(60),
            |st| {
                st.iter()
                    .any(|(j, s)| *j == i && s.peers.len() + 1 >= all.len())
            },
        );
    }
    c.wait_ready(Duration::from_secs(60));
    assert!(
        c.running()
            .iter()
            .all(|i| c.node(*i).node.ctx.config().state.revoked_at(
                ca::serial_of(&common::cluster::ca_dir(c.dir.path()), "orderer-5").expect("serial")
            ) == Some(revoked_at)),
        "a restarted node forgot the revocation"
    );
    let refused_before: u64 = c
        .running()
        .iter()
        .map(|i| c.status(*i).counters["peers_refused"])
        .sum();

    // The revoked orderer comes back with its old data: it either refuses to start (its own
    // ledger holds the revocation) or starts and no node admits it.
    let h = c.status(via).height;
    let mut opts = opts;
    opts.bootstrap = c.node(via).node.ctx.net.listen_addrs();
    match medblock_actors::node::NodeThread::spawn(opts) {
        Err(e) => assert!(e.to_string().contains("revoked"), "{e}"),
        Ok(node) => {
            std::thread::sleep(Duration::from_secs(5));
            let status = {
                let n = node.node.clone();
                block_on(async move { n.status().await }).expect("status")
            };
            assert!(status.peers.is_empty(), "admitted by {:?}", status.peers);
            let refused_after: u64 = c
                .running()
                .iter()
                .map(|i| c.status(*i).counters["peers_refused"])
                .sum();
            assert!(
                refused_after > refused_before,
                "nobody refused the revoked orderer"
            );
            node.stop();
        }
    }
    // Commits go on, and no certificate above the revocation carries its signature.
    let out = block_on({
        let n = c.node(c.index("h1-cardiology")).node.clone();
        let v = visits("after-revocation", 5, 5);
        enrol_visits_in_process(&n, &v);
        async move { n.submit(v, true, Duration::from_secs(60)).await }
    })
    .expect("visits");
    assert!(out.iter().all(|o| o.status == "committed"), "{out:?}");
    let top = c.status(via).height;
    assert!(top > h);
    let node = c.node(via).node.clone();
    let served = block_on(async move {
        node.committer
            .catch_up
            .send(ServeCatchUp(wire::CatchUpRequest {
                from_height: revoked_at + 1,
                max_count: 64,
            }))
            .await
    })
    .expect("committer answers");
    assert!(!served.decided.is_empty());
    for d in served.decided {
        let cert = d.certificate.expect("certificate");
        assert!(
            cert.commits
                .iter()
                .all(|s| s.orderer_key.as_slice() != fifth_key.as_bytes()),
            "height {} counts the revoked orderer's signature",
            cert.height
        );
    }
}

#[test]
fn a_node_catching_up_over_six_changes_agrees_and_history_by_a_revoked_endorser_verifies() {
    let _alone = common::byzantine::alone();
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let via = c.index("orderer-1");
    // Blocks endorsed by region 2's elected endorser, which is then revoked.
    let bob = patient_with_visits(&c, "h2-oncology", "bob", 3);
    let region2 = c.index("h2-oncology");
    let v = visits("history", 20, 5);
    let n = c.node(region2).node.clone();
    enrol_visits_in_process(&n, &v);
    let out =
        block_on(async move { n.submit(v, true, Duration::from_secs(60)).await }).expect("visits");
    assert!(out.iter().all(|o| o.status == "committed"));
    let endorser_of_region2 = {
        let st = c.status(via);
        st.endorsers
            .iter()
            .find(|e| e.region == "region-2")
            .and_then(|e| e.endorser.clone())
            .expect("region 2 has an endorser")
    };
    let name = c
        .running()
        .into_iter()
        .map(|i| c.status(i))
        .find(|s| s.key == endorser_of_region2)
        .map(|s| s.name)
        .expect("the endorser runs");

    // Six configuration changes: two orderers and a committer join, a region is added, region
    // 2's endorser is revoked (the next candidate takes over), and the view-change timeout
    // changes.
    c.join(Spec::new("orderer-5", "region-1", "orderer,committer"), via);
    c.join(Spec::new("orderer-6", "region-2", "orderer,committer"), via);
    c.join(Spec::new("committer-x", "region-2", "committer"), via);
    // A region added on the ledger (no turns of its own yet): the chain goes on, with every
    // committer checking beacons over the regions that take turns.
    let region = ca::add_region_change(
        &common::cluster::ca_dir(c.dir.path()),
        "region-3",
        medblock_actors::clock::now_ms(),
    )
    .expect("signed");
    c.submit_change(region, via, |s| s.regions().len() == 3);
    c.revoke(&name, via);
    let mut params = *c.node(via).node.ctx.config().params();
    params.view_change_timeout_ms = 2_000;
    let change = ca::params_change(
        &common::cluster::ca_dir(c.dir.path()),
        params,
        medblock_actors::clock::now_ms(),
    )
    .expect("signed");
    c.submit_change(change, via, |s| s.params().view_change_timeout_ms == 2_000);
    assert!(c.node(via).node.ctx.config().state.history().len() >= 6);
    // Region 2 still commits, through its next candidate.
    let n = c.node(region2).node.clone();
    let v = visits("after", 5, 5);
    enrol_visits_in_process(&n, &v);
    let out = block_on(async move { n.submit(v, true, Duration::from_secs(60)).await })
        .expect("visits after the revocation");
    assert!(out.iter().all(|o| o.status == "committed"), "{out:?}");

    // A node that starts from height 0 now replays every change as it appends, verifying each
    // block against the membership of its height (the revoked endorser's blocks below its
    // revocation included), and reaches the same ledger.
    let late = c.join(Spec::new("committer-late", "region-1", "committer"), via);
    let st = c.wait_for(
        "the late node at everyone's tip",
        Duration::from_secs(60),
        |st| {
            st.windows(2).all(|w| {
                (w[0].1.height, &w[0].1.ledger_hash) == (w[1].1.height, &w[1].1.ledger_hash)
            })
        },
    );
    assert!(st.iter().any(|(i, _)| *i == late));
    let late_config = c.node(late).node.ctx.config();
    let via_config = c.node(via).node.ctx.config();
    assert_eq!(
        late_config.state.history(),
        via_config.state.history(),
        "the late node's configuration differs"
    );
    assert_eq!(late_config.membership, via_config.membership);
    assert_eq!(c.status(late).counters["decided_rejected"], 0);
    // Bob's light node, through the late node, verifies his records in blocks the since
    // revoked endorser packed: revocation counts from its height, not back.
    assert_eq!(light_records(&c, &bob, "committer-late"), 3);
}
