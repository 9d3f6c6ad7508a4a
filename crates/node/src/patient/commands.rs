//! Parsing and running `medblock patient ...`; every command prints JSON with `--json`.

use super::error::PatientError;
use super::session::LightNode;
use super::{authz, enrol, keys, view};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medblock_core::keys::{PublicKey, SealingPublic};
use medblock_storage::keyfile::load_identity;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the network.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The visitor's key file (the patient's; a grantee's or the regulator's).
    #[arg(long)]
    pub key: PathBuf,
    /// The network's genesis file (what every answer is checked against).
    #[arg(long)]
    pub genesis: PathBuf,
    /// Peers to ask: multiaddrs ending in /p2p/<peer id>; more are found through Kademlia.
    #[arg(long = "peer", required = true)]
    pub peers: Vec<String>,
    /// Whose records (hex key); the visitor's own when absent.
    #[arg(long)]
    pub patient: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which record.
#[derive(Debug, Clone, Args)]
pub struct RecordRef {
    /// Hospital.
    #[arg(long)]
    pub hospital: String,
    /// Department.
    #[arg(long)]
    pub department: String,
    /// Sequence number.
    #[arg(long)]
    pub sequence: u64,
}

/// `medblock patient keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new key file (0600).
    Create {
        /// Where.
        #[arg(long)]
        out: PathBuf,
        /// A label for people.
        #[arg(long, default_value = "patient")]
        label: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a passphrase-free backup (0600): keep it offline.
    Export {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign, offline, one line of a hospital's bulk onboarding file (JSON Lines: `{"patient_id",
    /// "enrolment": hex}`, no challenge) for a hospital that takes patients' public keys in bulk.
    /// The line goes to stdout (append it to the file); what it consents to, to stderr.
    Authorize {
        /// The patient's key file.
        #[arg(long)]
        key: PathBuf,
        /// The hospital (its name in genesis).
        #[arg(long)]
        hospital: String,
        /// The patient's id (MRN) at that hospital, exactly as it keeps it.
        #[arg(long)]
        patient_id: String,
        /// Departments that may record his visits, comma-separated; every one when absent.
        #[arg(long, value_delimiter = ',')]
        departments: Vec<String>,
        /// Days the authorization lasts.
        #[arg(long, default_value_t = super::enrol::DEFAULT_VALID_DAYS)]
        valid_days: u64,
    },
    /// Restore a key file from a backup.
    Restore {
        /// The backup.
        #[arg(long)]
        backup: PathBuf,
        /// The key file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `medblock patient authorization ...`.
#[derive(Debug, Subcommand)]
pub enum AuthorizationCommand {
    /// The recording authorizations his records were made under, and those he revoked.
    List(Conn),
    /// Revoke a recording authorization: from the block that holds the revocation on, the
    /// hospital can record nothing more under it. Earlier records stay valid.
    Revoke {
        /// How to reach the network.
        #[command(flatten)]
        conn: Conn,
        /// The hospital it was given to.
        #[arg(long)]
        hospital: String,
        /// Its serial (`enroll` and `authorization list` show it).
        #[arg(long)]
        serial: u64,
        /// Seconds to wait for the revocation to be on the ledger.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
}

/// `medblock patient ...`.
#[derive(Debug, Subcommand)]
pub enum PatientCommand {
    /// Create, back up and restore the patient's keys; sign bulk enrolment lines.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Enrol at a hospital: sign its fresh challenge and a recording authorization (which
    /// departments may record your visits while you are away, for how long).
    Enroll {
        /// The patient's key file.
        #[arg(long)]
        key: PathBuf,
        /// The hospital department node's HTTP address (e.g. http://127.0.0.1:8080).
        #[arg(long)]
        hospital_node: String,
        /// Your id (MRN) at that hospital, exactly as it keeps it.
        #[arg(long)]
        patient_id: String,
        /// Departments that may record your visits, comma-separated; every one when absent.
        #[arg(long, value_delimiter = ',')]
        departments: Vec<String>,
        /// Days the authorization lasts.
        #[arg(long, default_value_t = super::enrol::DEFAULT_VALID_DAYS)]
        valid_days: u64,
        /// Seconds to wait for the hospital node.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The hospital desk's API token (the hospital's enrolment API is not open to anyone).
        #[command(flatten)]
        token: crate::api_token::TokenArgs,
    },
    /// Your recording authorizations: list them, revoke one.
    #[command(subcommand)]
    Authorization(AuthorizationCommand),
    /// All the patient's records across hospitals, grouped by department, newest first.
    Records(Conn),
    /// Decrypt one summary.
    Show {
        /// How to reach the network.
        #[command(flatten)]
        conn: Conn,
        /// Which record.
        #[command(flatten)]
        record: RecordRef,
    },
    /// Fetch the full EMR from its hospital and check its SHA-256 against the ledger.
    Fetch {
        /// How to reach the network.
        #[command(flatten)]
        conn: Conn,
        /// Which record.
        #[command(flatten)]
        record: RecordRef,
        /// The hospital department's node (multiaddr); when absent, the node is found from the
        /// record's pointer, genesis's certificates and discovery.
        #[arg(long)]
        hospital_peer: Option<String>,
        /// Write the EMR to this file (owner-only), or to stdout with `-`.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check every record with two peers: proofs, certificates, nothing left out.
    Verify(Conn),
    /// Grant a named doctor or hospital read access to chosen records.
    Grant {
        /// How to reach the network.
        #[command(flatten)]
        conn: Conn,
        /// The grantee's signing key (hex).
        #[arg(long)]
        grantee_key: String,
        /// The grantee's sealing key (hex X25519).
        #[arg(long)]
        grantee_sealing: String,
        /// The grantee's name.
        #[arg(long)]
        name: String,
        /// Records to grant, as hospital/department/sequence; every visit when absent.
        #[arg(long = "record")]
        records: Vec<String>,
    },
    /// Measure `records` latency for a patient with 50 records on 10k, 100k and 1M-event ledgers,
    /// bread crumbs against a full scan.
    Bench(super::bench::BenchArgs),
    /// Revoke every grant to a grantee.
    Revoke {
        /// How to reach the network.
        #[command(flatten)]
        conn: Conn,
        /// The grantee's signing key (hex).
        #[arg(long)]
        grantee_key: String,
    },
}

fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human(value);
    }
    Ok(())
}

fn parse_key(hex: &str) -> Result<PublicKey, PatientError> {
    PublicKey::from_hex(hex).map_err(|e| PatientError::Usage(format!("key {hex:?}: {e}")))
}

async fn connect(conn: &Conn) -> Result<(LightNode, PublicKey)> {
    let identity = load_identity(&conn.key)?;
    let genesis = std::fs::read(&conn.genesis)
        .with_context(|| format!("reading {}", conn.genesis.display()))?;
    let me = identity.signing.public();
    let node = LightNode::start(
        identity,
        &genesis,
        &conn.peers,
        Duration::from_secs(conn.timeout.max(1)),
    )
    .await?;
    let patient = match &conn.patient {
        Some(h) => parse_key(h)?,
        None => me,
    };
    Ok((node, patient))
}

/// Runs one `medblock patient` command.
pub fn run(cmd: PatientCommand) -> Result<()> {
    if let PatientCommand::Keys(k) = cmd {
        return run_keys(k);
    }
    if let PatientCommand::Enroll {
        key,
        hospital_node,
        patient_id,
        departments,
        valid_days,
        timeout,
        json,
        token,
    } = cmd
    {
        let identity = load_identity(&key)?;
        let token = token.resolve(&hospital_node)?;
        let consent = enrol::Consent::new(departments, valid_days)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let view = rt.block_on(enrol::enroll(
            &identity,
            &hospital_node,
            token.as_deref(),
            &patient_id,
            &consent,
            Duration::from_secs(timeout.max(1)),
        ))?;
        return print(json, &view, |v| println!("{}", v.human()));
    }
    if let PatientCommand::Bench(args) = &cmd {
        let figures = super::bench::run(args)?;
        return print(args.json, &figures, |f| super::bench::print(f));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_network(cmd))
}

fn run_keys(cmd: KeysCommand) -> Result<()> {
    #[derive(Serialize)]
    struct KeyView {
        path: String,
        public: String,
        sealing_public: String,
    }
    if let KeysCommand::Authorize {
        key,
        hospital,
        patient_id,
        departments,
        valid_days,
    } = cmd
    {
        let identity = load_identity(&key)?;
        let consent = enrol::Consent::new(departments, valid_days)?;
        let (line, view) = enrol::bulk_line(&identity, &hospital, &patient_id, &consent)?;
        println!("{line}");
        eprintln!(
            "{}",
            view.human()
                .replacen("Enrolled at", "Signed for the bulk enrolment file of", 1)
        );
        return Ok(());
    }
    let (json, path, id) = match cmd {
        KeysCommand::Create { out, label, json } => {
            (json, out.clone(), keys::create(&out, &label)?)
        }
        KeysCommand::Export { key, out, json } => (json, out.clone(), keys::export(&key, &out)?),
        KeysCommand::Restore { backup, out, json } => (
            json,
            out.clone(),
            keys::restore(&backup, &out, "patient (restored)")?,
        ),
        KeysCommand::Authorize { .. } => return Ok(()),
    };
    let v = KeyView {
        path: path.display().to_string(),
        public: id.signing.public().to_hex(),
        sealing_public: hex::encode(id.sealing.public().0),
    };
    print(json, &v, |v| {
        println!(
            "{}\n  key     {}\n  sealing {}",
            v.path, v.public, v.sealing_public
        )
    })
}

async fn run_network(cmd: PatientCommand) -> Result<()> {
    match cmd {
        PatientCommand::Keys(_) | PatientCommand::Bench(_) | PatientCommand::Enroll { .. } => {
            Ok(())
        }
        PatientCommand::Authorization(AuthorizationCommand::List(conn)) => {
            let (node, patient) = connect(&conn).await?;
            let answer = node.records(&patient).await;
            node.shutdown().await;
            let list = authz::list(&answer?.records);
            print(conn.json, &list, |l| {
                if l.is_empty() {
                    println!("No recording authorization on your records yet.");
                }
                for a in l {
                    let departments = if a.departments.is_empty() {
                        "every department".to_owned()
                    } else {
                        a.departments.join(", ")
                    };
                    let window = if a.not_before.is_empty() {
                        "window unknown (no record under it)".to_owned()
                    } else {
                        format!("{} to {}", a.not_before, a.not_after)
                    };
                    println!(
                        "{} serial {}: {departments}, {window}, {} records",
                        a.hospital, a.serial, a.records
                    );
                    if let Some(h) = a.revoked_at_height {
                        println!("  revoked at height {h}");
                    }
                    if a.refused_records > 0 {
                        println!(
                            "  {} records after the revocation: INVALID (no honest node decides them)",
                            a.refused_records
                        );
                    }
                }
            })
        }
        PatientCommand::Authorization(AuthorizationCommand::Revoke {
            conn,
            hospital,
            serial,
            wait,
        }) => {
            let (node, _) = connect(&conn).await?;
            let res =
                revoke_authorization(&node, &hospital, serial, Duration::from_secs(wait.max(1)))
                    .await;
            node.shutdown().await;
            let r = res?;
            print(conn.json, &r, |r| {
                println!(
                    "Authorization {} at {} revoked: on the ledger at height {} (block {}). {} can record nothing more under it; your earlier records stay valid.",
                    r.serial, r.hospital, r.height, r.block_hash, r.hospital
                )
            })
        }
        PatientCommand::Records(conn) => {
            let (node, patient) = connect(&conn).await?;
            let answer = node.records(&patient).await;
            node.shutdown().await;
            let views = view::visits(&answer?.records);
            print(conn.json, &views, |v| {
                println!("{} records, grouped by department, newest first:", v.len());
                for r in v {
                    println!(
                        "  {:<10} {:<12} height {:>5}  seq {:>5}  at {}  block {}",
                        r.hospital,
                        r.department,
                        r.height,
                        r.sequence,
                        r.time,
                        r.block_hash.get(..16).unwrap_or(&r.block_hash)
                    );
                    if let Some(why) = &r.refused {
                        println!("    INVALID: {why}");
                    }
                }
            })
        }
        PatientCommand::Show { conn, record } => {
            let (node, patient) = connect(&conn).await?;
            let out = show(&node, &patient, &record).await;
            node.shutdown().await;
            let (_, s) = out?;
            print(conn.json, &s, |s| {
                println!(
                    "{}/{}#{} ({}): {}\n  examination: {}\n  plan: {}\n  EMR {} at {} (sha256 {})",
                    s.record.hospital,
                    s.record.department,
                    s.record.sequence,
                    s.record.time,
                    s.diagnosis,
                    s.examination_results,
                    s.treatment_plan,
                    s.emr_record_id,
                    s.emr_hospital,
                    s.emr_sha256
                )
            })
        }
        PatientCommand::Fetch {
            conn,
            record,
            hospital_peer,
            out,
        } => {
            let (mut node, patient) = connect(&conn).await?;
            let res = fetch(
                &mut node,
                &patient,
                &record,
                hospital_peer.as_deref(),
                &conn,
            )
            .await;
            node.shutdown().await;
            let (mut view, emr) = res?;
            let to_stdout = out.as_deref() == Some(std::path::Path::new("-"));
            match &out {
                Some(path) if !to_stdout => {
                    write_private(path, &emr)?;
                    view.emr = None;
                    view.out = Some(path.display().to_string());
                }
                Some(_) => {}
                None => view.emr = None,
            }
            if conn.json {
                return print(true, &view, |_| {});
            }
            let said = format!(
                "EMR {} of {} fetched from {}; SHA-256 {} matches the ledger",
                view.record_id, view.hospital, view.fetched_from_name, view.sha256
            );
            if to_stdout {
                use std::io::Write;
                eprintln!("{said}");
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&emr)?;
                stdout.flush()?;
            } else if let Some(path) = &view.out {
                println!("{said}\nWritten to {path} ({} bytes).", view.bytes);
            } else {
                println!("{said}\nNot written: give --out FILE (or --out - for the screen).");
            }
            Ok(())
        }
        PatientCommand::Verify(conn) => {
            let (node, patient) = connect(&conn).await?;
            let res = verify(&node, &patient).await;
            node.shutdown().await;
            let v = res?;
            print(conn.json, &v, |v| {
                println!(
                    "{} records verified (Merkle proofs, commit certificates, the patient's and the department's signatures, recording authorizations not revoked) by {} peers; none left out",
                    v.records, v.peers
                )
            })
        }
        PatientCommand::Grant {
            conn,
            grantee_key,
            grantee_sealing,
            name,
            records,
        } => {
            let grantee = parse_key(&grantee_key)?;
            let sealing = SealingPublic::from_slice(
                &hex::decode(&grantee_sealing).context("--grantee-sealing is not hex")?,
            )?;
            let (node, patient) = connect(&conn).await?;
            let res = grant(&node, &patient, &grantee, &sealing, &name, &records).await;
            node.shutdown().await;
            let r = res?;
            print(conn.json, &r, |r| {
                println!(
                    "Grant {} by the endorser (access record #{}); it takes effect once on the ledger.",
                    r.status, r.sequence
                )
            })
        }
        PatientCommand::Revoke { conn, grantee_key } => {
            let grantee = parse_key(&grantee_key)?;
            let (node, _) = connect(&conn).await?;
            let peer = first_peer(&node).await?;
            let res = node
                .upload_access_checked(peer, &view::revoke(&grantee))
                .await;
            node.shutdown().await;
            let r = UploadView::of_body(&res?.0);
            print(conn.json, &r, |r| {
                println!(
                    "Revocation {} by the endorser (access record #{}); it takes effect once on the ledger.",
                    r.status, r.sequence
                )
            })
        }
    }
}

pub use super::consent::{RevokedView, UploadView, grant, revoke_authorization};
pub use super::reading::{FetchView, VerifyView, check_emr, fetch, show, verify};
use super::reading::{first_peer, write_private};
