//! Business days over a holiday table read through [`Env::lookup`].
//!
//! A business day is a local date that is neither a Saturday, a Sunday, nor a key of the
//! holiday table (`YYYY-MM-DD` → holiday name). Counting never includes the start day: the
//! first business day *after* the start's local date is day 1, so a complaint received on a
//! Saturday has Monday as its day 1 — the same day 1 as one received on Friday.
//!
//! Holiday tables carry their coverage as two extra keys, `_from` and `_to` (`YYYY-MM-DD`).
//! A table without them is treated as missing and a date outside them as unknown: either way
//! the calendar counts weekends only and logs a warning, because a silently wrong deadline is
//! worse than a logged one (and weekends-only deadlines are never later than the true ones).

use crate::Env;
use crate::date::{CivilDate, Zone};

/// Key of a holiday table holding the first date it covers.
pub const COVERAGE_FROM: &str = "_from";
/// Key of a holiday table holding the last date it covers.
pub const COVERAGE_TO: &str = "_to";

/// A business-day calendar: a holiday table and the zone whose local days it counts.
///
/// # Example
/// ```
/// use dossier_plugin_sdk::{Calendar, date::{CivilDate, Zone}, testing::TestEnv};
/// let env = TestEnv::new().with_table(
///     "holidays-ES",
///     [("_from", "2025-01-01"), ("_to", "2027-12-31"), ("2025-12-25", "Natividad del Señor")],
/// );
/// let cal = Calendar::new("holidays-ES").with_zone(Zone::CET);
/// let wed = CivilDate::parse("2025-12-24").unwrap();
/// // Thursday the 25th is Christmas, so one business day after Wednesday is Friday.
/// assert_eq!(cal.add_business_days_to_date(wed, 1, &env).to_string(), "2025-12-26");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    holiday_table: String,
    zone: Zone,
}

impl Calendar {
    /// A calendar over `holiday_table`, counting UTC days.
    pub fn new(holiday_table: &str) -> Self {
        Self {
            holiday_table: holiday_table.into(),
            zone: Zone::UTC,
        }
    }

    /// The same calendar counting local days in `zone`.
    pub fn with_zone(mut self, zone: Zone) -> Self {
        self.zone = zone;
        self
    }

    /// The holiday table's name.
    pub fn holiday_table(&self) -> &str {
        &self.holiday_table
    }

    /// The zone whose local days are counted.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The dates the holiday table says it covers, or `None` if it lacks `_from`/`_to`
    /// (usually: the table is not installed).
    pub fn coverage(&self, env: &dyn Env) -> Option<(CivilDate, CivilDate)> {
        let read = |key| CivilDate::parse(&env.lookup(&self.holiday_table, key)?);
        Some((read(COVERAGE_FROM)?, read(COVERAGE_TO)?))
    }

    /// Whether the table is installed (has its coverage keys).
    pub fn is_available(&self, env: &dyn Env) -> bool {
        self.coverage(env).is_some()
    }

    /// The holiday's name if `date` is a holiday in the table.
    pub fn holiday(&self, date: CivilDate, env: &dyn Env) -> Option<String> {
        env.lookup(&self.holiday_table, &date.to_string())
    }

    /// Whether `date` is a business day: not a weekend day and not a holiday.
    pub fn is_business_day(&self, date: CivilDate, env: &dyn Env) -> bool {
        !date.is_weekend() && self.holiday(date, env).is_none()
    }

    /// The date `n` business days after `date` (before it for negative `n`; `date` itself
    /// for 0, even if it is not a business day).
    pub fn add_business_days_to_date(&self, date: CivilDate, n: i64, env: &dyn Env) -> CivilDate {
        let step = if n < 0 { -1 } else { 1 };
        let mut day = date;
        let mut left = n.abs();
        while left > 0 {
            day = day.add_days(step);
            if self.is_business_day(day, env) {
                left -= 1;
            }
        }
        self.check_coverage(date, day, env);
        day
    }

    /// The instant `n` business days after `start_ms`, at the same local time of day.
    pub fn add_business_days(&self, start_ms: i64, n: i64, env: &dyn Env) -> i64 {
        let date = self.zone.date_of(start_ms);
        let time = self.zone.time_of_day(start_ms);
        self.zone
            .start_of_day(self.add_business_days_to_date(date, n, env))
            + time
    }

