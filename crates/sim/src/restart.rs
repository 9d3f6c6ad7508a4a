//! Crash-and-restart faults: an honest orderer stops right after it sent a prepare (the moment
//! a lost memory hurts most: it has voted, and a new value may come for the same slot) and
//! restarts a little later as a real orderer does, with its ledger (its decided chain) and its
//! persisted PBFT safety record, and nothing else: no timers, no message log, no view.
//!
//! With `persist_safety` off the record is dropped, to show what the persistence is for: a
//! restarted orderer plus a Byzantine leader that re-proposes another value for the slot can
//! then exceed f.

use crate::node::SimNode;
use crate::runner::{Event, Queue, Sim, SimConfig, World, decided_payload};
use medblock_core::consensus::node::ChainValidator;
use medblock_core::consensus::statement::VoteKind;
use medblock_core::consensus::{ConsensusNode, TurnStart};
use medblock_core::{Hash32, wire};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;

/// Picks `cfg.crash_restarts` honest orderers to crash (deterministically from the seed).
pub(crate) fn plan_crashes(
    cfg: &SimConfig,
    world: &World,
    rng: &mut ChaCha20Rng,
    nodes: &mut [SimNode],
) {
    let honest: Vec<usize> = (0..world.orderers.min(nodes.len()))
        .filter(|i| !world.byz[*i])
        .collect();
    let want = cfg.crash_restarts.min(honest.len());
    let mut picked = 0;
    while picked < want {
        let k = honest[(rng.next_u64() % honest.len() as u64) as usize];
        if let Some(nd) = nodes.get_mut(k)
            && nd.crash_left == 0
        {
            nd.crash_left = cfg.crashes_per_node.max(1);
            picked += 1;
        }
    }
}

fn is_prepare(m: &wire::ConsensusMessage) -> bool {
    matches!(
        &m.kind,
        Some(wire::consensus_message::Kind::Vote(v)) if v.kind == VoteKind::Prepare as u32
    )
}

impl Sim<'_> {
    /// After node `i` multicast `m`: when it is a crash-prone orderer's prepare, crash it now
    /// (one time in two) and schedule its restart. True when it crashed: the rest of its step
    /// is lost.
    pub(crate) fn crash_after(
        &mut self,
        nodes: &mut [SimNode],
        q: &mut Queue,
        i: usize,
        m: &wire::ConsensusMessage,
        now: u64,
    ) -> bool {
        let Some(nd) = nodes.get_mut(i) else {
            return false;
        };
        if nd.crash_left == 0 || !is_prepare(m) || self.rng.next_u32().is_multiple_of(2) {
            return false;
        }
        nd.crash_left -= 1;
        nd.crashed = true;
        nd.timer = None;
        let down = 20 + self.rng.next_u64() % 400;
        q.push(now + down, Event::Restart { node: i });
        true
    }

    /// Node `i` starts again from its ledger tip (the turn of its last certificate, as the
    /// orderer actor does) and, when persistence is on, its safety record.
    pub(crate) fn restart(&mut self, nodes: &mut [SimNode], q: &mut Queue, i: usize, now: u64) {
        let Some(nd) = nodes.get_mut(i) else {
            return;
        };
        let mut setup = nd.setup.clone();
        // As a real node starts: with the membership its ledger leaves in force.
        if let Some(m) = self.world.script.membership(self.epochs[i]) {
            setup.orderers = m.orderers.clone();
            setup.cfg = m.cfg.clone();
            setup.regions = m.regions.clone();
        }
        // As the orderer actor starts: in the tip certificate's turn, or the next one when the
        // tip block ended its turn.
        let tip = nd.decided.last();
        let ended = tip
            .and_then(|d| Some((d.certificate.as_ref()?.height, decided_payload(d)?)))
            .is_some_and(|(h, p)| self.world.validator().ends_turn(h, &p).unwrap_or(false));
        let turn = tip
            .and_then(|d| d.certificate.as_ref())
            .map_or(setup.start.turn, |c| c.turn);
        setup.start = TurnStart {
            turn: if ended { turn + 1 } else { turn },
            start_height: nd.chain.len() as u64 + 1,
            chain_hash: nd.chain.last().copied().unwrap_or(Hash32::ZERO),
        };
        let Ok((mut node, acts)) = ConsensusNode::new(setup, now) else {
            return;
        };
        if let Some(c) = tip.and_then(|d| d.certificate.as_ref())
            && node.resume_from(c).is_err()
        {
            return;
        }
        if self.cfg.persist_safety
            && let Some(r) = nd.safety.clone()
            && node.restore_safety(r).is_err()
        {
            return;
        }
        nd.node = node;
        nd.restarts += 1;
        nd.crashed = false;
        nd.timer = None;
        nd.sent.clear();
        nd.recent.clear();
        self.dispatch(nodes, q, i, acts, now);
        // Its peers admit it again and replay their recent broadcasts (view certificates,
        // beacons, turn ends, votes), as the orderer actor does: how a restarted node learns an
        // election held while it was down.
        for j in (0..nodes.len()).filter(|j| *j != i && !nodes[*j].crashed) {
            let recent: Vec<_> = nodes[j].recent.iter().cloned().collect();
            for m in &recent {
                self.send(q, j, i, m, now);
            }
        }
    }
}
