//! Schema step 4.
//!
//! Operations analytics. Stable views over the projection tables for `dossier report`
//! and for analysts' own SQL (documented column by column in docs/analytics.md), and the
//! start of the current SLA pause on `cases`: without it a paused case cannot be told apart
//! from one that had already breached before it was paused. Views read the wall clock
//! (`julianday('now')`) only for their convenience columns (`state`, `hours_to_due`, ...);
//! the report recomputes those from the clock-free columns with the store's clock.
//!
//! Released: never edit this file. A change to the schema is a new step.

//!
//! Only a case paused right now has a pause start, and only its document knows it: the
//! root `paused_since` register of the case document of that release. Just that column is
//! written, so this step stays right whatever later steps add.

use automerge::{Automerge, ObjId, ReadDoc, ScalarValue, Value};
use rusqlite::{Transaction, params};

use super::Step;
use crate::error::{Error, Result};

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: Some(backfill),
    reproject: &[],
};

fn backfill(tx: &Transaction<'_>) -> Result<()> {
    let ids: Vec<String> = {
        let mut stmt = tx.prepare("SELECT id FROM cases WHERE sla_paused = 1 ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in ids {
        let doc = load(tx, &id)?;
        let since = match doc.get(&ObjId::Root, "paused_since") {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Int(i) => Some(*i),
                ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                ScalarValue::Timestamp(t) => Some(*t),
                ScalarValue::Counter(c) => Some(i64::from(c)),
                _ => None,
            },
            _ => None,
        };
        tx.execute(
            "UPDATE cases SET sla_paused_since = ?1 WHERE id = ?2",
            params![since, id],
        )?;
    }
    Ok(())
}

