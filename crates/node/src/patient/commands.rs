//! Parsing and running `medblock patient ...`; every command prints JSON with `--json`.

use super::error::PatientError;
use super::session::LightNode;
use super::{authz, enrol, keys, view};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medblock_core::keys::{PublicKey, SealingPublic};
use medblock_core::sha256;
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

async fn first_peer(node: &LightNode) -> Result<PublicKey, PatientError> {
    node.known_peers()
        .await
        .first()
        .copied()
        .ok_or_else(|| PatientError::NoPeer("no peer given".into()))
}

/// Opens one record's summary (the visitor's own, granted, or as the regulator).
pub async fn show(
    node: &LightNode,
    patient: &PublicKey,
    record: &RecordRef,
) -> Result<
    (
        medblock_core::access::proof::CheckedRecord,
        view::SummaryView,
    ),
    PatientError,
> {
    let answer = node.records(patient).await?;
    let r = view::find(
        &answer.records,
        &record.hospital,
        &record.department,
        record.sequence,
    )?;
    let summary = view::open(&node.identity, r, &answer.records)?;
    Ok((r.clone(), view::SummaryView::of(r, &summary)))
}

/// What `fetch --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct FetchView {
    /// The hospital that keeps the EMR (the record's pointer).
    pub hospital: String,
    /// The key of the department node it came from (hex).
    pub fetched_from: String,
    /// That node's name, as its certificate in genesis gives it.
    pub fetched_from_name: String,
    /// The file it was written to (`--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// The EMR's record id.
    pub record_id: String,
    /// Its SHA-256 (hex), equal to the ledger's.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// The EMR itself when it is JSON, as hospitals keep it: a FHIR R4 Bundle (imported
    /// encounters and hand-entered visits alike), so `fetch --json` hands the record to FHIR
    /// tooling as it is. Present only with `--out -`, and when the hospital keeps JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emr: Option<serde_json::Value>,
}

/// Fetches a record's EMR from the hospital that keeps it and checks its SHA-256 against the
/// summary's (on the ledger). The hospital is the one the record's pointer names; its node is
/// found among those genesis certifies for it, through the light node's peers and Kademlia
/// ([`LightNode::find_emr`]), unless `hospital_peer` names it.
pub async fn fetch(
    node: &mut LightNode,
    patient: &PublicKey,
    record: &RecordRef,
    hospital_peer: Option<&str>,
    conn: &Conn,
) -> Result<(FetchView, Vec<u8>), PatientError> {
    let (checked, summary) = show(node, patient, record).await?;
    let hospital = if summary.emr_hospital.is_empty() {
        checked.event.body.hospital.clone()
    } else {
        summary.emr_hospital.clone()
    };
    let (peer, emr) = match hospital_peer {
        Some(addr) => {
            let peer = node.add_peer(addr).await?;
            (
                peer,
                node.emr_from(peer, &checked, &summary.emr_record_id)
                    .await?,
            )
        }
        None => {
            let patience = Duration::from_secs(conn.timeout.max(1).saturating_mul(3));
            node.find_emr(&checked, &hospital, &summary.emr_record_id, patience)
                .await?
        }
    };
    check_emr(&summary, &emr)?;
    Ok((
        FetchView {
            hospital,
            fetched_from: peer.to_hex(),
            fetched_from_name: node.name_of(&peer),
            out: None,
            record_id: summary.emr_record_id.clone(),
            sha256: summary.emr_sha256.clone(),
            bytes: emr.len(),
            emr: serde_json::from_slice(&emr).ok(),
        },
        emr,
    ))
}

