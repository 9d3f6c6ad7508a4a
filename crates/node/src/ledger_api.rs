//! `GET /ledger/events` (read-only, API token needed like every route but the public ones):
//! where a run of one department's sequence numbers sits on this node's ledger.
//!
//! `GET /ledger/events?hospital=H&department=D&from=S&to=E` answers
//! `{"node", "height", "events": [{"sequence", "height", "block_hash"}]}`: every sequence
//! number of `H/D` from `S` to `E` (inclusive, at most [`MAX_SPAN`] of them) that is committed
//! on this node's ledger, with the height and id of its block; the numbers not committed are
//! left out. It names no patient and reveals nothing sealed: what `testnet chaos` needs to
//! check that every visit a department acknowledged is on every ledger at the place it was
//! acknowledged at, and that no visit is there twice.

use actix_web::{HttpResponse, web};
use medblock_actors::ActorError;
use medblock_actors::RunningNode;
use medblock_actors::committer::ingress::FindEvent;
use medblock_core::event::EventKey;
use serde::{Deserialize, Serialize};

/// Most sequence numbers one request may ask about.
pub const MAX_SPAN: u64 = 10_000;

/// The query of `GET /ledger/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsQuery {
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// First sequence number.
    pub from: u64,
    /// Last sequence number (inclusive).
    pub to: u64,
}

/// One committed event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventPlace {
    /// Its sequence number.
    pub sequence: u64,
    /// Height of its block.
    pub height: u64,
    /// Its block's id (hex).
    pub block_hash: String,
}

/// The answer of `GET /ledger/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsView {
    /// The node that answered.
    pub node: String,
    /// Its committed height when it answered.
    pub height: u64,
    /// The committed events among those asked about, by sequence number.
    pub events: Vec<EventPlace>,
}

/// Registers the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ledger/events", web::get().to(events));
}

/// Why `GET /ledger/events` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerApiError {
    /// The node's actors failed (or it is shutting down).
    #[error(transparent)]
    Actor(#[from] ActorError),
    /// The ledger could not be read.
    #[error("reading the ledger: {0}")]
    Store(String),
}

async fn events(node: web::Data<RunningNode>, q: web::Query<EventsQuery>) -> HttpResponse {
    match find(&node, &q.into_inner()).await {
        Ok(view) => HttpResponse::Ok().json(view),
        Err(LedgerApiError::Actor(e)) => crate::http::error_response(&e),
        Err(e @ LedgerApiError::Store(_)) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "error": e.to_string(), "code": "unavailable" })),
    }
}

/// Looks up every sequence number of the query on `node`'s ledger.
pub async fn find(node: &RunningNode, q: &EventsQuery) -> Result<EventsView, LedgerApiError> {
    if q.to < q.from || q.to - q.from >= MAX_SPAN {
        return Err(ActorError::BadRequest(format!(
            "ask for between 1 and {MAX_SPAN} sequence numbers (from {} to {})",
            q.from, q.to
        ))
        .into());
    }
    use medblock_actors::committer::ingress::GetCommitterStatus;
    let height = node
        .committer
        .status
        .send(GetCommitterStatus)
        .await
        .map_err(ActorError::from)?
        .height;
    let mut events = Vec::new();
    for sequence in q.from..=q.to {
        let key = EventKey::new(&q.hospital, &q.department, sequence);
        let found = node
            .committer
            .find_event
            .send(FindEvent(key))
            .await
            .map_err(ActorError::from)?
            .map_err(LedgerApiError::Store)?;
        if let Some((height, id)) = found {
            events.push(EventPlace {
                sequence,
                height,
                block_hash: id.to_hex(),
            });
        }
    }
    Ok(EventsView {
        node: node.ctx.name.clone(),
        height,
        events,
    })
}
