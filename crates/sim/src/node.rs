//! A simulated orderer: core's PBFT replica and catch-up machines, unchanged, plus the decided
//! log it serves to peers. Byzantine behaviours live in the runner's outgoing filter, so the
//! machine itself is always the honest code.

use crate::block::SimValidator;
use medblock_core::consensus::catchup::{self, CatchUp};
use medblock_core::consensus::certificate;
use medblock_core::consensus::pbft::{
    PbftMessage, Replica, ReplicaAction, ReplicaInput, ValueCheck,
};
use medblock_core::consensus::validator::PrimaryCheck;
use medblock_core::keys::PublicKey;
use medblock_core::{Hash32, wire};
use prost::Message;

/// Where a message goes.
#[derive(Clone, Debug)]
pub enum Dest {
    /// Every other orderer.
    Orderers,
    /// One node (by index).
    Node(usize),
    /// The primary endorser.
    Primary,
}

/// One orderer in the simulation.
pub struct SimOrderer {
    /// Its index.
    pub index: usize,
    /// The PBFT machine.
    pub replica: Replica,
    /// The catch-up machine.
    pub catchup: CatchUp,
    /// Decided values in height order.
    pub decided: Vec<wire::DecidedValue>,
    /// Decided block ids by height (index 0 = height 1).
    pub chain: Vec<Hash32>,
    /// Deadline of the replica's timer.
    pub timer: Option<u64>,
    /// The turn's primary.
    pub primary: PublicKey,
    /// Catch-up requests sent.
    pub catch_up_requests: u64,
    /// Every orderer's key, by node index.
    pub members: Vec<PublicKey>,
}

impl SimOrderer {
    fn check(&self) -> PrimaryCheck<'static, SimValidator> {
        PrimaryCheck {
            primary: self.primary,
            turn: self.replica.turn(),
            validator: &SimValidator,
        }
    }

    /// Handles a message from node `from` and returns what to send.
    pub fn on_message(
        &mut self,
        from: usize,
        bytes: &[u8],
        now: u64,
        peer_hint: usize,
    ) -> Vec<(Dest, wire::ConsensusMessage)> {
        let Ok(msg) = catchup::decode_message(bytes, 1 << 20) else {
            return Vec::new();
        };
        use wire::consensus_message::Kind;
        match msg.kind {
            Some(Kind::Proposal(env)) => {
                let Ok(body) = wire::ProposalBody::decode(env.body.as_slice()) else {
                    return Vec::new();
                };
                if body.height < self.replica.next_height() {
                    // The primary missed the decision: tell it again.
                    let dv = self.decided.iter().find(|d| {
                        d.certificate
                            .as_ref()
                            .is_some_and(|c| c.height == body.height)
                    });
                    return dv
                        .map(|dv| {
                            let m = wire::ConsensusMessage {
                                kind: Some(wire::consensus_message::Kind::Decided(dv.clone())),
                            };
                            vec![(Dest::Primary, m)]
                        })
                        .unwrap_or_default();
                }
                let value = wire::ProposedValue {
                    kind: Some(wire::proposed_value::Kind::Proposal(env)),
                };
                self.drive(
                    ReplicaInput::Propose {
                        height: body.height,
                        value,
                    },
                    now,
                    peer_hint,
                )
            }
            Some(Kind::CatchUpRequest(req)) => {
                let resp = catchup::serve(self.decided.iter(), &req, 64);
                match &resp.kind {
                    Some(Kind::CatchUpResponse(r)) if r.decided.is_empty() => Vec::new(),
                    _ => vec![(Dest::Node(from), resp)],
                }
            }
            Some(Kind::CatchUpResponse(resp)) => {
                let next = self.replica.next_height();
                for dv in resp.decided {
                    let _ = self.catchup.offer(next, dv);
                }
                self.apply_caught_up(now, peer_hint)
            }
            Some(Kind::Decided(dv)) => {
                let _ = self.catchup.offer(self.replica.next_height(), dv);
                self.apply_caught_up(now, peer_hint)
            }
            Some(k) => match PbftMessage::from_wire(wire::ConsensusMessage { kind: Some(k) }) {
                Some(m) => self.drive(ReplicaInput::Message(m), now, peer_hint),
                None => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// The replica's timer fired.
    pub fn on_timer(&mut self, now: u64, peer_hint: usize) -> Vec<(Dest, wire::ConsensusMessage)> {
        self.timer = None;
        self.drive(ReplicaInput::Timeout, now, peer_hint)
    }

    fn apply_caught_up(
        &mut self,
        now: u64,
        peer_hint: usize,
    ) -> Vec<(Dest, wire::ConsensusMessage)> {
        let mut out = Vec::new();
        while let Some(dv) = self.catchup.take(self.replica.next_height()) {
            let (Some(value), Some(cert)) = (dv.value, dv.certificate) else {
                continue;
            };
            let Ok(v) = certificate::verify_with_committee(&cert, self.replica.committee()) else {
                continue;
            };
            let Ok(digest) = self.check().check(v.height, &value, now) else {
                continue;
            };
            if digest != v.block_id || v.turn != self.replica.turn() {
                continue;
            }
            let input = ReplicaInput::Decided {
                height: v.height,
                value,
                digest,
                certificate: cert,
            };
            out.extend(self.drive(input, now, peer_hint));
        }
        if self.catchup.has_gap(self.replica.next_height()) {
            out.extend(self.request_catch_up(now, peer_hint));
        }
        out
    }

    fn request_catch_up(
        &mut self,
        now: u64,
        peer_hint: usize,
    ) -> Vec<(Dest, wire::ConsensusMessage)> {
        match self
            .catchup
            .request(self.replica.next_height(), 32, now, 200)
        {
            Some(m) => {
                self.catch_up_requests += 1;
                vec![(Dest::Node(peer_hint), m)]
            }
            None => Vec::new(),
        }
    }

    fn drive(
        &mut self,
        input: ReplicaInput,
        now: u64,
        peer_hint: usize,
    ) -> Vec<(Dest, wire::ConsensusMessage)> {
        let check = self.check();
        let actions = self.replica.handle(input, now, &check);
        let mut out = Vec::new();
        for a in actions {
            match a {
                ReplicaAction::Broadcast(m) => out.push((Dest::Orderers, m.to_wire())),
                ReplicaAction::SetTimer { at_ms } => self.timer = Some(at_ms),
                ReplicaAction::CancelTimer => self.timer = None,
                ReplicaAction::Decide(d) => {
                    let d = *d;
                    let dv = wire::DecidedValue {
                        value: Some(d.value),
                        certificate: Some(d.certificate),
                    };
                    self.chain.push(d.digest);
                    self.decided.push(dv.clone());
                    out.push((
                        Dest::Primary,
                        wire::ConsensusMessage {
                            kind: Some(wire::consensus_message::Kind::Decided(dv)),
                        },
                    ));
                }
                ReplicaAction::CatchUp { .. } => out.extend(self.request_catch_up(now, peer_hint)),
                ReplicaAction::PeerBehind { peer, from_height } => {
                    if let Some(i) = self.members.iter().position(|k| *k == peer) {
                        let req = wire::CatchUpRequest {
                            from_height,
                            max_count: 32,
                        };
                        out.push((Dest::Node(i), catchup::serve(self.decided.iter(), &req, 32)));
                    }
                }
            }
        }
        out
    }
}
