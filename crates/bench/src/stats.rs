//! Latency percentiles, the numbers every latency row and plot of the bench reports.

use serde::Serialize;

/// Summary of a set of latency samples in milliseconds.
///
/// Percentiles use the nearest-rank definition: the p-th percentile is the smallest sample such
/// that at least p % of the samples are at or below it, so every reported value is a latency
/// some event really saw (no interpolation between two events).
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Samples summarised (NaN samples excluded).
    pub count: usize,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// 99.9th percentile (nearest rank).
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Summarises `samples_ms`, in any order. NaN samples are ignored (a latency that could not
    /// be measured is not a latency); no samples gives all zeros.
    pub fn from_samples(samples_ms: &[f64]) -> Percentiles {
        let mut sorted: Vec<f64> = samples_ms.iter().copied().filter(|s| !s.is_nan()).collect();
        if sorted.is_empty() {
            return Percentiles::default();
        }
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let mean_ms = sorted.iter().sum::<f64>() / count as f64;
        Percentiles {
            count,
            mean_ms,
            p50_ms: nearest_rank(&sorted, 500),
            p99_ms: nearest_rank(&sorted, 990),
            p999_ms: nearest_rank(&sorted, 999),
            max_ms: sorted[count - 1],
        }
    }
}

/// The nearest-rank percentile `per_mille`/1000 of non-empty ascending `sorted`, in integer
/// arithmetic so that, e.g., p99 of 100 samples is exactly the 99th.
fn nearest_rank(sorted: &[f64], per_mille: usize) -> f64 {
    let n = sorted.len();
    let rank = (n * per_mille).div_ceil(1000).clamp(1, n);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_is_all_zero() {
        assert_eq!(Percentiles::from_samples(&[]), Percentiles::default());
        assert_eq!(
            Percentiles::from_samples(&[f64::NAN]),
            Percentiles::default()
        );
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let p = Percentiles::from_samples(&[7.5]);
        assert_eq!(p.count, 1);
        assert_eq!(
            (p.mean_ms, p.p50_ms, p.p99_ms, p.p999_ms, p.max_ms),
            (7.5, 7.5, 7.5, 7.5, 7.5)
        );
    }

    #[test]
    fn nearest_rank_of_one_to_a_hundred() {
        // Reversed, to show the input order does not matter.
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::from_samples(&samples);
        assert_eq!(p.count, 100);
        assert_eq!(p.mean_ms, 50.5);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.p999_ms, 100.0);
        assert_eq!(p.max_ms, 100.0);
    }

    #[test]
    fn nearest_rank_of_one_to_two_thousand() {
        let samples: Vec<f64> = (1..=2000).map(f64::from).collect();
        let p = Percentiles::from_samples(&samples);
        assert_eq!(p.p50_ms, 1000.0);
        assert_eq!(p.p99_ms, 1980.0);
        assert_eq!(p.p999_ms, 1998.0);
        assert_eq!(p.max_ms, 2000.0);
    }

    #[test]
    fn nan_samples_are_ignored() {
        let p = Percentiles::from_samples(&[f64::NAN, 1.0, 3.0, f64::NAN, 2.0]);
        assert_eq!(p.count, 3);
        assert_eq!(p.mean_ms, 2.0);
        assert_eq!(p.p50_ms, 2.0);
        assert_eq!(p.max_ms, 3.0);
    }

    proptest! {
        #[test]
        fn percentiles_are_ordered(samples in proptest::collection::vec(0.0f64..1e6, 1..500)) {
            let p = Percentiles::from_samples(&samples);
            let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
            prop_assert_eq!(p.count, samples.len());
            prop_assert!(min <= p.p50_ms);
            prop_assert!(p.p50_ms <= p.p99_ms);
            prop_assert!(p.p99_ms <= p.p999_ms);
            prop_assert!(p.p999_ms <= p.max_ms);
            prop_assert!(min <= p.mean_ms && p.mean_ms <= p.max_ms * (1.0 + 1e-12));
            prop_assert!(samples.contains(&p.p50_ms) && samples.contains(&p.p99_ms));
        }
    }
}
