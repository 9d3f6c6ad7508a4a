//! The paper's Table 5 / Fig. 7 as a figure: committed events per period of the compressed
//! day for real-time and turn-based upload, over the arrivals the day curve asked for.

use super::{
    COLOURS, FAMILY, axis_number, draw_png, legend, legend_box, legend_line, range_from_zero,
};
use crate::day::DayCurve;
use crate::error::BenchError;
use crate::flow::Flow;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Draws `table5-fig7.png` in `dir`: per period (x, labelled `00-02` .. `22-24` from `curve`),
/// grouped bars of the events committed by real-time and by turn-based upload, and a line of
/// the arrivals `curve` prescribes for the same number of events (the larger of the two runs'
/// totals). Peak over mean and the longest delay of each run are in the legend.
pub fn table5(
    dir: &Path,
    curve: &DayCurve,
    realtime: &Flow,
    turn_based: &Flow,
) -> Result<PathBuf, BenchError> {
    let total = realtime
        .per_period
        .iter()
        .sum::<u64>()
        .max(turn_based.per_period.iter().sum());
    let arrivals = curve.arrivals_per_period(total);
    let periods = curve
        .periods
        .len()
        .max(realtime.per_period.len())
        .max(turn_based.per_period.len());
    let labels: Vec<String> = (0..periods)
        .map(|k| match curve.periods.get(k) {
            Some(p) => p.label(),
            None => format!("p{k}"),
        })
        .collect();
    draw_png(dir, "table5-fig7.png", |root| {
        let y = range_from_zero(
            realtime
                .per_period
                .iter()
                .chain(&turn_based.per_period)
                .chain(&arrivals)
                .map(|&n| n as f64),
        );
        // Period k is centred on x = k, so the axis labels land on the integers.
        let x = -0.5..(periods.max(1) as f64 - 0.5);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Table 5 / Fig. 7: committed flow per period of the compressed day",
                (FAMILY, 26),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y)?;
        let label_of = |x: &f64| {
            let k = x.round();
            match labels.get(k as usize) {
                Some(label) if (x - k).abs() < 1e-6 && k >= 0.0 => label.clone(),
                _ => String::new(),
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(periods.max(1))
            .x_label_formatter(&label_of)
            .x_desc("period of the day (hours, compressed)")
            .y_desc("events committed per period")
            .y_label_formatter(&axis_number)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .draw()?;
        let bars = [
            (
                format!(
                    "real-time upload (peak/mean {:.2}, max delay {:.2} periods)",
                    realtime.peak_over_mean, realtime.max_delay_periods
                ),
                &realtime.per_period,
                -0.4,
            ),
            (
                format!(
                    "turn-based upload (peak/mean {:.2}, max delay {:.2} periods)",
                    turn_based.peak_over_mean, turn_based.max_delay_periods
                ),
                &turn_based.per_period,
                0.02,
            ),
        ];
        for ((label, counts, offset), colour) in bars.into_iter().zip(COLOURS) {
            chart
                .draw_series(counts.iter().enumerate().map(|(k, &n)| {
                    let left = k as f64 + offset;
                    Rectangle::new([(left, 0.0), (left + 0.38, n as f64)], colour.filled())
                }))?
                .label(label)
                .legend(legend_box(colour));
        }
        let arrival_colour = BLACK;
        chart
            .draw_series(
                LineSeries::new(
                    arrivals
                        .iter()
                        .enumerate()
                        .map(|(k, &n)| (k as f64, n as f64)),
                    arrival_colour.stroke_width(2),
                )
                .point_size(3),
            )?
            .label("arrivals (day curve)")
            .legend(legend_line(arrival_colour));
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Committed, analyse};
    use crate::plots::tests::assert_png;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let curve = DayCurve::embedded();
        let period = std::time::Duration::from_secs(10);
        let offsets = curve.arrival_offsets(2_000, period);
        let immediate: Vec<Committed> = offsets
            .iter()
            .map(|o| Committed {
                arrived_s: o.as_secs_f64(),
                committed_s: o.as_secs_f64() + 0.5,
            })
            .collect();
        let paced: Vec<Committed> = offsets
            .iter()
            .enumerate()
            .map(|(i, o)| Committed {
                arrived_s: o.as_secs_f64(),
                committed_s: i as f64 * 120.0 / 2_000.0,
            })
            .collect();
        let realtime = analyse(&immediate, 10.0, 12);
        let turn_based = analyse(&paced, 10.0, 12);
        let path = table5(dir.path(), &curve, &realtime, &turn_based).unwrap();
        assert_eq!(path, dir.path().join("table5-fig7.png"));
        assert_png(&path);
    }

    #[test]
    fn empty_flows_still_draw() {
        let dir = tempfile::tempdir().unwrap();
        let curve = DayCurve::embedded();
        let empty = analyse(&[], 10.0, 12);
        assert_png(&table5(dir.path(), &curve, &empty, &empty).unwrap());
    }
}
