//! Throughput and latency against offered load: where the network saturates and what latency
//! costs on the way there.

use super::{
    COLOURS, FAMILY, Line, axis_number, draw_png, drawable_on_log, legend, legend_line,
    log_axis_label, log_range, range_from_zero,
};
use crate::error::BenchError;
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One offered rate of the open-loop run and what came of it.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct LoadPoint {
    /// Events per second submitted, whatever the network did.
    pub offered_per_s: f64,
    /// Events per second committed.
    pub committed_per_s: f64,
    /// Median submit-to-commit latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, ms.
    pub p999_ms: f64,
}

/// Draws `throughput-latency.png` in `dir`: p50/p99/p99.9 latency (log axis, left) and
/// committed events/s (right axis, with the offered rate as a dashed reference) against the
/// offered rate.
pub fn latency_vs_load(dir: &Path, points: &[LoadPoint]) -> Result<PathBuf, BenchError> {
    draw_png(dir, "throughput-latency.png", |root| {
        let x = range_from_zero(points.iter().map(|p| p.offered_per_s));
        let latency = log_range(points.iter().flat_map(|p| [p.p50_ms, p.p99_ms, p.p999_ms]));
        let rate = range_from_zero(
            points
                .iter()
                .flat_map(|p| [p.offered_per_s, p.committed_per_s]),
        );
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Throughput and submit-to-commit latency vs offered load",
                (FAMILY, 26),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .right_y_label_area_size(80)
            .build_cartesian_2d(x.clone(), latency.log_scale())?
            .set_secondary_coord(x, rate);
        chart
            .configure_mesh()
            .x_desc("offered load (events/s)")
            .y_desc("latency (ms, log scale)")
            .x_label_formatter(&axis_number)
            .y_label_formatter(&log_axis_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("committed (events/s)")
            .y_label_formatter(&axis_number)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .draw()?;
        let lines: [Line<LoadPoint>; 3] = [
            ("p50 latency", |p| p.p50_ms),
            ("p99 latency", |p| p.p99_ms),
            ("p99.9 latency", |p| p.p999_ms),
        ];
        for ((label, value), colour) in lines.into_iter().zip(COLOURS) {
            let series = points
                .iter()
                .map(|p| (p.offered_per_s, value(p)))
                .filter(|&(x, y)| x.is_finite() && drawable_on_log(y));
            chart
                .draw_series(LineSeries::new(series, colour.stroke_width(2)).point_size(4))?
                .label(label)
                .legend(legend_line(colour));
        }
        let committed = COLOURS[3];
        chart
            .draw_secondary_series(
                LineSeries::new(
                    points
                        .iter()
                        .map(|p| (p.offered_per_s, p.committed_per_s))
                        .filter(|&(x, y)| x.is_finite() && y.is_finite()),
                    committed.stroke_width(3),
                )
                .point_size(4),
            )?
            .label("committed events/s (right axis)")
            .legend(legend_line(committed));
        let offered = points
            .iter()
            .map(|p| p.offered_per_s)
            .filter(|x| x.is_finite())
            .fold(0.0, f64::max);
        chart
            .draw_secondary_series(DashedLineSeries::new(
                [(0.0, 0.0), (offered, offered)],
                6,
                4,
                BLACK.stroke_width(1),
            ))?
            .label("committed = offered (right axis)")
            .legend(legend_line(BLACK));
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
        let points: Vec<LoadPoint> = [100.0, 200.0, 400.0, 800.0]
            .iter()
            .map(|&offered| LoadPoint {
                offered_per_s: offered,
                committed_per_s: offered.min(500.0),
                p50_ms: offered / 10.0,
                p99_ms: offered / 2.0,
                p999_ms: offered,
            })
            .collect();
        let path = latency_vs_load(dir.path(), &points).unwrap();
        assert_eq!(path, dir.path().join("throughput-latency.png"));
        assert_png(&path);
    }

    #[test]
    fn no_points_still_draws_the_axes() {
        let dir = tempfile::tempdir().unwrap();
        assert_png(&latency_vs_load(dir.path(), &[]).unwrap());
    }
}
