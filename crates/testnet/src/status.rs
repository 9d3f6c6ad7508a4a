//! `testnet status`: every node's name, roles, region, addresses, height, tip and health, and
//! whether the ledgers agree. Nodes are asked concurrently, so a hundred take one round trip.

use crate::http;
use crate::process::alive;
use crate::state::{NodeEntry, TestnetState};
use serde::{Deserialize, Serialize};

/// One node as `testnet status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    /// Certificate name.
    pub name: String,
    /// Roles as of now: those of its certificate in force on the ledger (none once revoked),
    /// or, when no running node answered `/config`, those it was created with.
    pub roles: Vec<String>,
    /// Where its certificate stands on the ledger: `genesis`, `certified at H`, `pending`
    /// (started, its certificate not on the ledger yet), `revoked at H`; empty when unknown.
    #[serde(default)]
    pub ledger: String,
    /// Region.
    pub region: String,
    /// p2p multiaddr (with peer id).
    pub p2p: String,
    /// HTTP address.
    pub http: String,
    /// Process id, while running.
    pub pid: Option<u32>,
    /// Committed height (0 when it did not answer).
    pub height: u64,
    /// Tip block id (hex; empty when it did not answer).
    pub tip_hash: String,
    /// Ledger hash (hex).
    pub ledger_hash: String,
    /// Current turn.
    pub turn: u64,
    /// PBFT view.
    pub view: u64,
    /// Admitted peers.
    pub peers: usize,
    /// Process alive, `/livez` and `/status` answer, and no peer flagged for a ledger mismatch.
    pub healthy: bool,
    /// What the node's consensus-aware `/healthz` says: `ok`, or the checks that failed
    /// (`peers`, `height`, `view_changes`), empty when it did not answer.
    #[serde(default)]
    pub health: String,
    /// Why it is not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The whole network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// No two answering nodes at the same height disagree on tip or ledger hash, and no node
    /// flagged a peer's ledger: the ledgers are prefixes of one chain.
    pub agree: bool,
    /// Every member is healthy and at the same height, tip and ledger hash.
    pub converged: bool,
    /// Every member (removed nodes are left out).
    pub nodes: Vec<NodeReport>,
}

impl NetworkStatus {
    /// The lowest height among healthy nodes (0 if none).
    pub fn min_height(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.healthy)
            .map(|n| n.height)
            .min()
            .unwrap_or(0)
    }
}

async fn report(entry: &NodeEntry) -> NodeReport {
    let url = entry.url();
    let running = entry.pid.is_some_and(alive);
    let mut r = NodeReport {
        name: entry.spec.name.clone(),
        roles: entry.spec.roles.clone(),
        ledger: String::new(),
        region: entry.spec.region.clone(),
        p2p: entry.multiaddr(),
        http: entry.http(),
        pid: entry.pid.filter(|p| alive(*p)),
        height: 0,
        tip_hash: String::new(),
        ledger_hash: String::new(),
        turn: 0,
        view: 0,
        peers: 0,
        healthy: false,
        health: String::new(),
        problem: None,
    };
    if !running {
        r.problem = Some("not running".into());
        return r;
    }
    if !http::live(&url).await {
        r.problem = Some("/livez does not answer".into());
        return r;
    }
    if let Some((code, body)) = http::health(&url).await {
        r.health = if code == 200 {
            "ok".into()
        } else {
            let failed: Vec<&str> = body["failed"]
                .as_array()
                .map(|a| a.iter().filter_map(|f| f.as_str()).collect())
                .unwrap_or_default();
            if failed.is_empty() {
                format!("HTTP {code}")
            } else {
                failed.join(",")
            }
        };
    }
    match http::status(&url).await {
        Ok(s) => {
            let u = |k: &str| s[k].as_u64().unwrap_or(0);
            let t = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
            r.height = u("height");
            r.tip_hash = t("tip_hash");
            r.ledger_hash = t("ledger_hash");
            r.turn = u("turn");
            r.view = u("view");
            r.peers = s["peers"].as_array().map(Vec::len).unwrap_or(0);
            let flagged = s["flagged"].as_array().map(Vec::len).unwrap_or(0);
            if flagged > 0 {
                r.problem = Some(format!("{flagged} peer(s) flagged for a ledger mismatch"));
            } else {
                r.healthy = true;
            }
        }
        Err(e) => r.problem = Some(e.to_string()),
    }
    r
}

