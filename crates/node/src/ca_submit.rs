//! Handing a CA-signed configuration change to a running network: `POST /config` on one node
//! (which gossips it to the endorsers), then `GET /config` on the same node until the change
//! is on its ledger. The CA key stays on the CA's machine; only the signed change travels.

use crate::config_api::{ConfigView, Submitted};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// A change decided and in force.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decided {
    /// The change's id (hex).
    pub id: String,
    /// What it does.
    pub change: String,
    /// The height of the block that holds it.
    pub height: u64,
}

/// Submits `bytes` (an encoded `wire::ConfigChange`) through `node` and waits up to `wait`
/// for the node's ledger to hold it.
pub async fn submit_and_wait(
    http: &reqwest::Client,
    node: &str,
    bytes: Vec<u8>,
    wait: Duration,
) -> Result<Decided> {
    let base = node.trim_end_matches('/');
    let r = http
        .post(format!("{base}/config"))
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("submitting to {base}"))?;
    let status = r.status();
    if !status.is_success() {
        bail!(
            "{base} refused the configuration change ({status}): {}{}",
            r.text().await.unwrap_or_default(),
            crate::api_token::hint(status)
        );
    }
    let submitted: Submitted = r.json().await.context("the node's answer")?;
    let start = Instant::now();
    loop {
        let view: ConfigView = http
            .get(format!("{base}/config"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if let Some(c) = view.changes.iter().find(|c| c.id == submitted.id) {
            return Ok(Decided {
                id: submitted.id,
                change: c.change.clone(),
                height: c.height,
            });
        }
        if start.elapsed() > wait {
            bail!(
                "configuration change {} ({}) submitted but not on {base}'s ledger after {:?} \
                 (it stays waiting at the endorsers; `GET {base}/config` shows it once decided)",
                submitted.id,
                submitted.change,
                wait
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`submit_and_wait`] on a fresh current-thread runtime, for the CLI.
pub fn submit_blocking(
    token: &crate::api_token::TokenArgs,
    node: &str,
    bytes: Vec<u8>,
    wait: Duration,
) -> Result<Decided> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = token.client(node)?.build()?;
    rt.block_on(submit_and_wait(&http, node, bytes, wait))
}

/// The configuration in force at `node` (`GET /config`).
pub fn fetch_blocking(token: &crate::api_token::TokenArgs, node: &str) -> Result<ConfigView> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = token.client(node)?.build()?;
    rt.block_on(async {
        Ok(http
            .get(format!("{}/config", node.trim_end_matches('/')))
            .send()
            .await?
            .error_for_status()?
            .json::<ConfigView>()
            .await?)
    })
}
