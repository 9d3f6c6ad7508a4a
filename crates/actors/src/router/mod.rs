//! The one place that reads the network's events: it runs the certificate handshake, refuses
//! consensus traffic from peers that have not passed it, checks gossip authors against the
//! trust store, and hands each message to the actor that owns it. It decodes and routes only;
//! signature checks and writes happen in the actors, on their own threads.

use crate::client::ingress::Mailbox as ClientMailbox;
use crate::clock::now_ms;
use crate::committer::ingress::{
    ClaimReceived, CommitOutcome, Decided, GetCommitterStatus, Mailbox as CommitterMailbox,
    ServeCatchUp,
};
use crate::endorser::ingress::{
    ConfigIn, Mailbox as EndorserMailbox, ReceiptsIn, UploadBatchIn, UploadIn,
};
use crate::handshake::{HandshakeError, admit, our_hello};
use crate::orderer::ingress::{
    ConsensusIn, Mailbox as OrdererMailbox, PeerAdmitted, PeerLost, TurnEndsFrom,
};
use crate::query::ingress::Mailbox as QueryMailbox;
use crate::shared::{Counters, Ctx};
use light::{QueryRoutes, is_light};
use medblock_core::config::ConfigError;
use medblock_core::keys::PublicKey;
use medblock_core::wire::{self, error_reply::Code};
use medblock_p2p::{NetworkEvent, NetworkEvents, Topic, Verdict};
use prost::Message as _;

mod light;

/// Where the router delivers.
#[derive(Clone)]
pub struct Routes {
    /// Node context.
    pub ctx: Ctx,
    /// The committer (every node keeps the ledger).
    pub committer: CommitterMailbox,
    /// The consensus driver (every node runs one; non-members observe).
    pub orderer: OrdererMailbox,
    /// The endorser, on endorser nodes.
    pub endorser: Option<EndorserMailbox>,
    /// The client, on department nodes.
    pub client: Option<ClientMailbox>,
    /// The light-node query server.
    pub query: QueryMailbox,
}

impl Routes {
    fn query_routes(&self) -> QueryRoutes {
        QueryRoutes {
            ctx: self.ctx.clone(),
            server: self.query.clone(),
            orderer: self.orderer.clone(),
            endorser: self.endorser.clone(),
            client: self.client.clone(),
        }
    }
}

fn error(code: Code, message: impl Into<String>) -> wire::NetResponse {
    wire::NetResponse {
        kind: Some(wire::net_response::Kind::Error(wire::ErrorReply {
            code: code as i32,
            message: message.into(),
        })),
    }
}

/// A catch-up answer: the ledger's blocks and the turn ends the orderer remembers, in the order
/// they were decided. A turn end decided at height h precedes the block of the next turn at h;
/// turn ends past the block after the last one served are left for the next request, so the
/// node catching up never sees a turn end before the blocks of its turn.
fn catch_up_answer(
    blocks: wire::CatchUpResponse,
    turn_ends: Vec<wire::DecidedValue>,
) -> wire::CatchUpResponse {
    let height = |d: &wire::DecidedValue| d.certificate.as_ref().map_or(0, |c| c.height);
    let until = blocks.decided.last().map(|b| height(b) + 1);
    let mut tagged: Vec<(u64, u8, wire::DecidedValue)> = turn_ends
        .into_iter()
        .filter(|t| until.is_none_or(|u| height(t) <= u))
        .map(|t| (height(&t), 0, t))
        .chain(blocks.decided.into_iter().map(|b| (height(&b), 1, b)))
        .collect();
    tagged.sort_by_key(|(h, kind, _)| (*h, *kind));
    wire::CatchUpResponse {
        decided: tagged.into_iter().map(|(_, _, d)| d).collect(),
    }
}

