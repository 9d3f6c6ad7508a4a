//! Dates for people: epoch milliseconds as local ISO 8601 dates and date-times
//! (`2026-12-05T08:02:58+01:00`), in the time zone of the machine (`TZ`, else `/etc/localtime`).

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Seconds east of UTC.
    offset: i64,
}

/// `ms` since the epoch as a local date-time, `YYYY-MM-DDTHH:MM:SS±HH:MM`.
pub fn local_datetime(ms: u64) -> String {
    let p = local(ms);
    let sign = if p.offset < 0 { '-' } else { '+' };
    let off = p.offset.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        p.year,
        p.month,
        p.day,
        p.hour,
        p.minute,
        p.second,
        off / 3600,
        (off % 3600) / 60
    )
}

/// `ms` since the epoch as a local date, `YYYY-MM-DD`.
pub fn local_date(ms: u64) -> String {
    let p = local(ms);
    format!("{:04}-{:02}-{:02}", p.year, p.month, p.day)
}

fn local(ms: u64) -> Parts {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    local_offset(secs)
        .and_then(|offset| utc(secs.checked_add(offset)?, offset))
        .or_else(|| utc(secs, 0))
        .unwrap_or(Parts {
            year: 9999,
            month: 12,
            day: 31,
            hour: 23,
            minute: 59,
            second: 59,
            offset: 0,
        })
}

/// The local offset from UTC at `secs`, as the C library sees it (`localtime_r`, which reads
/// `TZ` and the zone database and is safe to call from several threads).
// `time_t` and `c_long` are 64 bits here, not on every platform.
#[allow(clippy::useless_conversion)]
fn local_offset(secs: i64) -> Option<i64> {
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: `localtime_r` writes only into `tm`, which we own, and reads `t`; a null return
    // (time out of range) is handled. It neither keeps nor frees the pointers it is given.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let res = unsafe { libc::localtime_r(&t, &mut tm) };
    if res.is_null() {
        return None;
    }
    Some(i64::from(tm.tm_gmtoff))
}

/// The civil date-time of `secs` (already shifted by `offset`) in the proleptic Gregorian
/// calendar (Howard Hinnant's days-to-civil).
fn utc(secs: i64, offset: i64) -> Option<Parts> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(Parts {
        year,
        month: u32::try_from(month).ok()?,
        day: u32::try_from(day).ok()?,
        hour: u32::try_from(rem / 3600).ok()?,
        minute: u32::try_from((rem % 3600) / 60).ok()?,
        second: u32::try_from(rem % 60).ok()?,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let p = utc(0, 0).expect("epoch");
        assert_eq!((p.year, p.month, p.day, p.hour), (1970, 1, 1, 0));
        // 2026-12-05T06:02:58Z
        let p = utc(1_796_450_578, 0).expect("date");
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute, p.second),
            (2026, 12, 5, 6, 2, 58)
        );
        // 2024-02-29 (a leap day)
        let p = utc(1_709_164_800, 0).expect("leap");
        assert_eq!((p.year, p.month, p.day), (2024, 2, 29));
        assert_eq!(local_date(u64::MAX), "9999-12-31");
        let s = local_datetime(1_796_450_578_000);
        assert_eq!(s.len(), 25, "{s}");
        assert_eq!(&s[10..11], "T");
    }
}
