//! Civil dates and times from epoch milliseconds, with no clock and no time-zone database.
//!
//! Plugins get `now` in the snapshot and must give the same answer everywhere, so this is
//! plain arithmetic: proleptic Gregorian dates (Howard Hinnant's `days_from_civil`), a
//! [`Zone`] that is either a fixed UTC offset (India, Brazil) or the EU summer-time rule
//! (last Sunday of March to last Sunday of October, 01:00 UTC), and a small timestamp parser
//! for values people type into case fields.

use std::fmt;

/// Milliseconds in an hour.
pub const MS_PER_HOUR: i64 = 3_600_000;
/// Milliseconds in a (UTC, 24-hour) day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Weekday {
    /// Whether this is Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Saturday | Weekday::Sunday)
    }
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1-12) of `year`, or 0 for a month out of range.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A calendar date (proleptic Gregorian), shown and parsed as `YYYY-MM-DD`: the key format
/// of holiday tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CivilDate {
    year: i32,
    month: u8,
    day: u8,
}

impl CivilDate {
    /// The date, or `None` if it does not exist (e.g. 2025-02-29).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let ok = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        ok.then_some(Self { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    ///
    /// # Example
    /// ```
    /// use dossier_plugin_sdk::date::CivilDate;
    /// let d = CivilDate::parse("2024-02-29").unwrap();
    /// assert_eq!(d.add_days(1).to_string(), "2024-03-01");
    /// assert!(CivilDate::parse("2025-02-29").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = digits(&s[0..4])?;
        let month = digits(&s[5..7])?;
        let day = digits(&s[8..10])?;
        Self::new(i32::try_from(year).ok()?, month as u8, day as u8)
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1-12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1-31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The date `days` days after 1970-01-01 (negative for earlier dates).
    pub fn from_days_since_epoch(days: i64) -> Self {
        // Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms", civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: year as i32,
            month,
            day,
        }
    }

    /// Days from 1970-01-01 to this date (negative for earlier dates).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `n` calendar days later (earlier for negative `n`).
    pub fn add_days(self, n: i64) -> Self {
        Self::from_days_since_epoch(self.days_since_epoch() + n)
    }

    /// Calendar days from `self` to `other` (negative if `other` is earlier).
    pub fn days_until(self, other: CivilDate) -> i64 {
        other.days_since_epoch() - self.days_since_epoch()
    }

    /// The day of the week.
    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        match (self.days_since_epoch() + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    /// Whether the date is a Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        self.weekday().is_weekend()
    }

    /// The last Sunday of `month` in `year`.
    fn last_sunday(year: i32, month: u8) -> Self {
        let last = Self {
            year,
            month,
            day: days_in_month(year, month),
        };
        let back = match last.weekday() {
            Weekday::Sunday => 0,
            Weekday::Monday => 1,
            Weekday::Tuesday => 2,
            Weekday::Wednesday => 3,
            Weekday::Thursday => 4,
            Weekday::Friday => 5,
            Weekday::Saturday => 6,
        };
        last.add_days(-back)
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// How local days are cut from UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// A fixed offset from UTC in minutes: `0` for UTC, `330` for India (IST),
    /// `-180` for Brasília.
    Fixed(i32),
    /// The EU summer-time rule (Directive 2000/84/EC) on top of a standard offset in minutes:
    /// `60` for CET (Spain mainland, Germany, France), `0` for WET, `120` for EET.
    /// Summer time (+60) runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
    /// last Sunday of October.
    EuSummerTime(i32),
}

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone::Fixed(0);
    /// India Standard Time, UTC+05:30.
    pub const IST: Zone = Zone::Fixed(330);
    /// Brasília time, UTC-03:00 (Brazil has had no summer time since 2019).
    pub const BRT: Zone = Zone::Fixed(-180);
    /// Central European Time with EU summer time.
    pub const CET: Zone = Zone::EuSummerTime(60);

    /// The offset from UTC in minutes at the instant `ms`.
    pub fn offset_minutes_at(self, ms: i64) -> i32 {
        match self {
            Zone::Fixed(m) => m,
            Zone::EuSummerTime(standard) => {
                let year = civil_date(ms).year;
                let start =
                    CivilDate::last_sunday(year, 3).days_since_epoch() * MS_PER_DAY + MS_PER_HOUR;
                let end =
                    CivilDate::last_sunday(year, 10).days_since_epoch() * MS_PER_DAY + MS_PER_HOUR;
                if (start..end).contains(&ms) {
                    standard + 60
                } else {
                    standard
                }
            }
        }
    }

    /// The local date at the instant `ms`.
    ///
    /// # Example
    /// ```
    /// use dossier_plugin_sdk::date::{Zone, parse_timestamp};
    /// // 20:00 UTC on 14 March is already 15 March in India.
    /// let ms = parse_timestamp("2025-03-14T20:00:00Z").unwrap();
    /// assert_eq!(Zone::IST.date_of(ms).to_string(), "2025-03-15");
    /// ```
    pub fn date_of(self, ms: i64) -> CivilDate {
        civil_date(ms + i64::from(self.offset_minutes_at(ms)) * 60_000)
    }

    /// The instant local `date` begins (local midnight).
    pub fn start_of_day(self, date: CivilDate) -> i64 {
        let utc_midnight = date.days_since_epoch() * MS_PER_DAY;
        // Guess with the offset at UTC midnight, then correct with the offset in force at the
        // guess. EU transitions happen at 01:00 UTC, hours away from any European local
        // midnight, so one correction is exact.
        let guess = utc_midnight - i64::from(self.offset_minutes_at(utc_midnight)) * 60_000;
        utc_midnight - i64::from(self.offset_minutes_at(guess)) * 60_000
    }

    /// The last millisecond of local `date` (a deadline "by the end of that day").
    pub fn end_of_day(self, date: CivilDate) -> i64 {
        self.start_of_day(date.add_days(1)) - 1
    }

    /// Milliseconds since local midnight at the instant `ms`.
    pub fn time_of_day(self, ms: i64) -> i64 {
        ms - self.start_of_day(self.date_of(ms))
    }
}

