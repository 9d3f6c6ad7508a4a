//! Turn-based (paced) upload: how many of its pending events a primary packs in one turn.
//!
//! The paper's point: hospital visits bunch up between 08:00 and 18:00, and records need not
//! reach the ledger the minute they are written, so endorsers upload in turns and spread the
//! day's load instead of committing every record as it arrives. A department says how long each
//! record may wait (`upload_within_ms` on the upload, 0 = with the next turn); the endorser turns
//! that into a deadline and keeps its queue in deadline order (earliest first).
//!
//! At each turn the primary packs the fewest events that still lets every deadline be met if it
//! kept the same pace: the "optimal available" speed of Yao, Demers and Shenker's deadline
//! scheduling (FOCS 1995), `max over d of (events due by d) / (d - now)`, times the time until
//! its next turn. Events due before its next turn always go now. When every record is urgent
//! this is real-time upload (everything pending goes); when records may wait hours, the commit
//! rate follows the backlog, not the arrivals, and the peak flattens. The pace is recomputed
//! every turn from the queue alone, so a restart or a crashed endorser's successor needs no
//! state beyond the durable queue.

/// Longest an endorser lets a department defer one record (a day): past that, a record a patient
/// expects to see tomorrow would not be there.
pub const MAX_UPLOAD_DELAY_MS: u64 = 24 * 3600 * 1000;

/// The deadline of a record received at `now_ms` that may wait `upload_within_ms`.
pub fn deadline(now_ms: u64, upload_within_ms: u64) -> u64 {
    now_ms.saturating_add(upload_within_ms.min(MAX_UPLOAD_DELAY_MS))
}

/// What pacing asks of one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Events to pack now.
    pub events: usize,
    /// How much of the time the pace was owed for these events pay for. The rest is still owed
    /// and goes to the next turn: rounding each turn's share up instead (a turn every 100 ms
    /// owing 5.3 events packed 6) ran the pace ahead of the deadlines and undid the smoothing.
    pub paid_ms: u64,
}

/// Typical rotations of pace one turn pays for at most (see [`owed_ms`]).
pub const MAX_OWED_ROTATIONS: u64 = 2;

/// The time one turn owes the pace for: what earlier turns left unpaid plus the time since
/// pacing last settled, at most [`MAX_OWED_ROTATIONS`] typical rotations. After a stall (a slow
/// PBFT round, a view change, a busy machine) repaying the whole stall in one turn spikes the
/// committed flow right after a dip; capped, the stall's share stays in the queue and the
/// pace, recomputed from the queue every turn, rises a little for every later turn instead.
/// Deadlines do not depend on the cap: events due within the horizon always go.
pub fn owed_ms(unpaid_ms: u64, since_ms: u64, typical_rotation_ms: u64) -> u64 {
    unpaid_ms.saturating_add(since_ms).min(
        typical_rotation_ms
            .saturating_mul(MAX_OWED_ROTATIONS)
            .max(1),
    )
}

/// The typical rotation after one more measured: an exponential average (weight 1/4), so one
/// long rotation (a stall) neither stretches the horizon nor lets a turn repay the stall at once.
pub fn typical_rotation_ms(typical_ms: u64, measured_ms: u64) -> u64 {
    if typical_ms == 0 {
        return measured_ms;
    }
    (typical_ms.saturating_mul(3).saturating_add(measured_ms)) / 4
}

/// Events the primary should pack this turn (see [`paced_quota`]).
pub fn turn_quota(deadlines_ms: &[u64], now_ms: u64, since_last_ms: u64, horizon_ms: u64) -> usize {
    paced_quota(deadlines_ms, now_ms, since_last_ms, horizon_ms).events
}