/// Checks an EMR against the SHA-256 its summary carries.
pub fn check_emr(summary: &view::SummaryView, emr: &[u8]) -> Result<(), PatientError> {
    let actual = sha256(emr).to_hex();
    if actual != summary.emr_sha256 {
        return Err(medblock_core::access::ProofError::EmrHashMismatch {
            record_id: summary.emr_record_id.clone(),
            expected: summary.emr_sha256.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}

/// What `verify --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyView {
    /// Records checked.
    pub records: usize,
    /// Peers that answered and agreed.
    pub peers: usize,
}

/// Checks the patient's records with every known peer that answers, each answer against the
/// others: any proof failure, left-out record, or record under an authorization he had revoked
/// before its block is an error.
pub async fn verify(node: &LightNode, patient: &PublicKey) -> Result<VerifyView, PatientError> {
    let mut answers = Vec::new();
    for p in node.known_peers().await {
        let answer = node.records_from(p, patient).await?;
        authz::check_not_revoked(&answer.records)?;
        answers.push(answer);
    }
    // Every answer must cover the highest tip a certified committer signed, over all of them
    // (a peer short of it is asked again a few times: it may only be a block behind).
    node.cross_check(&mut answers, patient).await?;
    Ok(VerifyView {
        records: answers.first().map_or(0, |a| a.records.len()),
        peers: answers.len(),
    })
}

/// An endorser's receipt, for people.
#[derive(Debug, Clone, Serialize)]
pub struct UploadView {
    /// "accepted" or "committed".
    pub status: String,
    /// Sequence of the access record.
    pub sequence: u64,
}

impl UploadView {
    /// The view of a receipt body whose signature checked.
    fn of_body(body: &medblock_core::wire::ReceiptBody) -> Self {
        Self {
            status: if body.status == medblock_core::wire::ReceiptStatus::Committed as i32 {
                "committed".into()
            } else {
                "accepted".into()
            },
            sequence: body.sequence,
        }
    }
}

/// Grants `grantee` the chosen records (`hospital/department/sequence`; every visit when none).
pub async fn grant(
    node: &LightNode,
    patient: &PublicKey,
    grantee: &PublicKey,
    sealing: &SealingPublic,
    name: &str,
    chosen: &[String],
) -> Result<UploadView, PatientError> {
    let answer = node.records(patient).await?;
    let mut picked = Vec::new();
    if chosen.is_empty() {
        picked.extend(
            answer
                .records
                .iter()
                .filter(|r| !medblock_core::access::record::is_access(&r.event.body)),
        );
    }
    for c in chosen {
        let parts: Vec<&str> = c.split('/').collect();
        let [h, d, s] = parts.as_slice() else {
            return Err(PatientError::Usage(format!(
                "--record {c:?}: use hospital/department/sequence"
            )));
        };
        let seq = s
            .parse()
            .map_err(|_| PatientError::Usage(format!("--record {c:?}: bad sequence")))?;
        picked.push(view::find(&answer.records, h, d, seq)?);
    }
    let record = view::grant(&node.identity, grantee, sealing, name, &picked)?;
    let (body, _) = node.upload_access_checked(answer.peer, &record).await?;
    Ok(UploadView::of_body(&body))
}

/// Writes `bytes` to `path`, readable by its owner only (an EMR is medical data).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on open: make it owner-only too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// What `authorization revoke` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedView {
    /// The hospital.
    pub hospital: String,
    /// The serial revoked.
    pub serial: u64,
    /// Height of the block that holds the revocation.
    pub height: u64,
    /// That block's id (hex).
    pub block_hash: String,
    /// The endorser that accepted it (hex key).
    pub endorser: String,
}

/// Revokes his authorization `serial` at `hospital`: uploads the revocation (an access record
/// signed by him) through a peer, checks the endorser's receipt, and waits until his own
/// verified records show it on the ledger.
pub async fn revoke_authorization(
    node: &LightNode,
    hospital: &str,
    serial: u64,
    wait: Duration,
) -> Result<RevokedView, PatientError> {
    if hospital.is_empty() || hospital == medblock_core::access::record::ACCESS_HOSPITAL {
        return Err(PatientError::Usage(format!(
            "--hospital {hospital:?} is not a hospital"
        )));
    }
    let me = node.key();
    let record = authz::revoke_record(hospital, serial);
    let event = medblock_core::access::record::build_access_event(
        &node.identity.signing,
        rand::random(),
        &record,
        now_ms(),
    );
    let parsed = medblock_core::event::ParsedEvent::from_wire(event.clone())?;
    let mut last = None;
    let mut receipt = None;
    for peer in node.known_peers().await {
        match node.upload_access_event(peer, event.clone()).await {
            Ok(r) => {
                receipt = Some(node.check_receipt(&r, &parsed)?);
                break;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "upload refused; trying another peer");
                last = Some(e);
            }
        }
    }
    let receipt = match (receipt, last) {
        (Some(r), _) => r,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(PatientError::NoPeer("no peer given".into())),
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match node.records(&me).await {
            Ok(answer) => {
                if let Some(r) = answer
                    .records
                    .iter()
                    .find(|r| r.event.event_hash == parsed.event_hash)
                {
                    return Ok(RevokedView {
                        hospital: hospital.to_owned(),
                        serial,
                        height: r.height,
                        block_hash: r.block_id.to_hex(),
                        endorser: hex::encode(&receipt.endorser_key),
                    });
                }
            }
            Err(e) => tracing::debug!(error = %e, "records not read yet"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PatientError::NotCommitted(format!(
                "the revocation of authorization {serial} at {hospital}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
