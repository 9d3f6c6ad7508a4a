//! Catch-up that liars cannot starve (issue 19), on the 10-node network over libp2p: a
//! certified orderer signs and gossips claims of height `u64::MAX` and serves no catch-up. The
//! honest nodes ask it, find it served nothing, demote it (`false_height`) and ask the next
//! best peer; a node restarted once nothing is decided any more, with only catch-up to bring
//! it to the tip, reaches it from an honest peer despite the liar.

mod common;

use common::byzantine::{Attack, network, run_on};
use common::cluster::{Cluster, block_on};
use common::uploads::{endorser_of, wait};
use medblock_actors::byzantine::ByzantineConfig;
use std::time::Duration;

/// Node `i`'s `rejected_inputs_total` for `reason`.
fn rejected(c: &Cluster, i: usize, reason: &str) -> u64 {
    let node = c.node(i).node.clone();
    let text = block_on(async move { medblock_actors::metrics::render(&node).await })
        .expect("metrics render");
    let label = format!("reason=\"{reason}\"");
    text.lines()
        .filter(|l| l.starts_with("medblock_rejected_inputs_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

#[test]
fn a_peer_claiming_max_height_is_demoted_and_a_restarted_node_catches_up_from_an_honest_one() {
    let mut attack = Attack::new(
        "orderer-4",
        ByzantineConfig {
            claim_height: Some(u64::MAX),
            ..Default::default()
        },
    );
    attack.load_for = Duration::from_secs(20);
    let mut c = network(&attack);
    // The region-2 endorser candidate that is not elected: stopping it costs no failover.
    let dept = c.index("h2-oncology");
    let (_, elected) = endorser_of(&c, dept, "region-2");
    let late = ["r2-endorser-a", "r2-endorser-b"]
        .into_iter()
        .map(|n| c.index(n))
        .find(|i| *i != elected)
        .expect("a second candidate");
    c.kill(late);
    let out = run_on(&c, &attack);
    assert!(
        out.rejected.get("false_height").copied().unwrap_or(0) > 0,
        "no honest node demoted the liar: {out:?}"
    );

    // Restarted with nothing new to gossip: two honest orderers are stopped first, so no
    // value is decided any more and no gossiped block can hint at an honest peer. Only
    // catch-up brings it to the tip, and the liar's claim is the highest it hears.
    for name in ["orderer-1", "orderer-2"] {
        let i = c.index(name);
        c.kill(i);
    }
    // Past gossipsub's history window too, so no recent block is gossiped to it either.
    std::thread::sleep(Duration::from_secs(8));
    let before = c
        .running()
        .into_iter()
        .map(|i| c.status(i).height)
        .max()
        .unwrap_or(0);
    // It dials the liar first, so the liar's claim is there before its first catch-up.
    let liar = c.index(attack.node);
    c.bootstrap = c.node(liar).node.ctx.net.listen_addrs();
    c.start(late);
    wait(
        "the restarted node to catch up from an honest peer",
        Duration::from_secs(30),
        || c.status(late).height >= before,
    );
    // It asked the liar first (the highest claim), which served nothing, and demoted it.
    wait(
        "the restarted node to demote the liar",
        Duration::from_secs(15),
        || rejected(&c, late, "false_height") > 0,
    );
    let demoted = rejected(&c, late, "false_height");
    eprintln!(
        "claim_height: restarted node at {} (network {} / {before}), demotions {demoted}: {out:?}",
        c.status(late).height,
        out.height
    );
}
