//! The rows of the Table 5 CSV: one per period, our committed flows beside the paper's, because
//! a [`Flow`] holds a per-period vector that CSV cannot put in one row.

use crate::day::DayCurve;
use crate::flow::Flow;
use serde::Serialize;

/// One period of Table 5: arrivals, what each upload strategy committed, and the paper's flows.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Table5Row {
    /// Period label, e.g. `"08-10"`.
    pub period: String,
    /// Events the day curve scheduled to arrive in the period.
    pub arrivals: u64,
    /// Events committed in the period by real-time upload.
    pub realtime_committed: u64,
    /// Events committed in the period by turn-based upload.
    pub turn_based_committed: u64,
    /// The paper's real-time ("others") flow in the period, GB/h.
    pub paper_realtime_gb_per_h: f64,
    /// The paper's MedBlock flow in the period, GB/h.
    pub paper_medblock_gb_per_h: f64,
}

/// One row per period of `curve`, with `arrivals` (e.g. from
/// [`DayCurve::arrivals_per_period`]) and the two runs' committed counts; a period missing
/// from a vector reads as 0.
pub fn table5_rows(
    curve: &DayCurve,
    arrivals: &[u64],
    realtime: &Flow,
    turn_based: &Flow,
) -> Vec<Table5Row> {
    let at = |v: &[u64], k: usize| v.get(k).copied().unwrap_or(0);
    curve
        .periods
        .iter()
        .enumerate()
        .map(|(k, p)| Table5Row {
            period: p.label(),
            arrivals: at(arrivals, k),
            realtime_committed: at(&realtime.per_period, k),
            turn_based_committed: at(&turn_based.per_period, k),
            paper_realtime_gb_per_h: p.realtime_gb_per_h,
            paper_medblock_gb_per_h: p.medblock_gb_per_h,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Committed, analyse};
    use crate::output::ResultsDir;

    #[test]
    fn one_row_per_period_that_writes_as_csv() {
        let curve = DayCurve::embedded();
        let arrivals = curve.arrivals_per_period(32_997);
        let realtime = analyse(
            &[Committed {
                arrived_s: 75.0,
                committed_s: 75.5,
            }],
            10.0,
            12,
        );
        let rows = table5_rows(&curve, &arrivals, &realtime, &Flow::default());
        assert_eq!(rows.len(), 12);
        assert_eq!(rows[7].period, "14-16");
        assert_eq!(rows[7].arrivals, 8421);
        assert_eq!(rows[7].realtime_committed, 1);
        assert_eq!(rows[7].turn_based_committed, 0);
        assert_eq!(rows[7].paper_medblock_gb_per_h, 2.542);

        let base = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(base.path(), "run").unwrap();
        let path = dir.write_csv("table5.csv", &rows).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with(
            "period,arrivals,realtime_committed,turn_based_committed,paper_realtime_gb_per_h,paper_medblock_gb_per_h\n00-02,41,0,0,0.041,2.478\n"
        ));
        assert_eq!(text.lines().count(), 13);
    }
}
