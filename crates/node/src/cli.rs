//! The operator commands: `ca`, `node`, `client`, `status`. Parsing lives here so tests drive
//! exactly what people type.

use crate::ca::{self, IssueRequest, files};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use medblock_actors::client::{SubmitOutcome, Visit};
use medblock_actors::node::NodeStatus;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `medblock ca ...`.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a certificate authority (key and register) in a directory.
    Init {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// Network name.
        #[arg(long, default_value = "medblock")]
        network: String,
        /// Regions, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "region-1")]
        regions: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Certify a node or department (creates its key file in --node-dir if absent).
    Issue {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// Holder name.
        #[arg(long)]
        name: String,
        /// Region.
        #[arg(long)]
        region: String,
        /// Roles, comma-separated: endorser, orderer, committer, client, regulator.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Hospital.
        #[arg(long, default_value = "")]
        hospital: String,
        /// Department (clients).
        #[arg(long, default_value = "")]
        department: String,
        /// The holder's directory (key file in, certificate out).
        #[arg(long)]
        node_dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// After genesis: put the certificate on the ledger through this running node (its
        /// HTTP address, e.g. http://127.0.0.1:8080) and wait until it is decided. Without it
        /// the certificate is only written (for genesis).
        #[arg(long)]
        node: Option<String>,
        /// The API token of the node given with --node.
        #[command(flatten)]
        token: crate::api_token::TokenArgs,
        /// How long to wait for the change to be decided, in seconds.
        #[arg(long, default_value_t = 60)]
        wait_s: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a certificate this CA issued earlier (`ca issue` without --node) on a running
    /// network's ledger, e.g. once its node has started and caught up as a follower, so it is
    /// ready when its roles take effect.
    Publish {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate's serial.
        #[arg(long)]
        serial: u64,
        /// Where the change goes.
        #[command(flatten)]
        submit: ChangeTarget,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a region to a running network (a configuration change on the ledger); its nodes
    /// and departments can then be certified with `ca issue --region NAME --node URL`.
    AddRegion {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The new region's name.
        #[arg(long)]
        name: String,
        /// Where the change goes.
        #[command(flatten)]
        submit: ChangeTarget,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change consensus parameters of a running network (a configuration change on the
    /// ledger): the ones given replace those in force, the others stay.
    Params {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,

        /// Orderers per committee (3f+1; at most the orderers in force).
        #[arg(long)]
        committee_size: Option<u32>,
        /// How long a primary may hold its turn, ms.
        #[arg(long)]
        turn_timeout_ms: Option<u64>,
        /// PBFT view-change timeout, ms.
        #[arg(long)]
        view_change_timeout_ms: Option<u64>,
        /// Where the parameters in force are read and the change goes.
        #[command(flatten)]
        submit: ChangeTarget,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign the genesis naming every certificate issued so far (the founding members).
    Genesis {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// PBFT view-change timeout (default 2000 ms); larger for big networks on few cores.
        #[arg(long)]
        view_change_timeout_ms: Option<u64>,
        /// How long a primary may hold its turn (default 10000 ms).
        #[arg(long)]
        turn_timeout_ms: Option<u64>,
        /// How often committers gossip their ledger hash (default 3000 ms): every node verifies
        /// every other node's claim, so this is the main idle cost of a large network.
        #[arg(long)]
        ledger_gossip_interval_ms: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke certificates (by serial or holder name): one CA-signed configuration change
    /// each, in force from the height of the block that decides it. With --node, submit them
    /// to a running network and wait until decided; without, they are only written (under
    /// the CA directory's `changes/`).
    Revoke {
        /// CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// Serials to revoke.
        #[arg(long, value_delimiter = ',')]
        serial: Vec<u64>,
        /// Holder names to revoke.
        #[arg(long, value_delimiter = ',')]
        name: Vec<String>,
        /// Why (recorded in the change).
        #[arg(long, default_value = "revoked by the CA")]
        reason: String,
        /// HTTP address of a node to submit through (e.g. http://127.0.0.1:8080).
        #[arg(long)]
        node: Option<String>,
        /// The API token of the node given with --node.
        #[command(flatten)]
        token: crate::api_token::TokenArgs,
        /// How long to wait for each change to be decided, in seconds.
        #[arg(long, default_value_t = 60)]
        wait_s: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where `ca` sends a signed configuration change: a running node, its API token, and how
/// long to wait for the change to be decided.
#[derive(Debug, Args)]
pub struct ChangeTarget {
    /// A running node's HTTP address (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    pub node: String,
    /// The API token of the node given with --node.
    #[command(flatten)]
    pub token: crate::api_token::TokenArgs,
    /// How long to wait for the change to be decided, in seconds.
    #[arg(long, default_value_t = 60)]
    pub wait_s: u64,
}

impl ChangeTarget {
    /// Submits the encoded change and waits until it is decided.
    fn decide(&self, bytes: Vec<u8>) -> Result<crate::ca_submit::Decided> {
        crate::ca_submit::submit_blocking(
            &self.token,
            &self.node,
            bytes,
            Duration::from_secs(self.wait_s),
        )
    }
}

/// Prints a decided change (JSON, or one line).
fn print_decided(json: bool, d: &crate::ca_submit::Decided) -> Result<()> {
    print(json, d, || {
        println!("{} at height {} (change {})", d.change, d.height, d.id)
    })
}

/// `medblock node ...`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Write node.toml into a node directory prepared by `ca issue`.
    Init {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// Genesis file.
        #[arg(long)]
        genesis: PathBuf,
        /// p2p listen multiaddr.
        #[arg(long, default_value = "/ip4/127.0.0.1/tcp/7000")]
        listen: String,
        /// HTTP listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: String,
        /// Bootstrap multiaddrs.
        #[arg(long, value_delimiter = ',')]
        bootstrap: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a node (restarts from its RocksDB state).
    Run {
        /// Node directory (holding node.toml), or --config.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Config file (or $MEDBLOCK_CONFIG, as the container image sets).
        #[arg(long, env = "MEDBLOCK_CONFIG")]
        config: Option<PathBuf>,
        /// Let a `[byzantine]` section in node.toml make this node misbehave on purpose
        /// (tests of attacks only; a node refuses such a config without it).
        #[arg(long)]
        allow_byzantine: bool,
    },
    /// API tokens of the node's HTTP API (create, revoke, list). Every path but the public
    /// ones (`[http] public` in node.toml; /healthz, /metrics and /status by default) needs
    /// `Authorization: Bearer <token>`. The node keeps only each token's SHA-256, in
    /// DATA_DIR/api-tokens.json (mode 0600); a running node sees changes at its next request.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Which node: its directory (holding node.toml) or its config file.
#[derive(Debug, Clone, Args)]
pub struct NodeDir {
    /// Node directory (holding node.toml), or --config.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl NodeDir {
    /// The config file.
    pub fn config_path(&self) -> Result<PathBuf> {
        match (&self.config, &self.dir) {
            (Some(c), _) => Ok(c.clone()),
            (None, Some(d)) => Ok(d.join(files::CONFIG)),
            (None, None) => bail!("give --dir or --config"),
        }
    }

    /// The node's token store (in its data directory).
    pub fn token_store(&self) -> Result<crate::tokens::TokenStore> {
        let path = self.config_path()?;
        let cfg = crate::config::NodeConfig::load(&path)
            .with_context(|| "API tokens live in an initialised node's data directory (`medblock node init` first)")?;
        Ok(crate::tokens::TokenStore::in_data_dir(&cfg.data_dir))
    }
}

/// `medblock node token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a hospital system. The token is printed once (alone on stdout, or
    /// written to --out with mode 0600) and never stored: the node keeps its SHA-256, id, name
    /// and creation time.
    Create {
        /// The node.
        #[command(flatten)]
        node: NodeDir,
        /// A label for who holds it (1 to 64 of A-Z a-z 0-9 . _ - @), unique among active tokens.
        #[arg(long)]
        name: String,
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON (with the token unless --out).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name; the running node refuses it from its next request on.
    Revoke {
        /// The node.
        #[command(flatten)]
        node: NodeDir,
        /// The token's id, or the name of an active token.
        id_or_name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the tokens (id, name, created, revoked); never their secrets.
    List {
        /// The node.
        #[command(flatten)]
        node: NodeDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `medblock client ...`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Submit one visit (flags) or a JSON file of visits through a department node.
    Submit(SubmitArgs),
    /// Import FHIR R4 patient bundles (.json, .json.bz2, or directories of them): one event per
    /// encounter, filed under the department its type maps to, the EMR kept as a FHIR Bundle.
    Import(crate::import::ImportArgs),
    /// Enrol patients from a bulk file (JSON Lines of offline-signed enrolments; see README,
    /// "Enrolment"); refused lines are reported by number, the others enrolled.
    EnrollBulk(crate::bulk::BulkArgs),
}

/// Options of `client submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The department node's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// A JSON file: a list of visits ({patient, diagnosis, examination_results, treatment_plan, emr}).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Patient id (one visit).
    #[arg(long)]
    pub patient: Option<String>,
    /// Diagnosis (one visit).
    #[arg(long)]
    pub diagnosis: Option<String>,
    /// Examination results (one visit).
    #[arg(long, default_value = "")]
    pub examination_results: String,
    /// Treatment plan (one visit).
    #[arg(long, default_value = "")]
    pub treatment_plan: String,
    /// Return once accepted instead of once committed.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the commit.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The department node's API token.
    #[command(flatten)]
    pub token: crate::api_token::TokenArgs,
}

/// Options of `medblock status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn print<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce()) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human();
    }
    Ok(())
}

/// Runs a `ca` command.
pub fn ca(cmd: CaCommand) -> Result<()> {
    match cmd {
        CaCommand::Init {
            dir,
            network,
            regions,
            json,
        } => {
            let key = ca::init(&dir, &network, &regions)?;
            let v = serde_json::json!({ "dir": dir, "ca_key": key, "network": network, "regions": regions });
            print(json, &v, || {
                println!("CA created in {} (key {key})", dir.display())
            })
        }
        CaCommand::Issue {
            dir,
            name,
            region,
            roles,
            hospital,
            department,
            node_dir,
            days,
            node,
            token,
            wait_s,
            json,
        } => {
            let issued = ca::issue(
                &dir,
                &IssueRequest {
                    name,
                    region,
                    hospital,
                    department,
                    roles,
                    node_dir: node_dir.clone(),
                    days,
                },
                now_ms(),
            )?;
            let decided = match &node {
                Some(node) => {
                    let bytes = ca::issue_change(&dir, issued.serial, now_ms())?;
                    Some(crate::ca_submit::submit_blocking(
                        &token,
                        node,
                        bytes,
                        Duration::from_secs(wait_s),
                    )?)
                }
                None => None,
            };
            let mut v = serde_json::to_value(&issued)?;
            v["decided"] = serde_json::json!(decided);
            print(json, &v, || {
                println!(
                    "issued serial {} to {} ({}) in {}; certificate in {}",
                    issued.serial,
                    issued.name,
                    issued.roles.join(","),
                    issued.region,
                    node_dir.join(files::CERTIFICATE).display()
                );
                if let Some(d) = &decided {
                    println!("on the ledger at height {} (change {})", d.height, d.id);
                }
            })
        }
        CaCommand::Publish {
            dir,
            serial,
            submit,
            json,
        } => {
            let d = submit.decide(ca::issue_change(&dir, serial, now_ms())?)?;
            print_decided(json, &d)
        }
        CaCommand::AddRegion {
            dir,
            name,
            submit,
            json,
        } => {
            let d = submit.decide(ca::add_region_change(&dir, &name, now_ms())?)?;
            print_decided(json, &d)
        }
        CaCommand::Params {
            dir,
            committee_size,
            turn_timeout_ms,
            view_change_timeout_ms,
            submit,
            json,
        } => {
            let mut params = crate::ca_submit::fetch_blocking(&submit.token, &submit.node)?.params;
            if let Some(v) = committee_size {
                params.committee_size = v;
            }
            if let Some(v) = turn_timeout_ms {
                params.turn_timeout_ms = v;
            }
            if let Some(v) = view_change_timeout_ms {
                params.view_change_timeout_ms = v;
            }
            let d = submit.decide(ca::params_change(&dir, params.into(), now_ms())?)?;
            print_decided(json, &d)
        }
        CaCommand::Genesis {
            dir,
            out,
            view_change_timeout_ms,
            turn_timeout_ms,
            ledger_gossip_interval_ms,
            json,
        } => {
            let mut params = medblock_core::genesis::default_params();
            if let Some(v) = view_change_timeout_ms {
                params.view_change_timeout_ms = v;
            }
            if let Some(v) = turn_timeout_ms {
                params.turn_timeout_ms = v;
            }
            if let Some(v) = ledger_gossip_interval_ms {
                params.ledger_gossip_interval_ms = v;
            }
            let hash = ca::genesis(&dir, &out, Some(params), now_ms())?;
            let v = serde_json::json!({ "genesis": out, "hash": hash });
            print(json, &v, || {
                println!("genesis {hash} written to {}", out.display())
            })
        }
        CaCommand::Revoke {
            dir,
            mut serial,
            name,
            reason,
            node,
            token,
            wait_s,
            json,
        } => {
            for n in &name {
                serial.push(ca::serial_of(&dir, n)?);
            }
            if serial.is_empty() {
                bail!("give --serial or --name");
            }
            let mut decided = Vec::new();
            for s in &serial {
                let bytes = ca::revoke_change(&dir, *s, &reason, now_ms())?;
                if let Some(node) = &node {
                    decided.push(crate::ca_submit::submit_blocking(
                        &token,
                        node,
                        bytes,
                        Duration::from_secs(wait_s),
                    )?);
                }
            }
            let v = serde_json::json!({
                "revoked": serial,
                "changes": ca::changes_dir(&dir),
                "decided": decided,
            });
            print(json, &v, || {
                for d in &decided {
                    println!("{} at height {} (change {})", d.change, d.height, d.id);
                }
                if node.is_none() {
                    println!(
                        "revocations of {serial:?} signed in {}; submit them with --node",
                        ca::changes_dir(&dir).display()
                    );
                }
            })
        }
    }
}

/// Runs a `node` command.
pub fn node(cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Init {
            dir,
            genesis,
            listen,
            http,
            bootstrap,
            json,
        } => {
            let path = crate::run::init(&dir, &genesis, &listen, &http, &bootstrap)?;
            let v = serde_json::json!({ "config": path });
            print(json, &v, || println!("wrote {}", path.display()))
        }
        NodeCommand::Run {
            dir,
            config,
            allow_byzantine,
        } => {
            // --dir first: $MEDBLOCK_CONFIG (the image's default) must not override a
            // directory given on the command line.
            let path = match (dir, config) {
                (Some(d), _) => d.join(files::CONFIG),
                (None, Some(c)) => c,
                (None, None) => bail!("give --dir or --config (or set MEDBLOCK_CONFIG)"),
            };
            crate::run::run(&path, allow_byzantine)
        }
        NodeCommand::Token(t) => token(t),
    }
}

fn ms_iso(ms: u64) -> String {
    crate::patient::time::local_datetime(ms)
}

/// Runs a `node token` command.
pub fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            node,
            name,
            out,
            json,
        } => {
            let store = node.token_store()?;
            let t = store.create(&name, now_ms())?;
            if let Some(out) = &out {
                crate::tokens::write_token_file(out, &t.secret)?;
            }
            let mut v = serde_json::json!({
                "id": t.info.id,
                "name": t.info.name,
                "created_at_ms": t.info.created_at_ms,
                "store": store.path(),
            });
            match &out {
                Some(f) => v["file"] = serde_json::json!(f),
                None => v["token"] = serde_json::json!(t.secret),
            }
            print(json, &v, || match &out {
                Some(f) => println!(
                    "token {} ({}) created; written to {} (mode 0600)",
                    t.info.id,
                    t.info.name,
                    f.display()
                ),
                None => {
                    eprintln!(
                        "token {} ({}) created; it is shown this once (the node keeps only its hash):",
                        t.info.id, t.info.name
                    );
                    println!("{}", t.secret);
                }
            })
        }
        TokenCommand::Revoke {
            node,
            id_or_name,
            json,
        } => {
            let t = node.token_store()?.revoke(&id_or_name, now_ms())?;
            print(json, &t, || {
                println!(
                    "token {} ({}) revoked at {}",
                    t.id,
                    t.name,
                    t.revoked_at_ms.map(ms_iso).unwrap_or_default()
                )
            })
        }
        TokenCommand::List { node, json } => {
            let list = node.token_store()?.list()?;
            print(json, &list, || {
                if list.is_empty() {
                    println!("no API tokens");
                }
                for t in &list {
                    let state = match t.revoked_at_ms {
                        Some(ms) => format!("revoked {}", ms_iso(ms)),
                        None => "active".to_owned(),
                    };
                    println!(
                        "{}  {:<24} created {}  {state}",
                        t.id,
                        t.name,
                        ms_iso(t.created_at_ms)
                    );
                }
            })
        }
    }
}

/// Runs a `client` command.
pub fn client(cmd: ClientCommand) -> Result<()> {
    let a = match cmd {
        ClientCommand::Submit(a) => a,
        ClientCommand::Import(a) => return crate::import::cli(a),
        ClientCommand::EnrollBulk(a) => return crate::bulk::cli(a),
    };
    let visits: Vec<Visit> = match (&a.file, &a.patient, &a.diagnosis) {
        (Some(f), _, _) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON list of visits", f.display()))?
        }
        (None, Some(p), Some(d)) => vec![Visit {
            patient: p.clone(),
            diagnosis: d.clone(),
            examination_results: a.examination_results.clone(),
            treatment_plan: a.treatment_plan.clone(),
            emr: None,
            upload_within_ms: 0,
        }],
        _ => bail!("give --file, or --patient and --diagnosis"),
    };
    let body = crate::http::SubmitBody {
        visits,
        wait: !a.no_wait,
        timeout_ms: a.timeout * 1000,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = a.token.client(&a.node)?.build()?;
    let out: Vec<SubmitOutcome> = rt.block_on(async {
        let r = http
            .post(format!("{}/submit", a.node.trim_end_matches('/')))
            .timeout(std::time::Duration::from_secs(a.timeout + 10))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("no node answering at {}", a.node))?;
        let status = r.status();
        let text = r.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "node answered {status}: {text}{}",
            crate::api_token::hint(status)
        );
        Ok::<_, anyhow::Error>(serde_json::from_str(&text)?)
    })?;
    print(a.json, &out, || {
        for o in &out {
            println!(
                "{}/{}#{} {} at height {} block {}",
                o.hospital, o.department, o.sequence, o.status, o.height, o.block_hash
            );
        }
    })
}

/// Fetches a node's status over HTTP.
pub async fn fetch_status(node: &str) -> Result<NodeStatus> {
    let r = reqwest::Client::new()
        .get(format!("{}/status", node.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("no node answering at {node}"))?;
    anyhow::ensure!(r.status().is_success(), "node answered {}", r.status());
    Ok(r.json().await?)
}

/// Runs `status`.
pub fn status(a: StatusArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let s = rt.block_on(fetch_status(&a.node))?;
    print(a.json, &s, || {
        println!(
            "{} [{}] region {} roles {}",
            s.name,
            s.key,
            s.region,
            s.roles.join(",")
        );
        println!(
            "  height {} tip {} ledger {}",
            s.height, s.tip_hash, s.ledger_hash
        );
        println!(
            "  turn {} view {} primary {}",
            s.turn,
            s.view,
            s.primary.clone().unwrap_or_default()
        );
        for e in &s.endorsers {
            println!(
                "  region {} endorser {} (round {})",
                e.region,
                e.endorser.clone().unwrap_or("-".into()),
                e.view
            );
        }
        println!("  peers {}", s.peers.len());
        for f in &s.flagged {
            println!("  FLAGGED {} ({}) at height {}", f.name, f.key, f.height);
        }
    })
}
