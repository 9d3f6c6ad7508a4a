use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const REGION: &str = "north";

fn keys(n: usize) -> Vec<SigningKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    (0..n).map(|_| SigningKey::generate(&mut rng)).collect()
}

fn pubs(k: &[SigningKey]) -> Vec<PublicKey> {
    k.iter().map(|k| k.public()).collect()
}

fn machine(k: &[SigningKey], me: usize) -> Election {
    Election::new(REGION, &pubs(k), k.get(me).cloned(), 0).expect("non-empty region")
}

fn elected(actions: &[ElectionAction]) -> Option<(EndorserView, wire::ViewCertificate)> {
    actions.iter().find_map(|a| match a {
        ElectionAction::Elected { view, certificate } => Some((view.clone(), certificate.clone())),
        _ => None,
    })
}

/// Feeds votes of members `voters` for `candidate` and returns the last actions.
fn vote_all(
    m: &mut Election,
    k: &[SigningKey],
    voters: &[usize],
    candidate: usize,
) -> Vec<ElectionAction> {
    let mut last = Vec::new();
    for &i in voters {
        let v = sign_vote(&k[i], REGION, m.view(), &k[candidate].public());
        last = m.handle(ElectionInput::Vote(v), 0).expect("valid vote");
    }
    last
}

#[test]
fn majority_elects_and_certificate_verifies_for_an_outsider() {
    let k = keys(5);
    let mut m = machine(&k, 0);
    // Two of five is not a majority.
    assert!(vote_all(&mut m, &k, &[0, 1], 2).is_empty());
    assert!(m.endorser().is_none());
    let acts = vote_all(&mut m, &k, &[2], 2);
    let (view, cert) = elected(&acts).expect("3 of 5 elect");
    assert_eq!(view.endorser, k[2].public());
    assert_eq!(view.view, 0);
    assert_eq!(cert.votes.len(), 3);
    // An outsider knowing only the member keys (in any order) verifies it.
    let mut members = pubs(&k);
    members.reverse();
    assert_eq!(verify_view_certificate(&cert, &members), Ok(view));
}

#[test]
fn a_repeated_certificate_is_known_and_an_altered_copy_is_still_checked() {
    let k = keys(5);
    let mut m = machine(&k, 0);
    let (view, cert) = elected(&vote_all(&mut m, &k, &[0, 1, 3], 4)).expect("elected");
    let mut other = machine(&k, 1);
    let learnt = other
        .handle(ElectionInput::Certificate(cert.clone()), 0)
        .expect("valid certificate");
    assert_eq!(elected(&learnt).map(|(v, _)| v), Some(view));
    // The endorser's periodic repeat: nothing new.
    let repeat = other
        .handle(ElectionInput::Certificate(cert.clone()), 0)
        .expect("the same certificate");
    assert!(repeat.is_empty());
    // A copy with one vote's signature altered is not the certificate held: checked, refused.
    let mut forged = cert.clone();
    forged.votes[1].signature[0] ^= 1;
    assert!(matches!(
        other.handle(ElectionInput::Certificate(forged), 0),
        Err(ElectionError::BadSignature { .. })
    ));
    assert_eq!(other.certificate(), Some(&cert));
}

#[test]
fn certificate_fails_with_a_forged_vote_or_a_short_majority() {
    let k = keys(5);
    let mut m = machine(&k, 0);
    let (_, cert) = elected(&vote_all(&mut m, &k, &[0, 1, 3], 4)).expect("elected");
    let members = pubs(&k);

    let mut forged = cert.clone();
    forged.votes[1].signature[0] ^= 1;
    assert!(matches!(
        verify_view_certificate(&forged, &members),
        Err(ElectionError::BadSignature { .. })
    ));

    // A vote signed for another candidate, relabelled, does not verify either.
    let mut relabelled = cert.clone();
    let other = sign_vote(&k[2], REGION, 0, &k[0].public());
    relabelled.votes[0] = wire::ElectionVote {
        candidate: cert.endorser_key.clone(),
        ..other
    };
    assert!(matches!(
        verify_view_certificate(&relabelled, &members),
        Err(ElectionError::BadSignature { .. })
    ));

    let mut short = cert.clone();
    short.votes.pop();
    assert_eq!(
        verify_view_certificate(&short, &members),
        Err(ElectionError::ShortMajority { got: 2, needed: 3 })
    );

    let mut dup = cert.clone();
    dup.votes[2] = dup.votes[0].clone();
    assert!(matches!(
        verify_view_certificate(&dup, &members),
        Err(ElectionError::Duplicate { .. })
    ));

    // Verified against another region's members, the voters are strangers.
    let strangers = pubs(&keys(9)[5..]);
    assert!(verify_view_certificate(&cert, &strangers).is_err());
}

