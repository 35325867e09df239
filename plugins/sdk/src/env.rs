//! What the host offers a plugin: reference-data lookups and a log.
//!
//! Plugin logic takes `&dyn Env` instead of calling the WIT imports directly, so the same
//! function runs inside the sandbox (backed by the `host` imports) and in native tests (backed
//! by [`crate::testing::TestEnv`]).

use crate::Level;

/// The host's services as seen by plugin code.
pub trait Env {
    /// Reads reference data: `lookup("holidays-ES", "2026-12-25")` returns the holiday's name
    /// when that date is a holiday in Spain. `None` when the table or the key is absent.
    fn lookup(&self, table: &str, key: &str) -> Option<String>;

    /// Writes a line to the host's log (the host bounds its size and count per call).
    fn log(&self, level: Level, message: &str);

    /// Logs at [`Level::Debug`].
    fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Logs at [`Level::Info`].
    fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs at [`Level::Warn`].
    fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }
}