/// Runs until both event channels close (the swarm stopped).
pub async fn run(routes: Routes, events: NetworkEvents) {
    let NetworkEvents {
        mut consensus,
        mut other,
        mut light,
    } = events;
    let mut consensus_open = true;
    let mut other_open = true;
    let mut light_open = true;
    while consensus_open || other_open || light_open {
        let ev = tokio::select! {
            ev = consensus.recv(), if consensus_open => match ev {
                Some(ev) => ev,
                None => { consensus_open = false; continue; }
            },
            ev = other.recv(), if other_open => match ev {
                Some(ev) => ev,
                None => { other_open = false; continue; }
            },
            ev = light.recv(), if light_open => match ev {
                Some(ev) => ev,
                None => { light_open = false; continue; }
            },
        };
        dispatch(&routes, ev).await;
    }
    tracing::info!("network closed; router stopped");
}

async fn height(routes: &Routes) -> u64 {
    routes
        .committer
        .status
        .send(GetCommitterStatus)
        .await
        .map(|s| s.height)
        .unwrap_or(0)
}

async fn dispatch(routes: &Routes, ev: NetworkEvent) {
    let ctx = &routes.ctx;
    match ev {
        NetworkEvent::PeerConnected { key, addr } => {
            let routes = routes.clone();
            actix::spawn(async move {
                if crate::budget::beyond(&routes.ctx, &key).await {
                    tracing::debug!(peer = %key, addr, "peer beyond this node's budget; closing");
                    routes.ctx.net.close(key).await;
                    return;
                }
                tracing::debug!(peer = %key, addr, "connected; sending hello");
                handshake(routes, key).await
            });
        }
        NetworkEvent::PeerDisconnected { key } => {
            if let Some(e) = ctx.peers.remove(&key) {
                tracing::info!(peer = e.name, "peer disconnected");
                routes.orderer.peer_lost.do_send(PeerLost(key));
            }
        }
        // A paused or wedged peer keeps its connections open: to the consensus it is lost
        // as a crashed one is (the same grace, view change and election), but it stays
        // admitted, so it is a peer again at its next pong, without a new handshake.
        NetworkEvent::PeerUnresponsive { key } => {
            if ctx.peers.set_unresponsive(&key, true) {
                tracing::info!(peer = %key, "peer stopped answering; treated as lost");
                routes.orderer.peer_lost.do_send(PeerLost(key));
            }
        }
        NetworkEvent::PeerResponsive { key } => {
            if ctx.peers.set_unresponsive(&key, false) && ctx.peers.is_admitted(&key) {
                tracing::info!(peer = %key, "peer answers again");
                routes.orderer.peer_admitted.do_send(PeerAdmitted(key));
            }
        }
        NetworkEvent::Subscribed { .. } => {}
        NetworkEvent::Request {
            from,
            request,
            token,
        } => {
            let routes = routes.clone();
            // Answer off the routing loop: the answer may need actors that are busy.
            actix::spawn(async move {
                let resp = answer(&routes, from, *request).await;
                if let Err(e) = routes.ctx.net.respond(token, resp).await {
                    tracing::debug!(error = %e, "response not sent");
                }
            });
        }
        NetworkEvent::Gossip {
            propagated_by,
            topic,
            id,
            data,
        } => {
            let routes = routes.clone();
            actix::spawn(async move {
                let verdict = gossip(&routes, propagated_by, topic, &data).await;
                routes.ctx.net.report_gossip(id, verdict).await;
            });
        }
    }
}

async fn handshake(routes: Routes, key: PublicKey) {
    let ctx = &routes.ctx;
    let h = height(&routes).await;
    let req = wire::NetRequest {
        kind: Some(wire::net_request::Kind::Hello(our_hello(ctx, h))),
    };
    // Over the connection that prompted it, never a new dial (see `request_connected`).
    match ctx.net.request_connected(key, req).await {
        Ok(wire::NetResponse {
            kind: Some(wire::net_response::Kind::Hello(hello)),
        }) => match admit(ctx, &key, &hello) {
            Ok(e) => {
                tracing::info!(peer = e.name, region = e.region, roles = ?e.roles, "peer admitted");
                ctx.net.admit(key).await;
                routes.orderer.peer_admitted.do_send(PeerAdmitted(key));
            }
            Err(e) => refuse(ctx, key, &e.to_string()).await,
        },
        Ok(wire::NetResponse {
            kind: Some(wire::net_response::Kind::Error(e)),
        }) => {
            tracing::warn!(peer = %key, reason = e.message, "peer refused our hello");
        }
        Ok(_) => refuse(ctx, key, "answered hello with something else").await,
        Err(e) => tracing::debug!(peer = %key, error = %e, "hello failed"),
    }
}

