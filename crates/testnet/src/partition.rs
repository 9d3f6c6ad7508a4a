//! `medblock testnet partition GROUP... [--for SECONDS]` and `testnet heal`: a network
//! partition on a running testnet. The group (node names, or region names standing for every
//! node of the region) is cut off from the rest at the p2p layer while its members keep their
//! links to each other: each member's `POST /admin/p2p/disconnect` keeps the other members'
//! peer ids. The nodes outside are not touched; their dials to the group are refused by the
//! group's block lists, both ways. `--for S` heals after S seconds (every member reconnects);
//! `heal` reconnects every running node, whatever cut it off.

use crate::error::{Result, TestnetError};
use crate::ops::progress;
use crate::perturb::admin;
use crate::process;
use crate::state::{NodeEntry, TestnetState};
use std::path::Path;
use std::time::Duration;

/// The running nodes `groups` names: each a node name or a region (all of its nodes). Refuses
/// unknown names, nodes that are not running, and a group that leaves nobody outside.
pub fn members(state: &TestnetState, groups: &[String]) -> Result<Vec<NodeEntry>> {
    if groups.is_empty() {
        return Err(TestnetError::Invalid(
            "name the nodes or regions to partition off".into(),
        ));
    }
    let live: Vec<&NodeEntry> = state.nodes.iter().filter(|n| !n.removed).collect();
    let mut out: Vec<NodeEntry> = Vec::new();
    for g in groups {
        let found: Vec<&NodeEntry> = live
            .iter()
            .copied()
            .filter(|n| n.spec.name == *g || n.spec.region == *g)
            .collect();
        if found.is_empty() {
            let regions: std::collections::BTreeSet<&str> =
                live.iter().map(|n| n.spec.region.as_str()).collect();
            return Err(TestnetError::Invalid(format!(
                "`{g}` is neither a node nor a region of this testnet (regions: {})",
                regions.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        for n in found {
            if !out.iter().any(|o| o.spec.name == n.spec.name) {
                out.push(n.clone());
            }
        }
    }
    if let Some(n) = out.iter().find(|n| !n.pid.is_some_and(process::alive)) {
        return Err(TestnetError::Invalid(format!(
            "{} is not running: a partition cuts running nodes off (try `perturb {} restart`)",
            n.spec.name, n.spec.name
        )));
    }
    if out.len() >= live.len() {
        return Err(TestnetError::Invalid(
            "the group holds every node: a partition needs nodes on both sides".into(),
        ));
    }
    Ok(out)
}

/// Cuts the group off from the rest; with `hold`, heals it after that long.
pub fn partition(dir: &Path, groups: &[String], hold: Option<Duration>) -> Result<()> {
    let state = TestnetState::load(dir)?;
    let group = members(&state, groups)?;
    let names: Vec<&str> = group.iter().map(|n| n.spec.name.as_str()).collect();
    for node in &group {
        let keep: Vec<&str> = group
            .iter()
            .filter(|o| o.spec.name != node.spec.name)
            .map(|o| o.peer_id.as_str())
            .collect();
        let answer = admin(
            &node.api(),
            "disconnect",
            Some(&serde_json::json!({ "keep": keep })),
        )?;
        progress(format!(
            "{}: cut off from the other side ({} peer(s) closed, {} kept)",
            node.spec.name,
            answer["peers_closed"].as_u64().unwrap_or(0),
            keep.len()
        ));
    }
    progress(format!(
        "partitioned: [{}] | the other {} node(s)",
        names.join(", "),
        state.nodes.iter().filter(|n| !n.removed).count() - group.len()
    ));
    if let Some(hold) = hold {
        progress(format!("holding the partition {:.1}s", hold.as_secs_f64()));
        std::thread::sleep(hold);
        for node in &group {
            reconnect(node)?;
        }
        progress(format!("healed: [{}] reconnected", names.join(", ")));
    }
    Ok(())
}

/// Reconnects every running node (lifting any partition or disconnect); returns how many
/// were cut off.
pub fn heal(dir: &Path) -> Result<usize> {
    let state = TestnetState::load(dir)?;
    let mut healed = 0;
    for node in state
        .nodes
        .iter()
        .filter(|n| !n.removed && n.pid.is_some_and(process::alive))
    {
        if reconnect(node)? > 0 {
            healed += 1;
        }
    }
    Ok(healed)
}

/// `reconnect` on one node, printing what it redialled; returns how many peers it dialled.
fn reconnect(node: &NodeEntry) -> Result<u64> {
    let answer = admin(&node.api(), "reconnect", None)?;
    let dialled = answer["peers_dialled"].as_u64().unwrap_or(0);
    if dialled > 0 {
        progress(format!(
            "{}: reconnected ({dialled} peer(s) redialled)",
            node.spec.name
        ));
    }
    Ok(dialled)
}
