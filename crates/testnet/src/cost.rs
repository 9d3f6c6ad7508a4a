//! `medblock testnet cost`: what the running node processes cost the machine, read from
//! `/proc` (Linux): CPU as the sum of every node's user + system time over a window, in cores;
//! resident memory (`VmRSS`) per node, with its private part (`RssAnon`: heap, stacks) and its
//! proportional share (`Pss`: pages shared with the other nodes, the binary's code above all,
//! divided among the processes that map them); threads per node; and each node's established p2p
//! connections (TCP sockets the process holds to or from a testnet node's p2p port; HTTP is
//! left out). Idle cost is this with no traffic (`up --traffic 0`); nothing is sent to the
//! nodes, so the measurement adds nothing to what it measures.

use crate::error::{Result, TestnetError};
use crate::state::TestnetState;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// One node's share.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCost {
    /// The node's name.
    pub name: String,
    /// Whether it is an orderer or an endorser (a hub every node keeps a link to).
    pub hub: bool,
    /// Cores it used over the window.
    pub cores: f64,
    /// Resident memory at the end, MB.
    pub rss_mb: f64,
    /// Of it, memory of its own (`RssAnon`), MB.
    pub private_mb: f64,
    /// Its proportional set size (`Pss`, shared pages divided by their sharers), MB.
    pub pss_mb: f64,
    /// Threads.
    pub threads: u64,
    /// Established p2p connections.
    pub connections: usize,
}

/// The whole network's.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    /// Node processes measured.
    pub nodes: usize,
    /// The window, seconds.
    pub seconds: f64,
    /// Cores used by all of them together.
    pub cores: f64,
    /// RSS per node, MB: median and largest.
    pub rss_mb_p50: f64,
    /// Largest RSS of a node, MB.
    pub rss_mb_max: f64,
    /// Private memory (`RssAnon`) per node, MB: median.
    pub private_mb_p50: f64,
    /// Largest private memory of a node, MB.
    pub private_mb_max: f64,
    /// Proportional set size per node, MB: median.
    pub pss_mb_p50: f64,
    /// Established p2p connections per node: median and largest.
    pub connections_p50: usize,
    /// Largest number of connections of a node.
    pub connections_max: usize,
    /// Median over the hubs (orderers, endorsers) alone.
    pub hub_connections_p50: usize,
    /// Median over the other nodes alone.
    pub other_connections_p50: usize,
    /// Threads per node (median).
    pub threads_p50: u64,
    /// CPU by thread name over all nodes, cores, largest first.
    pub by_thread: Vec<(String, f64)>,
    /// Every node.
    pub per_node: Vec<NodeCost>,
}

/// Clock ticks a second in `/proc/*/stat` (Linux's USER_HZ: 100 on every architecture
/// these nodes run on).
const CLOCK_TICKS: f64 = 100.0;

/// utime + stime in clock ticks from a `stat` file (fields after the command name).
fn ticks(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Every thread of `pid`: (name, ticks).
fn threads(pid: u32) -> HashMap<String, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let tid = t.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let name = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(n, _)| n.to_string())
            .unwrap_or_default();
        if let Some(ticks) = ticks(&stat) {
            out.insert(tid, (name, ticks));
        }
    }
    out
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A field of `/proc/PID/smaps_rollup` in kB (`Pss`, ...).
fn smaps_field(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Established TCP sockets by inode: (local port, remote port).
fn established() -> HashMap<u64, (u16, u16)> {
    let mut out = HashMap::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "01" {
                continue;
            }
            let port = |a: &str| {
                a.rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            };
            if let (Some(l), Some(r), Ok(inode)) = (port(f[1]), port(f[2]), f[9].parse::<u64>()) {
                out.insert(inode, (l, r));
            }
        }
    }
    out
}

