//! Native test kit: run a plugin's rules with plain `cargo test`, no wasm and no host.
//!
//! [`TestEnv`] serves tables from memory (loaded from the same JSON files the plugin package
//! ships, so tests and production read one source) and keeps what the plugin logs;
//! [`snapshot`] builds a [`CaseSnapshot`] with sensible defaults; [`at`] turns a readable time
//! into epoch milliseconds.
//!
//! ```
//! use dossier_plugin_sdk::testing::{TestEnv, at, snapshot};
//! let env = TestEnv::new().with_table("holidays-ES", [("2025-12-25", "Natividad")]);
//! let case = snapshot("ES").created_at(at("2025-12-24T09:00:00Z")).field("member_state", "ES").build();
//! assert_eq!(case.field("member_state"), Some("ES"));
//! # let _ = env;
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use crate::date::parse_timestamp;
use crate::{CaseSnapshot, Dispute, Env, Level, Payment, Priority, SlaMetric, Status};

/// An [`Env`] with in-memory tables and a captured log.
#[derive(Debug, Default)]
pub struct TestEnv {
    tables: HashMap<String, HashMap<String, String>>,
    logs: RefCell<Vec<(Level, String)>>,
}

/// Why a table file could not be loaded.
#[derive(Debug)]
pub struct TableError {
    path: String,
    message: String,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}: {}", self.path, self.message)
    }
}

impl std::error::Error for TableError {}

