//! The case model: its types, their names and the validation of values a person types.

use super::*;

/// Version of the case document layout.
pub const CASE_SCHEMA: i64 = 1;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in rank order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in documents and shown to people.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                match norm.as_str() {
                    $($s => Ok($name::$variant),)+
                    _ => Err(Error::invalid(
                        $field,
                        format!("unknown value (expected one of: {})",
                            [$($s),+].join(", ")),
                    )),
                }
            }
        }
    };
}

string_enum!(
    /// Where a case is in its life. Variants are in merge-rank order.
    Status, "status" {
        /// Just created, nobody has looked at it.
        New = "new",
        /// Being worked.
        Open = "open",
        /// Waiting on the customer (SLA clocks paused).
        Pending = "pending",
        /// Waiting on a third party (SLA clocks paused).
        OnHold = "on_hold",
        /// Resolved; the customer may still reply.
        Solved = "solved",
        /// Terminal.
        Closed = "closed",
    }
);

impl Status {
    /// Whether SLA clocks stop in this status.
    pub fn pauses_sla(&self) -> bool {
        matches!(self, Status::Pending | Status::OnHold)
    }
}

string_enum!(
    /// How urgent a case is. Concurrent values merge to the maximum.
    Priority, "priority" {
        /// Low.
        Low = "low",
        /// Normal (the default).
        Normal = "normal",
        /// High.
        High = "high",
        /// Urgent.
        Urgent = "urgent",
    }
);

string_enum!(
    /// What the customer's complaint is about.
    Category, "category" {
        /// A refund that did not arrive.
        Refund = "refund",
        /// A withdrawal that is late or failed.
        Withdrawal = "withdrawal",
        /// A payment that failed, often debited but not credited.
        FailedPayment = "failed_payment",
        /// Linking a card or account failed.
        PaymentMethodBinding = "payment_method_binding",
        /// A card chargeback or dispute.
        ChargebackDispute = "chargeback_dispute",
        /// Fraud or a scam.
        Fraud = "fraud",
        /// Account access or settings.
        Account = "account",
        /// Anything else.
        Other = "other",
    }
);

/// The card involved, as far as PCI DSS lets us keep it: brand, BIN and last four.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Brand, e.g. `visa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// First 6 (or 8) digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    /// Last 4 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
}

/// The payment a case is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// Payment rail: `upi`, `pix`, `card`, `sepa`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rail: Option<String>,
    /// The rail's own reference (UPI RRN, Pix EndToEndId, ...), kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_ref: Option<String>,
    /// A network reference (ARN, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_ref: Option<String>,
    /// Amount in minor units (paise, centavos, cents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    /// ISO 4217 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// When the transaction happened (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_at: Option<i64>,
    /// The card, for card payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
}

impl Payment {
    fn is_empty(&self) -> bool {
        *self == Payment::default()
    }
}

/// A card dispute's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispute {
    /// `visa`, `mastercard`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// e.g. `10.4`, `4837`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// e.g. `first_chargeback`, `pre_arbitration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Evidence deadline (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_due_at: Option<i64>,
}

/// One SLA metric of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sla {
    /// When it is due, before pauses (ms).
    pub due_at: i64,
    /// Time spent paused so far (ms); the effective due time is `due_at + paused_ms`.
    pub paused_ms: i64,
    /// When it was met.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_at: Option<i64>,
}

/// An entry in a case's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `created`, `note`, `status_changed`, `redaction`, ...
    pub kind: String,
    /// Human-readable text.
    pub body: String,
    /// `internal` or `public`.
    pub visibility: String,
    /// Author.
    pub by: String,
    /// When (ms).
    pub at: i64,
}

/// A hand-off to another team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// Target team: `product`, `engineering`, `risk`, `psp_bank`, ...
    pub to: String,
    /// Why.
    pub reason: String,
    /// When (ms).
    pub at: i64,
    /// Who escalated.
    pub by: String,
}

/// A walk of an SOP recorded on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SopRun {
    /// The SOP.
    pub sop: String,
    /// The published version walked.
    pub version: i64,
    /// Node ids visited, in order.
    pub path: Vec<String>,
    /// Where the walk stopped.
    pub exit_node: String,
    /// `success`, `failure`, `unknown`, or `incomplete` when the agent left before an end node.
    pub outcome: String,
    /// When (ms).
    pub at: i64,
    /// Who ran it.
    pub by: String,
}

/// Quality review of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qa {
    /// Score 0–100.
    pub score: i64,
    /// Rubric name.
    pub rubric: String,
    /// Reviewer.
    pub reviewer: String,
}

