//! `medblock patient bench`: how long `records` takes for a patient with 50 records on ledgers
//! of 10k, 100k and 1M events, and what the bread crumbs save against a full scan.
//!
//! The ledgers are built directly through storage (`Ledger::commit`), not through consensus:
//! real signed, sealed events (1,000 per block, every patient 50 visits), each block with a
//! real commit certificate signed by 3 of 4 orderers that genesis names. They are kept under
//! `--dir` so later runs start at once. Five figures per size (median and 95th percentile):
//!
//! - `crumbs_ms`: the probe patient's events found at the storage level through his bread
//!   crumbs (`Ledger::patient_events`: crumbs → signature collections → his events);
//! - `full_scan_ms`: the same events found without bread crumbs (`Ledger::scan_patient_events`:
//!   every block from height 1 to the tip, every event decoded, his kept). The two answers are
//!   compared once per size and the run fails if they differ. The scan reads the whole ledger
//!   (seconds at 1M events), so at 100k events and more it runs `min(--runs, 5)` times
//!   (`BenchFigures::full_scan_runs`); with 5 runs the p95 is the slowest run;
//! - `serve_ms`: the serving peer's whole `records` work (verify the signed query, bread crumbs,
//!   signature collections, events, Merkle paths, sign);
//! - `verify_ms`: the light node's checks (answer signature, every Merkle path and commit
//!   certificate);
//! - `end_to_end_ms`: the whole `records` exchange over libp2p on 127.0.0.1 (challenge + signed
//!   query + answer).

use super::error::PatientError;
use super::session::LightNode;
use anyhow::{Context, Result, bail};
use medblock_core::access::nonce::NonceBook;
use medblock_core::access::proof::Verifier;
use medblock_core::access::query::{query_hash, sign_query, verify_query};
use medblock_core::access::response::{sign_result, verify_result};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::consensus::{Beacon, certificate};
use medblock_core::genesis::{default_params, verify_genesis};
use medblock_core::keys::{Identity, PublicKey, SigningKey};
use medblock_core::synthetic::World;
use medblock_core::wire;
use medblock_core::{ChainTip, Hash32};
use medblock_p2p::{NetworkEvent, P2pConfig};
use medblock_storage::{Ledger, OpenCheck};
use prost::Message;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS_PER_PATIENT: usize = 50;
const EVENTS_PER_BLOCK: usize = 1000;
/// Ledgers of this many events and more get at most [`MAX_SCAN_RUNS`] full scans.
const LARGE_LEDGER: usize = 100_000;
/// Full scans per size on large ledgers: each reads the whole ledger.
const MAX_SCAN_RUNS: usize = 5;

/// Options of `medblock patient bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Ledger sizes in events.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub sizes: Vec<usize>,
    /// Timed runs per figure (the full scan: at most 5 on ledgers of 100k events and more).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Where the ledgers are built and kept.
    #[arg(long, default_value = ".medblock/bench-records")]
    pub dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    /// Options for running the benchmark from code (another command, a test, a report) rather
    /// than from the command line: ledgers of `sizes` events kept under `dir`, `runs` timed runs
    /// per figure, figures for people (`json` off).
    pub fn with_sizes(dir: impl Into<PathBuf>, sizes: Vec<usize>, runs: usize) -> Self {
        Self {
            sizes,
            runs,
            dir: dir.into(),
            json: false,
        }
    }
}

/// Latency figures of one ledger size, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct BenchFigures {
    /// Events on the ledger.
    pub ledger_events: usize,
    /// The patient's records returned.
    pub records: usize,
    /// The patient's events found through his bread crumbs at the storage level (crumbs,
    /// signature collections, his events): median and 95th percentile.
    pub crumbs_ms: (f64, f64),
    /// The same events found by a full scan (every block and event decoded): median and 95th
    /// percentile.
    pub full_scan_ms: (f64, f64),
    /// How many full scans were timed: `--runs`, at most 5 on ledgers of 100k events and more.
    pub full_scan_runs: usize,
    /// Serving peer's work: median and 95th percentile.
    pub serve_ms: (f64, f64),
    /// Light node's checks: median and 95th percentile.
    pub verify_ms: (f64, f64),
    /// Whole `records` exchange over libp2p on 127.0.0.1: median and 95th percentile.
    pub end_to_end_ms: (f64, f64),
}

