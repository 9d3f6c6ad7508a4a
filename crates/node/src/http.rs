//! The node's HTTP face (actix-web): `/healthz`, `/readyz`, `/livez` (see [`crate::health`]),
//! `/status` (JSON), `/metrics` (Prometheus text), the admin routes `POST /admin/p2p/disconnect`
//! and `POST /admin/p2p/reconnect` (fault injection), and the department API `POST /submit` and
//! `POST /import` (visits filed under named departments, with their EMRs); `/config` takes
//! CA-signed configuration changes and shows the configuration in force
//! ([`crate::config_api`]). The patient enrolment routes (`/patients/...`) are in
//! [`crate::enrol`]; `GET /ledger/events` (where a department's sequence numbers sit on the
//! ledger) in [`crate::ledger_api`].
//!
//! Every route but the public ones (by default `/healthz`, `/readyz`, `/livez`, `/metrics` and
//! `/status`, none of which names a patient; `[http] public` in `node.toml`) needs an API token
//! the node's operator issued (`Authorization: Bearer <token>`, see [`crate::tokens`]). A
//! request without one, or with an unknown or revoked one, is answered 401 before its body is
//! read, so nothing of it is written.

use crate::tokens::{Refusal, TokenVerifier};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use medblock_actors::ActorError;
use medblock_actors::RunningNode;
use medblock_actors::client::Visit;
use medblock_actors::client::import::ImportVisit;
use medblock_core::keys::PublicKey;
use serde::{Deserialize, Serialize};
use std::net::TcpListener;
use std::time::Duration;

/// Body of `POST /submit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitBody {
    /// The visits to record.
    pub visits: Vec<Visit>,
    /// Answer once committed (default) or once accepted by the endorser.
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait for the commit, in milliseconds.
    #[serde(default = "default_wait_ms")]
    pub timeout_ms: u64,
}

/// Body of `POST /import`: the encounters of one source bundle, stored all-or-nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportBody {
    /// The visits, each with its department, record id and EMR.
    pub visits: Vec<ImportVisit>,
    /// Answer once committed (default) or once accepted by the endorser.
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait for the commit, in milliseconds.
    #[serde(default = "default_wait_ms")]
    pub timeout_ms: u64,
}

fn yes() -> bool {
    true
}

fn default_wait_ms() -> u64 {
    60_000
}

pub(crate) fn error_response(e: &ActorError) -> HttpResponse {
    let code = match e {
        ActorError::Patient(p) => return crate::enrol::error_response(p),
        ActorError::BadRequest(_) => "bad_request",
        ActorError::NotCommitted(_) => "not_committed",
        _ => "unavailable",
    };
    let body = serde_json::json!({ "error": e.to_string(), "code": code });
    match e {
        ActorError::BadRequest(_) => HttpResponse::BadRequest().json(body),
        ActorError::NotCommitted(_) => HttpResponse::Accepted().json(body),
        _ => HttpResponse::ServiceUnavailable().json(body),
    }
}

/// `/healthz` and `/readyz`: 200 with the figures when every check passed, 503 naming the
/// failed checks otherwise (see [`crate::health`]).
async fn probe(node: &RunningNode, probe: crate::health::Probe) -> HttpResponse {
    let report = crate::health::check(node, probe).await;
    if report.failed.is_empty() {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

async fn healthz(node: web::Data<RunningNode>) -> HttpResponse {
    probe(&node, crate::health::Probe::Health).await
}

async fn readyz(node: web::Data<RunningNode>) -> HttpResponse {
    probe(&node, crate::health::Probe::Ready).await
}

/// `/livez`: the process serves HTTP and its committer answers within two seconds. Nothing
/// about peers, so a partition never gets a node restarted by its liveness probe.
async fn livez(node: web::Data<RunningNode>) -> HttpResponse {
    use medblock_actors::committer::ingress::GetCommitterStatus;
    let asked = tokio::time::timeout(
        Duration::from_secs(2),
        node.committer.status.send(GetCommitterStatus),
    )
    .await;
    match asked {
        Ok(Ok(_)) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        _ => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "dead",
            "failed": ["actors"],
            "error": "the node's committer does not answer",
        })),
    }
}

/// `POST /admin/p2p/disconnect` (API token): cuts the node off from every peer at the p2p
/// layer until `POST /admin/p2p/reconnect` (fault injection; `testnet perturb`). An optional
/// JSON body `{"keep": ["<peer id>", ...]}` names peers left reachable: this node's side of a
/// partition (`testnet partition`).
async fn p2p_disconnect(node: web::Data<RunningNode>, body: web::Bytes) -> HttpResponse {
    let keep = match disconnect_keep(&body) {
        Ok(k) => k,
        Err(KeepRefused::Malformed(e)) => {
            return HttpResponse::BadRequest()
                .json(serde_json::json!({ "error": e, "code": "malformed" }));
        }
        Err(KeepRefused::PeerId(e)) => return error_response(&ActorError::BadRequest(e)),
    };
    match node.ctx.net.isolate(&keep).await {
        Ok(peers) => {
            tracing::warn!(
                peers,
                kept = keep.len(),
                "p2p cut off from every peer{} by the admin API",
                if keep.is_empty() {
                    ""
                } else {
                    " but the kept ones"
                }
            );
            HttpResponse::Ok().json(serde_json::json!({
                "disconnected": true,
                "peers_closed": peers,
                "kept": keep.len(),
            }))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "error": e.to_string(), "code": "unavailable" })),
    }
}

