//! Cross-crate integration tests of the `dossier` store, on real SQLite files.

// Tests fail by panicking: unwrapping is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod convergence;
mod crash;
mod disk;
mod fuzz_regressions;
mod hostile_changes;
mod merge;
mod redaction;
mod report;
mod sop;
mod storage;
mod workflow;
