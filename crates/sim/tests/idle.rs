//! Idle costs nothing (issue 20): with nothing to propose, a primary holds its turn a whole
//! heartbeat before handing it over, so an idle network runs one consensus round (a turn end)
//! per heartbeat instead of one per block interval; the first upload after the idle spell is
//! still decided, by the same machines the live node drives.

use medblock_core::consensus::proposer::{IDLE_AFTER_MS, heartbeat_ms};
use medblock_sim::{SimConfig, run};

/// Virtual time the network stays idle before its first upload.
const IDLE_MS: u64 = 30_000;

#[test]
fn an_idle_network_passes_turns_once_a_heartbeat_and_decides_the_first_upload() {
    for seed in 1..=20 {
        let cfg = SimConfig::idle(seed, IDLE_MS);
        let heartbeat = heartbeat_ms(cfg.consensus.turn_timeout_ms, cfg.block_interval_ms);
        // The rule must be what holds turns, not the block interval (100 ms here).
        assert!(
            heartbeat >= 10 * cfg.block_interval_ms,
            "heartbeat {heartbeat} ms"
        );
        let r = run(&cfg);
        eprintln!(
            "seed {seed}: {} turns, decided at {} ms",
            r.turns, r.finished_at_ms
        );
        let regions = cfg.regions as u64;
        assert!(r.safety, "seed {seed}: {r:?}");
        assert!(
            r.liveness,
            "seed {seed}: the first upload was not decided: {r:?}"
        );
        // One turn end per heartbeat while idle; before that, the turns of the run's first
        // IDLE_AFTER_MS (not idle yet: turns held a block interval); after, the turns that bring
        // the record's region its turn (a rotation, each held a heartbeat at most).
        let most = IDLE_MS / heartbeat + IDLE_AFTER_MS / cfg.block_interval_ms + regions + 1;
        assert!(
            r.turns <= most,
            "seed {seed}: {} turns, at most {most} allowed (heartbeat {heartbeat} ms)",
            r.turns
        );
        // Held turns still pass: the rotation, and its beacons, go on.
        let least = IDLE_MS / (2 * heartbeat);
        assert!(
            r.turns >= least,
            "seed {seed}: {} turns, at least {least}",
            r.turns
        );
        // Decided within the rotation the record waited for, plus a few rounds.
        let by = IDLE_MS + regions * heartbeat + 2_000;
        assert!(
            r.finished_at_ms <= by,
            "seed {seed}: decided at {} ms, by {by} ms expected",
            r.finished_at_ms
        );
        // Nothing but that record: one block.
        assert_eq!(r.max_height, 1, "seed {seed}: {r:?}");
    }
}
