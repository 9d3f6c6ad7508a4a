//! The paper's published figures, printed beside ours so every comparison names its source.
//!
//! Source: Fan et al., "MedBlock: Efficient and Secure Medical Data Sharing Via Blockchain",
//! J Med Syst 42:136 (2018), Table 4 and Table 5.

use crate::day::DayCurve;

/// Fan et al., MedBlock, J Med Syst 2018, Table 4: seconds to serve a number of provider
/// requests (uploads and their confirmation), as `(requests, MedBlock s, MeDShare s)`.
pub const TABLE4: [(u32, f64, f64); 8] = [
    (5, 83.4, 53.4),
    (10, 122.51, 145.26),
    (15, 146.78, 178.24),
    (20, 188.75, 226.78),
    (30, 304.51, 351.36),
    (40, 374.73, 447.94),
    (50, 459.31, 553.81),
    (100, 925.12, 1286.73),
];

/// Fan et al., MedBlock, J Med Syst 2018, Table 5: data flow (GB/h) per two-hour period of a
/// hospital day for real-time upload ("others", the `realtime_gb_per_h` column) and for
/// MedBlock's turn-based upload (`medblock_gb_per_h`). It is the embedded day curve.
pub fn table5() -> DayCurve {
    DayCurve::embedded()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table4_is_ordered_by_requests() {
        assert!(TABLE4.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(TABLE4[7], (100, 925.12, 1286.73));
    }

    #[test]
    fn table5_peaks_match_the_paper() {
        // The paper's point: real-time upload peaks at about 3x its mean, MedBlock at about 1.13x.
        let t = table5();
        assert!((t.realtime_peak_over_mean() - 3.0625).abs() < 1e-3);
        assert!((t.medblock_peak_over_mean() - 1.1262).abs() < 1e-3);
    }
}
