use super::*;
use crate::hash::tagged_hash;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::collections::VecDeque;

const TIMEOUT: u64 = 10_000;
const REGIONS: [&str; 4] = ["delta", "alpha", "charlie", "bravo"];

fn keys(seed: u64, n: usize) -> Vec<SigningKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n).map(|_| SigningKey::generate(&mut rng)).collect()
}

fn cfg() -> ConsensusConfig {
    ConsensusConfig {
        committee_size: 4,
        turn_timeout_ms: TIMEOUT,
        ..ConsensusConfig::default()
    }
}

fn block(h: u64) -> Hash32 {
    tagged_hash("test-block", &[&h.to_be_bytes()])
}

/// Four endorsers, one machine each, connected by a lossless in-order network.
struct Net {
    endorsers: Vec<SigningKey>,
    machines: Vec<Turns>,
    log: Vec<Vec<TurnAction>>,
    /// Drop every beacon (primaries that withhold them).
    drop_beacons: bool,
}

impl Net {
    fn new() -> Self {
        Self::build(false)
    }

    fn build(drop_beacons: bool) -> Self {
        // Regions listed out of order: the machines sort them by name.
        let endorsers = keys(1, 4);
        let views: Vec<EndorserView> = REGIONS
            .iter()
            .zip(&endorsers)
            .map(|(r, k)| EndorserView {
                region: r.to_string(),
                view: 0,
                endorser: k.public(),
            })
            .collect();
        let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
        let start = TurnStart {
            turn: 0,
            start_height: 1,
            chain_hash: block(0),
        };
        let mut net = Net {
            endorsers: endorsers.clone(),
            machines: Vec::new(),
            log: vec![Vec::new(); 4],
            drop_beacons,
        };
        let mut first = Vec::new();
        for (i, k) in endorsers.iter().enumerate() {
            // Each node lists the endorsers in its own order.
            let mut v = views.clone();
            v.rotate_left(i);
            let mut e = eligible.clone();
            e.rotate_left(i * 3);
            let (m, acts) = Turns::new(cfg(), Some(k.clone()), v, e, start, 0).expect("valid set");
            net.machines.push(m);
            first.push(acts);
        }
        for (i, acts) in first.into_iter().enumerate() {
            net.dispatch(i, acts, 0);
        }
        net
    }

    /// Index of the machine whose key is `k`.
    fn index(&self, k: &PublicKey) -> Option<usize> {
        self.endorsers.iter().position(|e| e.public() == *k)
    }

    fn input(&mut self, i: usize, input: TurnInput, now: u64) -> Result<(), TurnError> {
        let acts = self.machines[i].handle(input, now)?;
        self.dispatch(i, acts, now);
        Ok(())
    }

    fn all(&mut self, input: TurnInput, now: u64) {
        for i in 0..self.machines.len() {
            self.input(i, input.clone(), now).expect("accepted");
        }
    }

    fn dispatch(&mut self, from: usize, acts: Vec<TurnAction>, now: u64) {
        let mut queue: VecDeque<(usize, TurnAction)> =
            acts.into_iter().map(|a| (from, a)).collect();
        while let Some((src, a)) = queue.pop_front() {
            if let TurnAction::Broadcast(msg) = &a {
                if self.drop_beacons && matches!(msg, TurnMessage::Beacon(_)) {
                    self.log[src].push(a);
                    continue;
                }
                for j in 0..self.machines.len() {
                    if j == src {
                        continue;
                    }
                    let input = match msg {
                        TurnMessage::EndTurn(e) => TurnInput::EndTurn(e.clone()),
                        TurnMessage::Beacon(b) => TurnInput::Beacon(b.clone()),
                        TurnMessage::Skip(s) => TurnInput::Skip(s.clone()),
                    };
                    // Late skips of a turn already left are refused; that is expected.
                    if let Ok(r) = self.machines[j].handle(input, now) {
                        queue.extend(r.into_iter().map(|x| (j, x)));
                    }
                }
            }
            self.log[src].push(a);
        }
    }

    /// (turn, primary, committee) as every machine sees it now.
    fn views(&self) -> Vec<(u64, PublicKey, Option<Committee>)> {
        self.machines
            .iter()
            .map(|m| (m.turn(), m.primary(), m.committee().cloned()))
            .collect()
    }
}

