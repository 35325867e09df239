//! Cases: customer complaint tickets about payments.
//!
//! A case is one Automerge document. Registers that two sites may set concurrently are resolved
//! at read time by the merge policies of DESIGN §4 — `status` by rank (closed, solved, on_hold,
//! pending, open, new: highest wins), `priority` by maximum — so every replica shows the same case without
//! > anyone writing a resolution. Tags are a map used as an add-wins set; events, escalations and
//! > SOP runs are append-only lists, so concurrent appends are all kept.
//!
//! Status rules: `closed` is terminal, every status change is an event, and while a case is
//! `pending` or `on_hold` its SLA clocks are paused (the paused time is added to each unmet
//! metric when the case resumes).

use crate::plugin::Trigger;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use automerge::{ChangeHash, ObjId, ReadDoc, ScalarValue, Value};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::doc::{DocTx, Reader};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::merge;
use crate::store::{DocKind, Origin, Store, Write};

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

const MAX_SUBJECT: usize = 500;
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

fn check_payment(p: &Payment) -> Result<()> {
    if let Some(a) = p.amount_minor
        && a < 0
    {
        return Err(Error::invalid(
            "payment.amount_minor",
            "must not be negative",
        ));
    }
    if let Some(c) = &p.currency
        && (c.len() != 3 || !c.chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(Error::invalid(
            "payment.currency",
            "use a 3-letter ISO 4217 code, e.g. INR",
        ));
    }
    if let Some(card) = &p.card {
        if let Some(bin) = &card.bin
            && (!(6..=8).contains(&bin.len()) || !bin.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Error::invalid(
                "payment.card.bin",
                "use the first 6 to 8 digits",
            ));
        }
        if let Some(l4) = &card.last4
            && (l4.len() != 4 || !l4.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Error::invalid("payment.card.last4", "use exactly 4 digits"));
        }
    }
    Ok(())
}

fn write_payment(dt: &mut DocTx<'_>, p: &Payment) -> Result<()> {
    check_payment(p)?;
    let root = ObjId::Root;
    let pay = dt.map(&root, "payment")?;
    let rail = p.rail.clone().or_else(|| dt.read().str(&pay, "rail"));
    if let Some(v) = &p.rail {
        check_token("payment.rail", v)?;
        dt.put_str(&pay, "rail", "payment.rail", &v.to_ascii_lowercase())?;
    }
    if let Some(v) = &p.txn_ref {
        dt.put_payment_ref(&pay, "txn_ref", rail.as_deref(), "payment.txn_ref", v)?;
    }
    if let Some(v) = &p.network_ref {
        dt.put_payment_ref(
            &pay,
            "network_ref",
            rail.as_deref(),
            "payment.network_ref",
            v,
        )?;
    }
    if let Some(v) = p.amount_minor {
        dt.put(&pay, "amount_minor", v)?;
    }
    if let Some(v) = &p.currency {
        dt.put_str(&pay, "currency", "payment.currency", v)?;
    }
    if let Some(v) = p.txn_at {
        dt.put(&pay, "txn_at", v)?;
    }
    if let Some(card) = &p.card {
        let c = dt.map(&pay, "card")?;
        if let Some(v) = &card.brand {
            dt.put_str(&c, "brand", "payment.card.brand", v)?;
        }
        if let Some(v) = &card.bin {
            dt.put_str(&c, "bin", "payment.card.bin", v)?;
        }
        if let Some(v) = &card.last4 {
            dt.put_str(&c, "last4", "payment.card.last4", v)?;
        }
    }
    Ok(())
}

fn write_dispute(dt: &mut DocTx<'_>, d: &Dispute) -> Result<()> {
    let m = dt.map(&ObjId::Root, "dispute")?;
    if let Some(v) = &d.network {
        dt.put_str(&m, "network", "dispute.network", v)?;
    }
    if let Some(v) = &d.reason_code {
        dt.put_str(&m, "reason_code", "dispute.reason_code", v)?;
    }
    if let Some(v) = &d.stage {
        dt.put_str(&m, "stage", "dispute.stage", v)?;
    }
    if let Some(v) = d.evidence_due_at {
        dt.put(&m, "evidence_due_at", v)?;
    }
    Ok(())
}

