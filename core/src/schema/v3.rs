//! Schema step 3.
//!
//! A per-store change sequence on documents, so sync can find what changed since a
//! peer's cursor without loading documents.
//!
//! Released: never edit this file. A change to the schema is a new step.

use super::Step;

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: None,
    reproject: &[],
};

const SQL: &str = r#"
    ALTER TABLE docs ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE docs SET change_seq = rowid;
    CREATE INDEX docs_change_seq ON docs(change_seq);
    INSERT INTO meta(key, value) SELECT 'seq.doc_change', CAST(coalesce(max(rowid), 0) AS TEXT) FROM docs
        WHERE true ON CONFLICT(key) DO NOTHING;
    "#;
