//! The hospital day curve of the paper's Table 5: when in the day providers upload, used to
//! schedule the arrivals of the compressed-day run and to label its periods.

use crate::error::{BenchError, CurveProblem};
use serde::Deserialize;
use std::time::Duration;

/// The paper's day curve as shipped with the crate (see [`crate::paper::table5`]).
const EMBEDDED: &str = include_str!("../data/day-curve.csv");

/// Tolerance, in hours, for one period starting where the previous one ended.
const CONTIGUITY_TOLERANCE_H: f64 = 1e-9;

/// One period of the day and its data flow in the paper.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    /// Hour the period starts.
    pub start_h: f64,
    /// Hour the period ends.
    pub end_h: f64,
    /// Data flow of real-time upload ("others" in the paper), GB/h; it shapes the arrivals.
    pub realtime_gb_per_h: f64,
    /// Data flow of MedBlock's turn-based upload in the paper, GB/h.
    pub medblock_gb_per_h: f64,
}

impl Period {
    /// Length of the period in hours.
    pub fn hours(&self) -> f64 {
        self.end_h - self.start_h
    }

    /// The axis and table label of the period, e.g. `"08-10"` (fractional hours keep one
    /// decimal, e.g. `"08.5-10"`).
    pub fn label(&self) -> String {
        format!("{}-{}", hour_label(self.start_h), hour_label(self.end_h))
    }
}

/// A day divided into contiguous periods, each with the paper's data flows.
#[derive(Clone, Debug, PartialEq)]
pub struct DayCurve {
    /// The periods in order; each starts where the previous ended.
    pub periods: Vec<Period>,
}

/// One CSV row as written in `data/day-curve.csv`.
#[derive(Deserialize)]
struct Row {
    period_start_h: f64,
    period_end_h: f64,
    realtime_gb_per_h: f64,
    medblock_gb_per_h: f64,
}

impl DayCurve {
    /// The paper's curve, embedded at build time: twelve two-hour periods.
    pub fn embedded() -> DayCurve {
        match Self::parse(EMBEDDED) {
            Ok(curve) => curve,
            // The embedded file is checked by a unit test; this arm is unreachable in a build
            // that passed its tests.
            Err(e) => unreachable!("embedded day curve is invalid: {e}"),
        }
    }

