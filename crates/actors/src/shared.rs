//! What every actor of one node reads: its identity and certificate, genesis, the trust store,
//! the consensus membership, the network handle, the admitted peers and the node's counters.

use crate::membership::Membership;
use crate::peers::PeerBook;
use medblock_core::cert::VerifiedCertificate;
use medblock_core::config::ConfigState;
use medblock_core::genesis::VerifiedGenesis;
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::wire::Role;
use medblock_monitoring::Metrics;
use medblock_p2p::NetworkHandle;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Counters a node keeps for `/status` and tests (metrics build on them).
#[derive(Debug, Default)]
pub struct Counters {
    /// Uploads admitted by this node's endorser.
    pub uploads_accepted: AtomicU64,
    /// Uploads refused (bad signature, certificate, not the endorser...).
    pub uploads_rejected: AtomicU64,
    /// Blocks committed to this node's ledger.
    pub blocks_committed: AtomicU64,
    /// Events committed to this node's ledger.
    pub events_committed: AtomicU64,
    /// Decided values refused (bad certificate, bad block).
    pub decided_rejected: AtomicU64,
    /// Copies of a block already on the ledger (one per committee replica), dropped unparsed.
    pub decided_copies_skipped: AtomicU64,
    /// Ledger-hash claims that disagreed with this node's ledger.
    pub ledger_mismatches: AtomicU64,
    /// Consensus messages refused (unauthorized sender, malformed).
    pub consensus_rejected: AtomicU64,
    /// Consensus sends that failed (peer unreachable); PBFT recovers by view change.
    pub consensus_send_failures: AtomicU64,
    /// Client retries to another endorser.
    pub client_retries: AtomicU64,
    /// Group commits of a department: synced writes that recorded visits (several visits
    /// each under load; see `client::GROUP_COMMIT_WINDOW`).
    pub record_writes: AtomicU64,
    /// Visits those writes recorded.
    pub records_written: AtomicU64,
    /// Peers refused at the handshake (no valid certificate, revoked, wrong network).
    pub peers_refused: AtomicU64,
    /// Block proposals this orderer refused before voting (a duplicate, backdated or oversized
    /// block, or any other block a committer would refuse): metric reason `invalid_proposal`.
    pub invalid_proposals: AtomicU64,
    /// Conflicting messages signed by one key for one slot (two proposals or two votes for one
    /// view and height): metric reason `equivocation`.
    pub equivocations: AtomicU64,
    /// Uploads that reuse a (hospital, department, sequence) with another event hash: metric
    /// reason `sequence_conflict`.
    pub sequence_conflicts: AtomicU64,
    /// Access records refused (no relationship the ledger knows, or over the per-key quota):
    /// metric reason `access_record`.
    pub access_records_refused: AtomicU64,
    /// Peers demoted for claiming a height they could not serve: metric reason `false_height`.
    pub false_heights: AtomicU64,
    /// Beacons refused (not signed by the turn's primary, or another chain hash): metric
    /// reason `beacon`.
    pub bad_beacons: AtomicU64,
    /// PBFT view changes this node's replicas started, as of the orderer's last input.
    pub view_changes: AtomicU64,
    /// When the recent ones started: the health check counts those in its storm window when
    /// it is asked. Nothing samples the counter in between; a sampler woke every idle node
    /// each second.
    pub view_change_times: ViewChangeTimes,
}

/// When this node's replicas started their latest view changes, newest last (at most
/// [`ViewChangeTimes::KEPT`]).
#[derive(Debug, Default)]
pub struct ViewChangeTimes(Mutex<VecDeque<Instant>>);

impl ViewChangeTimes {
    /// Most instants kept: far more than any storm threshold needs.
    pub const KEPT: usize = 64;

    /// `n` view changes started at `at`.
    pub fn record(&self, n: u64, at: Instant) {
        let mut times = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..n.min(Self::KEPT as u64) {
            times.push_back(at);
        }
        while times.len() > Self::KEPT {
            times.pop_front();
        }
    }

    /// How many started within `window` before `now`.
    pub fn within(&self, window: Duration, now: Instant) -> u64 {
        let times = self.0.lock().unwrap_or_else(|e| e.into_inner());
        times
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= window)
            .count() as u64
    }
}

impl Counters {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a counter that mirrors a count kept elsewhere.
    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The configuration in force and the consensus membership derived from it.
#[derive(Debug, Clone)]
pub struct InForce {
    /// Certificates, revocations (with their heights), regions and parameters.
    pub state: ConfigState,
    /// Who takes part in consensus.
    pub membership: Membership,
}

impl InForce {
    /// The configuration `state` and its membership.
    pub fn new(state: ConfigState) -> Self {
        let membership = state.membership();
        Self { state, membership }
    }

    /// The trust store in force.
    pub fn trust(&self) -> &medblock_core::cert::TrustStore {
        self.state.trust()
    }

