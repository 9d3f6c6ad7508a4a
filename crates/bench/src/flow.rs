//! Table 5 analysis: the committed flow of a compressed day per period, its peak over mean,
//! the longest delay any event saw, and the lowest peak over mean any schedule could reach
//! under a given delay bound.

use serde::Serialize;
use std::collections::VecDeque;

/// One event of the compressed-day run: when it arrived (was due for upload) and when it was
/// committed, in seconds since the start of the compressed day.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Committed {
    /// Seconds from the start of the day to the event's arrival.
    pub arrived_s: f64,
    /// Seconds from the start of the day to the event's commit.
    pub committed_s: f64,
}

/// The committed flow of one upload strategy over the day.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Flow {
    /// Events committed in each period.
    pub per_period: Vec<u64>,
    /// Events per period on average: total events / periods.
    pub mean: f64,
    /// Most events committed in one period.
    pub peak: u64,
    /// `peak / mean`, the paper's measure of how bursty the flow is (0 when nothing committed).
    pub peak_over_mean: f64,
    /// Longest time from arrival to commit of any event, seconds (0 if none).
    pub max_delay_s: f64,
    /// `max_delay_s` in periods.
    pub max_delay_periods: f64,
    /// Events committed after the last period ended (they are counted in the last period).
    pub after_day: u64,
}

/// Counts `events` into `periods` periods of `period_s` seconds by commit time and summarises
/// the flow.
///
/// Events committed after the last period are counted in the last period: the day's flow must
/// account for every event, and a strategy that pushes work past the end of the day must not
/// look smoother for it ([`Flow::after_day`] says how many there were). Commits before the
/// start of the day (clock skew) count in the first period. With `periods == 0` nothing can be
/// counted and the flow is empty.
pub fn analyse(events: &[Committed], period_s: f64, periods: usize) -> Flow {
    let mut per_period = vec![0u64; periods];
    let mut after_day = 0;
    let mut max_delay_s: f64 = 0.0;
    for e in events {
        max_delay_s = max_delay_s.max(e.committed_s - e.arrived_s);
        if periods == 0 {
            continue;
        }
        let position = e.committed_s / period_s;
        let k = if position.is_nan() || position <= 0.0 {
            0
        } else if position >= periods as f64 {
            after_day += 1;
            periods - 1
        } else {
            position as usize
        };
        per_period[k] += 1;
    }
    summarise(per_period, max_delay_s, period_s, after_day)
}

/// The flow's figures from its per-period counts.
fn summarise(per_period: Vec<u64>, max_delay_s: f64, period_s: f64, after_day: u64) -> Flow {
    let periods = per_period.len();
    let total: u64 = per_period.iter().sum();
    let peak = per_period.iter().copied().max().unwrap_or(0);
    Flow {
        peak_over_mean: peak_over_mean(peak, total, periods),
        mean: if periods == 0 {
            0.0
        } else {
            total as f64 / periods as f64
        },
        per_period,
        peak,
        max_delay_s,
        max_delay_periods: if period_s > 0.0 {
            max_delay_s / period_s
        } else {
            0.0
        },
        after_day,
    }
}

/// The flow of one day inside a run of several consecutive days (the steady state of a
/// network whose records may wait longer than a period): only commits within
/// `[start_s, start_s + periods × period_s)` are counted, by period. Commits before the window
/// belong to earlier days; commits after it are the next day's flow ([`Flow::after_day`]
/// counts them, and they are *not* folded into the last period). In a steady state the day's
/// committed total matches one day's arrivals; the caller reports both, so a schedule that
/// pushes work out of the window cannot pass for a smooth one. The longest delay is over every
/// event of the run.
pub fn analyse_day_of_run(
    events: &[Committed],
    period_s: f64,
    periods: usize,
    start_s: f64,
) -> Flow {
    let mut per_period = vec![0u64; periods];
    let mut after_day = 0;
    let mut max_delay_s: f64 = 0.0;
    let end_s = start_s + period_s * periods as f64;
    for e in events {
        max_delay_s = max_delay_s.max(e.committed_s - e.arrived_s);
        if periods == 0 || period_s <= 0.0 || e.committed_s.is_nan() || e.committed_s < start_s {
            continue;
        }
        if e.committed_s >= end_s {
            after_day += 1;
            continue;
        }
        let k = (((e.committed_s - start_s) / period_s) as usize).min(periods - 1);
        if let Some(slot) = per_period.get_mut(k) {
            *slot += 1;
        }
    }
    summarise(per_period, max_delay_s, period_s, after_day)
}

