//! The one error type of the crate, so the bench driver can report any failure with its cause.

use std::path::PathBuf;

/// Why a bench file or figure could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Reading or writing a file or directory failed; the path says which.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Writing a CSV file failed (I/O or a row that cannot be serialised as CSV).
    #[error("CSV {path}: {source}")]
    Csv {
        /// The CSV file being written.
        path: PathBuf,
        /// What the CSV writer said.
        #[source]
        source: csv::Error,
    },
    /// Drawing or encoding a plot failed.
    #[error("plot {path}: {message}")]
    Plot {
        /// The PNG file being drawn.
        path: PathBuf,
        /// What the plotting library said.
        message: String,
    },
    /// A run or file name that would escape the results directory or is empty.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A day curve CSV that cannot be used, with the line it went wrong on.
    #[error("day curve line {line}: {problem}")]
    DayCurve {
        /// 1-based line of the CSV text (the header is line 1).
        line: u64,
        /// What is wrong there.
        problem: CurveProblem,
    },
}

/// What is wrong with a day curve, typed so tests and callers can tell the cases apart.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CurveProblem {
    /// The row is not four numbers under the expected header.
    #[error("malformed row: {0}")]
    Malformed(String),
    /// A value is negative, infinite or NaN.
    #[error("{column} is {value}, expected a finite value >= 0")]
    BadValue {
        /// The column holding the value.
        column: &'static str,
        /// The value found.
        value: f64,
    },
    /// A period that ends at or before its start.
    #[error("period {start_h}..{end_h} h has no length")]
    EmptyPeriod {
        /// Start of the period, hours.
        start_h: f64,
        /// End of the period, hours.
        end_h: f64,
    },
    /// A period that does not start where the previous one ended.
    #[error("period starts at {start_h} h but the previous one ended at {previous_end_h} h")]
    NotContiguous {
        /// Where the previous period ended, hours.
        previous_end_h: f64,
        /// Where this one starts, hours.
        start_h: f64,
    },
    /// The file has a header but no periods.
    #[error("no periods")]
    NoPeriods,
    /// Every period's arrival rate is zero, so no arrivals can be derived from the curve.
    #[error("the real-time column is zero in every period")]
    NoArrivals,
}
