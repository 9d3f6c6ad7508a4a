//! Peers that are connected but no longer answer. A crashed process's connections close at
//! once (`PeerDisconnected`), but a paused or wedged one (SIGSTOP, a stalled VM, a dead host
//! whose TCP connection nobody resets) keeps them open and would stay a peer for minutes.
//! libp2p's ping behaviour pings every connection every `P2pConfig::ping_interval`; a peer
//! whose last pong is older than `P2pConfig::unresponsive_after` is reported
//! `PeerUnresponsive`, and its next pong `PeerResponsive`. The connection is left open (a ping
//! failure does not close it), so a resumed process is simply a peer again.
//!
//! Only pongs count, not ping failures: libp2p keeps the first failure of a connection to
//! itself and, after one, renegotiates the stream under a 10 s upgrade timeout, so its
//! failures come far too late. A pong is the one sign that the peer's process runs.

use super::*;

/// How long a peer must stay overdue before it is reported: pongs that had already arrived
/// when a check ran (a busy swarm thread handles its timer before the sockets that woke with
/// it) get one more turn to be read.
const CONFIRM: Duration = Duration::from_millis(200);

/// What is known of one peer's pongs.
#[derive(Debug, Clone, Copy)]
struct Watch {
    last_pong: Instant,
    /// First check that found its pong overdue (not reported yet).
    overdue_since: Option<Instant>,
    unresponsive: bool,
}

/// Pong deadlines of the connected peers. Pure (time is passed in), so it is tested without a
/// network.
#[derive(Debug)]
pub(super) struct Liveness {
    /// No pong for this long: unresponsive. `None`: detection off.
    after: Option<Duration>,
    /// Peers that answered at least one ping (a peer without the ping protocol never does,
    /// and is never judged).
    peers: HashMap<PeerId, Watch>,
    /// When the deadlines were last checked.
    checked: Option<Instant>,
}

impl Liveness {
    pub(super) fn new(after: Option<Duration>) -> Self {
        Self {
            after,
            peers: HashMap::new(),
            checked: None,
        }
    }

    /// A pong from `peer` (on any of its connections). True when it had been reported
    /// unresponsive: it answers again.
    pub(super) fn pong(&mut self, peer: PeerId, now: Instant) -> bool {
        let w = self.peers.entry(peer).or_insert(Watch {
            last_pong: now,
            overdue_since: None,
            unresponsive: false,
        });
        w.last_pong = now;
        w.overdue_since = None;
        std::mem::replace(&mut w.unresponsive, false)
    }

    /// The last connection to `peer` closed.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// Every peer gets a fresh deadline from `now`.
    fn excuse_all(&mut self, now: Instant) {
        for w in self.peers.values_mut() {
            w.last_pong = w.last_pong.max(now);
            w.overdue_since = None;
        }
    }

    /// When [`Liveness::check`] should next run: at the first pong deadline or confirmation
    /// due, and at least every two fifths of the detection time, so that a check more than
    /// half of it apart still means this process was stopped (see `check`). `None` when
    /// detection is off.
    pub(super) fn next_check(&self, now: Instant) -> Option<Instant> {
        let after = self.after?;
        let due = self
            .peers
            .values()
            .filter(|w| !w.unresponsive)
            .map(|w| match w.overdue_since {
                Some(since) => since + CONFIRM,
                None => w.last_pong + after,
            })
            .min();
        let latest = now + after * 2 / 5;
        Some(due.map_or(latest, |d| d.min(latest)))
    }

