//! Schema step 6.
//!
//! Where each article's search rows are. `articles_fts.doc_id` is UNINDEXED (FTS5 indexes
//! words, not keys), so deleting an article's rows by it scanned the whole index on every
//! article write; this table maps (article, locale) to the FTS rowid.
//!
//! Released: never edit this file. A change to the schema is a new step.

use super::Step;

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: None,
    reproject: &[],
};

const SQL: &str = r#"
    CREATE TABLE article_fts_rows (
        fts_rowid INTEGER PRIMARY KEY,
        doc_id    TEXT NOT NULL,
        locale    TEXT NOT NULL,
        UNIQUE (doc_id, locale)
    ) STRICT;
    INSERT INTO article_fts_rows(fts_rowid, doc_id, locale)
        SELECT rowid, doc_id, locale FROM articles_fts;
    "#;
