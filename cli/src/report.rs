//! `dossier report`: the operations report as a terminal summary, JSON, CSV files or one HTML
//! page with charts.
//!
//! Every number comes from [`dossier::Store::report`], which reads the analytics SQL views; this
//! file only lays the numbers out, so the terminal, the CSV files, the HTML page and an analyst's
//! own SQL always agree. The HTML page is for the operations lead who opens it on a vendor-site
//! laptop that may be offline: it is one file with inline CSS and inline SVG charts, no scripts,
//! no fonts or stylesheets from anywhere, and a Content-Security-Policy that forbids the browser
//! to fetch anything at all. The charts are drawn by plotters' SVG backend (no bitmap, font or
//! image stack), not assembled from hand-written SVG strings.
//!
//! The module depends on nothing else in this crate, so `cli/tests/report_browser.rs` can
//! compile it as it is and render a fixture in a real browser.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use dossier::Store;
use dossier::report::{self as rep, Report, ReportFilter, ReportOptions};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// `dossier report`: categories, root causes, SLA, escalations, SOP drop-off and articles due
/// for verification.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportArgs {
    /// Also write one self-contained HTML file with charts (opens offline, fetches nothing).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write one CSV file per table into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Only this market, e.g. IN-UPI.
    #[arg(long, value_name = "MARKET")]
    pub market: Option<String>,
    /// Only cases opened by this site, e.g. MX1.
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Only cases, escalations and SOP runs since WHEN: a date (2026-10-01), an RFC 3339 time,
    /// or an age (30d, 2w, 12h). Rounded down to the start of its UTC day.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// SLA metrics due within this many hours count as due soon.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub due_within: i64,
}

/// Runs `dossier report` on `store`, printing to standard output: the summary, or the report
/// as JSON with `json`; `--csv` and `--html` files are written first.
///
/// # Errors
/// A bad filter value, a storage error, or a file that cannot be written.
pub fn run(store: &Store, args: &ReportArgs, json: bool) -> Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    run_to(store, args, json, &mut out)
}