/// The UTC date at the instant `ms` (epoch milliseconds).
pub fn civil_date(ms: i64) -> CivilDate {
    CivilDate::from_days_since_epoch(ms.div_euclid(MS_PER_DAY))
}

/// `ms` plus `n` calendar days of 24 hours (use [`Zone`] and [`CivilDate::add_days`] when a
/// deadline must land on a local date across a summer-time change).
pub fn add_calendar_days(ms: i64, n: i64) -> i64 {
    ms + n * MS_PER_DAY
}

/// Calendar days from the local date of `from_ms` to the local date of `to_ms` in `zone`:
/// 0 on the same day, 1 the next day, negative if `to_ms` is on an earlier day.
pub fn days_between(from_ms: i64, to_ms: i64, zone: Zone) -> i64 {
    zone.date_of(from_ms).days_until(zone.date_of(to_ms))
}

/// Formats `ms` as `YYYY-MM-DD HH:MM` in `zone` (UTC offset shown), for notes.
///
/// # Example
/// ```
/// use dossier_plugin_sdk::date::{Zone, format_timestamp};
/// assert_eq!(format_timestamp(0, Zone::IST), "1970-01-01 05:30 (UTC+05:30)");
/// ```
pub fn format_timestamp(ms: i64, zone: Zone) -> String {
    let offset = zone.offset_minutes_at(ms);
    let local = ms + i64::from(offset) * 60_000;
    let minutes = local.rem_euclid(MS_PER_DAY) / 60_000;
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{} {:02}:{:02} (UTC{sign}{:02}:{:02})",
        civil_date(local),
        minutes / 60,
        minutes % 60,
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// Parses a time typed into a case field, returning epoch milliseconds:
/// epoch milliseconds (`1741946400000`), a date (`2025-03-14`, taken as midnight UTC), or
/// `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z` or `±HH:MM` (a space may replace `T`).
///
/// # Example
/// ```
/// use dossier_plugin_sdk::date::parse_timestamp;
/// assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
/// assert_eq!(parse_timestamp("1970-01-01T05:30:00+05:30"), Some(0));
/// assert_eq!(parse_timestamp("86400000"), Some(86_400_000));
/// assert_eq!(parse_timestamp("yesterday"), None);
/// ```
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let date = CivilDate::parse(s.get(0..10)?)?;
    let midnight = date.days_since_epoch() * MS_PER_DAY;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(midnight);
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    let (clock, offset_min) = if let Some(clock) = rest.strip_suffix('Z') {
        (clock, 0)
    } else {
        let split = rest.len().checked_sub(6)?;
        let (clock, zone) = rest.split_at(split);
        let sign = match zone.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        if zone.as_bytes()[3] != b':' {
            return None;
        }
        let hh = digits(&zone[1..3])?;
        let mm = digits(&zone[4..6])?;
        (clock, sign * i64::from(hh * 60 + mm))
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, frac)) if (1..=3).contains(&frac.len()) => {
            let f = i64::from(digits(frac)?);
            (hms, f * 10_i64.pow(3 - frac.len() as u32))
        }
        Some(_) => return None,
        None => (clock, 0),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m] => (digits(h)?, digits(m)?, 0),
        [h, m, sec] => (digits(h)?, digits(m)?, digits(sec)?),
        _ => return None,
    };
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let local = midnight + i64::from(h * 3600 + m * 60 + sec) * 1000 + millis;
    Some(local - offset_min * 60_000)
}