#[test]
fn equivocation_non_member_stale_and_forged_votes_are_refused() {
    let k = keys(5);
    let mut m = machine(&k, 0);
    let first = sign_vote(&k[1], REGION, 0, &k[2].public());
    m.handle(ElectionInput::Vote(first.clone()), 0)
        .expect("first vote");
    assert!(matches!(
        m.handle(ElectionInput::Vote(first), 0),
        Err(ElectionError::Duplicate { .. })
    ));
    let second = sign_vote(&k[1], REGION, 0, &k[3].public());
    match m.handle(ElectionInput::Vote(second.clone()), 0) {
        Err(ElectionError::Equivocation { evidence, view, .. }) => {
            assert_eq!(view, 0);
            assert_eq!(evidence.1, second);
        }
        other => panic!("expected equivocation, got {other:?}"),
    }
    assert_eq!(m.stats().equivocations, 1);

    let outsider = &keys(6)[5];
    assert!(matches!(
        m.handle(
            ElectionInput::Vote(sign_vote(outsider, REGION, 0, &k[3].public())),
            0
        ),
        Err(ElectionError::NotMember { .. })
    ));
    // A vote for a later round is kept for that round, not counted now.
    assert_eq!(
        m.handle(
            ElectionInput::Vote(sign_vote(&k[2], REGION, 1, &k[3].public())),
            0
        ),
        Ok(Vec::new())
    );
    let mut forged = sign_vote(&k[3], REGION, 0, &k[3].public());
    forged.signature[5] ^= 0x40;
    assert!(matches!(
        m.handle(ElectionInput::Vote(forged), 0),
        Err(ElectionError::BadSignature { .. })
    ));
    let mut junk = sign_vote(&k[3], REGION, 0, &k[3].public());
    junk.voter.truncate(3);
    assert_eq!(
        m.handle(ElectionInput::Vote(junk), 0),
        Err(ElectionError::Malformed("voter"))
    );
    // None of the refused votes counted: two more votes for k[3] do not elect it.
    assert!(vote_all(&mut m, &k, &[3, 4], 3).is_empty());
    assert!(m.endorser().is_none());
}

#[test]
fn crash_majority_starts_a_new_round_and_elects_another_endorser() {
    let k = keys(5);
    let mut m = machine(&k, 0);
    vote_all(&mut m, &k, &[0, 1, 2], 2);
    assert_eq!(m.endorser().map(|e| e.endorser), Some(k[2].public()));
    let crash = |i: usize| sign_crash(&k[i], REGION, 0, &k[2].public());
    m.handle(ElectionInput::SignalCrash, 0).expect("own signal");
    m.handle(ElectionInput::Crash(crash(1)), 0).expect("signal");
    assert!(matches!(
        m.handle(ElectionInput::Crash(crash(1)), 0),
        Err(ElectionError::Duplicate { .. })
    ));
    assert_eq!(m.view(), 0);
    let acts = m.handle(ElectionInput::Crash(crash(3)), 0).expect("signal");
    assert_eq!(
        acts,
        vec![ElectionAction::NewRound {
            view: 1,
            excluded: k[2].public()
        }]
    );
    assert!(m.endorser().is_none());
    // The crashed endorser cannot be elected in round 1.
    assert!(matches!(
        m.handle(
            ElectionInput::Vote(sign_vote(&k[1], REGION, 1, &k[2].public())),
            0
        ),
        Err(ElectionError::ExcludedCandidate { view: 1, .. })
    ));
    // Round-0 votes are stale now.
    assert!(matches!(
        m.handle(
            ElectionInput::Vote(sign_vote(&k[1], REGION, 0, &k[4].public())),
            0
        ),
        Err(ElectionError::WrongRound { got: 0, current: 1 })
    ));
    let acts = vote_all(&mut m, &k, &[1, 3, 4], 4);
    let (view, cert) = elected(&acts).expect("new endorser");
    assert_eq!(view.view, 1);
    assert_ne!(view.endorser, k[2].public());
    assert_eq!(verify_view_certificate(&cert, &pubs(&k)), Ok(view.clone()));

    // An observer that missed everything adopts the later view from the certificate.
    let mut late = Election::new(REGION, &pubs(&k), None, 0).expect("region");
    let acts = late
        .handle(ElectionInput::Certificate(cert), 0)
        .expect("certificate");
    assert_eq!(elected(&acts).map(|(v, _)| v), Some(view));
    assert_eq!(late.view(), 1);
}