impl TestEnv {
    /// An environment with no tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) table `name` with `entries`.
    pub fn with_table<'a>(
        mut self,
        name: &str,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let table = entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        self.tables.insert(name.to_owned(), table);
        self
    }

    /// Adds table `name` from JSON text: one object whose values are all strings, the format
    /// the CLI installs with `--table NAME=FILE.json`.
    ///
    /// # Errors
    /// [`TableError`] if the text is not such an object.
    pub fn with_table_json(mut self, name: &str, json: &str) -> Result<Self, TableError> {
        let bad = |message: String| TableError {
            path: name.to_owned(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("expected a JSON object".into()))?;
        let mut table = HashMap::with_capacity(object.len());
        for (k, v) in object {
            let v = v
                .as_str()
                .ok_or_else(|| bad(format!("value of {k:?} is not a string")))?;
            table.insert(k.clone(), v.to_owned());
        }
        self.tables.insert(name.to_owned(), table);
        Ok(self)
    }

    /// Adds a table from a JSON file; the table is named after the file (`holidays-ES.json`
    /// → `holidays-ES`).
    ///
    /// # Errors
    /// [`TableError`] if the file cannot be read or is not a JSON object of strings.
    pub fn load_table(self, path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| TableError {
                path: shown.clone(),
                message: "no file name".into(),
            })?
            .to_owned();
        let text = std::fs::read_to_string(path).map_err(|e| TableError {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        self.with_table_json(&name, &text).map_err(|e| TableError {
            path: shown,
            message: e.message,
        })
    }

    /// Adds every `*.json` file in `dir` as a table (see [`TestEnv::load_table`]).
    ///
    /// # Errors
    /// [`TableError`] if the directory or one of its tables cannot be read.
    pub fn load_tables(mut self, dir: impl AsRef<Path>) -> Result<Self, TableError> {
        let dir = dir.as_ref();
        let entries = std::fs::read_dir(dir).map_err(|e| TableError {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            self = self.load_table(path)?;
        }
        Ok(self)
    }

    /// The names of the tables loaded, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        let mut names: Vec<_> = self.tables.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Everything logged so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }

    /// Forgets the log.
    pub fn clear_logs(&self) {
        self.logs.borrow_mut().clear();
    }
}

impl Env for TestEnv {
    fn lookup(&self, table: &str, key: &str) -> Option<String> {
        self.tables.get(table)?.get(key).cloned()
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
}

/// Epoch milliseconds for a time written as in [`parse_timestamp`], e.g.
/// `at("2025-03-14T10:00:00Z")` or `at("2025-03-14")`.
///
/// # Panics
/// If `s` is not a time `parse_timestamp` reads: this is for literals in tests.
pub fn at(s: &str) -> i64 {
    match parse_timestamp(s) {
        Some(ms) => ms,
        None => panic!("not a timestamp: {s:?}"),
    }
}

/// A [`SnapshotBuilder`] for a case in `market`.
///
/// Defaults: id `test-case`, number `T-1`, status `open`, priority `normal`, category
/// `other`, created at and `now` both 2025-01-01T00:00:00Z, nothing else set.
pub fn snapshot(market: &str) -> SnapshotBuilder {
    let t0 = at("2025-01-01T00:00:00Z");
    SnapshotBuilder(CaseSnapshot {
        id: "test-case".into(),
        number: "T-1".into(),
        market: market.into(),
        status: Status::Open,
        previous_status: None,
        priority: Priority::Normal,
        category: "other".into(),
        subcategory: None,
        tags: Vec::new(),
        fields: BTreeMap::new(),
        payment: Payment::default(),
        dispute: None,
        sla: Vec::new(),
        escalated_to: Vec::new(),
        locale: None,
        created_at: t0,
        now: t0,
    })
}

/// Builds a [`CaseSnapshot`] for tests; see [`snapshot`].
#[derive(Debug, Clone)]
pub struct SnapshotBuilder(CaseSnapshot);

impl SnapshotBuilder {
    /// Sets the case number.
    pub fn number(mut self, number: &str) -> Self {
        self.0.number = number.into();
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: Status) -> Self {
        self.0.status = status;
        self
    }

    /// Sets the previous status (as for a `status-changed` trigger).
    pub fn previous_status(mut self, status: Status) -> Self {
        self.0.previous_status = Some(status);
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.0.priority = priority;
        self
    }

    /// Sets the category, e.g. `failed_payment`.
    pub fn category(mut self, category: &str) -> Self {
        self.0.category = category.into();
        self
    }

    /// Sets the subcategory.
    pub fn subcategory(mut self, subcategory: &str) -> Self {
        self.0.subcategory = Some(subcategory.into());
        self
    }

    /// Adds a tag (tags stay sorted and unique, as the host sends them).
    pub fn tag(mut self, tag: &str) -> Self {
        self.0.tags.push(tag.into());
        self.0.tags.sort();
        self.0.tags.dedup();
        self
    }

    /// Sets a field.
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.0.fields.insert(name.into(), value.into());
        self
    }

    /// Sets the payment's rail.
    pub fn rail(mut self, rail: &str) -> Self {
        self.0.payment.rail = Some(rail.into());
        self
    }

    /// Sets the payment's rail reference (UPI RRN, Pix EndToEndId).
    pub fn txn_ref(mut self, txn_ref: &str) -> Self {
        self.0.payment.txn_ref = Some(txn_ref.into());
        self
    }

    /// Sets when the transaction happened.
    pub fn txn_at(mut self, ms: i64) -> Self {
        self.0.payment.txn_at = Some(ms);
        self
    }

    /// Sets the amount in minor units and its currency.
    pub fn amount(mut self, minor: i64, currency: &str) -> Self {
        self.0.payment.amount_minor = Some(minor);
        self.0.payment.currency = Some(currency.into());
        self
    }

    /// Sets the card brand.
    pub fn card_brand(mut self, brand: &str) -> Self {
        self.0.payment.card_brand = Some(brand.into());
        self
    }

    /// Replaces the whole payment.
    pub fn payment(mut self, payment: Payment) -> Self {
        self.0.payment = payment;
        self
    }

    /// Sets the dispute's network, reason code and stage.
    pub fn dispute(mut self, network: &str, reason_code: &str, stage: &str) -> Self {
        let d = self.0.dispute.get_or_insert_with(Dispute::default);
        d.network = Some(network.into());
        d.reason_code = Some(reason_code.into());
        d.stage = Some(stage.into());
        self
    }

    /// Replaces the whole dispute.
    pub fn dispute_record(mut self, dispute: Dispute) -> Self {
        self.0.dispute = Some(dispute);
        self
    }

    /// Sets the dispute's evidence deadline.
    pub fn evidence_due_at(mut self, ms: i64) -> Self {
        self.0
            .dispute
            .get_or_insert_with(Dispute::default)
            .evidence_due_at = Some(ms);
        self
    }

    /// Adds (or replaces) an SLA metric.
    pub fn sla(mut self, name: &str, due_at: i64, met_at: Option<i64>) -> Self {
        self.0.sla.retain(|m| m.name != name);
        self.0.sla.push(SlaMetric {
            name: name.into(),
            due_at,
            met_at,
        });
        self
    }

    /// Records an escalation to `team`.
    pub fn escalated_to(mut self, team: &str) -> Self {
        self.0.escalated_to.push(team.into());
        self
    }

    /// Sets the customer's locale.
    pub fn locale(mut self, locale: &str) -> Self {
        self.0.locale = Some(locale.into());
        self
    }

    /// Sets when the case was opened; `now` moves along if it was earlier.
    pub fn created_at(mut self, ms: i64) -> Self {
        self.0.created_at = ms;
        self.0.now = self.0.now.max(ms);
        self
    }

    /// Sets the host's current time.
    pub fn now(mut self, ms: i64) -> Self {
        self.0.now = ms;
        self
    }

    /// The snapshot.
    pub fn build(self) -> CaseSnapshot {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_from_json_objects_of_strings() {
        let env = TestEnv::new()
            .with_table_json("t", r#"{"2025-12-25": "Christmas", "_to": "2025-12-31"}"#)
            .unwrap();
        assert_eq!(env.lookup("t", "2025-12-25").as_deref(), Some("Christmas"));
        assert_eq!(env.lookup("t", "2025-12-24"), None);
        assert_eq!(env.lookup("other", "2025-12-25"), None);
    }

    #[test]
    fn malformed_tables_are_refused_with_the_reason() {
        let e = TestEnv::new()
            .with_table_json("t", r#"{"a": 1}"#)
            .unwrap_err();
        assert!(e.to_string().contains("not a string"), "{e}");
        let e = TestEnv::new().with_table_json("t", "[1]").unwrap_err();
        assert!(e.to_string().contains("object"), "{e}");
        assert!(TestEnv::new().load_table("/nonexistent/x.json").is_err());
    }

    #[test]
    fn logs_are_captured() {
        let env = TestEnv::new();
        env.warn("odd");
        env.info("fine");
        assert_eq!(
            env.logs(),
            [
                (Level::Warn, "odd".to_owned()),
                (Level::Info, "fine".to_owned())
            ]
        );
        env.clear_logs();
        assert!(env.logs().is_empty());
    }

    #[test]
    fn snapshot_defaults_and_setters() {
        let case = snapshot("IN-UPI")
            .created_at(at("2025-03-01"))
            .tag("b")
            .tag("a")
            .tag("a")
            .build();
        assert_eq!(case.tags, ["a", "b"]);
        assert_eq!(case.now, at("2025-03-01"));
        assert_eq!(case.status, Status::Open);
    }
}
