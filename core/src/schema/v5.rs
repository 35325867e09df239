//! Schema step 5.
//!
//! Sync. Provisioned peers (public key, scopes, the cursor into `docs.change_seq` up to which
//! the peer has been offered everything), the heads shared with each peer per document (so an
//! interrupted session resumes), and the hello nonces of authenticated sessions (replays).
//!
//! Released: never edit this file. A change to the schema is a new step.

use super::Step;

pub(super) const STEP: Step = Step {
    sql: SQL,
    backfill: None,
    reproject: &[],
};

const SQL: &str = r#"
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
    "#;
