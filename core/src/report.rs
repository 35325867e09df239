//! Operations analytics: the numbers behind `dossier report`, read from the SQL views.
//!
//! The people who run payment support ask the same questions every week: which categories and
//! root causes drive volume, which cases breach or are about to breach their SLA (per market
//! and site), what drives escalations, where agents leave an SOP without reaching a successful
//! end, and which knowledge articles are overdue for verification. Schema step 4 answers them
//! as stable SQL views (`v_case_volume`, `v_case_sla`, `v_escalations`, `v_sop_runs`,
//! `v_article_verification`, ... — see `docs/analytics.md`), so an analyst can point any SQLite
//! tool at the file. This module reads the *same* views, so the report and an analyst's SQL
//! can never disagree about what a number means.
//!
//! Only one thing differs: the views compute their time-dependent columns (`state`,
//! `hours_to_due`) with the wall clock, because a view cannot take a parameter. The report
//! recomputes them from the views' clock-free columns (`effective_due_at`, `clock_stopped_at`,
//! `next_verification_at`) with the store's clock, so tests and replays are repeatable, and with
//! the caller's "due within N hours" window.
//!
//! The report is plain data ([`Report`] is `Serialize`): the CLI prints it, writes it as JSON,
//! CSV or an HTML page with charts, and the bindings can hand it to a host app. Nothing here
//! loads an Automerge document.
//!
//! # Example
//!
//! ```
//! use dossier::report::{ReportFilter, ReportOptions};
//! use dossier::{Category, NewCase, Store, StoreOptions};
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("MX1.db"), StoreOptions {
//!     site: Some("MX1".into()),
//!     ..Default::default()
//! })?;
//! let case = store.create_case(NewCase::new("IN-UPI", Category::Refund, "Refund missing"))?;
//! store.escalate(&case.number, "psp_bank", "refund not credited after T+5")?;
//!
//! let report = store.report(&ReportOptions {
//!     filter: ReportFilter { market: Some("IN-UPI".into()), ..Default::default() },
//!     ..Default::default()
//! })?;
//! assert_eq!(report.totals.cases, 1);
//! assert_eq!(report.escalations[0].target, "psp_bank");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use rusqlite::Connection;
use rusqlite::types::Value;
use serde::Serialize;

use crate::case::check_market;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::time::parse_rfc3339;
pub use crate::time::{format_day, format_minute, parse_day};

/// Milliseconds in a day.
pub use crate::time::DAY_MS;
const HOUR_MS: i64 = 3_600_000;

/// Which cases, escalations and SOP runs a report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportFilter {
    /// Only this market (`IN-UPI`). Articles match when they list the market or list none.
    pub market: Option<String>,
    /// Only cases opened by this site (`MX1`). Articles have no site and are not filtered.
    pub site: Option<String>,
    /// Only cases opened, escalations made and SOP runs recorded at or after this time (ms).
    /// It is rounded down to the start of its UTC day, because volume is counted per day.
    /// Articles are not filtered: their verification state is a state, not an event.
    pub since: Option<i64>,
}

/// How to compute a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportOptions {
    /// What to include.
    pub filter: ReportFilter,
    /// A running SLA metric due within this many hours is `due_soon` (default 24).
    pub due_within_hours: i64,
    /// A published article due for verification within this many days is `due_soon`
    /// (default 14).
    pub verify_within_days: i64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            filter: ReportFilter::default(),
            due_within_hours: 24,
            verify_within_days: 14,
        }
    }
}

/// Headline numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Cases opened.
    pub cases: i64,
    /// Of those, solved or closed.
    pub resolved_cases: i64,
    /// Of those, escalated at least once (at any time).
    pub escalated_cases: i64,
    /// Of those, without a root cause yet (left out of [`Report::root_causes`]).
    pub root_cause_unknown: i64,
    /// Cases with at least one SLA metric.
    pub sla_cases: i64,
    /// Cases with at least one breached SLA metric.
    pub sla_breached_cases: i64,
    /// Cases not breached with a running metric due within the window.
    pub sla_due_soon_cases: i64,
    /// Escalations made.
    pub escalations: i64,
    /// SOP runs recorded.
    pub sop_runs: i64,
    /// SOP runs that ended `incomplete` or on a non-success end.
    pub sop_drop_offs: i64,
    /// Published articles past their verification date.
    pub articles_overdue: i64,
    /// Published articles due for verification within the window.
    pub articles_due_soon: i64,
}

