//! `/config`: configuration on the ledger over HTTP (credentials needed, like every route but
//! the public ones).
//!
//! - `POST /config` takes one CA-signed `wire::ConfigChange` (protobuf bytes): the node checks it
//!   against the configuration in force and hands it to the endorsers; 202 with its id once
//!   waiting for a block, 400 with the reason when the configuration in force refuses it (not
//!   signed by the CA, a duplicate serial, a revocation of an unknown certificate, too few
//!   orderers left...). The CA key never reaches the node: `medblock ca` signs on the CA's
//!   machine.
//! - `GET /config` shows the configuration in force at this node's ledger tip: every change
//!   applied (height, id, what), the certificates with the heights they were issued and
//!   revoked at, the regions with their voters and endorser candidates, the orderers and the
//!   parameters.

use actix_web::{HttpResponse, web};
use medblock_actors::RunningNode;
use medblock_core::cert::role_name;
use medblock_core::wire;
use serde::{Deserialize, Serialize};

/// One certificate as `GET /config` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateView {
    /// Serial.
    pub serial: u64,
    /// Holder name.
    pub name: String,
    /// Holder key (hex).
    pub key: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Region.
    pub region: String,
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// Height of the block that issued it (0: genesis).
    pub issued_at: Option<u64>,
    /// Height of the block that revoked it.
    pub revoked_at: Option<u64>,
}

/// One applied change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeView {
    /// Height of the block that holds it.
    pub height: u64,
    /// Its id (hex).
    pub id: String,
    /// What it did.
    pub change: String,
}

/// One region's electorate, by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionView {
    /// Region.
    pub name: String,
    /// Voters' names.
    pub voters: Vec<String>,
    /// Endorser candidates' names, in preference order.
    pub candidates: Vec<String>,
}

/// `GET /config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigView {
    /// The height this configuration was installed at (the last change, or the ledger's tip
    /// when the node started); it stays in force until the next change, whatever the tip.
    pub height: u64,
    /// Changes applied, in order.
    pub changes: Vec<ChangeView>,
    /// Every certificate ever on the ledger, by serial.
    pub certificates: Vec<CertificateView>,
    /// Regions and their members.
    pub regions: Vec<RegionView>,
    /// The orderers committees are drawn from, by name.
    pub orderers: Vec<String>,
    /// The consensus parameters in force.
    pub params: ParamsView,
}

/// Consensus parameters (`wire::ConsensusParams`) as JSON.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ParamsView {
    /// Events per block.
    pub max_block_events: u32,
    /// Block interval, ms.
    pub block_interval_ms: u64,
    /// Turn timeout, ms.
    pub turn_timeout_ms: u64,
    /// View-change timeout, ms.
    pub view_change_timeout_ms: u64,
    /// Orderers per committee (3f+1).
    pub committee_size: u32,
    /// PBFT checkpoint interval, heights.
    pub checkpoint_interval: u64,
    /// Ledger-hash gossip interval, ms.
    pub ledger_gossip_interval_ms: u64,
    /// Largest network message, bytes.
    pub max_message_bytes: u32,
    /// Largest clock skew accepted, ms.
    pub max_clock_skew_ms: u64,
}

impl From<&wire::ConsensusParams> for ParamsView {
    fn from(p: &wire::ConsensusParams) -> Self {
        Self {
            max_block_events: p.max_block_events,
            block_interval_ms: p.block_interval_ms,
            turn_timeout_ms: p.turn_timeout_ms,
            view_change_timeout_ms: p.view_change_timeout_ms,
            committee_size: p.committee_size,
            checkpoint_interval: p.checkpoint_interval,
            ledger_gossip_interval_ms: p.ledger_gossip_interval_ms,
            max_message_bytes: p.max_message_bytes,
            max_clock_skew_ms: p.max_clock_skew_ms,
        }
    }
}

impl From<ParamsView> for wire::ConsensusParams {
    fn from(p: ParamsView) -> Self {
        Self {
            max_block_events: p.max_block_events,
            block_interval_ms: p.block_interval_ms,
            turn_timeout_ms: p.turn_timeout_ms,
            view_change_timeout_ms: p.view_change_timeout_ms,
            committee_size: p.committee_size,
            checkpoint_interval: p.checkpoint_interval,
            ledger_gossip_interval_ms: p.ledger_gossip_interval_ms,
            max_message_bytes: p.max_message_bytes,
            max_clock_skew_ms: p.max_clock_skew_ms,
        }
    }
}

/// Answer of `POST /config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// The change's id (hex): `GET /config` lists it once decided.
    pub id: String,
    /// What it does.
    pub change: String,
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/config", web::post().to(submit))
        .route("/config", web::get().to(show));
}

async fn submit(node: web::Data<RunningNode>, body: web::Bytes) -> HttpResponse {
    match node.submit_config(body.to_vec()).await {
        Ok((id, change)) => HttpResponse::Accepted().json(Submitted {
            id: id.to_hex(),
            change,
        }),
        Err(e) => crate::http::error_response(&e),
    }
}

async fn show(node: web::Data<RunningNode>) -> HttpResponse {
    HttpResponse::Ok().json(view(&node))
}

/// The configuration in force at `node`'s ledger tip.
pub fn view(node: &RunningNode) -> ConfigView {
    let config = node.config_history();
    let state = &config.state;
    let name_of = |key: &medblock_core::PublicKey| {
        state
            .trust()
            .get(key)
            .map(|c| c.body.name.clone())
            .unwrap_or_else(|| key.to_hex())
    };
    let mut certificates: Vec<CertificateView> = state
        .trust()
        .certificates()
        .map(|c| CertificateView {
            serial: c.body.serial,
            name: c.body.name.clone(),
            key: c.key.to_hex(),
            roles: c.roles().iter().map(|r| role_name(*r).to_owned()).collect(),
            region: c.body.region.clone(),
            hospital: c.body.hospital.clone(),
            department: c.body.department.clone(),
            issued_at: state.issued_at(c.body.serial),
            revoked_at: state.revoked_at(c.body.serial),
        })
        .collect();
    certificates.sort_by_key(|c| c.serial);
    ConfigView {
        height: state.height(),
        changes: state
            .history()
            .iter()
            .map(|c| ChangeView {
                height: c.height,
                id: c.id.to_hex(),
                change: c.description.clone(),
            })
            .collect(),
        certificates,
        regions: config
            .membership
            .regions
            .iter()
            .map(|r| RegionView {
                name: r.name.clone(),
                voters: r.voters.iter().map(name_of).collect(),
                candidates: r.candidates.iter().map(name_of).collect(),
            })
            .collect(),
        orderers: config.membership.orderers.iter().map(name_of).collect(),
        params: ParamsView::from(state.params()),
    }
}
