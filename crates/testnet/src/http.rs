//! The nodes' HTTP API as the testnet uses it: `/status`, `/healthz`, `/livez`, `/metrics`
//! (public), `/admin/p2p/...` (fault injection, with the node's API token),
//! `/submit` (with the node's API token). Statuses are kept as JSON values: the testnet reads a
//! few fields and must not break when a node reports more.

use crate::error::{Result, TestnetError};
use std::time::Duration;

/// A short-lived client: each call has its own timeout.
fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TestnetError::Invalid(format!("HTTP client: {e}")))
}

/// A node's HTTP API: its base URL and the API token to send (`Authorization: Bearer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// The token, if the node has one for the testnet.
    pub token: Option<String>,
}

impl Api {
    /// `builder` with the token, if any.
    pub fn authorize(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }
}

fn http_err(node: &str, e: impl std::fmt::Display) -> TestnetError {
    TestnetError::Http {
        node: node.to_owned(),
        reason: e.to_string(),
    }
}

/// `GET url/status`.
pub async fn status(url: &str) -> Result<serde_json::Value> {
    let r = client()?
        .get(format!("{url}/status"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    if !r.status().is_success() {
        return Err(http_err(url, format!("/status answered {}", r.status())));
    }
    r.json().await.map_err(|e| http_err(url, e))
}

/// `GET url/config` with the node's token: the configuration in force on its ledger
/// (certificates with the heights they were issued and revoked at, regions, parameters).
pub async fn config(api: &Api) -> Result<serde_json::Value> {
    let r = api
        .authorize(client()?.get(format!("{}/config", api.url)))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| http_err(&api.url, e))?;
    if !r.status().is_success() {
        return Err(http_err(
            &api.url,
            format!("/config answered {}", r.status()),
        ));
    }
    r.json().await.map_err(|e| http_err(&api.url, e))
}

/// `GET url/healthz` answered 200 (the node is connected to a quorum, caught up and sees no
/// view-change storm; see the node's `health` module).
pub async fn healthy(url: &str) -> bool {
    health(url).await.is_some_and(|(code, _)| code == 200)
}

/// `GET url/livez` answered 200: the process serves and its actors answer (whatever the
/// network around it does).
pub async fn live(url: &str) -> bool {
    let Ok(c) = client() else {
        return false;
    };
    c.get(format!("{url}/livez"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// `GET url/healthz`: its status code and JSON body (`{"status", "failed": [...], "checks"}`),
/// or `None` when it does not answer.
pub async fn health(url: &str) -> Option<(u16, serde_json::Value)> {
    let r = client()
        .ok()?
        .get(format!("{url}/healthz"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    let code = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    Some((code, body))
}

/// `POST url/admin/p2p/<path>` (`disconnect` or `reconnect`) with the node's token, and the
/// JSON `body` if any (`disconnect`'s `{"keep": [peer ids]}`).
pub async fn admin_p2p(
    api: &Api,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value> {
    let url = api.url.as_str();
    let mut req = api.authorize(client()?.post(format!("{url}/admin/p2p/{path}")));
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    let code = r.status();
    let text = r.text().await.map_err(|e| http_err(url, e))?;
    if !code.is_success() {
        return Err(http_err(
            url,
            format!("/admin/p2p/{path} answered {code}: {text}"),
        ));
    }
    serde_json::from_str(&text).map_err(|e| http_err(url, e))
}

/// `GET url/metrics` (Prometheus text).
pub async fn metrics(url: &str) -> Result<String> {
    let r = client()?
        .get(format!("{url}/metrics"))
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    if !r.status().is_success() {
        return Err(http_err(url, format!("/metrics answered {}", r.status())));
    }
    r.text().await.map_err(|e| http_err(url, e))
}

/// `POST url/submit` with `visits`, with the node's token; waits for the commit when `wait`.
pub async fn submit(
    api: &Api,
    visits: &[serde_json::Value],
    wait: bool,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let body = serde_json::json!({
        "visits": visits,
        "wait": wait,
        "timeout_ms": timeout.as_millis() as u64,
    });
    let url = api.url.as_str();
    let r = api
        .authorize(client()?.post(format!("{url}/submit")))
        .timeout(timeout + Duration::from_secs(10))
        .json(&body)
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    let code = r.status();
    let text = r.text().await.map_err(|e| http_err(url, e))?;
    if !code.is_success() {
        return Err(http_err(url, format!("/submit answered {code}: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| http_err(url, e))
}