    /// The peers whose pongs are overdue and stayed so for [`CONFIRM`], each reported once
    /// until it answers again.
    ///
    /// Silence on every side at once says more about this process than about its peers, and
    /// excuses them all: when this check ran late by more than half the detection time (this
    /// process was paused: its peers' pongs are waiting in its sockets), and when most peers
    /// fall overdue together (this process is starved of CPU; one paused peer is a minority).
    pub(super) fn check(&mut self, now: Instant) -> Vec<PeerId> {
        let Some(after) = self.after else {
            return Vec::new();
        };
        let last = self.checked.replace(now);
        if last.is_some_and(|l| now.saturating_duration_since(l) > after / 2) {
            self.excuse_all(now);
            return Vec::new();
        }
        let overdue = self
            .peers
            .values()
            .filter(|w| !w.unresponsive && now.saturating_duration_since(w.last_pong) >= after)
            .count();
        if self.peers.len() >= 3 && overdue * 2 > self.peers.len() {
            self.excuse_all(now);
            return Vec::new();
        }
        let mut gone = Vec::new();
        for (peer, w) in &mut self.peers {
            if w.unresponsive || now.saturating_duration_since(w.last_pong) < after {
                continue;
            }
            let since = *w.overdue_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= CONFIRM {
                w.unresponsive = true;
                gone.push(*peer);
            }
        }
        gone
    }
}

impl SwarmTask {
    /// A ping result from one connection.
    pub(super) async fn on_ping(&mut self, ev: libp2p::ping::Event) {
        match ev.result {
            Ok(rtt) => {
                if self.liveness.pong(ev.peer, Instant::now())
                    && self.peers.contains_key(&ev.peer)
                    && let Ok(key) = key_of(&ev.peer)
                {
                    info!(peer = %key, rtt_ms = rtt.as_millis() as u64, "peer answers again");
                    self.deliver_consensus(NetworkEvent::PeerResponsive { key })
                        .await;
                }
            }
            // Not acted on (see the module comment); the pong deadline decides.
            Err(e) => debug!(peer = %hex_of(&ev.peer), error = %e, "ping failed"),
        }
    }

