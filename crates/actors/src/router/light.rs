//! The light-node front: what the router runs, on its own task, for a light-node request
//! (challenge, headers, signed query, access-record upload). It reaches the query server, the
//! client, the endorser and the orderer only through their contracts, so a slow EMR read or an
//! endorser's answer never holds the query server's Arbiter.

use crate::client::ingress::Mailbox as ClientMailbox;
use crate::endorser::ingress::{Mailbox as EndorserMailbox, UploadIn};
use crate::orderer::ingress::{GetConsensusStatus, Mailbox as OrdererMailbox};
use crate::query::ingress::{CheckQuery, IssueChallenge, Mailbox as QueryMailbox, ServeHeaders};
use crate::shared::Ctx;
use medblock_core::ParsedEvent;
use medblock_core::access::AccessError;
use medblock_core::access::record::is_access;
use medblock_core::access::response::sign_result;
use medblock_core::keys::PublicKey;
use medblock_core::sealing::{emr_binding, seal_to};
use medblock_core::wire::{self, error_reply::Code};

/// Whether a request is a light-node request (answered for any peer, certified or not).
pub fn is_light(kind: &wire::net_request::Kind) -> bool {
    use wire::net_request::Kind;
    matches!(
        kind,
        Kind::Challenge(_) | Kind::Query(_) | Kind::Headers(_) | Kind::AccessUpload(_)
    )
}

/// Where light-node requests go.
#[derive(Clone)]
pub struct QueryRoutes {
    /// Node context.
    pub ctx: Ctx,
    /// The query server.
    pub server: QueryMailbox,
    /// The orderer (to learn the regions' endorsers).
    pub orderer: OrdererMailbox,
    /// The local endorser, if any.
    pub endorser: Option<EndorserMailbox>,
    /// The local department (EMR database), if any.
    pub client: Option<ClientMailbox>,
}

fn denied(e: &AccessError) -> wire::NetResponse {
    wire::NetResponse {
        kind: Some(wire::net_response::Kind::Denied(e.to_wire())),
    }
}

fn net_error(code: Code, message: impl Into<String>) -> wire::NetResponse {
    wire::NetResponse {
        kind: Some(wire::net_response::Kind::Error(wire::ErrorReply {
            code: code as i32,
            message: message.into(),
        })),
    }
}

/// Answers one light-node request.
pub async fn answer(
    routes: &QueryRoutes,
    from: PublicKey,
    kind: wire::net_request::Kind,
) -> wire::NetResponse {
    use wire::net_request::Kind;
    use wire::net_response::Kind as R;
    let resp = |k| wire::NetResponse { kind: Some(k) };
    match kind {
        Kind::Challenge(_) => match routes.server.challenge.send(IssueChallenge(from)).await {
            Ok(c) => resp(R::Challenge(c)),
            Err(_) => net_error(Code::Busy, "node shutting down"),
        },
        Kind::Headers(h) => match routes.server.headers.send(ServeHeaders(h)).await {
            Ok(h) => resp(R::Headers(h)),
            Err(_) => net_error(Code::Busy, "node shutting down"),
        },
        Kind::Query(q) => match serve_query(routes, q).await {
            Ok(r) => resp(R::Query(r)),
            Err(e) => {
                tracing::info!(visitor = %from, reason = %e, "query refused");
                denied(&e)
            }
        },
        Kind::AccessUpload(up) => {
            let Some(event) = up.event else {
                return net_error(Code::Malformed, "access upload without an event");
            };
            match ParsedEvent::from_wire(event.clone()) {
                Ok(p) if is_access(&p.body) => {}
                Ok(_) => {
                    return net_error(Code::Rejected, "only access records may be uploaded here");
                }
                Err(e) => return net_error(Code::Malformed, e.to_string()),
            }
            match forward_upload(routes, event).await {
                Ok(r) => resp(R::Receipt(r)),
                Err(e) => resp(R::Error(e)),
            }
        }
        _ => net_error(Code::Malformed, "not a light-node request"),
    }
}

async fn serve_query(
    routes: &QueryRoutes,
    q: wire::SignedQuery,
) -> Result<wire::QueryResult, AccessError> {
    let mut prepared = routes
        .server
        .check_query
        .send(CheckQuery(q))
        .await
        .map_err(|_| AccessError::Unavailable("node shutting down".into()))??;
    if let Some(event) = prepared.read_record.take() {
        // Every regulator read is on the ledger: no answer before an endorser accepted it.
        forward_upload(routes, event).await.map_err(|e| {
            AccessError::Unavailable(format!("read record not accepted: {}", e.message))
        })?;
        tracing::info!(patient = %prepared.query.patient, "regulator read recorded");
    }
    if let Some(read) = prepared.emr.take() {
        let client = routes
            .client
            .as_ref()
            .ok_or_else(|| AccessError::NoSuchRecord("not a department".into()))?;
        let what = format!("{}#{}", read.department, read.sequence);
        let recipient = prepared
            .seal_to
            .take()
            .ok_or_else(|| AccessError::Malformed("no sealing key".into()))?;
        let emr = client
            .read_emr
            .send(read)
            .await
            .map_err(|_| AccessError::Unavailable("department shutting down".into()))?
            .map_err(|e| AccessError::NoSuchRecord(format!("{what}: {e}")))?;
        prepared.body.sealed_emr = Some(seal_to(
            &emr,
            &emr_binding(&prepared.query.hash),
            &recipient,
            &mut rand::rng(),
        ));
    }
    Ok(sign_result(
        &routes.ctx.identity.signing,
        &prepared.query.hash,
        prepared.body,
    ))
}

/// Hands an access record to an endorser: the local one if this node is its region's elected
/// endorser, otherwise each region's elected endorser over the network, until one accepts.
pub async fn forward_upload(
    routes: &QueryRoutes,
    event: wire::Event,
) -> Result<wire::Receipt, wire::ErrorReply> {
    let mut last = wire::ErrorReply {
        code: Code::NotEndorser as i32,
        message: "no endorser known".into(),
    };
    if let Some(e) = &routes.endorser {
        match e
            .upload
            .send(UploadIn {
                event: event.clone(),
                // A patient's own upload (access grant) goes with the next turn.
                upload_within_ms: 0,
            })
            .await
        {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e)) => last = e,
            Err(_) => {}
        }
    }
    let endorsers: Vec<PublicKey> = match routes.orderer.status.send(GetConsensusStatus).await {
        Ok(s) => s.regions.iter().filter_map(|r| r.endorser).collect(),
        Err(_) => Vec::new(),
    };
    let me = routes.ctx.key();
    for k in endorsers.into_iter().filter(|k| *k != me) {
        let req = wire::NetRequest {
            kind: Some(wire::net_request::Kind::Upload(wire::Upload {
                event: Some(event.clone()),
                upload_within_ms: 0,
            })),
        };
        match routes.ctx.net.request(k, req).await {
            Ok(wire::NetResponse {
                kind: Some(wire::net_response::Kind::Receipt(r)),
            }) => return Ok(r),
            Ok(wire::NetResponse {
                kind: Some(wire::net_response::Kind::Error(e)),
            }) => last = e,
            Ok(_) => {}
            Err(e) => {
                last = wire::ErrorReply {
                    code: Code::Busy as i32,
                    message: e.to_string(),
                }
            }
        }
    }
    Err(last)
}
