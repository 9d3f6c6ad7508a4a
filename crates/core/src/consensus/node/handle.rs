//! The dispatcher: one [`NodeInput`] to its handler, then kept messages replayed and the timer
//! re-armed.

use super::*;

impl ConsensusNode {
    /// Handles one input at `now_ms`; `check` validates block payloads (the driver's ledger
    /// rules).
    pub fn handle(
        &mut self,
        input: NodeInput,
        now_ms: u64,
        check: &dyn ChainValidator,
    ) -> Vec<NodeAction> {
        let mut step = Step::new(now_ms, check);
        match input {
            NodeInput::Message { from, msg } => self.on_message(from, msg, &mut step),
            NodeInput::Tick => {
                // The driver's timer fired: it holds none until the next `SetTimer`.
                self.timers.armed = None;
                self.on_tick(&mut step)
            }
            NodeInput::Propose {
                height,
                payload,
                last_of_turn,
            } => self.on_propose(height, payload, last_of_turn, &mut step),
            NodeInput::EndMyTurn => self.on_end_my_turn(&mut step),
            NodeInput::Committed {
                height,
                block_id,
                turn,
                last_of_turn,
                certificate,
            } => {
                let block = (height, block_id, turn, last_of_turn);
                self.on_committed(block, certificate.as_ref(), &mut step)
            }
            NodeInput::Reconfigured {
                height,
                reconfiguration,
            } => {
                if height == self.chain.next_height {
                    self.reconfigure(reconfiguration, &mut step);
                }
            }
            NodeInput::SuspectEndorser { region } => self.on_suspect(&region, &mut step),
            NodeInput::PeerLost { key } => self.on_peer_lost(key, &mut step),
            NodeInput::PeerBack { key } => {
                self.lost.remove(&key);
            }
        }
        if self.parked.replay_early && self.turns.is_some() {
            self.parked.replay_early = false;
            let early: Vec<_> = self.parked.early.drain(..).collect();
            for (from, m) in early {
                self.on_message(from, m, &mut step);
            }
        }
        self.arm_timer(&mut step);
        step.out
    }
}
