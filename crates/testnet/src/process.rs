//! Processes: running `medblock` subcommands (the same ones an operator types), starting node
//! processes detached from the terminal with their own log files, and signalling them.

use crate::error::{Result, TestnetError};
use std::collections::HashSet;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `bin args...` and parses its JSON output.
pub fn medblock(bin: &Path, args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestnetError::io(format!("running {}", bin.display()), e))?;
    if !out.status.success() {
        return Err(TestnetError::Command {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null))
}

/// Lowest port handed out.
const PORT_LOW: u16 = 15_000;
/// One past the highest: below Linux's ephemeral range (32768..), so the outgoing connections
/// of a hundred running nodes never take a port a node was told to listen on.
const PORT_HIGH: u16 = 32_000;

/// Hands out listen ports on 127.0.0.1: outside the ephemeral range, never one already given
/// to this testnet, and free when handed out. Starts at a random point so two testnets on one
/// machine rarely probe the same ports.
#[derive(Debug)]
pub struct Ports {
    next: u16,
    taken: HashSet<u16>,
}

impl Ports {
    /// An allocator avoiding `taken` (the ports the testnet's nodes already use).
    pub fn new(taken: impl IntoIterator<Item = u16>) -> Self {
        Self {
            next: rand::random_range(PORT_LOW..PORT_HIGH),
            taken: taken.into_iter().collect(),
        }
    }

    /// The next free port.
    pub fn take(&mut self) -> Result<u16> {
        for _ in PORT_LOW..PORT_HIGH {
            let p = self.next;
            self.next = if p + 1 >= PORT_HIGH { PORT_LOW } else { p + 1 };
            if !self.taken.contains(&p) && TcpListener::bind(("127.0.0.1", p)).is_ok() {
                self.taken.insert(p);
                return Ok(p);
            }
        }
        Err(TestnetError::Invalid(format!(
            "no free port between {PORT_LOW} and {PORT_HIGH}"
        )))
    }
}

/// What to start.
#[derive(Debug)]
pub struct Spawn<'a> {
    /// The binary.
    pub bin: &'a Path,
    /// Its arguments.
    pub args: Vec<String>,
    /// The name its log lines carry (`MEDBLOCK_NODE`).
    pub name: &'a str,
    /// Where stderr goes (appended).
    pub log: &'a Path,
    /// The network namespace to run it in (its own host), if any.
    pub netns: Option<&'a str>,
}

/// Starts a process in its own process group (so a Ctrl-C in the terminal that ran
/// `testnet up` does not reach it), stdout discarded, stderr appended to its log.
pub fn spawn(s: &Spawn<'_>) -> Result<u32> {
    if let Some(parent) = s.log.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| TestnetError::io(format!("creating {}", parent.display()), e))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.log)
        .map_err(|e| TestnetError::io(format!("opening {}", s.log.display()), e))?;
    // `ip netns exec` enters the namespace and execs the binary: the pid stays the node's.
    let mut cmd = match s.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(s.bin);
            c
        }
        None => Command::new(s.bin),
    };
    cmd.args(&s.args)
        .env(medblock_monitoring::logging::NODE_ENV, s.name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    let child = cmd
        .spawn()
        .map_err(|e| TestnetError::io(format!("starting {}", s.bin.display()), e))?;
    Ok(child.id())
}

/// Whether process `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Sends `signal` (`TERM`, `KILL`) to `pid` through `kill(1)`.
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| TestnetError::io("running kill", e))?;
    if status.success() || !alive(pid) {
        Ok(())
    } else {
        Err(TestnetError::Invalid(format!(
            "could not signal process {pid}"
        )))
    }
}

/// Stops `pid`: SIGTERM (the node closes its stores), then SIGKILL after `grace`.
pub fn stop(pid: u32, grace: Duration) -> Result<()> {
    if !alive(pid) {
        return Ok(());
    }
    signal(pid, "TERM")?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, "KILL")?;
    wait_dead(pid, Duration::from_secs(5));
    Ok(())
}

/// Waits until `pid` is gone (or `limit` passes).
pub fn wait_dead(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_process_is_no_longer_alive() {
        let child = Command::new("sleep").arg("30").spawn().expect("sleep runs");
        let pid = child.id();
        assert!(alive(pid));
        // Reap it in the background so it does not linger as a zombie.
        let reaper = std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        stop(pid, Duration::from_secs(5)).expect("stopped");
        reaper.join().expect("reaped");
        assert!(!alive(pid));
    }

    #[test]
    fn ports_are_unique_free_and_outside_the_ephemeral_range() {
        let held = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let mut ports = Ports::new([20_000]);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let p = ports.take().expect("a port");
            assert!((PORT_LOW..PORT_HIGH).contains(&p));
            assert_ne!(p, 20_000);
            assert!(seen.insert(p), "{p} handed out twice");
        }
        drop(held);
    }

    #[test]
    fn a_failing_subcommand_reports_its_error_output() {
        let err = medblock(Path::new("sh"), &["-c", "echo boom >&2; exit 3"]).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }
}