/// Cases opened on one UTC day for one market, site, category and root cause
/// (a row of `v_case_volume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Market.
    pub market: String,
    /// Site that opened the cases.
    pub site: String,
    /// Category.
    pub category: String,
    /// Root cause; `None` while not yet known.
    pub root_cause: Option<String>,
    /// Cases opened.
    pub cases: i64,
    /// Of those, solved or closed now.
    pub resolved_cases: i64,
    /// Of those, escalated at least once.
    pub escalated_cases: i64,
}

/// Volume of one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryRow {
    /// Category.
    pub category: String,
    /// Cases opened.
    pub cases: i64,
    /// Of those, solved or closed.
    pub resolved_cases: i64,
    /// Of those, escalated at least once.
    pub escalated_cases: i64,
    /// Share of all cases in the report, 0–1.
    pub share: f64,
}

/// One bar of the root-cause Pareto chart: most frequent first. Shares are of the cases whose
/// root cause is known: a case without one is a gap in the data, not a cause to act on
/// ([`Totals::root_cause_unknown`] counts them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RootCauseRow {
    /// Root cause.
    pub root_cause: String,
    /// Cases.
    pub cases: i64,
    /// Share of the cases with a known root cause, 0–1.
    pub share: f64,
    /// Share of this and every more frequent root cause, 0–1.
    pub cumulative_share: f64,
}

/// SLA state of the cases of one market and site. Each case counts once, in its worst state:
/// breached, then due soon, running, paused, met.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlaGroupRow {
    /// Market.
    pub market: String,
    /// Site.
    pub site: String,
    /// Cases with at least one SLA metric.
    pub cases: i64,
    /// A metric was met late, or is past due unmet (a pause does not undo a breach).
    pub breached: i64,
    /// Not breached; a running metric is due within the window.
    pub due_soon: i64,
    /// Running, none due within the window.
    pub running: i64,
    /// Clocks stopped because the case is pending or on hold.
    pub paused: i64,
    /// Every metric met (or the case solved) in time.
    pub met: i64,
}

/// An SLA metric that is breached or due soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaCaseRow {
    /// Case number.
    pub number: String,
    /// Market.
    pub market: String,
    /// Site.
    pub site: String,
    /// Category.
    pub category: String,
    /// Case status.
    pub status: String,
    /// Case priority.
    pub priority: String,
    /// SLA metric, e.g. `first_reply`.
    pub metric: String,
    /// `breached` or `due_soon`.
    pub state: String,
    /// Due time including completed pauses (ms).
    pub effective_due_at: i64,
    /// When it was met, if it was (late).
    pub met_at: Option<i64>,
}

/// Escalations to one target for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationRow {
    /// Team escalated to: `product`, `engineering`, `risk`, `psp_bank`, ...
    pub target: String,
    /// The reason as the agent wrote it.
    pub reason: String,
    /// Escalations.
    pub escalations: i64,
    /// Distinct cases.
    pub cases: i64,
}

/// Escalations to one target, all reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationTargetRow {
    /// Team escalated to.
    pub target: String,
    /// Escalations.
    pub escalations: i64,
    /// Distinct cases.
    pub cases: i64,
}

/// Outcomes of the runs of one published SOP version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SopVersionRow {
    /// SOP document id.
    pub sop_id: String,
    /// Title (the id when this store does not hold the SOP).
    pub title: String,
    /// Published version walked.
    pub version: i64,
    /// Whether it is the SOP's latest published version.
    pub is_latest: bool,
    /// Runs.
    pub runs: i64,
    /// Runs that reached a `success` end.
    pub success: i64,
    /// Runs that reached a `failure` end.
    pub failure: i64,
    /// Runs that reached an end with an `unknown` result.
    pub unknown: i64,
    /// Runs the agent left before an end node.
    pub incomplete: i64,
    /// `(runs - success) / runs`.
    pub drop_off_rate: f64,
}

/// Drop-off at one node of the latest published version of an SOP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SopDropOffRow {
    /// SOP document id.
    pub sop_id: String,
    /// Title.
    pub title: String,
    /// The latest published version.
    pub version: i64,
    /// The node where the runs stopped.
    pub exit_node: String,
    /// `incomplete`, `failure` or `unknown`.
    pub outcome: String,
    /// Runs that stopped there with that outcome.
    pub runs: i64,
    /// Share of all runs of this version, 0–1.
    pub share_of_runs: f64,
}

