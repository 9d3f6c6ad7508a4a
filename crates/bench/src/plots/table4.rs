//! The paper's Table 4 as a figure: our time to serve provider requests beside MedBlock's and
//! MeDShare's published times.

use super::{
    COLOURS, FAMILY, Line, axis_number, draw_png, drawable_on_log, legend, legend_line,
    log_axis_label, log_range, range_from_zero,
};
use crate::error::BenchError;
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One row of Table 4: a number of provider requests and the seconds each system took.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Table4Row {
    /// Provider requests (uploads and their confirmation).
    pub requests: u32,
    /// Seconds this run took.
    pub measured_s: f64,
    /// Seconds MedBlock took in the paper.
    pub paper_medblock_s: f64,
    /// Seconds MeDShare took in the paper.
    pub paper_medshare_s: f64,
}

/// Draws `table4.png` in `dir`: three lines of seconds against requests, on a log axis since
/// the measured times are orders of magnitude below the paper's.
pub fn table4(dir: &Path, rows: &[Table4Row]) -> Result<PathBuf, BenchError> {
    draw_png(dir, "table4.png", |root| {
        let x = range_from_zero(rows.iter().map(|r| f64::from(r.requests)));
        let y = log_range(
            rows.iter()
                .flat_map(|r| [r.measured_s, r.paper_medblock_s, r.paper_medshare_s]),
        );
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Table 4: time to serve provider requests, measured vs paper",
                (FAMILY, 26),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y.log_scale())?;
        chart
            .configure_mesh()
            .x_desc("provider requests")
            .y_desc("seconds (log scale)")
            .x_label_formatter(&axis_number)
            .y_label_formatter(&log_axis_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .draw()?;
        let lines: [Line<Table4Row>; 3] = [
            ("measured (this run)", |r| r.measured_s),
            ("MedBlock (Fan et al. 2018)", |r| r.paper_medblock_s),
            ("MeDShare (Fan et al. 2018)", |r| r.paper_medshare_s),
        ];
        for ((label, value), colour) in lines.into_iter().zip(COLOURS) {
            let series = rows
                .iter()
                .map(|r| (f64::from(r.requests), value(r)))
                .filter(|&(_, y)| drawable_on_log(y));
            chart
                .draw_series(LineSeries::new(series, colour.stroke_width(2)).point_size(4))?
                .label(label)
                .legend(legend_line(colour));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::TABLE4;
    use crate::plots::tests::assert_png;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Table4Row> = TABLE4
            .iter()
            .map(|&(requests, medblock, medshare)| Table4Row {
                requests,
                measured_s: f64::from(requests) * 0.02,
                paper_medblock_s: medblock,
                paper_medshare_s: medshare,
            })
            .collect();
        let path = table4(dir.path(), &rows).unwrap();
        assert_eq!(path, dir.path().join("table4.png"));
        assert_png(&path);
    }
}
