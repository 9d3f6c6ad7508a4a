//! What can go wrong managing a testnet, each with enough context to act on.

use std::path::PathBuf;

/// A testnet operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A `medblock` subcommand failed.
    #[error("`medblock {args}` failed: {stderr}")]
    Command {
        /// Its arguments.
        args: String,
        /// Its error output.
        stderr: String,
    },
    /// The state file is missing or unreadable.
    #[error("{path}: {reason} (run `medblock testnet up --dir ...` first)")]
    State {
        /// The state file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// A request was invalid (unknown node, bad layout...).
    #[error("{0}")]
    Invalid(String),
    /// The network did not reach a state in time.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        secs: u64,
    },
    /// A node's HTTP API failed.
    #[error("node {node}: {reason}")]
    Http {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// A chaos run failed its checks (lost, duplicated, disagreeing, not converged).
    #[error("chaos: {0}")]
    Chaos(#[from] crate::chaos::ChaosError),
}

impl TestnetError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result of testnet operations.
pub type Result<T, E = TestnetError> = std::result::Result<T, E>;