    /// The consensus parameters in force.
    pub fn params(&self) -> &medblock_core::wire::ConsensusParams {
        self.state.params()
    }
}

/// The node-wide context, shared by `Arc` between actors and the router.
pub struct Shared {
    /// The node's name (its certificate name).
    pub name: String,
    /// The node's keys.
    pub identity: Identity,
    /// The node's own certificate.
    pub certificate: VerifiedCertificate,
    /// The verified genesis.
    pub genesis: VerifiedGenesis,
    /// The configuration in force as of this node's ledger tip (genesis plus the
    /// configuration changes on the ledger), and the membership derived from it. Only the
    /// committer replaces it, right after appending a block that changed it.
    pub config: RwLock<Arc<InForce>>,
    /// Patients' recording authorizations revoked on the ledger: folded by the committer from
    /// every block it appends (and rebuilt from the ledger's index at start), and by the
    /// orderer from every block decided, so endorsers, orderers and committers refuse the same.
    pub revoked: RwLock<medblock_core::authorization::RevokedAuthorizations>,
    /// The p2p network.
    pub net: NetworkHandle,
    /// Peers and their handshake state.
    pub peers: PeerBook,
    /// Counters.
    pub counters: Counters,
    /// Where the node serves HTTP, announced in its Hello.
    pub http_address: String,
    /// Genesis hash as bytes (sent in every Hello).
    pub genesis_hash: Vec<u8>,
    /// The node's Prometheus metrics (served at `/metrics`).
    pub metrics: Arc<Metrics>,
    /// The node's data directory (for the RocksDB size metrics).
    pub data_dir: std::path::PathBuf,
    /// Test-only misbehaviour; all off on every real node (see [`crate::byzantine`]).
    pub byzantine: crate::byzantine::ByzantineConfig,
    /// The peers the p2p layer does not ping ([`crate::budget::unpinged`]), kept in step
    /// with the configuration in force.
    pub unpinged: medblock_p2p::Unpinged,
    /// The network's members for the p2p layer's connection limits
    /// ([`crate::budget::members`]), kept in step with the configuration in force.
    pub members: medblock_p2p::Members,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("name", &self.name).finish()
    }
}

impl Shared {
    /// This node's public key.
    pub fn key(&self) -> PublicKey {
        self.identity.signing.public()
    }

    /// Whether this node's certificate lists `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.certificate.has_role(role)
    }

    /// The node's region.
    pub fn region(&self) -> &str {
        &self.certificate.body.region
    }

    /// The configuration in force as of this node's ledger tip.
    pub fn config(&self) -> Arc<InForce> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The consensus membership in force.
    pub fn membership(&self) -> Membership {
        self.config().membership.clone()
    }

    /// The membership the turn rotation runs over: the regions with an endorser candidate in
    /// force ([`ConfigState::turn_membership`]). Every node, restarted or not, derives it from
    /// the same ledger, and committers check beacons against it.
    pub fn turn_membership(&self) -> Membership {
        self.config().state.turn_membership()
    }

    /// Installs the configuration after a block that changed it, and returns the peers whose
    /// certificates it revoked (the caller closes their connections).
    pub fn install_config(&self, state: ConfigState) -> Vec<PublicKey> {
        *self.unpinged.write().unwrap_or_else(|e| e.into_inner()) =
            crate::budget::unpinged(&state, &self.certificate);
        *self.members.write().unwrap_or_else(|e| e.into_inner()) = crate::budget::members(&state);
        let next = Arc::new(InForce::new(state));
        let revoked = self
            .peers
            .drop_revoked(|serial| next.state.revoked_at(serial).is_some());
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = next;
        revoked
    }

    /// Checks `key` holds a valid, unrevoked certificate with any role at `now_ms`.
    pub fn is_certified(&self, key: &PublicKey, now_ms: u64) -> bool {
        let config = self.config();
        let trust = config.trust();
        [
            Role::Endorser,
            Role::Orderer,
            Role::Committer,
            Role::Client,
            Role::Regulator,
        ]
        .into_iter()
        .any(|r| trust.authorize(key, r, now_ms).is_ok())
    }
}

/// The shared context handle actors hold.
pub type Ctx = Arc<Shared>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_changes_are_counted_within_the_window_only() {
        let times = ViewChangeTimes::default();
        let t0 = Instant::now();
        let window = Duration::from_secs(30);
        assert_eq!(times.within(window, t0), 0);
        times.record(3, t0);
        times.record(1, t0 + Duration::from_secs(20));
        assert_eq!(times.within(window, t0 + Duration::from_secs(25)), 4);
        // The first three fall out of the window.
        assert_eq!(times.within(window, t0 + Duration::from_secs(45)), 1);
        assert_eq!(times.within(window, t0 + Duration::from_secs(51)), 0);
    }

    #[test]
    fn a_burst_keeps_only_the_latest() {
        let times = ViewChangeTimes::default();
        let t0 = Instant::now();
        times.record(1_000, t0);
        times.record(1, t0 + Duration::from_secs(40));
        let now = t0 + Duration::from_secs(41);
        assert_eq!(times.within(Duration::from_secs(30), now), 1);
        assert_eq!(
            times.within(Duration::from_secs(60), now),
            ViewChangeTimes::KEPT as u64
        );
    }
}