    /// The last millisecond of the `n`th business day after `start_ms`'s local date: the usual
    /// "reply within n business days" deadline.
    ///
    /// # Example
    /// ```
    /// use dossier_plugin_sdk::{Calendar, date::{Zone, parse_timestamp}, testing::TestEnv};
    /// let env = TestEnv::new().with_table("h", [("_from", "2025-01-01"), ("_to", "2025-12-31")]);
    /// let friday = parse_timestamp("2025-03-14T10:00:00Z").unwrap();
    /// let due = Calendar::new("h").business_day_deadline(friday, 1, &env);
    /// assert_eq!(due, parse_timestamp("2025-03-17T23:59:59.999Z").unwrap()); // Monday
    /// ```
    pub fn business_day_deadline(&self, start_ms: i64, n: i64, env: &dyn Env) -> i64 {
        let date = self.zone.date_of(start_ms);
        self.zone
            .end_of_day(self.add_business_days_to_date(date, n, env))
    }

    /// Business days after `start_ms`'s local date up to and including `end_ms`'s: 0 on the
    /// same day, `n` when `end_ms` is on the day [`Calendar::add_business_days`] gives for
    /// `n`, negative when `end_ms` is earlier.
    pub fn business_days_between(&self, start_ms: i64, end_ms: i64, env: &dyn Env) -> i64 {
        let (a, b) = (self.zone.date_of(start_ms), self.zone.date_of(end_ms));
        let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        let mut count = 0;
        let mut day = lo;
        while day < hi {
            day = day.add_days(1);
            if self.is_business_day(day, env) {
                count += 1;
            }
        }
        self.check_coverage(lo, hi, env);
        sign * count
    }

    fn check_coverage(&self, a: CivilDate, b: CivilDate, env: &dyn Env) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        match self.coverage(env) {
            None => env.warn(&format!(
                "holiday table {} is missing or has no _from/_to: counting weekends only",
                self.holiday_table
            )),
            Some((from, to)) if lo < from || hi > to => env.warn(&format!(
                "holiday table {} covers {from}..{to}, not {lo}..{hi}: weekends only outside it",
                self.holiday_table
            )),
            Some(_) => {}
        }
    }
}

/// [`Calendar::add_business_days`] on UTC days: the instant `n` business days after
/// `start_ms`, skipping Saturdays, Sundays and dates `holiday_table` lists.
pub fn add_business_days(start_ms: i64, n: i64, holiday_table: &str, env: &dyn Env) -> i64 {
    Calendar::new(holiday_table).add_business_days(start_ms, n, env)
}

