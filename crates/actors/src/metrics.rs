//! Feeding a node's [`Metrics`]: PBFT phase marks from the consensus messages the orderer sees
//! and sends, and, at scrape time, the node's status, counters, network statistics and
//! RocksDB sizes. `/metrics` and `/status` read the same sources, so they never disagree.

use crate::error::ActorError;
use crate::running::RunningNode;
use crate::shared::Counters;
use medblock_core::wire;
use medblock_monitoring::Metrics;
use medblock_monitoring::metrics::labels;
use prost::Message as _;
use std::path::Path;

/// Vote kind of a PBFT commit (see `Vote.kind` in consensus.proto).
const VOTE_COMMIT: u32 = 2;

/// Marks PBFT phases from a consensus message this node received or sent.
pub fn observe_consensus(metrics: &Metrics, msg: &wire::ConsensusMessage) {
    use wire::consensus_message::Kind;
    match &msg.kind {
        Some(Kind::PrePrepare(env)) => {
            if let Ok(body) = wire::PrePrepareBody::decode(env.body.as_slice()) {
                metrics.pbft_pre_prepare(body.height);
            }
        }
        Some(Kind::Vote(v)) if v.kind == VOTE_COMMIT => metrics.pbft_commit_vote(v.height),
        _ => {}
    }
}

/// Marks the decision of a value.
pub fn observe_decided(metrics: &Metrics, value: &wire::DecidedValue) {
    if let Some(c) = &value.certificate {
        metrics.pbft_decided(c.height);
    }
}

/// Bytes under `dir` (0 if absent): a RocksDB database's on-disk size.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Brings the node's metrics up to date and encodes them in Prometheus text format.
pub async fn render(node: &RunningNode) -> Result<String, ActorError> {
    let status = node.status().await?;
    let cs = node
        .orderer
        .status
        .send(crate::orderer::ingress::GetConsensusStatus)
        .await?;
    let ctx = &node.ctx;
    let m = &ctx.metrics;
    m.height.set(gauge(status.height));
    m.view.set(gauge(status.view));
    m.turn.set(gauge(status.turn));
    m.is_primary.set(i64::from(cs.primary == Some(ctx.key())));
    m.in_committee.set(i64::from(cs.in_committee));
    m.committee_size.set(gauge(status.committee.len() as u64));
    m.peers.set(gauge(status.peers.len() as u64));
    m.queue_depth
        .with_label_values(&["outbox"])
        .set(gauge(status.outbox as u64));

    let c = &ctx.counters;
    Metrics::sync_counter(&m.events_committed, Counters::get(&c.events_committed));
    Metrics::sync_counter(&m.blocks_committed, Counters::get(&c.blocks_committed));
    Metrics::sync_counter(&m.ledger_mismatches, Counters::get(&c.ledger_mismatches));
    Metrics::sync_counter(
        &m.consensus_send_failures,
        Counters::get(&c.consensus_send_failures),
    );
    Metrics::sync_counter(&m.client_retries, Counters::get(&c.client_retries));
    Metrics::sync_counter(&m.record_writes, Counters::get(&c.record_writes));
    Metrics::sync_counter(
        &m.decided_copies_skipped,
        Counters::get(&c.decided_copies_skipped),
    );
    Metrics::sync_counter(&m.records_written, Counters::get(&c.records_written));
    Metrics::sync_counter(
        &m.signature_verifications,
        medblock_core::keys::verifications(),
    );
    Metrics::sync_counter(&m.elections, cs.stats.elections);
    Metrics::sync_counter(&m.election_timeouts, cs.stats.election_timeouts);
    Metrics::sync_counter(&m.view_changes, cs.stats.view_changes);
    Metrics::sync_counter(&m.turns.with_label_values(&["ended"]), cs.stats.turn_ends);
    Metrics::sync_counter(
        &m.turns.with_label_values(&["skipped"]),
        cs.stats.skipped_turns,
    );

    let net = ctx.net.stats();
    let rejected = [
        ("upload", Counters::get(&c.uploads_rejected)),
        ("decided", Counters::get(&c.decided_rejected)),
        ("consensus", Counters::get(&c.consensus_rejected)),
        ("peer", Counters::get(&c.peers_refused)),
        ("frame", net.rejected_frames),
        ("connection", net.refused_connections),
        ("gossip", net.gossip_rejected),
        ("handshake_timeout", net.handshake_timeouts),
        ("invalid_proposal", Counters::get(&c.invalid_proposals)),
        ("equivocation", Counters::get(&c.equivocations)),
        ("sequence_conflict", Counters::get(&c.sequence_conflicts)),
        ("access_record", Counters::get(&c.access_records_refused)),
        ("false_height", Counters::get(&c.false_heights)),
        ("beacon", Counters::get(&c.bad_beacons)),
    ];
    debug_assert_eq!(rejected.len(), labels::REJECTED.len());
    for (reason, v) in rejected {
        Metrics::sync_counter(&m.rejected_inputs.with_label_values(&[reason]), v);
    }
    for (reason, v) in [
        ("requests_busy", net.dropped_requests_other),
        ("gossip_busy", net.dropped_gossip_other),
        ("closed_channel", net.dropped_closed_channel),
        ("consensus_backpressure", net.consensus_backpressure),
        ("light_busy", net.dropped_requests_light),
        ("peer_limit", net.over_peer_limit),
    ] {
        Metrics::sync_counter(&m.dropped.with_label_values(&[reason]), v);
    }
    for (dir, v) in [
        ("in", net.gossip_in),
        ("out", net.gossip_out),
        ("rejected", net.gossip_rejected),
    ] {
        Metrics::sync_counter(&m.gossip_messages.with_label_values(&[dir]), v);
    }
    for (dir, v) in [
        ("in", net.requests_in),
        ("out", net.requests_out),
        ("failed", net.requests_failed),
    ] {
        Metrics::sync_counter(&m.requests.with_label_values(&[dir]), v);
    }
    let data = ctx.data_dir.clone();
    let sizes = tokio::task::spawn_blocking(move || {
        labels::DATABASES.map(|db| (db, dir_bytes(&data.join(db))))
    })
    .await
    .map_err(|e| ActorError::Config(format!("sizing the databases: {e}")))?;
    for (db, bytes) in sizes {
        m.rocksdb_bytes.with_label_values(&[db]).set(gauge(bytes));
    }
    m.encode()
        .map_err(|e| ActorError::Config(format!("encoding metrics: {e}")))
}
