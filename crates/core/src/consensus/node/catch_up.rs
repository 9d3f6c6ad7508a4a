//! Catch-up: serving decided values to peers and asking for missing ones.

use super::*;

impl ConsensusNode {
    pub(super) fn serve(&mut self, to: PublicKey, req: &wire::CatchUpRequest, step: &mut Step<'_>) {
        let max = req.max_count.min(self.cfg.catch_up_batch.max(1)) as usize;
        let mut decided: Vec<wire::DecidedValue> = Vec::new();
        for h in req.from_height..=self.chain.next_height {
            if decided.len() >= max {
                break;
            }
            if let Some(te) = self.chain.turn_ends.get(&h) {
                decided.push(te.clone());
            }
            if let Some(dv) = self.chain.recent.get(&h) {
                decided.push(dv.clone());
            }
        }
        if !decided.is_empty() {
            step.out.push(NodeAction::Send {
                to,
                msg: msg(Kind::CatchUpResponse(wire::CatchUpResponse { decided })),
            });
        }
    }

    pub(super) fn request_catch_up(&mut self, step: &mut Step<'_>) {
        self.request_catch_up_from(None, step);
    }

    /// As [`Self::request_catch_up`], naming a peer known to be ahead.
    ///
    /// Requests are spaced by the view-change timeout, except one that names a peer (it showed
    /// this node a later value) for another gap or another peer than the last request: a node
    /// that had just asked a peer as far behind as itself, then saw a later turn's message,
    /// waited out the interval (1.2 s, in a committee it was needed in) before asking the peer
    /// that had it. At most one request per (gap, peer) that way: a peer cannot make this node
    /// ask more often than it sends later values.
    pub(super) fn request_catch_up_from(&mut self, ask: Option<PublicKey>, step: &mut Step<'_>) {
        let this = (self.chain.next_height, ask);
        let hinted_anew = ask.is_some() && self.timers.last_catch_up != Some(this);
        if step.now_ms < self.timers.catch_up_at && !hinted_anew {
            return;
        }
        self.timers.last_catch_up = Some(this);
        self.timers.catch_up_at = step
            .now_ms
            .saturating_add(self.cfg.view_change_timeout_ms.max(1));
        step.out.push(NodeAction::CatchUp {
            from_height: self.chain.next_height,
            ask,
        });
    }
}
