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
    // 4: operations analytics. Stable views over the projection tables for `dossier report`
    // and for analysts' own SQL (documented column by column in docs/analytics.md), and the
    // start of the current SLA pause on `cases`: without it a paused case cannot be told apart
    // from one that had already breached before it was paused. Views read the wall clock
    // (`julianday('now')`) only for their convenience columns (`state`, `hours_to_due`, ...);
    // the report recomputes those from the clock-free columns with the store's clock.
    r#"
    ALTER TABLE cases ADD COLUMN sla_paused_since INTEGER;

    CREATE VIEW v_case_volume AS
    SELECT date(c.created_at / 1000, 'unixepoch') AS day,
           c.market,
           c.site,
           c.category,
           c.root_cause,
           count(*) AS cases,
           sum(c.status IN ('solved', 'closed')) AS resolved_cases,
           sum(EXISTS (SELECT 1 FROM case_escalations e WHERE e.case_id = c.id)) AS escalated_cases
    FROM cases c
    GROUP BY day, c.market, c.site, c.category, c.root_cause;

    CREATE VIEW v_case_sla AS
    WITH base AS (
        SELECT c.id AS case_id,
               c.number,
               c.market,
               c.site,
               c.category,
               c.status,
               c.priority,
               c.created_at,
               s.metric,
               s.due_at,
               s.paused_ms,
               s.due_at + s.paused_ms AS effective_due_at,
               s.met_at,
               c.sla_paused_since AS paused_since,
               CASE c.status
                   WHEN 'solved' THEN coalesce(c.solved_at, c.updated_at)
                   WHEN 'closed' THEN coalesce(c.closed_at, c.solved_at, c.updated_at)
               END AS terminal_at,
               CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS now_ms
        FROM case_sla s
        JOIN cases c ON c.id = s.case_id
    ), stopped AS (
        -- The clock stops at the earliest of: met, case solved/closed, current pause began.
        SELECT *,
               min(coalesce(met_at, terminal_at, paused_since),
                   coalesce(terminal_at, paused_since, met_at),
                   coalesce(paused_since, met_at, terminal_at)) AS clock_stopped_at
        FROM base
    )
    SELECT *,
           CASE WHEN coalesce(clock_stopped_at, now_ms) > effective_due_at THEN 'breached'
                WHEN met_at IS NOT NULL OR terminal_at IS NOT NULL THEN 'met'
                WHEN paused_since IS NOT NULL THEN 'paused'
                ELSE 'running' END AS state,
           round((effective_due_at - now_ms) / 3600000.0, 2) AS hours_to_due
    FROM stopped;

    CREATE VIEW v_case_sla_state AS
    SELECT case_id,
           number,
           market,
           site,
           category,
           status,
           CASE max(CASE state WHEN 'breached' THEN 3 WHEN 'running' THEN 2
                               WHEN 'paused' THEN 1 ELSE 0 END)
               WHEN 3 THEN 'breached' WHEN 2 THEN 'running' WHEN 1 THEN 'paused'
               ELSE 'met' END AS state,
           min(CASE WHEN state = 'running' THEN effective_due_at END) AS next_due_at,
           min(CASE WHEN state = 'running' THEN hours_to_due END) AS hours_to_next_due,
           count(*) AS metrics,
           sum(state = 'breached') AS breached_metrics
    FROM v_case_sla
    GROUP BY case_id, number, market, site, category, status;

    CREATE VIEW v_escalations AS
    SELECT e.case_id,
           c.number,
           c.market,
           c.site,
           c.category,
           c.root_cause,
           e.idx,
           e.target,
           e.reason,
           e.at,
           date(e.at / 1000, 'unixepoch') AS day,
           e.by
    FROM case_escalations e
    JOIN cases c ON c.id = e.case_id;

    CREATE VIEW v_escalation_drivers AS
    SELECT target,
           reason,
           count(*) AS escalations,
           count(DISTINCT case_id) AS cases,
           min(at) AS first_at,
           max(at) AS last_at
    FROM case_escalations
    GROUP BY target, reason;

    CREATE VIEW v_sop_runs AS
    SELECT r.case_id,
           c.number,
           c.market,
           c.site,
           c.category,
           r.idx,
           r.sop_id,
           s.title AS sop_title,
           r.version,
           s.published_version AS latest_version,
           r.version = s.published_version AS is_latest_version,
           r.exit_node,
           r.outcome,
           r.outcome <> 'success' AS drop_off,
           json_array_length(r.path) AS steps,
           r.at,
           date(r.at / 1000, 'unixepoch') AS day,
           r.by
    FROM sop_runs r
    JOIN cases c ON c.id = r.case_id
    LEFT JOIN sops s ON s.id = r.sop_id;

    CREATE VIEW v_sop_outcomes AS
    SELECT sop_id,
           sop_title,
           version,
           is_latest_version,
           exit_node,
           outcome,
           drop_off,
           count(*) AS runs
    FROM v_sop_runs
    GROUP BY sop_id, sop_title, version, is_latest_version, exit_node, outcome, drop_off;

    CREATE VIEW v_article_verification AS
    SELECT id,
           title,
           status,
           visibility,
           markets,
           categories,
           interval_days,
           last_verified_at,
           next_verification_at,
           CASE WHEN next_verification_at IS NULL THEN 'unscheduled'
                WHEN next_verification_at <= now_ms THEN 'overdue'
                WHEN next_verification_at <= now_ms + 14 * 86400000 THEN 'due_soon'
                ELSE 'current' END AS state,
           CASE WHEN next_verification_at <= now_ms
                THEN (now_ms - next_verification_at) / 86400000 END AS days_overdue
    FROM (SELECT *, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS now_ms
          FROM articles);
    "#,
    // 5: sync. Provisioned peers (public key, scopes, the cursor into `docs.change_seq` up to which
    // the peer has been offered everything), the heads shared with each peer per document (so an
    // interrupted session resumes), and the hello nonces of authenticated sessions (replays).
    r#"
    CREATE TABLE sync_peers (
        site         TEXT PRIMARY KEY,
        public_key   BLOB NOT NULL,
        scopes       TEXT NOT NULL,
        cursor       INTEGER NOT NULL DEFAULT 0,
        added_at     INTEGER NOT NULL,
        last_sync_at INTEGER
    ) STRICT;

    CREATE TABLE sync_state (
        peer         TEXT NOT NULL REFERENCES sync_peers(site) ON DELETE CASCADE,
        doc          TEXT NOT NULL,
        shared_heads BLOB NOT NULL,
        PRIMARY KEY (peer, doc)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE sync_nonces (
        peer  TEXT NOT NULL REFERENCES sync_peers(site) ON DELETE CASCADE,
        nonce BLOB NOT NULL,
        at    INTEGER NOT NULL,
        UNIQUE (peer, nonce)
    ) STRICT;
    "#,
    // 6: where each article's search rows are. `articles_fts.doc_id` is UNINDEXED (FTS5 indexes
    // words, not keys), so deleting an article's rows by it scanned the whole index on every
    // article write; this table maps (article, locale) to the FTS rowid.
    r#"
    CREATE TABLE article_fts_rows (
        fts_rowid INTEGER PRIMARY KEY,
        doc_id    TEXT NOT NULL,
        locale    TEXT NOT NULL,
        UNIQUE (doc_id, locale)
    ) STRICT;
    INSERT INTO article_fts_rows(fts_rowid, doc_id, locale)
        SELECT rowid, doc_id, locale FROM articles_fts;
    "#,
    // 7: workflow plugins: the projection of plugin documents, the publishers this site trusts,
    // and compiled code this host made (never received from anyone).
    r#"
    CREATE TABLE plugins (
        id           TEXT PRIMARY KEY REFERENCES docs(id),
        name         TEXT NOT NULL,
        version      TEXT NOT NULL,
        api          TEXT NOT NULL,
        markets      TEXT NOT NULL,
        triggers     TEXT NOT NULL,
        description  TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        publisher    TEXT NOT NULL,
        signature_ok INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX plugins_name ON plugins(name);

    CREATE TABLE plugin_trust (
        public_key TEXT PRIMARY KEY,
        added_at   INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE plugin_code (
        sha256     TEXT NOT NULL,
        engine     TEXT NOT NULL,
        bytes      BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, engine)
    ) STRICT;
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
        // Only the search rows: the full projection targets the latest schema, whose later
        // steps have not run yet.
        // The rowid map of step 6 does not exist yet: write the index rows alone; step 6
        // maps them.
        for id in ids {
            let id: crate::DocId = id.parse()?;
            let (doc, _, _) = crate::store::load_doc(tx, &id)?;
            crate::article::index_rows(tx, &id, &doc)?;
        }
    }
    if version == 4 {
        // Only a case paused right now has a pause start, and only its document knows it.
        // Just that column is written, so this step stays right when later steps add columns
        // that the full projection would fill.
        let ids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT id FROM cases WHERE sla_paused = 1")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for key in ids {
            let id: crate::DocId = key.parse()?;
            let (doc, _, _) = crate::store::load_doc(tx, &id)?;
            let case = crate::case::materialize(id, &doc, None)?;
            tx.execute(
                "UPDATE cases SET sla_paused_since = ?1 WHERE id = ?2",
                rusqlite::params![case.paused_since, key],
            )?;
        }
    }
    if version == 7 {
        // Plugin documents could arrive by sync before this build projected them.
        let ids: Vec<(String, i64)> = {
            let mut stmt = tx.prepare("SELECT id, updated_at FROM docs WHERE kind = 'plugin'")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (key, updated_at) in ids {
            let id: crate::DocId = key.parse()?;
            let (doc, _, _) = crate::store::load_doc(tx, &id)?;
            crate::plugin::project(tx, &id, &doc, updated_at)?;
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