/// A case as every replica sees it after the merge policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// Document id.
    pub id: DocId,
    /// Human case number `<SITE>-<seq>`.
    pub number: String,
    /// The site that opened it.
    pub site: String,
    /// Market, e.g. `IN-UPI`.
    pub market: String,
    /// Customer locale.
    pub locale: Option<String>,
    /// Contact channel.
    pub channel: Option<String>,
    /// Agent working it.
    pub assignee: Option<String>,
    /// Status after the rank policy.
    pub status: Status,
    /// Priority after the maximum policy.
    pub priority: Priority,
    /// Category.
    pub category: Category,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Root cause, once known.
    pub root_cause: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Subject (redacted).
    pub subject: String,
    /// Description (redacted).
    pub description: Option<String>,
    /// The payment.
    #[serde(skip_serializing_if = "Payment::is_empty")]
    pub payment: Payment,
    /// The dispute, for chargebacks.
    pub dispute: Option<Dispute>,
    /// SLA metrics by name.
    pub sla: BTreeMap<String, Sla>,
    /// Since when SLA clocks are paused, if they are.
    pub paused_since: Option<i64>,
    /// Escalations, append-only.
    pub escalations: Vec<Escalation>,
    /// The parent problem case, for incidents.
    pub problem: Option<DocId>,
    /// Timeline, append-only.
    pub events: Vec<Event>,
    /// SOP runs, append-only.
    pub sop_runs: Vec<SopRun>,
    /// Articles used to answer.
    pub articles_used: Vec<String>,
    /// QA review.
    pub qa: Option<Qa>,
    /// Market-specific fields.
    pub fields: BTreeMap<String, String>,
    /// Creation time (ms).
    pub created_at: i64,
}

impl Case {
    /// The earliest effective due time among unmet SLA metrics, unless clocks are paused.
    pub fn sla_due_at(&self) -> Option<i64> {
        if self.paused_since.is_some() || matches!(self.status, Status::Solved | Status::Closed) {
            return None;
        }
        self.sla
            .values()
            .filter(|s| s.met_at.is_none())
            .map(|s| s.due_at.saturating_add(s.paused_ms))
            .min()
    }

    /// Whether an unmet SLA metric is past due at `now`.
    pub fn is_breached(&self, now: i64) -> bool {
        self.sla_due_at().is_some_and(|due| due < now)
    }
}

/// What is needed to open a case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// Market, e.g. `IN-UPI`.
    pub market: String,
    /// Category.
    pub category: Option<Category>,
    /// Subject line.
    pub subject: String,
    /// Longer description.
    #[serde(default)]
    pub description: Option<String>,
    /// Priority (default normal).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Customer locale.
    #[serde(default)]
    pub locale: Option<String>,
    /// Contact channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Subcategory.
    #[serde(default)]
    pub subcategory: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Market-specific fields.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The payment.
    #[serde(default)]
    pub payment: Option<Payment>,
    /// Dispute details.
    #[serde(default)]
    pub dispute: Option<Dispute>,
    /// Parent problem case (id or number).
    #[serde(default)]
    pub problem: Option<String>,
}

impl NewCase {
    /// A case with the three required fields; set the others directly.
    pub fn new(market: &str, category: Category, subject: &str) -> Self {
        NewCase {
            market: market.into(),
            category: Some(category),
            subject: subject.into(),
            ..Default::default()
        }
    }
}

/// A change to a case; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct CaseUpdate {
    /// New status.
    pub status: Option<Status>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New assignee (`Some(None)` unassigns).
    pub assignee: Option<Option<String>>,
    /// New category.
    pub category: Option<Category>,
    /// New subcategory.
    pub subcategory: Option<String>,
    /// New root cause.
    pub root_cause: Option<String>,
    /// Tags to add.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// Fields to set (`None` removes).
    pub fields: BTreeMap<String, Option<String>>,
    /// Payment details to merge in (set fields only).
    pub payment: Option<Payment>,
    /// Dispute details to merge in (set fields only).
    pub dispute: Option<Dispute>,
    /// Parent problem (id or number).
    pub problem: Option<String>,
    /// A note added to the timeline.
    pub note: Option<String>,
    /// Whether [`CaseUpdate::note`] is visible to the customer (`public`) or internal.
    pub public_note: bool,
    /// An escalation to another team.
    pub escalate: Option<EscalateTo>,
    /// SLA metrics to set (or move) the due time of, such as `first_reply` or `resolution`.
    pub sla_due: BTreeMap<String, i64>,
    /// SLA metrics met now.
    pub sla_met: Vec<String>,
}

/// An escalation asked for in a [`CaseUpdate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalateTo {
    /// The team escalated to (a token such as `psp_bank`).
    pub to: String,
    /// Why.
    pub reason: String,
}

