//! Schema step 8.
//!
//! Retired articles leave the search index. From this release the article projection writes no
//! search rows for a retired article and deletes them when one is retired; a file written
//! before it still holds the rows of the articles retired then, which search filtered out at
//! query time. This step deletes them, so the index holds only what search may return.
//!
//! Released: never edit this file. A change to the schema is a new step.

use super::Step;

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: None,
    reproject: &[],
};

const SQL: &str = r#"
    DELETE FROM articles_fts WHERE rowid IN (
        SELECT m.fts_rowid FROM article_fts_rows m JOIN articles a ON a.id = m.doc_id
        WHERE a.status = 'retired');
    DELETE FROM article_fts_rows
        WHERE doc_id IN (SELECT id FROM articles WHERE status = 'retired');
    "#;