/// The configuration in force, from the first running member that answers `/config`.
async fn ledger_config(state: &TestnetState) -> Option<serde_json::Value> {
    for n in state.members().filter(|n| n.pid.is_some_and(alive)) {
        if let Ok(c) = http::config(&n.api()).await {
            return Some(c);
        }
    }
    None
}

/// Sets `r`'s roles and ledger standing from the configuration's certificates (the newest
/// certificate with its name).
fn as_of_now(r: &mut NodeReport, config: &serde_json::Value) {
    let newest = config["certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == r.name.as_str())
        .max_by_key(|c| c["serial"].as_u64().unwrap_or(0));
    let Some(c) = newest else {
        r.ledger = "pending".into();
        return;
    };
    let roles: Vec<String> = c["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    match (c["issued_at"].as_u64(), c["revoked_at"].as_u64()) {
        (_, Some(h)) => {
            r.roles.clear();
            r.ledger = format!("revoked at {h}");
        }
        (Some(0) | None, None) => {
            r.roles = roles;
            r.ledger = "genesis".into();
        }
        (Some(h), None) => {
            r.roles = roles;
            r.ledger = format!("certified at {h}");
        }
    }
}

/// Asks every member for its status, and one for the configuration in force.
pub async fn network(state: &TestnetState) -> NetworkStatus {
    let (mut nodes, config) = futures::join!(
        futures::future::join_all(state.members().map(report)),
        ledger_config(state)
    );
    if let Some(config) = &config {
        for r in &mut nodes {
            as_of_now(r, config);
        }
    }
    let answered: Vec<&NodeReport> = nodes.iter().filter(|n| !n.tip_hash.is_empty()).collect();
    let mut agree = !answered.is_empty()
        && nodes
            .iter()
            .all(|n| n.problem.as_deref().is_none_or(|p| !p.contains("flagged")));
    for a in &answered {
        for b in &answered {
            if a.height == b.height && (a.tip_hash != b.tip_hash || a.ledger_hash != b.ledger_hash)
            {
                agree = false;
            }
        }
    }
    let converged = agree
        && nodes.iter().all(|n| n.healthy)
        && nodes.windows(2).all(|w| {
            w[0].height == w[1].height
                && w[0].tip_hash == w[1].tip_hash
                && w[0].ledger_hash == w[1].ledger_hash
        });
    NetworkStatus {
        agree,
        converged,
        nodes,
    }
}

/// A table for people.
pub fn render(s: &NetworkStatus) -> String {
    let mut out = format!(
        "{:<22} {:<26} {:<9} {:<6} {:<22} {:<17} {:>6} {:<16} {:>5} {:>5} {}\n",
        "NAME",
        "ROLES",
        "REGION",
        "PID",
        "HTTP",
        "P2P PORT",
        "HEIGHT",
        "TIP",
        "TURN",
        "PEERS",
        "HEALTH"
    );
    for n in &s.nodes {
        let port = n.p2p.split('/').nth(4).unwrap_or_default().to_owned();
        out.push_str(&format!(
            "{:<22} {:<26} {:<9} {:<6} {:<22} {:<17} {:>6} {:<16} {:>5} {:>5} {}\n",
            n.name,
            match n.ledger.as_str() {
                "pending" => "(pending)".to_owned(),
                l if l.starts_with("revoked") => format!("({l})"),
                _ => n.roles.join(","),
            },
            n.region,
            n.pid.map(|p| p.to_string()).unwrap_or("-".into()),
            n.http,
            port,
            n.height,
            n.tip_hash.get(..16).unwrap_or(n.tip_hash.as_str()),
            n.turn,
            n.peers,
            if n.healthy && n.health == "ok" {
                "ok".to_owned()
            } else if n.healthy {
                format!("degraded: {}", n.health)
            } else {
                n.problem.clone().unwrap_or_else(|| "unhealthy".into())
            }
        ));
    }
    out.push_str(&format!(
        "{} nodes; ledgers {}; {}\n",
        s.nodes.len(),
        if s.agree { "agree" } else { "DISAGREE" },
        if s.converged {
            "converged (same height and tip everywhere)"
        } else {
            "not converged"
        }
    ));
    out
}
