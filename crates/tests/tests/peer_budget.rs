//! The peer budget (issue 20, idle cost) on a real network of `medblock node run` processes:
//! `testnet up --nodes 40` (4 orderers and 4 endorsers, the hubs; 32 other nodes), measured
//! by `testnet cost` (connections from /proc). A node that is not a hub holds its links to the
//! hubs and about `OTHER_PEERS` (8) links to other nodes (more when several connect at once at
//! start, before any is admitted: 5-14 measured on 30 nodes), instead of one to every peer; the
//! hubs keep a link to everyone; the ledgers agree. Structural only: no CPU or time bound
//! (those are the README's benchmark).

mod common;

use common::bin::{Down, run};
use medblock_actors::budget::OTHER_PEERS;

#[test]
fn nodes_without_a_consensus_role_keep_the_hubs_and_a_few_others() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    let nodes = 40;
    common::testnet_cli::up(&dir, nodes, 2, 4);
    let cost: serde_json::Value = serde_json::from_str(&run(&[
        "testnet",
        "cost",
        "--dir",
        &d,
        "--seconds",
        "2",
        "--json",
    ]))
    .expect("testnet cost prints JSON");
    let per_node = cost["per_node"].as_array().expect("per_node");
    assert_eq!(per_node.len(), nodes, "{cost:#}");
    let hubs = per_node.iter().filter(|n| n["hub"] == true).count();
    assert!(hubs >= 8, "{cost:#}");
    for n in per_node {
        let links = n["connections"].as_u64().expect("connections") as usize;
        if n["hub"] == true {
            // Every other node dials the hubs (and nothing closes a link to a hub).
            assert!(links >= nodes - 1 - 2, "hub {n} holds {links} links");
        } else {
            // The hubs, the budget, and those that raced in at start before the budget was
            // full; a full mesh would be 39.
            assert!(
                links <= hubs + 2 * OTHER_PEERS,
                "{} holds {links} links: {cost:#}",
                n["name"]
            );
        }
    }
    let status = common::testnet_cli::status(&d);
    assert_eq!(status["agree"], true, "{status:#}");
}