    /// Reads a curve from CSV text with the header
    /// `period_start_h,period_end_h,realtime_gb_per_h,medblock_gb_per_h`, refusing rows that
    /// are not four numbers, negative or non-finite values, periods without length, periods
    /// that do not start where the previous one ended, no periods, and a real-time column that
    /// is zero throughout (it would give no arrivals).
    pub fn parse(text: &str) -> Result<DayCurve, BenchError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| malformed(1, &e))?.clone();
        let mut periods: Vec<Period> = Vec::new();
        let mut line = 1;
        for record in reader.records() {
            let record = record.map_err(|e| malformed(error_line(&e).unwrap_or(line + 1), &e))?;
            line = record.position().map_or(line + 1, |p| p.line());
            let row: Row = record
                .deserialize(Some(&headers))
                .map_err(|e| malformed(line, &e))?;
            let period = Period {
                start_h: row.period_start_h,
                end_h: row.period_end_h,
                realtime_gb_per_h: row.realtime_gb_per_h,
                medblock_gb_per_h: row.medblock_gb_per_h,
            };
            check_period(&period, periods.last())
                .map_err(|problem| BenchError::DayCurve { line, problem })?;
            periods.push(period);
        }
        if periods.is_empty() {
            return Err(BenchError::DayCurve {
                line: line + 1,
                problem: CurveProblem::NoPeriods,
            });
        }
        if periods.iter().all(|p| p.realtime_gb_per_h == 0.0) {
            return Err(BenchError::DayCurve {
                line: 2,
                problem: CurveProblem::NoArrivals,
            });
        }
        Ok(DayCurve { periods })
    }

    /// How many of `total_events` arrive in each period: proportional to the real-time data
    /// flow (the first data column) times the period's length, rounded by largest remainder
    /// (ties to the earlier period) so the counts sum to exactly `total_events`.
    ///
    /// A curve whose weights are all zero or not finite (only possible if built by hand, not
    /// by [`DayCurve::parse`]) is spread by period length alone; a curve without periods has
    /// nowhere to put events and gives an empty vector.
    pub fn arrivals_per_period(&self, total_events: u64) -> Vec<u64> {
        let mut weights: Vec<f64> = self
            .periods
            .iter()
            .map(|p| (p.realtime_gb_per_h * p.hours()).max(0.0))
            .collect();
        if !weights.iter().all(|w| w.is_finite()) || weights.iter().sum::<f64>() <= 0.0 {
            weights = self.periods.iter().map(|p| p.hours().max(0.0)).collect();
        }
        if !weights.iter().all(|w| w.is_finite()) || weights.iter().sum::<f64>() <= 0.0 {
            weights = vec![1.0; self.periods.len()];
        }
        largest_remainder(&weights, total_events)
    }

    /// When each of `total_events` arrives in the compressed day where every period lasts
    /// `period`: period k covers `[k * period, (k + 1) * period)` and its
    /// [`arrivals_per_period`](Self::arrivals_per_period) events are spread evenly inside it
    /// (each at the middle of its equal share). Ascending.
    pub fn arrival_offsets(&self, total_events: u64, period: Duration) -> Vec<Duration> {
        let counts = self.arrivals_per_period(total_events);
        let period_ns = period.as_nanos();
        let mut offsets = Vec::with_capacity(usize::try_from(total_events).unwrap_or(0));
        for (k, &count) in counts.iter().enumerate() {
            let base = k as u128 * period_ns;
            let count = u128::from(count);
            for j in 0..count {
                offsets.push(nanos(base + (2 * j + 1) * period_ns / (2 * count)));
            }
        }
        offsets
    }

    /// Peak over mean of the paper's real-time flow (about 3.06 for the embedded curve).
    pub fn realtime_peak_over_mean(&self) -> f64 {
        self.peak_over_mean(|p| p.realtime_gb_per_h)
    }

    /// Peak over mean of the paper's MedBlock flow (about 1.13 for the embedded curve).
    pub fn medblock_peak_over_mean(&self) -> f64 {
        self.peak_over_mean(|p| p.medblock_gb_per_h)
    }

    /// Peak of a column over its time-weighted mean; 0 when the column is all zero.
    fn peak_over_mean(&self, column: impl Fn(&Period) -> f64) -> f64 {
        let hours: f64 = self.periods.iter().map(Period::hours).sum();
        let volume: f64 = self.periods.iter().map(|p| column(p) * p.hours()).sum();
        let peak = self.periods.iter().map(&column).fold(0.0, f64::max);
        if hours > 0.0 && volume > 0.0 {
            peak / (volume / hours)
        } else {
            0.0
        }
    }
}

/// Checks one period on its own and against the one before it.
fn check_period(period: &Period, previous: Option<&Period>) -> Result<(), CurveProblem> {
    for (column, value) in [
        ("period_start_h", period.start_h),
        ("period_end_h", period.end_h),
        ("realtime_gb_per_h", period.realtime_gb_per_h),
        ("medblock_gb_per_h", period.medblock_gb_per_h),
    ] {
        if !value.is_finite() || value < 0.0 {
            return Err(CurveProblem::BadValue { column, value });
        }
    }
    if period.end_h <= period.start_h {
        return Err(CurveProblem::EmptyPeriod {
            start_h: period.start_h,
            end_h: period.end_h,
        });
    }
    if let Some(previous) = previous
        && (period.start_h - previous.end_h).abs() > CONTIGUITY_TOLERANCE_H
    {
        return Err(CurveProblem::NotContiguous {
            previous_end_h: previous.end_h,
            start_h: period.start_h,
        });
    }
    Ok(())
}