struct Net {
    world: World,
    orderers: Vec<SigningKey>,
    genesis: Vec<u8>,
}

fn network(seed: u64, patients: usize) -> Net {
    let mut r = ChaCha20Rng::seed_from_u64(seed);
    let world = World::generate(&mut r, 2, patients);
    let orderers: Vec<SigningKey> = (0..4).map(|_| SigningKey::generate(&mut r)).collect();
    let genesis = world
        .genesis(&orderers, "bench", default_params(), 1)
        .encode_to_vec();
    Net {
        world,
        orderers,
        genesis,
    }
}

fn certify(net: &Net, beacon: &Beacon, height: u64, id: Hash32) -> wire::CommitCertificate {
    let stmt = statement::vote(1, 0, height, &id);
    let commits: Vec<_> = net
        .orderers
        .iter()
        .take(3)
        .map(|k| (k.public(), k.sign(VoteKind::Commit.purpose(), &stmt)))
        .collect();
    certificate::build(1, 0, height, id, &commits, Some(beacon))
}

/// Opens (building on first use) a ledger of `events` events with certified blocks.
fn ledger_with(dir: &Path, events: usize) -> Result<(Ledger, Net, Identity)> {
    let patients = (events / RECORDS_PER_PATIENT).max(1);
    let mut net = network(events as u64, patients);
    let probe = net
        .world
        .patients
        .get(patients / 2)
        .cloned()
        .context("no patient")?;
    let dir = dir.join(format!("{events}"));
    let blocks = events.div_ceil(EVENTS_PER_BLOCK) as u64;
    if let Ok(l) = Ledger::open(&dir, OpenCheck::HashChain, 4096)
        && l.tip().height == blocks
    {
        return Ok((l, net, probe));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let ledger = Ledger::open(&dir, OpenCheck::HashChain, 4096)?;
    let mut r = ChaCha20Rng::seed_from_u64(events as u64 ^ 0x5eed);
    let mut visits: Vec<usize> = (0..events).map(|i| i % patients).collect();
    for i in (1..visits.len()).rev() {
        let j = r.random_range(0..=i);
        visits.swap(i, j);
    }
    let beacon = Beacon::sign(&net.world.endorser, 1, Hash32::ZERO, 1);
    let departments = net.world.departments.len();
    let started = Instant::now();
    let mut tip = ChainTip::GENESIS;
    for (b, chunk) in visits.chunks(EVENTS_PER_BLOCK).enumerate() {
        let base = tip.timestamp_ms + 1;
        let mut evs = Vec::with_capacity(chunk.len());
        for (i, &p) in chunk.iter().enumerate() {
            let d = r.random_range(0..departments);
            evs.push(
                net.world
                    .event(p, d, base + i as u64, &mut r)
                    .context("synthetic event")?,
            );
        }
        let mut block = net.world.block(&tip, evs, base + EVENTS_PER_BLOCK as u64)?;
        block.block.certificate = Some(certify(&net, &beacon, block.height(), block.id));
        tip = ledger.commit(&block)?;
        if b % 50 == 49 {
            eprintln!(
                "  built {} of {blocks} blocks ({:.0?})",
                b + 1,
                started.elapsed()
            );
        }
    }
    eprintln!(
        "built a ledger of {events} events in {:.1?}",
        started.elapsed()
    );
    Ok((ledger, net, probe))
}

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((ms.len() as f64 - 1.0) * q).round() as usize;
        ms.get(i).copied().unwrap_or(0.0)
    };
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the benchmark and returns one line of figures per size.
pub fn run(args: &BenchArgs) -> Result<Vec<BenchFigures>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut out = Vec::new();
    for &size in &args.sizes {
        let (ledger, net, patient) = ledger_with(&args.dir, size)?;
        let ledger = Arc::new(ledger);
        let genesis = verify_genesis(&net.genesis)?;
        let verifier = Verifier::new(&genesis);
        let peer = SigningKey::generate(&mut rand::rng());
        let me = patient.signing.public();
        let runs = args.runs.max(1);
        let scan_runs = if size >= LARGE_LEDGER {
            runs.min(MAX_SCAN_RUNS)
        } else {
            runs
        };
        eprintln!(
            "timing {size} events: {runs} bread-crumb look-ups, {scan_runs} full scans, {runs} served and checked queries, {runs} exchanges over libp2p"
        );
        let (crumbs, full_scan) = storage_lookups(&ledger, &me, size, runs, scan_runs)?;
        let mut book = NonceBook::new(60_000, 1024, 1024);
        let (mut serve, mut verify) = (Vec::new(), Vec::new());
        let mut records = 0;
        for _ in 0..runs {
            let nonce: [u8; 32] = rand::random();
            let t = Instant::now();
            book.issue(nonce, [0; 32], 1);
            let q = sign_query(
                &patient.signing,
                wire::QueryBody {
                    nonce: nonce.to_vec(),
                    peer_key: peer.public().as_bytes().to_vec(),
                    kind: wire::QueryKind::Records as i32,
                    ..Default::default()
                },
            );
            let v = verify_query(&q, &peer.public(), &mut book, 2)?;
            let p = medblock_actors::query::prepare_records(&ledger, &peer.public(), v, None)?;
            let result = sign_result(&peer, &p.query.hash, p.body);
            serve.push(ms(t.elapsed()));
            let t = Instant::now();
            let body = verify_result(&result, &peer.public(), &query_hash(&q))?;
            let checked = verifier.check_answer(&body, &me)?;
            verify.push(ms(t.elapsed()));
            records = checked.len();
        }
        let e2e = rt.block_on(end_to_end(ledger.clone(), &net, patient, runs))?;
        out.push(BenchFigures {
            ledger_events: size,
            records,
            crumbs_ms: stats(crumbs),
            full_scan_ms: stats(full_scan),
            full_scan_runs: scan_runs,
            serve_ms: stats(serve),
            verify_ms: stats(verify),
            end_to_end_ms: stats(e2e),
        });
    }
    Ok(out)
}