/// Why `disconnect`'s body was refused: JSON that does not parse (`malformed`, as every other
/// route answers it) or a peer id that names no ed25519 key (`bad_request`).
#[derive(Debug, PartialEq)]
enum KeepRefused {
    Malformed(String),
    PeerId(String),
}

/// The peers `disconnect`'s body keeps: none for an empty body.
fn disconnect_keep(body: &[u8]) -> Result<Vec<PublicKey>, KeepRefused> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        keep: Vec<String>,
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let parsed: Body = serde_json::from_slice(body)
        .map_err(|e| KeepRefused::Malformed(format!("malformed JSON body: {e}")))?;
    parsed
        .keep
        .iter()
        .map(|p| {
            medblock_p2p::peer_key_from_peer_id_text(p)
                .map_err(|e| KeepRefused::PeerId(format!("keep: {e}")))
        })
        .collect()
}

/// `POST /admin/p2p/reconnect` (API token): lifts `disconnect` and redials the peers.
async fn p2p_reconnect(node: web::Data<RunningNode>) -> HttpResponse {
    match node.ctx.net.rejoin().await {
        Ok(dialled) => {
            tracing::warn!(dialled, "p2p reconnected by the admin API");
            HttpResponse::Ok()
                .json(serde_json::json!({ "disconnected": false, "peers_dialled": dialled }))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "error": e.to_string(), "code": "unavailable" })),
    }
}

async fn status(node: web::Data<RunningNode>) -> HttpResponse {
    match node.status().await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(e) => error_response(&e),
    }
}

async fn metrics(node: web::Data<RunningNode>) -> HttpResponse {
    match medblock_actors::metrics::render(&node).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(e) => error_response(&e),
    }
}

async fn submit(node: web::Data<RunningNode>, body: web::Json<SubmitBody>) -> HttpResponse {
    let body = body.into_inner();
    if body.visits.is_empty() || body.visits.len() > 10_000 {
        return error_response(&ActorError::BadRequest(
            "send between 1 and 10,000 visits".into(),
        ));
    }
    let timeout = Duration::from_millis(body.timeout_ms.clamp(100, 600_000));
    match node.submit(body.visits, body.wait, timeout).await {
        Ok(out) => HttpResponse::Ok().json(out),
        Err(e) => error_response(&e),
    }
}

async fn import(node: web::Data<RunningNode>, body: web::Json<ImportBody>) -> HttpResponse {
    let body = body.into_inner();
    if body.visits.len() > 100_000 {
        return error_response(&ActorError::BadRequest(
            "send at most 100,000 visits at a time".into(),
        ));
    }
    let timeout = Duration::from_millis(body.timeout_ms.clamp(100, 3_600_000));
    match node.import(body.visits, body.wait, timeout).await {
        Ok(out) => HttpResponse::Ok().json(out),
        Err(e) => error_response(&e),
    }
}

/// A JSON body that does not parse: `{"error", "code": "malformed"}` with 400, like every other
/// refusal of the API.
fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    let body =
        serde_json::json!({ "error": format!("malformed JSON body: {err}"), "code": "malformed" });
    actix_web::error::InternalError::from_response(err, HttpResponse::BadRequest().json(body))
        .into()
}

/// The paths served without a token unless `[http] public` says otherwise: health, readiness,
/// liveness and metrics, none of which reveals patient data.
pub const DEFAULT_PUBLIC: [&str; 5] = ["/healthz", "/readyz", "/livez", "/metrics", "/status"];

/// Who may use the API: the tokens the operator issued, and the paths open to anyone.
#[derive(Debug)]
pub struct ApiAuth {
    verifier: TokenVerifier,
    public: Vec<String>,
}

impl ApiAuth {
    /// Tokens from `verifier`; `public` paths (exact, or a prefix when they end in `*`) need
    /// none.
    pub fn new(verifier: TokenVerifier, public: Vec<String>) -> Self {
        Self { verifier, public }
    }

    /// The tokens of the node whose data directory is `data_dir`, the default public paths.
    pub fn for_data_dir(data_dir: &std::path::Path) -> Self {
        Self::new(
            TokenVerifier::new(crate::tokens::TokenStore::in_data_dir(data_dir)),
            DEFAULT_PUBLIC.iter().map(|p| (*p).to_owned()).collect(),
        )
    }

    /// The token checker.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// `path` is served without a token.
    pub fn is_public(&self, path: &str) -> bool {
        self.public.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == path,
        })
    }
}