#[test]
fn a_split_round_times_out_and_the_re_vote_elects() {
    let k = keys(5);
    let mut m = machine(&k, 0);
    m.set_round_timeout(1_000, 0);
    // Split: 2 for k[1], 2 for k[2], 1 for k[3]; nobody has 3 of 5.
    vote_all(&mut m, &k, &[0, 1], 1);
    vote_all(&mut m, &k, &[2, 3], 2);
    vote_all(&mut m, &k, &[4], 3);
    assert!(m.endorser().is_none());
    assert_eq!(m.handle(ElectionInput::Tick, 999), Ok(Vec::new()));
    assert_eq!(
        m.handle(ElectionInput::Tick, 1_000),
        Ok(vec![ElectionAction::RoundTimedOut { view: 1 }])
    );
    assert_eq!(m.view(), 1);
    // The next round waits twice as long.
    assert_eq!(m.deadline(), Some(3_000));
    // Two voters already re-voted in round 1 before this node got there: they were kept
    // (another machine that was still in round 0 stores them).
    let mut late = machine(&k, 4);
    for i in [1, 2] {
        let v = sign_vote(&k[i], REGION, 1, &k[2].public());
        assert_eq!(late.handle(ElectionInput::Vote(v), 500), Ok(Vec::new()));
    }
    // A third vote for round 1 from the kept ones is a majority: `late` adopts round 1.
    let v = sign_vote(&k[3], REGION, 1, &k[2].public());
    let acts = late.handle(ElectionInput::Vote(v), 600).expect("kept vote");
    let (view, cert) = elected(&acts).expect("elected from kept votes");
    assert_eq!((view.view, view.endorser), (1, k[2].public()));
    assert_eq!(late.view(), 1);
    assert!(
        acts.contains(&ElectionAction::Broadcast(ElectionMessage::Certificate(
            cert.clone()
        )))
    );
    // The timed-out machine re-votes deterministically and elects the same in round 1.
    let acts = vote_all(&mut m, &k, &[0, 1, 2], 2);
    let (view2, _) = elected(&acts).expect("re-vote elects");
    assert_eq!(view2, view);
    assert_eq!(m.deadline(), None, "no timeout once elected");
    assert_eq!(m.handle(ElectionInput::Tick, 100_000), Ok(Vec::new()));
    assert_eq!(verify_view_certificate(&cert, &pubs(&k)), Ok(view));
}

#[test]
fn candidates_may_differ_from_voters() {
    let k = keys(6);
    let voters = pubs(&k[..5]);
    let candidates = vec![k[5].public(), k[0].public()];
    let mut m = Election::with_candidates(REGION, &voters, &candidates, None, 0).expect("ok");
    // k[1] is a voter but not a candidate.
    assert!(matches!(
        m.handle(
            ElectionInput::Vote(sign_vote(&k[0], REGION, 0, &k[1].public())),
            0
        ),
        Err(ElectionError::CandidateNotMember { .. })
    ));
    let mut last = Vec::new();
    for v in &k[..3] {
        last = m
            .handle(
                ElectionInput::Vote(sign_vote(v, REGION, 0, &k[5].public())),
                0,
            )
            .expect("vote");
    }
    let (view, cert) = elected(&last).expect("3 of 5 voters elect a non-voting candidate");
    assert_eq!(view.endorser, k[5].public());
    assert_eq!(
        verify_view_certificate_with(&cert, &voters, &candidates),
        Ok(view)
    );
    assert!(verify_view_certificate(&cert, &voters).is_err());
}

#[test]
fn exactly_half_crash_signals_are_not_enough() {
    let k = keys(4);
    let mut m = machine(&k, 0);
    // 4 members: 3 votes elect (2 would be exactly half).
    assert!(vote_all(&mut m, &k, &[0, 1], 1).is_empty());
    assert!(elected(&vote_all(&mut m, &k, &[2], 1)).is_some());
    for i in [0, 2] {
        let acts = m
            .handle(
                ElectionInput::Crash(sign_crash(&k[i], REGION, 0, &k[1].public())),
                0,
            )
            .expect("signal");
        assert!(acts.is_empty());
    }
    assert_eq!(m.view(), 0, "two of four is exactly half: no new round");
    assert_eq!(m.endorser().map(|e| e.endorser), Some(k[1].public()));
    // A signal against someone who is not the endorser is refused.
    assert!(matches!(
        m.handle(
            ElectionInput::Crash(sign_crash(&k[3], REGION, 0, &k[0].public())),
            0
        ),
        Err(ElectionError::NotCurrentEndorser { .. })
    ));
    let acts = m
        .handle(
            ElectionInput::Crash(sign_crash(&k[3], REGION, 0, &k[1].public())),
            0,
        )
        .expect("third signal");
    assert!(matches!(
        acts.as_slice(),
        [ElectionAction::NewRound { view: 1, .. }]
    ));
}