/// [`Calendar::business_days_between`] on UTC days.
pub fn business_days_between(
    start_ms: i64,
    end_ms: i64,
    holiday_table: &str,
    env: &dyn Env,
) -> i64 {
    Calendar::new(holiday_table).business_days_between(start_ms, end_ms, env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;
    use crate::date::parse_timestamp;
    use crate::testing::TestEnv;

    fn env() -> TestEnv {
        TestEnv::new().with_table(
            "hol",
            [
                ("_from", "2024-01-01"),
                ("_to", "2026-12-31"),
                ("2024-12-25", "Christmas"),
                ("2025-01-01", "New Year"),
                ("2025-01-06", "Epiphany"),
                ("2025-04-18", "Good Friday"),
                ("2025-12-25", "Christmas"),
                ("2025-12-26", "St Stephen"),
                ("2026-01-01", "New Year"),
            ],
        )
    }

    fn ms(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    fn d(s: &str) -> CivilDate {
        CivilDate::parse(s).unwrap()
    }

    #[test]
    fn business_days_skip_weekends() {
        let env = env();
        let cal = Calendar::new("hol");
        // Thursday 13 March 2025 + 2 → Monday 17 March.
        assert_eq!(
            cal.add_business_days_to_date(d("2025-03-13"), 2, &env),
            d("2025-03-17")
        );
        // Saturday + 1 → Monday.
        assert_eq!(
            cal.add_business_days_to_date(d("2025-03-15"), 1, &env),
            d("2025-03-17")
        );
        // Monday − 1 → Friday.
        assert_eq!(
            cal.add_business_days_to_date(d("2025-03-17"), -1, &env),
            d("2025-03-14")
        );
        assert_eq!(
            cal.add_business_days_to_date(d("2025-03-15"), 0, &env),
            d("2025-03-15")
        );
        assert!(env.logs().is_empty());
    }

    #[test]
    fn business_days_skip_holidays_next_to_weekends() {
        let env = env();
        let cal = Calendar::new("hol");
        // Thursday 17 April 2025 + 1: Good Friday, the weekend → Monday 21.
        assert_eq!(
            cal.add_business_days_to_date(d("2025-04-17"), 1, &env),
            d("2025-04-21")
        );
        assert_eq!(
            cal.holiday(d("2025-04-18"), &env).as_deref(),
            Some("Good Friday")
        );
        assert!(!cal.is_business_day(d("2025-04-19"), &env));
    }

    #[test]
    fn business_days_cross_the_year_end() {
        let env = env();
        let cal = Calendar::new("hol");
        // Wed 24 Dec 2025: 25, 26 holidays, 27-28 weekend, 29, 30, 31, 1 Jan holiday, 2 Jan.
        assert_eq!(
            cal.add_business_days_to_date(d("2025-12-24"), 4, &env),
            d("2026-01-02")
        );
        assert_eq!(
            cal.business_days_between(ms("2025-12-24T09:00:00Z"), ms("2026-01-02T09:00:00Z"), &env),
            4
        );
        // Fifteen business days from Friday 20 Dec 2024 (25 Dec, 1 Jan, 6 Jan off).
        assert_eq!(
            cal.add_business_days_to_date(d("2024-12-20"), 15, &env),
            d("2025-01-15")
        );
    }

    #[test]
    fn business_days_handle_leap_day() {
        let env = env();
        let cal = Calendar::new("hol");
        // Wed 28 Feb 2024 + 1 → Thu 29 Feb; + 2 → Fri 1 Mar; + 3 → Mon 4 Mar.
        assert_eq!(
            cal.add_business_days_to_date(d("2024-02-28"), 1, &env),
            d("2024-02-29")
        );
        assert_eq!(
            cal.add_business_days_to_date(d("2024-02-28"), 3, &env),
            d("2024-03-04")
        );
    }

    #[test]
    fn between_is_the_inverse_of_add() {
        let env = env();
        let cal = Calendar::new("hol").with_zone(Zone::CET);
        let start = ms("2025-12-19T15:00:00Z");
        for n in 0..40 {
            let end = cal.add_business_days(start, n, &env);
            assert_eq!(cal.business_days_between(start, end, &env), n, "n={n}");
            assert_eq!(cal.business_days_between(end, start, &env), -n, "n={n}");
        }
    }

    #[test]
    fn add_keeps_the_local_time_of_day_across_summer_time() {
        let env = env();
        let cal = Calendar::new("hol").with_zone(Zone::CET);
        // Friday 28 March 2025 10:00 CET (09:00 UTC) + 1 → Monday 31 March 10:00 CEST.
        let due = cal.add_business_days(ms("2025-03-28T09:00:00Z"), 1, &env);
        assert_eq!(due, ms("2025-03-31T08:00:00Z"));
        let deadline = cal.business_day_deadline(ms("2025-03-28T09:00:00Z"), 1, &env);
        assert_eq!(deadline, ms("2025-03-31T21:59:59.999Z"));
    }

    #[test]
    fn free_functions_count_utc_days() {
        let env = env();
        let fri = ms("2025-03-14T10:00:00Z");
        assert_eq!(
            add_business_days(fri, 1, "hol", &env),
            ms("2025-03-17T10:00:00Z")
        );
        assert_eq!(
            business_days_between(fri, ms("2025-03-24T00:00:00Z"), "hol", &env),
            6
        );
    }

    #[test]
    fn missing_table_counts_weekends_only_and_warns() {
        let env = TestEnv::new();
        let cal = Calendar::new("holidays-XX");
        assert!(!cal.is_available(&env));
        assert_eq!(
            cal.add_business_days_to_date(d("2025-12-24"), 1, &env),
            d("2025-12-25")
        );
        assert_eq!(env.logs().len(), 1);
        assert_eq!(env.logs()[0].0, Level::Warn);
        assert!(env.logs()[0].1.contains("holidays-XX"));
    }

    #[test]
    fn dates_outside_coverage_warn() {
        let env = env();
        let cal = Calendar::new("hol");
        cal.add_business_days_to_date(d("2026-12-30"), 5, &env);
        assert_eq!(env.logs().len(), 1);
        assert!(env.logs()[0].1.contains("2024-01-01..2026-12-31"));
    }
}