fn sorted_endorsers(net: &Net) -> Vec<PublicKey> {
    let mut by_region: Vec<(&str, PublicKey)> = REGIONS
        .iter()
        .zip(&net.endorsers)
        .map(|(r, k)| (*r, k.public()))
        .collect();
    by_region.sort();
    by_region.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn primaries_rotate_and_committees_agree_and_change() {
    let mut net = Net::new();
    let order = sorted_endorsers(&net);
    let mut committees = Vec::new();
    let mut height = 1;
    let mut now = 0;
    for turn in 0..9u64 {
        let v = net.views();
        assert!(
            v.iter().all(|x| *x == v[0]),
            "nodes disagree in turn {turn}"
        );
        assert_eq!(v[0].0, turn);
        assert_eq!(v[0].1, order[(turn % 4) as usize], "fixed order by region");
        let committee = v[0].2.clone().expect("beacon delivered");
        assert_eq!(committee.len(), 4);
        // It is the one Beacon::sign(primary, turn, chain, start).seed() selects.
        let start = net.machines[0].start_height();
        let p = net.index(&v[0].1).expect("primary is a machine");
        let seed = Beacon::sign(&net.endorsers[p], turn, block(start - 1), start).seed();
        let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
        assert_eq!(committee, select_committee(&seed, &eligible, 4));
        committees.push(committee);
        // The turn decides two blocks, then its primary ends it.
        for _ in 0..2 {
            now += 100;
            net.all(
                TurnInput::BlockDecided {
                    height,
                    turn,
                    block_id: block(height),
                },
                now,
            );
            height += 1;
        }
        let p = net.index(&v[0].1).expect("primary is a machine");
        net.input(p, TurnInput::EndMyTurn, now)
            .expect("primary ends");
        assert_eq!(net.machines[0].start_height(), height);
    }
    for w in committees.windows(2) {
        assert_ne!(w[0], w[1], "consecutive turns drew the same committee");
    }
    // Every machine announced the same sequence of turns.
    let turns = |i: usize| -> Vec<(u64, PublicKey, u64)> {
        net.log[i]
            .iter()
            .filter_map(|a| match a {
                TurnAction::NewTurn {
                    turn,
                    primary,
                    start_height,
                    ..
                } => Some((*turn, *primary, *start_height)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(turns(0).len(), 10);
    for i in 1..4 {
        assert_eq!(turns(i), turns(0));
    }
    // The committee helper is what nodes use.
    let b = Beacon::sign(&net.endorsers[0], 3, block(3), 4);
    let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
    let mut rev = eligible.clone();
    rev.reverse();
    assert_eq!(
        turn_committee(&b, &eligible, 4),
        turn_committee(&b, &rev, 4)
    );
}

#[test]
fn forged_or_foreign_end_of_turn_is_refused_and_a_valid_one_advances() {
    let mut net = Net::new();
    let order = sorted_endorsers(&net);
    let primary = net.index(&order[0]).expect("machine");
    let other = net.index(&order[1]).expect("machine");
    let observer = (0..4).find(|i| *i != primary && *i != other).expect("3rd");
    net.all(
        TurnInput::BlockDecided {
            height: 1,
            turn: 0,
            block_id: block(1),
        },
        50,
    );
    let m = &mut net.machines[observer];

    let mut forged = sign_end_turn(&net.endorsers[primary], 0, 2, &block(1));
    forged.signature[3] ^= 1;
    assert!(matches!(
        m.handle(TurnInput::EndTurn(forged), 60),
        Err(TurnError::BadSignature { .. })
    ));
    // A valid signature over a body the primary never signed.
    let mut tampered = sign_end_turn(&net.endorsers[primary], 0, 2, &block(1));
    tampered.body = sign_end_turn(&net.endorsers[primary], 0, 3, &block(1)).body;
    assert!(matches!(
        m.handle(TurnInput::EndTurn(tampered), 60),
        Err(TurnError::BadSignature { .. })
    ));
    let foreign = sign_end_turn(&net.endorsers[other], 0, 2, &block(1));
    assert!(matches!(
        m.handle(TurnInput::EndTurn(foreign), 60),
        Err(TurnError::NotPrimary { turn: 0, .. })
    ));
    let wrong_turn = sign_end_turn(&net.endorsers[primary], 1, 2, &block(1));
    assert!(matches!(
        m.handle(TurnInput::EndTurn(wrong_turn), 60),
        Err(TurnError::WrongTurn { got: 1, current: 0 })
    ));
    // A chain this node did not decide.
    let lie = sign_end_turn(&net.endorsers[primary], 0, 2, &block(77));
    assert!(matches!(
        m.handle(TurnInput::EndTurn(lie), 60),
        Err(TurnError::ChainConflict { .. })
    ));
    let garbage = wire::SignedEnvelope {
        body: vec![0xff, 0xff, 0xff],
        signature: vec![1, 2],
    };
    assert_eq!(
        m.handle(TurnInput::EndTurn(garbage), 60),
        Err(TurnError::Decode("end of turn"))
    );
    assert_eq!(m.turn(), 0, "nothing refused moved the turn");
    assert_eq!(m.stats().rejected, 6);

    let good = sign_end_turn(&net.endorsers[primary], 0, 2, &block(1));
    let acts = m.handle(TurnInput::EndTurn(good), 60).expect("valid");
    assert!(acts.contains(&TurnAction::NewTurn {
        turn: 1,
        primary: order[1],
        start_height: 2,
        chain_hash: block(1),
    }));
    assert_eq!(m.primary(), order[1]);
}

#[test]
fn end_of_turn_ahead_of_the_local_chain_waits_for_catch_up() {
    let mut net = Net::new();
    let order = sorted_endorsers(&net);
    let primary = net.index(&order[0]).expect("machine");
    let m = &mut net.machines[(primary + 1) % 4];
    let end = sign_end_turn(&net.endorsers[primary], 0, 3, &block(2));
    assert_eq!(
        m.handle(TurnInput::EndTurn(end), 10),
        Ok(vec![TurnAction::CatchUp { from_height: 1 }])
    );
    assert_eq!(m.turn(), 0);
    for h in 1..=2 {
        m.handle(
            TurnInput::BlockDecided {
                height: h,
                turn: 0,
                block_id: block(h),
            },
            20,
        )
        .expect("in order");
    }
    assert_eq!((m.turn(), m.start_height()), (1, 3));
    assert_eq!(
        m.handle(
            TurnInput::BlockDecided {
                height: 9,
                turn: 1,
                block_id: block(9),
            },
            30
        ),
        Err(TurnError::OutOfOrder {
            got: 9,
            expected: 3
        })
    );
}

#[test]
fn a_stalled_primary_loses_its_turn_after_the_timeout() {
    // The primaries withhold their beacons: no committee, so endorser skips end the turn.
    let mut net = Net::build(true);
    let order = sorted_endorsers(&net);
    let p0 = net.index(&order[0]).expect("machine");
    let others: Vec<usize> = (0..4).filter(|i| *i != p0).collect();
    // Progress at 5s pushes the deadline to 15s.
    net.all(
        TurnInput::BlockDecided {
            height: 1,
            turn: 0,
            block_id: block(1),
        },
        5_000,
    );
    for &i in &others {
        net.input(i, TurnInput::Tick, TIMEOUT + 1).expect("tick");
    }
    assert!(net.views().iter().all(|v| v.0 == 0), "not stalled yet");
    // After the timeout one skip (of three voters) is not enough...
    net.input(others[0], TurnInput::Tick, 15_000).expect("tick");
    assert!(net.views().iter().all(|v| v.0 == 0));
    // ...two are: every node moves to the next endorser from the decided tip.
    net.input(others[1], TurnInput::Tick, 15_000).expect("tick");
    // (The stalled primary holds its own beacon, so it does not take skips: a consensus
    // node leaves such a turn by the next turn's certificates.)
    let all = net.views();
    let v: Vec<_> = others.iter().map(|i| all[*i].clone()).collect();
    assert!(
        v.iter().all(|x| (x.0, x.1) == (v[0].0, v[0].1)),
        "nodes disagree after skip"
    );
    assert_eq!(v[0].0, 1);
    assert_eq!(v[0].1, order[1]);
    assert!(others.iter().all(|i| net.machines[*i].start_height() == 2));
    assert_eq!(net.machines[others[2]].stats().skipped_turns, 1);

    // The stalled primary itself may not sign a skip, and skips are verified.
    let p1 = net.index(&order[1]).expect("machine");
    // A machine that holds no beacon of turn 1 (not its primary).
    let q = *others.iter().find(|i| **i != p1).expect("a third endorser");
    let m = &mut net.machines[q];
    assert!(matches!(
        m.handle(
            TurnInput::Skip(sign_skip(&net.endorsers[p1], 1, 2, &block(1))),
            16_000
        ),
        Err(TurnError::NotEligible { .. })
    ));
    let mut forged = sign_skip(&net.endorsers[p0], 1, 2, &block(1));
    forged.signature[0] ^= 1;
    assert!(matches!(
        m.handle(TurnInput::Skip(forged), 16_000),
        Err(TurnError::BadSignature { .. })
    ));
    let outsider = &keys(9, 1)[0];
    assert!(matches!(
        m.handle(
            TurnInput::Skip(sign_skip(outsider, 1, 2, &block(1))),
            16_000
        ),
        Err(TurnError::NotEligible { .. })
    ));
    m.handle(
        TurnInput::Skip(sign_skip(&net.endorsers[p0], 1, 2, &block(1))),
        16_000,
    )
    .expect("first skip");
    assert!(matches!(
        m.handle(
            TurnInput::Skip(sign_skip(&net.endorsers[p0], 1, 5, &block(4))),
            16_000
        ),
        Err(TurnError::Equivocation { turn: 1, .. })
    ));
    assert_eq!(
        m.turn(),
        1,
        "one skip and one refused equivocation: no quorum"
    );
}

#[test]
fn skips_are_refused_once_the_turn_has_a_committee() {
    let mut net = Net::new();
    let order = sorted_endorsers(&net);
    let p0 = net.index(&order[0]).expect("machine");
    let other = (p0 + 1) % 4;
    let m = &mut net.machines[other];
    assert!(m.committee().is_some());
    assert_eq!(
        m.handle(
            TurnInput::Skip(sign_skip(&net.endorsers[(p0 + 2) % 4], 0, 1, &block(0))),
            TIMEOUT
        ),
        Err(TurnError::BeaconSeen { turn: 0 })
    );
    // Its own timeout signs nothing either.
    let acts = m.handle(TurnInput::Tick, 2 * TIMEOUT).expect("tick");
    assert!(
        acts.iter()
            .all(|a| !matches!(a, TurnAction::Broadcast(TurnMessage::Skip(_))))
    );
    // The committee's decision moves it on.
    let acts = m.advance(1, 1, block(0), 2 * TIMEOUT).expect("later turn");
    assert!(acts.contains(&TurnAction::NewTurn {
        turn: 1,
        primary: order[1],
        start_height: 1,
        chain_hash: block(0),
    }));
    assert!(matches!(
        m.advance(1, 1, block(0), 2 * TIMEOUT),
        Err(TurnError::NotLater { .. })
    ));
}

#[test]
fn a_new_endorser_takes_its_regions_place() {
    let mut net = Net::new();
    let order = sorted_endorsers(&net);
    // "bravo" (second in order) elects a newcomer in view 1.
    let newcomer = keys(5, 1).remove(0);
    let view = EndorserView {
        region: "bravo".to_string(),
        view: 1,
        endorser: newcomer.public(),
    };
    let bravo_old = net
        .endorsers
        .iter()
        .zip(REGIONS)
        .find(|(_, r)| *r == "bravo")
        .map(|(k, _)| k.public())
        .expect("bravo");
    assert_eq!(order[1], bravo_old);
    net.all(TurnInput::ViewChanged(view.clone()), 100);
    let m = &mut net.machines[0];
    assert!(matches!(
        m.handle(TurnInput::ViewChanged(view.clone()), 100),
        Err(TurnError::StaleView { .. })
    ));
    assert!(matches!(
        m.handle(
            TurnInput::ViewChanged(EndorserView {
                region: "zulu".into(),
                ..view
            }),
            100
        ),
        Err(TurnError::UnknownRegion(_))
    ));
    let p0 = net.index(&order[0]).expect("machine");
    net.input(p0, TurnInput::EndMyTurn, 200)
        .expect("end turn 0");
    let v = net.views();
    assert!(v.iter().all(|x| x.0 == 1 && x.1 == newcomer.public()));
    assert!(v.iter().all(|x| x.2.is_none()), "beacon not yet received");
    // The replaced endorser cannot end the turn; the newcomer's beacon and end are taken.
    let old = net.index(&bravo_old).expect("machine");
    let m = &mut net.machines[p0];
    assert!(matches!(
        m.handle(
            TurnInput::EndTurn(sign_end_turn(&net.endorsers[old], 1, 1, &block(0))),
            300
        ),
        Err(TurnError::NotPrimary { .. })
    ));
    let beacon = Beacon::sign(&newcomer, 1, block(0), 1);
    let acts = m
        .handle(TurnInput::Beacon(beacon.to_wire()), 300)
        .expect("beacon");
    assert!(matches!(
        acts.as_slice(),
        [TurnAction::Committee { turn: 1, .. }]
    ));
    // A beacon by someone else for this turn is refused.
    assert_eq!(
        m.handle(
            TurnInput::Beacon(Beacon::sign(&net.endorsers[old], 1, block(0), 1).to_wire()),
            300
        ),
        Err(TurnError::BeaconMismatch("primary"))
    );
    let acts = m
        .handle(
            TurnInput::EndTurn(sign_end_turn(&newcomer, 1, 1, &block(0))),
            400,
        )
        .expect("newcomer ends its turn");
    assert!(acts.iter().any(|a| matches!(
        a,
        TurnAction::NewTurn { turn: 2, primary, .. } if *primary == order[2]
    )));
}

#[test]
fn half_of_the_other_endorsers_cannot_skip_a_turn() {
    // Five regions: four endorsers besides the primary vote; two is exactly half.
    let k = keys(11, 5);
    let views: Vec<EndorserView> = ["a", "b", "c", "d", "e"]
        .iter()
        .zip(&k)
        .map(|(r, k)| EndorserView {
            region: r.to_string(),
            view: 0,
            endorser: k.public(),
        })
        .collect();
    let eligible: Vec<PublicKey> = keys(2, 12).iter().map(|k| k.public()).collect();
    let start = TurnStart {
        turn: 0,
        start_height: 1,
        chain_hash: block(0),
    };
    let (mut m, _) = Turns::new(cfg(), None, views, eligible, start, 0).expect("set");
    assert_eq!(m.primary(), k[0].public());
    for i in [1, 2] {
        let acts = m
            .handle(TurnInput::Skip(sign_skip(&k[i], 0, 1, &block(0))), TIMEOUT)
            .expect("skip");
        assert!(acts.is_empty());
    }
    // A skip at another tip does not add to the quorum for this one.
    m.handle(TurnInput::Skip(sign_skip(&k[3], 0, 2, &block(1))), TIMEOUT)
        .expect("skip");
    assert_eq!(m.turn(), 0);
    let acts = m
        .handle(TurnInput::Skip(sign_skip(&k[4], 0, 1, &block(0))), TIMEOUT)
        .expect("skip");
    assert!(acts.contains(&TurnAction::NewTurn {
        turn: 1,
        primary: k[1].public(),
        start_height: 1,
        chain_hash: block(0),
    }));
    // An observer (no key) never signs a skip, it only re-arms its timer.
    assert_eq!(
        m.handle(TurnInput::Tick, 10 * TIMEOUT),
        Ok(vec![TurnAction::SetTimer {
            at_ms: 11 * TIMEOUT
        }])
    );
}

#[test]
fn a_turn_entered_on_skips_begins_again_above_the_previous_turns_late_block() {
    // Turn 0's primary withholds its beacon; two skips move the others to turn 1 at height 2.
    let mut net = Net::build(true);
    let order = sorted_endorsers(&net);
    let p0 = net.index(&order[0]).expect("machine");
    let p1 = net.index(&order[1]).expect("machine");
    let others: Vec<usize> = (0..4).filter(|i| *i != p0).collect();
    net.all(
        TurnInput::BlockDecided {
            height: 1,
            turn: 0,
            block_id: block(1),
        },
        5_000,
    );
    for &i in &others[..2] {
        net.input(i, TurnInput::Tick, 15_000).expect("tick");
    }
    let m = &mut net.machines[p1];
    assert_eq!((m.turn(), m.start_height()), (1, 2));
    assert!(m.committee().is_some(), "turn 1's primary holds its beacon");
    // But turn 0's committee had its beacon after all and decided its last block at height 2.
    m.handle(
        TurnInput::BlockDecided {
            height: 2,
            turn: 0,
            block_id: block(2),
        },
        15_100,
    )
    .expect("the next height");
    // Neither an earlier turn nor a start that is not above the current one moves it.
    assert!(matches!(
        m.rebase(1, 3, block(2), 15_100),
        Err(TurnError::NotLater { .. })
    ));
    assert!(matches!(
        m.rebase(0, 2, block(1), 15_100),
        Err(TurnError::NotLater { .. })
    ));
    let acts = m.rebase(0, 3, block(2), 15_100).expect("turn 0 ended at 2");
    assert!(acts.contains(&TurnAction::NewTurn {
        turn: 1,
        primary: order[1],
        start_height: 3,
        chain_hash: block(2),
    }));
    // The primary signs its beacon again for the start the chain gives.
    let beacon = acts.iter().find_map(|a| match a {
        TurnAction::Broadcast(TurnMessage::Beacon(b)) => Some(b.clone()),
        _ => None,
    });
    let beacon = beacon.expect("a new beacon");
    assert_eq!((beacon.turn, beacon.start_height), (1, 3));
    assert_eq!((m.turn(), m.start_height(), m.next_height()), (1, 3, 3));
    assert!(m.committee().is_some(), "drawn again from the new beacon");
}

#[test]
fn a_turn_without_a_beacon_passes_to_the_endorser_elected_in_its_primarys_place() {
    // Turn 0's primary never got its beacon out (it crashed); its region ("alpha") elects a
    // newcomer while the turn runs. Every node began the turn with the deposed endorser.
    let mut net = Net::build(true);
    let order = sorted_endorsers(&net);
    let p0 = net.index(&order[0]).expect("machine");
    let others: Vec<usize> = (0..4).filter(|i| *i != p0).collect();
    let newcomer = keys(5, 1).remove(0);
    let view = EndorserView {
        region: "alpha".to_string(),
        view: 1,
        endorser: newcomer.public(),
    };
    let beacon = Beacon::sign(&newcomer, 0, block(0), 1);
    let (a, b) = (others[0], others[1]);

    // Node a hears the view certificate first: the turn passes to the newcomer, with a fresh
    // timeout, and its beacon then draws the committee.
    let acts = net.machines[a]
        .handle(TurnInput::ViewChanged(view.clone()), 4_000)
        .expect("view");
    assert!(acts.iter().any(|x| matches!(
        x,
        TurnAction::NewTurn { turn: 0, primary, start_height: 1, .. } if *primary == newcomer.public()
    )));
    assert!(acts.contains(&TurnAction::SetTimer {
        at_ms: 4_000 + TIMEOUT
    }));
    let acts = net.machines[a]
        .handle(TurnInput::Beacon(beacon.to_wire()), 4_100)
        .expect("beacon");
    assert!(matches!(
        acts.as_slice(),
        [TurnAction::Committee { turn: 0, .. }]
    ));

    // Node b hears the beacon first: it keeps it, and takes it with the certificate.
    let acts = net.machines[b]
        .handle(TurnInput::Beacon(beacon.to_wire()), 4_000)
        .expect("kept");
    assert!(acts.is_empty());
    assert!(net.machines[b].committee().is_none());
    let acts = net.machines[b]
        .handle(TurnInput::ViewChanged(view.clone()), 4_100)
        .expect("view");
    assert!(
        acts.iter()
            .any(|x| matches!(x, TurnAction::NewTurn { turn: 0, .. }))
    );
    assert!(
        acts.iter()
            .any(|x| matches!(x, TurnAction::Committee { turn: 0, .. }))
    );
    assert_eq!(net.machines[b].committee(), net.machines[a].committee());
    assert_eq!(net.machines[b].primary(), newcomer.public());

    // The deposed primary's node holds its own beacon (a committee): its turn stays with it,
    // and it takes no second beacon.
    net.machines[p0]
        .handle(TurnInput::ViewChanged(view.clone()), 4_000)
        .expect("view");
    assert_eq!(net.machines[p0].primary(), order[0]);
    assert_eq!(
        net.machines[p0].handle(TurnInput::Beacon(beacon.to_wire()), 4_100),
        Err(TurnError::BeaconMismatch("primary"))
    );

    // A node that took a beacon keeps it: the deposed endorser's beacon is refused now.
    assert_eq!(
        net.machines[a].handle(
            TurnInput::Beacon(Beacon::sign(&net.endorsers[p0], 0, block(0), 1).to_wire()),
            4_200
        ),
        Err(TurnError::BeaconMismatch("primary"))
    );
}
