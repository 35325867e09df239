//! Schema step 7.
//!
//! Workflow plugins: the projection of plugin documents, the publishers this site trusts,
//! and compiled code this host made (never received from anyone).
//!
//! Released: never edit this file. A change to the schema is a new step.

//!
//! A file of version 6 can hold plugin documents (they arrived by sync before this build
//! projected them). Their rows are not written here but by the runner after the last step,
//! with today's projection: a row's `signature_ok` is a verdict on a signature, and a frozen
//! copy of the verifier would keep trusting what a fixed one refuses.

use super::Step;

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: None,
    reproject: &["plugin"],
};

const SQL: &str = r#"
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
    "#;
