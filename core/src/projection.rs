//! Projection tables: SQL rows derived from documents.
//!
//! Each changed document's rows are rewritten from its merged view inside the transaction that
//! changed it, so the tables are never out of step with the documents. The rows depend only on
//! the document and its `docs.updated_at`, never on the clock, which is what lets
//! [`verify`] recompute them and compare.

use automerge::Automerge;
use rusqlite::Transaction;

use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::DocKind;
use crate::{article, case, sop};

/// Rewrites the projection rows of one document.
pub(crate) fn refresh(
    tx: &Transaction<'_>,
    id: &DocId,
    kind: DocKind,
    doc: &Automerge,
) -> Result<()> {
    let updated_at: i64 = tx.query_row(
        "SELECT updated_at FROM docs WHERE id = ?1",
        [id.to_string()],
        |r| r.get(0),
    )?;
    match kind {
        DocKind::Case => case::project(tx, id, doc, updated_at),
        DocKind::Sop => sop::project(tx, id, doc, updated_at),
        DocKind::Article => article::project(tx, id, doc, updated_at),
        DocKind::Plugin => crate::plugin::project(tx, id, doc, updated_at),
    }
}

/// Moves only the `updated_at` of a document's main projection row, for a write that
/// changes nothing else the rows hold (see `Write::keep_projection`).
pub(crate) fn touch(tx: &Transaction<'_>, id: &DocId, kind: DocKind) -> Result<()> {
    let table = match kind {
        DocKind::Case => "cases",
        DocKind::Sop => "sops",
        DocKind::Article => "articles",
        DocKind::Plugin => "plugins",
    };
    tx.execute(
        &format!(
            "UPDATE {table} SET updated_at = (SELECT updated_at FROM docs WHERE id = ?1) \
             WHERE id = ?1"
        ),
        [id.to_string()],
    )?;
    Ok(())
}

/// The projection tables and the column that names the document in each.
const TABLES: &[(&str, &str)] = &[
    ("cases", "id"),
    ("case_tags", "case_id"),
    ("case_escalations", "case_id"),
    ("case_sla", "case_id"),
    ("sop_runs", "case_id"),
    ("sops", "id"),
    ("articles", "id"),
    ("articles_fts", "doc_id"),
    ("plugins", "id"),
];

fn dump(tx: &Transaction<'_>, id: &DocId) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (table, col) in TABLES {
        let mut stmt = tx.prepare(&format!(
            "SELECT * FROM {table} WHERE {col} = ?1 ORDER BY 1, 2"
        ))?;
        let n = stmt.column_count();
        let mut rows = stmt.query([id.to_string()])?;
        while let Some(row) = rows.next()? {
            let mut line = format!("{table}:");
            for i in 0..n {
                let v: rusqlite::types::Value = row.get(i)?;
                line.push_str(&format!(" {v:?}"));
            }
            out.push(line);
        }
    }
    Ok(out)
}

/// Checks that a document's projection rows equal what the document says now. Must run inside
/// a transaction that the caller rolls back: it rewrites the rows to compare them.
pub(crate) fn verify(
    tx: &Transaction<'_>,
    id: &DocId,
    kind: DocKind,
    doc: &Automerge,
) -> Result<()> {
    let before = dump(tx, id)?;
    refresh(tx, id, kind, doc)?;
    let after = dump(tx, id)?;
    if before != after {
        return Err(Error::Document {
            id: id.to_string(),
            reason: "projection rows differ from the document".into(),
        });
    }
    Ok(())
}
