//! Health that knows consensus: `/livez`, `/readyz` and `/healthz`, unauthenticated (load
//! balancers and orchestrators call them) and revealing no ledger content: counts, heights and
//! the names of the checks, never a hash, a peer's name or a record.
//!
//! Three checks, each with its figures in the answer:
//!
//! * **peers**: the node is connected to (has admitted, after the certificate handshake) a
//!   quorum of the orderers in force, counting itself when it is one: at least `2f + 1` of
//!   the `n` orderers, `f = (n - 1) / 3`. Why orderers and why `2f + 1`: a block is final when
//!   `2f + 1` orderers signed its commit certificate, so a node that reaches fewer than that is
//!   on the minority side of a partition (it cannot take part in, nor directly hear, a quorum's
//!   decisions), and `2f + 1` direct orderer links guarantee that at least `f + 1` of them are
//!   honest, so `f` Byzantine peers alone cannot eclipse it. Other roles (committers,
//!   departments) are left out: losing them does not stop the node from following the chain.
//!   In a network larger than the node's peer target (`P2pConfig::target_peers`, 64) a node
//!   dials only that many peers and need not hold a link to every orderer (gossip relays their
//!   decisions); there it also passes when connected to two thirds of its target, a sample no
//!   minority side of a partition can give it. A node whose p2p layer is cut off
//!   (`POST /admin/p2p/disconnect`) fails this check whatever it last saw.
//! * **height**: its committed height is within [`MAX_LAG`] blocks of the highest height any
//!   admitted peer claimed in a signed ledger claim (the committer checks each claim's
//!   signature before it counts; peers demoted for claiming heights they did not serve are
//!   left out, so one liar cannot make every node unhealthy).
//! * **view_changes**: no view-change storm: the orderer started at most
//!   [`STORM_VIEW_CHANGES`] PBFT view changes in the last [`STORM_WINDOW`] (one or two after a
//!   crashed leader are normal; a steady stream means the committee cannot agree).
//!
//! `/healthz` is all three; `/readyz` (load balancers: send traffic here?) is started, peers
//! and height, but not the storm check: a storm is network-wide, and taking every node out of
//! the balancer at once helps nobody; `/livez` (liveness: restart me?) only says the process
//! serves HTTP and its actors answer, so a network fault never gets a healthy node restarted.

use medblock_actors::RunningNode;
use medblock_actors::committer::ingress::GetCommitterStatus;
use medblock_actors::orderer::ingress::GetConsensusStatus;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Most blocks a healthy node may be behind the best height its peers claim. Claims are
/// gossiped every ledger gossip interval and blocks reach peers at slightly different times, so
/// a node keeping up is seen one or two blocks behind now and then; five leaves room for that
/// under load while a node that stopped following falls past it within seconds.
pub const MAX_LAG: u64 = 5;

/// The window over which view changes are counted.
pub const STORM_WINDOW: Duration = Duration::from_secs(30);

/// Most view changes a healthy orderer starts within [`STORM_WINDOW`]: a crashed or paused
/// leader costs one per turn it would have led, and a backed-off retry or two; more than four
/// in 30 s means views keep failing.
pub const STORM_VIEW_CHANGES: u64 = 4;

/// How long a check waits for an actor to answer before the node counts as not serving.
const ACTOR_WAIT: Duration = Duration::from_secs(2);

/// Peers check figures.
#[derive(Debug, Clone, Serialize)]
pub struct PeersCheck {
    /// Passed.
    pub ok: bool,
    /// Orderers reachable: admitted orderer peers, plus this node when it is an orderer.
    pub orderers_connected: usize,
    /// Orderers in force.
    pub orderers: usize,
    /// How many must be reachable (`2f + 1`).
    pub quorum: usize,
    /// Admitted peers of any role.
    pub peers: usize,
    /// Other certified nodes in force.
    pub certified: usize,
    /// Admitted peers that pass the check on their own, in a network larger than the node's
    /// peer target (two thirds of the target); 0 when the orderer quorum is the only rule.
    pub peer_quorum: usize,
    /// The p2p layer is cut off (admin disconnect).
    pub p2p_disconnected: bool,
    /// The p2p layer is cut off from all but a kept few peers (one side of a partition).
    pub p2p_partitioned: bool,
}

/// Height check figures.
#[derive(Debug, Clone, Serialize)]
pub struct HeightCheck {
    /// Passed.
    pub ok: bool,
    /// This node's committed height.
    pub height: u64,
    /// The highest height an admitted, undemoted peer claimed (signed).
    pub best_known: u64,
    /// How far behind it this node is.
    pub behind: u64,
    /// Allowed lag ([`MAX_LAG`]).
    pub max_behind: u64,
}

/// View-change check figures.
#[derive(Debug, Clone, Serialize)]
pub struct ViewChangeCheck {
    /// Passed.
    pub ok: bool,
    /// View changes started in the window.
    pub recent: u64,
    /// The window, seconds.
    pub window_s: u64,
    /// Most allowed ([`STORM_VIEW_CHANGES`]).
    pub max: u64,
}

