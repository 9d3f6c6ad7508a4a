//! Byzantine orderers on a real 10-node network (issue 19): one of the four orderers signs
//! votes for a made-up block beside its real ones, sends no votes at all, or, as PBFT leader,
//! signs two pre-prepares for one slot. f = 1, so the three honest orderers decide alone:
//! every honest ledger agrees, commits continue, nothing acknowledged is lost (the harness),
//! and the equivocations show as `equivocation` in `rejected_inputs_total`.

mod common;

use common::byzantine::{Attack, Outcome, run};
use medblock_actors::byzantine::ByzantineConfig;

/// One of the four orderers (in every turn's committee: the committee is all four).
const ORDERER: &str = "orderer-1";

fn attack(config: ByzantineConfig) -> Outcome {
    let mut attack = Attack::new(ORDERER, config);
    attack.load_for = std::time::Duration::from_secs(25);
    run(&attack)
}

fn equivocations(out: &Outcome) -> u64 {
    out.rejected.get("equivocation").copied().unwrap_or(0)
}

#[test]
fn an_orderer_signing_votes_for_two_blocks_is_seen_and_the_chain_goes_on() {
    let out = attack(ByzantineConfig {
        equivocate_votes: true,
        ..Default::default()
    });
    assert!(equivocations(&out) > 0, "no equivocation seen: {out:?}");
}

#[test]
fn an_orderer_sending_no_votes_does_not_stop_the_chain() {
    let out = attack(ByzantineConfig {
        drop_votes: true,
        ..Default::default()
    });
    // Withholding is not equivocating: nothing to name, but the chain went on (the harness).
    assert_eq!(equivocations(&out), 0, "{out:?}");
    assert!(out.acknowledged > 0, "{out:?}");
}

#[test]
fn a_leader_signing_two_pre_prepares_is_seen_and_replaced() {
    let out = attack(ByzantineConfig {
        equivocate_proposals: true,
        ..Default::default()
    });
    assert!(equivocations(&out) > 0, "no equivocation seen: {out:?}");
}