async fn refuse(ctx: &Ctx, key: PublicKey, reason: &str) {
    Counters::inc(&ctx.counters.peers_refused);
    tracing::warn!(peer = %key, reason, "peer refused at handshake; disconnecting");
    ctx.peers.remove(&key);
    ctx.net.disconnect(key).await;
}

/// A request's kind, for logs.
fn kind_name(kind: &wire::net_request::Kind) -> &'static str {
    use wire::net_request::Kind;
    match kind {
        Kind::Hello(_) => "hello",
        Kind::Consensus(_) => "consensus",
        Kind::CatchUp(_) => "catch_up",
        Kind::Upload(_) => "upload",
        Kind::UploadBatch(_) => "upload_batch",
        Kind::Receipts(_) => "receipts",
        _ => "light",
    }
}

async fn answer(routes: &Routes, from: PublicKey, request: wire::NetRequest) -> wire::NetResponse {
    use wire::net_request::Kind;
    let ctx = &routes.ctx;
    let Some(kind) = request.kind else {
        return error(Code::Malformed, "empty request");
    };
    tracing::debug!(from = %from, kind = kind_name(&kind), "request");
    if let Kind::Hello(hello) = &kind {
        return match admit(ctx, &from, hello) {
            Ok(e) => {
                tracing::info!(peer = e.name, region = e.region, "peer admitted");
                // Into gossip before our answer goes out: the peer may publish as soon as it
                // has it.
                ctx.net.admit(from).await;
                routes.orderer.peer_admitted.do_send(PeerAdmitted(from));
                let h = height(routes).await;
                wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Hello(our_hello(ctx, h))),
                }
            }
            Err(e) => {
                let code = if matches!(e, HandshakeError::WrongNetwork) {
                    Code::WrongNetwork
                } else {
                    Code::Unauthorized
                };
                refuse(ctx, from, &e.to_string()).await;
                error(code, e.to_string())
            }
        };
    }
    // Light nodes (patients, grantees, the regulator) hold no node certificate: their queries
    // are answered before the handshake check and never reach consensus.
    if is_light(&kind) {
        return light::answer(&routes.query_routes(), from, kind).await;
    }
    if !ctx.peers.is_admitted(&from) {
        Counters::inc(&ctx.counters.consensus_rejected);
        return error(
            Code::Unauthorized,
            "send a Hello with a valid certificate first",
        );
    }
    match kind {
        Kind::Hello(_)
        | Kind::Challenge(_)
        | Kind::Query(_)
        | Kind::Headers(_)
        | Kind::AccessUpload(_) => error(Code::Malformed, "unreachable"),
        Kind::Consensus(msg) => {
            // Awaited, not `do_send`: consensus traffic is never dropped; a full mailbox makes
            // the sender wait.
            match routes
                .orderer
                .consensus
                .send(ConsensusIn { from, msg })
                .await
            {
                Ok(()) => wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Ack(true)),
                },
                Err(_) => error(Code::Busy, "node shutting down"),
            }
        }
        Kind::CatchUp(req) => {
            let from = req.from_height;
            let Ok(blocks) = routes.committer.catch_up.send(ServeCatchUp(req)).await else {
                return error(Code::Busy, "node shutting down");
            };
            let turn_ends = routes
                .orderer
                .turn_ends_from
                .send(TurnEndsFrom(from))
                .await
                .unwrap_or_default();
            wire::NetResponse {
                kind: Some(wire::net_response::Kind::CatchUp(catch_up_answer(
                    blocks, turn_ends,
                ))),
            }
        }
        Kind::Upload(up) => {
            let Some(endorser) = &routes.endorser else {
                return error(
                    Code::NotEndorser,
                    format!("{} is not an endorser", ctx.name),
                );
            };
            let Some(event) = up.event else {
                return error(Code::Malformed, "upload without an event");
            };
            let upload_within_ms = up.upload_within_ms;
            match endorser
                .upload
                .send(UploadIn {
                    event,
                    upload_within_ms,
                })
                .await
            {
                Ok(Ok(r)) => wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Receipt(r)),
                },
                Ok(Err(e)) => wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Error(e)),
                },
                Err(_) => error(Code::Busy, "endorser unavailable"),
            }
        }
        Kind::UploadBatch(batch) => {
            let Some(endorser) = &routes.endorser else {
                return error(
                    Code::NotEndorser,
                    format!("{} is not an endorser", ctx.name),
                );
            };
            match endorser.upload_batch.send(UploadBatchIn(batch)).await {
                Ok(Ok(a)) => wire::NetResponse {
                    kind: Some(wire::net_response::Kind::BatchAnswer(a)),
                },
                Ok(Err(e)) => wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Error(e)),
                },
                Err(_) => error(Code::Busy, "endorser unavailable"),
            }
        }
        Kind::Receipts(q) => {
            let Some(endorser) = &routes.endorser else {
                return error(
                    Code::NotEndorser,
                    format!("{} is not an endorser", ctx.name),
                );
            };
            match endorser.receipts.send(ReceiptsIn(q)).await {
                Ok(r) => wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Receipts(r)),
                },
                Err(_) => error(Code::Busy, "endorser unavailable"),
            }
        }
    }
}