pub(crate) fn set_field(dt: &mut DocTx<'_>, key: &str, value: Option<&str>) -> Result<()> {
    if value.is_some() {
        check_field_name(key)?;
    } else {
        // A field written before names were checked can still be removed.
        check_token("field name", key)?;
    }
    let fields = dt.map(&ObjId::Root, "fields")?;
    let path = format!("fields.{key}");
    let key = dt.key(&path, key);
    match value {
        Some(v) => {
            check_len(&path, v, MAX_TEXT)?;
            dt.put_str(&fields, key.as_str(), &path, v)
        }
        None => dt.delete(&fields, key.as_str()),
    }
}

pub(crate) fn add_tag(dt: &mut DocTx<'_>, tag: &str) -> Result<()> {
    check_token("tag", tag)?;
    let tags = dt.map(&ObjId::Root, "tags")?;
    let tag = dt.key("tags", &tag.to_lowercase());
    // Automerge skips a put of the value already there, and then a concurrent removal would
    // win. Re-adding writes a fresh op so that an add concurrent with a remove wins (add-wins).
    if dt.read().get(&tags, tag.as_str()).is_some() {
        dt.delete(&tags, tag.as_str())?;
    }
    dt.put(&tags, tag.as_str(), true)
}

/// Removes a tag if the case has it.
pub(crate) fn remove_tag(dt: &mut DocTx<'_>, tag: &str) -> Result<()> {
    let tags = dt.map(&ObjId::Root, "tags")?;
    let tag = tag.to_lowercase();
    if dt.read().get(&tags, tag.as_str()).is_some() {
        dt.delete(&tags, tag.as_str())?;
    }
    Ok(())
}

/// Appends an escalation to `to`, by this change's author, now.
pub(crate) fn push_escalation(dt: &mut DocTx<'_>, to: &str, reason: &str) -> Result<()> {
    let list = dt.list(&ObjId::Root, "escalations")?;
    let e = dt.push_map(&list)?;
    let (by, at) = (dt.meta.author.clone(), dt.meta.at);
    dt.put_str(&e, "to", "escalations.to", to)?;
    dt.put_str(&e, "reason", "escalations.reason", reason)?;
    dt.put(&e, "at", at)?;
    dt.put(&e, "by", by.as_str())
}

/// Sets (or moves) the due time of an SLA metric, starting its paused time at zero.
pub(crate) fn put_sla_due(dt: &mut DocTx<'_>, metric: &str, due_at: i64) -> Result<()> {
    let sla = dt.map(&ObjId::Root, "sla")?;
    let m = dt.map(&sla, metric)?;
    dt.put(&m, "due_at", due_at)?;
    if dt.read().i64(&m, "paused_ms").is_none() {
        dt.put(&m, "paused_ms", 0i64)?;
    }
    Ok(())
}

