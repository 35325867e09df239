//! Printing: JSON for scripts, aligned text for people, and the time formats both use.
//!
//! The store counts time in milliseconds since the Unix epoch. JSON output keeps those raw
//! numbers (scripts compare them); human output shows RFC 3339 UTC. The calendar arithmetic is
//! Howard Hinnant's `civil_from_days` / `days_from_civil`, a dozen lines that spare the binary
//! a date-time dependency. Everything is written to a caller-supplied `Write` so a closed pipe
//! (`dossier case list | head`) is an I/O error handled in `main`, not a panic in `println!`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use serde::Serialize;

const MS_PER_DAY: i64 = 86_400_000;

/// Writes `value` as pretty JSON followed by a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).context("cannot write JSON output")?;
    writeln!(out)?;
    Ok(())
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC, to the second.
pub fn time(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats an optional time, `-` when absent.
pub fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), time)
}

/// Parses a point in time given on the command line: RFC 3339 (`2026-11-22T16:40:00Z`,
/// `2026-11-22T18:40:00+02:00`), a plain date (`2026-11-22`, midnight UTC), or a time relative to
/// `now`: `+30m`, `+4h`, `+2d`, `+1w`.
pub fn parse_when(input: &str, now: i64) -> Result<i64> {
    let s = input.trim();
    if let Some(rel) = s.strip_prefix('+') {
        return parse_relative(rel).map(|d| now.saturating_add(d));
    }
    parse_rfc3339(s).with_context(|| {
        format!("invalid time {s:?}: use RFC 3339 (2026-11-22T16:40:00Z) or +30m, +4h, +2d, +1w")
    })
}

fn parse_relative(rel: &str) -> Result<i64> {
    let unit_at = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
    let (digits, unit) = rel.split_at(unit_at);
    let n: i64 = match digits.parse() {
        Ok(n) => n,
        Err(_) => bail!("invalid relative time +{rel}: use +30m, +4h, +2d or +1w"),
    };
    let unit_ms: i64 = match unit {
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => MS_PER_DAY,
        "w" => 7 * MS_PER_DAY,
        _ => bail!("invalid relative time +{rel}: the unit must be m, h, d or w"),
    };
    n.checked_mul(unit_ms)
        .with_context(|| format!("relative time +{rel} is too far away"))
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        return Some(days * MS_PER_DAY);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let end = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        if end == 0 {
            return None;
        }
        let digits = format!("{:0<3}", &f[..end.min(3)]);
        frac_ms = digits.parse::<i64>().ok()?;
        rest = &f[end..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset_s;
    Some(secs * 1000 + frac_ms)
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

/// Year, month, day of the day `z` days after 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Writes rows as left-aligned columns separated by two spaces; the first row is the header.
pub fn table(out: &mut dyn Write, rows: &[Vec<String>]) -> Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes `text` indented by `indent`, one output line per line of text.
pub fn indented(out: &mut dyn Write, indent: &str, text: &str) -> Result<()> {
    for line in text.lines() {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}

/// `1 case`, `2 cases`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates_format_as_rfc3339_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_795_365_600_000), "2026-11-22T16:40:00Z");
        assert_eq!(time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(time(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(time(1_795_365_600_999), "2026-11-22T16:40:00Z");
    }

    #[test]
    fn rfc3339_parses_back_to_the_same_milliseconds() {
        for ms in [
            0,
            1_795_365_600_000,
            951_782_400_000,
            4_102_444_800_000,
            -86_400_000,
        ] {
            assert_eq!(parse_when(&time(ms), 0).ok(), Some(ms), "{}", time(ms));
        }
        assert_eq!(
            parse_when("2026-11-22T18:40:00+02:00", 0).ok(),
            Some(1_795_365_600_000)
        );
        assert_eq!(
            parse_when("2026-11-22T16:40:00.250Z", 0).ok(),
            Some(1_795_365_600_250)
        );
        assert_eq!(parse_when("2026-11-22", 0).ok(), Some(1_795_305_600_000));
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_through_the_calendar() {
        for z in -146_097..146_097 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn relative_times_are_added_to_now() {
        assert_eq!(parse_when("+30m", 1000).ok(), Some(1000 + 30 * 60_000));
        assert_eq!(parse_when("+4h", 0).ok(), Some(4 * 3_600_000));
        assert_eq!(parse_when("+2d", 0).ok(), Some(2 * MS_PER_DAY));
        assert_eq!(parse_when("+1w", 0).ok(), Some(7 * MS_PER_DAY));
    }

    #[test]
    fn malformed_times_are_errors_not_panics() {
        for bad in [
            "",
            "+",
            "+h",
            "+4y",
            "+99999999999999999999d",
            "2026-13-01",
            "2026-02-30",
            "2026-11-22T25:00:00Z",
            "2026-11-22T16:40:00",
            "2026-11-22T16:40:00+2",
            "yesterday",
            "2026-11-22T16:40:00.Z",
            "é026-11-22",
        ] {
            assert!(parse_when(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("Pix enviado e não recebido", 10), "Pix envia…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a\nb", 10), "a b");
    }
}
