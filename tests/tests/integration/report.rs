//! The operations report against SQL written independently over the projection tables.
//!
//! The report is computed from the analytics views; the expectations here are computed from the
//! base projection tables (`cases`, `case_sla`, `case_escalations`, `sop_runs`, `sops`,
//! `articles`) with their own queries and, for SLA and verification states, their own Rust
//! rules. If a view or the report misreads a column, a number differs. The fixture has a case
//! in every SLA state (met, met late, breached running, breached before a pause, paused, solved
//! before due, running, due soon, resumed after a pause), escalations, runs of two published SOP
//! versions, and articles overdue, due soon, current and unscheduled, across two sites.

use std::collections::BTreeMap;

use dossier::report::{DAY_MS, Report, ReportFilter, ReportOptions};
use dossier::{ArticleStatus, CaseUpdate, Category, NewArticle, NewCase, Status, Store};
use dossier_tests::{TestClock, UPI_SOP, open_site};
use rusqlite::{Connection, OpenFlags};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

fn inputs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn to(clock: &TestClock, t: i64) {
    assert!(t >= clock.now(), "the fixture's clock only moves forward");
    clock.advance(t - clock.now());
}

fn status(store: &Store, case: &str, s: Status) {
    store
        .update_case(
            case,
            CaseUpdate {
                status: Some(s),
                ..Default::default()
            },
        )
        .unwrap();
}