/// The lowest peak over mean of committed flow that ANY schedule can reach when each period's
/// `arrivals` must be committed no earlier than their own period, at most `max_delay_periods`
/// periods after it, and within the day (by the last period).
///
/// This is the yardstick for the turn-based run: it shows how flat a flow the arrivals allow
/// at a given delay, so a measured peak over mean can be judged against what is possible
/// rather than against 1.
///
/// Exact: events are indivisible, so the minimal peak is an integer P, the smallest capacity
/// per period for which a feasible schedule exists. It is found by binary search between the
/// mean (rounded up) and the largest arrival count (always feasible: commit everything in its
/// own period), with an earliest-deadline-first greedy as the feasibility check — serving the
/// pending events with the earliest deadline first, up to P per period, meets every deadline
/// if any schedule does. Returns 0 when there are no arrivals.
pub fn min_peak_over_mean_with_delay(arrivals: &[u64], max_delay_periods: usize) -> f64 {
    let total: u64 = arrivals.iter().sum();
    peak_over_mean(
        min_peak_with_delay(arrivals, max_delay_periods),
        total,
        arrivals.len(),
    )
}

/// The minimal peak (events per period) behind [`min_peak_over_mean_with_delay`].
pub fn min_peak_with_delay(arrivals: &[u64], max_delay_periods: usize) -> u64 {
    let total: u128 = arrivals.iter().map(|&a| u128::from(a)).sum();
    let periods = arrivals.len() as u128;
    if total == 0 {
        return 0;
    }
    let mut low = u64::try_from(total.div_ceil(periods)).unwrap_or(u64::MAX);
    let mut high = arrivals.iter().copied().max().unwrap_or(0).max(low);
    // Invariant: `high` is feasible; everything below `low` is not.
    while low < high {
        let mid = low + (high - low) / 2;
        if feasible(arrivals, max_delay_periods, mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    high
}

/// Whether committing at most `capacity` events per period meets every deadline, by earliest
/// deadline first. Deadlines (`arrival period + delay`, capped at the last period) never
/// decrease with the arrival period, so earliest deadline first is first in, first out.
fn feasible(arrivals: &[u64], max_delay_periods: usize, capacity: u64) -> bool {
    let last = arrivals.len().saturating_sub(1);
    let mut pending: VecDeque<(usize, u64)> = VecDeque::new();
    for (period, &count) in arrivals.iter().enumerate() {
        if count > 0 {
            pending.push_back((period.saturating_add(max_delay_periods).min(last), count));
        }
        let mut room = capacity;
        while room > 0 {
            let Some(front) = pending.front_mut() else {
                break;
            };
            let served = front.1.min(room);
            front.1 -= served;
            room -= served;
            if front.1 == 0 {
                pending.pop_front();
            }
        }
        if pending
            .front()
            .is_some_and(|&(deadline, _)| deadline <= period)
        {
            return false;
        }
    }
    pending.is_empty()
}

/// `peak / (total / periods)`, or 0 when there is no flow to compare against.
fn peak_over_mean(peak: u64, total: u64, periods: usize) -> f64 {
    if total == 0 || periods == 0 {
        0.0
    } else {
        peak as f64 / (total as f64 / periods as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::day::DayCurve;
    use proptest::prelude::*;

    fn at(arrived_s: f64, committed_s: f64) -> Committed {
        Committed {
            arrived_s,
            committed_s,
        }
    }

    #[test]
    fn counts_by_commit_time_and_summarises() {
        let events = [at(0.0, 1.0), at(0.5, 9.9), at(9.0, 10.0), at(12.0, 25.0)];
        let f = analyse(&events, 10.0, 3);
        assert_eq!(f.per_period, vec![2, 1, 1]);
        assert_eq!(f.peak, 2);
        assert_eq!(f.mean, 4.0 / 3.0);
        assert_eq!(f.peak_over_mean, 1.5);
        assert_eq!(f.max_delay_s, 13.0);
        assert_eq!(f.max_delay_periods, 1.3);
        assert_eq!(f.after_day, 0);
    }

    #[test]
    fn events_after_the_day_count_in_the_last_period() {
        let events = [at(0.0, 5.0), at(15.0, 31.0), at(15.0, 300.0)];
        let f = analyse(&events, 10.0, 3);
        assert_eq!(f.per_period, vec![1, 0, 2]);
        assert_eq!(f.after_day, 2);
        assert_eq!(f.per_period.iter().sum::<u64>(), 3);
    }

    #[test]
    fn a_day_of_a_run_counts_only_its_own_commits() {
        // Periods of 10 s, 3 per day; the second day is [30, 60).
        let events = [
            at(0.0, 5.0),   // day 1
            at(20.0, 31.0), // day 1's record committed in day 2, period 0
            at(35.0, 45.0), // period 1
            at(40.0, 59.9), // period 2
            at(50.0, 61.0), // after the day
            at(55.0, 95.0), // after the day, the longest delay
        ];
        let f = analyse_day_of_run(&events, 10.0, 3, 30.0);
        assert_eq!(f.per_period, vec![1, 1, 1]);
        assert_eq!(f.after_day, 2);
        assert_eq!((f.peak, f.mean, f.peak_over_mean), (1, 1.0, 1.0));
        assert_eq!(f.max_delay_s, 40.0);
        assert_eq!(f.max_delay_periods, 4.0);
        assert!(
            analyse_day_of_run(&events, 10.0, 0, 30.0)
                .per_period
                .is_empty()
        );
        assert_eq!(analyse_day_of_run(&[], 10.0, 3, 30.0).peak_over_mean, 0.0);
    }

    #[test]
    fn commits_before_the_day_count_in_the_first_period() {
        let f = analyse(&[at(0.0, -1.0)], 10.0, 2);
        assert_eq!(f.per_period, vec![1, 0]);
        assert_eq!(f.max_delay_s, 0.0);
    }

    #[test]
    fn nothing_committed_is_all_zero() {
        let f = analyse(&[], 10.0, 4);
        assert_eq!(f.per_period, vec![0; 4]);
        assert_eq!((f.mean, f.peak, f.peak_over_mean), (0.0, 0, 0.0));
        let f = analyse(&[at(0.0, 1.0)], 10.0, 0);
        assert!(f.per_period.is_empty());
        assert_eq!(f.peak_over_mean, 0.0);
    }

    #[test]
    fn min_peak_of_small_cases() {
        // Can be spread forward ...
        assert_eq!(min_peak_with_delay(&[10, 0], 1), 5);
        assert_eq!(min_peak_over_mean_with_delay(&[10, 0], 1), 1.0);
        // ... but never committed before it arrives.
        assert_eq!(min_peak_with_delay(&[0, 10], 1), 10);
        assert_eq!(min_peak_over_mean_with_delay(&[0, 10], 1), 2.0);
        // Bounded by the delay: 9 events in period 0 may use only periods 0..=1.
        assert_eq!(min_peak_with_delay(&[9, 0, 0], 1), 5);
        assert_eq!(min_peak_with_delay(&[9, 0, 0], 2), 3);
        // And by the end of the day, however long the delay.
        assert_eq!(min_peak_with_delay(&[0, 0, 9], 100), 9);
        assert_eq!(min_peak_with_delay(&[], 3), 0);
        assert_eq!(min_peak_over_mean_with_delay(&[0, 0], 1), 0.0);
    }

    #[test]
    fn embedded_day_with_one_period_of_delay_cannot_be_flat() {
        let arrivals = DayCurve::embedded().arrivals_per_period(100_000);
        let bound = min_peak_over_mean_with_delay(&arrivals, 1);
        assert!(bound > 1.5, "bound {bound}");
    }

    #[test]
    fn no_delay_leaves_the_curves_own_peak_over_mean() {
        let arrivals = DayCurve::embedded().arrivals_per_period(100_000);
        let total: u64 = arrivals.iter().sum();
        let own = *arrivals.iter().max().unwrap() as f64 / (total as f64 / 12.0);
        assert_eq!(min_peak_over_mean_with_delay(&arrivals, 0), own);
    }

    /// An independent oracle: events released in periods `i..` with deadlines `..=j` must
    /// fit in the `j - i + 1` periods between, so the minimal peak is the largest such demand
    /// per period, rounded up, over all windows `i..=j` (and that bound is achievable).
    fn window_bound(arrivals: &[u64], delay: usize) -> u64 {
        let last = arrivals.len().saturating_sub(1);
        let mut best = 0;
        for i in 0..arrivals.len() {
            for j in i..arrivals.len() {
                let demand: u64 = (i..=j)
                    .filter(|&k| (k + delay).min(last) <= j)
                    .map(|k| arrivals[k])
                    .sum();
                best = best.max(demand.div_ceil((j - i + 1) as u64));
            }
        }
        best
    }

    proptest! {
        #[test]
        fn min_peak_never_rises_with_more_delay(
            arrivals in proptest::collection::vec(0u64..1_000, 1..24),
            delay in 0usize..24,
        ) {
            let tight = min_peak_over_mean_with_delay(&arrivals, delay);
            let loose = min_peak_over_mean_with_delay(&arrivals, delay + 1);
            prop_assert!(loose <= tight, "delay {} gives {} but {} gives {}", delay, tight, delay + 1, loose);
        }

        #[test]
        fn min_peak_matches_the_window_bound(
            arrivals in proptest::collection::vec(0u64..200, 1..12),
            delay in 0usize..12,
        ) {
            prop_assert_eq!(min_peak_with_delay(&arrivals, delay), window_bound(&arrivals, delay));
        }

        #[test]
        fn every_event_is_counted(
            times in proptest::collection::vec((0.0f64..100.0, 0.0f64..200.0), 0..200),
        ) {
            let events: Vec<Committed> = times.iter().map(|&(a, c)| at(a, c)).collect();
            let f = analyse(&events, 10.0, 12);
            prop_assert_eq!(f.per_period.iter().sum::<u64>(), events.len() as u64);
            prop_assert!(f.peak as f64 >= f.mean);
        }
    }
}