/// Integer shares of `total` proportional to non-negative `weights` with a positive finite
/// sum, summing to exactly `total`: floors first, then one more to the largest remainders.
fn largest_remainder(weights: &[f64], total: u64) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let quotas: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut counts: Vec<u64> = quotas.iter().map(|q| q.floor() as u64).collect();
    // Periods by descending remainder, earlier period first on ties.
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let assigned: u64 = counts.iter().sum();
    if assigned < total {
        // Exact arithmetic leaves fewer than `weights.len()` over; rounding may leave more.
        let mut left = total - assigned;
        for &k in order.iter().cycle() {
            if left == 0 {
                break;
            }
            counts[k] += 1;
            left -= 1;
        }
    } else {
        // Only floating-point rounding can over-assign; take back from the smallest remainders.
        let mut over = assigned - total;
        while over > 0 {
            let mut took = false;
            for &k in order.iter().rev() {
                if over > 0 && counts[k] > 0 {
                    counts[k] -= 1;
                    over -= 1;
                    took = true;
                }
            }
            if !took {
                break;
            }
        }
    }
    counts
}

/// A duration from nanoseconds that may exceed `u64`.
fn nanos(ns: u128) -> Duration {
    let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (ns % 1_000_000_000) as u32)
}

/// `8.0` as `"08"`, `8.5` as `"08.5"`.
fn hour_label(h: f64) -> String {
    if h.fract() == 0.0 {
        format!("{h:02.0}")
    } else {
        format!("{h:04.1}")
    }
}

/// A CSV error as a malformed-row day-curve error at `line`.
fn malformed(line: u64, e: &csv::Error) -> BenchError {
    BenchError::DayCurve {
        line,
        problem: CurveProblem::Malformed(e.to_string()),
    }
}