/// [`run`], printing to `out`.
///
/// # Errors
/// As [`run`].
pub fn run_to(store: &Store, args: &ReportArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let report = store.report(&options(store, args)?)?;
    let mut written = Vec::new();
    if let Some(dir) = &args.csv {
        let files = write_csv(&report, dir)?;
        written.push(format!("{files} CSV tables in {}", dir.display()));
    }
    if let Some(path) = &args.html {
        write_report_html(&report, path)?;
        written.push(format!("HTML report {}", path.display()));
    }
    if json {
        // Serialized first, so that a closed pipe (`| head`) is a plain I/O error for `main`.
        let text = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    summary(&report, out)?;
    for w in written {
        writeln!(out, "wrote {w}")?;
    }
    Ok(())
}

/// Computes the report for `filter` and writes it as one self-contained HTML file at `path`
/// (for `dossier demo` and other callers that want the page without the terminal summary).
///
/// # Errors
/// A bad filter value, a storage error, or a file that cannot be written.
pub fn write_html(store: &Store, path: &Path, filter: &ReportFilter) -> Result<Report> {
    let report = store.report(&ReportOptions {
        filter: filter.clone(),
        ..Default::default()
    })?;
    write_report_html(&report, path)?;
    Ok(report)
}

fn options(store: &Store, args: &ReportArgs) -> Result<ReportOptions> {
    let since = match &args.since {
        Some(s) => Some(rep::parse_since(s, store.now())?),
        None => None,
    };
    // Market and site codes are upper case everywhere; accept what people type.
    let upper = |s: &Option<String>| s.as_ref().map(|s| s.trim().to_ascii_uppercase());
    Ok(ReportOptions {
        filter: ReportFilter {
            market: upper(&args.market),
            site: upper(&args.site),
            since,
        },
        due_within_hours: args.due_within,
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Tables: one definition per table, shared by the terminal, the CSV files and the HTML page.

/// A table of display-ready cells. `columns` are (CSV name, heading).
struct Table {
    file: &'static str,
    title: String,
    columns: Vec<(&'static str, &'static str)>,
    rows: Vec<Vec<String>>,
}

fn pct(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

fn time(ms: Option<i64>) -> String {
    ms.map(rep::format_minute).unwrap_or_default()
}

fn totals_table(r: &Report) -> Table {
    let t = &r.totals;
    let rows = [
        ("cases opened", t.cases),
        ("resolved (solved or closed)", t.resolved_cases),
        ("escalated at least once", t.escalated_cases),
        ("without a root cause yet", t.root_cause_unknown),
        ("cases with an SLA", t.sla_cases),
        ("cases with a breached SLA", t.sla_breached_cases),
        ("cases due within the window", t.sla_due_soon_cases),
        ("escalations", t.escalations),
        ("SOP runs", t.sop_runs),
        ("SOP drop-offs", t.sop_drop_offs),
        ("articles overdue for verification", t.articles_overdue),
        ("articles due for verification soon", t.articles_due_soon),
    ];
    Table {
        file: "totals",
        title: "Totals".into(),
        columns: vec![("metric", "metric"), ("value", "value")],
        rows: rows
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.to_string()])
            .collect(),
    }
}

fn volume_table(r: &Report) -> Table {
    Table {
        file: "volume",
        title: "Cases per day, market, site, category and root cause".into(),
        columns: vec![
            ("day", "day"),
            ("market", "market"),
            ("site", "site"),
            ("category", "category"),
            ("root_cause", "root cause"),
            ("cases", "cases"),
            ("resolved_cases", "resolved"),
            ("escalated_cases", "escalated"),
        ],
        rows: r
            .volume
            .iter()
            .map(|v| {
                vec![
                    v.day.clone(),
                    v.market.clone(),
                    v.site.clone(),
                    v.category.clone(),
                    v.root_cause.clone().unwrap_or_default(),
                    v.cases.to_string(),
                    v.resolved_cases.to_string(),
                    v.escalated_cases.to_string(),
                ]
            })
            .collect(),
    }
}

fn daily_table(r: &Report) -> Table {
    let (days, series) = r.daily_volume_by_category();
    let categories: Vec<&String> = series.keys().collect();
    // A pivot's columns depend on the data, so its headings are its first row (see `headings`).
    let mut rows = vec![
        std::iter::once("day".to_string())
            .chain(categories.iter().map(|c| c.to_string()))
            .chain(std::iter::once("total".to_string()))
            .collect::<Vec<_>>(),
    ];
    for (i, d) in days.iter().enumerate() {
        let counts: Vec<i64> = categories
            .iter()
            .map(|c| series[*c].get(i).copied().unwrap_or(0))
            .collect();
        let total: i64 = counts.iter().sum();
        rows.push(
            std::iter::once(d.clone())
                .chain(counts.iter().map(i64::to_string))
                .chain(std::iter::once(total.to_string()))
                .collect(),
        );
    }
    Table {
        file: "daily_volume_by_category",
        title: "Cases opened per day by category".into(),
        columns: Vec::new(),
        rows,
    }
}

fn categories_table(r: &Report) -> Table {
    Table {
        file: "categories",
        title: "Volume by category".into(),
        columns: vec![
            ("category", "category"),
            ("cases", "cases"),
            ("share_pct", "share %"),
            ("resolved_cases", "resolved"),
            ("escalated_cases", "escalated"),
        ],
        rows: r
            .categories
            .iter()
            .map(|c| {
                vec![
                    c.category.clone(),
                    c.cases.to_string(),
                    pct(c.share),
                    c.resolved_cases.to_string(),
                    c.escalated_cases.to_string(),
                ]
            })
            .collect(),
    }
}

fn root_causes_table(r: &Report) -> Table {
    Table {
        file: "root_causes",
        title: format!(
            "Root causes (Pareto; {} cases without a root cause yet are left out)",
            r.totals.root_cause_unknown
        ),
        columns: vec![
            ("root_cause", "root cause"),
            ("cases", "cases"),
            ("share_pct", "share %"),
            ("cumulative_pct", "cumulative %"),
        ],
        rows: r
            .root_causes
            .iter()
            .map(|c| {
                vec![
                    c.root_cause.clone(),
                    c.cases.to_string(),
                    pct(c.share),
                    pct(c.cumulative_share),
                ]
            })
            .collect(),
    }
}

fn sla_groups_table(r: &Report) -> Table {
    Table {
        file: "sla_by_market_site",
        title: "SLA state by market and site (each case once, in its worst state)".into(),
        columns: vec![
            ("market", "market"),
            ("site", "site"),
            ("cases", "cases"),
            ("breached", "breached"),
            ("due_soon", "due soon"),
            ("running", "running"),
            ("paused", "paused"),
            ("met", "met"),
        ],
        rows: r
            .sla_by_market_site
            .iter()
            .map(|g| {
                vec![
                    g.market.clone(),
                    g.site.clone(),
                    g.cases.to_string(),
                    g.breached.to_string(),
                    g.due_soon.to_string(),
                    g.running.to_string(),
                    g.paused.to_string(),
                    g.met.to_string(),
                ]
            })
            .collect(),
    }
}

fn sla_cases_table(r: &Report) -> Table {
    Table {
        file: "sla_cases",
        title: format!(
            "SLA metrics breached or due within {} h (open cases first)",
            r.due_within_hours
        ),
        columns: vec![
            ("number", "case"),
            ("market", "market"),
            ("site", "site"),
            ("category", "category"),
            ("status", "status"),
            ("priority", "priority"),
            ("metric", "metric"),
            ("state", "state"),
            ("effective_due_at", "due (UTC)"),
            ("met_at", "met (UTC)"),
        ],
        rows: r
            .sla_cases
            .iter()
            .map(|c| {
                vec![
                    c.number.clone(),
                    c.market.clone(),
                    c.site.clone(),
                    c.category.clone(),
                    c.status.clone(),
                    c.priority.clone(),
                    c.metric.clone(),
                    c.state.clone(),
                    time(Some(c.effective_due_at)),
                    time(c.met_at),
                ]
            })
            .collect(),
    }
}

fn escalation_targets_table(r: &Report) -> Table {
    Table {
        file: "escalation_targets",
        title: "Escalations by target".into(),
        columns: vec![
            ("target", "target"),
            ("escalations", "escalations"),
            ("cases", "cases"),
        ],
        rows: r
            .escalation_targets
            .iter()
            .map(|e| {
                vec![
                    e.target.clone(),
                    e.escalations.to_string(),
                    e.cases.to_string(),
                ]
            })
            .collect(),
    }
}

fn escalations_table(r: &Report) -> Table {
    Table {
        file: "escalations",
        title: "Escalation drivers (target and reason)".into(),
        columns: vec![
            ("target", "target"),
            ("reason", "reason"),
            ("escalations", "escalations"),
            ("cases", "cases"),
        ],
        rows: r
            .escalations
            .iter()
            .map(|e| {
                vec![
                    e.target.clone(),
                    e.reason.clone(),
                    e.escalations.to_string(),
                    e.cases.to_string(),
                ]
            })
            .collect(),
    }
}

fn sop_versions_table(r: &Report) -> Table {
    Table {
        file: "sop_versions",
        title: "SOP runs by version".into(),
        columns: vec![
            ("sop", "SOP"),
            ("version", "version"),
            ("latest", "latest"),
            ("runs", "runs"),
            ("success", "success"),
            ("failure", "failure"),
            ("unknown", "unknown"),
            ("incomplete", "incomplete"),
            ("drop_off_pct", "drop-off %"),
            ("sop_id", "SOP id"),
        ],
        rows: r
            .sop_versions
            .iter()
            .map(|v| {
                vec![
                    v.title.clone(),
                    v.version.to_string(),
                    if v.is_latest { "yes" } else { "" }.into(),
                    v.runs.to_string(),
                    v.success.to_string(),
                    v.failure.to_string(),
                    v.unknown.to_string(),
                    v.incomplete.to_string(),
                    pct(v.drop_off_rate),
                    v.sop_id.clone(),
                ]
            })
            .collect(),
    }
}

fn sop_drop_off_table(r: &Report) -> Table {
    Table {
        file: "sop_drop_off",
        title: "SOP drop-off per node (latest published versions)".into(),
        columns: vec![
            ("sop", "SOP"),
            ("version", "version"),
            ("exit_node", "left at node"),
            ("outcome", "outcome"),
            ("runs", "runs"),
            ("share_of_runs_pct", "% of runs"),
            ("sop_id", "SOP id"),
        ],
        rows: r
            .sop_drop_off
            .iter()
            .map(|d| {
                vec![
                    d.title.clone(),
                    d.version.to_string(),
                    d.exit_node.clone(),
                    d.outcome.clone(),
                    d.runs.to_string(),
                    pct(d.share_of_runs),
                    d.sop_id.clone(),
                ]
            })
            .collect(),
    }
}

fn articles_table(r: &Report, only_due: bool) -> Table {
    Table {
        file: "articles",
        title: if only_due {
            format!(
                "Articles overdue or due for verification within {} days",
                r.verify_within_days
            )
        } else {
            "Article verification".into()
        },
        columns: vec![
            ("title", "title"),
            ("state", "state"),
            ("days_overdue", "days overdue"),
            ("next_verification_at", "next verification (UTC)"),
            ("last_verified_at", "last verified (UTC)"),
            ("interval_days", "every (days)"),
            ("status", "status"),
            ("markets", "markets"),
            ("id", "id"),
        ],
        rows: r
            .articles
            .iter()
            .filter(|a| !only_due || matches!(a.state.as_str(), "overdue" | "due_soon"))
            .map(|a| {
                vec![
                    a.title.clone(),
                    a.state.clone(),
                    a.days_overdue.map(|d| d.to_string()).unwrap_or_default(),
                    time(a.next_verification_at),
                    time(a.last_verified_at),
                    a.interval_days.to_string(),
                    a.status.clone(),
                    a.markets.clone(),
                    a.id.clone(),
                ]
            })
            .collect(),
    }
}

/// The headings of a table: its columns, or the first row of a pivot.
fn headings(t: &Table) -> (Vec<String>, &[Vec<String>]) {
    if t.columns.is_empty() {
        match t.rows.split_first() {
            Some((head, rest)) => (head.clone(), rest),
            None => (Vec::new(), &[]),
        }
    } else {
        (
            t.columns.iter().map(|(_, h)| h.to_string()).collect(),
            &t.rows,
        )
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
}

// ---------------------------------------------------------------------------------------------
// Terminal.

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn print_table(out: &mut dyn Write, t: &Table, limit: usize) -> Result<()> {
    let (head, rows) = headings(t);
    writeln!(out, "\n{}", t.title)?;
    if rows.is_empty() {
        writeln!(out, "  (none)")?;
        return Ok(());
    }
    let shown: Vec<Vec<String>> = rows
        .iter()
        .take(limit)
        .map(|r| r.iter().map(|c| truncate(c, 48)).collect())
        .collect();
    let numeric: Vec<bool> = (0..head.len())
        .map(|i| {
            shown
                .iter()
                .all(|r| r.get(i).is_none_or(|c| c.is_empty() || is_number(c)))
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            shown
                .iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&head[i]))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::from(" ");
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map(String::as_str).unwrap_or("");
            let pad = w.saturating_sub(c.chars().count());
            s.push_str("  ");
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(&head))?;
    for r in &shown {
        writeln!(out, "{}", line(r))?;
    }
    if rows.len() > limit {
        writeln!(
            out,
            "  … {} more (use --csv DIR or --json for all)",
            rows.len() - limit
        )?;
    }
    Ok(())
}

fn describe_filter(r: &Report) -> String {
    let f = &r.filter;
    let mut parts = Vec::new();
    parts.push(format!("market {}", f.market.as_deref().unwrap_or("all")));
    parts.push(format!("site {}", f.site.as_deref().unwrap_or("all")));
    parts.push(match f.since {
        Some(s) => format!("since {}", rep::format_day(s.div_euclid(rep::DAY_MS))),
        None => "all time".into(),
    });
    parts.join(" · ")
}

fn summary(r: &Report, out: &mut dyn Write) -> Result<()> {
    let t = &r.totals;
    writeln!(
        out,
        "Operations report — store {} — {} UTC",
        r.store_site,
        rep::format_minute(r.generated_at)
    )?;
    writeln!(out, "{}", describe_filter(r))?;
    writeln!(
        out,
        "\n{} cases ({} resolved, {} escalated) · SLA: {} breached, {} due within {} h · \
         {} escalations · SOP runs: {} ({} drop-offs) · articles: {} overdue, {} due soon",
        t.cases,
        t.resolved_cases,
        t.escalated_cases,
        t.sla_breached_cases,
        t.sla_due_soon_cases,
        r.due_within_hours,
        t.escalations,
        t.sop_runs,
        t.sop_drop_offs,
        t.articles_overdue,
        t.articles_due_soon,
    )?;
    print_table(out, &categories_table(r), 10)?;
    print_table(out, &root_causes_table(r), 10)?;
    print_table(out, &sla_groups_table(r), 20)?;
    print_table(out, &sla_cases_table(r), 10)?;
    print_table(out, &escalation_targets_table(r), 10)?;
    print_table(out, &escalations_table(r), 10)?;
    print_table(out, &sop_versions_table(r), 20)?;
    print_table(out, &sop_drop_off_table(r), 10)?;
    print_table(out, &articles_table(r, true), 10)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CSV.

fn all_tables(r: &Report) -> Vec<Table> {
    vec![
        totals_table(r),
        volume_table(r),
        daily_table(r),
        categories_table(r),
        root_causes_table(r),
        sla_groups_table(r),
        sla_cases_table(r),
        escalation_targets_table(r),
        escalations_table(r),
        sop_versions_table(r),
        sop_drop_off_table(r),
        articles_table(r, false),
    ]
}

/// One CSV cell (RFC 4180). A text cell that a spreadsheet would run as a formula (`=`, `+`,
/// `-`, `@` first) gets a leading `'`: reasons and titles are typed by agents.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number(s) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes one CSV file per table into `dir`; returns how many.
fn write_csv(r: &Report, dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tables = all_tables(r);
    for t in &tables {
        let mut text = String::new();
        let head: Vec<String> = if t.columns.is_empty() {
            Vec::new()
        } else {
            t.columns.iter().map(|(c, _)| c.to_string()).collect()
        };
        for row in std::iter::once(&head)
            .filter(|h| !h.is_empty())
            .chain(&t.rows)
        {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            text.push_str(&cells.join(","));
            text.push_str("\r\n");
        }
        let path = dir.join(format!("{}.csv", t.file));
        write_file(&path, text.as_bytes())?;
    }
    Ok(tables.len())
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a reader never
/// sees half a report and a failed write leaves the old file alone.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Charts (plotters, SVG backend).

const CHART_WIDTH: u32 = 1000;
const FONT: &str = "sans-serif";
/// Tableau 10: distinguishable, and readable by most colour-blind people.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];
const RED: RGBColor = RGBColor(214, 39, 40);
const AMBER: RGBColor = RGBColor(242, 142, 43);
const SLATE: RGBColor = RGBColor(110, 120, 135);
const GRID: RGBColor = RGBColor(232, 234, 238);
const INK: RGBColor = RGBColor(40, 44, 52);

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn human(s: &str) -> String {
    s.replace('_', " ")
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws one chart into an SVG string.
fn svg(height: u32, draw: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (CHART_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(buf)
}

/// A chart with nothing to plot still says so, drawn like the others.
fn empty(root: &Area<'_>, title: &str, message: &str) -> Result<()> {
    let area = root.titled(title, (FONT, 20).into_font().color(&INK))?;
    area.draw(&Text::new(
        message.to_string(),
        (24, 24),
        (FONT, 16).into_font().color(&SLATE),
    ))?;
    Ok(())
}

fn trend_chart(r: &Report) -> Result<String> {
    const TOP: usize = 5;
    let (days, by_category) = r.daily_volume_by_category();
    // Eight crossing lines are unreadable: the largest categories, and the rest as one line.
    let mut series: Vec<(String, Vec<i64>)> = r
        .categories
        .iter()
        .take(TOP)
        .filter_map(|c| Some((human(&c.category), by_category.get(&c.category)?.clone())))
        .collect();
    let mut rest = vec![0; days.len()];
    let mut others = 0;
    for c in r.categories.iter().skip(TOP) {
        if let Some(counts) = by_category.get(&c.category) {
            others += 1;
            for (sum, n) in rest.iter_mut().zip(counts) {
                *sum += n;
            }
        }
    }
    if others > 0 {
        series.push((format!("{others} other categories"), rest));
    }
    let title = "Cases opened per day, by category";
    svg(if days.is_empty() { 90 } else { 400 }, |root| {
        if days.is_empty() {
            return empty(root, title, "No cases in this period.");
        }
        let max = series
            .iter()
            .flat_map(|s| s.1.iter())
            .copied()
            .max()
            .unwrap_or(0)
            .max(1);
        let last = (days.len() as i32 - 1).max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            // Head room above the lines for the legend.
            .build_cartesian_2d(0..last, 0..max + max / 2 + 1)?;
        let day_label = |x: &i32| {
            usize::try_from(*x)
                .ok()
                .and_then(|i| days.get(i))
                .and_then(|d| d.get(5..))
                .unwrap_or("")
                .to_string()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(12)
            .x_label_formatter(&day_label)
            .y_desc("cases")
            .draw()?;
        for (i, (name, counts)) in series.iter().enumerate() {
            let c = if i == TOP { SLATE } else { color(i) };
            chart
                .draw_series(LineSeries::new(
                    counts.iter().enumerate().map(|(x, y)| (x as i32, *y)),
                    c.stroke_width(2),
                ))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                });
            // Points too, so that a single day (a line of one point) still shows.
            chart.draw_series(
                counts
                    .iter()
                    .enumerate()
                    .map(|(x, y)| Circle::new((x as i32, *y), 2, c.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font((FONT, 13))
            .draw()?;
        Ok(())
    })
}

fn pareto_chart(r: &Report) -> Result<String> {
    const TOP: usize = 8;
    let total: i64 = r.root_causes.iter().map(|c| c.cases).sum();
    let mut bars: Vec<(String, i64)> = r
        .root_causes
        .iter()
        .take(TOP)
        .map(|c| (c.root_cause.clone(), c.cases))
        .collect();
    let rest: i64 = r.root_causes.iter().skip(TOP).map(|c| c.cases).sum();
    if rest > 0 {
        bars.push((format!("{} others", r.root_causes.len() - TOP), rest));
    }
    let title = "Root causes (Pareto): cases and cumulative share";
    svg(if bars.is_empty() { 90 } else { 420 }, |root| {
        if bars.is_empty() {
            return empty(root, title, "No case in this period has a root cause yet.");
        }
        let n = bars.len() as i32;
        let max = bars.iter().map(|b| b.1).max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(48)
            .right_y_label_area_size(52)
            // An integer range includes its end: 0..n-1 is n slots, one per bar.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0..max + max / 8 + 1)?
            .set_secondary_coord(0f64..f64::from(n), 0f64..100f64);
        let label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| bars.get(i))
                .map(|b| truncate(&b.0, 15))
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(bars.len() + 1)
            .x_label_formatter(&label)
            .x_label_style((FONT, 11))
            .y_desc("cases")
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("cumulative %")
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .draw()?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let i = i as i32;
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0),
                        (SegmentValue::Exact(i + 1), b.1),
                    ],
                    color(0).filled(),
                );
                bar.set_margin(0, 0, 8, 8);
                bar
            }))?
            .label("cases")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color(0).filled()));
        let mut running = 0;
        let cumulative: Vec<(f64, f64)> = bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                running += b.1;
                (i as f64 + 0.5, 100.0 * running as f64 / total.max(1) as f64)
            })
            .collect();
        chart
            .draw_secondary_series(LineSeries::new(
                cumulative.iter().copied(),
                AMBER.stroke_width(2),
            ))?
            .label("cumulative %")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], AMBER.stroke_width(3)));
        chart.draw_secondary_series(
            cumulative
                .iter()
                .map(|p| Circle::new(*p, 3, AMBER.filled())),
        )?;
        // The 80% line: the causes left of where the curve crosses it are the ones to fix first.
        chart
            .draw_secondary_series(LineSeries::new(
                [(0.0, 80.0), (f64::from(n), 80.0)],
                SLATE.mix(0.6).stroke_width(1),
            ))?
            .label("80%")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], SLATE.stroke_width(1)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font((FONT, 13))
            .draw()?;
        Ok(())
    })
}