/// Times `runs` look-ups of `patient`'s events through bread crumbs and `scan_runs` full scans
/// for the same events, after one untimed look-up each whose answers must be equal and not
/// empty: the figures are for the same answer.
fn storage_lookups(
    ledger: &Ledger,
    patient: &PublicKey,
    size: usize,
    runs: usize,
    scan_runs: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let by_crumbs = ledger.patient_events(patient)?;
    let t = Instant::now();
    let scanned = ledger.scan_patient_events(patient)?;
    eprintln!(
        "  full scan of {size} events: {} events of the patient in {:.1?}",
        scanned.len(),
        t.elapsed()
    );
    if by_crumbs != scanned {
        bail!(
            "ledger of {size} events: bread crumbs find {} events of the patient, a full scan {}, and they differ",
            by_crumbs.len(),
            scanned.len()
        );
    }
    if by_crumbs.is_empty() {
        bail!("ledger of {size} events: the probe patient has no events; nothing was compared");
    }
    let mut crumbs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let found = ledger.patient_events(patient)?;
        crumbs.push(ms(t.elapsed()));
        std::hint::black_box(found);
    }
    let mut full_scan = Vec::with_capacity(scan_runs);
    for i in 0..scan_runs {
        let t = Instant::now();
        let found = ledger.scan_patient_events(patient)?;
        full_scan.push(ms(t.elapsed()));
        std::hint::black_box(found);
        if size >= LARGE_LEDGER {
            eprintln!("  full scan {} of {scan_runs}: {:.1?}", i + 1, t.elapsed());
        }
    }
    Ok((crumbs, full_scan))
}

