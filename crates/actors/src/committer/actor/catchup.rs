//! The committer catching up: it asks the peer with the highest signed claim that is not
//! demoted (core's [`CatchUpPeers`](medblock_core::consensus::catchup_peers::CatchUpPeers)),
//! applies what comes back, and demotes a peer that claimed the heights and served none, then
//! asks the next best at once. Demotions count as `false_height`.

use super::Committer;
use crate::clock::now_ms;
use crate::shared::Counters;
use actix::prelude::*;
use medblock_core::keys::PublicKey;
use medblock_core::wire;
use std::time::Duration;

/// How long a peer has to answer one catch-up request. A peer that does not answer in time
/// served nothing; without a bound of our own, a peer that holds the stream open would keep the
/// committer from asking anyone else for as long as the transport lets it.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// Blocks asked for in one request.
const CATCH_UP_BATCH: u32 = 64;

impl Committer {
    pub(super) fn start_catch_up(&mut self, ctx: &mut Context<Self>, hint: Option<PublicKey>) {
        if self.catching_up {
            return;
        }
        let from_height = self.ledger.tip().height + 1;
        let now = now_ms();
        // Not a peer that stopped answering: the request would wait out its timeout.
        let peers: Vec<_> = self
            .ctx
            .peers
            .all()
            .into_iter()
            .filter(|(k, _)| !self.ctx.peers.is_unresponsive(k))
            .collect();
        // The hint (whoever sent a block above our tip) first, unless it is demoted.
        let peer = hint
            .filter(|k| self.ctx.peers.is_reachable(k) && !self.catch_up_peers.is_demoted(k, now))
            .or_else(|| {
                self.catch_up_peers.choose(
                    from_height,
                    peers.iter().map(|(k, e)| (*k, e.height)),
                    now,
                )
            });
        let Some(peer) = peer else {
            return;
        };
        let claimed = peers
            .iter()
            .find(|(k, _)| *k == peer)
            .map_or(0, |(_, e)| e.height);
        self.catching_up = true;
        let net = self.ctx.net.clone();
        let req = wire::NetRequest {
            kind: Some(wire::net_request::Kind::CatchUp(wire::CatchUpRequest {
                from_height,
                max_count: CATCH_UP_BATCH,
            })),
        };
        tracing::info!(from_height, peer = %peer, claimed, "catching up");
        let fut =
            async move { tokio::time::timeout(CATCH_UP_TIMEOUT, net.request(peer, req)).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.catching_up = false;
            let decided = match res {
                Ok(Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::CatchUp(r)),
                })) => r.decided,
                Ok(Ok(other)) => {
                    tracing::debug!(?other, "catch-up answered without blocks");
                    Vec::new()
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "catch-up request failed");
                    Vec::new()
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "catch-up request timed out");
                    Vec::new()
                }
            };
            let got = decided.len();
            let before = act.ledger.tip().height;
            for v in decided {
                let h = v.certificate.as_ref().map(|c| c.height).unwrap_or(0);
                if h == act.ledger.tip().height + 1
                    && let Err(e) = act.apply(&v)
                {
                    tracing::warn!(height = h, error = %e, "catch-up block refused");
                    Counters::inc(&act.ctx.counters.decided_rejected);
                    break;
                }
            }
            act.drain_buffered();
            let after = act.ledger.tip().height;
            tracing::info!(got, from = before, to = after, "catch-up batch applied");
            // Served: the heights asked for are ours now (whoever else delivered them
            // meanwhile, the peer is not blamed for it).
            let served = (after + 1).saturating_sub(from_height);
            if let Some(d) = act
                .catch_up_peers
                .served(peer, claimed, from_height, served, now_ms())
            {
                Counters::inc(&act.ctx.counters.false_heights);
                act.tips.forget(&peer);
                // Node-wide, so the orderer's catch-up can skip it too.
                act.ctx.peers.demote(&peer, d.until_ms);
                tracing::warn!(
                    peer = %peer,
                    claimed,
                    from_height,
                    strikes = d.strikes,
                    "peer claimed heights it did not serve: demoted; asking the next"
                );
                act.start_catch_up(ctx, None);
                return;
            }
            if after > before && got > 0 {
                act.start_catch_up(ctx, Some(peer));
            }
        }));
    }
}