/// A horizontal bar chart, stacked when there are several series; the first label is drawn
/// at the top.
struct Bars {
    title: String,
    x_desc: &'static str,
    empty: String,
    labels: Vec<String>,
    series: Vec<(String, RGBColor, Vec<i64>)>,
}

fn bar_chart(b: &Bars) -> Result<String> {
    let n = b.labels.len();
    let height = if n == 0 { 90 } else { 110 + 30 * n as u32 };
    let longest = b
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4);
    let label_width = (longest as u32 * 7 + 20).clamp(80, 380);
    svg(height, |root| {
        if n == 0 {
            return empty(root, &b.title, &b.empty);
        }
        let totals: Vec<i64> = (0..n)
            .map(|i| {
                b.series
                    .iter()
                    .map(|s| s.2.get(i).copied().unwrap_or(0))
                    .sum()
            })
            .collect();
        let max = totals.iter().copied().max().unwrap_or(1).max(1);
        let series: Vec<&(String, RGBColor, Vec<i64>)> = b
            .series
            .iter()
            .filter(|s| s.2.iter().any(|v| *v > 0))
            .collect();
        // With a legend, the right third is left free for it: no bar reaches under it.
        let x_max = if series.len() > 1 {
            max + max / 2 + 1
        } else {
            max + max / 8 + 1
        };
        let rows = n as i32;
        let mut chart = ChartBuilder::on(root)
            .caption(&b.title, (FONT, 20).into_font().color(&INK))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(label_width)
            // An integer range includes its end: 0..rows-1 is one slot per bar.
            .build_cartesian_2d(0..x_max, (0..rows - 1).into_segmented())?;
        // Row i of the data is drawn at y = n - 1 - i, so the first label is at the top.
        let label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(y) => usize::try_from(rows - 1 - *y)
                .ok()
                .and_then(|i| b.labels.get(i))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .y_labels(n + 1)
            .y_label_formatter(&label)
            .y_label_style((FONT, 13))
            .x_desc(b.x_desc)
            .draw()?;
        let mut offset = vec![0i64; n];
        for (name, c, values) in &series {
            let c = *c;
            let mut rects = Vec::new();
            for (i, start) in offset.iter_mut().enumerate() {
                let v = values.get(i).copied().unwrap_or(0);
                if v > 0 {
                    let y = rows - 1 - i as i32;
                    let mut bar = Rectangle::new(
                        [
                            (*start, SegmentValue::Exact(y)),
                            (*start + v, SegmentValue::Exact(y + 1)),
                        ],
                        c.filled(),
                    );
                    bar.set_margin(5, 5, 0, 0);
                    rects.push(bar);
                }
                *start += v;
            }
            chart
                .draw_series(rects)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        let value_style = TextStyle::from((FONT, 13).into_font())
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(totals.iter().enumerate().map(|(i, t)| {
            let y = rows - 1 - i as i32;
            EmptyElement::at((*t, SegmentValue::CenterOf(y)))
                + Text::new(t.to_string(), (6, 0), value_style.clone())
        }))?;
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(GRID)
                .label_font((FONT, 13))
                .draw()?;
        }
        Ok(())
    })
}