/// Verification state of one article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleRow {
    /// Article document id.
    pub id: String,
    /// Title (first locale).
    pub title: String,
    /// Article status.
    pub status: String,
    /// Markets, comma-separated (empty: all).
    pub markets: String,
    /// Days between verifications.
    pub interval_days: i64,
    /// Last verification (ms).
    pub last_verified_at: Option<i64>,
    /// Next verification (ms); `None` unless published.
    pub next_verification_at: Option<i64>,
    /// `overdue`, `due_soon`, `current`, or `unscheduled` (not published).
    pub state: String,
    /// Whole days past due, for overdue articles.
    pub days_overdue: Option<i64>,
}

/// Everything `dossier report` shows, computed from the analytics views.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The store's clock when the report was computed (ms).
    pub generated_at: i64,
    /// The site of the store the report was computed from.
    pub store_site: String,
    /// What the report covers (`since` rounded down to the start of its UTC day).
    pub filter: ReportFilter,
    /// The SLA "due soon" window in hours.
    pub due_within_hours: i64,
    /// The article "due soon" window in days.
    pub verify_within_days: i64,
    /// Headline numbers.
    pub totals: Totals,
    /// Volume per day × market × site × category × root cause, by day.
    pub volume: Vec<VolumeRow>,
    /// Volume per category, largest first.
    pub categories: Vec<CategoryRow>,
    /// Known root causes, most frequent first (Pareto order).
    pub root_causes: Vec<RootCauseRow>,
    /// SLA state per market and site.
    pub sla_by_market_site: Vec<SlaGroupRow>,
    /// Metrics breached or due soon: unresolved cases first, earliest due first.
    pub sla_cases: Vec<SlaCaseRow>,
    /// Escalations per target and reason, most frequent first.
    pub escalations: Vec<EscalationRow>,
    /// Escalations per target, most frequent first.
    pub escalation_targets: Vec<EscalationTargetRow>,
    /// Runs per SOP and published version.
    pub sop_versions: Vec<SopVersionRow>,
    /// Drop-off per node for the latest published version of each SOP, largest first.
    pub sop_drop_off: Vec<SopDropOffRow>,
    /// Every article's verification state: overdue first, then due soon, current, unscheduled.
    pub articles: Vec<ArticleRow>,
}

impl Report {
    /// Daily case counts per category, for a trend chart: every UTC day from the first to the
    /// last day with a case (days without cases are zero), and per category one count per day.
    pub fn daily_volume_by_category(&self) -> (Vec<String>, BTreeMap<String, Vec<i64>>) {
        let days: Vec<i64> = self
            .volume
            .iter()
            .filter_map(|r| parse_day(&r.day))
            .collect();
        let (Some(first), Some(last)) = (days.iter().min(), days.iter().max()) else {
            return (Vec::new(), BTreeMap::new());
        };
        let labels: Vec<String> = (*first..=*last).map(format_day).collect();
        let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for r in &self.volume {
            let Some(d) = parse_day(&r.day) else { continue };
            let counts = series
                .entry(r.category.clone())
                .or_insert_with(|| vec![0; labels.len()]);
            if let Some(slot) = usize::try_from(d - first)
                .ok()
                .and_then(|i| counts.get_mut(i))
            {
                *slot += r.cases;
            }
        }
        (labels, series)
    }
}

