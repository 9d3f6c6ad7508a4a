//! Parsing and running `medblock patient ...`; every command prints JSON with `--json`.

use super::error::PatientError;
use super::session::LightNode;
use super::{keys, view};
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

/// `medblock patient ...`.
#[derive(Debug, Subcommand)]
pub enum PatientCommand {
    /// Create, back up and restore the patient's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
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
        /// The hospital department's node (multiaddr); the first --peer when absent.
        #[arg(long)]
        hospital_peer: Option<String>,
        /// Write the EMR here instead of printing it.
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
        PatientCommand::Keys(_) | PatientCommand::Bench(_) => Ok(()),
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
                        r.timestamp,
                        &r.block_hash[..16]
                    );
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
                    "{}/{}#{}: {}\n  examination: {}\n  plan: {}\n  EMR {} at {} (sha256 {})",
                    s.record.hospital,
                    s.record.department,
                    s.record.sequence,
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
            if let Some(path) = &out {
                std::fs::write(path, &emr)?;
                view.emr = None;
            }
            print(conn.json, &view, |v| {
                println!(
                    "EMR {} verified: SHA-256 {} matches the ledger",
                    v.record_id, v.sha256
                );
                if out.is_none() {
                    println!("{}", String::from_utf8_lossy(&emr));
                }
            })
        }
        PatientCommand::Verify(conn) => {
            let (node, patient) = connect(&conn).await?;
            let res = verify(&node, &patient).await;
            node.shutdown().await;
            let v = res?;
            print(conn.json, &v, |v| {
                println!(
                    "{} records verified (Merkle proofs, commit certificates) by {} peers; none left out",
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
                println!("grant accepted by the endorser: {r:?}")
            })
        }
        PatientCommand::Revoke { conn, grantee_key } => {
            let grantee = parse_key(&grantee_key)?;
            let (node, _) = connect(&conn).await?;
            let peer = first_peer(&node).await?;
            let res = node.upload_access(peer, &view::revoke(&grantee)).await;
            node.shutdown().await;
            let r = UploadView::of(&res?);
            print(conn.json, &r, |r| {
                println!("revocation accepted by the endorser: {r:?}")
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
    /// The EMR's record id.
    pub record_id: String,
    /// Its SHA-256 (hex), equal to the ledger's.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// The EMR itself when it is JSON, as hospitals keep it: a FHIR R4 Bundle (imported
    /// encounters and hand-entered visits alike), so `fetch --json` hands the record to FHIR
    /// tooling as it is. Absent when written to `--out` or when the hospital keeps another format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emr: Option<serde_json::Value>,
}

/// Fetches a record's EMR from its hospital's department node and checks its SHA-256 against
/// the summary's (on the ledger).
pub async fn fetch(
    node: &mut LightNode,
    patient: &PublicKey,
    record: &RecordRef,
    hospital_peer: Option<&str>,
    conn: &Conn,
) -> Result<(FetchView, Vec<u8>), PatientError> {
    let (checked, summary) = show(node, patient, record).await?;
    let peer = match hospital_peer.or(conn.peers.first().map(String::as_str)) {
        Some(addr) => node.add_peer(addr).await?,
        None => first_peer(node).await?,
    };
    let emr = node
        .emr_from(peer, &checked, &summary.emr_record_id)
        .await?;
    check_emr(&summary, &emr)?;
    Ok((
        FetchView {
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
/// others: any proof failure or left-out record is an error.
pub async fn verify(node: &LightNode, patient: &PublicKey) -> Result<VerifyView, PatientError> {
    let mut answers = Vec::new();
    for p in node.known_peers().await {
        answers.push(node.records_from(p, patient).await?);
    }
    for a in &answers {
        for b in &answers {
            medblock_core::access::proof::find_omission(
                &a.peer.to_hex(),
                a.tip,
                &a.records,
                &b.records,
            )?;
        }
    }
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
    fn of(r: &medblock_core::wire::Receipt) -> Self {
        use prost::Message;
        let body = medblock_core::wire::ReceiptBody::decode(r.body.as_slice()).unwrap_or_default();
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
    let r = node.upload_access(answer.peer, &record).await?;
    Ok(UploadView::of(&r))
}