fn sla_chart(r: &Report) -> Result<String> {
    let mut groups: Vec<&rep::SlaGroupRow> = r
        .sla_by_market_site
        .iter()
        .filter(|g| g.breached + g.due_soon > 0)
        .collect();
    groups.sort_by_key(|g| (std::cmp::Reverse(g.breached), std::cmp::Reverse(g.due_soon)));
    groups.truncate(15);
    bar_chart(&Bars {
        title: format!(
            "SLA breaches by market and site (and cases due within {} h)",
            r.due_within_hours
        ),
        x_desc: "cases",
        empty: "No case has breached or is about to breach its SLA.".into(),
        labels: groups
            .iter()
            .map(|g| format!("{} · {}", g.market, g.site))
            .collect(),
        series: vec![
            (
                "breached".into(),
                RED,
                groups.iter().map(|g| g.breached).collect(),
            ),
            (
                "due soon".into(),
                AMBER,
                groups.iter().map(|g| g.due_soon).collect(),
            ),
        ],
    })
}

fn escalation_chart(r: &Report) -> Result<String> {
    let top: Vec<&rep::EscalationRow> = r.escalations.iter().take(12).collect();
    let targets: Vec<&str> = r
        .escalation_targets
        .iter()
        .map(|t| t.target.as_str())
        .collect();
    bar_chart(&Bars {
        title: "Escalation drivers: top reasons, coloured by target team".into(),
        x_desc: "escalations",
        empty: "No escalations in this period.".into(),
        labels: top
            .iter()
            .map(|e| truncate(&format!("{} — {}", human(&e.target), e.reason), 52))
            .collect(),
        series: targets
            .iter()
            .enumerate()
            .filter(|(_, t)| top.iter().any(|e| e.target == **t))
            .map(|(i, t)| {
                (
                    human(t),
                    color(i),
                    top.iter()
                        .map(|e| if e.target == *t { e.escalations } else { 0 })
                        .collect(),
                )
            })
            .collect(),
    })
}

