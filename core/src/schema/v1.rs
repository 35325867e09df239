//! Schema step 1.
//!
//! Documents, change log and the case/SOP/article projections.
//!
//! Released: never edit this file. A change to the schema is a new step.

use super::Step;

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: None,
    reproject: &[],
};

const SQL: &str = r#"
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
    "#;
