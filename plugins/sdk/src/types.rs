//! Plain Rust mirrors of the types in `dossier:workflow@0.1.0` (`plugins/wit/v0.1.0`).
//!
//! Plugin code works with these rather than the generated bindings so that the same code
//! compiles natively (tests, the host's benchmark) and to wasm, and so that fields are a
//! sorted map and actions are ordinary enum variants. The wasm glue in `guest.rs` converts
//! between the two in one place; a change to the WIT is a new version of this module.

use std::collections::BTreeMap;
use std::fmt;

/// Why the host is calling the plugin (WIT `trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A case was just opened.
    CaseCreated,
    /// A case changed (fields, tags, notes, payment details, ...).
    CaseUpdated,
    /// A case's status changed; [`CaseSnapshot::previous_status`] holds the old one.
    StatusChanged,
    /// Someone is about to solve the case; [`Action::RefuseSolve`] or a missing
    /// [`Action::RequireField`] stops the solve.
    BeforeSolve,
    /// A periodic check of SLA clocks.
    SlaCheck,
}

/// A case's status (WIT `status`). `Closed` is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Just created.
    New,
    /// Being worked.
    Open,
    /// Waiting on the customer; SLA clocks pause.
    Pending,
    /// Waiting on a third party; SLA clocks pause.
    OnHold,
    /// Resolved.
    Solved,
    /// Terminal.
    Closed,
}

/// How urgent a case is (WIT `priority`), ordered from `Low` to `Urgent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Low.
    Low,
    /// Normal.
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

/// One SLA metric of the case (WIT `sla-metric`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaMetric {
    /// Metric name, e.g. `first-reply`, `resolution`, `reversal`.
    pub name: String,
    /// Effective due time in Unix epoch milliseconds (pauses already added).
    pub due_at: i64,
    /// When it was met, if it was.
    pub met_at: Option<i64>,
}

/// The payment a case is about (WIT `payment`). Card numbers never reach a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payment {
    /// Rail: `upi`, `pix`, `card`, `sepa`, ...
    pub rail: Option<String>,
    /// The rail's own reference: UPI RRN, Pix EndToEndId, ...
    pub txn_ref: Option<String>,
    /// A network reference such as an ARN.
    pub network_ref: Option<String>,
    /// Amount in minor units (paise, centavos, cents).
    pub amount_minor: Option<i64>,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
    /// When the transaction happened, epoch milliseconds.
    pub txn_at: Option<i64>,
    /// Card brand, for card payments.
    pub card_brand: Option<String>,
}

/// A card dispute's state (WIT `dispute`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dispute {
    /// `visa`, `mastercard`, ...
    pub network: Option<String>,
    /// Network reason code, e.g. `10.4`, `4837`.
    pub reason_code: Option<String>,
    /// Stage, e.g. `first_chargeback`, `pre_arbitration`.
    pub stage: Option<String>,
    /// Evidence deadline, epoch milliseconds.
    pub evidence_due_at: Option<i64>,
}

/// What a plugin sees of a case (WIT `case-snapshot`): the merged view, after redaction.
///
/// Reading helpers ([`CaseSnapshot::field`], [`CaseSnapshot::has_tag`], ...) are in the
/// `case` module of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSnapshot {
    /// Document id.
    pub id: String,
    /// Case number, e.g. `BLR2-17`.
    pub number: String,
    /// Market, e.g. `IN-UPI`.
    pub market: String,
    /// Status now.
    pub status: Status,
    /// The status before this change (set for [`Trigger::StatusChanged`]).
    pub previous_status: Option<Status>,
    /// Priority.
    pub priority: Priority,
    /// Category: `refund`, `withdrawal`, `failed_payment`, `payment_method_binding`,
    /// `chargeback_dispute`, `fraud`, `account`, `other`.
    pub category: String,
    /// Subcategory, if set.
    pub subcategory: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Market-specific fields by name.
    pub fields: BTreeMap<String, String>,
    /// The payment.
    pub payment: Payment,
    /// The dispute, for chargebacks.
    pub dispute: Option<Dispute>,
    /// SLA metrics.
    pub sla: Vec<SlaMetric>,
    /// Teams the case was escalated to, oldest first.
    pub escalated_to: Vec<String>,
    /// Customer locale, e.g. `pt-BR`.
    pub locale: Option<String>,
    /// When the case was opened, epoch milliseconds.
    pub created_at: i64,
    /// The host's current time, epoch milliseconds. Plugins have no clock of their own.
    pub now: i64,
}