/// One chart per SOP: where runs of its latest published version stopped short of success.
fn sop_charts(r: &Report) -> Result<Vec<String>> {
    let mut sops: Vec<(&str, &str, i64)> = Vec::new();
    for d in &r.sop_drop_off {
        if !sops.iter().any(|s| s.0 == d.sop_id) {
            sops.push((&d.sop_id, &d.title, d.version));
        }
    }
    if sops.is_empty() {
        let message = if r.sop_versions.is_empty() {
            "No SOP runs in this period."
        } else {
            "Every run of the latest published versions reached a successful end."
        };
        return Ok(vec![bar_chart(&Bars {
            title: "SOP drop-off per node".into(),
            x_desc: "runs",
            empty: message.into(),
            labels: Vec::new(),
            series: Vec::new(),
        })?]);
    }
    let outcomes = [
        ("incomplete", SLATE),
        ("failure", RED),
        ("unknown", color(6)),
    ];
    sops.iter()
        .take(8)
        .map(|(id, title, version)| {
            let rows: Vec<&rep::SopDropOffRow> =
                r.sop_drop_off.iter().filter(|d| d.sop_id == *id).collect();
            let mut nodes: Vec<(&str, i64)> = Vec::new();
            for d in &rows {
                match nodes.iter_mut().find(|n| n.0 == d.exit_node) {
                    Some(n) => n.1 += d.runs,
                    None => nodes.push((&d.exit_node, d.runs)),
                }
            }
            nodes.sort_by_key(|n| std::cmp::Reverse(n.1));
            nodes.truncate(15);
            let runs = r
                .sop_versions
                .iter()
                .find(|v| v.sop_id == *id && v.version == *version)
                .map_or(0, |v| v.runs);
            bar_chart(&Bars {
                title: truncate(
                    &format!("SOP drop-off: {title} (v{version}, {runs} runs)"),
                    90,
                ),
                x_desc: "runs that stopped here",
                empty: String::new(),
                labels: nodes.iter().map(|n| n.0.to_string()).collect(),
                series: outcomes
                    .iter()
                    .map(|(outcome, c)| {
                        (
                            outcome.to_string(),
                            *c,
                            nodes
                                .iter()
                                .map(|n| {
                                    rows.iter()
                                        .filter(|d| d.exit_node == n.0 && d.outcome == *outcome)
                                        .map(|d| d.runs)
                                        .sum()
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            })
        })
        .collect()
}

fn articles_chart(r: &Report) -> Result<String> {
    let overdue: Vec<&rep::ArticleRow> = r
        .articles
        .iter()
        .filter(|a| a.state == "overdue")
        .take(15)
        .collect();
    bar_chart(&Bars {
        title: "Articles overdue for verification (days past due)".into(),
        x_desc: "days overdue",
        empty: format!(
            "No article is overdue; {} due within {} days.",
            r.totals.articles_due_soon, r.verify_within_days
        ),
        labels: overdue.iter().map(|a| truncate(&a.title, 50)).collect(),
        series: vec![(
            "days overdue".into(),
            RED,
            overdue
                .iter()
                .map(|a| a.days_overdue.unwrap_or(0).max(0))
                .collect(),
        )],
    })
}

// ---------------------------------------------------------------------------------------------
// HTML.

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { --ink: #282c34; --muted: #6e7887; --line: #e8eaee; --bg: #f6f7f9; --red: #d62728;
        --amber: #f28e2b; --green: #59a14f; --blue: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #1f2a3a; color: #fff; padding: 22px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; }
header p { margin: 0; color: #c9d1dc; }
main { max-width: 1080px; margin: 0 auto; padding: 20px 24px 48px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px;
        margin: 4px 0 8px; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.kpi .v { font-size: 26px; font-weight: 650; }
.kpi .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.kpi.bad .v { color: var(--red); } .kpi.warn .v { color: var(--amber); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px;
          margin: 18px 0; }
section h2 { margin: 0 0 4px; font-size: 19px; }
section > p.lead { margin: 0 0 12px; color: var(--muted); }
figure.chart { margin: 10px 0 14px; }
figure.chart svg { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f1f3f6; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.breached td, td.s-breached, td.s-overdue { color: var(--red); font-weight: 600; }
td.s-due_soon { color: var(--amber); font-weight: 600; }
h3 { font-size: 15px; margin: 16px 0 4px; }
details summary { cursor: pointer; color: var(--blue); margin: 6px 0; }
.note { color: var(--muted); font-size: 12px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 24px; }
@media print { body { background: #fff; } section { break-inside: avoid; border: none; } }
"#;

fn table_html(html: &mut String, t: &Table, open_rows: usize) {
    let (head, rows) = headings(t);
    let _ = writeln!(html, "<h3>{}</h3>", esc(&t.title));
    if rows.is_empty() {
        html.push_str("<p class=\"note\">None.</p>\n");
        return;
    }
    let numeric: Vec<bool> = (0..head.len())
        .map(|i| {
            rows.iter()
                .all(|r| r.get(i).is_none_or(|c| c.is_empty() || is_number(c)))
        })
        .collect();
    let state_col = t.columns.iter().position(|(c, _)| *c == "state");
    let render = |html: &mut String, rows: &[Vec<String>]| {
        html.push_str("<table>\n<thead><tr>");
        for (i, h) in head.iter().enumerate() {
            let class = if numeric[i] { " class=\"n\"" } else { "" };
            let _ = write!(html, "<th{class}>{}</th>", esc(h));
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for r in rows {
            html.push_str("<tr>");
            for (i, c) in r.iter().enumerate() {
                let class = if numeric.get(i).copied().unwrap_or(false) {
                    " class=\"n\"".to_string()
                } else if Some(i) == state_col {
                    format!(" class=\"s-{}\"", esc(c))
                } else {
                    String::new()
                };
                let _ = write!(html, "<td{class}>{}</td>", esc(c));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody></table>\n");
    };
    let (first, rest) = rows.split_at(open_rows.min(rows.len()));
    if !first.is_empty() {
        render(html, first);
    }
    if !rest.is_empty() {
        let more = if first.is_empty() { "" } else { " more" };
        let rows = if rest.len() == 1 { "row" } else { "rows" };
        let _ = writeln!(
            html,
            "<details><summary>Show {}{more} {rows}</summary>",
            rest.len()
        );
        render(html, rest);
        html.push_str("</details>\n");
    }
}

fn figure(html: &mut String, name: &str, svg: &str) {
    let _ = writeln!(
        html,
        "<figure class=\"chart\" data-chart=\"{}\">\n{svg}\n</figure>",
        esc(name)
    );
}

fn kpi(html: &mut String, value: String, label: &str, class: &str) {
    let _ = writeln!(
        html,
        "<div class=\"kpi {class}\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
        esc(&value),
        esc(label)
    );
}

/// Renders the report as one self-contained HTML document.
///
/// # Errors
/// A chart that plotters cannot draw.
pub fn render_html(r: &Report) -> Result<String> {
    let t = &r.totals;
    let mut h = String::new();
    let title = format!("Dossier operations report — {}", r.store_site);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = write!(
        h,
        "<header><h1>Operations report</h1><p>Store {} · generated {} UTC · {}</p></header>\n<main>\n",
        esc(&r.store_site),
        esc(&rep::format_minute(r.generated_at)),
        esc(&describe_filter(r))
    );

    h.push_str("<div class=\"kpis\">\n");
    kpi(&mut h, t.cases.to_string(), "cases opened", "");
    kpi(
        &mut h,
        format!("{}%", pct(ratio(t.resolved_cases, t.cases))),
        "resolved",
        "",
    );
    kpi(
        &mut h,
        t.sla_breached_cases.to_string(),
        "SLA breached cases",
        if t.sla_breached_cases > 0 { "bad" } else { "" },
    );
    kpi(
        &mut h,
        t.sla_due_soon_cases.to_string(),
        &format!("due within {} h", r.due_within_hours),
        if t.sla_due_soon_cases > 0 { "warn" } else { "" },
    );
    kpi(&mut h, t.escalations.to_string(), "escalations", "");
    kpi(
        &mut h,
        format!("{}%", pct(ratio(t.sop_drop_offs, t.sop_runs))),
        "SOP drop-off",
        "",
    );
    kpi(
        &mut h,
        t.articles_overdue.to_string(),
        "articles overdue",
        if t.articles_overdue > 0 { "bad" } else { "" },
    );
    h.push_str("</div>\n");

    h.push_str(
        "<section id=\"volume\"><h2>Volume</h2><p class=\"lead\">Which inquiry categories drive \
         volume, and whether they are rising.</p>\n",
    );
    figure(&mut h, "volume-trend", &trend_chart(r)?);
    table_html(&mut h, &categories_table(r), 20);
    table_html(&mut h, &daily_table(r), 0);
    h.push_str("</section>\n");

    let _ = writeln!(
        h,
        "<section id=\"root-causes\"><h2>Root causes</h2><p class=\"lead\">The few causes behind \
         most cases: fix the ones left of where the curve crosses 80%. {} of {} cases have no root \
         cause yet and are left out.</p>",
        t.root_cause_unknown, t.cases
    );
    figure(&mut h, "root-cause-pareto", &pareto_chart(r)?);
    table_html(&mut h, &root_causes_table(r), 12);
    h.push_str("</section>\n");

    let _ = writeln!(
        h,
        "<section id=\"sla\"><h2>SLA</h2><p class=\"lead\">Cases that breached or will breach \
         within {} hours, per market and site. Clocks stop while a case is pending or on hold; \
         a pause does not undo a breach.</p>",
        r.due_within_hours
    );
    figure(&mut h, "sla-breaches", &sla_chart(r)?);
    table_html(&mut h, &sla_groups_table(r), 20);
    table_html(&mut h, &sla_cases_table(r), 15);
    h.push_str("</section>\n");

    h.push_str(
        "<section id=\"escalations\"><h2>Escalations</h2><p class=\"lead\">What sends cases to \
         product, engineering, risk and the banks.</p>\n",
    );
    figure(&mut h, "escalation-drivers", &escalation_chart(r)?);
    table_html(&mut h, &escalation_targets_table(r), 20);
    table_html(&mut h, &escalations_table(r), 15);
    h.push_str("</section>\n");

    h.push_str(
        "<section id=\"sops\"><h2>SOP drop-off</h2><p class=\"lead\">Where agents leave a decision \
         tree without reaching a successful end (incomplete runs, failure and unknown ends), for \
         the latest published version of each SOP; the version table shows whether a new version \
         made it better or worse.</p>\n",
    );
    for (i, chart) in sop_charts(r)?.iter().enumerate() {
        figure(&mut h, &format!("sop-drop-off-{}", i + 1), chart);
    }
    table_html(&mut h, &sop_versions_table(r), 20);
    table_html(&mut h, &sop_drop_off_table(r), 15);
    h.push_str("</section>\n");

    let _ = writeln!(
        h,
        "<section id=\"articles\"><h2>Knowledge articles</h2><p class=\"lead\">Published articles \
         past their verification date, or due within {} days.</p>",
        r.verify_within_days
    );
    figure(&mut h, "articles-overdue", &articles_chart(r)?);
    table_html(&mut h, &articles_table(r, true), 20);
    h.push_str("</section>\n");

    h.push_str(
        "</main>\n<footer>Every number here comes from the analytics views of the store file \
         (see docs/analytics.md); <code>dossier report --csv DIR</code> writes these tables, \
         <code>--json</code> all of it.</footer>\n</body>\n</html>\n",
    );
    Ok(h)
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn write_report_html(r: &Report, path: &Path) -> Result<()> {
    let html = render_html(r)?;
    write_file(path, html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dossier::{Category, NewCase, StoreOptions};

    fn store(dir: &Path) -> Store {
        let store = Store::open(
            dir.join("MX1.db"),
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let case = store
            .create_case(NewCase::new("ES", Category::Refund, "Refund missing"))
            .unwrap();
        store
            .escalate(&case.number, "psp_bank", "=HYPERLINK(\"x\"), \"quoted\"")
            .unwrap();
        store
    }

    fn run_text(store: &Store, args: &ReportArgs, json: bool) -> String {
        let mut out = Vec::new();
        run_to(store, args, json, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_terminal_summary_shows_the_headline_and_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let text = run_text(&store(dir.path()), &ReportArgs::default(), false);
        assert!(text.contains("1 cases (0 resolved, 1 escalated)"), "{text}");
        for title in [
            "Volume by category",
            "Root causes",
            "SLA state by market and site",
            "Escalations by target",
            "Escalation drivers",
            "SOP runs by version",
            "SOP drop-off per node",
            "Articles overdue",
        ] {
            assert!(text.contains(title), "{title} missing:\n{text}");
        }
    }

    #[test]
    fn json_output_is_the_whole_report() {
        let dir = tempfile::tempdir().unwrap();
        let text = run_text(&store(dir.path()), &ReportArgs::default(), true);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["totals"]["cases"], 1);
        assert_eq!(v["escalation_targets"][0]["target"], "psp_bank");
    }

    #[test]
    fn csv_tables_are_quoted_and_formulas_are_defused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("csv");
        let args = ReportArgs {
            csv: Some(out.clone()),
            ..Default::default()
        };
        let text = run_text(&store(dir.path()), &args, false);
        assert!(text.contains("wrote 12 CSV tables"), "{text}");
        let escalations = std::fs::read_to_string(out.join("escalations.csv")).unwrap();
        assert_eq!(
            escalations,
            "target,reason,escalations,cases\r\n\
             psp_bank,\"'=HYPERLINK(\"\"x\"\"), \"\"quoted\"\"\",1,1\r\n"
        );
        let files = std::fs::read_dir(&out).unwrap().count();
        assert_eq!(files, 12);
    }

    #[test]
    fn an_empty_store_still_draws_every_chart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path().join("MX1.db"),
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let page = dir.path().join("r.html");
        let report = write_html(&store, &page, &ReportFilter::default()).unwrap();
        assert_eq!(report.totals.cases, 0);
        let html = std::fs::read_to_string(&page).unwrap();
        assert_eq!(html.matches("<figure class=\"chart\"").count(), 6);
        assert_eq!(html.matches("<svg").count(), 6);
        assert!(html.contains("No cases in this period."));
    }

    #[test]
    fn filters_are_parsed_and_bad_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let args = ReportArgs {
            market: Some("es".into()),
            since: Some("30d".into()),
            ..Default::default()
        };
        let text = run_text(&store, &args, true);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["filter"]["market"], "ES");
        assert_eq!(v["totals"]["cases"], 1);
        let bad = ReportArgs {
            since: Some("last tuesday".into()),
            ..Default::default()
        };
        let err = run_to(&store, &bad, false, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("invalid since"), "{err}");
    }
}
