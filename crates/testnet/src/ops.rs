//! The testnet's operations: `up` (CA, certificates, genesis, configs, processes, first
//! block), `add`, `remove`, `kill`, `restart` and `down`. Each step is a `medblock`
//! subcommand an operator could type (`ca init`, `ca issue`, `ca genesis`, `node init`,
//! `node run`, `node token create`, `ca revoke`), so the testnet exercises exactly what people
//! run. Every node gets an API token before it first starts, written to its `api-token` file
//! (mode 0600), which the testnet's own calls and `medblock client ... --node <its URL>` send.

use crate::error::{Result, TestnetError};
use crate::layout::{self, NodeSpec};
use crate::process::{self, Ports, Spawn, medblock};
use crate::state::{NodeEntry, TestnetState};
use crate::status::{self, NetworkStatus};
use crate::{http, patients, prometheus};
use medblock_core::keys::PublicKey;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `testnet up` builds.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The testnet directory.
    pub dir: PathBuf,
    /// The `medblock` binary the nodes run.
    pub bin: PathBuf,
    /// Peers.
    pub nodes: usize,
    /// Regions.
    pub regions: usize,
    /// Orderers.
    pub orderers: usize,
    /// How long to wait for the network to commit its first block.
    pub timeout: Duration,
    /// Every node on its own host (network namespace and address; see [`crate::hosts`]).
    pub hosts: bool,
    /// With `hosts`: emulated one-way latency between hosts of different regions, in ms.
    pub latency_ms: u64,
}

/// Processes started together after the first wave.
const START_WAVE: usize = 20;

/// Prints a progress line (stderr, so `--json` output stays clean).
pub fn progress(msg: impl AsRef<str>) {
    eprintln!("[testnet] {}", msg.as_ref());
}