/// Checks and applies one gossip message. Gossip is unsigned on the wire: each payload proves
/// its own origin (a commit certificate, a signed ledger claim, a signed consensus message, the
/// CA's signature), and `neighbour` (authenticated by the connection) is only who forwarded it.
async fn gossip(routes: &Routes, neighbour: PublicKey, topic: Topic, data: &[u8]) -> Verdict {
    use wire::gossip_message::Kind;
    let ctx = &routes.ctx;
    // The forwarder must have passed the handshake (a CA-signed certificate not revoked on
    // this ledger); it need not be on this ledger yet. A node that has just joined (certified
    // after genesis, caught up, its certificate not decided yet) relays like any peer: refusing
    // its copy made gossipsub drop the valid copies that came after it as duplicates, and
    // nodes missed turn ends (2-3 s stalls at every join).
    if !ctx.peers.is_admitted(&neighbour) {
        tracing::debug!(neighbour = %neighbour, "gossip forwarded by a peer not admitted rejected");
        return Verdict::Reject;
    }
    let Ok(msg) = wire::GossipMessage::decode(data) else {
        return Verdict::Reject;
    };
    match (topic, msg.kind) {
        (Topic::Blocks, Some(Kind::Decided(value))) => {
            let to_orderer = value.clone();
            match routes
                .committer
                .decided
                .send(Decided {
                    value,
                    from: Some(neighbour),
                })
                .await
            {
                // Another replica's copy of a block this node holds, unchecked: not forwarded
                // (gossipsub forwarded the first copy this node accepted), and not handed to
                // the orderer, which learned the block when it was committed (`BlockCommitted`).
                Ok(Ok(CommitOutcome::Duplicate)) => Verdict::Ignore,
                Ok(Ok(_)) => {
                    // Turn ends (not blocks) too: this is how nodes outside the committee learn
                    // that a turn ended.
                    let msg = wire::ConsensusMessage {
                        kind: Some(wire::consensus_message::Kind::Decided(to_orderer)),
                    };
                    routes.orderer.consensus.do_send(ConsensusIn {
                        from: neighbour,
                        msg,
                    });
                    Verdict::Accept
                }
                Ok(Err(_)) => Verdict::Reject,
                Err(_) => Verdict::Ignore,
            }
        }
        (Topic::Ledger, Some(Kind::LedgerClaim(claim))) => {
            // The claim names its author; the committer checks the author's signature.
            let Some(author) = claim_author(&claim) else {
                return Verdict::Reject;
            };
            if !ctx.is_certified(&author, now_ms()) {
                tracing::debug!(author = %author, "ledger claim of an uncertified node rejected");
                return Verdict::Reject;
            }
            match routes
                .committer
                .claim
                .send(ClaimReceived { author, claim })
                .await
            {
                Ok(Ok(())) => Verdict::Accept,
                Ok(Err(_)) => Verdict::Reject,
                Err(_) => Verdict::Ignore,
            }
        }
        (Topic::Consensus, Some(Kind::Consensus(msg))) => {
            match routes
                .orderer
                .consensus
                .send(ConsensusIn {
                    from: neighbour,
                    msg,
                })
                .await
            {
                Ok(()) => Verdict::Accept,
                Err(_) => Verdict::Ignore,
            }
        }
        (Topic::Config, Some(Kind::ConfigChange(change))) => {
            // Only endorsers keep changes (to pack them); gossipsub still relays them on.
            let Some(endorser) = &routes.endorser else {
                return Verdict::Accept;
            };
            match endorser.config.send(ConfigIn(change.encode_to_vec())).await {
                Ok(Ok(_)) => Verdict::Accept,
                Ok(Err(e)) => {
                    // Not signed by the CA, malformed: the sender relayed junk. Decided
                    // already or no longer applicable: only late, not the sender's fault.
                    tracing::debug!(error = %e, "configuration change refused");
                    if matches!(
                        e,
                        ConfigError::NotSignedByCa | ConfigError::Malformed(_) | ConfigError::Empty
                    ) {
                        Verdict::Reject
                    } else {
                        Verdict::Ignore
                    }
                }
                Err(_) => Verdict::Ignore,
            }
        }
        _ => Verdict::Reject,
    }
}

