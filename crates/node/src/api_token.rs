//! The API token a client command sends to a node (`Authorization: Bearer <token>`), and where
//! it comes from, first found wins:
//!
//! 1. `--api-token-file PATH`: a file holding the token (as `medblock node token create --out
//!    PATH` writes it);
//! 2. `$MEDBLOCK_API_TOKEN`: the token itself;
//! 3. the testnet that runs the node `--node` names (`--testnet-dir`, default
//!    `$MEDBLOCK_TESTNET_DIR`, else `.medblock/testnet`): that node's `api-token` file, which
//!    `testnet up` writes; so commands against a local testnet need no flag.
//!
//! With none of them the request goes without a token, and a node answers 401 for anything but
//! its public paths.

use anyhow::{Context as _, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// The environment variable that holds a token.
pub const TOKEN_ENV: &str = "MEDBLOCK_API_TOKEN";

/// Where a command finds its API token.
#[derive(Debug, Clone, Default, Args)]
pub struct TokenArgs {
    /// File holding the node's API token (from `medblock node token create --out FILE`). Else
    /// $MEDBLOCK_API_TOKEN (the token itself), else the `api-token` file of the testnet node at
    /// the node URL given (see --testnet-dir); else no token, and the node answers 401.
    #[arg(long, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// The local testnet (`medblock testnet up --dir`) whose node's `api-token` file is sent
    /// when neither --api-token-file nor $MEDBLOCK_API_TOKEN gives a token [default:
    /// $MEDBLOCK_TESTNET_DIR, else .medblock/testnet].
    #[arg(long, value_name = "DIR")]
    pub testnet_dir: Option<PathBuf>,
    /// The token itself, for callers of the library (never a command-line flag: a flag's value
    /// shows in the process list).
    #[arg(skip)]
    pub token: Option<String>,
}

/// The environment variable naming the testnet directory.
pub const TESTNET_DIR_ENV: &str = "MEDBLOCK_TESTNET_DIR";

/// The testnet directory `testnet up` uses by default.
pub const DEFAULT_TESTNET_DIR: &str = ".medblock/testnet";

impl TokenArgs {
    /// The token in `file`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            api_token_file: Some(path.into()),
            ..Self::default()
        }
    }

    /// This token.
    pub fn token(token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..Self::default()
        }
    }

    /// The testnet directory to look in.
    pub fn testnet_dir(&self) -> PathBuf {
        self.testnet_dir
            .clone()
            .or_else(|| std::env::var_os(TESTNET_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TESTNET_DIR))
    }

    /// The token for the node at `node` (its HTTP base URL), or none.
    pub fn resolve(&self, node: &str) -> Result<Option<String>> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        if let Some(f) = &self.api_token_file {
            return crate::tokens::read_token_file(f)
                .map(Some)
                .with_context(|| format!("reading the API token from {}", f.display()));
        }
        if let Some(t) = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
        {
            return Ok(Some(t));
        }
        Ok(testnet_token(&self.testnet_dir(), node))
    }

    /// A client that sends the token for `node` with every request.
    pub fn client(&self, node: &str) -> Result<reqwest::ClientBuilder> {
        client_builder(self.resolve(node)?.as_deref())
    }
}

/// `host:port` of an HTTP base URL, `localhost` read as 127.0.0.1.
fn host_port(url: &str) -> String {
    let rest = url
        .trim()
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let authority = rest.split('/').next().unwrap_or_default();
    authority.replacen("localhost:", "127.0.0.1:", 1)
}

/// The token of the testnet node (in `dir`) that serves `node`, if there is one.
pub fn testnet_token(dir: &Path, node: &str) -> Option<String> {
    if !medblock_testnet::state::TestnetState::path(dir).exists() {
        return None;
    }
    let state = medblock_testnet::state::TestnetState::load(dir).ok()?;
    let wanted = host_port(node);
    let entry = state.members().find(|n| n.http() == wanted)?;
    crate::tokens::read_token_file(&entry.api_token_file()).ok()
}

/// A client builder that sends `Authorization: Bearer <token>` with every request, when there
/// is a token.
pub fn client_builder(token: Option<&str>) -> Result<reqwest::ClientBuilder> {
    let builder = reqwest::Client::builder();
    let Some(token) = token else {
        return Ok(builder);
    };
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .context("the API token has characters a header cannot carry")?;
    value.set_sensitive(true);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(builder.default_headers(headers))
}

/// What to tell the user when a node answered `status`: for a 401, how to give a token.
pub fn hint(status: reqwest::StatusCode) -> &'static str {
    if status == reqwest::StatusCode::UNAUTHORIZED {
        " (this call needs the node's API token: --api-token-file FILE or $MEDBLOCK_API_TOKEN; \
         the operator issues one with `medblock node token create`)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_url_is_matched_by_host_and_port() {
        assert_eq!(host_port("http://127.0.0.1:8003"), "127.0.0.1:8003");
        assert_eq!(host_port("http://127.0.0.1:8003/"), "127.0.0.1:8003");
        assert_eq!(host_port("http://localhost:8003"), "127.0.0.1:8003");
        assert_eq!(host_port("127.0.0.1:8003"), "127.0.0.1:8003");
    }

    #[test]
    fn the_file_wins_and_a_missing_file_is_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("tok");
        crate::tokens::write_token_file(&f, "mbt_x").expect("write");
        assert_eq!(
            TokenArgs::file(&f)
                .resolve("http://127.0.0.1:1")
                .expect("read")
                .as_deref(),
            Some("mbt_x")
        );
        assert!(
            TokenArgs::file(dir.path().join("none"))
                .resolve("http://127.0.0.1:1")
                .is_err()
        );
        let none = TokenArgs {
            api_token_file: None,
            testnet_dir: Some(dir.path().join("no-testnet")),
            token: None,
        };
        if std::env::var_os(TOKEN_ENV).is_none() {
            assert_eq!(none.resolve("http://127.0.0.1:1").expect("none"), None);
        }
    }
}
