//! The attack harness on an honest network (issue 19): with no misbehaviour switched on, the
//! properties every attack test asserts hold and no input is refused for a Byzantine reason.
//! Keeps the harness itself honest: if it could not see commits, agreement or acknowledged
//! visits here, the attack tests would prove nothing.

mod common;

use common::byzantine::{Attack, run};

#[test]
fn an_honest_network_passes_the_attack_checks_and_refuses_nothing() {
    if std::env::var_os("MEDBLOCK_TEST_LOGS").is_some() {
        medblock_monitoring::logging::init(medblock_monitoring::logging::LogFormat::Text);
    }
    let mut attack = Attack::new("orderer-1", Default::default());
    attack.load_for = std::time::Duration::from_secs(15);
    let out = run(&attack);
    assert!(out.acknowledged >= 20, "{out:?}");
    for reason in [
        "invalid_proposal",
        "equivocation",
        "sequence_conflict",
        "access_record",
        "false_height",
        "beacon",
    ] {
        assert_eq!(
            out.rejected.get(reason).copied().unwrap_or(0),
            0,
            "{reason}: {out:?}"
        );
    }
}