/// Events the primary should pack this turn, and how much of the owed time they pay for.
///
/// `deadlines_ms` are the pending events' deadlines in ascending order; `owed_ms` is the time
/// the pace is owed for (since the previous turn, plus what earlier turns left unpaid);
/// `horizon_ms` is how long its next turn may take to come (every event due by then goes now,
/// so it should not be shorter than the rotation). The answer is every event due within the
/// horizon and at least the whole events the optimal-available pace owes over `owed_ms`, never
/// more than the queue.
pub fn paced_quota(deadlines_ms: &[u64], now_ms: u64, owed_ms: u64, horizon_ms: u64) -> Quota {
    let horizon = now_ms.saturating_add(horizon_ms);
    let urgent = deadlines_ms.partition_point(|d| *d <= horizon);
    // The pace: the largest (events due by d) / (d - now) over the deadlines beyond the horizon.
    let mut best: Option<(u128, u128)> = None;
    for (i, d) in deadlines_ms.iter().enumerate().skip(urgent) {
        let (due, span) = ((i + 1) as u128, u128::from(d.saturating_sub(now_ms).max(1)));
        if best.is_none_or(|(bd, bs)| due * bs > bd * span) {
            best = Some((due, span));
        }
    }
    let Some((due, span)) = best else {
        return Quota {
            events: urgent,
            paid_ms: owed_ms,
        };
    };
    let owed = u128::from(owed_ms);
    let by_pace = (due * owed / span).min(due) as usize;
    let events = urgent.max(by_pace).min(deadlines_ms.len());
    // The time these events cover at the pace; never more than was owed.
    let paid = (events as u128 * span).div_ceil(due).min(owed);
    Quota {
        events,
        paid_ms: u64::try_from(paid).unwrap_or(owed_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn urgent_records_all_go_in_this_turn() {
        let now = 10_000;
        // Received over the last seconds with no deferral: all due already.
        let d: Vec<u64> = (0..50).map(|i| now - 5_000 + i * 10).collect();
        assert_eq!(turn_quota(&d, now, 1_000, 1_000), 50);
    }

    #[test]
    fn records_due_before_the_next_turn_go_now_the_rest_at_the_pace() {
        let now = 0;
        // 10 due within the rotation, 1000 due in 100 rotations.
        let mut d: Vec<u64> = (0..10).map(|i| 500 + i).collect();
        d.extend((0..1000).map(|_| 100_000));
        // The 10 due now, or the pace's floor(1010 / 100) = 10: the 10 due now.
        assert_eq!(turn_quota(&d, now, 1_000, 1_000), 10);
    }

    #[test]
    fn a_deferrable_backlog_is_spread_evenly_over_its_window() {
        let now = 0;
        let d = vec![3_600_000u64; 3_600];
        // One hour of slack, one second per rotation: one event per turn.
        assert_eq!(turn_quota(&d, now, 1_000, 1_000), 1);
        assert_eq!(turn_quota(&[], now, 1_000, 1_000), 0);
    }

    #[test]
    fn the_pace_is_owed_for_the_time_since_the_last_turn_and_the_horizon_is_a_safety_margin() {
        let now = 0;
        // 1000 events due in 100 s; the last turn began 100 ms ago; turns may take 1 s to come.
        let d = vec![100_000u64; 1_000];
        assert_eq!(turn_quota(&d, now, 100, 1_000), 1);
        assert_eq!(turn_quota(&d, now, 1_000, 1_000), 10);
        // No time since the last turn: the pace owes nothing, but an event due within the
        // horizon goes now.
        assert_eq!(turn_quota(&d, now, 0, 1_000), 0);
        let mut d2 = vec![800u64];
        d2.extend(vec![100_000u64; 1_000]);
        assert_eq!(turn_quota(&d2, now, 0, 1_000), 1);
    }

    #[test]
    fn what_a_turn_leaves_unpaid_is_owed_by_the_next_so_the_pace_holds_exactly() {
        // 1000 events due in 100 s: 10 per second. Turns every 130 ms owe 1.3 events each.
        let d = vec![100_000u64; 1_000];
        let (mut owed, mut packed, mut now) = (0u64, 0usize, 0u64);
        let mut queue = d.clone();
        for _ in 0..100 {
            owed += 130;
            let q = paced_quota(&queue, now, owed, 100);
            assert!(q.paid_ms <= owed);
            owed -= q.paid_ms;
            packed += q.events;
            queue.drain(..q.events);
            now += 130;
        }
        // 13 s at 10 per second (the pace rises a little as the deadline nears): not the
        // 200 that rounding each turn's 1.3 up to 2 would have packed.
        assert!((130..=145).contains(&packed), "packed {packed}");
        // Nothing due within the horizon and no time owed: nothing to pack, nothing paid.
        assert_eq!(
            paced_quota(&d, 0, 0, 100),
            Quota {
                events: 0,
                paid_ms: 0
            }
        );
    }

    #[test]
    fn a_stall_is_not_repaid_in_one_turn_and_the_deadlines_still_hold() {
        // 1000 events due in 100 s; a turn every 100 ms, except for a 2 s stall at 10 s.
        let run = |cap: bool| {
            let mut queue = vec![100_000u64; 1_000];
            let (mut unpaid, mut last, mut now) = (0u64, 0u64, 100u64);
            let mut largest_after_stall = 0;
            while now <= 100_000 && !queue.is_empty() {
                if !(10_000..12_000).contains(&now) {
                    let since = now - last;
                    let owed = if cap {
                        owed_ms(unpaid, since, 100)
                    } else {
                        unpaid + since
                    };
                    let q = paced_quota(&queue, now, owed, 100);
                    unpaid = owed - q.paid_ms;
                    last = now;
                    if now >= 12_000 {
                        largest_after_stall = largest_after_stall.max(q.events);
                    }
                    queue.drain(..q.events);
                }
                now += 100;
            }
            (largest_after_stall, queue.len())
        };
        let (capped, left) = run(true);
        assert_eq!(left, 0, "every event committed by its deadline");
        // The pace is about one event per turn: after the stall, a turn packs at most a few.
        assert!(capped <= 3, "a turn after the stall packed {capped}");
        // Repaying the stall at once packs the 2 s of pace in one turn.
        let (uncapped, _) = run(false);
        assert!(uncapped >= 15, "uncapped: {uncapped}");
        assert_eq!(owed_ms(50, 5_000, 100), 200);
        assert_eq!(owed_ms(10, 90, 100), 100);
        // One 2 s rotation among 100 ms ones moves the typical rotation by a quarter of it.
        assert_eq!(typical_rotation_ms(100, 2_100), 600);
        assert_eq!(typical_rotation_ms(600, 100), 475);
        assert_eq!(typical_rotation_ms(0, 300), 300);
    }

    #[test]
    fn deferral_is_capped_at_a_day() {
        assert_eq!(deadline(5, u64::MAX), 5 + MAX_UPLOAD_DELAY_MS);
        assert_eq!(deadline(5, 0), 5);
    }

    proptest! {
        /// Packing the quota every turn (a fixed rotation) meets every deadline, and the quota
        /// never exceeds the queue.
        #[test]
        fn pacing_meets_every_deadline(
            mut slack in prop::collection::vec(0u64..50_000, 0..300),
            rotation in 100u64..5_000,
        ) {
            slack.sort_unstable();
            let mut queue: Vec<u64> = slack.clone();
            let mut now = 0u64;
            while !queue.is_empty() {
                let q = turn_quota(&queue, now, rotation, rotation);
                prop_assert!(q <= queue.len());
                // Whatever is left is due after this turn's horizon.
                queue.drain(..q);
                if let Some(first) = queue.first() {
                    prop_assert!(*first > now + rotation, "event due at {} left at {}", first, now);
                }
                now += rotation;
            }
        }

        /// A later deadline never asks for more work now.
        #[test]
        fn more_slack_never_raises_the_quota(
            mut slack in prop::collection::vec(0u64..50_000, 1..200),
            extra in 0u64..50_000,
            rotation in 100u64..5_000,
        ) {
            slack.sort_unstable();
            let relaxed: Vec<u64> = slack.iter().map(|s| s + extra).collect();
            prop_assert!(
                turn_quota(&relaxed, 0, rotation, rotation) <= turn_quota(&slack, 0, rotation, rotation)
            );
        }
    }
}
