//! Civil time without a time-zone database: the few conversions a support store needs between
//! milliseconds since the Unix epoch (what documents store) and the UTC dates and RFC 3339 times
//! people read and type. Howard Hinnant's `civil_from_days` / `days_from_civil` are exact for
//! every proleptic Gregorian date, so no date crate is needed.
//!
//! # Example
//! ```
//! use dossier::time::{format_rfc3339, parse_rfc3339};
//! let ms = parse_rfc3339("2026-11-22T18:40:00+02:00").unwrap();
//! assert_eq!(format_rfc3339(ms), "2026-11-22T16:40:00Z");
//! ```

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC, to the second.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_day(ms.div_euclid(DAY_MS)),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats a day number (days since 1970-01-01) as `YYYY-MM-DD`.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM` UTC.
pub fn format_minute(ms: i64) -> String {
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{} {:02}:{:02}",
        format_day(ms.div_euclid(DAY_MS)),
        secs / 3600,
        secs / 60 % 60
    )
}

/// Parses `YYYY-MM-DD` into a day number (days since 1970-01-01).
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parses RFC 3339 (`2026-11-22T16:40:00Z`, `2026-11-22T18:40:00.250+02:00`) or a plain date
/// (`2026-11-22`, midnight UTC) into milliseconds since the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let day = parse_day(s.get(..10)?)?;
    let rest = &s[10..];
    if rest.is_empty() {
        return day.checked_mul(DAY_MS);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let b = rest.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<i64> {
        let p = rest.get(i..i + 2)?;
        p.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| p.parse().ok())
            .flatten()
    };
    let (h, mi, se) = (two(0)?, two(3)?, two(6)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut tail = &rest[8..];
    let mut millis = 0i64;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = padded.parse().ok()?;
        tail = &frac[digits..];
    }
    let offset_min = match tail {
        "Z" | "z" => 0,
        _ => {
            let sign = match tail.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let t = &tail[1..];
            if t.len() != 5 || t.as_bytes()[2] != b':' {
                return None;
            }
            let (oh, om) = (t[..2].parse::<i64>().ok()?, t[3..].parse::<i64>().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    Some(day * DAY_MS + ((h * 60 + mi - offset_min) * 60 + se.min(59)) * 1000 + millis)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms: exact for every proleptic Gregorian date, no tables.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_of_four_centuries_round_trips_through_the_calendar() {
        for z in -146_097..146_097 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn rfc3339_round_trips_and_honours_offsets_and_fractions() {
        let ms = 1_795_365_600_000;
        assert_eq!(format_rfc3339(ms), "2026-11-22T16:40:00Z");
        assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        assert_eq!(parse_rfc3339("2026-11-22T18:40:00+02:00"), Some(ms));
        assert_eq!(parse_rfc3339("2026-11-22T16:40:00.250Z"), Some(ms + 250));
        assert_eq!(parse_rfc3339("2026-02-30"), None);
        assert_eq!(parse_rfc3339("2026-11-22T25:00:00Z"), None);
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