/// Every check.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// Connected to a quorum of orderers.
    pub peers: PeersCheck,
    /// Caught up.
    pub height: HeightCheck,
    /// No view-change storm.
    pub view_changes: ViewChangeCheck,
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `ok`, or `unhealthy` / `not_ready`.
    pub status: &'static str,
    /// The checks that failed, by name (`peers`, `height`, `view_changes`, `started`).
    pub failed: Vec<&'static str>,
    /// The figures of every check (absent when the node's actors did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
    /// Why the checks could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which answer is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz`: every check.
    Health,
    /// `/readyz`: started, peers and height.
    Ready,
}

/// `2f + 1` of `n` (`f = (n - 1) / 3`), the size of a PBFT quorum; 0 for no orderers.
pub fn quorum(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    2 * ((n - 1) / 3) + 1
}

/// In a network of `certified` other nodes, more than a node's peer `target`: two thirds of
/// the target (the node dials only that many); 0 (no such rule) in a smaller network, where
/// every node dials every other and the orderer quorum decides.
pub fn peer_quorum(certified: usize, target: usize) -> usize {
    if certified > target {
        (2 * target).div_ceil(3).max(1)
    } else {
        0
    }
}

/// Runs the checks `probe` needs.
pub async fn check(node: &RunningNode, probe: Probe) -> HealthReport {
    let bad = match probe {
        Probe::Health => "unhealthy",
        Probe::Ready => "not_ready",
    };
    let asked = tokio::time::timeout(ACTOR_WAIT, async {
        let c = node.committer.status.send(GetCommitterStatus).await?;
        // Asked only to know that the orderer answers (a wedged one fails `started`).
        node.orderer.status.send(GetConsensusStatus).await?;
        Ok::<_, medblock_actors::ActorError>(c)
    })
    .await;
    let c = match asked {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return HealthReport {
                status: bad,
                failed: vec!["started"],
                checks: None,
                error: Some(format!("the node's actors do not answer: {e}")),
            };
        }
        Err(_) => {
            return HealthReport {
                status: bad,
                failed: vec!["started"],
                checks: None,
                error: Some(format!(
                    "the node's actors did not answer within {} s",
                    ACTOR_WAIT.as_secs()
                )),
            };
        }
    };
    let ctx = &node.ctx;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let orderers = ctx.membership().orderers;
    let admitted = ctx.peers.all();
    let me = ctx.key();
    let isolated = ctx.net.is_isolated();
    let connected = orderers
        .iter()
        .filter(|o| **o == me || admitted.iter().any(|(k, _)| k == *o))
        .count();
    let q = quorum(orderers.len());
    let certified = ctx
        .config()
        .state
        .in_force()
        .filter(|c| c.key != me)
        .count();
    let peer_quorum = peer_quorum(certified, ctx.net.target_peers());
    let enough_peers = peer_quorum > 0 && admitted.len() >= peer_quorum;
    let peers = PeersCheck {
        ok: !isolated && (connected >= q || enough_peers),
        orderers_connected: if isolated {
            usize::from(orderers.contains(&me))
        } else {
            connected
        },
        orderers: orderers.len(),
        quorum: q,
        peers: if isolated { 0 } else { admitted.len() },
        certified,
        peer_quorum,
        p2p_disconnected: isolated,
        p2p_partitioned: !isolated && ctx.net.is_cut_off(),
    };
    let best = admitted
        .iter()
        .filter(|(k, _)| !ctx.peers.is_demoted(k, now_ms))
        .map(|(_, e)| e.height)
        .max()
        .unwrap_or(0)
        .max(c.height);
    let behind = best.saturating_sub(c.height);
    let height = HeightCheck {
        ok: behind <= MAX_LAG,
        height: c.height,
        best_known: best,
        behind,
        max_behind: MAX_LAG,
    };
    let recent = (node.ctx.counters.view_change_times).within(STORM_WINDOW, Instant::now());
    let view_changes = ViewChangeCheck {
        ok: recent <= STORM_VIEW_CHANGES,
        recent,
        window_s: STORM_WINDOW.as_secs(),
        max: STORM_VIEW_CHANGES,
    };
    let mut failed = Vec::new();
    if !peers.ok {
        failed.push("peers");
    }
    if !height.ok {
        failed.push("height");
    }
    if probe == Probe::Health && !view_changes.ok {
        failed.push("view_changes");
    }
    HealthReport {
        status: if failed.is_empty() { "ok" } else { bad },
        failed,
        checks: Some(Checks {
            peers,
            height,
            view_changes,
        }),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_two_f_plus_one() {
        for (n, q) in [
            (0, 0),
            (1, 1),
            (3, 1),
            (4, 3),
            (6, 3),
            (7, 5),
            (10, 7),
            (100, 67),
        ] {
            assert_eq!(quorum(n), q, "n = {n}");
        }
    }

    #[test]
    fn peers_count_on_their_own_only_beyond_the_peer_target() {
        assert_eq!(peer_quorum(9, 64), 0);
        assert_eq!(peer_quorum(64, 64), 0);
        assert_eq!(peer_quorum(99, 64), 43);
        assert_eq!(peer_quorum(299, 64), 43);
        assert_eq!(peer_quorum(5, 1), 1);
    }
}
