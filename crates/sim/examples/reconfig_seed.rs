//! Runs one seed of the membership-change scenario and prints its report (set
//! MEDBLOCK_SIM_DEBUG=1 for every node's status): `cargo run -p medblock-sim --example
//! reconfig_seed -- SEED`.

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let m = medblock_sim::run_membership(&medblock_sim::SimConfig::reconfiguration(seed));
    println!("{:?}", m.report);
    println!(
        "changes_min {} last_change_height {}",
        m.changes_min, m.last_change_height
    );
}