/// Reads a case document (now, or at `heads`) into its merged view.
pub(crate) fn materialize(
    id: DocId,
    doc: &impl ReadDoc,
    heads: Option<&[ChangeHash]>,
) -> Result<Case> {
    let r = Reader::new(doc, heads);
    let root = ObjId::Root;
    let bad = |what: &str| Error::Document {
        id: id.to_string(),
        reason: format!("case has no valid {what}"),
    };
    let status = r
        .all(&root, "status")
        .iter()
        .filter_map(|(v, _)| scalar_str(v).and_then(|s| s.parse::<Status>().ok()))
        .max()
        .ok_or_else(|| bad("status"))?;
    let priority = r
        .all(&root, "priority")
        .iter()
        .filter_map(|(v, _)| scalar_str(v).and_then(|s| s.parse::<Priority>().ok()))
        .max()
        .unwrap_or(Priority::Normal);
    let category = r
        .str(&root, "category")
        .and_then(|s| s.parse().ok())
        .unwrap_or(Category::Other);
    let tags = r
        .map(&root, "tags")
        .map(|t| {
            r.keys(&t)
                .into_iter()
                .filter(|k| r.bool(&t, k.as_str()) == Some(true))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let payment = match r.map(&root, "payment") {
        Some(p) => Payment {
            rail: r.str(&p, "rail"),
            txn_ref: r.str(&p, "txn_ref"),
            network_ref: r.str(&p, "network_ref"),
            amount_minor: r.i64(&p, "amount_minor"),
            currency: r.str(&p, "currency"),
            txn_at: r.i64(&p, "txn_at"),
            card: r.map(&p, "card").map(|c| Card {
                brand: r.str(&c, "brand"),
                bin: r.str(&c, "bin"),
                last4: r.str(&c, "last4"),
            }),
        },
        None => Payment::default(),
    };
    let dispute = r.map(&root, "dispute").map(|d| Dispute {
        network: r.str(&d, "network"),
        reason_code: r.str(&d, "reason_code"),
        stage: r.str(&d, "stage"),
        evidence_due_at: r.i64(&d, "evidence_due_at"),
    });
    let sla = match r.map(&root, "sla") {
        Some(s) => r
            .keys(&s)
            .into_iter()
            .filter_map(|k| {
                let m = r.map(&s, k.as_str())?;
                Some((
                    k,
                    Sla {
                        due_at: r.i64(&m, "due_at")?,
                        paused_ms: merge::max(&r, &m, "paused_ms").unwrap_or(0),
                        met_at: merge::earliest(&r, &m, "met_at"),
                    },
                ))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let events = r
        .list_maps(&root, "events")
        .into_iter()
        .map(|e| Event {
            kind: r.str(&e, "kind").unwrap_or_default(),
            body: r.str(&e, "body").unwrap_or_default(),
            visibility: r.str(&e, "visibility").unwrap_or_else(|| "internal".into()),
            by: r.str(&e, "by").unwrap_or_default(),
            at: r.i64(&e, "at").unwrap_or(0),
        })
        .collect();
    let escalations = r
        .list_maps(&root, "escalations")
        .into_iter()
        .map(|e| Escalation {
            to: r.str(&e, "to").unwrap_or_default(),
            reason: r.str(&e, "reason").unwrap_or_default(),
            at: r.i64(&e, "at").unwrap_or(0),
            by: r.str(&e, "by").unwrap_or_default(),
        })
        .collect();
    let sop_runs = r
        .list_maps(&root, "sop_runs")
        .into_iter()
        .map(|e| SopRun {
            sop: r.str(&e, "sop").unwrap_or_default(),
            version: r.i64(&e, "version").unwrap_or(0),
            path: r.list_strs(&e, "path"),
            exit_node: r.str(&e, "exit_node").unwrap_or_default(),
            outcome: r.str(&e, "outcome").unwrap_or_default(),
            at: r.i64(&e, "at").unwrap_or(0),
            by: r.str(&e, "by").unwrap_or_default(),
        })
        .collect();
    let qa = r.map(&root, "qa").and_then(|q| {
        Some(Qa {
            score: r.i64(&q, "score")?,
            rubric: r.str(&q, "rubric").unwrap_or_default(),
            reviewer: r.str(&q, "reviewer").unwrap_or_default(),
        })
    });
    Ok(Case {
        id,
        number: r.str(&root, "number").ok_or_else(|| bad("number"))?,
        site: r.str(&root, "site").unwrap_or_default(),
        market: r.str(&root, "market").ok_or_else(|| bad("market"))?,
        locale: r.str(&root, "locale"),
        channel: r.str(&root, "channel"),
        assignee: r.str(&root, "assignee"),
        status,
        priority,
        category,
        subcategory: r.str(&root, "subcategory"),
        // An incident solved with its problem inherits the problem's root cause in a register
        // of its own, so a root cause set on the incident (before, after or concurrently) wins.
        root_cause: r
            .str(&root, "root_cause")
            .or_else(|| r.str(&root, "inherited_root_cause")),
        tags,
        subject: r.str(&root, "subject").unwrap_or_default(),
        description: r.str(&root, "description"),
        payment,
        dispute,
        sla,
        paused_since: merge::earliest(&r, &root, "paused_since"),
        escalations,
        problem: r.str(&root, "problem").and_then(|p| p.parse().ok()),
        events,
        sop_runs,
        articles_used: r.list_strs(&root, "articles_used"),
        qa,
        fields: r.str_map(&root, "fields"),
        created_at: r.i64(&root, "created_at").unwrap_or(0),
    })
}

fn scalar_str(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Sets a new status with its event, pausing or resuming SLA clocks.
pub(crate) fn change_status(dt: &mut DocTx<'_>, from: Status, to: Status) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let root = ObjId::Root;
    let now = dt.meta.at;
    dt.put(&root, "status", to.as_str())?;
    dt.event(
        "status_changed",
        &format!("{} -> {}", from.as_str(), to.as_str()),
        "internal",
    )?;
    let paused_since = merge::earliest(&dt.read(), &root, "paused_since");
    match (paused_since, to.pauses_sla()) {
        (None, true) => dt.put(&root, "paused_since", now)?,
        (Some(since), false) => {
            let elapsed = now.saturating_sub(since).max(0);
            if let Some(sla) = dt.read().map(&root, "sla") {
                let metrics = dt.read().keys(&sla);
                for m in metrics {
                    let Some(entry) = dt.read().map(&sla, m.as_str()) else {
                        continue;
                    };
                    if dt.read().i64(&entry, "met_at").is_some() {
                        continue;
                    }
                    let paused = merge::max(&dt.read(), &entry, "paused_ms").unwrap_or(0);
                    dt.put(&entry, "paused_ms", paused.saturating_add(elapsed))?;
                }
            }
            dt.delete(&root, "paused_since")?;
        }
        _ => {}
    }
    match to {
        Status::Solved => dt.put(&root, "solved_at", now)?,
        Status::Closed => dt.put(&root, "closed_at", now)?,
        _ => {}
    }
    Ok(())
}

impl Store {
    /// Finds a case by number (`MX1-42`) or document id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing matches.
    pub fn resolve_case(&self, key: &str) -> Result<DocId> {
        if let Ok(id) = key.parse::<DocId>() {
            return Ok(id);
        }
        let id: Option<String> = self.read(|c| {
            Ok(c.query_row(
                "SELECT id FROM cases WHERE number = ?1",
                [key.trim()],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        id.ok_or_else(|| Error::not_found("case", key))?.parse()
    }

    /// Opens a new case numbered `<SITE>-<seq>`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad market, an empty or oversized subject, a bad payment field.
    pub fn create_case(&self, new: NewCase) -> Result<Case> {
        let id = self.write("case.create", Origin::Local, |w| create_case_in(w, &new))?;
        self.after_change(&id, &[(Trigger::CaseCreated, None)]);
        self.case_by_id(&id)
    }

    /// Opens many cases in one transaction: all of them or none.
    ///
    /// # Errors
    /// The first invalid case's error, with its index in `cases`; nothing is stored then.
    pub fn create_cases(&self, cases: &[NewCase]) -> Result<Vec<DocId>> {
        let ids = self.write("case.create", Origin::Local, |w| {
            cases
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    create_case_in(w, c).map_err(|e| Error::Import {
                        source_name: "cases".into(),
                        location: crate::error::Location::Record { index: i },
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<DocId>>>()
        })?;
        if self.workflow().is_some() {
            for id in &ids {
                self.after_change(id, &[(Trigger::CaseCreated, None)]);
            }
        }
        Ok(ids)
    }

    /// The merged view of a case, by number or id.
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::WrongKind`] if the id is not a case.
    pub fn case(&self, key: &str) -> Result<Case> {
        self.case_by_id(&self.resolve_case(key)?)
    }

    /// The merged view of a case by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] or [`Error::WrongKind`].
    pub fn case_by_id(&self, id: &DocId) -> Result<Case> {
        let doc = self.load_kind(id, DocKind::Case)?;
        materialize(*id, &*doc, None)
    }

    /// The case as it was at `heads` (from [`Store::history`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `heads` are not in the document.
    pub fn case_at(&self, key: &str, heads: &[ChangeHash]) -> Result<Case> {
        let id = self.resolve_case(key)?;
        let doc = self.load_kind(&id, DocKind::Case)?;
        crate::history::check_heads(&doc, heads)?;
        materialize(id, &*doc, Some(heads))
    }

    /// Applies `update` as one change; every status change becomes an event. Solving a problem
    /// case solves its open incidents in the same transaction.
    ///
    /// # Errors
    /// [`Error::CaseClosed`] for a closed case; [`Error::Invalid`] for bad values.
    pub fn update_case(&self, key: &str, update: CaseUpdate) -> Result<Case> {
        let id = self.resolve_case(key)?;
        let problem = match &update.problem {
            Some(p) => Some(self.resolve_case(p)?),
            None => None,
        };
        if problem == Some(id) {
            return Err(Error::invalid(
                "problem",
                "a case cannot be its own problem",
            ));
        }
        let incidents = if update.status == Some(Status::Solved) {
            self.read(|c| {
                let mut stmt = c.prepare(
                    "SELECT id FROM cases WHERE problem = ?1 AND status NOT IN ('solved', 'closed')",
                )?;
                let ids = stmt.query_map([id.to_string()], |r| r.get::<_, String>(0))?;
                let mut out = Vec::new();
                for i in ids {
                    out.push(i?.parse::<DocId>()?);
                }
                Ok(out)
            })?
        } else {
            Vec::new()
        };
        // Plugins see the status before and may refuse a solve; without a plugin host this
        // costs nothing.
        let before = match self.workflow() {
            Some(_) => Some(self.case_by_id(&id)?.status),
            None => None,
        };
        if update.status == Some(Status::Solved)
            && before.is_some_and(|s| s != Status::Solved && s != Status::Closed)
        {
            self.before_solve(&id)?;
        }
        self.write("case.update", Origin::Local, |w| {
            let (number, root_cause) = edit_open_case(w, &id, |dt, case| {
                if let Some(s) = update.status {
                    change_status(dt, case.status, s)?;
                }
                let root = ObjId::Root;
                if let Some(p) = update.priority
                    && p != case.priority
                {
                    dt.put(&root, "priority", p.as_str())?;
                    dt.event(
                        "priority_changed",
                        &format!("{} -> {}", case.priority, p),
                        "internal",
                    )?;
                }
                if let Some(a) = &update.assignee {
                    dt.put_opt_str(&root, "assignee", "assignee", a.as_deref())?;
                    dt.event(
                        "assigned",
                        a.as_deref().unwrap_or("(unassigned)"),
                        "internal",
                    )?;
                }
                if let Some(c) = update.category {
                    dt.put(&root, "category", c.as_str())?;
                }
                if let Some(v) = &update.subcategory {
                    check_token("subcategory", v)?;
                    dt.put_str(&root, "subcategory", "subcategory", v)?;
                }
                if let Some(v) = &update.root_cause {
                    check_token("root_cause", v)?;
                    dt.put_str(&root, "root_cause", "root_cause", v)?;
                }
                for t in &update.add_tags {
                    add_tag(dt, t)?;
                }
                for t in &update.remove_tags {
                    remove_tag(dt, t)?;
                }
                for (k, v) in &update.fields {
                    set_field(dt, k, v.as_deref())?;
                }
                if let Some(p) = &update.payment {
                    write_payment(dt, p)?;
                }
                if let Some(d) = &update.dispute {
                    write_dispute(dt, d)?;
                }
                if let Some(p) = problem {
                    dt.put(&root, "problem", p.to_string().as_str())?;
                }
                let root_cause = update
                    .root_cause
                    .clone()
                    .or_else(|| case.root_cause.clone());
                Ok((case.number.clone(), root_cause))
            })?;
            for incident in &incidents {
                edit_open_case(w, incident, |dt, case| {
                    change_status(dt, case.status, Status::Solved)?;
                    // Solved through the problem, the incident shares its root cause unless it
                    // has its own (see `materialize`).
                    if let Some(rc) = &root_cause
                        && case.root_cause.is_none()
                    {
                        dt.put_str(&ObjId::Root, "inherited_root_cause", "root_cause", rc)?;
                    }
                    dt.event(
                        "problem_solved",
                        &format!("solved with problem {number}"),
                        "internal",
                    )
                })?;
            }
            Ok(())
        })?;
        if let Some(before) = before {
            let mut triggers = Vec::new();
            if update.status.is_some_and(|s| s != before) {
                triggers.push((Trigger::StatusChanged, Some(before)));
            }
            triggers.push((Trigger::CaseUpdated, None));
            self.after_change(&id, &triggers);
        }
        self.case_by_id(&id)
    }

    /// Adds a note to the case timeline.
    ///
    /// # Errors
    /// [`Error::CaseClosed`]; [`Error::Invalid`] for an empty or oversized note.
    pub fn add_note(&self, key: &str, body: &str, public: bool) -> Result<Case> {
        if body.trim().is_empty() {
            return Err(Error::invalid("note", "must not be empty"));
        }
        check_len("note", body, MAX_TEXT)?;
        let id = self.resolve_case(key)?;
        self.write("case.note", Origin::Local, |w| {
            edit_open_case(w, &id, |dt, _| {
                dt.event("note", body, if public { "public" } else { "internal" })
            })
        })?;
        self.after_change(&id, &[(Trigger::CaseUpdated, None)]);
        self.case_by_id(&id)
    }

    /// Escalates the case to another team.
    ///
    /// # Errors
    /// [`Error::CaseClosed`]; [`Error::Invalid`] for a bad team name or empty reason.
    pub fn escalate(&self, key: &str, to: &str, reason: &str) -> Result<Case> {
        check_token("escalation target", to)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid("escalation reason", "must not be empty"));
        }
        check_len("escalation reason", reason, MAX_TEXT)?;
        let id = self.resolve_case(key)?;
        self.write("case.escalate", Origin::Local, |w| {
            edit_open_case(w, &id, |dt, _| {
                push_escalation(dt, to, reason)?;
                dt.event("escalated", &format!("to {to}: {reason}"), "internal")
            })
        })?;
        self.case_by_id(&id)
    }

    /// Sets (or moves) the due time of an SLA metric such as `first_reply` or `resolution`.
    ///
    /// # Errors
    /// [`Error::CaseClosed`]; [`Error::Invalid`] for a bad metric name.
    pub fn set_sla(&self, key: &str, metric: &str, due_at: i64) -> Result<Case> {
        check_token("sla metric", metric)?;
        let id = self.resolve_case(key)?;
        self.write("case.sla", Origin::Local, |w| {
            edit_open_case(w, &id, |dt, _| {
                put_sla_due(dt, metric, due_at)?;
                dt.event(
                    "sla_set",
                    &format!("{metric} due at {}", crate::time::format_rfc3339(due_at)),
                    "internal",
                )
            })
        })?;
        self.case_by_id(&id)
    }

    /// Marks an SLA metric met now.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the metric was never set; [`Error::CaseClosed`].
    pub fn mark_sla_met(&self, key: &str, metric: &str) -> Result<Case> {
        let id = self.resolve_case(key)?;
        self.write("case.sla", Origin::Local, |w| {
            edit_open_case(w, &id, |dt, _| {
                let Some(sla) = dt.read().map(&ObjId::Root, "sla") else {
                    return Err(Error::not_found("sla metric", metric));
                };
                // Metrics are stored under their redacted name (DocTx redacts every key).
                let stored = dt.key("sla", metric);
                let Some(m) = dt.read().map(&sla, stored.as_str()) else {
                    return Err(Error::not_found("sla metric", metric));
                };
                let at = dt.meta.at;
                dt.put(&m, "met_at", at)?;
                dt.event("sla_met", metric, "internal")
            })
        })?;
        self.case_by_id(&id)
    }

    /// Lists cases from the projection, newest first (most overdue first with `breached`).
    ///
    /// # Errors
    /// Storage errors only.
    pub fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        let mut sql = String::from(
            "SELECT id, number, market, site, status, priority, category, subject, assignee, \
             created_at, updated_at, sla_due_at FROM cases c WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(s) = filter.status {
            push(&mut sql, " AND status = ?", s.as_str().to_string().into());
        }
        if let Some(m) = &filter.market {
            push(&mut sql, " AND market = ?", m.clone().into());
        }
        if let Some(s) = &filter.site {
            push(&mut sql, " AND site = ?", s.clone().into());
        }
        if let Some(c) = filter.category {
            push(&mut sql, " AND category = ?", c.as_str().to_string().into());
        }
        if let Some(a) = &filter.assignee {
            push(&mut sql, " AND assignee = ?", a.clone().into());
        }
        if let Some(t) = &filter.tag {
            push(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM case_tags t WHERE t.case_id = c.id AND t.tag = ?)",
                t.to_lowercase().into(),
            );
        }
        if filter.breached {
            push(&mut sql, " AND sla_due_at < ?", now.into());
            sql.push_str(" ORDER BY sla_due_at, id");
        } else {
            sql.push_str(" ORDER BY created_at DESC, id DESC");
        }
        push(
            &mut sql,
            " LIMIT ?",
            (filter.limit.unwrap_or(100).min(1_000_000) as i64).into(),
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, Option<i64>>(11)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (
                    id,
                    number,
                    market,
                    site,
                    status,
                    priority,
                    category,
                    subject,
                    assignee,
                    created_at,
                    updated_at,
                    due,
                ) = row?;
                out.push(CaseSummary {
                    id: id.parse()?,
                    number,
                    market,
                    site,
                    status: status.parse()?,
                    priority: priority.parse()?,
                    category: category.parse()?,
                    subject,
                    assignee,
                    created_at,
                    updated_at,
                    sla_due_at: due,
                    breached: due.is_some_and(|d| d < now),
                });
            }
            Ok(out)
        })
    }
}

fn create_case_in(w: &mut Write<'_>, new: &NewCase) -> Result<DocId> {
    check_market(&new.market)?;
    let category = new
        .category
        .ok_or_else(|| Error::invalid("category", "is required"))?;
    if new.subject.trim().is_empty() {
        return Err(Error::invalid("subject", "must not be empty"));
    }
    check_len("subject", &new.subject, MAX_SUBJECT)?;
    if let Some(d) = &new.description {
        check_len("description", d, MAX_TEXT)?;
    }
    for (field, v) in [
        ("locale", &new.locale),
        ("channel", &new.channel),
        ("subcategory", &new.subcategory),
    ] {
        if let Some(v) = v {
            check_token(field, v)?;
        }
    }
    let problem = match &new.problem {
        Some(p) => Some(w.store().resolve_case(p)?),
        None => None,
    };
    let site = w.store().site().to_string();
    let seq = w.next_seq("case")?;
    let number = format!("{site}-{seq}");
    let (id, ()) = w.create(DocKind::Case, CASE_SCHEMA, |dt, _| {
        let root = ObjId::Root;
        dt.put(&root, "number", number.as_str())?;
        dt.put(&root, "site", site.as_str())?;
        dt.put_str(&root, "market", "market", &new.market)?;
        dt.put(&root, "status", Status::New.as_str())?;
        dt.put(
            &root,
            "priority",
            new.priority.unwrap_or(Priority::Normal).as_str(),
        )?;
        dt.put(&root, "category", category.as_str())?;
        dt.put_str(&root, "subject", "subject", new.subject.trim())?;
        if let Some(d) = &new.description {
            dt.put_str(&root, "description", "description", d)?;
        }
        for (prop, v) in [
            ("locale", &new.locale),
            ("channel", &new.channel),
            ("assignee", &new.assignee),
            ("subcategory", &new.subcategory),
        ] {
            if let Some(v) = v {
                dt.put_str(&root, prop, prop, v)?;
            }
        }
        dt.map(&root, "tags")?;
        for t in &new.tags {
            add_tag(dt, t)?;
        }
        dt.map(&root, "fields")?;
        for (k, v) in &new.fields {
            set_field(dt, k, Some(v))?;
        }
        if let Some(p) = &new.payment {
            write_payment(dt, p)?;
        }
        if let Some(d) = &new.dispute {
            write_dispute(dt, d)?;
        }
        if let Some(p) = problem {
            dt.put(&root, "problem", p.to_string().as_str())?;
        }
        dt.list(&root, "escalations")?;
        dt.list(&root, "sop_runs")?;
        dt.map(&root, "sla")?;
        dt.event("created", &format!("opened at site {site}"), "internal")
    })?;
    Ok(id)
}

/// Edits a case that must not be closed, giving `f` its current view.
pub(crate) fn edit_open_case<T>(
    w: &mut Write<'_>,
    id: &DocId,
    f: impl FnOnce(&mut DocTx<'_>, &Case) -> Result<T>,
) -> Result<T> {
    let case = materialize(*id, w.get(id, DocKind::Case)?, None)?;
    if case.status == Status::Closed {
        return Err(Error::CaseClosed {
            number: case.number,
        });
    }
    w.edit(id, DocKind::Case, |dt| {
        let out = f(dt, &case)?;
        crate::plugin::actions::clear_satisfied_requirements(dt, *id)?;
        Ok(out)
    })
}

/// Rewrites a case's projection rows.
pub(crate) fn project(
    tx: &rusqlite::Transaction<'_>,
    id: &DocId,
    doc: &automerge::Automerge,
    updated_at: i64,
) -> Result<()> {
    let c = materialize(*id, doc, None)?;
    let key = id.to_string();
    let r = Reader::new(doc, None);
    tx.execute(
        "INSERT OR REPLACE INTO cases(id, number, site, market, locale, channel, assignee, status, \
         priority, priority_rank, category, subcategory, root_cause, subject, problem, created_at, \
         updated_at, solved_at, closed_at, sla_due_at, sla_paused, event_count, sla_paused_since) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19, ?20, ?21, ?22, ?23)",
        params![
            key,
            c.number,
            c.site,
            c.market,
            c.locale,
            c.channel,
            c.assignee,
            c.status.as_str(),
            c.priority.as_str(),
            c.priority as i64,
            c.category.as_str(),
            c.subcategory,
            c.root_cause,
            c.subject,
            c.problem.map(|p| p.to_string()),
            c.created_at,
            updated_at,
            merge::earliest(&r, &ObjId::Root, "solved_at"),
            merge::earliest(&r, &ObjId::Root, "closed_at"),
            c.sla_due_at(),
            c.paused_since.is_some(),
            c.events.len() as i64,
            c.paused_since,
        ],
    )?;
    tx.execute("DELETE FROM case_tags WHERE case_id = ?1", [&key])?;
    for t in &c.tags {
        tx.execute(
            "INSERT INTO case_tags(case_id, tag) VALUES (?1, ?2)",
            params![key, t],
        )?;
    }
    tx.execute("DELETE FROM case_escalations WHERE case_id = ?1", [&key])?;
    for (i, e) in c.escalations.iter().enumerate() {
        tx.execute(
            "INSERT INTO case_escalations(case_id, idx, target, reason, at, by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key, i as i64, e.to, e.reason, e.at, e.by],
        )?;
    }
    tx.execute("DELETE FROM case_sla WHERE case_id = ?1", [&key])?;
    for (m, s) in &c.sla {
        tx.execute(
            "INSERT INTO case_sla(case_id, metric, due_at, paused_ms, met_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key, m, s.due_at, s.paused_ms, s.met_at],
        )?;
    }
    tx.execute("DELETE FROM sop_runs WHERE case_id = ?1", [&key])?;
    for (i, run) in c.sop_runs.iter().enumerate() {
        let path = serde_json::to_string(&run.path).unwrap_or_default();
        tx.execute(
            "INSERT INTO sop_runs(case_id, idx, sop_id, version, path, exit_node, outcome, at, by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                key,
                i as i64,
                run.sop,
                run.version,
                path,
                run.exit_node,
                run.outcome,
                run.at,
                run.by
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_the_wit_contract_and_nothing_else() {
        for ok in [
            "upi_vpa",
            "txn-type",
            "br.pix.key",
            "a",
            "x9",
            &"a".repeat(MAX_FIELD_NAME),
        ] {
            assert!(check_field_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Status",
            "não-ascii",
            "a/b:c",
            "../../etc/passwd",
            "with space",
            "tab\t",
            "ÿ",
            &"a".repeat(MAX_FIELD_NAME + 1),
        ] {
            let e = check_field_name(bad).unwrap_err();
            assert!(
                e.to_string().contains("lowercase ASCII letters"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn the_case_own_properties_are_reserved_as_field_names() {
        for reserved in [
            "status",
            "market",
            "priority",
            "payment.txn_ref",
            "tags.x",
            "required",
        ] {
            let e = check_field_name(reserved).unwrap_err();
            assert!(
                e.to_string().contains("is a property of the case itself"),
                "{reserved}: {e}"
            );
        }
        // A reserved word inside a name is fine; only the name or its first segment is taken.
        for ok in ["status_code", "bank.status", "marketplace"] {
            assert!(check_field_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn creating_or_updating_a_case_checks_field_names_and_writes_nothing_when_bad() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(
            dir.path().join("MX1.db"),
            crate::StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let mut new = NewCase::new("IN-UPI", Category::FailedPayment, "Debited");
        new.fields.insert("Status".into(), "closed".into());
        assert!(matches!(store.create_case(new), Err(Error::Invalid { .. })));
        let mut new = NewCase::new("IN-UPI", Category::FailedPayment, "Debited");
        new.fields.insert("status".into(), "closed".into());
        assert!(store.create_case(new).is_err());
        assert!(store.case("MX1-1").is_err(), "a refused case was written");

        let case = store
            .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
            .unwrap();
        let update = CaseUpdate {
            fields: BTreeMap::from([("priority".to_string(), Some("urgent".to_string()))]),
            ..Default::default()
        };
        assert!(store.update_case(&case.number, update).is_err());
        assert_eq!(store.case(&case.number).unwrap().fields, BTreeMap::new());
    }
}