/// The bearer token of a request, if it carries one.
fn bearer(req: &ServiceRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The middleware: public paths pass; every other request needs a valid, unrevoked token.
async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<ApiAuth>>().cloned() else {
        return Ok(req
            .into_response(HttpResponse::ServiceUnavailable().json(
                serde_json::json!({ "error": "no API token store", "code": "unavailable" }),
            )));
    };
    if auth.is_public(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match auth.verifier.verify(bearer(&req)) {
        Ok(caller) => {
            tracing::debug!(
                token = caller.id,
                name = caller.name,
                path = req.path(),
                "API call"
            );
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err(refusal) => {
            let response = match &refusal {
                Refusal::Store(_) => {
                    tracing::error!(error = %refusal, "API token file unreadable: refusing every non-public request");
                    HttpResponse::ServiceUnavailable().json(
                        serde_json::json!({ "error": refusal.to_string(), "code": "unavailable" }),
                    )
                }
                _ => {
                    tracing::info!(path = req.path(), reason = %refusal, "API request refused");
                    HttpResponse::Unauthorized()
                        .insert_header((
                            actix_web::http::header::WWW_AUTHENTICATE,
                            "Bearer realm=\"medblock\"",
                        ))
                        .json(serde_json::json!({
                            "error": refusal.to_string(),
                            "code": "unauthorized",
                        }))
                }
            };
            Ok(req.into_response(response))
        }
    }
}

/// How long an idle client connection stays open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(120);

/// How long this crate's own HTTP clients (bench, import) keep an idle pooled connection: well
/// under [`KEEP_ALIVE`], so a request never goes out on a connection the node is closing.
pub const CLIENT_IDLE: Duration = Duration::from_secs(30);

/// Starts serving on an already bound listener (so the address is known before the node
/// announces it), letting in only what `auth` allows. The returned server runs until stopped.
pub fn serve(
    node: RunningNode,
    listener: TcpListener,
    auth: ApiAuth,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(node);
    let auth = web::Data::new(auth);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(auth.clone())
            .wrap(from_fn(authorize))
            .app_data(
                web::JsonConfig::default()
                    .limit(64 << 20)
                    .error_handler(json_error),
            )
            .app_data(web::PayloadConfig::new(1 << 20))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/livez", web::get().to(livez))
            .route("/admin/p2p/disconnect", web::post().to(p2p_disconnect))
            .route("/admin/p2p/reconnect", web::post().to(p2p_reconnect))
            .route("/status", web::get().to(status))
            .route("/metrics", web::get().to(metrics))
            .route("/submit", web::post().to(submit))
            .route("/import", web::post().to(import))
            .configure(crate::config_api::routes)
            .configure(crate::ledger_api::routes)
            .configure(crate::enrol::routes)
    })
    .workers(1)
    // An idle connection is kept open longer than a pooling client (reqwest's 90 s) keeps it:
    // a server closing first races the client's next request on it, which then fails without
    // reaching the node, and a submit cannot be blindly retried.
    .keep_alive(KEEP_ALIVE)
    .disable_signals()
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_keeps_the_peers_its_body_names_and_refuses_a_bad_body() {
        let key = medblock_core::keys::SigningKey::from_bytes(&[7; 32])
            .expect("key")
            .public();
        let id = medblock_p2p::peer_id_string(&key);
        assert_eq!(disconnect_keep(b""), Ok(vec![]));
        assert_eq!(disconnect_keep(b" \n"), Ok(vec![]));
        assert_eq!(disconnect_keep(b"{}"), Ok(vec![]));
        let body = serde_json::json!({ "keep": [id] }).to_string();
        assert_eq!(disconnect_keep(body.as_bytes()), Ok(vec![key]));
        assert!(matches!(
            disconnect_keep(b"{\"keep\": [\"not-a-peer-id\"]}"),
            Err(KeepRefused::PeerId(_))
        ));
        for bad in [
            &b"{"[..],
            b"[1]",
            b"{\"keep\": \"not a list\"}",
            b"{\"keep\": [], \"drop\": []}",
            b"\xff\xfe",
        ] {
            let got = disconnect_keep(bad);
            assert!(
                matches!(got, Err(KeepRefused::Malformed(_))),
                "{:?} gave {got:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn public_paths_are_exact_unless_they_end_in_a_star() {
        let dir = tempfile::tempdir().expect("dir");
        let auth = ApiAuth::for_data_dir(dir.path());
        for p in ["/healthz", "/readyz", "/livez", "/metrics", "/status"] {
            assert!(auth.is_public(p), "{p}");
        }
        for p in [
            "/submit",
            "/admin/p2p/disconnect",
            "/admin/p2p/reconnect",
            "/import",
            "/config",
            "/ledger/events",
            "/patients/alice",
            "/patients/challenge",
            "/healthz/x",
            "/statusx",
            "/",
        ] {
            assert!(!auth.is_public(p), "{p}");
        }
        let auth = ApiAuth::new(
            TokenVerifier::new(crate::tokens::TokenStore::in_data_dir(dir.path())),
            vec!["/healthz".into(), "/docs/*".into()],
        );
        assert!(auth.is_public("/docs/a"));
        assert!(!auth.is_public("/status"));
        assert!(!auth.is_public("/metrics"));
    }
}