/// A document as this release stored it: the snapshot in `docs`, then every change chunk in
/// `changes` for it, in order.
fn load(tx: &Transaction<'_>, id: &str) -> Result<Automerge> {
    let snapshot: Vec<u8> = tx.query_row("SELECT snapshot FROM docs WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    let mut pending = Vec::new();
    let mut stmt = tx.prepare("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id])?;
    while let Some(row) = rows.next()? {
        pending.extend_from_slice(&row.get::<_, Vec<u8>>(0)?);
    }
    let bad = |reason: String| Error::Document {
        id: id.to_string(),
        reason,
    };
    // A damaged document must fail the upgrade with an error, not unwind through it.
    std::panic::catch_unwind(|| {
        let mut doc = Automerge::load(&snapshot)?;
        if !pending.is_empty() {
            doc.load_incremental(&pending)?;
        }
        Ok::<_, automerge::AutomergeError>(doc)
    })
    .map_err(|_| bad("the decoder panicked".into()))?
    .map_err(|e| bad(e.to_string()))
}

const SQL: &str = r#"
    ALTER TABLE cases ADD COLUMN sla_paused_since INTEGER;

    CREATE VIEW v_case_volume AS
    SELECT date(c.created_at / 1000, 'unixepoch') AS day,
           c.market,
           c.site,
           c.category,
           c.root_cause,
           count(*) AS cases,
           sum(c.status IN ('solved', 'closed')) AS resolved_cases,
           sum(EXISTS (SELECT 1 FROM case_escalations e WHERE e.case_id = c.id)) AS escalated_cases
    FROM cases c
    GROUP BY day, c.market, c.site, c.category, c.root_cause;

    CREATE VIEW v_case_sla AS
    WITH base AS (
        SELECT c.id AS case_id,
               c.number,
               c.market,
               c.site,
               c.category,
               c.status,
               c.priority,
               c.created_at,
               s.metric,
               s.due_at,
               s.paused_ms,
               s.due_at + s.paused_ms AS effective_due_at,
               s.met_at,
               c.sla_paused_since AS paused_since,
               CASE c.status
                   WHEN 'solved' THEN coalesce(c.solved_at, c.updated_at)
                   WHEN 'closed' THEN coalesce(c.closed_at, c.solved_at, c.updated_at)
               END AS terminal_at,
               CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS now_ms
        FROM case_sla s
        JOIN cases c ON c.id = s.case_id
    ), stopped AS (
        -- The clock stops at the earliest of: met, case solved/closed, current pause began.
        SELECT *,
               min(coalesce(met_at, terminal_at, paused_since),
                   coalesce(terminal_at, paused_since, met_at),
                   coalesce(paused_since, met_at, terminal_at)) AS clock_stopped_at
        FROM base
    )
    SELECT *,
           CASE WHEN coalesce(clock_stopped_at, now_ms) > effective_due_at THEN 'breached'
                WHEN met_at IS NOT NULL OR terminal_at IS NOT NULL THEN 'met'
                WHEN paused_since IS NOT NULL THEN 'paused'
                ELSE 'running' END AS state,
           round((effective_due_at - now_ms) / 3600000.0, 2) AS hours_to_due
    FROM stopped;

    CREATE VIEW v_case_sla_state AS
    SELECT case_id,
           number,
           market,
           site,
           category,
           status,
           CASE max(CASE state WHEN 'breached' THEN 3 WHEN 'running' THEN 2
                               WHEN 'paused' THEN 1 ELSE 0 END)
               WHEN 3 THEN 'breached' WHEN 2 THEN 'running' WHEN 1 THEN 'paused'
               ELSE 'met' END AS state,
           min(CASE WHEN state = 'running' THEN effective_due_at END) AS next_due_at,
           min(CASE WHEN state = 'running' THEN hours_to_due END) AS hours_to_next_due,
           count(*) AS metrics,
           sum(state = 'breached') AS breached_metrics
    FROM v_case_sla
    GROUP BY case_id, number, market, site, category, status;

    CREATE VIEW v_escalations AS
    SELECT e.case_id,
           c.number,
           c.market,
           c.site,
           c.category,
           c.root_cause,
           e.idx,
           e.target,
           e.reason,
           e.at,
           date(e.at / 1000, 'unixepoch') AS day,
           e.by
    FROM case_escalations e
    JOIN cases c ON c.id = e.case_id;

    CREATE VIEW v_escalation_drivers AS
    SELECT target,
           reason,
           count(*) AS escalations,
           count(DISTINCT case_id) AS cases,
           min(at) AS first_at,
           max(at) AS last_at
    FROM case_escalations
    GROUP BY target, reason;

    CREATE VIEW v_sop_runs AS
    SELECT r.case_id,
           c.number,
           c.market,
           c.site,
           c.category,
           r.idx,
           r.sop_id,
           s.title AS sop_title,
           r.version,
           s.published_version AS latest_version,
           r.version = s.published_version AS is_latest_version,
           r.exit_node,
           r.outcome,
           r.outcome <> 'success' AS drop_off,
           json_array_length(r.path) AS steps,
           r.at,
           date(r.at / 1000, 'unixepoch') AS day,
           r.by
    FROM sop_runs r
    JOIN cases c ON c.id = r.case_id
    LEFT JOIN sops s ON s.id = r.sop_id;

    CREATE VIEW v_sop_outcomes AS
    SELECT sop_id,
           sop_title,
           version,
           is_latest_version,
           exit_node,
           outcome,
           drop_off,
           count(*) AS runs
    FROM v_sop_runs
    GROUP BY sop_id, sop_title, version, is_latest_version, exit_node, outcome, drop_off;

    CREATE VIEW v_article_verification AS
    SELECT id,
           title,
           status,
           visibility,
           markets,
           categories,
           interval_days,
           last_verified_at,
           next_verification_at,
           CASE WHEN next_verification_at IS NULL THEN 'unscheduled'
                WHEN next_verification_at <= now_ms THEN 'overdue'
                WHEN next_verification_at <= now_ms + 14 * 86400000 THEN 'due_soon'
                ELSE 'current' END AS state,
           CASE WHEN next_verification_at <= now_ms
                THEN (now_ms - next_verification_at) / 86400000 END AS days_overdue
    FROM (SELECT *, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS now_ms
          FROM articles);
    "#;
