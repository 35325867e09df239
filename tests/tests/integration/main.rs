//! Cross-crate integration tests of the `dossier` store, on real SQLite files.

mod convergence;
mod merge;
mod redaction;
mod sop;
mod storage;
