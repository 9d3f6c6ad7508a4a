//! The gate in front of the ledger: which connected peers the node has admitted (it checked
//! their certificate), when an unadmitted peer's time is up, and how many requests each peer
//! has in flight.
//!
//! Gossip carries every block, so it is the ledger itself: an unadmitted peer is kept out of
//! it through gossipsub's own scoring (an application score far below the graylist threshold:
//! it is never put in a mesh, never published or forwarded to, sent no IHAVE, and whatever it
//! sends is dropped). Admission sets the score back to neutral and the next heartbeat meshes it.
//! A peer that neither completes the handshake nor asks a light-node question within the
//! handshake timeout is disconnected; a light node's deadline moves with each of its questions.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Application score of a connected peer that has not been admitted. Weighted by gossipsub's
/// default application weight (10), far below its default graylist threshold (-80).
pub(crate) const UNADMITTED_SCORE: f64 = -1000.0;
/// Application score of an admitted peer: neutral, so only misbehaviour lowers it.
pub(crate) const ADMITTED_SCORE: f64 = 0.0;

/// Which limit an inbound request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// Challenges, queries, headers, access uploads (the light protocol).
    Light,
    /// Uploads and receipt queries from departments.
    Upload,
    /// Hello, consensus, catch-up: never limited here (consensus traffic is never dropped).
    Consensus,
}

#[derive(Debug, Default)]
struct Peer {
    admitted: bool,
    /// When an unadmitted peer is disconnected; `None` once admitted.
    deadline: Option<Instant>,
    light: usize,
    uploads: usize,
}

/// Per-peer admission state and in-flight counts.
#[derive(Debug)]
pub(crate) struct Gate {
    timeout: Option<Duration>,
    light_limit: usize,
    upload_limit: usize,
    peers: HashMap<PeerId, Peer>,
}

impl Gate {
    pub(crate) fn new(timeout: Option<Duration>, light_limit: usize, upload_limit: usize) -> Self {
        Self {
            timeout,
            light_limit,
            upload_limit,
            peers: HashMap::new(),
        }
    }

    /// A peer's first connection opened: unadmitted, with a deadline.
    pub(crate) fn connected(&mut self, peer: PeerId, now: Instant) {
        let deadline = self.timeout.map(|t| now + t);
        self.peers.insert(
            peer,
            Peer {
                deadline,
                ..Peer::default()
            },
        );
    }

    /// The peer's last connection closed.
    pub(crate) fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// The node admitted `peer`; false when it is not connected.
    pub(crate) fn admit(&mut self, peer: &PeerId) -> bool {
        match self.peers.get_mut(peer) {
            Some(p) => {
                p.admitted = true;
                p.deadline = None;
                true
            }
            None => false,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_admitted(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.admitted)
    }

    /// Counts a new inbound request of `class` from `peer`; false when the peer is at its limit
    /// (the request is then answered BUSY and not counted). A light request from an unadmitted
    /// peer moves its deadline: a light node is disconnected a timeout after its last question.
    pub(crate) fn start(&mut self, peer: &PeerId, class: Class, now: Instant) -> bool {
        let (light_limit, upload_limit, timeout) =
            (self.light_limit, self.upload_limit, self.timeout);
        let Some(p) = self.peers.get_mut(peer) else {
            // Not connected any more; the answer will not get through anyway.
            return false;
        };
        match class {
            Class::Light => {
                if p.light >= light_limit {
                    return false;
                }
                p.light += 1;
                if let (Some(deadline), Some(t)) = (p.deadline.as_mut(), timeout) {
                    *deadline = (*deadline).max(now + t);
                }
            }
            Class::Upload => {
                if p.uploads >= upload_limit {
                    return false;
                }
                p.uploads += 1;
            }
            Class::Consensus => {}
        }
        true
    }

    /// An inbound request of `class` from `peer` was answered or failed.
    pub(crate) fn finish(&mut self, peer: &PeerId, class: Class) {
        if let Some(p) = self.peers.get_mut(peer) {
            match class {
                Class::Light => p.light = p.light.saturating_sub(1),
                Class::Upload => p.uploads = p.uploads.saturating_sub(1),
                Class::Consensus => {}
            }
        }
    }

    /// The earliest deadline of an unadmitted peer with nothing in flight (when
    /// [`Gate::expired`] next has something to return), if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter(|p| p.light == 0)
            .filter_map(|p| p.deadline)
            .min()
    }