/// The node a ledger claim says it is from (unchecked: the committer verifies the signature).
fn claim_author(claim: &wire::LedgerClaim) -> Option<PublicKey> {
    let body = wire::LedgerClaimBody::decode(claim.body.as_slice()).ok()?;
    PublicKey::from_slice(&body.node_key).ok()
}

#[cfg(test)]
mod tests {
    use super::catch_up_answer;
    use medblock_core::wire;

    fn dv(height: u64, turn: u64) -> wire::DecidedValue {
        wire::DecidedValue {
            value: None,
            certificate: Some(wire::CommitCertificate {
                height,
                turn,
                ..Default::default()
            }),
        }
    }

    fn order(r: &wire::CatchUpResponse) -> Vec<(u64, u64)> {
        r.decided
            .iter()
            .filter_map(|d| d.certificate.as_ref().map(|c| (c.height, c.turn)))
            .collect()
    }

    #[test]
    fn turn_ends_are_placed_before_the_next_turns_block_and_not_past_the_batch() {
        // Blocks 3..=5 from the ledger (turn 1 until 4, turn 2 from 5); turn ends at 5 (turn 1
        // ended) and 9 (turn 2 ended, beyond this batch).
        let blocks = wire::CatchUpResponse {
            decided: vec![dv(3, 1), dv(4, 1), dv(5, 2)],
        };
        let answer = catch_up_answer(blocks, vec![dv(5, 1), dv(9, 2)]);
        assert_eq!(order(&answer), vec![(3, 1), (4, 1), (5, 1), (5, 2)]);
    }

    #[test]
    fn a_node_at_the_tip_gets_the_turn_ends_alone() {
        let answer = catch_up_answer(wire::CatchUpResponse::default(), vec![dv(7, 3)]);
        assert_eq!(order(&answer), vec![(7, 3)]);
    }
}
