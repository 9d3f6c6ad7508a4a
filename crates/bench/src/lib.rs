//! The figures and files of `medblock bench`: everything the bench driver needs besides the
//! network itself.
//!
//! The driver runs a testnet and hands its raw observations here; this crate turns them into
//! the numbers, CSV files and PNG plots of a results folder: latency percentiles ([`stats`]),
//! the machine's signature-verification ceiling ([`ceiling`]), the paper's published figures
//! ([`paper`]), the hospital day curve and its arrival schedule ([`day`]), the Table 5 flow
//! analysis and its lower bound ([`flow`]) and CSV rows ([`table5`]), the results folder and
//! CSV writing ([`output`]) and the plots ([`plots`]). It does no networking and no storage
//! (it depends on `medblock-core` only, not on RocksDB), so it builds and tests on its own.
#![deny(missing_docs)]

pub mod ceiling;
pub mod day;
pub mod error;
pub mod flow;
pub mod output;
pub mod paper;
pub mod plots;
pub mod stats;
pub mod table5;

pub use ceiling::{Ceiling, available_threads};
pub use day::{DayCurve, Period};
pub use error::{BenchError, CurveProblem};
pub use flow::{Committed, Flow, analyse, min_peak_over_mean_with_delay};
pub use output::{ResultsDir, run_name};
pub use plots::{LoadPoint, RecordsRow, Table4Row};
pub use stats::Percentiles;
pub use table5::{Table5Row, table5_rows};