    /// Unadmitted peers whose deadline has passed and that have no light request in flight;
    /// each is forgotten here (its connections are about to be closed).
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<PeerId> {
        let out: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.light == 0 && p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &out {
            if let Some(p) = self.peers.get_mut(id) {
                // Not removed: `disconnected` does that when the close is reported.
                p.deadline = None;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new(Some(Duration::from_secs(5)), 2, 3)
    }

    #[test]
    fn an_unadmitted_peer_expires_and_an_admitted_one_does_not() {
        let mut g = gate();
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        g.connected(a, t0);
        g.connected(b, t0);
        assert!(g.admit(&b));
        assert!(g.expired(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(g.expired(t0 + Duration::from_secs(5)), vec![a]);
        // Reported once, not on every tick while the close is under way.
        assert!(g.expired(t0 + Duration::from_secs(6)).is_empty());
        assert!(g.is_admitted(&b) && !g.is_admitted(&a));
        assert!(!g.admit(&PeerId::random()));
    }

    #[test]
    fn the_next_deadline_is_the_earliest_unadmitted_peer_with_nothing_in_flight() {
        let mut g = gate();
        let t0 = Instant::now();
        assert_eq!(g.next_deadline(), None);
        let (a, b) = (PeerId::random(), PeerId::random());
        g.connected(a, t0);
        g.connected(b, t0 + Duration::from_secs(1));
        assert_eq!(g.next_deadline(), Some(t0 + Duration::from_secs(5)));
        g.admit(&a);
        assert_eq!(g.next_deadline(), Some(t0 + Duration::from_secs(6)));
        // A light question in flight holds b's deadline: nothing to wake for until it ends.
        assert!(g.start(&b, Class::Light, t0 + Duration::from_secs(2)));
        assert_eq!(g.next_deadline(), None);
        g.finish(&b, Class::Light);
        assert_eq!(g.next_deadline(), Some(t0 + Duration::from_secs(7)));
    }

    #[test]
    fn a_light_question_moves_the_deadline_and_holds_it_while_in_flight() {
        let mut g = gate();
        let t0 = Instant::now();
        let a = PeerId::random();
        g.connected(a, t0);
        assert!(g.start(&a, Class::Light, t0 + Duration::from_secs(4)));
        // In flight past its deadline: kept.
        assert!(g.expired(t0 + Duration::from_secs(10)).is_empty());
        g.finish(&a, Class::Light);
        assert!(g.expired(t0 + Duration::from_secs(8)).is_empty());
        assert_eq!(g.expired(t0 + Duration::from_secs(9)), vec![a]);
    }

    #[test]
    fn in_flight_limits_are_per_peer_and_per_class() {
        let mut g = gate();
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        g.connected(a, t0);
        g.connected(b, t0);
        assert!(g.start(&a, Class::Light, t0) && g.start(&a, Class::Light, t0));
        assert!(!g.start(&a, Class::Light, t0));
        // Another peer, and another class, are unaffected.
        assert!(g.start(&b, Class::Light, t0));
        for _ in 0..3 {
            assert!(g.start(&a, Class::Upload, t0));
        }
        assert!(!g.start(&a, Class::Upload, t0));
        assert!(g.start(&a, Class::Consensus, t0));
        g.finish(&a, Class::Light);
        assert!(g.start(&a, Class::Light, t0));
        // Unknown peers are refused.
        assert!(!g.start(&PeerId::random(), Class::Light, t0));
    }
}
