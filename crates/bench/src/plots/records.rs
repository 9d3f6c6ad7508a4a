//! Patient record lookup against ledger size: what bread crumbs save over a full scan.

use super::{
    COLOURS, FAMILY, Line, draw_png, drawable_on_log, legend, legend_line, log_axis_label,
    log_range,
};
use crate::error::BenchError;
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One ledger size and how long a patient's `records` lookup took with and without crumbs.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct RecordsRow {
    /// Events in the ledger.
    pub ledger_events: u64,
    /// Lookup following the patient's bread crumbs, ms.
    pub crumbs_ms: f64,
    /// Lookup scanning every block, ms.
    pub full_scan_ms: f64,
}

/// Draws `records.png` in `dir`: lookup time with crumbs and by full scan against ledger size,
/// log-log, so a flat line and a proportional one are told apart at a glance.
pub fn records(dir: &Path, rows: &[RecordsRow]) -> Result<PathBuf, BenchError> {
    draw_png(dir, "records.png", |root| {
        let x = log_range(rows.iter().map(|r| r.ledger_events as f64));
        let y = log_range(rows.iter().flat_map(|r| [r.crumbs_ms, r.full_scan_ms]));
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Patient records lookup: bread crumbs vs full scan",
                (FAMILY, 26),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x.log_scale(), y.log_scale())?;
        chart
            .configure_mesh()
            .x_desc("events in the ledger (log scale)")
            .y_desc("lookup time (ms, log scale)")
            .x_label_formatter(&log_axis_label)
            .y_label_formatter(&log_axis_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .draw()?;
        let lines: [Line<RecordsRow>; 2] = [
            ("bread crumbs", |r| r.crumbs_ms),
            ("full scan", |r| r.full_scan_ms),
        ];
        for ((label, value), colour) in lines.into_iter().zip(COLOURS) {
            let series = rows
                .iter()
                .map(|r| (r.ledger_events as f64, value(r)))
                .filter(|&(x, y)| drawable_on_log(x) && drawable_on_log(y));
            chart
                .draw_series(LineSeries::new(series, colour.stroke_width(2)).point_size(4))?
                .label(label)
                .legend(legend_line(colour));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::tests::assert_png;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            RecordsRow {
                ledger_events: 10_000,
                crumbs_ms: 0.4,
                full_scan_ms: 30.0,
            },
            RecordsRow {
                ledger_events: 100_000,
                crumbs_ms: 0.5,
                full_scan_ms: 310.0,
            },
            RecordsRow {
                ledger_events: 1_000_000,
                crumbs_ms: 0.6,
                full_scan_ms: 3_200.0,
            },
        ];
        let path = records(dir.path(), &rows).unwrap();
        assert_eq!(path, dir.path().join("records.png"));
        assert_png(&path);
    }
}