/// Something the plugin asks the host to do to the case (WIT `action`).
///
/// Constructors such as [`Action::note`] and the de-duplicating [`crate::Plan`] are the usual
/// way to make these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set a market-specific field.
    SetField {
        /// Field name.
        name: String,
        /// Its value.
        value: String,
    },
    /// Add a tag.
    AddTag(String),
    /// Remove a tag.
    RemoveTag(String),
    /// Set the priority (concurrent priorities merge to the maximum).
    SetPriority(Priority),
    /// Move the case to a status; the host refuses a transition out of `closed`.
    SetStatus(Status),
    /// Hand the case to another team.
    Escalate {
        /// Target team, e.g. `risk`, `psp_bank`, `ombudsman`.
        to: String,
        /// Why.
        reason: String,
    },
    /// Set (or move) the due time of an SLA metric.
    SetSlaDeadline {
        /// Metric name.
        metric: String,
        /// Due time, epoch milliseconds.
        due_at: i64,
    },
    /// Say the case needs a field (a key of [`CaseSnapshot::fields`] or `payment.txn-ref`).
    RequireField {
        /// Field name.
        name: String,
        /// Why it is needed, shown to the agent.
        reason: String,
    },
    /// Add a note to the case timeline.
    AddNote {
        /// The text (the host redacts card numbers before storing it).
        body: String,
        /// Whether the customer may see it.
        public: bool,
    },
    /// Send the case to a queue (recorded as the `queue` field).
    Route(String),
    /// Only for [`Trigger::BeforeSolve`]: refuse the solve with this reason.
    RefuseSolve(String),
}

/// What a plugin says about itself (WIT `step-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInfo {
    /// Plugin name: lowercase ASCII letters, digits and `-`.
    pub name: String,
    /// Its version, `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// Markets it is meant for, e.g. `IN-UPI`; the host runs it only for these.
    pub markets: Vec<String>,
    /// Triggers it wants; the host calls it for no others.
    pub triggers: Vec<Trigger>,
    /// One line for people.
    pub description: String,
}

impl StepInfo {
    /// A step description; `version` is usually `env!("CARGO_PKG_VERSION")`.
    ///
    /// # Example
    /// ```
    /// use dossier_plugin_sdk::{StepInfo, Trigger};
    /// let info = StepInfo::new("my-step", "0.1.0", "What it does.")
    ///     .markets(["IN-UPI"])
    ///     .triggers([Trigger::CaseCreated]);
    /// assert_eq!(info.markets, ["IN-UPI"]);
    /// ```
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            markets: Vec::new(),
            triggers: Vec::new(),
            description: description.into(),
        }
    }

    /// Sets the markets the plugin is meant for.
    pub fn markets<'a>(mut self, markets: impl IntoIterator<Item = &'a str>) -> Self {
        self.markets = markets.into_iter().map(String::from).collect();
        self
    }

    /// Sets the triggers the plugin wants.
    pub fn triggers(mut self, triggers: impl IntoIterator<Item = Trigger>) -> Self {
        self.triggers = triggers.into_iter().collect();
        self
    }
}

/// Why a plugin could not evaluate a case (WIT `step-error`).
///
/// Returning one leaves the case unchanged: the host records the failure as an event and
/// applies none of the plugin's actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// A short machine-readable code, e.g. `bad-field`.
    pub code: String,
    /// A message for people.
    pub message: String,
}

impl StepError {
    /// A step error with a machine-readable `code` and a message for people.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for StepError {}

/// Host log levels (WIT `host.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Detail.
    Debug,
    /// Normal.
    Info,
    /// Something odd.
    Warn,
}