/// Sockets `pid` holds, by inode.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse().ok())
        })
        .collect()
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> Option<T> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Measures the running nodes of the testnet at `dir` over `window`.
pub fn measure(dir: &Path, window: Duration) -> Result<CostReport> {
    let state = TestnetState::load(dir)?;
    let nodes: Vec<(String, bool, u32)> = state
        .members()
        .filter_map(|n| {
            let hub = n
                .spec
                .roles
                .iter()
                .any(|r| r == "orderer" || r == "endorser");
            n.pid
                .filter(|p| Path::new(&format!("/proc/{p}")).exists())
                .map(|p| (n.spec.name.clone(), hub, p))
        })
        .collect();
    if nodes.is_empty() {
        return Err(TestnetError::Invalid(format!(
            "no running node process in {}",
            dir.display()
        )));
    }
    let p2p_ports: HashSet<u16> = state.members().map(|n| n.p2p_port).collect();
    let before: Vec<_> = nodes.iter().map(|(_, _, p)| threads(*p)).collect();
    let start = Instant::now();
    std::thread::sleep(window);
    let seconds = start.elapsed().as_secs_f64();
    let hz = CLOCK_TICKS;
    let sockets = established();
    let mut by_thread: BTreeMap<String, f64> = BTreeMap::new();
    let mut per_node = Vec::with_capacity(nodes.len());
    for ((name, hub, pid), before) in nodes.iter().zip(before) {
        let after = threads(*pid);
        let mut used = 0u64;
        for (tid, (tname, t)) in &after {
            // A thread born during the window counts from zero.
            let d = t.saturating_sub(before.get(tid).map_or(0, |b| b.1));
            used += d;
            *by_thread.entry(tname.clone()).or_default() += d as f64 / hz / seconds;
        }
        let connections = socket_inodes(*pid)
            .into_iter()
            .filter_map(|i| sockets.get(&i))
            .filter(|(l, r)| p2p_ports.contains(l) || p2p_ports.contains(r))
            .count();
        per_node.push(NodeCost {
            name: name.clone(),
            hub: *hub,
            cores: used as f64 / hz / seconds,
            rss_mb: status_field(*pid, "VmRSS").unwrap_or(0) as f64 / 1024.0,
            private_mb: status_field(*pid, "RssAnon").unwrap_or(0) as f64 / 1024.0,
            pss_mb: smaps_field(*pid, "Pss").unwrap_or(0) as f64 / 1024.0,
            threads: status_field(*pid, "Threads").unwrap_or(0),
            connections,
        });
    }
    let tenths = |f: fn(&NodeCost) -> f64| -> Vec<u64> {
        per_node.iter().map(|n| (f(n) * 10.0) as u64).collect()
    };
    let rss = tenths(|n| n.rss_mb);
    let private = tenths(|n| n.private_mb);
    let pss = tenths(|n| n.pss_mb);
    let conns = |hub: Option<bool>| {
        median(
            per_node
                .iter()
                .filter(|n| hub.is_none_or(|h| n.hub == h))
                .map(|n| n.connections)
                .collect(),
        )
        .unwrap_or(0)
    };
    let mut by_thread: Vec<(String, f64)> = by_thread.into_iter().collect();
    by_thread.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(CostReport {
        nodes: per_node.len(),
        seconds,
        cores: per_node.iter().map(|n| n.cores).sum(),
        rss_mb_p50: median(rss.clone()).unwrap_or(0) as f64 / 10.0,
        rss_mb_max: rss.iter().copied().max().unwrap_or(0) as f64 / 10.0,
        private_mb_p50: median(private.clone()).unwrap_or(0) as f64 / 10.0,
        private_mb_max: private.iter().copied().max().unwrap_or(0) as f64 / 10.0,
        pss_mb_p50: median(pss).unwrap_or(0) as f64 / 10.0,
        connections_p50: conns(None),
        connections_max: per_node.iter().map(|n| n.connections).max().unwrap_or(0),
        hub_connections_p50: conns(Some(true)),
        other_connections_p50: conns(Some(false)),
        threads_p50: median(per_node.iter().map(|n| n.threads).collect()).unwrap_or(0),
        by_thread,
        per_node,
    })
}

/// The report as a few lines.
pub fn render(r: &CostReport) -> String {
    let threads: Vec<String> = r
        .by_thread
        .iter()
        .take(6)
        .map(|(n, c)| format!("{n} {c:.3}"))
        .collect();
    format!(
        "{} nodes over {:.0} s: {:.3} cores ({:.2} ms/s per node)\n\
         RSS per node: p50 {:.1} MB, max {:.1} MB (private p50 {:.1} MB, max {:.1} MB; \
         proportional p50 {:.1} MB); threads per node: {}\n\
         p2p connections per node: p50 {} (hubs {}, others {}), max {}\n\
         cores by thread: {}",
        r.nodes,
        r.seconds,
        r.cores,
        r.cores * 1000.0 / r.nodes.max(1) as f64,
        r.rss_mb_p50,
        r.rss_mb_max,
        r.private_mb_p50,
        r.private_mb_max,
        r.pss_mb_p50,
        r.threads_p50,
        r.connections_p50,
        r.hub_connections_p50,
        r.other_connections_p50,
        r.connections_max,
        threads.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_command_name_with_spaces() {
        let stat = "42 (actix-rt|system 1) S 1 2 3 4 5 6 7 8 9 10 250 17 0 0";
        assert_eq!(ticks(stat), Some(267));
    }

    #[test]
    fn this_process_has_threads_and_memory() {
        let me = std::process::id();
        assert!(!threads(me).is_empty());
        assert!(status_field(me, "VmRSS").unwrap() > 0);
        let private = status_field(me, "RssAnon").unwrap();
        let pss = smaps_field(me, "Pss").unwrap();
        assert!(
            private > 0 && pss >= private,
            "private {private} kB, pss {pss} kB"
        );
        assert_eq!(smaps_field(me, "NoSuchField"), None);
    }
}
