//! Runs one seed and prints its report (set MEDBLOCK_SIM_DEBUG=1 for every node's status):
//! `cargo run -p medblock-sim --example one_seed -- ORDERERS BYZANTINE SEED HEIGHTS`.

fn main() {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let get = |i: usize, d: u64| a.get(i).copied().unwrap_or(d);
    let mut cfg = medblock_sim::SimConfig::new(get(0, 4) as usize, get(1, 1) as usize, get(2, 1));
    cfg.target_height = get(3, 4);
    println!("{:?}", medblock_sim::run(&cfg));
}
