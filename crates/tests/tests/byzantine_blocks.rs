//! Byzantine primaries on a real 10-node network (issue 19): region 1's endorser proposes
//! spoiled blocks — events already committed, a time before the previous block's, a proposal
//! past the byte limit — on every other block it proposes. The honest orderers refuse each
//! before voting (the one validity predicate), so no committer is ever handed a block it would
//! refuse: every honest ledger agrees, commits continue, nothing acknowledged is lost (the
//! harness), and the refusals show as `invalid_proposal`.

mod common;

use common::byzantine::{Attack, Outcome, run};
use medblock_actors::byzantine::ByzantineConfig;

/// The primary of region 1 (the standard network's preferred endorser there).
const PRIMARY: &str = "r1-endorser-a";

fn attack(config: ByzantineConfig) -> Outcome {
    attack_with(Attack::new(PRIMARY, config))
}

fn attack_with(mut attack: Attack) -> Outcome {
    attack.load_for = std::time::Duration::from_secs(40);
    let out = run(&attack);
    assert!(
        out.rejected.get("invalid_proposal").copied().unwrap_or(0) > 0,
        "no orderer refused a spoiled proposal: {out:?}"
    );
    out
}

#[test]
fn a_primary_reproposing_committed_events_is_refused_and_the_chain_goes_on() {
    attack(ByzantineConfig {
        propose_duplicates: true,
        ..Default::default()
    });
}

#[test]
fn a_primary_backdating_its_blocks_is_refused_and_the_chain_goes_on() {
    attack(ByzantineConfig {
        propose_backdated: true,
        ..Default::default()
    });
}

#[test]
fn a_primary_proposing_past_the_byte_limit_is_refused_and_the_chain_goes_on() {
    // Each oversized proposal (past 4 MiB) travels to every orderer, and again in the turn
    // end that carries it as evidence: measured 2.5-2.9 s of stall. The bound is the view
    // change plus one turn timeout, what a primary's wasted turn costs without the evidence.
    let mut a = Attack::new(
        PRIMARY,
        ByzantineConfig {
            propose_oversized: true,
            ..Default::default()
        },
    );
    let p = common::cluster::test_params();
    a.max_stall = std::time::Duration::from_millis(p.view_change_timeout_ms + p.turn_timeout_ms);
    attack_with(a);
}
