//! Schema step 2.
//!
//! Full-text search over article titles and bodies, one row per (article, locale).
//! `remove_diacritics 2` folds accents so "reembolso" finds "Reembolsó".
//!
//! Released: never edit this file. A change to the schema is a new step.

//!
//! The search index is derived from article documents, so the articles that existed before it
//! are indexed here: one row per locale that has a title or a body, with the text as the article
//! document of that release stored it (`title` and `body` maps of locale to text at the root).
//! The rowid map of step 6 does not exist yet; step 6 maps the rows written here.

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value};
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
        let mut stmt = tx.prepare("SELECT id FROM docs WHERE kind = 'article' ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in ids {
        let doc = load(tx, &id)?;
        let title = str_map(&doc, "title");
        let body = str_map(&doc, "body");
        let mut locales: Vec<&String> = title.keys().chain(body.keys()).collect();
        locales.sort();
        locales.dedup();
        for l in locales {
            tx.execute(
                "INSERT INTO articles_fts(doc_id, locale, title, body) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    l,
                    title.get(l).map(String::as_str).unwrap_or(""),
                    body.get(l).map(String::as_str).unwrap_or(""),
                ],
            )?;
        }
    }
    Ok(())
}

/// The map of locale to string at the root key `prop`; a value that is neither a string nor a
/// text is left out.
fn str_map(doc: &Automerge, prop: &str) -> BTreeMap<String, String> {
    let Ok(Some((Value::Object(ObjType::Map), map))) = doc.get(&ObjId::Root, prop) else {
        return BTreeMap::new();
    };
    doc.keys(&map)
        .filter_map(|k| {
            let v = match doc.get(&map, k.as_str()).ok()?? {
                (Value::Scalar(s), _) => match s.as_ref() {
                    ScalarValue::Str(s) => s.to_string(),
                    _ => return None,
                },
                (Value::Object(ObjType::Text), text) => doc.text(&text).ok()?,
                _ => return None,
            };
            Some((k, v))
        })
        .collect()
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
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        doc_id UNINDEXED,
        locale UNINDEXED,
        title,
        body,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    "#;
