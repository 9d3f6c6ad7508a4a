//! Where `medblock patient ...` logs: a patient reads answers, not log lines. At the default
//! level the lines go to a file ([`log_file`]); with `-v` (or `RUST_LOG` set) they go to stderr
//! like every other command's.

use medblock_monitoring::logging::{self, DEFAULT_FILTER, LogFormat};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Environment variable naming the patient commands' log file.
pub const LOG_FILE_ENV: &str = "MEDBLOCK_PATIENT_LOG";

/// The log file of patient commands: `$MEDBLOCK_PATIENT_LOG`, else
/// `$XDG_STATE_HOME/medblock/patient.log`, else `~/.local/state/medblock/patient.log`, else
/// `medblock-patient.log` in the temporary directory.
pub fn log_file() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(p) = env(LOG_FILE_ENV) {
        return PathBuf::from(p);
    }
    let state = env("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local").join("state")));
    match state {
        Some(dir) => dir.join("medblock").join("patient.log"),
        None => std::env::temp_dir().join("medblock-patient.log"),
    }
}

/// Installs the log subscriber of a patient command: stderr when `verbose` or `RUST_LOG` is
/// set, else appended to [`log_file`] (owner-only). When the file cannot be opened, lines are
/// dropped rather than printed.
pub fn init(verbose: bool, format: LogFormat) {
    let rust_log = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    if verbose || rust_log {
        logging::init(format);
        return;
    }
    let path = log_file();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
    else {
        return;
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
