//! Upgrades of files written by released builds.
//!
//! `core/tests/fixtures/schema/vN.dossier` is a store of schema version `N` written by the build
//! that released it (`README.md` there says which commit and how). Each one is copied, opened
//! with today's [`Store::open`] and compared with a fresh store: the schema, every projection row
//! against today's projection of its document, every document through today's API, and the
//! stored document bytes, which an upgrade must never touch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::END_VERSION;
use crate::{DocKind, Store, StoreOptions};

fn fixture(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schema")
        .join(format!("v{version}.dossier"))
}

fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn user_version(conn: &Connection) -> u32 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// Every stored byte of every document: snapshot, snapshot heads and change chunks.
type Stored = BTreeMap<String, (String, Vec<u8>, Vec<u8>, Vec<Vec<u8>>)>;

fn stored_documents(conn: &Connection) -> Stored {
    let mut out = Stored::new();
    let mut stmt = conn
        .prepare("SELECT id, kind, snapshot, snapshot_heads FROM docs")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })
        .unwrap();
    for row in rows {
        let (id, (kind, snapshot, heads)) = row.unwrap();
        let mut changes = conn
            .prepare("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
            .unwrap();
        let chunks = changes
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        out.insert(id, (kind, snapshot, heads, chunks));
    }
    out
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn every_released_schema_version_has_a_fixture() {
    for version in 1..=END_VERSION {
        let path = fixture(version);
        assert!(path.exists(), "no fixture for schema v{version}: {path:?}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn), version, "{path:?}");
    }
}

#[test]
fn every_fixture_upgrades_to_what_a_fresh_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let fresh_path = dir.path().join("fresh.dossier");
    drop(
        Store::open(
            &fresh_path,
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let fresh = schema_of(&Connection::open(&fresh_path).unwrap());

    for version in 1..=END_VERSION {
        let path = dir.path().join(format!("v{version}.dossier"));
        std::fs::copy(fixture(version), &path).unwrap();
        let before = {
            let conn = Connection::open(&path).unwrap();
            assert_eq!(user_version(&conn), version);
            stored_documents(&conn)
        };
        assert!(!before.is_empty(), "v{version}: an empty fixture");

        let store = Store::open(&path, StoreOptions::default()).unwrap();
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn), END_VERSION, "v{version}");

        // (a) The schema is a fresh store's.
        assert_eq!(schema_of(&conn), fresh, "v{version}: schema");

        // (b) Every projection row equals today's projection of its document.
        assert_eq!(
            store.check_integrity().unwrap(),
            Vec::<String>::new(),
            "v{version}: integrity"
        );

        // (d) The upgrade left every stored document byte alone, and the heads read back are
        // the stored ones.
        assert_eq!(stored_documents(&conn), before, "v{version}: documents");

        // (c) Every document reads through today's API.
        let docs = store.documents().unwrap();
        assert_eq!(docs.len(), before.len(), "v{version}");
        let mut kinds: BTreeMap<DocKind, usize> = BTreeMap::new();
        for (id, kind) in &docs {
            *kinds.entry(*kind).or_default() += 1;
            assert!(!store.heads(id).unwrap().is_empty(), "v{version}: {id}");
            match kind {
                DocKind::Case => {
                    let case = store.case_by_id(id).unwrap();
                    assert_eq!(store.case(&case.number).unwrap().id, *id);
                    // Step 4's backfill: the pause start of a paused case is the document's.
                    let since: Option<i64> = conn
                        .query_row(
                            "SELECT sla_paused_since FROM cases WHERE id = ?1",
                            [id.to_string()],
                            |r| r.get(0),
                        )
                        .unwrap();
                    assert_eq!(since, case.paused_since, "v{version}: {}", case.number);
                }
                DocKind::Sop => {
                    store.sop(id).unwrap();
                }
                DocKind::Article => {
                    let article = store.article(id).unwrap();
                    // Step 2's backfill: one search row per locale, mapped by step 6.
                    let locales: std::collections::BTreeSet<&String> =
                        article.title.keys().chain(article.body.keys()).collect();
                    let key = id.to_string();
                    let rows = conn
                        .query_row(
                            "SELECT count(*) FROM articles_fts WHERE doc_id = ?1",
                            [&key],
                            |r| r.get::<_, i64>(0),
                        )
                        .unwrap();
                    // A retired article's rows are whatever today's projection says (checked
                    // above); a live one is searchable in every locale it has.
                    if article.status != crate::ArticleStatus::Retired {
                        assert_eq!(rows, locales.len() as i64, "v{version}: {key}");
                    }
                    let mapped = conn
                        .query_row(
                            "SELECT count(*) FROM article_fts_rows m JOIN articles_fts f \
                             ON f.rowid = m.fts_rowid AND f.doc_id = m.doc_id \
                             AND f.locale = m.locale WHERE m.doc_id = ?1",
                            [&key],
                            |r| r.get::<_, i64>(0),
                        )
                        .unwrap();
                    assert_eq!(mapped, rows, "v{version}: {key}");
                }
                DocKind::Plugin => {
                    store.plugin_package(id).unwrap();
                    store.plugin(&id.to_string()).unwrap();
                }
            }
        }
        let cases = kinds.get(&DocKind::Case).copied().unwrap_or(0);
        assert!(cases >= 5, "v{version}: a realistic mix of cases");
        assert_eq!(
            store
                .list_cases(&crate::CaseFilter::default())
                .unwrap()
                .len(),
            cases,
            "v{version}"
        );
        assert_eq!(
            store.list_sops().unwrap().len(),
            kinds.get(&DocKind::Sop).copied().unwrap_or(0),
            "v{version}"
        );
        assert!(kinds.get(&DocKind::Article).is_some_and(|n| *n >= 2));
        assert_eq!(
            count(&conn, "SELECT count(*) FROM articles"),
            kinds[&DocKind::Article] as i64
        );
        // The fixture writers put in a paused case and a search word in Spanish with an accent.
        assert!(
            count(
                &conn,
                "SELECT count(*) FROM cases WHERE sla_paused = 1 AND sla_paused_since IS NOT NULL"
            ) >= 1,
            "v{version}: a paused case with its pause start"
        );
        assert!(
            !store
                .search_articles("reembolso", None, 10)
                .unwrap()
                .is_empty(),
            "v{version}: search"
        );
        assert_eq!(
            count(&conn, "SELECT count(*) FROM plugins"),
            kinds.get(&DocKind::Plugin).copied().unwrap_or(0) as i64,
            "v{version}: plugin rows"
        );
        drop(store);
    }
}
