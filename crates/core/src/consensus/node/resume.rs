//! A node restarted from its ledger: the tip block's certificate, which its driver verified
//! when it committed it, proves where the current turn began and is the proof of height the
//! node's view changes must carry.
//!
//! Without it a node restarted in the middle of a turn starts its turn machine at the tip,
//! refuses the turn's beacon (its start height is lower) and sits out the rest of the turn: a
//! committee with one Byzantine member and that node stalls until the turn ends, and it
//! cannot end without them.

use super::*;

impl ConsensusNode {
    /// Tells a node started at its ledger tip (before any input) the tip block's certificate.
    /// Ignored unless the certificate is for the tip (`next_height - 1`); refused when its
    /// beacon evidence does not verify.
    pub fn resume_from(&mut self, cert: &wire::CommitCertificate) -> Result<(), ConsensusError> {
        if cert.height.saturating_add(1) != self.chain.next_height {
            return Ok(());
        }
        let beacon = Beacon::from_parts(
            cert.turn,
            &cert.beacon_chain_hash,
            cert.beacon_start_height,
            &cert.primary_key,
            &cert.beacon_signature,
        )
        .map_err(|e| ConsensusError::Resume(e.to_string()))?;
        self.chain.last_cert = Some(cert.clone());
        self.chain.resume_beacon = Some(beacon);
        Ok(())
    }

    /// Once the turn machine exists: when the node sits in the tip certificate's turn, moves
    /// the turn's start back to where it began and feeds its beacon.
    pub(super) fn apply_resume(&mut self, step: &mut Step<'_>) {
        let Some(b) = self.chain.resume_beacon.take() else {
            return;
        };
        let Some(t) = self.turns.as_mut() else {
            return;
        };
        if t.turn() != b.turn {
            return;
        }
        t.resume_turn(b.turn, b.start_height, b.chain_hash);
        self.turn_input(TurnInput::Beacon(b.to_wire()), step);
    }
}
