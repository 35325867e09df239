//! The SQLite schema and its migrations.
//!
//! The schema version lives in `PRAGMA user_version`. Each numbered step upgrades from the
//! version before it, and all pending steps run inside one IMMEDIATE transaction, so a crash
//! mid-upgrade leaves the file at its old version rather than half-upgraded. A file written by a
//! newer build is refused instead of guessed at.
//!
//! Documents are stored as an Automerge snapshot plus the change chunks received since
//! (`docs` + `changes`). Everything else — `cases`, `sops`, `articles` and friends — is a
//! *projection*: rows derived from the documents in the same transaction that changed them, so
//! lists, filters and reports never load a document and analysts can use plain SQL.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// The schema version this build writes.
pub const END_VERSION: u32 = MIGRATIONS.len() as u32;

/// Step `i` upgrades a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: documents, change log and the case/SOP/article projections.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE docs (
        id             TEXT PRIMARY KEY,
        kind           TEXT NOT NULL,
        snapshot       BLOB NOT NULL,
        snapshot_heads BLOB NOT NULL,
        snapshot_len   INTEGER NOT NULL,
        pending_len    INTEGER NOT NULL DEFAULT 0,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX docs_kind ON docs(kind);

    CREATE TABLE changes (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL REFERENCES docs(id) ON DELETE CASCADE,
        hash   BLOB NOT NULL,
        bytes  BLOB NOT NULL,
        UNIQUE (doc_id, hash)
    ) STRICT;

    CREATE TABLE cases (
        id            TEXT PRIMARY KEY REFERENCES docs(id) ON DELETE CASCADE,
        number        TEXT NOT NULL UNIQUE,
        site          TEXT NOT NULL,
        market        TEXT NOT NULL,
        locale        TEXT,
        channel       TEXT,
        assignee      TEXT,
        status        TEXT NOT NULL,
        priority      TEXT NOT NULL,
        priority_rank INTEGER NOT NULL,
        category      TEXT NOT NULL,
        subcategory   TEXT,
        root_cause    TEXT,
        subject       TEXT NOT NULL,
        problem       TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        solved_at     INTEGER,
        closed_at     INTEGER,
        sla_due_at    INTEGER,
        sla_paused    INTEGER NOT NULL DEFAULT 0,
        event_count   INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX cases_status_market ON cases(status, market);
    CREATE INDEX cases_market_created ON cases(market, created_at);
    CREATE INDEX cases_sla_due ON cases(sla_due_at) WHERE sla_due_at IS NOT NULL;
    CREATE INDEX cases_problem ON cases(problem) WHERE problem IS NOT NULL;

    CREATE TABLE case_tags (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        tag     TEXT NOT NULL,
        PRIMARY KEY (case_id, tag)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE case_escalations (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        idx     INTEGER NOT NULL,
        target  TEXT NOT NULL,
        reason  TEXT NOT NULL,
        at      INTEGER NOT NULL,
        by      TEXT NOT NULL,
        PRIMARY KEY (case_id, idx)
    ) STRICT;

    CREATE TABLE case_sla (
        case_id   TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        metric    TEXT NOT NULL,
        due_at    INTEGER NOT NULL,
        paused_ms INTEGER NOT NULL,
        met_at    INTEGER,
        PRIMARY KEY (case_id, metric)
    ) STRICT;

    CREATE TABLE sops (
        id                TEXT PRIMARY KEY REFERENCES docs(id) ON DELETE CASCADE,
        title             TEXT NOT NULL,
        status            TEXT NOT NULL,
        master_locale     TEXT NOT NULL,
        markets           TEXT NOT NULL,
        node_count        INTEGER NOT NULL,
        published_version INTEGER,
        violations        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE sop_runs (
        case_id   TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        idx       INTEGER NOT NULL,
        sop_id    TEXT NOT NULL,
        version   INTEGER NOT NULL,
        path      TEXT NOT NULL,
        exit_node TEXT NOT NULL,
        outcome   TEXT NOT NULL,
        at        INTEGER NOT NULL,
        by        TEXT NOT NULL,
        PRIMARY KEY (case_id, idx)
    ) STRICT;
    CREATE INDEX sop_runs_sop ON sop_runs(sop_id, version);

    CREATE TABLE articles (
        id                   TEXT PRIMARY KEY REFERENCES docs(id) ON DELETE CASCADE,
        title                TEXT NOT NULL,
        status               TEXT NOT NULL,
        visibility           TEXT NOT NULL,
        markets              TEXT NOT NULL,
        categories           TEXT NOT NULL,
        locales              TEXT NOT NULL,
        published_version    INTEGER,
        interval_days        INTEGER NOT NULL,
        last_verified_at     INTEGER,
        next_verification_at INTEGER,
        updated_at           INTEGER NOT NULL
    ) STRICT;
    "#,
    // 2: full-text search over article titles and bodies, one row per (article, locale).
    // `remove_diacritics 2` folds accents so "reembolso" finds "Reembolsó".
    r#"
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        doc_id UNINDEXED,
        locale UNINDEXED,
        title,
        body,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    "#,
    // 3: a per-store change sequence on documents, so sync can find what changed since a
    // peer's cursor without loading documents.
    r#"
    ALTER TABLE docs ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE docs SET change_seq = rowid;
    CREATE INDEX docs_change_seq ON docs(change_seq);
    INSERT INTO meta(key, value) SELECT 'seq.doc_change', CAST(coalesce(max(rowid), 0) AS TEXT) FROM docs
        WHERE true ON CONFLICT(key) DO NOTHING;
    "#,
];

/// Brings `conn` to [`END_VERSION`], creating the schema on an empty file.
///
/// # Errors
/// [`Error::SchemaTooNew`] for a file from a newer build; [`Error::Corrupt`] when the file is not
/// a SQLite database.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, END_VERSION)
}

pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::from_sqlite)?;
    let version: u32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::from_sqlite)?;
    if version > END_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: END_VERSION,
        });
    }
    if version == 0 {
        // A non-empty file at version 0 is some other application's database.
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(Error::from_sqlite)?;
        if tables > 0 {
            return Err(Error::Corrupt(
                "the file is a SQLite database of another application".into(),
            ));
        }
    }
    for step in version..target {
        tx.execute_batch(MIGRATIONS[step as usize])
            .map_err(Error::from_sqlite)?;
        backfill(&tx, step + 1)?;
    }
    if target > version {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(())
}

