//! Projection tables: SQL rows derived from documents.
//!
//! Each changed document's rows are rewritten from its merged view inside the transaction that
//! changed it, so the tables are never out of step with the documents. The rows depend only on
//! the document and its `docs.updated_at`, never on the clock, which is what lets
//! [`verify`] recompute them and compare.

use std::any::Any;

use automerge::Automerge;
use rusqlite::Transaction;

use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::DocKind;

/// What a projector materialized while writing a document's rows: the domain's merged view
/// (a `Case`, say), handed back to the write's caller so that it need not read the document
/// again ([`crate::store::Views`]).
pub(crate) type View = Box<dyn Any + Send>;

/// The rows one kind of document projects into SQL. Storage calls it for every document a
/// write changed, inside that write's transaction; the domain modules implement it, so the
/// storage engine depends on none of them.
pub(crate) trait Projector: Send + Sync {
    /// The tables this kind writes, each with the column that names the document.
    fn tables(&self) -> &'static [(&'static str, &'static str)];

    /// Rewrites the rows of document `id` from `doc`, returning the view it materialized to do
    /// so, if any. Must depend only on the document and `updated_at`, never on the clock.
    fn project(
        &self,
        tx: &Transaction<'_>,
        id: &DocId,
        doc: &Automerge,
        updated_at: i64,
    ) -> Result<Option<View>>;
}

/// One projector per document kind, in [`DocKind`] order; the crate root composes it
/// ([`crate::PROJECTORS`]).
pub(crate) struct Projectors(pub [&'static dyn Projector; DocKind::ALL.len()]);

impl Projectors {
    /// The projector of `kind`.
    pub fn of(&self, kind: DocKind) -> &'static dyn Projector {
        self.0[kind as usize]
    }
}

/// Rewrites the projection rows of one document; the view the projector made.
pub(crate) fn refresh(
    projectors: &Projectors,
    tx: &Transaction<'_>,
    id: &DocId,
    kind: DocKind,
    doc: &Automerge,
    updated_at: i64,
) -> Result<Option<View>> {
    projectors.of(kind).project(tx, id, doc, updated_at)
}

/// Moves only the `updated_at` of a document's main projection row (the first of its
/// projector's tables), for a write that changes nothing else the rows hold (see
/// `Write::keep_projection`).
pub(crate) fn touch(
    projectors: &Projectors,
    tx: &Transaction<'_>,
    id: &DocId,
    kind: DocKind,
    updated_at: i64,
) -> Result<()> {
    let Some((table, column)) = projectors.of(kind).tables().first() else {
        return Ok(());
    };
    tx.prepare_cached(&format!(
        "UPDATE {table} SET updated_at = ?2 WHERE {column} = ?1"
    ))?
    .execute(rusqlite::params![id.to_string(), updated_at])?;
    Ok(())
}

fn dump(tx: &Transaction<'_>, tables: &[(&str, &str)], id: &DocId) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (table, col) in tables {
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
    projectors: &Projectors,
    tx: &Transaction<'_>,
    id: &DocId,
    kind: DocKind,
    doc: &Automerge,
) -> Result<()> {
    // Every kind's tables: a document must have no rows in another kind's tables either.
    let tables: Vec<(&str, &str)> = DocKind::ALL
        .iter()
        .flat_map(|k| projectors.of(*k).tables().iter().copied())
        .collect();
    let updated_at: i64 = tx.query_row(
        "SELECT updated_at FROM docs WHERE id = ?1",
        [id.to_string()],
        |r| r.get(0),
    )?;
    let before = dump(tx, &tables, id)?;
    refresh(projectors, tx, id, kind, doc, updated_at)?;
    let after = dump(tx, &tables, id)?;
    if before != after {
        return Err(Error::Document {
            id: id.to_string(),
            reason: "projection rows differ from the document".into(),
        });
    }
    Ok(())
}