fn rt() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestnetError::io("starting an async runtime", e))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Polls `check` every half second until it returns `Some`, printing its progress note when
/// it changes; fails after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> (Option<T>, String),
) -> Result<T> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let (done, note) = check();
        if let Some(v) = done {
            progress(format!(
                "{what}: done in {:.1}s",
                start.elapsed().as_secs_f64()
            ));
            return Ok(v);
        }
        if note != last {
            progress(format!("{what}: {note}"));
            last = note;
        }
        if start.elapsed() > timeout {
            return Err(TestnetError::Timeout {
                what: format!("{what} ({last})"),
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The network's status, now.
pub fn network_status(state: &TestnetState) -> Result<NetworkStatus> {
    Ok(rt()?.block_on(status::network(state)))
}

/// Certifies a node, writes its config and returns its entry (not yet started).
fn prepare(state: &TestnetState, spec: &NodeSpec, ports: &mut Ports) -> Result<NodeEntry> {
    prepare_serial(state, spec, ports).map(|(entry, _)| entry)
}

/// [`prepare`], also returning the certificate's serial (for `ca publish` after genesis).
fn prepare_serial(
    state: &TestnetState,
    spec: &NodeSpec,
    ports: &mut Ports,
) -> Result<(NodeEntry, u64)> {
    let dir = state.dir.join("nodes").join(&spec.name);
    let issued = medblock(
        &state.bin,
        &[
            "ca",
            "issue",
            "--dir",
            &s(&state.ca_dir()),
            "--name",
            &spec.name,
            "--region",
            &spec.region,
            "--roles",
            &spec.roles.join(","),
            "--hospital",
            &spec.hospital,
            "--department",
            &spec.department,
            "--node-dir",
            &s(&dir),
            "--json",
        ],
    )?;
    let serial = issued["serial"]
        .as_u64()
        .ok_or_else(|| TestnetError::Invalid(format!("`ca issue` gave no serial: {issued}")))?;
    let key = issued["key"]
        .as_str()
        .and_then(|k| PublicKey::from_hex(k).ok())
        .ok_or_else(|| TestnetError::Invalid(format!("`ca issue` gave no key: {issued}")))?;
    // On its own host a node has the machine's ports to itself: the usual ones.
    let host = match &state.hosts {
        Some(net) => Some(net.host(state.nodes.len())?),
        None => None,
    };
    let (p2p_port, http_port) = match host {
        Some(_) => (HOST_P2P_PORT, HOST_HTTP_PORT),
        None => (ports.take()?, ports.take()?),
    };
    Ok((
        NodeEntry {
            spec: spec.clone(),
            dir,
            p2p_port,
            http_port,
            peer_id: medblock_p2p::peer_id_string(&key),
            pid: None,
            removed: false,
            host,
        },
        serial,
    ))
}

/// Writes into a node's config the emulated latency to every host of another region
/// (`medblock_p2p::latency`: each end delays what it receives, so one way each).
fn emulate_latency(state: &TestnetState, entry: &NodeEntry, ms: u64) -> Result<()> {
    let others: Vec<String> = state
        .nodes
        .iter()
        .filter(|n| n.spec.region != entry.spec.region)
        .map(|n| format!("\"{}\"", n.ip()))
        .collect();
    let path = entry.dir.join("node.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| TestnetError::io(format!("reading {}", s(&path)), e))?;
    let text = text.replacen(
        "[p2p]\n",
        &format!(
            "[p2p]\n# Emulated latency (tests and benchmarks): {ms} ms one way from other regions' hosts.\n\
             emulated_latency_ms = {ms}\nemulated_latency_peers = [{}]\n",
            others.join(", ")
        ),
        1,
    );
    std::fs::write(&path, text).map_err(|e| TestnetError::io(format!("writing {}", s(&path)), e))
}

/// The p2p port of a node on its own host.
const HOST_P2P_PORT: u16 = 7000;
/// The HTTP port of a node on its own host.
const HOST_HTTP_PORT: u16 = 8080;

/// Writes `node.toml` for a prepared node.
fn init_node(state: &TestnetState, entry: &NodeEntry) -> Result<()> {
    let bootstrap = state.bootstrap_for(&entry.spec.name).join(",");
    let mut args = vec![
        "node".to_owned(),
        "init".into(),
        "--dir".into(),
        s(&entry.dir),
        "--genesis".into(),
        s(&state.genesis()),
        "--listen".into(),
        entry.listen(),
        "--http".into(),
        entry.http(),
        "--json".into(),
    ];
    if !bootstrap.is_empty() {
        args.push("--bootstrap".into());
        args.push(bootstrap);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    medblock(&state.bin, &refs)?;
    if state.request_timeout_ms != DEFAULT_REQUEST_TIMEOUT_MS {
        // `node init` writes the default; a large testnet's peers answer more slowly.
        let path = entry.dir.join("node.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TestnetError::io(format!("reading {}", s(&path)), e))?;
        let text = text.replace(
            &format!("request_timeout_ms = {DEFAULT_REQUEST_TIMEOUT_MS}"),
            &format!("request_timeout_ms = {}", state.request_timeout_ms),
        );
        std::fs::write(&path, text)
            .map_err(|e| TestnetError::io(format!("writing {}", s(&path)), e))?;
    }
    Ok(())
}

/// The request timeout `node init` writes.
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;

/// Issues the node's API token (`medblock node token create`, the secret written to its
/// `api-token` file, mode 0600) unless it holds one.
fn ensure_token(state: &TestnetState, entry: &NodeEntry) -> Result<()> {
    if entry.api_token().is_some() {
        return Ok(());
    }
    let dir = s(&entry.dir);
    // The file was lost but its token may still be active: revoke it, so the name is free.
    if entry.dir.join("data").join("api-tokens.json").exists() {
        let _ = medblock(
            &state.bin,
            &[
                "node", "token", "revoke", "--dir", &dir, TOKEN_NAME, "--json",
            ],
        );
    }
    medblock(
        &state.bin,
        &[
            "node",
            "token",
            "create",
            "--dir",
            &dir,
            "--name",
            TOKEN_NAME,
            "--out",
            &s(&entry.api_token_file()),
            "--json",
        ],
    )?;
    Ok(())
}

/// The name of the token `testnet up` issues for each node.
const TOKEN_NAME: &str = "testnet";

/// Starts a node's process and records its pid.
fn start(state: &mut TestnetState, name: &str) -> Result<u32> {
    let entry = state.node(name)?.clone();
    if entry.removed {
        return Err(TestnetError::Invalid(format!(
            "{name} was removed (its certificate is revoked); add a new node instead"
        )));
    }
    if let Some(pid) = entry.pid.filter(|p| process::alive(*p)) {
        return Ok(pid);
    }
    ensure_token(state, &entry)?;
    if let (Some(net), Some(_)) = (&state.hosts, &entry.host) {
        // After `testnet down` the hosts are gone: bring this one back at its address.
        net.ensure()?;
        let index = state
            .nodes
            .iter()
            .position(|n| n.spec.name == name)
            .unwrap_or(0);
        net.host(index)?;
    }
    let log = state.log_file(name);
    let pid = process::spawn(&Spawn {
        bin: &state.bin,
        args: vec!["node".into(), "run".into(), "--dir".into(), s(&entry.dir)],
        name,
        log: &log,
        netns: entry.host.as_ref().map(|h| h.netns.as_str()),
    })?;
    state.node_mut(name)?.pid = Some(pid);
    Ok(pid)
}

/// Waits until every named node answers `/status`.
fn wait_answering(state: &TestnetState, names: &[String], timeout: Duration) -> Result<()> {
    let rt = rt()?;
    let entries: Vec<NodeEntry> = names
        .iter()
        .map(|n| state.node(n).cloned())
        .collect::<Result<_>>()?;
    let outcome = wait_for("nodes answering", timeout, || {
        let answered = rt.block_on(futures::future::join_all(
            entries
                .iter()
                .map(|e| async move { http::status(&e.url()).await.is_ok() }),
        ));
        let dead: Vec<String> = entries
            .iter()
            .filter(|e| !e.pid.is_some_and(process::alive))
            .map(|e| e.spec.name.clone())
            .collect();
        if !dead.is_empty() {
            return (Some(Err(dead)), String::new());
        }
        let n = answered.iter().filter(|a| **a).count();
        (
            (n == entries.len()).then_some(Ok(())),
            format!("{n}/{} answering", entries.len()),
        )
    })?;
    outcome.map_err(|dead| {
        let why: Vec<String> = dead
            .iter()
            .map(|d| format!("{d}: {}", last_error(&state.log_file(d))))
            .collect();
        TestnetError::Invalid(format!("node(s) exited: {}", why.join("; ")))
    })
}

/// The last `Error:`/`Caused by` lines of a node's log, for a clear failure message.
fn last_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("  ") && !l.trim().is_empty() && !l.starts_with("Stack"))
        .collect();
    let tail = lines.len().saturating_sub(3);
    lines.get(tail..).map(|l| l.join(" ")).unwrap_or_default()
}

/// Brings up a new testnet in `opts.dir` (or restarts the stopped nodes of the one there) and
/// returns once every node has committed the first block.
pub fn up(opts: &UpOptions) -> Result<TestnetState> {
    if TestnetState::path(&opts.dir).exists() {
        let mut state = TestnetState::load(&opts.dir)?;
        progress(format!(
            "{} holds a testnet: starting its stopped nodes",
            s(&opts.dir)
        ));
        let names: Vec<String> = state.members().map(|n| n.spec.name.clone()).collect();
        for n in &names {
            start(&mut state, n)?;
        }
        state.save()?;
        wait_answering(&state, &names, opts.timeout)?;
        prometheus::write_files(&state)?;
        return Ok(state);
    }
    let plan = layout::plan(opts.nodes, opts.regions, opts.orderers)?;
    std::fs::create_dir_all(&opts.dir)
        .map_err(|e| TestnetError::io(format!("creating {}", s(&opts.dir)), e))?;
    let dir = std::fs::canonicalize(&opts.dir)
        .map_err(|e| TestnetError::io(format!("resolving {}", s(&opts.dir)), e))?;
    let mut state = TestnetState {
        bin: opts.bin.clone(),
        dir,
        regions: layout::regions(opts.regions),
        nodes: Vec::new(),
        traffic_pid: None,
        request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        hosts: None,
    };
    if opts.hosts {
        let net = crate::hosts::HostNet::create()?;
        progress(format!(
            "hosts: one network namespace per node on bridge {} ({}.0/24); light nodes run in {}",
            net.bridge(),
            net.subnet,
            net.client()?.netns
        ));
        state.hosts = Some(net);
        // Saved at once, so that `testnet down` removes the namespaces even if `up` fails.
        std::fs::create_dir_all(&state.dir)
            .map_err(|e| TestnetError::io(format!("creating {}", s(&state.dir)), e))?;
        state.save()?;
    }
    progress(format!(
        "creating a CA for {} regions in {}",
        opts.regions,
        s(&state.ca_dir())
    ));
    medblock(
        &state.bin,
        &[
            "ca",
            "init",
            "--dir",
            &s(&state.ca_dir()),
            "--regions",
            &state.regions.join(","),
            "--json",
        ],
    )?;
    let mut ports = Ports::new([]);
    for (i, spec) in plan.iter().enumerate() {
        let entry = prepare(&state, spec, &mut ports)?;
        state.nodes.push(entry);
        if (i + 1) % 10 == 0 || i + 1 == plan.len() {
            progress(format!("certificates: {}/{}", i + 1, plan.len()));
        }
    }
    // Timeouts and gossip intervals grow with the network: on a 2-core machine a hundred
    // processes share the CPU, and every node verifies every other node's ledger-hash claim.
    let scale = opts.nodes.div_ceil(25).max(1) as u64;
    let (vc, turn, gossip) = (
        (2_000 * scale).to_string(),
        (10_000 * scale).to_string(),
        (3_000 * scale).to_string(),
    );
    if scale > 1 {
        progress(format!(
            "{} nodes: view-change timeout {vc} ms, turn timeout {turn} ms, ledger gossip every {gossip} ms",
            opts.nodes
        ));
    }
    medblock(
        &state.bin,
        &[
            "ca",
            "genesis",
            "--dir",
            &s(&state.ca_dir()),
            "--out",
            &s(&state.genesis()),
            "--view-change-timeout-ms",
            &vc,
            "--turn-timeout-ms",
            &turn,
            "--ledger-gossip-interval-ms",
            &gossip,
            "--json",
        ],
    )?;
    state.request_timeout_ms = 5_000 * scale;
    progress("genesis signed; writing node configs");
    for e in &state.nodes {
        init_node(&state, e)?;
    }
    if opts.latency_ms > 0 {
        if state.hosts.is_none() {
            return Err(TestnetError::Invalid(
                "--latency-ms needs --hosts (latency is emulated between hosts)".into(),
            ));
        }
        progress(format!(
            "emulated latency: {} ms one way between hosts of different regions",
            opts.latency_ms
        ));
        for e in &state.nodes {
            emulate_latency(&state, e, opts.latency_ms)?;
        }
    }
    state.save()?;
    let names: Vec<String> = state.nodes.iter().map(|n| n.spec.name.clone()).collect();
    // Start in waves (consensus nodes and departments first, then committers in batches), so
    // a hundred processes on two cores do not all compete for the CPU while they start.
    let first = plan
        .iter()
        .filter(|p| p.roles != ["committer"])
        .count()
        .max(1);
    let mut started = 0;
    for wave in std::iter::once(first)
        .chain(std::iter::repeat(START_WAVE))
        .scan(0usize, |done, n| {
            let range = *done..(*done + n).min(names.len());
            *done = range.end;
            (!range.is_empty()).then_some(range)
        })
    {
        let batch = &names[wave];
        for n in batch {
            start(&mut state, n)?;
        }
        state.save()?;
        started += batch.len();
        progress(format!("processes started: {started}/{}", names.len()));
        wait_answering(&state, batch, opts.timeout)?;
    }
    let prom = prometheus::write_files(&state)?;
    progress(format!("Prometheus config: {}", s(&prom)));
    // The demo patients make their keys on their side (DIR/patients/) and enrol at every
    // hospital with their public keys before any visit of theirs is recorded.
    patients::enrol_everywhere(&state)?;
    first_block(&state, opts.timeout)?;
    Ok(state)
}

/// Submits a first visit through a department and waits until every member has committed it.
pub fn first_block(state: &TestnetState, timeout: Duration) -> Result<()> {
    let Some(dept) = state.members().find(|n| n.spec.is_department()).cloned() else {
        progress("no hospital department in this layout: no first block to wait for");
        return Ok(());
    };
    let rt = rt()?;
    let visit = crate::traffic::visits(&dept.spec, 0, 1);
    wait_for("first block committed", timeout, || {
        match rt.block_on(http::submit(
            &dept.api(),
            &visit,
            true,
            Duration::from_secs(20),
        )) {
            Ok(v) if v[0]["status"] == "committed" => (Some(()), String::new()),
            Ok(v) => (None, format!("visit not yet committed: {v}")),
            Err(e) => (None, format!("submitting through {}: {e}", dept.spec.name)),
        }
    })?;
    wait_for("every node at height >= 1", timeout, || {
        let st = rt.block_on(status::network(state));
        let behind = st.nodes.iter().filter(|n| n.height < 1).count();
        (
            (behind == 0).then_some(()),
            format!("{behind} nodes behind"),
        )
    })
}

/// `testnet add`: certifies a node that was not in genesis through the ledger (a CA-signed
/// configuration change submitted to a running member and waited for), starts it and waits
/// until it has caught up with the network's height at the time of the call. Its roles count
/// from the turn after the change: an orderer joins the pool committees are drawn from, an
/// endorser becomes a candidate of its region, a department may upload.
pub fn add(dir: &Path, spec: &NodeSpec, timeout: Duration) -> Result<NodeEntry> {
    let mut state = TestnetState::load(dir)?;
    if state.nodes.iter().any(|n| n.spec.name == spec.name) {
        return Err(TestnetError::Invalid(format!(
            "a node named {} already exists",
            spec.name
        )));
    }
    if spec.region.is_empty() {
        return Err(TestnetError::Invalid("--region must name a region".into()));
    }
    let via = state
        .members()
        .find(|n| n.pid.is_some_and(process::alive))
        .cloned()
        .ok_or_else(|| {
            TestnetError::Invalid("no running node to submit the certificate through".into())
        })?;
    if !state.regions.contains(&spec.region) {
        // A new region goes on the ledger first (no new genesis): the certificate below names
        // it, and the region takes turns once its first endorser candidate is certified.
        progress(format!(
            "adding region {} on the ledger (through {})",
            spec.region, via.spec.name
        ));
        medblock(
            &state.bin,
            &[
                "ca",
                "add-region",
                "--dir",
                &s(&state.ca_dir()),
                "--name",
                &spec.region,
                "--node",
                &via.url(),
                "--api-token-file",
                &s(&via.api_token_file()),
                "--json",
            ],
        )?;
        state.regions.push(spec.region.clone());
        state.save()?;
    }
    let target = network_status(&state)?
        .nodes
        .iter()
        .filter(|n| n.healthy)
        .map(|n| n.height)
        .max()
        .unwrap_or(0);
    progress(format!(
        "certifying {} and starting it as a follower",
        spec.name
    ));
    let mut ports = Ports::new(state.nodes.iter().flat_map(|n| [n.p2p_port, n.http_port]));
    let (entry, serial) = prepare_serial(&state, spec, &mut ports)?;
    state.nodes.push(entry.clone());
    init_node(&state, &entry)?;
    start(&mut state, &spec.name)?;
    state.save()?;
    prometheus::write_files(&state)?;
    wait_answering(&state, std::slice::from_ref(&spec.name), timeout)?;
    let rt = rt()?;
    let url = entry.url();
    wait_for(
        &format!("{} catching up to height {target}", spec.name),
        timeout,
        || match rt.block_on(http::status(&url)) {
            Ok(s) => {
                let h = s["height"].as_u64().unwrap_or(0);
                ((h >= target).then_some(()), format!("at height {h}"))
            }
            Err(e) => (None, e.to_string()),
        },
    )?;
    // Caught up and connected: now its certificate goes on the ledger, and its roles count from
    // the turn after the change (an orderer drawn into a committee is ready to vote).
    progress(format!(
        "putting {}'s certificate on the ledger (through {})",
        spec.name, via.spec.name
    ));
    medblock(
        &state.bin,
        &[
            "ca",
            "publish",
            "--dir",
            &s(&state.ca_dir()),
            "--serial",
            &serial.to_string(),
            "--node",
            &via.url(),
            "--api-token-file",
            &s(&via.api_token_file()),
            "--json",
        ],
    )?;
    if spec.is_department() {
        // A new hospital department: the demo patients enrol there too.
        patients::enrol_at(&state, std::slice::from_ref(&entry))?;
    }
    state.node(&spec.name).cloned()
}

/// `testnet remove`: revokes the node's certificate on the ledger (a CA-signed configuration
/// change submitted to another running node and waited for), then stops the node for good.
/// From the revocation's height on, no node counts its signatures or admits its connections,
/// restarts included (every node rebuilds its configuration from its ledger).
pub fn remove(dir: &Path, name: &str) -> Result<()> {
    let mut state = TestnetState::load(dir)?;
    let entry = state.node(name)?.clone();
    if entry.removed {
        return Err(TestnetError::Invalid(format!("{name} is already removed")));
    }
    let via = state
        .members()
        .find(|n| n.spec.name != name && n.pid.is_some_and(process::alive))
        .cloned()
        .ok_or_else(|| TestnetError::Invalid("no other running node to publish through".into()))?;
    progress(format!(
        "revoking {name}'s certificate (published via {})",
        via.spec.name
    ));
    medblock(
        &state.bin,
        &[
            "ca",
            "revoke",
            "--dir",
            &s(&state.ca_dir()),
            "--name",
            name,
            "--node",
            &via.url(),
            "--api-token-file",
            &s(&via.api_token_file()),
            "--json",
        ],
    )?;
    if let Some(pid) = entry.pid {
        process::stop(pid, Duration::from_secs(10))?;
    }
    let n = state.node_mut(name)?;
    n.pid = None;
    n.removed = true;
    state.save()?;
    prometheus::write_files(&state)?;
    Ok(())
}

/// `testnet kill`: SIGKILL, as a crash.
pub fn kill(dir: &Path, name: &str) -> Result<()> {
    let mut state = TestnetState::load(dir)?;
    if let Some(pid) = state.node(name)?.pid
        && process::alive(pid)
    {
        process::signal(pid, "KILL")?;
        process::wait_dead(pid, Duration::from_secs(10));
    }
    state.node_mut(name)?.pid = None;
    state.save()
}

/// `testnet restart`: stops the node (SIGTERM) if it runs, starts it again from its RocksDB
/// state and waits until it answers.
pub fn restart(dir: &Path, name: &str, timeout: Duration) -> Result<u32> {
    let mut state = TestnetState::load(dir)?;
    if let Some(pid) = state.node(name)?.pid {
        process::stop(pid, Duration::from_secs(10))?;
    }
    state.node_mut(name)?.pid = None;
    let pid = start(&mut state, name)?;
    state.save()?;
    wait_answering(&state, &[name.to_owned()], timeout)?;
    Ok(pid)
}

/// `testnet down`: stops the demo traffic and every node (SIGTERM, then SIGKILL after 10 s),
/// keeping their data so `testnet up --dir` starts them again.
pub fn down(dir: &Path) -> Result<usize> {
    let mut state = TestnetState::load(dir)?;
    if let Some(pid) = state.traffic_pid.take() {
        process::stop(pid, Duration::from_secs(2))?;
    }
    let pids: Vec<u32> = state
        .nodes
        .iter()
        .filter_map(|n| n.pid)
        .filter(|p| process::alive(*p))
        .collect();
    progress(format!("stopping {} node processes", pids.len()));
    for p in &pids {
        let _ = process::signal(*p, "TERM");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && pids.iter().any(|p| process::alive(*p)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for p in pids.iter().filter(|p| process::alive(**p)) {
        let _ = process::signal(*p, "KILL");
        process::wait_dead(*p, Duration::from_secs(5));
    }
    for n in &mut state.nodes {
        n.pid = None;
    }
    state.save()?;
    if let Some(net) = &state.hosts {
        progress(format!(
            "removing the hosts' namespaces and bridge {}",
            net.bridge()
        ));
        net.destroy()?;
    }
    Ok(pids.len())
}

/// Starts the demo-traffic process (`medblock testnet traffic`) and records its pid.
pub fn start_traffic(dir: &Path, rate: f64) -> Result<u32> {
    let mut state = TestnetState::load(dir)?;
    if let Some(pid) = state.traffic_pid.filter(|p| process::alive(*p)) {
        return Ok(pid);
    }
    let log = state.dir.join("logs").join("traffic.log");
    let pid = process::spawn(&Spawn {
        bin: &state.bin,
        args: vec![
            "testnet".into(),
            "traffic".into(),
            "--dir".into(),
            s(&state.dir),
            "--rate".into(),
            rate.to_string(),
        ],
        name: "traffic",
        log: &log,
        netns: None,
    })?;
    state.traffic_pid = Some(pid);
    state.save()?;
    Ok(pid)
}