impl CaseUpdate {
    /// Checks every value that does not need the case, so that a bad update is refused before
    /// anything is read or written.
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(v) = &self.subcategory {
            check_token("subcategory", v)?;
        }
        if let Some(v) = &self.root_cause {
            check_token("root_cause", v)?;
        }
        if let Some(body) = &self.note {
            if body.trim().is_empty() {
                return Err(Error::invalid("note", "must not be empty"));
            }
            check_len("note", body, MAX_TEXT)?;
        }
        if let Some(e) = &self.escalate {
            check_token("escalation target", &e.to)?;
            if e.reason.trim().is_empty() {
                return Err(Error::invalid("escalation reason", "must not be empty"));
            }
            check_len("escalation reason", &e.reason, MAX_TEXT)?;
        }
        for metric in self.sla_due.keys().chain(&self.sla_met) {
            check_token("sla metric", metric)?;
        }
        Ok(())
    }
}

/// A row of a case list, read from the projection without loading documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    /// Document id.
    pub id: DocId,
    /// Case number.
    pub number: String,
    /// Market.
    pub market: String,
    /// Site.
    pub site: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Category.
    pub category: Category,
    /// Subject.
    pub subject: String,
    /// Assignee.
    pub assignee: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// Earliest effective SLA due time.
    pub sla_due_at: Option<i64>,
    /// Whether an SLA is past due now.
    pub breached: bool,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this market.
    pub market: Option<String>,
    /// Only this site.
    pub site: Option<String>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only this assignee.
    pub assignee: Option<String>,
    /// Only cases with an SLA past due now.
    pub breached: bool,
    /// Only cases with this tag.
    pub tag: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
}

pub(crate) const MAX_SUBJECT: usize = 500;
pub(crate) const MAX_TEXT: usize = 20_000;

pub(crate) fn check_len(field: &str, v: &str, max: usize) -> Result<()> {
    if v.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    Ok(())
}

pub(crate) fn check_token(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "use 1-64 letters, digits, '_', '-', '.', ':' or '/' (no spaces)",
        ))
    }
}

/// Longest market-specific field name, in bytes. Leaves room for the `missing-` prefix of the
/// tag a plugin's `require-field` derives from a name, within the 64 bytes of a tag.
pub const MAX_FIELD_NAME: usize = 56;

/// Names a case keeps outside `fields`: its own properties (and the `id` every record has).
/// A market-specific field may not take one of them, nor start with one and a `.`
/// (`payment.txn_ref` is the payment's, not a field), so a field never reads as a case property.
pub const RESERVED_FIELD_NAMES: &[&str] = &[
    "id",
    "number",
    "site",
    "market",
    "locale",
    "channel",
    "assignee",
    "status",
    "priority",
    "category",
    "subcategory",
    "root_cause",
    "tags",
    "subject",
    "description",
    "payment",
    "dispute",
    "sla",
    "paused_since",
    "escalations",
    "problem",
    "events",
    "sop_runs",
    "articles_used",
    "qa",
    "fields",
    "required",
    "created_at",
    "solved_at",
    "closed_at",
];

/// Checks the name of a market-specific field, for every way a field is written — a case's
/// creation or update (and so the CLI's `--field` and imports) and every plugin action that
/// names a field: the WIT's contract (`record field`), 1 to [`MAX_FIELD_NAME`] lowercase ASCII
/// letters, digits, `_`, `-` and `.`, and none of the [`RESERVED_FIELD_NAMES`].
///
/// # Errors
/// [`Error::Invalid`] (field `field name`) saying which rule the name breaks; the name itself
/// is not repeated, since it may be anything.
pub fn check_field_name(name: &str) -> Result<()> {
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > MAX_FIELD_NAME || !name.chars().all(allowed) {
        return Err(Error::invalid(
            "field name",
            format!(
                "use 1-{MAX_FIELD_NAME} lowercase ASCII letters, digits, '_', '-' and '.', \
                 e.g. upi_vpa"
            ),
        ));
    }
    let head = name.split('.').next().unwrap_or(name);
    if RESERVED_FIELD_NAMES.contains(&head) {
        return Err(Error::invalid(
            "field name",
            format!("'{head}' is a property of the case itself, not a market-specific field"),
        ));
    }
    Ok(())
}

pub(crate) fn check_market(m: &str) -> Result<()> {
    let ok = (2..=16).contains(&m.len())
        && m.starts_with(|c: char| c.is_ascii_uppercase())
        && m.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        // Markets name scopes, plugin triggers and report rows: one that carries a card
        // number would be masked in the case but not where it is matched.
        && !crate::redact::contains_sensitive(m);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "market",
            "use uppercase letters, digits and '-', e.g. IN-UPI, BR-PIX, ES, EU",
        ))
    }
}
