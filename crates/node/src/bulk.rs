//! `medblock client enroll-bulk --node URL FILE`: sends a bulk enrolment file (JSON Lines, one
//! `{"patient_id": "...", "enrolment": "<hex>"}` per line, each enrolment signed offline by the
//! patient with an empty nonce; see README, "Enrolment") to a department node's
//! `POST /patients/bulk`, prints what it did and fails when any line was refused (the others
//! are enrolled all the same).

use crate::enrol::BulkSummary;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Options of `client enroll-bulk`.
#[derive(Debug, Clone, Args)]
pub struct BulkArgs {
    /// The hospital's department node (HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// The bulk file (JSON Lines).
    pub file: PathBuf,
    /// Print the node's answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// The department node's API token.
    #[command(flatten)]
    pub token: crate::api_token::TokenArgs,
}

/// Posts `text` (a bulk file) to `node` with the API token `token`; the node's summary.
pub async fn post(node: &str, token: Option<&str>, text: String) -> Result<BulkSummary> {
    let r = crate::api_token::client_builder(token)?
        .build()?
        .post(format!("{}/patients/bulk", node.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(3600))
        .header("content-type", "application/x-ndjson")
        .body(text)
        .send()
        .await
        .with_context(|| format!("no node answering at {node}"))?;
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "node answered {status}: {text}{}",
        crate::api_token::hint(status)
    );
    Ok(serde_json::from_str(&text)?)
}

/// Runs `client enroll-bulk`.
pub fn cli(a: BulkArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let token = a.token.resolve(&a.node)?;
    let s = rt.block_on(post(&a.node, token.as_deref(), text))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "{}: enrolled {}, renewed {}, unchanged {}, refused {}",
            a.file.display(),
            s.enrolled,
            s.renewed,
            s.unchanged,
            s.refused.len()
        );
        for r in &s.refused {
            println!(
                "  REFUSED line {} (patient {:?}): {}",
                r.line, r.patient_id, r.error
            );
        }
    }
    anyhow::ensure!(
        s.refused.is_empty(),
        "{} line(s) of {} refused; the other lines were enrolled",
        s.refused.len(),
        a.file.display()
    );
    Ok(())
}