/// Data steps that SQL alone cannot do, run right after the schema step of the same number.
fn backfill(tx: &rusqlite::Transaction<'_>, version: u32) -> Result<()> {
    if version == 2 {
        // The search index is derived from article documents: index the articles that existed
        // before it did.
        let ids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT id FROM docs WHERE kind = 'article'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in ids {
            let id: crate::DocId = id.parse()?;
            let (doc, kind, _) = crate::store::load_doc(tx, &id)?;
            crate::projection::refresh(tx, &id, kind, &doc, 0)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT name, coalesce(sql, '') FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn upgrading_from_every_older_version_matches_a_fresh_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        for start in 1..END_VERSION {
            let mut old = Connection::open_in_memory().unwrap();
            migrate_to(&mut old, start).unwrap();
            let v: u32 = old
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, start);
            migrate(&mut old).unwrap();
            assert_eq!(schema_of(&old), schema_of(&fresh), "upgrade from v{start}");
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let before = schema_of(&conn);
        migrate(&mut conn).unwrap();
        assert_eq!(schema_of(&conn), before);
    }

    #[test]
    fn a_file_from_a_newer_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", END_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::SchemaTooNew { found, .. }) if found == END_VERSION + 1
        ));
    }

    #[test]
    fn another_applications_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(x)").unwrap();
        assert!(matches!(migrate(&mut conn), Err(Error::Corrupt(_))));
    }
}