fn new_case(store: &Store, market: &str, category: Category, root_cause: Option<&str>) -> String {
    let c = store
        .create_case(NewCase::new(market, category, "Customer complaint"))
        .unwrap();
    if let Some(rc) = root_cause {
        store
            .update_case(
                &c.number,
                CaseUpdate {
                    root_cause: Some(rc.into()),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    c.number
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    clock: TestClock,
    /// Case numbers by the letter the SLA expectations use.
    cases: BTreeMap<char, String>,
    /// The start of the second day of cases: everything but case J is after it.
    t1: i64,
}

fn publish(author: &Store, lead: &Store, sop: &dossier::DocId) {
    author.submit_sop(sop).unwrap();
    lead.pull_from(author).unwrap();
    lead.publish_sop(sop).unwrap();
    author.pull_from(lead).unwrap();
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mx = open_site(dir.path(), "MX1", "lucia", &clock);
    let blr = open_site(dir.path(), "BLR2", "priya", &clock);
    let lead = open_site(dir.path(), "HUB", "amara", &clock);
    let base = clock.now();
    let mut cases = BTreeMap::new();

    let sop = mx.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
    publish(&mx, &lead, &sop);
    blr.pull_from(&mx).unwrap();

    // An older case, before the `since` used below.
    let j = new_case(&mx, "ES", Category::Other, Some("policy_gap"));
    mx.escalate(&j, "product", "legacy refund flow").unwrap();
    cases.insert('J', j);

    let article = |title: &str, markets: &[&str], interval: i64, publish: bool| {
        let a = mx
            .create_article(NewArticle {
                title: [("en".to_string(), title.to_string())].into(),
                body: [("en".to_string(), "Steps.".to_string())].into(),
                markets: markets.iter().map(|m| m.to_string()).collect(),
                interval_days: Some(interval),
                ..Default::default()
            })
            .unwrap();
        if publish {
            mx.set_article_status(&a.id, ArticleStatus::Published)
                .unwrap();
        }
    };
    article("Refund timelines", &["ES"], 1, true); // overdue by 2 days
    article("Pix MED returns", &["BR-PIX"], 2, true); // overdue by 1 day
    article("Chargeback codes", &["ES", "EU"], 10, true); // due in 6 days
    article("PSD2 deadlines", &["EU"], 90, true); // current
    article("Draft: new wallet", &["ES"], 30, false); // unscheduled
    article("Everyone: KYC", &[], 1, true); // every market, overdue

    let t1 = base + 3 * DAY_MS;
    to(&clock, t1);
    let mut add = |store: &Store, key: char, market, category, rc, sla: Option<(&str, i64)>| {
        let n = new_case(store, market, category, rc);
        if let Some((metric, due)) = sla {
            store.set_sla(&n, metric, t1 + due).unwrap();
        }
        cases.insert(key, n);
    };
    let first = Some(("first_reply", HOUR));
    add(&mx, 'A', "ES", Category::Refund, Some("psp_timeout"), first);
    add(&mx, 'B', "ES", Category::Refund, Some("psp_timeout"), first);
    add(
        &mx,
        'C',
        "EU",
        Category::FailedPayment,
        None,
        Some(("resolution", 48 * HOUR)),
    );
    add(
        &mx,
        'D',
        "EU",
        Category::ChargebackDispute,
        Some("duplicate_charge"),
        Some(("first_reply", 2 * HOUR)),
    );
    add(&mx, 'I', "ES", Category::Refund, Some("user_error"), first);
    add(
        &blr,
        'E',
        "IN-UPI",
        Category::FailedPayment,
        Some("bank_reversal_delay"),
        first,
    );
    add(
        &blr,
        'F',
        "IN-UPI",
        Category::Refund,
        Some("bank_reversal_delay"),
        first,
    );
    add(
        &blr,
        'G',
        "IN-UPI",
        Category::Withdrawal,
        None,
        Some(("first_reply", 12 * HOUR)),
    );
    add(
        &blr,
        'H',
        "IN-UPI",
        Category::Refund,
        Some("user_error"),
        first,
    );
    let c = |k: char| cases[&k].clone();

    mx.escalate(&c('B'), "engineering", "ledger shows failure")
        .unwrap();
    blr.escalate(&c('E'), "psp_bank", "refund not credited after T+5")
        .unwrap();
    blr.escalate(&c('E'), "psp_bank", "refund not credited after T+5")
        .unwrap();
    blr.escalate(&c('G'), "risk", "suspected account takeover")
        .unwrap();

    blr.record_sop_run(&c('E'), &sop, &inputs(&["Yes", "P2M", "days_since_txn=9"]))
        .unwrap();
    blr.record_sop_run(&c('F'), &sop, &inputs(&["Yes", "P2P", "days_since_txn=0"]))
        .unwrap();
    blr.record_sop_run(&c('G'), &sop, &inputs(&["Yes"]))
        .unwrap();

    to(&clock, t1 + 30 * MINUTE);
    mx.mark_sla_met(&c('A'), "first_reply").unwrap();
    status(&blr, &c('F'), Status::Pending);
    status(&blr, &c('H'), Status::Solved);
    to(&clock, t1 + 90 * MINUTE);
    status(&mx, &c('D'), Status::Pending); // before its due time: paused, not breached
    to(&clock, t1 + 2 * HOUR);
    mx.mark_sla_met(&c('I'), "first_reply").unwrap(); // an hour late
    to(&clock, t1 + 150 * MINUTE);
    status(&blr, &c('F'), Status::Open); // paused 2 h: now due at t1 + 3 h
    to(&clock, t1 + 165 * MINUTE);
    blr.mark_sla_met(&c('F'), "first_reply").unwrap(); // in time, thanks to the pause
    to(&clock, t1 + 3 * HOUR);
    status(&blr, &c('E'), Status::Pending); // already two hours late: stays breached

    // Version 2 of the SOP; the runs after it count for drop-off.
    to(&clock, t1 + 4 * HOUR);
    mx.set_sop_text(
        &sop,
        "start",
        "en",
        "Was the money debited from the account?",
    )
    .unwrap();
    publish(&mx, &lead, &sop);
    blr.pull_from(&mx).unwrap();
    blr.record_sop_run(&c('H'), &sop, &inputs(&["No"])).unwrap();
    blr.record_sop_run(&c('E'), &sop, &inputs(&[])).unwrap();
    blr.record_sop_run(&c('G'), &sop, &inputs(&["Yes", "P2M", "days_since_txn=9"]))
        .unwrap();

    to(&clock, t1 + 10 * HOUR);
    mx.pull_from(&blr).unwrap();
    drop((blr, lead));
    Fixture {
        _dir: dir,
        store: mx,
        clock,
        cases,
        t1,
    }
}

fn conn(store: &Store) -> Connection {
    Connection::open_with_flags(store.path(), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// `AND ...` clauses for the filter over a query whose case table is `c` and whose event time
/// column is `time`, with the values spliced in (they are test constants, not user input).
fn clauses(f: &ReportFilter, time: &str) -> String {
    let mut s = String::new();
    if let Some(m) = &f.market {
        s.push_str(&format!(" AND c.market = '{m}'"));
    }
    if let Some(site) = &f.site {
        s.push_str(&format!(" AND c.site = '{site}'"));
    }
    if let Some(since) = f.since {
        let day_start = since - since.rem_euclid(DAY_MS);
        s.push_str(&format!(" AND {time} >= {day_start}"));
    }
    s
}

fn rows<T>(
    c: &Connection,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut stmt = c.prepare(sql).unwrap();
    stmt.query_map([], f)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The SLA state of one metric, from raw columns, by the rules in docs/analytics.md.
#[allow(clippy::too_many_arguments)]
fn sla_state(
    now: i64,
    window: i64,
    status: &str,
    due_at: i64,
    paused_ms: i64,
    met_at: Option<i64>,
    solved_at: Option<i64>,
    closed_at: Option<i64>,
    updated_at: i64,
    paused_since: Option<i64>,
) -> &'static str {
    let due = due_at + paused_ms;
    let terminal = match status {
        "solved" => Some(solved_at.unwrap_or(updated_at)),
        "closed" => Some(closed_at.or(solved_at).unwrap_or(updated_at)),
        _ => None,
    };
    let stopped = [met_at, terminal, paused_since].into_iter().flatten().min();
    if stopped.unwrap_or(now) > due {
        "breached"
    } else if met_at.is_some() || terminal.is_some() {
        "met"
    } else if paused_since.is_some() {
        "paused"
    } else if due <= now + window {
        "due_soon"
    } else {
        "running"
    }
}

/// Per case: (number, market, site, worst state) and per metric (number, metric, state).
type SlaRows = (
    Vec<(String, String, String, &'static str)>,
    Vec<(String, String, &'static str)>,
);

fn expected_sla(c: &Connection, f: &ReportFilter, now: i64, window: i64) -> SlaRows {
    let sql = format!(
        "SELECT c.number, c.market, c.site, c.status, s.metric, s.due_at, s.paused_ms, s.met_at, \
         c.solved_at, c.closed_at, c.updated_at, c.sla_paused_since \
         FROM case_sla s JOIN cases c ON c.id = s.case_id WHERE 1=1 {} ORDER BY c.number",
        clauses(f, "c.created_at")
    );
    let metrics = rows(c, &sql, |r| {
        let status: String = r.get(3)?;
        let state = sla_state(
            now,
            window,
            &status,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
        );
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(4)?,
            state,
        ))
    });
    let rank = |s: &str| {
        ["met", "paused", "running", "due_soon", "breached"]
            .iter()
            .position(|x| *x == s)
    };
    let mut worst: BTreeMap<String, (String, String, &'static str)> = BTreeMap::new();
    for (number, market, site, _, state) in &metrics {
        let e = worst
            .entry(number.clone())
            .or_insert((market.clone(), site.clone(), state));
        if rank(state) > rank(e.2) {
            e.2 = state;
        }
    }
    (
        worst
            .into_iter()
            .map(|(n, (m, s, st))| (n, m, s, st))
            .collect(),
        metrics
            .into_iter()
            .map(|(n, _, _, metric, st)| (n, metric, st))
            .collect(),
    )
}

/// Every number of `report` against SQL over the projection tables.
fn check(store: &Store, report: &Report, f: &ReportFilter) {
    let c = conn(store);
    let now = report.generated_at;
    let when = clauses(f, "c.created_at");

    // Volume, categories, root causes.
    let volume = rows(
        &c,
        &format!(
            "SELECT date(c.created_at / 1000, 'unixepoch'), c.market, c.site, c.category, \
             c.root_cause, count(*), sum(c.status IN ('solved', 'closed')), \
             sum(EXISTS (SELECT 1 FROM case_escalations e WHERE e.case_id = c.id)) \
             FROM cases c WHERE 1=1 {when} GROUP BY 1, 2, 3, 4, 5"
        ),
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        },
    );
    let mut got: Vec<_> = report
        .volume
        .iter()
        .map(|v| {
            (
                v.day.clone(),
                v.market.clone(),
                v.site.clone(),
                v.category.clone(),
                v.root_cause.clone(),
                v.cases,
                v.resolved_cases,
                v.escalated_cases,
            )
        })
        .collect();
    got.sort();
    let mut want = volume;
    want.sort();
    assert_eq!(got, want, "volume");

    let (cases, resolved, escalated, unknown): (i64, i64, i64, i64) = c
        .query_row(
            &format!(
                "SELECT count(*), coalesce(sum(c.status IN ('solved', 'closed')), 0), \
                 coalesce(sum(EXISTS (SELECT 1 FROM case_escalations e WHERE e.case_id = c.id)), 0), \
                 coalesce(sum(c.root_cause IS NULL), 0) FROM cases c WHERE 1=1 {when}"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let t = &report.totals;
    assert_eq!(
        (
            t.cases,
            t.resolved_cases,
            t.escalated_cases,
            t.root_cause_unknown
        ),
        (cases, resolved, escalated, unknown),
        "case totals"
    );

    let categories = rows(
        &c,
        &format!(
            "SELECT c.category, count(*) FROM cases c WHERE 1=1 {when} \
             GROUP BY c.category ORDER BY count(*) DESC, c.category"
        ),
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    );
    assert_eq!(report.categories.len(), categories.len());
    for (row, (category, n)) in report.categories.iter().zip(&categories) {
        assert_eq!((&row.category, row.cases), (category, *n));
        assert!(
            close(row.share, *n as f64 / cases as f64),
            "{category} share"
        );
    }

    let causes = rows(
        &c,
        &format!(
            "SELECT c.root_cause, count(*) FROM cases c WHERE c.root_cause IS NOT NULL {when} \
             GROUP BY c.root_cause ORDER BY count(*) DESC, c.root_cause"
        ),
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    );
    let known: i64 = causes.iter().map(|c| c.1).sum();
    assert_eq!(report.root_causes.len(), causes.len());
    let mut running = 0;
    for (row, (cause, n)) in report.root_causes.iter().zip(&causes) {
        running += n;
        assert_eq!((&row.root_cause, row.cases), (cause, *n));
        assert!(close(row.share, *n as f64 / known as f64));
        assert!(close(row.cumulative_share, running as f64 / known as f64));
    }

    // SLA.
    let window = report.due_within_hours * HOUR;
    let (per_case, per_metric) = expected_sla(&c, f, now, window);
    let mut groups: BTreeMap<(String, String), [i64; 6]> = BTreeMap::new();
    for (_, market, site, state) in &per_case {
        let g = groups.entry((market.clone(), site.clone())).or_default();
        g[0] += 1;
        let i = ["breached", "due_soon", "running", "paused", "met"]
            .iter()
            .position(|s| s == state)
            .unwrap();
        g[i + 1] += 1;
    }
    let got: BTreeMap<(String, String), [i64; 6]> = report
        .sla_by_market_site
        .iter()
        .map(|g| {
            (
                (g.market.clone(), g.site.clone()),
                [g.cases, g.breached, g.due_soon, g.running, g.paused, g.met],
            )
        })
        .collect();
    assert_eq!(got, groups, "SLA by market and site");
    let count = |s: &str| per_case.iter().filter(|c| c.3 == s).count() as i64;
    assert_eq!(t.sla_cases, per_case.len() as i64);
    assert_eq!(t.sla_breached_cases, count("breached"));
    assert_eq!(t.sla_due_soon_cases, count("due_soon"));
    let mut attention: Vec<(String, String, String)> = per_metric
        .iter()
        .filter(|m| matches!(m.2, "breached" | "due_soon"))
        .map(|m| (m.0.clone(), m.1.clone(), m.2.to_string()))
        .collect();
    attention.sort();
    let mut got: Vec<(String, String, String)> = report
        .sla_cases
        .iter()
        .map(|r| (r.number.clone(), r.metric.clone(), r.state.clone()))
        .collect();
    got.sort();
    assert_eq!(got, attention, "SLA metrics needing attention");

    // Escalations.
    let esc_when = clauses(f, "e.at");
    let escalations = rows(
        &c,
        &format!(
            "SELECT e.target, e.reason, count(*), count(DISTINCT e.case_id) \
             FROM case_escalations e JOIN cases c ON c.id = e.case_id WHERE 1=1 {esc_when} \
             GROUP BY e.target, e.reason ORDER BY count(*) DESC, e.target, e.reason"
        ),
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        },
    );
    let got: Vec<_> = report
        .escalations
        .iter()
        .map(|e| (e.target.clone(), e.reason.clone(), e.escalations, e.cases))
        .collect();
    assert_eq!(got, escalations, "escalation drivers");
    let targets = rows(
        &c,
        &format!(
            "SELECT e.target, count(*), count(DISTINCT e.case_id) \
             FROM case_escalations e JOIN cases c ON c.id = e.case_id WHERE 1=1 {esc_when} \
             GROUP BY e.target ORDER BY count(*) DESC, e.target"
        ),
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    );
    let got: Vec<_> = report
        .escalation_targets
        .iter()
        .map(|e| (e.target.clone(), e.escalations, e.cases))
        .collect();
    assert_eq!(got, targets, "escalation targets");
    assert_eq!(t.escalations, targets.iter().map(|t| t.1).sum::<i64>());

    // SOP runs.
    let run_when = clauses(f, "r.at");
    let versions = rows(
        &c,
        &format!(
            "SELECT r.sop_id, r.version, r.version = s.published_version, count(*), \
             sum(r.outcome = 'success'), sum(r.outcome = 'failure'), sum(r.outcome = 'unknown'), \
             sum(r.outcome = 'incomplete') \
             FROM sop_runs r JOIN cases c ON c.id = r.case_id JOIN sops s ON s.id = r.sop_id \
             WHERE 1=1 {run_when} GROUP BY r.sop_id, r.version"
        ),
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, bool>(2)?,
                [
                    r.get::<_, i64>(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ],
            ))
        },
    );
    let mut got: Vec<_> = report
        .sop_versions
        .iter()
        .map(|v| {
            assert!(close(
                v.drop_off_rate,
                (v.runs - v.success) as f64 / v.runs as f64
            ));
            (
                v.sop_id.clone(),
                v.version,
                v.is_latest,
                [v.runs, v.success, v.failure, v.unknown, v.incomplete],
            )
        })
        .collect();
    got.sort();
    let mut want = versions;
    want.sort();
    assert_eq!(got, want, "SOP versions");
    let runs: i64 = want.iter().map(|v| v.3[0]).sum();
    let successes: i64 = want.iter().map(|v| v.3[1]).sum();
    assert_eq!((t.sop_runs, t.sop_drop_offs), (runs, runs - successes));

    let drop_off = rows(
        &c,
        &format!(
            "SELECT r.sop_id, r.version, r.exit_node, r.outcome, count(*) \
             FROM sop_runs r JOIN cases c ON c.id = r.case_id JOIN sops s ON s.id = r.sop_id \
             WHERE r.version = s.published_version AND r.outcome <> 'success' {run_when} \
             GROUP BY r.sop_id, r.version, r.exit_node, r.outcome"
        ),
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    );
    let mut got: Vec<_> = report
        .sop_drop_off
        .iter()
        .map(|d| {
            let version_runs = want
                .iter()
                .find(|v| v.0 == d.sop_id && v.1 == d.version)
                .map(|v| v.3[0])
                .unwrap();
            assert!(close(d.share_of_runs, d.runs as f64 / version_runs as f64));
            (
                d.sop_id.clone(),
                d.version,
                d.exit_node.clone(),
                d.outcome.clone(),
                d.runs,
            )
        })
        .collect();
    got.sort();
    let mut want_drop = drop_off;
    want_drop.sort();
    assert_eq!(got, want_drop, "SOP drop-off");

    // Articles.
    let window = report.verify_within_days * DAY_MS;
    let articles = rows(
        &c,
        "SELECT id, markets, next_verification_at FROM articles",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        },
    );
    let mut want: Vec<(String, String, Option<i64>)> = articles
        .into_iter()
        .filter(|(_, markets, _)| match &f.market {
            Some(m) => markets.is_empty() || markets.split(',').any(|x| x == m),
            None => true,
        })
        .map(|(id, _, next)| {
            let (state, days) = match next {
                None => ("unscheduled", None),
                Some(n) if n <= now => ("overdue", Some((now - n) / DAY_MS)),
                Some(n) if n <= now + window => ("due_soon", None),
                Some(_) => ("current", None),
            };
            (id, state.to_string(), days)
        })
        .collect();
    want.sort();
    let mut got: Vec<_> = report
        .articles
        .iter()
        .map(|a| (a.id.clone(), a.state.clone(), a.days_overdue))
        .collect();
    got.sort();
    assert_eq!(got, want, "article verification");
    let n = |s: &str| want.iter().filter(|a| a.1 == s).count() as i64;
    assert_eq!(
        (t.articles_overdue, t.articles_due_soon),
        (n("overdue"), n("due_soon"))
    );
}

#[test]
fn every_number_in_the_report_matches_sql_over_the_projection_tables() {
    let fx = fixture();
    let since = Some(fx.t1 - DAY_MS + 5 * HOUR);
    let filters = [
        ReportFilter::default(),
        ReportFilter {
            market: Some("IN-UPI".into()),
            ..Default::default()
        },
        ReportFilter {
            site: Some("MX1".into()),
            ..Default::default()
        },
        ReportFilter {
            since,
            ..Default::default()
        },
        ReportFilter {
            market: Some("ES".into()),
            site: Some("MX1".into()),
            since,
        },
    ];
    for filter in filters {
        for due_within_hours in [24, 48] {
            let report = fx
                .store
                .report(&ReportOptions {
                    filter: filter.clone(),
                    due_within_hours,
                    ..Default::default()
                })
                .unwrap();
            check(&fx.store, &report, &filter);
        }
    }
}

#[test]
fn each_sla_state_is_what_an_operations_lead_would_say() {
    let fx = fixture();
    let report = fx.store.report(&ReportOptions::default()).unwrap();
    assert_eq!(report.generated_at, fx.clock.now());
    let (per_case, _) = expected_sla(
        &conn(&fx.store),
        &ReportFilter::default(),
        fx.clock.now(),
        24 * HOUR,
    );
    let state: BTreeMap<&str, &str> = per_case.iter().map(|c| (c.0.as_str(), c.3)).collect();
    for (key, expected) in [
        ('A', "met"),      // first reply in 30 minutes
        ('B', "breached"), // nobody answered, due 9 hours ago
        ('C', "running"),  // resolution due in 38 hours
        ('D', "paused"),   // waiting on the customer since before it was due
        ('E', "breached"), // two hours late when it went pending: the pause does not undo it
        ('F', "met"),      // met 15 minutes before its due time, moved by a 2-hour pause
        ('G', "due_soon"), // due in 2 hours
        ('H', "met"),      // solved before its first reply was due
        ('I', "breached"), // met, an hour late
    ] {
        assert_eq!(state[fx.cases[&key].as_str()], expected, "case {key}");
    }
    assert!(!state.contains_key(fx.cases[&'J'].as_str()), "J has no SLA");
    let es = report
        .sla_by_market_site
        .iter()
        .find(|g| g.market == "ES")
        .unwrap();
    assert_eq!((es.cases, es.breached, es.met), (3, 2, 1));

    // Widening the window to 48 hours makes C due soon too.
    let wide = fx
        .store
        .report(&ReportOptions {
            due_within_hours: 48,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(wide.totals.sla_due_soon_cases, 2);
    assert_eq!(report.totals.sla_due_soon_cases, 1);

    // SOP: v1 had 3 runs (1 success), v2 has 3 runs (1 success); drop-off counts v2 only.
    let v: Vec<(i64, bool, i64, i64)> = report
        .sop_versions
        .iter()
        .map(|v| (v.version, v.is_latest, v.runs, v.success))
        .collect();
    assert_eq!(v, [(2, true, 3, 1), (1, false, 3, 1)]);
    let nodes: Vec<(&str, &str)> = report
        .sop_drop_off
        .iter()
        .map(|d| (d.exit_node.as_str(), d.outcome.as_str()))
        .collect();
    assert_eq!(
        nodes,
        [("end_escalated", "unknown"), ("start", "incomplete")]
    );

    // Articles: three overdue (one for every market), one due soon, one current, one draft.
    let states: Vec<&str> = report.articles.iter().map(|a| a.state.as_str()).collect();
    assert_eq!(
        states,
        [
            "overdue",
            "overdue",
            "overdue",
            "due_soon",
            "current",
            "unscheduled"
        ]
    );
    assert_eq!(report.articles[0].days_overdue, Some(2));
}

#[test]
fn a_bad_filter_is_refused_with_the_field_named() {
    let fx = fixture();
    for filter in [
        ReportFilter {
            market: Some("in upi".into()),
            ..Default::default()
        },
        ReportFilter {
            site: Some("mx1'; DROP TABLE cases; --".into()),
            ..Default::default()
        },
    ] {
        let err = fx
            .store
            .report(&ReportOptions {
                filter,
                ..Default::default()
            })
            .unwrap_err();
        assert!(matches!(err, dossier::Error::Invalid { .. }), "{err}");
    }
    assert!(
        fx.store
            .report(&ReportOptions {
                due_within_hours: -1,
                ..Default::default()
            })
            .is_err()
    );
}

#[test]
fn the_example_queries_in_the_analytics_guide_run() {
    let fx = fixture();
    let c = conn(&fx.store);
    let guide = include_str!("../../../docs/analytics.md");
    let queries: Vec<&str> = guide
        .split("```sql")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .collect();
    assert!(queries.len() >= 8, "{} queries", queries.len());
    for q in queries {
        let mut stmt = c.prepare(q).unwrap_or_else(|e| panic!("{e}\n{q}"));
        let mut rows = stmt.query([]).unwrap();
        while rows.next().unwrap().is_some() {}
    }
    // And the views answer what the guide says they do.
    let breached: i64 = c
        .query_row(
            "SELECT count(*) FROM v_case_sla_state WHERE number = ?1 AND state = 'breached'",
            [&fx.cases[&'E']],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        breached, 1,
        "a pause does not undo a breach, whatever the wall clock"
    );
}

#[test]
fn incidents_solved_with_their_problem_count_under_the_problem_s_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mx = open_site(dir.path(), "MX1", "lucia", &clock);
    let problem = mx
        .create_case(NewCase::new(
            "IN-UPI",
            Category::FailedPayment,
            "PSP outage: UPI debits not credited",
        ))
        .unwrap();
    let incidents: Vec<NewCase> = (0..51)
        .map(|i| {
            let mut n = NewCase::new(
                "IN-UPI",
                Category::FailedPayment,
                &format!("Debited, not credited #{i}"),
            );
            n.problem = Some(problem.number.clone());
            n
        })
        .collect();
    let ids = mx.create_cases(&incidents).unwrap();
    // While apart, another site finds its own cause for one incident: it keeps it.
    let blr = open_site(dir.path(), "BLR2", "priya", &clock);
    blr.pull_from(&mx).unwrap();
    let own = mx.case_by_id(&ids[50]).unwrap().number;
    clock.advance(MINUTE);
    blr.update_case(
        &own,
        CaseUpdate {
            root_cause: Some("bank_side_timeout".into()),
            ..Default::default()
        },
    )
    .unwrap();
    mx.update_case(
        &problem.number,
        CaseUpdate {
            status: Some(Status::Solved),
            root_cause: Some("psp_outage".into()),
            ..Default::default()
        },
    )
    .unwrap();
    mx.pull_from(&blr).unwrap();
    blr.pull_from(&mx).unwrap();

    for store in [&mx, &blr] {
        let report = store.report(&ReportOptions::default()).unwrap();
        let count = |rc: &str| {
            report
                .root_causes
                .iter()
                .find(|r| r.root_cause == rc)
                .map(|r| r.cases)
        };
        assert_eq!(
            count("psp_outage"),
            Some(51),
            "the problem and 50 incidents"
        );
        assert_eq!(count("bank_side_timeout"), Some(1));
        assert_eq!(report.totals.root_cause_unknown, 0);
        let incident = store.case(&own).unwrap();
        assert_eq!(incident.status, Status::Solved);
        assert_eq!(incident.root_cause.as_deref(), Some("bank_side_timeout"));
        assert_eq!(store.conflicts(&ids[50]).unwrap(), []);
    }
}
