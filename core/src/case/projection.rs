//! A case's rows in the projection tables (`cases`, `case_tags`, `case_escalations`,
//! `case_sla`, `sop_runs`).

use super::*;
use crate::projection::{Projector, View};

/// The case kind's [`Projector`]; its view is the [`Case`] it materialized.
pub(crate) struct CaseProjector;

impl Projector for CaseProjector {
    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("cases", "id"),
            ("case_tags", "case_id"),
            ("case_escalations", "case_id"),
            ("case_sla", "case_id"),
            ("sop_runs", "case_id"),
        ]
    }

    fn project(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &DocId,
        doc: &automerge::Automerge,
        updated_at: i64,
    ) -> Result<Option<View>> {
        let case = project(tx, id, doc, updated_at)?;
        Ok(Some(Box::new(case)))
    }
}

/// Rewrites a case's projection rows.
pub(crate) fn project(
    tx: &rusqlite::Transaction<'_>,
    id: &DocId,
    doc: &automerge::Automerge,
    updated_at: i64,
) -> Result<Case> {
    let c = materialize(*id, doc, None)?;
    let key = id.to_string();
    let r = Reader::new(doc, None);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cases(id, number, site, market, locale, channel, assignee, status, \
         priority, priority_rank, category, subcategory, root_cause, subject, problem, created_at, \
         updated_at, solved_at, closed_at, sla_due_at, sla_paused, event_count, sla_paused_since) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19, ?20, ?21, ?22, ?23)",
    )?
    .execute(params![
        key,
        c.number,
        c.site,
        c.market,
        c.locale,
        c.channel,
        c.assignee,
        c.status.as_str(),
        c.priority.as_str(),
        c.priority as i64,
        c.category.as_str(),
        c.subcategory,
        c.root_cause,
        c.subject,
        c.problem.map(|p| p.to_string()),
        c.created_at,
        updated_at,
        merge::earliest(&r, &ObjId::Root, "solved_at"),
        merge::earliest(&r, &ObjId::Root, "closed_at"),
        c.sla_due_at(),
        c.paused_since.is_some(),
        c.events.len() as i64,
        c.paused_since,
    ])?;
    tx.prepare_cached("DELETE FROM case_tags WHERE case_id = ?1")?
        .execute([&key])?;
    for t in &c.tags {
        tx.prepare_cached("INSERT INTO case_tags(case_id, tag) VALUES (?1, ?2)")?
            .execute(params![key, t])?;
    }
    tx.prepare_cached("DELETE FROM case_escalations WHERE case_id = ?1")?
        .execute([&key])?;
    for (i, e) in c.escalations.iter().enumerate() {
        tx.prepare_cached(
            "INSERT INTO case_escalations(case_id, idx, target, reason, at, by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![key, i as i64, e.to, e.reason, e.at, e.by])?;
    }
    tx.prepare_cached("DELETE FROM case_sla WHERE case_id = ?1")?
        .execute([&key])?;
    for (m, s) in &c.sla {
        tx.prepare_cached(
            "INSERT INTO case_sla(case_id, metric, due_at, paused_ms, met_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![key, m, s.due_at, s.paused_ms, s.met_at])?;
    }
    tx.prepare_cached("DELETE FROM sop_runs WHERE case_id = ?1")?
        .execute([&key])?;
    for (i, run) in c.sop_runs.iter().enumerate() {
        let path = serde_json::to_string(&run.path).unwrap_or_default();
        tx.prepare_cached(
            "INSERT INTO sop_runs(case_id, idx, sop_id, version, path, exit_node, outcome, at, by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            key,
            i as i64,
            run.sop,
            run.version,
            path,
            run.exit_node,
            run.outcome,
            run.at,
            run.by
        ])?;
    }
    Ok(c)
}
