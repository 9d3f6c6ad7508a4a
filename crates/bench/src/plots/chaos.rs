//! The timeline of a `testnet chaos` run: the best committed height over time, with every
//! perturbation drawn as a shaded span (from the fault to its undo) in its kind's colour and a
//! mark where the height moved again.

use super::{COLOURS, FAMILY, axis_number, draw_png, legend, legend_box, legend_line};
use crate::error::BenchError;
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One perturbation as the timeline shows it.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct ChaosSpan {
    /// What was done: `kill`, `pause`, `disconnect` (anything else is drawn grey).
    pub kind: String,
    /// Seconds from the start of the run when it was applied.
    pub start_s: f64,
    /// Seconds from the start when it was undone (the node restarted, resumed, reconnected).
    pub end_s: f64,
    /// Seconds from the start when the best height moved again after it (NaN if never).
    pub recovered_s: f64,
}

/// The colour of a perturbation kind.
fn colour_of(kind: &str) -> RGBColor {
    match kind {
        "kill" => COLOURS[1],
        "pause" => COLOURS[3],
        "disconnect" => COLOURS[2],
        _ => RGBColor(128, 128, 128),
    }
}

/// Draws `dir/file` (e.g. `timeline.png`): the best height against seconds since the start
/// (`heights`, in time order) and the perturbations as shaded spans, a dot where the network
/// recovered from each.
pub fn chaos_timeline(
    dir: &Path,
    file: &str,
    title: &str,
    heights: &[(f64, u64)],
    spans: &[ChaosSpan],
) -> Result<PathBuf, BenchError> {
    draw_png(dir, file, |root| {
        let end = heights
            .iter()
            .map(|(t, _)| *t)
            .chain(spans.iter().flat_map(|s| [s.end_s, s.recovered_s]))
            .filter(|t| t.is_finite())
            .fold(1.0, f64::max);
        let low = heights.iter().map(|(_, h)| *h).min().unwrap_or(0) as f64;
        let high = heights.iter().map(|(_, h)| *h).max().unwrap_or(0) as f64;
        let (low, high) = if high > low {
            (low, high + (high - low) * 0.05)
        } else {
            (low, low + 1.0)
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 24))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..end * 1.02, low..high)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start of the run")
            .y_desc("best committed height")
            .x_label_formatter(&axis_number)
            .y_label_formatter(&axis_number)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .draw()?;
        for kind in ["kill", "pause", "disconnect"] {
            let colour = colour_of(kind);
            let mine: Vec<&ChaosSpan> = spans.iter().filter(|s| s.kind == kind).collect();
            if mine.is_empty() {
                continue;
            }
            chart
                .draw_series(mine.iter().map(|s| {
                    let end = if s.end_s > s.start_s {
                        s.end_s
                    } else {
                        s.start_s + end * 0.002
                    };
                    Rectangle::new([(s.start_s, low), (end, high)], colour.mix(0.25).filled())
                }))?
                .label(format!("{kind} (until undone)"))
                .legend(legend_box(colour));
        }
        let others: Vec<&ChaosSpan> = spans
            .iter()
            .filter(|s| !["kill", "pause", "disconnect"].contains(&s.kind.as_str()))
            .collect();
        if !others.is_empty() {
            chart.draw_series(others.iter().map(|s| {
                Rectangle::new(
                    [(s.start_s, low), (s.end_s.max(s.start_s), high)],
                    colour_of("").mix(0.25).filled(),
                )
            }))?;
        }
        let line = COLOURS[0];
        chart
            .draw_series(LineSeries::new(
                heights.iter().map(|(t, h)| (*t, *h as f64)),
                line.stroke_width(2),
            ))?
            .label("best height (every node's /status)")
            .legend(legend_line(line));
        // Where the height moved again after each perturbation.
        let recovered: Vec<(f64, f64)> = spans
            .iter()
            .filter(|s| s.recovered_s.is_finite())
            .map(|s| (s.recovered_s, height_at(heights, s.recovered_s)))
            .collect();
        chart
            .draw_series(recovered.iter().map(|p| Circle::new(*p, 4, BLACK.filled())))?
            .label("height moved again")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, BLACK.filled()));
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// The height at time `t` (the last sample at or before it).
fn height_at(heights: &[(f64, u64)], t: f64) -> f64 {
    heights
        .iter()
        .take_while(|(s, _)| *s <= t)
        .last()
        .or(heights.first())
        .map_or(0.0, |(_, h)| *h as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::tests::assert_png;

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let heights: Vec<(f64, u64)> = (0..300).map(|i| (i as f64 * 0.1, 10 + i / 5)).collect();
        let spans = vec![
            ChaosSpan {
                kind: "kill".into(),
                start_s: 3.0,
                end_s: 4.5,
                recovered_s: 5.0,
            },
            ChaosSpan {
                kind: "pause".into(),
                start_s: 10.0,
                end_s: 11.0,
                recovered_s: f64::NAN,
            },
            ChaosSpan {
                kind: "disconnect".into(),
                start_s: 20.0,
                end_s: 22.0,
                recovered_s: 20.4,
            },
            ChaosSpan {
                kind: "other".into(),
                start_s: 25.0,
                end_s: 25.0,
                recovered_s: 26.0,
            },
        ];
        let path = chaos_timeline(dir.path(), "timeline.png", "chaos", &heights, &spans).unwrap();
        assert_eq!(path, dir.path().join("timeline.png"));
        assert_png(&path);
    }

    #[test]
    fn nothing_still_draws_the_axes() {
        let dir = tempfile::tempdir().unwrap();
        assert_png(&chaos_timeline(dir.path(), "t.png", "empty", &[], &[]).unwrap());
        assert_eq!(height_at(&[], 1.0), 0.0);
        assert_eq!(height_at(&[(1.0, 5), (2.0, 6)], 0.5), 5.0);
        assert_eq!(height_at(&[(1.0, 5), (2.0, 6)], 2.5), 6.0);
    }
}
