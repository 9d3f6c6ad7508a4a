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

/// Events the primary should pack this turn.
///
/// `deadlines_ms` are the pending events' deadlines in ascending order; `since_last_ms` is how
/// long ago this endorser's previous turn began (what the pace owes is the pace times that);
/// `horizon_ms` is how long its next turn may take to come (every event due by then goes now,
/// so it should not be shorter than the rotation). The answer is at least every event due
/// within the horizon and at least the optimal-available pace over `since_last_ms`, and never
/// more than the queue.
pub fn turn_quota(deadlines_ms: &[u64], now_ms: u64, since_last_ms: u64, horizon_ms: u64) -> usize {
    let horizon = now_ms.saturating_add(horizon_ms);
    let mut quota = 0usize;
    for (i, d) in deadlines_ms.iter().enumerate() {
        let due = i + 1;
        if *d <= horizon {
            quota = due;
            continue;
        }
        // Events due by d, at the pace that finishes them exactly at d, over the time since
        // the previous turn.
        let share = (due as u128 * since_last_ms as u128).div_ceil((d - now_ms) as u128);
        quota = quota.max(share.min(due as u128) as usize);
    }
    quota.min(deadlines_ms.len())
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
        // 10 + pace of 1010 over 100 rotations = max(10, ceil(1010/100)) = 11.
        assert_eq!(turn_quota(&d, now, 1_000, 1_000), 11);
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
