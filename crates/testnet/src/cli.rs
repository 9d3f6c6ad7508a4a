//! `medblock testnet ...`: parsing and printing; the work is in [`crate::ops`].

use crate::error::{Result, TestnetError};
use crate::layout::{self, NodeSpec};
use crate::ops::{self, UpOptions, progress};
use crate::state::TestnetState;
use crate::{patients, status};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// The testnet directory option every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The testnet directory (CA, nodes, logs, state, prometheus.yml).
    #[arg(long, default_value = ".medblock/testnet")]
    pub dir: PathBuf,
}

/// `medblock testnet ...`.
#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Create a CA, certificates, configs and data dirs, start N node processes on 127.0.0.1
    /// and return once the network has committed its first block (nodes keep running).
    /// Without flags: 10 nodes (4 orderers, 2 regions, endorsers, 2 hospital departments)
    /// with demo traffic; `--nodes N` (any N from 4) picks a layout that fits and prints it.
    Up(UpArgs),
    /// Every node's name, roles, region, addresses, height, tip and health; whether all agree.
    Status {
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
        /// Print JSON: {agree, converged, nodes: [{name, roles, region, p2p, http, height,
        /// tip_hash, healthy, ...}]}.
        #[arg(long)]
        json: bool,
    },
    /// Certify and start a new node that catches up (not in genesis: it joins as a committer
    /// or department; consensus roles need a new genesis).
    Add {
        /// The new node's name.
        name: String,
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
        /// Its region.
        #[arg(long, default_value = "region-1")]
        region: String,
        /// Its roles.
        #[arg(long, value_delimiter = ',', default_value = "committer")]
        roles: Vec<String>,
        /// Hospital (departments).
        #[arg(long, default_value = "")]
        hospital: String,
        /// Department (departments).
        #[arg(long, default_value = "")]
        department: String,
        /// Seconds to wait for it to catch up.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Revoke a node's certificate (gossiped by another node) and stop it for good.
    Remove {
        /// The node.
        name: String,
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Write the same network for a container platform instead of starting it here: CA
    /// material, genesis and node configs, plus a compose project (`--compose DIR`) or
    /// Kubernetes manifests (`--kubernetes DIR`). Nodes find each other by DNS name.
    Render(RenderArgs),
    /// Kill a node's process (SIGKILL, as a crash).
    Kill {
        /// The node.
        name: String,
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Stop (if running) and start a node again from its on-disk state.
    Restart {
        /// The node.
        name: String,
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
        /// Seconds to wait for it to answer.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Fault injection: kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT), restart, or
    /// disconnect / reconnect a node from every peer at the p2p layer (through its admin API,
    /// with its API token). `--for S` undoes kill, pause or disconnect after S seconds.
    Perturb {
        /// The node.
        name: String,
        /// What to do to it.
        action: crate::perturb::Perturbation,
        /// Undo it after this many seconds (kill → restart, pause → resume,
        /// disconnect → reconnect).
        #[arg(long = "for", value_name = "SECONDS")]
        hold: Option<f64>,
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
        /// Seconds a restart waits for the node to answer.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Partition: cut a group of nodes off from the rest at the p2p layer; its members keep
    /// their links to each other. Each GROUP is a node or a region (all of its nodes).
    /// `--for S` heals after S seconds; else `testnet heal` does.
    Partition {
        /// Nodes or regions on the cut-off side.
        #[arg(required = true)]
        groups: Vec<String>,
        /// Heal after this many seconds.
        #[arg(long = "for", value_name = "SECONDS")]
        hold: Option<f64>,
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Heal every partition and disconnect: every running node reconnects to its peers.
    Heal {
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Chaos under load: drive visits at `--load` per second through the departments (each
    /// answered at commit), perturb one node at a time at random (kill and restart, pause and
    /// resume, disconnect and reconnect), then report sent, acknowledged, lost, duplicated,
    /// stalls and recovery times, and whether every ledger agrees; writes CSV, JSON and a PNG
    /// timeline to the results folder. Exits non-zero when anything acknowledged was lost, a
    /// visit is on the ledger twice, the ledgers disagree or the network did not converge.
    Chaos(ChaosArgs),
    /// What the running nodes cost this machine, from /proc: cores used by all of them over
    /// `--seconds`, RSS per node (p50, max), threads, p2p connections per node (p50, max;
    /// hubs and others) and CPU by thread name. Sends nothing to the nodes.
    Cost {
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
        /// The window, seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Print the report (every node included) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop every node and the demo traffic (data is kept: `up --dir` starts them again).
    Down {
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Submit demo visits until killed (started by `up`).
    #[command(hide = true)]
    Traffic {
        /// The testnet directory.
        #[command(flatten)]
        dir: DirArg,
        /// Visits per second.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
    },
}

/// Options of `testnet up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Peers (node processes): any number from 4 (default 10). Small networks share roles
    /// (orderers that are also endorser candidates and a hospital department); the layout is
    /// printed before the nodes start.
    #[arg(long)]
    nodes: Option<usize>,
    /// Regions (default: 2 when every node can have its own role with an endorser and a
    /// hospital in each, else 1).
    #[arg(long)]
    regions: Option<usize>,
    /// Orderers (PBFT committee pool, at least 4; default 4).
    #[arg(long)]
    orderers: Option<usize>,
    /// Demo visits per second (default: 2 when no layout flag is given, else 0).
    #[arg(long)]
    traffic: Option<f64>,
    /// Stay attached: print status every 10 s, stop everything on Ctrl-C.
    #[arg(long)]
    foreground: bool,
    /// Seconds to wait for each step (a wave of nodes answering, the first block). Default:
    /// 300, or 2 per node above 150 nodes (a 2-core machine starts 500 nodes in 8 minutes and
    /// commits their first block 3 minutes later).
    #[arg(long)]
    timeout: Option<u64>,
    /// The medblock binary the nodes run (default: this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Print the network's status as JSON when up.
    #[arg(long)]
    json: bool,
    /// Put every node on its own host: a Linux network namespace with its own address on a
    /// virtual bridge (real TCP between hosts, nothing on 127.0.0.1; needs root). Light
    /// nodes run in the client host (`ip netns exec <testnet.json hosts> ...`).
    #[arg(long)]
    hosts: bool,
    /// With --hosts: emulated one-way latency between hosts of different regions, in ms
    /// (each node holds back what it receives from the other region's hosts; tests and
    /// benchmarks only, these machines have no netem).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

/// Options of `testnet chaos`.
#[derive(Debug, Args)]
pub struct ChaosArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Kills (SIGKILL, restarted after a short random pause).
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Pauses (SIGSTOP, resumed after a short random pause; default: a fifth of --kills).
    #[arg(long)]
    pauses: Option<usize>,
    /// p2p disconnects (reconnected after a short random pause; default: a fifth of --kills).
    #[arg(long)]
    disconnects: Option<usize>,
    /// Visits per second, spread over the departments, each answered at commit.
    #[arg(long, default_value_t = 10.0)]
    load: f64,
    /// Perturb hospital departments too (else orderers and endorsers only).
    #[arg(long)]
    include_departments: bool,
    /// RNG seed (default: from the clock; printed, so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds between one perturbation's undo and the next, MIN-MAX (uniform).
    #[arg(long, default_value = "2-5", value_parser = crate::chaos::parse_range)]
    every: (f64, f64),
    /// Seconds a perturbation lasts before it is undone, MIN-MAX (uniform).
    #[arg(long, default_value = "0.5-2", value_parser = crate::chaos::parse_range)]
    hold: (f64, f64),
    /// Seconds of load before the first perturbation and after the last.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Seconds to wait for the network to converge once the load stopped.
    #[arg(long, default_value_t = 180)]
    converge_timeout: u64,
    /// The results folder (default DIR/results/chaos-<UTC time>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn chaos(a: ChaosArgs) -> Result<()> {
    if !(a.warmup.is_finite() && (0.0..=3600.0).contains(&a.warmup)) {
        return Err(TestnetError::Invalid(format!(
            "--warmup {}: give between 0 and 3600 seconds",
            a.warmup
        )));
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let opts = crate::chaos::ChaosOptions {
        dir: a.dir.dir,
        kills: a.kills,
        pauses: a.pauses.unwrap_or(a.kills / 5),
        disconnects: a.disconnects.unwrap_or(a.kills / 5),
        load: a.load,
        include_departments: a.include_departments,
        seed,
        every: a.every,
        hold: a.hold,
        warmup: Duration::from_secs_f64(a.warmup),
        settle: Duration::from_secs_f64(a.warmup),
        converge_timeout: Duration::from_secs(a.converge_timeout),
        out: a.out,
    };
    let report = crate::chaos::run(&opts)?;
    if a.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| TestnetError::Invalid(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", report.render());
    }
    report.verdict(opts.converge_timeout)?;
    Ok(())
}

/// Options of `testnet render`.
#[derive(Debug, Args)]
#[group(id = "target", required = true, multiple = false)]
pub struct RenderArgs {
    /// Write a compose project (compose.yaml, node dirs, prometheus.yml, grafana/) into DIR.
    #[arg(long, value_name = "DIR", group = "target")]
    compose: Option<PathBuf>,
    /// Write Kubernetes manifests (medblock.yaml) and the key material into DIR.
    #[arg(long, value_name = "DIR", group = "target")]
    kubernetes: Option<PathBuf>,
    /// Peers.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Regions.
    #[arg(long, default_value_t = 2)]
    regions: usize,
    /// Orderers.
    #[arg(long, default_value_t = 4)]
    orderers: usize,
    /// The node image (built from the repository's Dockerfile).
    #[arg(long, default_value = "medblock:latest")]
    image: String,
    /// Kubernetes namespace.
    #[arg(long, default_value = "medblock")]
    namespace: String,
    /// The medblock binary that makes the key material (default: this one).
    #[arg(long)]
    bin: Option<PathBuf>,
}

fn render(a: RenderArgs) -> Result<()> {
    let bin = match a.bin {
        Some(b) => b,
        None => std::env::current_exe()
            .map_err(|e| TestnetError::io("locating the medblock binary", e))?,
    };
    let (dir, kube) = match (a.compose, a.kubernetes) {
        (Some(d), None) => (d, false),
        (None, Some(d)) => (d, true),
        _ => {
            return Err(TestnetError::Invalid(
                "give one of --compose DIR or --kubernetes DIR".into(),
            ));
        }
    };
    let opts = crate::render::RenderOptions {
        dir,
        bin,
        nodes: a.nodes,
        regions: a.regions,
        orderers: a.orderers,
        image: a.image,
        namespace: a.namespace,
    };
    progress(format!(
        "rendering {} nodes into {}",
        opts.nodes,
        opts.dir.display()
    ));
    let path = if kube {
        crate::render::kubernetes::render(&opts)?
    } else {
        crate::render::compose::render(&opts)?
    };
    println!("wrote {}", path.display());
    println!(
        "the CA's private key is in {}: keep it offline, it is never mounted into a node",
        opts.dir.join("ca").display()
    );
    Ok(())
}

fn print_status(st: &status::NetworkStatus, json: bool) -> Result<()> {
    if json {
        let text =
            serde_json::to_string_pretty(st).map_err(|e| TestnetError::Invalid(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", status::render(st));
    }
    Ok(())
}

fn up(a: UpArgs) -> Result<()> {
    let defaults = a.nodes.is_none() && a.regions.is_none() && a.orderers.is_none();
    let bin = match a.bin {
        Some(b) => b,
        None => std::env::current_exe().map_err(|e| TestnetError::io("locating medblock", e))?,
    };
    // A testnet already in the directory is started again as it is: the flags do not apply.
    let shape = if TestnetState::path(&a.dir.dir).exists() {
        layout::Shape {
            nodes: a.nodes.unwrap_or(layout::DEFAULT_NODES),
            regions: a.regions.unwrap_or(2),
            orderers: a.orderers.unwrap_or(layout::DEFAULT_ORDERERS),
        }
    } else {
        let shape = layout::choose(a.nodes, a.regions, a.orderers)?;
        let plan = layout::plan(shape.nodes, shape.regions, shape.orderers)?;
        progress(layout::summary(&plan));
        for line in layout::describe(&plan) {
            progress(format!("  {line}"));
        }
        shape
    };
    let opts = UpOptions {
        dir: a.dir.dir.clone(),
        bin,
        nodes: shape.nodes,
        regions: shape.regions,
        orderers: shape.orderers,
        timeout: Duration::from_secs(a.timeout.unwrap_or_else(|| up_timeout_s(shape.nodes))),
        hosts: a.hosts,
        latency_ms: a.latency_ms,
    };
    let state = ops::up(&opts)?;
    let rate = a.traffic.unwrap_or(if defaults { 2.0 } else { 0.0 });
    if rate > 0.0 {
        let pid = ops::start_traffic(&state.dir, rate)?;
        progress(format!(
            "demo traffic: {rate} visits/s (pid {pid}, log logs/traffic.log)"
        ));
    }
    let st = ops::network_status(&state)?;
    print_status(&st, a.json)?;
    if !a.json {
        println!(
            "Prometheus: {}   Grafana: {}",
            state.dir.join("prometheus.yml").display(),
            state.dir.join("grafana").display()
        );
        if rate > 0.0 {
            println!(
                "{}",
                patients::read_records_hook(&state, Duration::from_secs(60))
            );
        }
        println!(
            "Stop with: medblock testnet down --dir {}",
            state.dir.display()
        );
    }
    if a.foreground {
        foreground(&state)?;
    }
    Ok(())
}

fn foreground(state: &TestnetState) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestnetError::io("starting an async runtime", e))?;
    progress("attached: Ctrl-C stops the network");
    rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    if let Ok(s) = TestnetState::load(&state.dir) {
                        print!("{}", status::render(&status::network(&s).await));
                    }
                }
            }
        }
    });
    let n = ops::down(&state.dir)?;
    progress(format!("stopped {n} nodes"));
    Ok(())
}

/// Runs a `testnet` command.
pub fn run(cmd: TestnetCommand) -> Result<()> {
    match cmd {
        TestnetCommand::Up(a) => up(a),
        TestnetCommand::Render(a) => render(a),
        TestnetCommand::Chaos(a) => chaos(a),
        TestnetCommand::Cost { dir, seconds, json } => {
            let r = crate::cost::measure(&dir.dir, Duration::from_secs(seconds))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r)
                        .map_err(|e| TestnetError::Invalid(e.to_string()))?
                );
            } else {
                println!("{}", crate::cost::render(&r));
            }
            Ok(())
        }
        TestnetCommand::Status { dir, json } => {
            let state = TestnetState::load(&dir.dir)?;
            print_status(&ops::network_status(&state)?, json)
        }
        TestnetCommand::Add {
            name,
            dir,
            region,
            roles,
            hospital,
            department,
            timeout,
        } => {
            let e = ops::add(
                &dir.dir,
                &NodeSpec {
                    name,
                    region,
                    roles,
                    hospital,
                    department,
                },
                Duration::from_secs(timeout),
            )?;
            println!(
                "{} added: p2p {} http {}",
                e.spec.name,
                e.multiaddr(),
                e.http()
            );
            Ok(())
        }
        TestnetCommand::Remove { name, dir } => {
            ops::remove(&dir.dir, &name)?;
            println!("{name} removed (certificate revoked, process stopped)");
            Ok(())
        }
        TestnetCommand::Kill { name, dir } => {
            ops::kill(&dir.dir, &name)?;
            println!("{name} killed");
            Ok(())
        }
        TestnetCommand::Restart { name, dir, timeout } => {
            let pid = ops::restart(&dir.dir, &name, Duration::from_secs(timeout))?;
            println!("{name} restarted (pid {pid})");
            Ok(())
        }
        TestnetCommand::Perturb {
            name,
            action,
            hold,
            dir,
            timeout,
        } => {
            let hold = hold.map(hold_seconds).transpose()?;
            crate::perturb::perturb(&dir.dir, &name, action, hold, Duration::from_secs(timeout))?;
            println!(
                "{name}: {action}{}",
                match hold {
                    Some(h) => format!(
                        " for {:.1}s, then {}",
                        h.as_secs_f64(),
                        action.reverse().map_or("", |r| r.name())
                    ),
                    None => String::new(),
                }
            );
            Ok(())
        }
        TestnetCommand::Partition { groups, hold, dir } => {
            let hold = hold.map(hold_seconds).transpose()?;
            crate::partition::partition(&dir.dir, &groups, hold)?;
            println!(
                "partitioned {}{}",
                groups.join(" "),
                hold.map_or(String::new(), |h| format!(
                    " for {:.1}s, then healed",
                    h.as_secs_f64()
                ))
            );
            Ok(())
        }
        TestnetCommand::Heal { dir } => {
            let n = crate::partition::heal(&dir.dir)?;
            println!("healed: {n} node(s) were cut off and reconnected");
            Ok(())
        }
        TestnetCommand::Down { dir } => {
            let n = ops::down(&dir.dir)?;
            println!("stopped {n} nodes");
            Ok(())
        }
        TestnetCommand::Traffic { dir, rate } => crate::traffic::run(&dir.dir, rate),
    }
}

/// `--for S` as a duration: 0 to a day.
fn hold_seconds(h: f64) -> Result<Duration> {
    if h.is_finite() && (0.0..=86_400.0).contains(&h) {
        Ok(Duration::from_secs_f64(h))
    } else {
        Err(TestnetError::Invalid(format!(
            "--for {h}: give between 0 and 86400 seconds"
        )))
    }
}

/// `testnet up`'s default wait per step for `nodes` nodes: 300 s, or 2 s per node above 150.
fn up_timeout_s(nodes: usize) -> u64 {
    u64::try_from(nodes).map_or(u64::MAX, |n| n.saturating_mul(2).max(300))
}

#[cfg(test)]
mod tests {
    use super::up_timeout_s;

    #[test]
    fn up_waits_longer_for_larger_networks() {
        assert_eq!(up_timeout_s(4), 300);
        assert_eq!(up_timeout_s(150), 300);
        assert_eq!(up_timeout_s(151), 302);
        assert_eq!(up_timeout_s(500), 1000);
    }
}