/// A peer over `ledger` answering challenges and queries with the node's own rules
/// (`medblock_actors::query::prepare_records`), and a light node asking it `runs` times.
async fn end_to_end(
    ledger: Arc<Ledger>,
    net: &Net,
    patient: Identity,
    runs: usize,
) -> Result<Vec<f64>, PatientError> {
    let server = SigningKey::generate(&mut rand::rng());
    let (handle, mut events) =
        medblock_p2p::spawn(P2pConfig::new(server.clone(), "/ip4/127.0.0.1/tcp/0")).await?;
    let h = handle.clone();
    // The tip a certified committer (an orderer of the bench network) signs, which the light
    // node requires in every records answer.
    let tip = medblock_core::access::tip::signed_tip(&medblock_core::access::tip::sign_claim(
        net.orderers
            .first()
            .ok_or_else(|| PatientError::NoPeer("bench network without orderers".into()))?,
        wire::LedgerClaimBody {
            height: ledger.tip().height,
            tip: ledger.tip().id.0.to_vec(),
            issued_at_ms: 1,
            ..Default::default()
        },
    ));
    let task = tokio::spawn(async move {
        let mut book = NonceBook::new(60_000, 1024, 1024);
        let me = server.public();
        while let Some(ev) = events.light.recv().await {
            let NetworkEvent::Request { request, token, .. } = ev else {
                continue;
            };
            let kind = match request.kind {
                Some(wire::net_request::Kind::Challenge(_)) => {
                    let nonce: [u8; 32] = rand::random();
                    let expires_at_ms = book.issue(nonce, [0; 32], 1);
                    wire::net_response::Kind::Challenge(wire::Challenge {
                        nonce: nonce.to_vec(),
                        peer_key: me.as_bytes().to_vec(),
                        expires_at_ms,
                    })
                }
                Some(wire::net_request::Kind::Query(q)) => {
                    match verify_query(&q, &me, &mut book, 2).and_then(|v| {
                        medblock_actors::query::prepare_records(&ledger, &me, v, None)
                    }) {
                        Ok(mut p) => {
                            p.body.signed_tips = vec![tip.clone()];
                            wire::net_response::Kind::Query(sign_result(
                                &server,
                                &p.query.hash,
                                p.body,
                            ))
                        }
                        Err(e) => wire::net_response::Kind::Denied(e.to_wire()),
                    }
                }
                _ => wire::net_response::Kind::Ack(false),
            };
            let _ = h
                .respond(token, wire::NetResponse { kind: Some(kind) })
                .await;
        }
    });
    let addr = handle.listen_addrs().first().cloned().unwrap_or_default();
    let me = patient.signing.public();
    let node = LightNode::start(patient, &net.genesis, &[addr], Duration::from_secs(30)).await?;
    let peer = node
        .known_peers()
        .await
        .first()
        .copied()
        .ok_or_else(|| PatientError::NoPeer("bench peer".into()))?;
    node.records_from(peer, &me).await?; // warm-up
    let mut out = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        node.records_from(peer, &me).await?;
        out.push(ms(t.elapsed()));
    }
    node.shutdown().await;
    handle.shutdown().await;
    task.abort();
    Ok(out)
}

/// Prints the figures for people.
pub fn print(figures: &[BenchFigures]) {
    println!("records latency, patient with {RECORDS_PER_PATIENT} records (median / p95, ms)");
    for f in figures {
        println!(
            "  {:>9} events: {} records  crumbs {:.2} / {:.2}  full scan {:.2} / {:.2} ({} runs, {:.0}x)  serve {:.2} / {:.2}  verify {:.2} / {:.2}  end-to-end {:.2} / {:.2}",
            f.ledger_events,
            f.records,
            f.crumbs_ms.0,
            f.crumbs_ms.1,
            f.full_scan_ms.0,
            f.full_scan_ms.1,
            f.full_scan_runs,
            f.full_scan_ms.0 / f.crumbs_ms.0,
            f.serve_ms.0,
            f.serve_ms.1,
            f.verify_ms.0,
            f.verify_ms.1,
            f.end_to_end_ms.0,
            f.end_to_end_ms.1
        );
    }
}
