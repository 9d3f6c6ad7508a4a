//! `medblock testnet perturb NODE ACTION [--for SECONDS]`: fault injection on a running
//! testnet, after CometBFT's e2e perturbations. `kill` is SIGKILL (a crash), `restart` starts
//! the node again from its data (a paused node is resumed first, so it can stop cleanly),
//! `pause` and `resume` are SIGSTOP and SIGCONT (a hung process: its connections stay open but
//! it answers nothing), `disconnect` and `reconnect` cut the node off from every peer at the
//! p2p layer and let it back (`POST /admin/p2p/disconnect|reconnect` with the node's API
//! token; the process, its HTTP API and its data are untouched). `--for S` undoes the action
//! after S seconds (kill → restart, pause → resume, disconnect → reconnect).

use crate::error::{Result, TestnetError};
use crate::http::Api;
use crate::ops::{self, progress};
use crate::process;
use crate::state::TestnetState;
use std::path::Path;
use std::time::{Duration, Instant};

/// One perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Perturbation {
    /// SIGKILL, as a crash.
    Kill,
    /// SIGSTOP: the process hangs, its sockets stay open.
    Pause,
    /// SIGCONT after `pause`.
    Resume,
    /// Stop (if running) and start again from the node's data.
    Restart,
    /// Cut the node off from every peer at the p2p layer.
    Disconnect,
    /// Undo `disconnect`: lift the block and redial the peers.
    Reconnect,
}

impl Perturbation {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Restart => "restart",
            Self::Disconnect => "disconnect",
            Self::Reconnect => "reconnect",
        }
    }

    /// What undoes it, for `--for`: `None` for the actions that are themselves an undo.
    pub fn reverse(self) -> Option<Self> {
        match self {
            Self::Kill => Some(Self::Restart),
            Self::Pause => Some(Self::Resume),
            Self::Disconnect => Some(Self::Reconnect),
            Self::Resume | Self::Restart | Self::Reconnect => None,
        }
    }
}

impl std::fmt::Display for Perturbation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Applies `action` to node `name` of the testnet at `dir`; with `hold`, waits that long and
/// applies the reverse. `timeout` bounds a restart's wait for the node to answer.
pub fn perturb(
    dir: &Path,
    name: &str,
    action: Perturbation,
    hold: Option<Duration>,
    timeout: Duration,
) -> Result<()> {
    let reverse = match hold {
        Some(_) => Some(action.reverse().ok_or_else(|| {
            TestnetError::Invalid(format!(
                "--for undoes kill, pause or disconnect; `{action}` is itself an undo"
            ))
        })?),
        None => None,
    };
    apply(dir, name, action, timeout)?;
    if let (Some(hold), Some(reverse)) = (hold, reverse) {
        progress(format!(
            "{name}: {action} for {:.1}s, then {reverse}",
            hold.as_secs_f64()
        ));
        std::thread::sleep(hold);
        apply(dir, name, reverse, timeout)?;
    }
    Ok(())
}

/// Applies one action, printing what it did.
pub fn apply(dir: &Path, name: &str, action: Perturbation, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let state = TestnetState::load(dir)?;
    let entry = state.node(name)?.clone();
    let running = entry.pid.filter(|p| process::alive(*p));
    let need_running = || {
        running.ok_or_else(|| {
            TestnetError::Invalid(format!(
                "{name} is not running: `{action}` needs a running node (try `perturb {name} restart`)"
            ))
        })
    };
    match action {
        Perturbation::Kill => {
            ops::kill(dir, name)?;
            progress(format!("{name}: killed (SIGKILL)"));
        }
        Perturbation::Pause => {
            let pid = need_running()?;
            process::signal(pid, "STOP")?;
            progress(format!("{name}: paused (SIGSTOP to pid {pid})"));
        }
        Perturbation::Resume => {
            let pid = need_running()?;
            process::signal(pid, "CONT")?;
            progress(format!("{name}: resumed (SIGCONT to pid {pid})"));
        }
        Perturbation::Restart => {
            // A stopped process handles SIGTERM only once it runs again.
            if let Some(pid) = running {
                process::signal(pid, "CONT")?;
            }
            let pid = ops::restart(dir, name, timeout)?;
            progress(format!(
                "{name}: restarted (pid {pid}) and answering in {:.1}s",
                started.elapsed().as_secs_f64()
            ));
        }
        Perturbation::Disconnect | Perturbation::Reconnect => {
            need_running()?;
            let path = if action == Perturbation::Disconnect {
                "disconnect"
            } else {
                "reconnect"
            };
            let answer = admin(&entry.api(), path, None)?;
            let figures = if action == Perturbation::Disconnect {
                format!(
                    "{} peer(s) closed; new connections refused",
                    answer["peers_closed"].as_u64().unwrap_or(0)
                )
            } else {
                format!(
                    "{} peer(s) redialled",
                    answer["peers_dialled"].as_u64().unwrap_or(0)
                )
            };
            progress(format!("{name}: p2p {path}ed ({figures})"));
        }
    }
    Ok(())
}

/// `POST /admin/p2p/<path>` with the node's API token (and `body`).
pub(crate) fn admin(
    api: &Api,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestnetError::io("starting an async runtime", e))?;
    rt.block_on(crate::http::admin_p2p(api, path, body))
}
