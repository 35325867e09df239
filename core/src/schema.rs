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
//!
//! # Released steps are frozen
//!
//! Step `N` lives in `schema/vN.rs` with its SQL and, when SQL alone cannot do it, its own
//! backfill, which reads the documents with `automerge` directly, as that release stored them,
//! and writes rows in the shape of that version's tables. A step never calls the case, SOP,
//! article, plugin or store modules: they describe today's documents and today's tables, and
//! the first change to them would silently change what an upgrade from an old file does. **A
//! released step is never edited; a change to the schema is a new step.**
//!
//! When an upgrade needs rows only today's code can compute, a step names the document kinds in
//! [`Step::reproject`], and this runner — today's code, outside the frozen steps — rewrites those
//! documents' projections with today's projection after the last step, in the same transaction.
//! That happens only on an upgrade to [`END_VERSION`]; an intermediate version's tables are not
//! today's. Changing what a projection writes for documents that already exist is therefore a
//! schema change as well: a new step, whose `reproject` names the kinds whose rows changed (old
//! files otherwise keep the old rows, and the fixture tests' integrity check says so).
//!
//! Every released version has a fixture file written by the build that released it
//! (`core/tests/fixtures/schema/`); the tests in `schema/fixtures.rs` open each with today's
//! store and compare it with a fresh one.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

mod v1;
mod v2;
mod v3;
mod v4;
mod v5;
mod v6;
mod v7;
mod v8;

/// The schema version this build writes.
pub const END_VERSION: u32 = STEPS.len() as u32;

/// One released schema step.
struct Step {
    /// The schema change.
    sql: &'static str,
    /// Data the SQL cannot derive, run right after `sql`.
    backfill: Option<fn(&Transaction<'_>) -> Result<()>>,
    /// Kinds of document (`docs.kind`) whose projections today's code rewrites once the file
    /// is at [`END_VERSION`].
    reproject: &'static [&'static str],
}

/// `STEPS[i]` upgrades a file from version `i` to `i + 1`.
const STEPS: &[Step] = &[
    v1::STEP,
    v2::STEP,
    v3::STEP,
    v4::STEP,
    v5::STEP,
    v6::STEP,
    v7::STEP,
    v8::STEP,
];

/// Brings `conn` to [`END_VERSION`], creating the schema on an empty file.
///
/// # Errors
/// [`Error::SchemaTooNew`] for a file from a newer build; [`Error::Corrupt`] when the file is not
/// a SQLite database; [`Error::Document`] when a backfill cannot load a stored document (the
/// file is left at its old version).
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
    let mut reproject: Vec<&str> = Vec::new();
    for step in STEPS.iter().take(target as usize).skip(version as usize) {
        tx.execute_batch(step.sql).map_err(Error::from_sqlite)?;
        if let Some(backfill) = step.backfill {
            backfill(&tx)?;
        }
        reproject.extend(step.reproject);
    }
    if target == END_VERSION && !reproject.is_empty() {
        reproject_kinds(&tx, &reproject)?;
    }
    if target > version {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(())
}