/// Parses a short run of ASCII digits.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> CivilDate {
        CivilDate::parse(s).unwrap()
    }

    #[test]
    fn days_since_epoch_round_trips_across_four_centuries() {
        for days in (-146_097 * 2..146_097 * 2).step_by(7) {
            assert_eq!(
                CivilDate::from_days_since_epoch(days).days_since_epoch(),
                days
            );
        }
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(
            CivilDate::from_days_since_epoch(-1).to_string(),
            "1969-12-31"
        );
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(is_leap_year(2024) && is_leap_year(2000) && is_leap_year(2028));
        assert!(!is_leap_year(2025) && !is_leap_year(1900) && !is_leap_year(2100));
        assert_eq!(d("2024-02-28").add_days(1), d("2024-02-29"));
        assert_eq!(d("2028-02-28").add_days(2), d("2028-03-01"));
        assert_eq!(d("2100-02-28").add_days(1), d("2100-03-01"));
        assert!(CivilDate::parse("2100-02-29").is_none());
        assert!(CivilDate::parse("2000-02-29").is_some());
    }

    #[test]
    fn adding_days_crosses_month_and_year_ends() {
        assert_eq!(d("2025-12-31").add_days(1), d("2026-01-01"));
        assert_eq!(d("2026-01-01").add_days(-1), d("2025-12-31"));
        assert_eq!(d("2025-01-31").add_days(1), d("2025-02-01"));
        assert_eq!(d("2025-12-20").days_until(d("2026-01-10")), 21);
    }

    #[test]
    fn weekdays_are_right() {
        assert_eq!(d("1970-01-01").weekday(), Weekday::Thursday);
        assert_eq!(d("2025-03-14").weekday(), Weekday::Friday);
        assert_eq!(d("2025-03-15").weekday(), Weekday::Saturday);
        assert_eq!(d("2026-12-25").weekday(), Weekday::Friday);
        assert_eq!(d("1969-12-28").weekday(), Weekday::Sunday);
        assert!(d("2027-01-02").is_weekend() && !d("2027-01-04").is_weekend());
    }

    #[test]
    fn parse_rejects_malformed_dates() {
        for bad in [
            "2025-1-01",
            "2025-13-01",
            "2025-04-31",
            "20250101",
            "2025/01/01",
            "",
        ] {
            assert!(CivilDate::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn fixed_zones_cut_local_days() {
        let ms = parse_timestamp("2025-03-14T19:00:00Z").unwrap();
        assert_eq!(Zone::UTC.date_of(ms), d("2025-03-14"));
        assert_eq!(Zone::IST.date_of(ms), d("2025-03-15"));
        assert_eq!(Zone::IST.start_of_day(d("2025-03-15")), ms - 30 * 60_000);
        let late = parse_timestamp("2025-03-15T01:00:00Z").unwrap();
        assert_eq!(Zone::BRT.date_of(late), d("2025-03-14"));
        assert_eq!(
            Zone::IST.end_of_day(d("2025-03-15")),
            parse_timestamp("2025-03-15T18:29:59.999Z").unwrap()
        );
    }

    #[test]
    fn eu_summer_time_switches_on_the_last_sundays() {
        // 2025: summer time from 30 March to 26 October, 01:00 UTC.
        let before = parse_timestamp("2025-03-30T00:59:59Z").unwrap();
        assert_eq!(Zone::CET.offset_minutes_at(before), 60);
        assert_eq!(Zone::CET.offset_minutes_at(before + 1000), 120);
        let autumn = parse_timestamp("2025-10-26T00:59:59Z").unwrap();
        assert_eq!(Zone::CET.offset_minutes_at(autumn), 120);
        assert_eq!(Zone::CET.offset_minutes_at(autumn + 1000), 60);
        assert_eq!(
            Zone::CET.start_of_day(d("2025-07-01")),
            parse_timestamp("2025-06-30T22:00:00Z").unwrap()
        );
        assert_eq!(
            Zone::CET.start_of_day(d("2025-12-01")),
            parse_timestamp("2025-11-30T23:00:00Z").unwrap()
        );
        assert_eq!(
            Zone::CET.start_of_day(d("2025-03-30")),
            parse_timestamp("2025-03-29T23:00:00Z").unwrap()
        );
        assert_eq!(
            Zone::CET.start_of_day(d("2025-10-27")),
            parse_timestamp("2025-10-26T23:00:00Z").unwrap()
        );
        // 23:30 UTC on 30 June is already 1 July in Madrid.
        let ms = parse_timestamp("2025-06-30T23:30:00Z").unwrap();
        assert_eq!(Zone::CET.date_of(ms), d("2025-07-01"));
    }

    #[test]
    fn timestamps_parse_in_the_forms_people_type() {
        let z = parse_timestamp("2025-03-14T10:00:00Z").unwrap();
        assert_eq!(parse_timestamp("2025-03-14T15:30:00+05:30"), Some(z));
        assert_eq!(parse_timestamp("2025-03-14 07:00-03:00"), Some(z));
        assert_eq!(parse_timestamp("2025-03-14T10:00:00.5Z"), Some(z + 500));
        assert_eq!(parse_timestamp(&z.to_string()), Some(z));
        for bad in [
            "2025-03-14T25:00Z",
            "2025-03-14T10:00",
            "2025-03-14T10:00+0530",
            "x",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn calendar_days_between_counts_local_midnights() {
        let a = parse_timestamp("2025-12-31T23:00:00Z").unwrap();
        let b = parse_timestamp("2026-01-01T01:00:00Z").unwrap();
        assert_eq!(days_between(a, b, Zone::UTC), 1);
        assert_eq!(days_between(a, b, Zone::IST), 0);
        assert_eq!(days_between(b, a, Zone::UTC), -1);
        assert_eq!(add_calendar_days(a, 2), a + 2 * MS_PER_DAY);
    }
}
