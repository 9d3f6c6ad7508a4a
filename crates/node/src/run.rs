//! `medblock node init` and `medblock node run`.

use crate::ca::files;
use crate::config::{HttpSection, NodeConfig, P2pSection};
use anyhow::{Context, Result};
use medblock_actors::node::{NodeOptions, start};
use medblock_core::wire;
use medblock_storage::keyfile::load_identity;
use prost::Message;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Writes `node.toml` (and copies genesis) into a node directory that `ca issue` prepared.
pub fn init(
    dir: &Path,
    genesis: &Path,
    listen: &str,
    http: &str,
    bootstrap: &[String],
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for f in [files::NODE_KEY, files::CERTIFICATE] {
        anyhow::ensure!(
            dir.join(f).exists(),
            "{} is missing: run `medblock ca issue --node-dir {}` first",
            dir.join(f).display(),
            dir.display()
        );
    }
    let target = dir.join(files::GENESIS);
    if genesis != target {
        std::fs::copy(genesis, &target)
            .with_context(|| format!("copying {}", genesis.display()))?;
    }
    let cfg = NodeConfig {
        key_file: files::NODE_KEY.into(),
        certificate: files::CERTIFICATE.into(),
        genesis: files::GENESIS.into(),
        data_dir: "data".into(),
        p2p: P2pSection {
            listen: listen.to_owned(),
            bootstrap: bootstrap.to_vec(),
            request_timeout_ms: 5_000,
            limits: Default::default(),
            emulated_latency_ms: 0,
            emulated_latency_peers: Vec::new(),
        },
        http: HttpSection {
            listen: http.to_owned(),
            public: crate::config::default_public(),
        },
        byzantine: Default::default(),
    };
    let path = dir.join(files::CONFIG);
    std::fs::write(&path, cfg.to_commented_toml())?;
    Ok(path)
}

/// Node options from a config file.
pub fn options(cfg: &NodeConfig, http_address: String) -> Result<NodeOptions> {
    let identity = load_identity(&cfg.key_file)?;
    let cert_bytes = std::fs::read(&cfg.certificate)
        .with_context(|| format!("reading {}", cfg.certificate.display()))?;
    let certificate = wire::Certificate::decode(cert_bytes.as_slice())
        .with_context(|| format!("{} is not a certificate", cfg.certificate.display()))?;
    let genesis = std::fs::read(&cfg.genesis)
        .with_context(|| format!("reading {}", cfg.genesis.display()))?;
    Ok(NodeOptions {
        data_dir: cfg.data_dir.clone(),
        identity,
        certificate,
        genesis,
        listen: cfg.p2p.listen.clone(),
        bootstrap: cfg.p2p.bootstrap.clone(),
        http_address,
        request_timeout: Duration::from_millis(cfg.p2p.request_timeout_ms.max(100)),
        limits: cfg.p2p.limits,
        byzantine: cfg.byzantine.clone(),
        latency: cfg.p2p.latency(),
    })
}

/// The environment variable that, set to `1`, allows a `[byzantine]` section like
/// `--allow-byzantine` does.
pub const ALLOW_BYZANTINE_ENV: &str = "MEDBLOCK_ALLOW_BYZANTINE";

/// Refuses a config that turns on test-only misbehaviour unless it was explicitly allowed.
pub fn check_byzantine(cfg: &NodeConfig, allow: bool) -> Result<()> {
    let allowed = allow || std::env::var(ALLOW_BYZANTINE_ENV).is_ok_and(|v| v == "1");
    anyhow::ensure!(
        !cfg.byzantine.any() || allowed,
        "node.toml turns on test-only Byzantine behaviour ({}); this node would attack its own \
         network. Remove the [byzantine] section, or run with --allow-byzantine (tests only)",
        cfg.byzantine.names().join(", ")
    );
    Ok(())
}

/// Runs a node until Ctrl-C (or SIGTERM): the node, then its HTTP server.
pub fn run(config: &Path, allow_byzantine: bool) -> Result<()> {
    let cfg = NodeConfig::load(config)?;
    check_byzantine(&cfg, allow_byzantine)?;
    let listener = TcpListener::bind(&cfg.http.listen)
        .with_context(|| format!("binding HTTP {}", cfg.http.listen))?;
    let http_address = listener.local_addr()?.to_string();
    let opts = options(&cfg, http_address.clone())?;
    let auth = crate::http::ApiAuth::new(
        crate::tokens::TokenVerifier::new(crate::tokens::TokenStore::in_data_dir(&cfg.data_dir)),
        cfg.http.public.clone(),
    );
    // A token file that does not parse stops the node here rather than refusing every call.
    auth.verifier().refresh()?;
    if auth
        .verifier()
        .store()
        .list()?
        .iter()
        .all(|t| t.revoked_at_ms.is_some())
    {
        tracing::warn!(
            "no API token: every HTTP path but {:?} answers 401 until `medblock node token create --dir <node dir> --name <label>`",
            cfg.http.public
        );
    }
    if let Ok(body) = wire::CertificateBody::decode(opts.certificate.body.as_slice()) {
        medblock_monitoring::logging::set_node(&body.name);
    }
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let node = start(opts).await?;
        tracing::info!(http = http_address, p2p = ?node.ctx.net.listen_addrs(), "node running");
        let server = crate::http::serve(node.clone(), listener, auth)?;
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("stopping");
        handle.stop(true).await;
        node.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byzantine_config_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("node.toml");
        let base = "key_file = \"k\"\ncertificate = \"c\"\ngenesis = \"g\"\ndata_dir = \"data\"\n\
                    [p2p]\nlisten = \"/ip4/127.0.0.1/tcp/0\"\n[http]\nlisten = \"127.0.0.1:0\"\n";
        std::fs::write(&path, base).expect("write");
        let honest = NodeConfig::load(&path).expect("honest config");
        assert!(check_byzantine(&honest, false).is_ok());
        // What a node writes for itself carries no [byzantine] section.
        assert!(!honest.to_commented_toml().contains("byzantine"));

        std::fs::write(&path, format!("{base}[byzantine]\ndrop_votes = true\n")).expect("write");
        let bad = NodeConfig::load(&path).expect("byzantine config parses");
        assert!(bad.byzantine.drop_votes);
        let err = check_byzantine(&bad, false).expect_err("refused without the flag");
        assert!(err.to_string().contains("drop_votes"), "{err}");
        assert!(check_byzantine(&bad, true).is_ok());
    }
}