    /// Reports the peers whose pongs are overdue.
    pub(super) async fn check_liveness(&mut self) {
        for peer in self.liveness.check(Instant::now()) {
            if !self.peers.contains_key(&peer) {
                self.liveness.forget(&peer);
                continue;
            }
            let Ok(key) = key_of(&peer) else { continue };
            warn!(peer = %key, "peer connected but not answering pings");
            Counters::inc(&self.counters().unresponsive_peers);
            self.deliver_consensus(NetworkEvent::PeerUnresponsive { key })
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_millis(1000);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Each row: pongs at these offsets (ms), checks every 100 ms until `until`; the offsets
    /// at which the peer was reported unresponsive and those at which it answered again.
    #[test]
    fn a_peer_is_reported_once_when_its_pongs_stop_and_again_when_they_resume() {
        struct Row {
            name: &'static str,
            pongs: &'static [u64],
            until: u64,
            reported: &'static [u64],
            back: &'static [u64],
        }
        let rows = [
            Row {
                name: "pongs every 500 ms: never reported",
                pongs: &[0, 500, 1000, 1500, 2000, 2500, 3000],
                until: 3000,
                reported: &[],
                back: &[],
            },
            Row {
                name: "a pong 900 ms late is still in time",
                pongs: &[0, 500, 1400, 1900],
                until: 2000,
                reported: &[],
                back: &[],
            },
            Row {
                name: "paused after its pong at 500: overdue at 1500, reported at 1700, once",
                pongs: &[0, 500],
                until: 4000,
                reported: &[1700],
                back: &[],
            },
            Row {
                name: "resumed at 2550: answers again, and can be reported again",
                pongs: &[0, 500, 2550, 3000],
                until: 5000,
                reported: &[1700, 4200],
                back: &[2550],
            },
            Row {
                name: "a pong between the overdue check and the confirming one: not reported",
                pongs: &[0, 500, 1550, 2000, 2500],
                until: 2500,
                reported: &[],
                back: &[],
            },
            Row {
                name: "never ponged (no ping protocol): never judged",
                pongs: &[],
                until: 5000,
                reported: &[],
                back: &[],
            },
        ];
        let peer = PeerId::random();
        for row in rows {
            let t0 = Instant::now();
            let mut l = Liveness::new(Some(AFTER));
            let (mut reported, mut back) = (Vec::new(), Vec::new());
            let mut pongs = row.pongs.iter().copied().peekable();
            for at in (0..=row.until).step_by(50) {
                while pongs.peek() == Some(&at) {
                    pongs.next();
                    if l.pong(peer, t0 + ms(at)) {
                        back.push(at);
                    }
                }
                if at % 100 == 0 && l.check(t0 + ms(at)).contains(&peer) {
                    reported.push(at);
                }
            }
            assert_eq!(reported, row.reported, "{}: reported", row.name);
            assert_eq!(back, row.back, "{}: back", row.name);
        }
    }

    #[test]
    fn a_check_that_ran_late_blames_this_process_not_its_peers() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut l = Liveness::new(Some(AFTER));
        l.pong(peer, t0);
        assert!(l.check(t0 + ms(100)).is_empty());
        // This process was paused for 5 s: its peers get a fresh deadline ...
        assert!(l.check(t0 + ms(5100)).is_empty());
        assert!(l.check(t0 + ms(5200)).is_empty());
        // ... and are reported if they stay quiet past it.
        let mut at = 5200;
        while l.check(t0 + ms(at)).is_empty() {
            at += 100;
            assert!(at < 7000, "never reported");
        }
        assert_eq!(at, 6300);
    }

    #[test]
    fn most_peers_overdue_at_once_blames_this_process_and_one_quiet_peer_does_not() {
        let t0 = Instant::now();
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let mut l = Liveness::new(Some(AFTER));
        for p in &peers {
            l.pong(*p, t0);
        }
        // The first never answers; the next three answer until 1000; the last one always.
        let mut reported = Vec::new();
        for at in (100..=3500).step_by(100) {
            let now = t0 + ms(at);
            for (i, p) in peers.iter().enumerate() {
                if ((1..=3).contains(&i) && at <= 1000) || i == 4 {
                    l.pong(*p, now);
                }
            }
            reported.extend(l.check(now).into_iter().map(|p| (at, p)));
        }
        // The first was quiet alone: reported. Three of five overdue together (at 2000, then
        // again at 3000) looks like this process starved, and excuses them.
        assert_eq!(reported, vec![(1200, peers[0])]);
    }

    #[test]
    fn the_next_check_is_due_at_the_first_deadline_and_never_later_than_two_fifths() {
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(Liveness::new(None).next_check(t0), None);
        let mut l = Liveness::new(Some(AFTER));
        assert_eq!(l.next_check(t0), Some(t0 + ms(400)), "no peers: the cap");
        l.pong(a, t0);
        l.pong(b, t0 + ms(300));
        assert_eq!(l.next_check(t0 + ms(500)), Some(t0 + ms(900)), "cap first");
        assert_eq!(
            l.next_check(t0 + ms(800)),
            Some(t0 + ms(1000)),
            "a's deadline"
        );
        // a overdue at 1000: confirmed 200 ms later; b's deadline (1300) comes after that.
        assert!(l.check(t0 + ms(1000)).is_empty());
        assert_eq!(l.next_check(t0 + ms(1000)), Some(t0 + ms(1200)));
        assert_eq!(l.check(t0 + ms(1200)), vec![a]);
        // A reported peer is not waited for again; b is.
        assert_eq!(l.next_check(t0 + ms(1200)), Some(t0 + ms(1300)));
    }

    #[test]
    fn detection_off_reports_nobody_and_a_forgotten_peer_is_not_reported() {
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut off = Liveness::new(None);
        off.pong(a, t0);
        assert!(off.check(t0 + ms(60_000)).is_empty());
        let mut l = Liveness::new(Some(AFTER));
        l.pong(a, t0);
        l.pong(b, t0);
        l.forget(&a);
        for at in (100..=1200).step_by(100) {
            let gone = l.check(t0 + ms(at));
            assert!(!gone.contains(&a));
            assert_eq!(gone.contains(&b), at == 1200, "at {at}");
        }
    }
}
