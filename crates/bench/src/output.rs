//! The results folder of one bench run and the CSV files in it, so every run's numbers land
//! in one place named after the run.

use crate::error::BenchError;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The folder one run writes its CSV files and plots into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsDir {
    /// The folder, `base/run_name`.
    pub path: PathBuf,
}

impl ResultsDir {
    /// Creates `base/run_name` (and `base` if needed) and returns it; an existing folder is
    /// reused. Refuses a `run_name` that is empty, `.` or `..`, or holds a path separator or
    /// `..`, so a run can never write outside `base`.
    pub fn create(base: &Path, run_name: &str) -> Result<ResultsDir, BenchError> {
        check_name(run_name)?;
        let path = base.join(run_name);
        std::fs::create_dir_all(&path).map_err(|source| BenchError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(ResultsDir { path })
    }

    /// The path of `file` inside this folder, refusing names that would leave it.
    pub fn file(&self, file: &str) -> Result<PathBuf, BenchError> {
        check_name(file)?;
        Ok(self.path.join(file))
    }

    /// Writes `rows` as CSV to `file` in this folder, with a header row from the field names
    /// of `T` (an empty `rows` gives an empty file), and returns the file's path.
    pub fn write_csv<T: Serialize>(&self, file: &str, rows: &[T]) -> Result<PathBuf, BenchError> {
        let path = self.file(file)?;
        let csv_error = |source| BenchError::Csv {
            path: path.clone(),
            source,
        };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_error)?;
        for row in rows {
            writer.serialize(row).map_err(csv_error)?;
        }
        writer.flush().map_err(|source| BenchError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// The folder name of a run started at `started_unix_s` (UTC):
/// `bench-YYYYMMDD-HHMMSS`, or `bench-quick-YYYYMMDD-HHMMSS` for a quick run, so runs sort by
/// time and a quick run is never mistaken for a full one.
pub fn run_name(started_unix_s: u64, quick: bool) -> String {
    let days = started_unix_s / 86_400;
    let second_of_day = started_unix_s % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "bench-{}{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        if quick { "quick-" } else { "" },
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    )
}

/// Refuses names that are empty or could address anything but a direct child of a folder.
fn check_name(name: &str) -> Result<(), BenchError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name == "." {
        Some("is the current directory")
    } else if name.contains("..") {
        Some("contains ..")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BenchError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Year, month (1-12) and day (1-31) of the proleptic Gregorian calendar `days` after
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_utc_timestamps() {
        assert_eq!(run_name(0, false), "bench-19700101-000000");
        assert_eq!(run_name(1_795_515_120, false), "bench-20261124-101200");
        assert_eq!(run_name(1_795_515_120, true), "bench-quick-20261124-101200");
        assert_eq!(run_name(1_709_251_199, false), "bench-20240229-235959");
        assert_eq!(run_name(951_868_800, false), "bench-20000301-000000");
        assert_eq!(run_name(946_684_799, false), "bench-19991231-235959");
    }

    #[test]
    fn civil_dates_advance_one_day_at_a_time() {
        // Across four centuries, every day is the day after the previous one.
        let mut previous = civil_from_days(0);
        for days in 1..146_097 * 2 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1);
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {:?}",
                (y, m, d)
            );
            previous = (y, m, d);
        }
    }

    #[test]
    fn create_makes_the_run_folder() {
        let base = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(&base.path().join("results"), "bench-x").unwrap();
        assert!(dir.path.is_dir());
        assert_eq!(dir.path, base.path().join("results").join("bench-x"));
        // Creating it again reuses it.
        assert_eq!(
            ResultsDir::create(&base.path().join("results"), "bench-x").unwrap(),
            dir
        );
    }

    #[test]
    fn names_that_escape_are_refused() {
        let base = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "a/b", "../up", "a\\b", "x..y", "nul\0"] {
            assert!(
                matches!(
                    ResultsDir::create(base.path(), bad),
                    Err(BenchError::InvalidName { .. })
                ),
                "{bad:?} accepted"
            );
        }
        let dir = ResultsDir::create(base.path(), "ok").unwrap();
        assert!(matches!(
            dir.write_csv::<u32>("../x.csv", &[]),
            Err(BenchError::InvalidName { .. })
        ));
    }

    #[test]
    fn write_csv_writes_a_header_and_rows() {
        #[derive(Serialize)]
        struct Row {
            rate: u32,
            p50_ms: f64,
        }
        let base = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(base.path(), "run").unwrap();
        let rows = [
            Row {
                rate: 10,
                p50_ms: 1.5,
            },
            Row {
                rate: 20,
                p50_ms: 2.25,
            },
        ];
        let path = dir.write_csv("load.csv", &rows).unwrap();
        assert_eq!(path, dir.path.join("load.csv"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "rate,p50_ms\n10,1.5\n20,2.25\n"
        );
        let empty = dir.write_csv::<Row>("empty.csv", &[]).unwrap();
        assert_eq!(std::fs::read_to_string(empty).unwrap(), "");
    }

    #[test]
    fn write_csv_into_a_missing_folder_is_an_error() {
        let base = tempfile::tempdir().unwrap();
        let dir = ResultsDir {
            path: base.path().join("gone"),
        };
        assert!(matches!(
            dir.write_csv("x.csv", &[1u32]),
            Err(BenchError::Csv { .. })
        ));
    }
}