/// Rewrites, with today's projection, the rows of every document of the given kinds.
fn reproject_kinds(tx: &Transaction<'_>, kinds: &[&str]) -> Result<()> {
    let mut docs: Vec<(String, i64)> = Vec::new();
    for kind in kinds {
        let mut stmt = tx.prepare("SELECT id, updated_at FROM docs WHERE kind = ?1 ORDER BY id")?;
        let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
        docs.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    docs.dedup();
    for (key, updated_at) in docs {
        let id: crate::DocId = key.parse()?;
        let (doc, kind, _) = crate::store::load_doc(tx, &id)?;
        // Rows depend only on the document and its `docs.updated_at`, which the upgrade keeps.
        crate::projection::refresh(&crate::PROJECTORS, tx, &id, kind, &doc, updated_at)?;
    }
    Ok(())
}

#[cfg(test)]
mod fixtures;

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
    fn a_version_1_file_upgrades_and_its_existing_articles_become_searchable() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.db");
        let store = crate::Store::open(
            &src,
            crate::StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        store
            .create_article(crate::NewArticle {
                title: [("pt".to_string(), "Devolução de Pix (MED)".to_string())].into(),
                body: [(
                    "pt".to_string(),
                    "Informe o boletim de ocorrência.".to_string(),
                )]
                .into(),
                ..Default::default()
            })
            .unwrap();
        drop(store);
        // A file as schema version 1 wrote it: the same documents, no search index.
        let old_path = dir.path().join("v1.db");
        let mut old = Connection::open(&old_path).unwrap();
        migrate_to(&mut old, 1).unwrap();
        old.execute("ATTACH ?1 AS src", [src.to_str().unwrap()])
            .unwrap();
        old.execute_batch(
            "INSERT INTO meta(key, value) VALUES ('site', 'MX1');
             INSERT INTO docs SELECT id, kind, snapshot, snapshot_heads, snapshot_len, pending_len,
                 created_at, updated_at FROM src.docs;
             INSERT INTO changes SELECT seq, doc_id, hash, bytes FROM src.changes;
             INSERT INTO articles SELECT id, title, status, visibility, markets, categories, locales,
                 published_version, interval_days, last_verified_at, next_verification_at,
                 updated_at FROM src.articles;
             DETACH src;",
        )
        .unwrap();
        drop(old);
        let store = crate::Store::open(&old_path, crate::StoreOptions::default()).unwrap();
        assert_eq!(
            store.search_articles("devolucao", None, 10).unwrap().len(),
            1
        );
        let conn = Connection::open(&old_path).unwrap();
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, END_VERSION);
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
    fn upgrading_to_v4_records_when_each_paused_case_was_paused() {
        use crate::{CaseUpdate, Category, NewCase, Status, Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        let store = Store::open(
            &new,
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let case = |status| {
            let c = store
                .create_case(NewCase::new("ES", Category::Refund, "Refund missing"))
                .unwrap();
            store.set_sla(&c.number, "first_reply", 1).unwrap();
            store
                .update_case(
                    &c.number,
                    CaseUpdate {
                        status: Some(status),
                        ..Default::default()
                    },
                )
                .unwrap();
        };
        case(Status::Pending);
        case(Status::Open);
        drop(store);

        // The same documents in a file of version 3: documents, change log, and the case rows
        // as version 3 had them (no pause start).
        let old = dir.path().join("old.db");
        let mut conn = Connection::open(&old).unwrap();
        migrate_to(&mut conn, 3).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS new", [new.to_str().unwrap()])
            .unwrap();
        // Version 3's columns of each table, so later steps' columns are left behind.
        let columns = |table: &str| -> Vec<String> {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{table}', 'main')"
                ))
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let v3_cases = columns("cases");
        assert!(!v3_cases.iter().any(|c| c == "sla_paused_since"));
        let copy: String = ["meta", "docs", "changes", "cases"]
            .iter()
            .map(|t| {
                let cols = columns(t).join(", ");
                format!("INSERT OR REPLACE INTO main.{t}({cols}) SELECT {cols} FROM new.{t};\n")
            })
            .collect();
        conn.execute_batch(&copy).unwrap();
        conn.execute("DETACH DATABASE new", []).unwrap();

        migrate(&mut conn).unwrap();
        let paused: Vec<(String, Option<i64>)> = {
            let mut stmt = conn
                .prepare("SELECT status, sla_paused_since FROM cases ORDER BY number")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        assert_eq!(paused.len(), 2);
        assert_eq!(paused[0].0, "pending");
        assert!(paused[0].1.is_some_and(|t| t > 0));
        assert_eq!(paused[1], ("open".to_string(), None));
    }

    #[test]
    fn a_backfill_that_cannot_load_a_document_fails_and_leaves_the_old_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO docs(id, kind, snapshot, snapshot_heads, snapshot_len, created_at, \
             updated_at) VALUES ('a1', 'article', x'00010203', x'', 4, 0, 0)",
            [],
        )
        .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::Document { id, .. }) if id == "a1"
        ));
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
        let fts: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'articles_fts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fts, 0);
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
