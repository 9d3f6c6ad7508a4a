//! The PNG figures of `medblock bench` (1024x640, titled, labelled, with a legend), drawn with
//! an embedded font so they look the same on any machine, fonts installed or not.

mod chaos;
mod load;
mod records;
mod table4;
mod table5;

pub use chaos::{ChaosSpan, chaos_timeline};
pub use load::{LoadPoint, latency_vs_load};
pub use records::{RecordsRow, records};
pub use table4::{Table4Row, table4};
pub use table5::table5;

use crate::error::BenchError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Width and height of every figure, pixels.
pub const SIZE: (u32, u32) = (1024, 640);

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Font family every text of the figures uses; the embedded font is registered under it.
const FAMILY: &str = "sans-serif";

/// Whether registering the embedded font succeeded (done once per process).
static FONT_READY: OnceLock<bool> = OnceLock::new();

/// The drawing area of one figure.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Whatever went wrong while drawing, as text for [`BenchError::Plot`].
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A line of a figure: its legend text and how to read its value from a row.
type Line<R> = (&'static str, fn(&R) -> f64);

/// Series colours, distinguishable in print.
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
];

/// Draws one figure into `dir/file` with `paint` on a white canvas and writes the PNG.
fn draw_png(
    dir: &Path,
    file: &str,
    paint: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<PathBuf, BenchError> {
    let path = dir.join(file);
    let fail = |message: String| BenchError::Plot {
        path: path.clone(),
        message,
    };
    let font_ready = *FONT_READY
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if !font_ready {
        return Err(fail("the embedded font could not be loaded".to_string()));
    }
    let root = BitMapBackend::new(&path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    paint(&root).map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    drop(root);
    Ok(path)
}

/// A legend entry: a short line in `colour`.
fn legend_line(colour: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
}

/// A legend entry: a small filled box in `colour`.
fn legend_box(colour: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
}

/// Draws the legend of `chart`'s labelled series in the given corner.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 16))
        .draw()?;
    Ok(())
}

/// An axis range from 0 to a little above the largest finite value (0..1 if there is none).
fn range_from_zero(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let max = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    if max > 0.0 { 0.0..max * 1.08 } else { 0.0..1.0 }
}

/// A log-axis range around the positive finite values (1..10 if there are none).
fn log_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (low, high) = values
        .into_iter()
        .filter(|&v| drawable_on_log(v))
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if high > 0.0 {
        low / 1.5..high * 1.5
    } else {
        1.0..10.0
    }
}

/// A tick label without noise: `2000` not `2000.0`, `1.5M`, `250k`, `0.25`.
fn axis_number(v: &f64) -> String {
    let v = *v;
    let magnitude = v.abs();
    let trimmed = |x: f64, decimals: usize| {
        let text = format!("{x:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    if magnitude >= 1e6 {
        format!("{}M", trimmed(v / 1e6, 2))
    } else if magnitude >= 1e4 {
        format!("{}k", trimmed(v / 1e3, 1))
    } else if magnitude >= 100.0 {
        format!("{v:.0}")
    } else {
        trimmed(v, 3)
    }
}

/// Tick labels of a log axis: only 1, 2 and 5 times a power of ten are written, so the
/// crowded ticks under each power of ten do not overprint each other.
fn log_axis_label(v: &f64) -> String {
    if !drawable_on_log(*v) {
        return String::new();
    }
    let mantissa = *v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6 * m)
    {
        axis_number(v)
    } else {
        String::new()
    }
}

/// Whether `v` can be placed on a log axis.
fn drawable_on_log(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first eight bytes of every PNG file.
    pub(super) const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

    /// Asserts `path` is a non-empty PNG file.
    pub(super) fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            bytes.len() > PNG_SIGNATURE.len(),
            "{} is empty",
            path.display()
        );
        assert_eq!(bytes[..8], PNG_SIGNATURE, "{} is not a PNG", path.display());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(axis_number(&2000.0), "2000");
        assert_eq!(axis_number(&1_000_000.0), "1M");
        assert_eq!(axis_number(&1_500_000.0), "1.5M");
        assert_eq!(axis_number(&250_000.0), "250k");
        assert_eq!(axis_number(&0.25), "0.25");
        assert_eq!(axis_number(&12.0), "12");
        assert_eq!(axis_number(&0.0), "0");
        assert_eq!(log_axis_label(&200.0), "200");
        assert_eq!(log_axis_label(&0.5), "0.5");
        assert_eq!(log_axis_label(&10_000.0), "10k");
        assert_eq!(log_axis_label(&300.0), "");
        assert_eq!(log_axis_label(&0.0), "");
    }

    #[test]
    fn ranges_cover_the_values_and_survive_no_values() {
        assert_eq!(range_from_zero([]), 0.0..1.0);
        let r = range_from_zero([3.0, f64::NAN, 10.0]);
        assert!(r.start == 0.0 && r.end > 10.0);
        assert_eq!(log_range([0.0, -1.0]), 1.0..10.0);
        let r = log_range([0.5, 200.0, 0.0]);
        assert!(r.start < 0.5 && r.end > 200.0);
    }

    #[test]
    fn a_missing_folder_is_a_plot_error_not_a_panic() {
        let base = tempfile::tempdir().unwrap();
        let missing = base.path().join("missing");
        let result = records(&missing, &[]);
        assert!(matches!(result, Err(BenchError::Plot { .. })), "{result:?}");
    }
}
