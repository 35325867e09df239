//! The one error type of the `dossier` crate.
//!
//! Messages are lowercase, say what was wrong and where, and never carry the content of a
//! document: a case subject or note may hold personal data, and an error message ends up in
//! logs, crash reports and binding exceptions that nobody redacts.

use crate::id::DocId;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite file is not a Dossier store, or it is damaged.
    #[error("the database file is corrupt or not a dossier store: {0}")]
    Corrupt(String),
    /// The file was written by a newer Dossier whose schema this build does not know.
    #[error("the database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// The store has no site id yet.
    #[error("the store has no site id: initialise it first (dossier init --site SITE)")]
    NotInitialized,
    /// The store was opened with a site id other than the one it was created with.
    #[error("the store belongs to site {stored}, not {requested}")]
    SiteMismatch {
        /// Site recorded in the file.
        stored: String,
        /// Site asked for when opening.
        requested: String,
    },
    /// A value supplied by the caller is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or argument, e.g. `status` or `payment.amount_minor`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// No document with this id or case number exists.
    #[error("no {kind} found for {key}")]
    NotFound {
        /// The kind of thing looked for.
        kind: &'static str,
        /// The id or number asked for.
        key: String,
    },
    /// The document exists but is of another kind.
    #[error("document {id} is a {actual}, not a {expected}")]
    WrongKind {
        /// The document.
        id: DocId,
        /// What the caller asked for.
        expected: &'static str,
        /// What the document is.
        actual: String,
    },
    /// A closed case is terminal: it can be read but not changed.
    #[error("case {number} is closed; a closed case cannot be changed")]
    CaseClosed {
        /// The case number.
        number: String,
    },
    /// A status change that the workflow does not allow.
    #[error("cannot move {what} from {from} to {to}: {reason}")]
    Transition {
        /// What is changing (`case CX-1`, `sop ...`).
        what: String,
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
        /// Why it is refused.
        reason: String,
    },
    /// The SOP breaks one or more of its invariants.
    #[error("sop {id} is invalid: {}", violations.join("; "))]
    SopInvalid {
        /// The SOP.
        id: DocId,
        /// One line per violation, each naming the node.
        violations: Vec<String>,
    },
    /// Publishing needs an approver who wrote none of the changes being published.
    #[error(
        "approver {approver} authored changes since the last published version; \
         another person must approve (four-eyes rule)"
    )]
    FourEyes {
        /// The approver that was refused.
        approver: String,
    },
    /// A run of an SOP was to be recorded on a case of a market the SOP does not cover.
    #[error(
        "sop {title:?} covers {}, not market {market} of case {case}; \
         record the run with the any-market override if it applies anyway",
        markets.join(", ")
    )]
    SopMarket {
        /// The SOP's title.
        title: String,
        /// The markets the SOP's published version covers.
        markets: Vec<String>,
        /// The case number.
        case: String,
        /// The case's market.
        market: String,
    },
    /// An import file is malformed; nothing from it was stored.
    #[error("{source_name}: {location}: {reason}")]
    Import {
        /// File or input name.
        source_name: String,
        /// Where in the input: a line, a JSON path, a record of a batch.
        location: Location,
        /// What is wrong there.
        reason: String,
    },
    /// Changes received from another replica were refused; nothing from them was stored.
    #[error("changes for {doc} refused: {reason}")]
    Rejected {
        /// The document the changes were for.
        doc: String,
        /// Why (never the offending value).
        reason: String,
    },
    /// An SOP walk could not proceed.
    #[error("walk failed: {0}")]
    Walk(String),
    /// A plugin package's signature does not verify over its manifest and bytes.
    #[error("plugin {plugin}: the package signature does not verify (tampered or corrupted)")]
    PluginSignature {
        /// The plugin's name.
        plugin: String,
    },
    /// A plugin asked for an action the case does not allow; none of its actions was applied.
    #[error("invalid plugin action #{index}: {reason}")]
    InvalidAction {
        /// Index of the first bad action.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A before-solve plugin refused to let the case be solved.
    #[error("solve refused by {plugin}: {reason}")]
    SolveRefused {
        /// The plugin (`name@version`).
        plugin: String,
        /// Its reason.
        reason: String,
    },
    /// The document's stored bytes could not be decoded.
    #[error("document {id} cannot be loaded: {reason}")]
    Document {
        /// The document.
        id: String,
        /// What the decoder said.
        reason: String,
    },
    /// A sync session or bundle failed on this side: the peer could not be authenticated, or
    /// it sent something this build cannot accept. The session is over; nothing unverified was
    /// stored.
    #[error("sync failed: {0}")]
    Sync(crate::sync::SyncFailure),
    /// The peer ended the sync session and said why.
    #[error("the peer ended the sync: {0}")]
    SyncRefused(crate::sync::SyncFailure),
    /// The disk, or the size limit the store was opened with
    /// ([`StoreOptions::max_file_bytes`](crate::StoreOptions::max_file_bytes)), is full. The
    /// write was not stored; everything committed before it is intact and readable, and the
    /// next write succeeds once there is room.
    #[error("the disk or the store's size limit is full; the write was not stored ({0})")]
    DiskFull(String),
    /// An error from SQLite that is not corruption or a full disk.
    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),
    /// An error from Automerge on a document we built ourselves.
    #[error("automerge error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// An I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The store file (or its WAL) has permissions that put the site's key at risk; the store
    /// was not opened.
    #[error("the store file {} is not private (mode {mode:03o}): {reason}", path.display())]
    InsecureFile {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Why it is refused and what to do.
        reason: String,
    },
}

/// Where in an import's input a problem is, as fields a front end can show or point at (never
/// parsed back out of a message).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Location {
    /// A line of a text input (1-based), and the column if known (1-based).
    Line {
        /// The line.
        line: u64,
        /// The column.
        column: Option<u64>,
    },
    /// A value inside a JSON document, such as `nodes[2].rules[0]` (empty: the top level), and
    /// where it is in the text if known (1-based).
    JsonPath {
        /// The path.
        path: String,
        /// The line.
        line: Option<u64>,
        /// The column.
        column: Option<u64>,
    },
    /// One item of a batch given to a call such as `create_cases` (0-based index).
    Record {
        /// The index in the batch.
        index: usize,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line { line, column: None } => write!(f, "line {line}"),
            Location::Line {
                line,
                column: Some(c),
            } => write!(f, "line {line}, column {c}"),
            Location::JsonPath { path, line, column } => {
                f.write_str(if path.is_empty() { "top level" } else { path })?;
                match (line, column) {
                    (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
                    (Some(l), None) => write!(f, " (line {l})"),
                    _ => Ok(()),
                }
            }
            Location::Record { index } => write!(f, "record {}", index + 1),
        }
    }
}

impl Error {
    /// Error messages are printed, logged and sent to peers: what the user typed is quoted in
    /// them only after the redactor, so a card number typed where a case number was expected
    /// goes nowhere.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: crate::redact::redact(&field.into()).text,
            reason: crate::redact::redact(&reason.into()).text,
        }
    }

    pub(crate) fn not_found(kind: &'static str, key: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            key: crate::redact::redact(&key.into()).text,
        }
    }

    /// Maps SQLite's "not a database" and "malformed" codes to [`Error::Corrupt`], so callers
    /// can tell a damaged file from a transient failure.
    pub(crate) fn from_sqlite(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                Error::Corrupt(e.to_string())
            }
            Some(ErrorCode::DiskFull) => Error::DiskFull(e.to_string()),
            _ => Error::Sqlite(e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::from_sqlite(e)
    }
}