/// The line a CSV error points at, when the reader knows it.
fn error_line(e: &csv::Error) -> Option<u64> {
    e.position().map(csv::Position::line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "period_start_h,period_end_h,realtime_gb_per_h,medblock_gb_per_h\n";

    fn problem(text: &str) -> (u64, CurveProblem) {
        match DayCurve::parse(text) {
            Err(BenchError::DayCurve { line, problem }) => (line, problem),
            other => panic!("expected a day curve error, got {other:?}"),
        }
    }

    #[test]
    fn embedded_curve_is_the_papers_twelve_periods() {
        let c = DayCurve::embedded();
        assert_eq!(c.periods.len(), 12);
        assert_eq!(c.periods[0].start_h, 0.0);
        assert_eq!(c.periods[11].end_h, 24.0);
        assert_eq!(c.periods[7].realtime_gb_per_h, 8.421);
        assert_eq!(c.periods[8].medblock_gb_per_h, 2.642);
        assert_eq!(c.periods[0].label(), "00-02");
        assert_eq!(c.periods[11].label(), "22-24");
    }

    #[test]
    fn fractional_hours_keep_a_decimal_in_labels() {
        let p = Period {
            start_h: 8.5,
            end_h: 10.0,
            realtime_gb_per_h: 1.0,
            medblock_gb_per_h: 1.0,
        };
        assert_eq!(p.label(), "08.5-10");
    }

    #[test]
    fn malformed_row_names_its_line() {
        let text = format!("{HEADER}0,2,1,1\n2,4,lots,1\n");
        let (line, p) = problem(&text);
        assert_eq!(line, 3);
        assert!(matches!(p, CurveProblem::Malformed(_)));
    }

    #[test]
    fn short_row_is_malformed() {
        let text = format!("{HEADER}0,2,1\n");
        let (line, p) = problem(&text);
        assert_eq!(line, 2);
        assert!(matches!(p, CurveProblem::Malformed(_)));
    }

    #[test]
    fn wrong_header_is_malformed() {
        let (_, p) = problem("start,end,a,b\n0,2,1,1\n");
        assert!(matches!(p, CurveProblem::Malformed(_)));
    }

    #[test]
    fn negative_and_non_finite_values_are_refused() {
        let (line, p) = problem(&format!("{HEADER}0,2,1,1\n2,4,-1,1\n"));
        assert_eq!(line, 3);
        assert_eq!(
            p,
            CurveProblem::BadValue {
                column: "realtime_gb_per_h",
                value: -1.0
            }
        );
        let (_, p) = problem(&format!("{HEADER}0,2,1,inf\n"));
        assert!(matches!(
            p,
            CurveProblem::BadValue {
                column: "medblock_gb_per_h",
                ..
            }
        ));
        let (_, p) = problem(&format!("{HEADER}0,2,NaN,1\n"));
        assert!(matches!(p, CurveProblem::BadValue { .. }));
    }

    #[test]
    fn no_periods_is_refused() {
        assert_eq!(problem(HEADER).1, CurveProblem::NoPeriods);
        assert_eq!(problem("").1, CurveProblem::NoPeriods);
    }

    #[test]
    fn gaps_overlaps_and_empty_periods_are_refused() {
        let (line, p) = problem(&format!("{HEADER}0,2,1,1\n3,4,1,1\n"));
        assert_eq!(line, 3);
        assert_eq!(
            p,
            CurveProblem::NotContiguous {
                previous_end_h: 2.0,
                start_h: 3.0
            }
        );
        let (_, p) = problem(&format!("{HEADER}0,2,1,1\n1,4,1,1\n"));
        assert!(matches!(p, CurveProblem::NotContiguous { .. }));
        let (_, p) = problem(&format!("{HEADER}2,2,1,1\n"));
        assert!(matches!(p, CurveProblem::EmptyPeriod { .. }));
    }

    #[test]
    fn a_curve_without_arrivals_is_refused() {
        let (_, p) = problem(&format!("{HEADER}0,2,0,1\n2,4,0,1\n"));
        assert_eq!(p, CurveProblem::NoArrivals);
    }

    #[test]
    fn arrivals_follow_the_realtime_column_and_sum_exactly() {
        let c = DayCurve::embedded();
        // Total real-time volume is 2 h * 32.997 GB/h; with 32_997 events each period gets
        // exactly 1000 * its GB/h figure.
        let a = c.arrivals_per_period(32_997);
        assert_eq!(
            a,
            vec![41, 21, 17, 22, 4545, 7822, 6953, 8421, 3211, 978, 721, 245]
        );
        assert_eq!(c.arrivals_per_period(0), vec![0; 12]);
        assert_eq!(c.arrivals_per_period(7).iter().sum::<u64>(), 7);
    }

    #[test]
    fn largest_remainder_rounds_ties_to_the_earlier_period() {
        assert_eq!(largest_remainder(&[1.0, 1.0, 1.0], 2), vec![1, 1, 0]);
        assert_eq!(largest_remainder(&[1.0, 2.0], 1), vec![0, 1]);
        assert_eq!(largest_remainder(&[0.2, 0.3, 0.5], 10), vec![2, 3, 5]);
    }

    #[test]
    fn longer_periods_get_more_arrivals_at_the_same_rate() {
        let c = DayCurve::parse(&format!("{HEADER}0,1,3,1\n1,3,3,1\n")).unwrap();
        assert_eq!(c.arrivals_per_period(30), vec![10, 20]);
    }

    #[test]
    fn offsets_are_spread_inside_their_period() {
        let c = DayCurve::parse(&format!("{HEADER}0,2,1,1\n2,4,0,1\n4,6,3,1\n")).unwrap();
        let period = Duration::from_secs(10);
        // Counts are [1, 0, 3]: one event in the middle of period 0, three at the middles of
        // the thirds of period 2, which spans 20..30 s.
        let o = c.arrival_offsets(4, period);
        assert_eq!(
            o,
            vec![
                Duration::from_secs(5),
                Duration::from_nanos(21_666_666_666),
                Duration::from_secs(25),
                Duration::from_nanos(28_333_333_333),
            ]
        );
    }

    proptest! {
        #[test]
        fn arrivals_always_sum_to_the_total(total in 0u64..5_000_000) {
            let c = DayCurve::embedded();
            let a = c.arrivals_per_period(total);
            prop_assert_eq!(a.len(), 12);
            prop_assert_eq!(a.iter().sum::<u64>(), total);
        }

        #[test]
        fn offsets_are_sorted_and_in_their_periods(total in 0u64..20_000, period_ms in 1u64..10_000) {
            let c = DayCurve::embedded();
            let period = Duration::from_millis(period_ms);
            let o = c.arrival_offsets(total, period);
            prop_assert_eq!(o.len() as u64, total);
            prop_assert!(o.windows(2).all(|w| w[0] <= w[1]));
            let counts = c.arrivals_per_period(total);
            let mut seen = vec![0u64; 12];
            for d in &o {
                let k = (d.as_nanos() / period.as_nanos()) as usize;
                prop_assert!(k < 12);
                seen[k] += 1;
            }
            prop_assert_eq!(seen, counts);
        }
    }
}
