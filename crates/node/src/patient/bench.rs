//! `medblock patient bench`: how long `records` takes for a patient with 50 records on a
//! ledger of 10k and of 1M events.
//!
//! The ledgers are built directly through storage (`Ledger::commit`), not through consensus:
//! real signed, sealed events (1,000 per block, every patient 50 visits), each block with a
//! real commit certificate signed by 3 of 4 orderers that genesis names. They are kept under
//! `--dir` so later runs start at once. Three figures per size: the serving peer's work (verify
//! the signed query, bread crumbs, signature collections, events, Merkle paths, sign), the
//! light node's checks (answer signature, every Merkle path and commit certificate), and the
//! whole `records` exchange over libp2p on 127.0.0.1 (challenge + signed query + answer).

use super::error::PatientError;
use super::session::LightNode;
use anyhow::{Context, Result};
use medblock_core::access::nonce::NonceBook;
use medblock_core::access::proof::Verifier;
use medblock_core::access::query::{query_hash, sign_query, verify_query};
use medblock_core::access::response::{sign_result, verify_result};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::consensus::{Beacon, certificate};
use medblock_core::genesis::{default_params, verify_genesis};
use medblock_core::keys::{Identity, SigningKey};
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

/// Options of `medblock patient bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Ledger sizes in events.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    pub sizes: Vec<usize>,
    /// Timed runs per figure.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Where the ledgers are built and kept.
    #[arg(long, default_value = ".medblock/bench-records")]
    pub dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Latency figures of one ledger size, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct BenchFigures {
    /// Events on the ledger.
    pub ledger_events: usize,
    /// The patient's records returned.
    pub records: usize,
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
        let mut book = NonceBook::new(60_000, 1024);
        let (mut serve, mut verify) = (Vec::new(), Vec::new());
        let mut records = 0;
        for _ in 0..args.runs.max(1) {
            let nonce: [u8; 32] = rand::random();
            let t = Instant::now();
            book.issue(nonce, 1);
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
        let e2e = rt.block_on(end_to_end(ledger.clone(), &net, patient, args.runs))?;
        out.push(BenchFigures {
            ledger_events: size,
            records,
            serve_ms: stats(serve),
            verify_ms: stats(verify),
            end_to_end_ms: stats(e2e),
        });
    }
    Ok(out)
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
    let task = tokio::spawn(async move {
        let mut book = NonceBook::new(60_000, 1024);
        let me = server.public();
        while let Some(ev) = events.other.recv().await {
            let NetworkEvent::Request { request, token, .. } = ev else {
                continue;
            };
            let kind = match request.kind {
                Some(wire::net_request::Kind::Challenge(_)) => {
                    let nonce: [u8; 32] = rand::random();
                    let expires_at_ms = book.issue(nonce, 1);
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
                        Ok(p) => wire::net_response::Kind::Query(sign_result(
                            &server,
                            &p.query.hash,
                            p.body,
                        )),
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
            "  {:>9} events: {} records  serve {:.2} / {:.2}  verify {:.2} / {:.2}  end-to-end {:.2} / {:.2}",
            f.ledger_events,
            f.records,
            f.serve_ms.0,
            f.serve_ms.1,
            f.verify_ms.0,
            f.verify_ms.1,
            f.end_to_end_ms.0,
            f.end_to_end_ms.1
        );
    }
}