/// Parses the `--since` of a report: an RFC 3339 date (`2026-10-01`) or date-time
/// (`2026-10-01T00:00:00Z`, `2026-10-01T02:00:00+02:00`), or a time before `now`: `30d`, `2w`,
/// `12h`. Returns milliseconds since the Unix epoch.
///
/// # Errors
/// [`Error::Invalid`] for anything else.
pub fn parse_since(input: &str, now: i64) -> Result<i64> {
    let s = input.trim();
    let bad = || {
        Error::invalid(
            "since",
            "use a date (2026-10-01), an RFC 3339 time (2026-10-01T00:00:00Z) or an age (30d, 2w, 12h)",
        )
    };
    if let Some(unit) = s.chars().last().filter(char::is_ascii_alphabetic)
        && s.len() > 1
        && s[..s.len() - 1].chars().all(|c| c.is_ascii_digit())
    {
        let n: i64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
        let unit_ms = match unit.to_ascii_lowercase() {
            'h' => HOUR_MS,
            'd' => DAY_MS,
            'w' => 7 * DAY_MS,
            _ => return Err(bad()),
        };
        return n
            .checked_mul(unit_ms)
            .and_then(|ms| now.checked_sub(ms))
            .ok_or_else(bad);
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// A query under construction: SQL text and its positional arguments, so filter values are
/// always bound, never spliced into the SQL.
struct Query {
    sql: String,
    args: Vec<Value>,
}

impl Query {
    fn new(sql: &str) -> Self {
        Query {
            sql: sql.to_string(),
            args: Vec::new(),
        }
    }

    /// Binds `v` and returns its placeholder.
    fn bind(&mut self, v: impl Into<Value>) -> String {
        self.args.push(v.into());
        format!("?{}", self.args.len())
    }

    /// Appends ` AND <column> = ?` / `>= ?` for each filter; `time` names the column that
    /// `since` applies to (`None`: not filtered by time).
    fn filter(&mut self, f: &ReportFilter, time: Option<&str>) {
        if let Some(m) = &f.market {
            let p = self.bind(m.clone());
            self.sql.push_str(&format!(" AND market = {p}"));
        }
        if let Some(s) = &f.site {
            let p = self.bind(s.clone());
            self.sql.push_str(&format!(" AND site = {p}"));
        }
        if let (Some(since), Some(col)) = (f.since, time) {
            let p = self.bind(since);
            self.sql.push_str(&format!(" AND {col} >= {p}"));
        }
    }

    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    fn rows<T>(
        &self,
        c: &Connection,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = c.prepare(&self.sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(self.args.iter()), f)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// SLA states in the order "worst wins" for a case.
const SLA_RANK: &[&str] = &["met", "paused", "running", "due_soon", "breached"];

fn sla_rank(state: &str) -> usize {
    SLA_RANK.iter().position(|s| *s == state).unwrap_or(0)
}

fn validate(options: &ReportOptions) -> Result<()> {
    if let Some(m) = &options.filter.market {
        check_market(m)?;
    }
    if let Some(s) = &options.filter.site {
        let ok = (1..=16).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            return Err(Error::invalid(
                "site",
                "use 1-16 uppercase letters and digits (e.g. MX1)",
            ));
        }
    }
    if !(0..=24 * 366).contains(&options.due_within_hours) {
        return Err(Error::invalid("due within hours", "use 0 to 8784 hours"));
    }
    if !(0..=3650).contains(&options.verify_within_days) {
        return Err(Error::invalid("verify within days", "use 0 to 3650 days"));
    }
    Ok(())
}

impl Store {
    /// Computes the operations report from the analytics views, with the store's clock.
    ///
    /// Every number can be reproduced with SQL over the same file: `docs/analytics.md` gives
    /// the views and example queries.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed market or site filter or an out-of-range window;
    /// storage errors otherwise.
    pub fn report(&self, options: &ReportOptions) -> Result<Report> {
        validate(options)?;
        let now = self.now();
        let mut filter = options.filter.clone();
        filter.since = filter.since.map(|s| s.div_euclid(DAY_MS) * DAY_MS);
        // One read transaction, so every section sees the same snapshot of the file.
        self.read(|c| {
            // Dropping the transaction ends it (a rollback: nothing was written).
            let tx = c.unchecked_transaction()?;
            compute(&tx, &filter, options, now, self.site())
        })
    }
}

fn compute(
    c: &Connection,
    filter: &ReportFilter,
    options: &ReportOptions,
    now: i64,
    site: &str,
) -> Result<Report> {
    let volume = volume(c, filter)?;
    let categories = categories(c, filter)?;
    let (root_causes, root_cause_unknown) = root_causes(c, filter)?;
    let (sla_by_market_site, sla_cases) = sla(c, filter, now, options.due_within_hours)?;
    let (escalations, escalation_targets) = escalations(c, filter)?;
    let (sop_versions, sop_drop_off) = sops(c, filter)?;
    let articles = articles(c, filter, now, options.verify_within_days)?;
    let sum = |f: fn(&SlaGroupRow) -> i64| sla_by_market_site.iter().map(f).sum::<i64>();
    let count_articles = |state: &str| articles.iter().filter(|a| a.state == state).count() as i64;
    let totals = Totals {
        cases: categories.iter().map(|r| r.cases).sum(),
        resolved_cases: categories.iter().map(|r| r.resolved_cases).sum(),
        escalated_cases: categories.iter().map(|r| r.escalated_cases).sum(),
        root_cause_unknown,
        sla_cases: sum(|r| r.cases),
        sla_breached_cases: sum(|r| r.breached),
        sla_due_soon_cases: sum(|r| r.due_soon),
        escalations: escalation_targets.iter().map(|r| r.escalations).sum(),
        sop_runs: sop_versions.iter().map(|r| r.runs).sum(),
        sop_drop_offs: sop_versions.iter().map(|r| r.runs - r.success).sum(),
        articles_overdue: count_articles("overdue"),
        articles_due_soon: count_articles("due_soon"),
    };
    Ok(Report {
        generated_at: now,
        store_site: site.to_string(),
        filter: filter.clone(),
        due_within_hours: options.due_within_hours,
        verify_within_days: options.verify_within_days,
        totals,
        volume,
        categories,
        root_causes,
        sla_by_market_site,
        sla_cases,
        escalations,
        escalation_targets,
        sop_versions,
        sop_drop_off,
        articles,
    })
}

/// `since` for a view with a day column: the filter is already a day start, so comparing
/// day strings is exact.
fn day_filter(q: &mut Query, f: &ReportFilter) {
    q.filter(
        &ReportFilter {
            since: None,
            ..f.clone()
        },
        None,
    );
    if let Some(since) = f.since {
        let p = q.bind(format_day(since.div_euclid(DAY_MS)));
        q.push(&format!(" AND day >= {p}"));
    }
}

fn volume(c: &Connection, f: &ReportFilter) -> Result<Vec<VolumeRow>> {
    let mut q = Query::new(
        "SELECT day, market, site, category, root_cause, cases, resolved_cases, escalated_cases \
         FROM v_case_volume WHERE 1=1",
    );
    day_filter(&mut q, f);
    q.push(" ORDER BY day, market, site, category, root_cause");
    q.rows(c, |r| {
        Ok(VolumeRow {
            day: r.get(0)?,
            market: r.get(1)?,
            site: r.get(2)?,
            category: r.get(3)?,
            root_cause: r.get(4)?,
            cases: r.get(5)?,
            resolved_cases: r.get(6)?,
            escalated_cases: r.get(7)?,
        })
    })
}

fn categories(c: &Connection, f: &ReportFilter) -> Result<Vec<CategoryRow>> {
    let mut q = Query::new(
        "SELECT category, sum(cases), sum(resolved_cases), sum(escalated_cases) \
         FROM v_case_volume WHERE 1=1",
    );
    day_filter(&mut q, f);
    q.push(" GROUP BY category ORDER BY sum(cases) DESC, category");
    let rows = q.rows(c, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let total: i64 = rows.iter().map(|r| r.1).sum();
    Ok(rows
        .into_iter()
        .map(
            |(category, cases, resolved_cases, escalated_cases)| CategoryRow {
                category,
                cases,
                resolved_cases,
                escalated_cases,
                share: share(cases, total),
            },
        )
        .collect())
}

/// Known root causes in Pareto order, and the number of cases without one.
fn root_causes(c: &Connection, f: &ReportFilter) -> Result<(Vec<RootCauseRow>, i64)> {
    let mut q =
        Query::new("SELECT root_cause, sum(cases) FROM v_case_volume WHERE root_cause IS NOT NULL");
    day_filter(&mut q, f);
    q.push(" GROUP BY root_cause ORDER BY sum(cases) DESC, root_cause");
    let rows = q.rows(c, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut q =
        Query::new("SELECT coalesce(sum(cases), 0) FROM v_case_volume WHERE root_cause IS NULL");
    day_filter(&mut q, f);
    let unknown = q
        .rows(c, |r| r.get::<_, i64>(0))?
        .first()
        .copied()
        .unwrap_or(0);
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let mut running = 0;
    let rows = rows
        .into_iter()
        .map(|(root_cause, cases)| {
            running += cases;
            RootCauseRow {
                root_cause,
                cases,
                share: share(cases, total),
                cumulative_share: share(running, total),
            }
        })
        .collect();
    Ok((rows, unknown))
}

/// The state of each SLA metric at `now`, from the clock-free columns of `v_case_sla`. The
/// same rules as the view's `state` column, plus `due_soon`.
const SLA_STATE_SQL: &str = "CASE \
     WHEN coalesce(clock_stopped_at, ?1) > effective_due_at THEN 'breached' \
     WHEN met_at IS NOT NULL OR terminal_at IS NOT NULL THEN 'met' \
     WHEN paused_since IS NOT NULL THEN 'paused' \
     WHEN effective_due_at <= ?1 + ?2 THEN 'due_soon' \
     ELSE 'running' END";

fn sla(
    c: &Connection,
    f: &ReportFilter,
    now: i64,
    within_hours: i64,
) -> Result<(Vec<SlaGroupRow>, Vec<SlaCaseRow>)> {
    let mut q = Query::new("");
    q.bind(now);
    q.bind(within_hours.saturating_mul(HOUR_MS));
    q.push(&format!(
        "SELECT case_id, number, market, site, category, status, priority, metric, \
         effective_due_at, met_at, terminal_at IS NOT NULL, {SLA_STATE_SQL} AS state \
         FROM v_case_sla WHERE 1=1"
    ));
    q.filter(f, Some("created_at"));
    struct Row {
        case_id: String,
        resolved: bool,
        case: SlaCaseRow,
    }
    let rows = q.rows(c, |r| {
        Ok(Row {
            case_id: r.get(0)?,
            resolved: r.get(10)?,
            case: SlaCaseRow {
                number: r.get(1)?,
                market: r.get(2)?,
                site: r.get(3)?,
                category: r.get(4)?,
                status: r.get(5)?,
                priority: r.get(6)?,
                metric: r.get(7)?,
                effective_due_at: r.get(8)?,
                met_at: r.get(9)?,
                state: r.get(11)?,
            },
        })
    })?;
    // Worst state per case, then counted per market and site.
    let mut worst: BTreeMap<&str, (&SlaCaseRow, usize)> = BTreeMap::new();
    for row in &rows {
        let rank = sla_rank(&row.case.state);
        let e = worst.entry(&row.case_id).or_insert((&row.case, rank));
        e.1 = e.1.max(rank);
    }
    let mut groups: BTreeMap<(String, String), SlaGroupRow> = BTreeMap::new();
    for (case, rank) in worst.values() {
        let g = groups
            .entry((case.market.clone(), case.site.clone()))
            .or_insert_with(|| SlaGroupRow {
                market: case.market.clone(),
                site: case.site.clone(),
                ..Default::default()
            });
        g.cases += 1;
        match SLA_RANK.get(*rank).copied().unwrap_or("met") {
            "breached" => g.breached += 1,
            "due_soon" => g.due_soon += 1,
            "running" => g.running += 1,
            "paused" => g.paused += 1,
            _ => g.met += 1,
        }
    }
    let mut attention: Vec<(bool, SlaCaseRow)> = rows
        .into_iter()
        .filter(|r| matches!(r.case.state.as_str(), "breached" | "due_soon"))
        .map(|r| (r.resolved, r.case))
        .collect();
    attention.sort_by(|a, b| {
        (a.0, a.1.effective_due_at, &a.1.number, &a.1.metric).cmp(&(
            b.0,
            b.1.effective_due_at,
            &b.1.number,
            &b.1.metric,
        ))
    });
    Ok((
        groups.into_values().collect(),
        attention.into_iter().map(|(_, r)| r).collect(),
    ))
}

fn escalations(
    c: &Connection,
    f: &ReportFilter,
) -> Result<(Vec<EscalationRow>, Vec<EscalationTargetRow>)> {
    let mut q = Query::new(
        "SELECT target, reason, count(*), count(DISTINCT case_id) FROM v_escalations WHERE 1=1",
    );
    q.filter(f, Some("at"));
    q.push(" GROUP BY target, reason ORDER BY count(*) DESC, target, reason");
    let by_reason = q.rows(c, |r| {
        Ok(EscalationRow {
            target: r.get(0)?,
            reason: r.get(1)?,
            escalations: r.get(2)?,
            cases: r.get(3)?,
        })
    })?;
    let mut q =
        Query::new("SELECT target, count(*), count(DISTINCT case_id) FROM v_escalations WHERE 1=1");
    q.filter(f, Some("at"));
    q.push(" GROUP BY target ORDER BY count(*) DESC, target");
    let by_target = q.rows(c, |r| {
        Ok(EscalationTargetRow {
            target: r.get(0)?,
            escalations: r.get(1)?,
            cases: r.get(2)?,
        })
    })?;
    Ok((by_reason, by_target))
}

fn sops(c: &Connection, f: &ReportFilter) -> Result<(Vec<SopVersionRow>, Vec<SopDropOffRow>)> {
    let mut q = Query::new(
        "SELECT sop_id, coalesce(sop_title, sop_id), version, coalesce(is_latest_version, 0), \
         count(*), sum(outcome = 'success'), sum(outcome = 'failure'), sum(outcome = 'unknown'), \
         sum(outcome = 'incomplete') FROM v_sop_runs WHERE 1=1",
    );
    q.filter(f, Some("at"));
    q.push(" GROUP BY sop_id, version ORDER BY coalesce(sop_title, sop_id), sop_id, version DESC");
    let versions = q.rows(c, |r| {
        let runs: i64 = r.get(4)?;
        let success: i64 = r.get(5)?;
        Ok(SopVersionRow {
            sop_id: r.get(0)?,
            title: r.get(1)?,
            version: r.get(2)?,
            is_latest: r.get(3)?,
            runs,
            success,
            failure: r.get(6)?,
            unknown: r.get(7)?,
            incomplete: r.get(8)?,
            drop_off_rate: share(runs - success, runs),
        })
    })?;
    let mut q = Query::new(
        "SELECT sop_id, coalesce(sop_title, sop_id), version, exit_node, outcome, count(*) \
         FROM v_sop_runs WHERE is_latest_version AND drop_off",
    );
    q.filter(f, Some("at"));
    q.push(" GROUP BY sop_id, version, exit_node, outcome");
    let mut drop_off = q.rows(c, |r| {
        Ok(SopDropOffRow {
            sop_id: r.get(0)?,
            title: r.get(1)?,
            version: r.get(2)?,
            exit_node: r.get(3)?,
            outcome: r.get(4)?,
            runs: r.get(5)?,
            share_of_runs: 0.0,
        })
    })?;
    for d in &mut drop_off {
        let runs = versions
            .iter()
            .find(|v| v.sop_id == d.sop_id && v.version == d.version)
            .map_or(0, |v| v.runs);
        d.share_of_runs = share(d.runs, runs);
    }
    drop_off.sort_by(|a, b| {
        (
            &a.title,
            &a.sop_id,
            std::cmp::Reverse(a.runs),
            &a.exit_node,
            &a.outcome,
        )
            .cmp(&(
                &b.title,
                &b.sop_id,
                std::cmp::Reverse(b.runs),
                &b.exit_node,
                &b.outcome,
            ))
    });
    Ok((versions, drop_off))
}

fn articles(
    c: &Connection,
    f: &ReportFilter,
    now: i64,
    within_days: i64,
) -> Result<Vec<ArticleRow>> {
    let mut q = Query::new("");
    let p_now = q.bind(now);
    let p_window = q.bind(within_days.saturating_mul(DAY_MS));
    q.push(&format!(
        "SELECT id, title, status, markets, interval_days, last_verified_at, next_verification_at, \
         CASE WHEN next_verification_at IS NULL THEN 'unscheduled' \
              WHEN next_verification_at <= {p_now} THEN 'overdue' \
              WHEN next_verification_at <= {p_now} + {p_window} THEN 'due_soon' \
              ELSE 'current' END AS state, \
         CASE WHEN next_verification_at <= {p_now} \
              THEN ({p_now} - next_verification_at) / {DAY_MS} END \
         FROM v_article_verification WHERE 1=1"
    ));
    if let Some(m) = &f.market {
        let p = q.bind(m.clone());
        q.push(&format!(
            " AND (markets = '' OR instr(',' || markets || ',', ',' || {p} || ',') > 0)"
        ));
    }
    q.push(
        " ORDER BY CASE state WHEN 'overdue' THEN 0 WHEN 'due_soon' THEN 1 WHEN 'current' THEN 2 \
         ELSE 3 END, next_verification_at, title, id",
    );
    q.rows(c, |r| {
        Ok(ArticleRow {
            id: r.get(0)?,
            title: r.get(1)?,
            status: r.get(2)?,
            markets: r.get(3)?,
            interval_days: r.get(4)?,
            last_verified_at: r.get(5)?,
            next_verification_at: r.get(6)?,
            state: r.get(7)?,
            days_overdue: r.get(8)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_ages_count_back_from_now() {
        let now = 10 * DAY_MS;
        assert_eq!(parse_since("3d", now).unwrap(), 7 * DAY_MS);
        assert_eq!(parse_since("1w", now).unwrap(), 3 * DAY_MS);
        assert_eq!(parse_since("12h", now).unwrap(), 10 * DAY_MS - 12 * HOUR_MS);
    }

    #[test]
    fn dates_and_rfc3339_times_parse_to_utc_milliseconds() {
        assert_eq!(parse_since("1970-01-02", 0).unwrap(), DAY_MS);
        assert_eq!(
            parse_since("2026-11-02T09:00:00Z", 0).unwrap(),
            1_793_610_000_000
        );
        assert_eq!(
            parse_since("2026-11-02T11:00:00.5+02:00", 0).unwrap(),
            1_793_610_000_500
        );
    }

    #[test]
    fn malformed_since_values_are_invalid_not_panics() {
        for bad in [
            "",
            "d",
            "30x",
            "2026-13-01",
            "2026-02-30",
            "2026-11-02T25:00:00Z",
            "yesterday",
            "2026-11-02T09:00",
            "-3d",
            "99999999999999999999d",
            "é3d",
        ] {
            assert!(
                matches!(parse_since(bad, 0), Err(Error::Invalid { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_through_the_calendar() {
        for d in -200_000..200_000 {
            assert_eq!(parse_day(&format_day(d)), Some(d));
        }
    }

    /// A store on the system clock, as the views use the wall clock.
    fn wall_clock_store(dir: &std::path::Path) -> Store {
        Store::open(
            dir.join("MX1.db"),
            crate::StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn the_views_sla_state_agrees_with_the_report_at_the_same_instant() {
        use crate::{CaseUpdate, Category, NewCase, Status};
        let dir = tempfile::tempdir().unwrap();
        let store = wall_clock_store(dir.path());
        let now = store.now();
        let case = |due: i64| {
            let c = store
                .create_case(NewCase::new("ES", Category::Refund, "Refund missing"))
                .unwrap();
            store.set_sla(&c.number, "first_reply", now + due).unwrap();
            store
                .set_sla(&c.number, "resolution", now + due + 10 * HOUR_MS)
                .unwrap();
            c.number
        };
        case(-2 * HOUR_MS); // breached, then running
        case(5 * HOUR_MS); // running
        let paused = case(3 * HOUR_MS);
        store
            .update_case(
                &paused,
                CaseUpdate {
                    status: Some(Status::Pending),
                    ..Default::default()
                },
            )
            .unwrap();
        let met = case(HOUR_MS);
        store.mark_sla_met(&met, "first_reply").unwrap();
        let solved = case(HOUR_MS);
        store
            .update_case(
                &solved,
                CaseUpdate {
                    status: Some(Status::Solved),
                    ..Default::default()
                },
            )
            .unwrap();
        let rows: Vec<(String, String)> = store
            .read(|c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT state, {SLA_STATE_SQL} FROM v_case_sla ORDER BY number, metric"
                ))?;
                let rows = stmt.query_map(rusqlite::params![store.now(), 0], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(rows.len(), 10);
        for (view, report) in &rows {
            assert_eq!(view, report);
        }
        let states: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            states,
            [
                "breached", "running", "running", "running", "paused", "paused", "met", "running",
                "met", "met"
            ]
        );
    }

    #[test]
    fn the_views_article_state_agrees_with_the_report_at_the_same_instant() {
        use crate::{ArticleStatus, NewArticle};
        let dir = tempfile::tempdir().unwrap();
        let store = wall_clock_store(dir.path());
        for (interval, publish) in [(1, true), (30, true), (7, false)] {
            let a = store
                .create_article(NewArticle {
                    title: [("en".to_string(), format!("every {interval} days"))].into(),
                    interval_days: Some(interval),
                    ..Default::default()
                })
                .unwrap();
            if publish {
                store
                    .set_article_status(&a.id, ArticleStatus::Published)
                    .unwrap();
            }
        }
        let view: Vec<(String, String)> = store
            .read(|c| {
                let mut stmt =
                    c.prepare("SELECT id, state FROM v_article_verification ORDER BY id")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        let report = store.report(&ReportOptions::default()).unwrap();
        let mut from_report: Vec<(String, String)> = report
            .articles
            .iter()
            .map(|a| (a.id.clone(), a.state.clone()))
            .collect();
        from_report.sort();
        assert_eq!(view, from_report);
        let mut states: Vec<&str> = view.iter().map(|v| v.1.as_str()).collect();
        states.sort_unstable();
        assert_eq!(states, ["current", "due_soon", "unscheduled"]);
    }

    #[test]
    fn minutes_format_in_utc() {
        assert_eq!(format_minute(1_793_610_000_000), "2026-11-02 09:00");
    }
}