/// A certificate of `voters` (indices into `k`) for `candidate` in view 0.
fn certificate(k: &[SigningKey], voters: &[usize], candidate: usize) -> wire::ViewCertificate {
    wire::ViewCertificate {
        region: REGION.into(),
        view: 0,
        endorser_key: k[candidate].public().as_bytes().to_vec(),
        votes: voters
            .iter()
            .map(|&i| sign_vote(&k[i], REGION, 0, &k[candidate].public()))
            .collect(),
    }
}

#[test]
fn voters_added_alone_keep_the_certificate_their_predecessors_signed_and_count_from_now() {
    let k = keys(7);
    let old = pubs(&k[0..3]);
    // A node that starts after three voters joined replays the change, then meets the view
    // certificate the first three signed (two of three): it stands.
    let mut late = Election::with_candidates(REGION, &old, &old, None, 0).expect("region");
    late.set_voters(&pubs(&k[0..6])).expect("voters");
    let cert = certificate(&k, &[0, 1], 0);
    let acts = late
        .handle(ElectionInput::Certificate(cert.clone()), 0)
        .expect("an earlier majority's certificate");
    assert_eq!(elected(&acts).map(|(v, _)| v.endorser), Some(k[0].public()));
    // Without the earlier set remembered it is short of the six's majority.
    assert!(matches!(
        verify_view_certificate_with(&cert, &pubs(&k[0..6]), &old),
        Err(ElectionError::ShortMajority { got: 2, needed: 4 })
    ));

    // A running node's next round is decided by the six: the newcomers' votes count and two
    // old voters alone no longer elect.
    let mut m =
        Election::with_candidates(REGION, &old, &old, Some(k[3].clone()), 0).expect("region");
    m.set_voters(&pubs(&k[0..6])).expect("voters");
    for &i in &[1, 2] {
        let v = sign_vote(&k[i], REGION, 0, &k[1].public());
        assert!(elected(&m.handle(ElectionInput::Vote(v), 0).expect("vote")).is_none());
    }
    let mut last = Vec::new();
    for &i in &[3, 4] {
        let v = sign_vote(&k[i], REGION, 0, &k[1].public());
        last = m
            .handle(ElectionInput::Vote(v), 0)
            .expect("a newcomer's vote counts");
    }
    let (_, cert) = elected(&last).expect("four of six elect");
    assert_eq!(cert.votes.len(), 4);
}

#[test]
fn a_removed_voters_signature_never_counts_in_an_earlier_sets_certificate() {
    let k = keys(4);
    let three = pubs(&k[0..3]);
    let mut m = Election::with_candidates(REGION, &three, &three, None, 0).expect("region");
    // Voter 2 is revoked (the candidates unchanged): a certificate of voters 0 and 2, a
    // majority of the three in force before, has one signature that counts.
    m.set_voters(&pubs(&k[0..2])).expect("voters");
    let cert = certificate(&k, &[0, 2], 0);
    assert!(m.handle(ElectionInput::Certificate(cert), 0).is_err());
    assert!(m.endorser().is_none());
    // Voters 0 and 1 (a majority of the two in force) do elect.
    let cert = certificate(&k, &[0, 1], 0);
    assert!(elected(&m.handle(ElectionInput::Certificate(cert), 0).expect("cert")).is_some());
}

#[test]
fn a_crash_quorum_against_the_only_candidate_keeps_it_elected() {
    // Four voters, one candidate (the testnet's regions: endorser, orderers, department).
    let k = keys(4);
    let only = [k[0].public()];
    let mut m =
        Election::with_candidates(REGION, &pubs(&k), &only, Some(k[1].clone()), 0).expect("region");
    vote_all(&mut m, &k, &[1, 2, 3], 0);
    assert_eq!(m.endorser().map(|e| e.endorser), Some(k[0].public()));
    let crash = |i: usize| sign_crash(&k[i], REGION, 0, &k[0].public());
    m.handle(ElectionInput::Crash(crash(2)), 0).expect("signal");
    m.handle(ElectionInput::Crash(crash(3)), 0).expect("signal");
    // The third signal is a majority: with another candidate a new round would open.
    let acts = m.handle(ElectionInput::Crash(crash(1)), 0).expect("signal");
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(m.view(), 0);
    assert_eq!(m.endorser().map(|e| e.endorser), Some(k[0].public()));
    assert_eq!(m.deadline(), None, "no round waits to time out");
}
