//! One Prometheus registry per node, behind a typed [`Metrics`] struct. Every series carries a
//! constant `node` label (the certificate name), so one Prometheus scraping a whole testnet can
//! tell the nodes apart even when they share a host.
//!
//! Two kinds of series live here: those the actors record as things happen (PBFT phase
//! durations, submit-to-commit latency, queue depths) and those synced from the node's own
//! counters and status at scrape time ([`Metrics::sync_counter`], the gauges), so the
//! actors keep one source of truth for `/status` and `/metrics`.

use crate::phases::{LatencyClock, PhaseClock};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;

/// Errors building or encoding the registry.
pub type MetricsError = prometheus::Error;

/// The label values each labelled series takes.
pub mod labels {
    /// `queue_depth{queue}`.
    pub const QUEUES: [&str; 2] = ["pending", "outbox"];
    /// `rocksdb_bytes{db}`.
    pub const DATABASES: [&str; 4] = ["ledger", "pending", "outbox", "emr"];
    /// `dropped_total{reason}`.
    pub const DROPPED: [&str; 6] = [
        "requests_busy",
        "gossip_busy",
        "closed_channel",
        "consensus_backpressure",
        "light_busy",
        "peer_limit",
    ];
    /// `gossip_messages_total{direction}`.
    pub const DIRECTIONS_GOSSIP: [&str; 3] = ["in", "out", "rejected"];
    /// `requests_total{direction}`.
    pub const DIRECTIONS_REQUESTS: [&str; 3] = ["in", "out", "failed"];
    /// `turns_total{outcome}`.
    pub const TURNS: [&str; 2] = ["ended", "skipped"];
    /// `rejected_inputs_total{reason}`.
    pub const REJECTED: [&str; 14] = [
        "upload",
        "decided",
        "consensus",
        "peer",
        "frame",
        "connection",
        "gossip",
        "handshake_timeout",
        "invalid_proposal",
        "equivocation",
        "sequence_conflict",
        "access_record",
        "false_height",
        "beacon",
    ];
    /// `pbft_phase_seconds{phase}`.
    pub const PHASES: [&str; 3] = ["prepare", "commit", "total"];
}

/// Prefix of every metric name.
pub const NAMESPACE: &str = "medblock";

/// The metrics of one node.
pub struct Metrics {
    registry: Registry,
    /// Committed ledger height: the first thing to compare across nodes (a stuck node stops).
    pub height: IntGauge,
    /// PBFT view of the current turn: a climbing view means view changes (a faulty primary or
    /// a partition).
    pub view: IntGauge,
    /// The endorser turn: turns advance even when no blocks come, so it shows liveness.
    pub turn: IntGauge,
    /// 1 on the node that is the current primary endorser: summed over nodes it must be at most 1.
    pub is_primary: IntGauge,
    /// 1 while this node sits in the turn's orderer committee (who is doing the PBFT work).
    pub in_committee: IntGauge,
    /// Size of the turn's committee as this node sees it (0 until its beacon verified).
    pub committee_size: IntGauge,
    /// Duration of each PBFT phase this node took part in (`prepare`: pre-prepare to the first
    /// commit vote; `commit`: first commit vote to decision; `total`): where consensus time goes.
    pub pbft_phase_seconds: HistogramVec,
    /// From a department's upload to the commit of its event: what users wait for.
    pub submit_to_commit_seconds: Histogram,
    /// Events appended to this node's ledger.
    pub events_committed: IntCounter,
    /// Blocks appended to this node's ledger.
    pub blocks_committed: IntCounter,
    /// Blocks this node's orderer decided (committee members only).
    pub blocks_decided: IntCounter,
    /// Items waiting in the node's durable queues (`pending`: the endorser's admitted uploads;
    /// `outbox`: the department's events not yet committed): growth means back-pressure.
    pub queue_depth: IntGaugeVec,
    /// Work the node dropped or delayed, by reason (busy channels, closed channels,
    /// consensus back-pressure): load shedding that explains missing messages.
    pub dropped: IntCounterVec,
    /// Peers that passed the certificate handshake.
    pub peers: IntGauge,
    /// Gossip messages by direction (`in`, `out`, `rejected`).
    pub gossip_messages: IntCounterVec,
    /// Point-to-point requests by direction (`in`, `out`, `failed`).
    pub requests: IntCounterVec,
    /// Peers whose gossiped ledger hash disagreed with ours: non-zero is a safety alarm.
    pub ledger_mismatches: IntCounter,
    /// Endorser elections this node saw decided (all regions).
    pub elections: IntCounter,
    /// Election rounds that timed out without an endorser.
    pub election_timeouts: IntCounter,
    /// PBFT view changes this node started.
    pub view_changes: IntCounter,
    /// Turns ended, and of those skipped (`ended`, `skipped`).
    pub turns: IntCounterVec,
    /// Inputs refused, by reason (`upload`, `decided`, `consensus`, `peer`, `frame`,
    /// `connection`, `gossip`): attacks and misconfiguration show up here first.
    pub rejected_inputs: IntCounterVec,
    /// Consensus messages that could not be delivered (peer unreachable).
    pub consensus_send_failures: IntCounter,
    /// Department uploads retried with another endorser.
    pub client_retries: IntCounter,
    /// A department's synced writes that recorded visits: with `records_written`, how well
    /// group commit batches them (fsyncs per visit).
    pub record_writes: IntCounter,
    /// Visits a department recorded.
    pub records_written: IntCounter,
    /// Copies of blocks already committed (each committee replica publishes its own), dropped
    /// without being parsed: against blocks committed, how much gossip repeats itself.
    pub decided_copies_skipped: IntCounter,
    /// Ed25519 signatures this node has verified: summed over nodes and divided by committed
    /// events, the protocol's verification cost per event (what `medblock bench` reports).
    pub signature_verifications: IntCounter,
    /// On-disk size of each RocksDB database (`ledger`, `pending`, `outbox`, `emr`), in bytes.
    pub rocksdb_bytes: IntGaugeVec,
    phases: PhaseClock,
    latency: LatencyClock,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("height", &self.height.get())
            .finish_non_exhaustive()
    }
}

fn counter(r: &Registry, name: &str, help: &str) -> Result<IntCounter, MetricsError> {
    let c = IntCounter::with_opts(Opts::new(name, help))?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    label: &str,
) -> Result<IntCounterVec, MetricsError> {
    let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, MetricsError> {
    let g = IntGauge::with_opts(Opts::new(name, help))?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    label: &str,
) -> Result<IntGaugeVec, MetricsError> {
    let g = IntGaugeVec::new(Opts::new(name, help), &[label])?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// Buckets from 5 ms to about 80 s: a PBFT phase on localhost takes milliseconds, a commit
/// across a turn change seconds.
fn buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.005, 2.0, 15).unwrap_or_else(|_| vec![0.01, 0.1, 1.0, 10.0])
}

impl Metrics {
    /// A fresh registry whose series all carry `node="<node>"`.
    pub fn new(node: &str) -> Result<Self, MetricsError> {
        let mut labels = HashMap::new();
        labels.insert("node".to_owned(), node.to_owned());
        let r = Registry::new_custom(Some(NAMESPACE.to_owned()), Some(labels))?;
        let pbft_phase_seconds = HistogramVec::new(
            HistogramOpts::new(
                "pbft_phase_seconds",
                "Duration of PBFT phases at this node (prepare, commit, total).",
            )
            .buckets(buckets()),
            &["phase"],
        )?;
        r.register(Box::new(pbft_phase_seconds.clone()))?;
        let submit_to_commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "submit_to_commit_seconds",
                "From a department's upload to the commit of its event.",
            )
            .buckets(buckets()),
        )?;
        r.register(Box::new(submit_to_commit_seconds.clone()))?;
        let m = Self {
            height: gauge(&r, "height", "Committed ledger height.")?,
            view: gauge(&r, "view", "PBFT view of the current turn.")?,
            turn: gauge(&r, "turn", "Current endorser turn.")?,
            is_primary: gauge(&r, "is_primary", "1 if this node is the current primary.")?,
            in_committee: gauge(
                &r,
                "in_committee",
                "1 if this node is in the turn's committee.",
            )?,
            committee_size: gauge(&r, "committee_size", "Size of the turn's committee.")?,
            pbft_phase_seconds,
            submit_to_commit_seconds,
            events_committed: counter(&r, "events_committed_total", "Events committed.")?,
            blocks_committed: counter(&r, "blocks_committed_total", "Blocks committed.")?,
            blocks_decided: counter(
                &r,
                "blocks_decided_total",
                "Blocks decided by this orderer.",
            )?,
            queue_depth: gauge_vec(&r, "queue_depth", "Items in durable queues.", "queue")?,
            dropped: counter_vec(&r, "dropped_total", "Work dropped or delayed.", "reason")?,
            peers: gauge(&r, "peers", "Admitted peers.")?,
            gossip_messages: counter_vec(
                &r,
                "gossip_messages_total",
                "Gossip messages by direction.",
                "direction",
            )?,
            requests: counter_vec(&r, "requests_total", "Requests by direction.", "direction")?,
            ledger_mismatches: counter(
                &r,
                "ledger_hash_mismatches_total",
                "Peers whose ledger hash differed from ours.",
            )?,
            elections: counter(&r, "elections_total", "Endorser elections decided.")?,
            election_timeouts: counter(
                &r,
                "election_timeouts_total",
                "Election rounds that timed out.",
            )?,
            view_changes: counter(&r, "view_changes_total", "PBFT view changes started.")?,
            turns: counter_vec(&r, "turns_total", "Turns ended or skipped.", "outcome")?,
            rejected_inputs: counter_vec(
                &r,
                "rejected_inputs_total",
                "Inputs refused, by reason.",
                "reason",
            )?,
            consensus_send_failures: counter(
                &r,
                "consensus_send_failures_total",
                "Consensus messages not delivered.",
            )?,
            client_retries: counter(&r, "client_retries_total", "Uploads retried elsewhere.")?,
            record_writes: counter(
                &r,
                "record_writes_total",
                "Synced writes that recorded visits (group commits).",
            )?,
            records_written: counter(&r, "records_written_total", "Visits recorded.")?,
            decided_copies_skipped: counter(
                &r,
                "decided_copies_skipped_total",
                "Copies of committed blocks dropped unparsed.",
            )?,
            signature_verifications: counter(
                &r,
                "signature_verifications_total",
                "Ed25519 signatures verified by this node.",
            )?,
            rocksdb_bytes: gauge_vec(&r, "rocksdb_bytes", "On-disk size of RocksDB.", "db")?,
            registry: r,
            phases: PhaseClock::default(),
            latency: LatencyClock::default(),
        };
        m.touch_labels();
        Ok(m)
    }

    /// Creates every labelled child up front, so each series is exported (at 0) from the first
    /// scrape: dashboards and alerts see "nothing happened", not "no data".
    fn touch_labels(&self) {
        for (vec, labels) in [
            (&self.dropped, &labels::DROPPED[..]),
            (&self.gossip_messages, &labels::DIRECTIONS_GOSSIP[..]),
            (&self.requests, &labels::DIRECTIONS_REQUESTS[..]),
            (&self.turns, &labels::TURNS[..]),
            (&self.rejected_inputs, &labels::REJECTED[..]),
        ] {
            for l in labels {
                let _ = vec.with_label_values(&[*l]);
            }
        }
        for (vec, labels) in [
            (&self.queue_depth, &labels::QUEUES[..]),
            (&self.rocksdb_bytes, &labels::DATABASES[..]),
        ] {
            for l in labels {
                let _ = vec.with_label_values(&[*l]);
            }
        }
        for l in labels::PHASES {
            let _ = self.pbft_phase_seconds.with_label_values(&[l]);
        }
    }

    /// Raises a counter to `value` (a node-owned monotonic count read at scrape time).
    pub fn sync_counter(counter: &IntCounter, value: u64) {
        let now = counter.get();
        if value > now {
            counter.inc_by(value - now);
        }
    }

    /// Records that this node saw (or sent) the pre-prepare of `height`.
    pub fn pbft_pre_prepare(&self, height: u64) {
        self.phases.pre_prepare(height);
    }

    /// Records that this node saw (or sent) a commit vote for `height`.
    pub fn pbft_commit_vote(&self, height: u64) {
        if let Some(d) = self.phases.commit_vote(height) {
            self.pbft_phase_seconds
                .with_label_values(&["prepare"])
                .observe(d);
        }
    }

    /// Records that this node decided `height`.
    pub fn pbft_decided(&self, height: u64) {
        self.blocks_decided.inc();
        let (commit, total) = self.phases.decided(height);
        if let Some(d) = commit {
            self.pbft_phase_seconds
                .with_label_values(&["commit"])
                .observe(d);
        }
        if let Some(d) = total {
            self.pbft_phase_seconds
                .with_label_values(&["total"])
                .observe(d);
        }
    }

    /// Records that a department uploaded the event `key` (an event key's bytes).
    pub fn upload_sent(&self, key: [u8; 32]) {
        self.latency.start(key);
    }

    /// Records that the event `key` was committed; observes its latency if it was uploaded here.
    pub fn upload_committed(&self, key: [u8; 32]) {
        if let Some(d) = self.latency.finish(key) {
            self.submit_to_commit_seconds.observe(d);
        }
    }

    /// The text exposition of every series.
    pub fn encode(&self) -> Result<String, MetricsError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The registry, for callers adding their own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_names_its_node_and_counters_only_rise() {
        let m = Metrics::new("orderer-1").expect("registry");
        Metrics::sync_counter(&m.blocks_committed, 5);
        Metrics::sync_counter(&m.blocks_committed, 3);
        assert_eq!(m.blocks_committed.get(), 5);
        m.queue_depth.with_label_values(&["pending"]).set(2);
        let text = m.encode().expect("encode");
        assert!(text.contains("medblock_blocks_committed_total{node=\"orderer-1\"} 5"));
        assert!(
            text.contains("medblock_queue_depth{queue=\"pending\",node=\"orderer-1\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn phases_and_latency_are_observed_in_order_only() {
        let m = Metrics::new("n").expect("registry");
        m.pbft_commit_vote(7); // no pre-prepare seen: nothing observed
        m.pbft_pre_prepare(8);
        m.pbft_commit_vote(8);
        m.pbft_decided(8);
        let h = m.pbft_phase_seconds.with_label_values(&["total"]);
        assert_eq!(h.get_sample_count(), 1);
        assert_eq!(
            m.pbft_phase_seconds
                .with_label_values(&["prepare"])
                .get_sample_count(),
            1
        );
        m.upload_committed([1; 32]);
        assert_eq!(m.submit_to_commit_seconds.get_sample_count(), 0);
        m.upload_sent([1; 32]);
        m.upload_committed([1; 32]);
        m.upload_committed([1; 32]);
        assert_eq!(m.submit_to_commit_seconds.get_sample_count(), 1);
    }
}
