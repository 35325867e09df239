//! The values that cross the boundary: enums, records and the document id.
//!
//! Where a `dossier` type already fits uniffi's type system (plain fields, `Vec`, `Option`), it
//! is exported as it is with `#[uniffi::remote]`, so there is nothing to keep in step. Where it
//! does not — `BTreeMap` (uniffi has only `HashMap`), tuples, `usize`, `Option<Option<_>>`, an
//! opaque `ChangeHash` — a record of the same name mirrors it here with a `From` conversion and
//! nothing else: every value is computed by `dossier`, the conversions only re-shape it. The
//! mirrored input records also derive `serde::Deserialize`, because the C ABI takes the same
//! records as JSON.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use dossier::case::CaseSummary;
pub use dossier::sop::validate::ViolationKind;
pub use dossier::sop::{NodeKind, Outcome, OutcomeResult, Violation};
pub use dossier::sync::Side;
pub use dossier::{Action, PluginInfo, Trigger};
pub use dossier::{
    ArticleField, ArticleStatus, Card, Category, Conflict, Dispute, DocId, DocKind, Durability,
    Escalation, Event, Origin, Payment, Priority, PublishedVersion, Qa, SearchHit, Sla, SopRun,
    SopStatus, SopSummary, Status, Verification, Visibility,
};

use crate::error::DossierError;

// A document id is a base58check string on the other side, the form people see and paste.
uniffi::custom_type!(DocId, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |s| s.parse::<DocId>().map_err(|e| DossierError::from(e).into()),
});

// ---- enums (exported as they are) ----

/// Where a case is in its life; concurrent values merge to the highest.
#[uniffi::remote(Enum)]
pub enum Status {
    /// Just created.
    New,
    /// Being worked.
    Open,
    /// Waiting on the customer (SLA paused).
    Pending,
    /// Waiting on a third party (SLA paused).
    OnHold,
    /// Resolved.
    Solved,
    /// Terminal.
    Closed,
}

/// How urgent a case is; concurrent values merge to the maximum.
#[uniffi::remote(Enum)]
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

/// What a complaint is about.
#[uniffi::remote(Enum)]
pub enum Category {
    /// A refund that did not arrive.
    Refund,
    /// A withdrawal that is late or failed.
    Withdrawal,
    /// A payment that failed (often debited, not credited).
    FailedPayment,
    /// Linking a card or account failed.
    PaymentMethodBinding,
    /// A card chargeback or dispute.
    ChargebackDispute,
    /// Fraud or a scam.
    Fraud,
    /// Account access or settings.
    Account,
    /// Anything else.
    Other,
}

/// Change-control state of an SOP draft.
#[uniffi::remote(Enum)]
pub enum SopStatus {
    /// Being edited.
    Draft,
    /// Waiting for an approver.
    InReview,
    /// The draft is the latest published version.
    Published,
    /// No longer used.
    Retired,
}

/// Where an article is in its life.
#[uniffi::remote(Enum)]
pub enum ArticleStatus {
    /// Being written.
    Draft,
    /// Waiting for review.
    Review,
    /// Live.
    Published,
    /// Known to be out of date.
    Outdated,
    /// Withdrawn.
    Retired,
}

/// Which text of an article a splice edits.
#[uniffi::remote(Enum)]
pub enum ArticleField {
    /// The title in one locale.
    Title,
    /// The body in one locale.
    Body,
}

/// Who may see an article.
#[uniffi::remote(Enum)]
pub enum Visibility {
    /// Support staff only.
    Internal,
    /// Agents.
    Agent,
    /// Customers too.
    Public,
}

/// The kind of a document.
#[uniffi::remote(Enum)]
pub enum DocKind {
    /// A case.
    Case,
    /// An SOP.
    Sop,
    /// A knowledge article.
    Article,
    /// A workflow plugin package.
    Plugin,
}

/// Where a committed change came from.
#[uniffi::remote(Enum)]
pub enum Origin {
    /// A write through this store.
    Local,
    /// Changes received from another replica (a change pack, a bundle file or a hub sync).
    Remote,
}

/// How durable a commit is.
#[uniffi::remote(Enum)]
pub enum Durability {
    /// Survives a process crash; the last commits may be lost on power loss.
    Normal,
    /// Survives power loss too, at the cost of an fsync per commit.
    Full,
}

/// The kind of an SOP node.
#[uniffi::remote(Enum)]
pub enum NodeKind {
    /// Asks the agent a question.
    Question,
    /// Shows text.
    Content,
    /// Decides by rules.
    Logic,
    /// Asks for an action.
    Action,
    /// Ends the walk.
    End,
}

/// Whether a walk's end solved the customer's problem.
#[uniffi::remote(Enum)]
pub enum OutcomeResult {
    /// Solved.
    Success,
    /// Cannot be solved.
    Failure,
    /// Not known yet.
    Unknown,
}

/// Which SOP invariant a violation breaks.
#[uniffi::remote(Enum)]
pub enum ViolationKind {
    /// The entry is missing.
    MissingEntry,
    /// A link points to no node.
    DanglingNext,
    /// A node cannot be reached.
    Unreachable,
    /// A node can be reached from itself.
    Cycle,
    /// A non-end node has no way out.
    DeadEnd,
    /// Text is missing in the master locale.
    MissingText,
    /// A rule does not parse.
    BadRule,
    /// A node has the wrong fields for its kind.
    BadNodeShape,
    /// One of the tree's own tests fails.
    FixtureFailed,
}

// ---- records exported as they are ----

/// The card involved: brand, BIN and last four only.
#[uniffi::remote(Record)]
pub struct Card {
    /// Brand, e.g. `visa`.
    #[uniffi(default)]
    pub brand: Option<String>,
    /// First 6 to 8 digits.
    #[uniffi(default)]
    pub bin: Option<String>,
    /// Last 4 digits.
    #[uniffi(default)]
    pub last4: Option<String>,
}

/// The payment a case is about.
#[uniffi::remote(Record)]
pub struct Payment {
    /// Rail: `upi`, `pix`, `card`, `sepa`...
    #[uniffi(default)]
    pub rail: Option<String>,
    /// The rail's own reference (UPI RRN, Pix EndToEndId), kept verbatim.
    #[uniffi(default)]
    pub txn_ref: Option<String>,
    /// A network reference (ARN...).
    #[uniffi(default)]
    pub network_ref: Option<String>,
    /// Amount in minor units.
    #[uniffi(default)]
    pub amount_minor: Option<i64>,
    /// ISO 4217 code.
    #[uniffi(default)]
    pub currency: Option<String>,
    /// When the transaction happened (ms).
    #[uniffi(default)]
    pub txn_at: Option<i64>,
    /// The card, for card payments.
    #[uniffi(default)]
    pub card: Option<Card>,
}

/// A card dispute's state.
#[uniffi::remote(Record)]
pub struct Dispute {
    /// `visa`, `mastercard`...
    #[uniffi(default)]
    pub network: Option<String>,
    /// e.g. `10.4`.
    #[uniffi(default)]
    pub reason_code: Option<String>,
    /// e.g. `first_chargeback`.
    #[uniffi(default)]
    pub stage: Option<String>,
    /// Evidence deadline (ms).
    #[uniffi(default)]
    pub evidence_due_at: Option<i64>,
}

/// One SLA metric of a case.
#[uniffi::remote(Record)]
pub struct Sla {
    /// Due time before pauses (ms).
    pub due_at: i64,
    /// Time spent paused (ms).
    pub paused_ms: i64,
    /// When it was met.
    pub met_at: Option<i64>,
}

/// An entry in a case's timeline.
#[uniffi::remote(Record)]
pub struct Event {
    /// `created`, `note`, `status_changed`, `redaction`...
    pub kind: String,
    /// Text.
    pub body: String,
    /// `internal` or `public`.
    pub visibility: String,
    /// Author.
    pub by: String,
    /// When (ms).
    pub at: i64,
}

/// A hand-off to another team.
#[uniffi::remote(Record)]
pub struct Escalation {
    /// Target team.
    pub to: String,
    /// Why.
    pub reason: String,
    /// When (ms).
    pub at: i64,
    /// Who.
    pub by: String,
}

/// A walk of an SOP recorded on a case.
#[uniffi::remote(Record)]
pub struct SopRun {
    /// The SOP id.
    pub sop: String,
    /// Published version walked.
    pub version: i64,
    /// Node ids visited.
    pub path: Vec<String>,
    /// Where the walk stopped.
    pub exit_node: String,
    /// `success`, `failure`, `unknown` or `incomplete`.
    pub outcome: String,
    /// When (ms).
    pub at: i64,
    /// Who.
    pub by: String,
}

/// Quality review of a case.
#[uniffi::remote(Record)]
pub struct Qa {
    /// Score 0-100.
    pub score: i64,
    /// Rubric.
    pub rubric: String,
    /// Reviewer.
    pub reviewer: String,
}

/// A row of a case list.
#[uniffi::remote(Record)]
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
    /// Created (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// Earliest effective SLA due time.
    pub sla_due_at: Option<i64>,
    /// Whether an SLA is past due now.
    pub breached: bool,
}

/// One published version of an SOP or article.
#[uniffi::remote(Record)]
pub struct PublishedVersion {
    /// 1, 2, 3...
    pub version: i64,
    /// Document heads at publication (hex).
    pub heads: Vec<String>,
    /// When (ms).
    pub published_at: i64,
    /// Approver.
    pub by: String,
}

/// A row of the SOP list.
#[uniffi::remote(Record)]
pub struct SopSummary {
    /// Document id.
    pub id: DocId,
    /// Title.
    pub title: String,
    /// Status of the draft (`draft`, `in_review`, `published`, `retired`).
    pub status: String,
    /// Latest published version.
    pub published_version: Option<i64>,
    /// Number of broken invariants.
    pub violations: i64,
}

/// One broken SOP invariant.
#[uniffi::remote(Record)]
pub struct Violation {
    /// The node; `None` for the tree as a whole.
    pub node: Option<String>,
    /// Which invariant.
    pub kind: ViolationKind,
    /// What is wrong.
    pub message: String,
}

/// How an end node closes a walk.
#[uniffi::remote(Record)]
pub struct Outcome {
    /// Short label.
    pub label: String,
    /// Solved or not.
    pub result: OutcomeResult,
}

/// An article's verification schedule.
#[uniffi::remote(Record)]
pub struct Verification {
    /// Who verified it last.
    pub verifier: Option<String>,
    /// Days between verifications.
    pub interval_days: i64,
    /// Last verification (ms).
    pub last_verified_at: Option<i64>,
}

/// One article search result.
#[uniffi::remote(Record)]
pub struct SearchHit {
    /// The article.
    pub id: DocId,
    /// Locale that matched.
    pub locale: String,
    /// Title in that locale.
    pub title: String,
    /// Excerpt with matches in `[brackets]`.
    pub snippet: String,
    /// Article status.
    pub status: String,
    /// BM25 score (lower is better).
    pub rank: f64,
}

/// A field with concurrent values that no merge policy resolves.
#[uniffi::remote(Record)]
pub struct Conflict {
    /// Field path, e.g. `assignee`.
    pub field: String,
    /// The value shown.
    pub winner: String,
    /// Every concurrent value, winner first.
    pub values: Vec<String>,
}

// ---- records mirrored because their `dossier` shape does not cross as it is ----

/// Options for [`crate::Store::open`].
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct OpenOptions {
    /// Site id (e.g. `MX1`): required the first time a file is opened, checked afterwards.
    #[uniffi(default)]
    pub site: Option<String>,
    /// Who makes changes through this handle (defaults to the site id).
    #[uniffi(default)]
    pub author: Option<String>,
    /// `Full` to survive power loss at the cost of an fsync per commit (default `Normal`).
    #[uniffi(default)]
    pub durability: Option<Durability>,
    /// Budget of the document cache in bytes (default 64 MiB).
    #[uniffi(default)]
    pub cache_bytes: Option<u64>,
    /// Upper bound on the database file's size in bytes (default: only the disk limits it). A
    /// write that would grow the file past it fails with `DiskFull` and stores nothing.
    #[uniffi(default)]
    pub max_file_bytes: Option<u64>,
}

impl From<OpenOptions> for dossier::StoreOptions {
    fn from(o: OpenOptions) -> Self {
        let defaults = dossier::StoreOptions::default();
        dossier::StoreOptions {
            site: o.site,
            author: o.author,
            durability: o.durability.unwrap_or(defaults.durability),
            cache_bytes: o.cache_bytes.map_or(defaults.cache_bytes, |b| {
                usize::try_from(b).unwrap_or(usize::MAX)
            }),
            clock: None,
            max_file_bytes: o.max_file_bytes,
        }
    }
}

/// A case as every replica sees it after the merge policies.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Case {
    /// Document id.
    pub id: DocId,
    /// Case number `<SITE>-<seq>`.
    pub number: String,
    /// Site that opened it.
    pub site: String,
    /// Market, e.g. `IN-UPI`.
    pub market: String,
    /// Customer locale.
    pub locale: Option<String>,
    /// Contact channel.
    pub channel: Option<String>,
    /// Agent working it.
    pub assignee: Option<String>,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Category.
    pub category: Category,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Root cause.
    pub root_cause: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Subject (redacted).
    pub subject: String,
    /// Description (redacted).
    pub description: Option<String>,
    /// The payment.
    pub payment: Payment,
    /// The dispute.
    pub dispute: Option<Dispute>,
    /// SLA metrics by name.
    pub sla: HashMap<String, Sla>,
    /// Since when SLA clocks are paused.
    pub paused_since: Option<i64>,
    /// Earliest effective due time of an unmet SLA, unless paused or solved.
    pub sla_due_at: Option<i64>,
    /// Escalations.
    pub escalations: Vec<Escalation>,
    /// Parent problem case.
    pub problem: Option<DocId>,
    /// Timeline.
    pub events: Vec<Event>,
    /// SOP runs.
    pub sop_runs: Vec<SopRun>,
    /// Articles used to answer.
    pub articles_used: Vec<String>,
    /// QA review.
    pub qa: Option<Qa>,
    /// Market-specific fields.
    pub fields: HashMap<String, String>,
    /// Created (ms).
    pub created_at: i64,
}

impl From<dossier::Case> for Case {
    fn from(c: dossier::Case) -> Self {
        Case {
            sla_due_at: c.sla_due_at(),
            id: c.id,
            number: c.number,
            site: c.site,
            market: c.market,
            locale: c.locale,
            channel: c.channel,
            assignee: c.assignee,
            status: c.status,
            priority: c.priority,
            category: c.category,
            subcategory: c.subcategory,
            root_cause: c.root_cause,
            tags: c.tags,
            subject: c.subject,
            description: c.description,
            payment: c.payment,
            dispute: c.dispute,
            sla: c.sla.into_iter().collect(),
            paused_since: c.paused_since,
            escalations: c.escalations,
            problem: c.problem,
            events: c.events,
            sop_runs: c.sop_runs,
            articles_used: c.articles_used,
            qa: c.qa,
            fields: c.fields.into_iter().collect(),
            created_at: c.created_at,
        }
    }
}

/// What is needed to open a case.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewCase {
    /// Market, e.g. `IN-UPI`, `BR-PIX`, `ES`.
    pub market: String,
    /// Category.
    pub category: Category,
    /// Subject line.
    pub subject: String,
    /// Longer description.
    #[uniffi(default)]
    pub description: Option<String>,
    /// Priority (default normal).
    #[uniffi(default)]
    pub priority: Option<Priority>,
    /// Customer locale.
    #[uniffi(default)]
    pub locale: Option<String>,
    /// Contact channel.
    #[uniffi(default)]
    pub channel: Option<String>,
    /// Assignee.
    #[uniffi(default)]
    pub assignee: Option<String>,
    /// Subcategory.
    #[uniffi(default)]
    pub subcategory: Option<String>,
    /// Tags.
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// Market-specific fields.
    #[uniffi(default)]
    pub fields: HashMap<String, String>,
    /// The payment.
    #[uniffi(default)]
    pub payment: Option<Payment>,
    /// Dispute details.
    #[uniffi(default)]
    pub dispute: Option<Dispute>,
    /// Parent problem case (number or id).
    #[uniffi(default)]
    pub problem: Option<String>,
}

impl From<NewCase> for dossier::NewCase {
    fn from(n: NewCase) -> Self {
        dossier::NewCase {
            market: n.market,
            category: Some(n.category),
            subject: n.subject,
            description: n.description,
            priority: n.priority,
            locale: n.locale,
            channel: n.channel,
            assignee: n.assignee,
            subcategory: n.subcategory,
            tags: n.tags,
            fields: n.fields.into_iter().collect(),
            payment: n.payment,
            dispute: n.dispute,
            problem: n.problem,
        }
    }
}

/// A change to a case; every field left empty leaves that part of the case alone.
#[derive(Debug, Clone, Default, uniffi::Record, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseUpdate {
    /// New status.
    #[uniffi(default)]
    pub status: Option<Status>,
    /// New priority.
    #[uniffi(default)]
    pub priority: Option<Priority>,
    /// New assignee.
    #[uniffi(default)]
    pub assignee: Option<String>,
    /// Remove the assignee (wins over `assignee`).
    #[uniffi(default)]
    pub unassign: bool,
    /// New category.
    #[uniffi(default)]
    pub category: Option<Category>,
    /// New subcategory.
    #[uniffi(default)]
    pub subcategory: Option<String>,
    /// New root cause.
    #[uniffi(default)]
    pub root_cause: Option<String>,
    /// Tags to add.
    #[uniffi(default)]
    pub add_tags: Vec<String>,
    /// Tags to remove.
    #[uniffi(default)]
    pub remove_tags: Vec<String>,
    /// Fields to set.
    #[uniffi(default)]
    pub set_fields: HashMap<String, String>,
    /// Fields to remove.
    #[uniffi(default)]
    pub remove_fields: Vec<String>,
    /// Payment details to merge in (set fields only).
    #[uniffi(default)]
    pub payment: Option<Payment>,
    /// Dispute details to merge in (set fields only).
    #[uniffi(default)]
    pub dispute: Option<Dispute>,
    /// Parent problem (number or id).
    #[uniffi(default)]
    pub problem: Option<String>,
    /// A note added to the timeline in the same change.
    #[uniffi(default)]
    pub note: Option<String>,
    /// The note is visible to the customer.
    #[uniffi(default)]
    pub public_note: bool,
    /// Escalate to this team in the same change (needs `escalation_reason`).
    #[uniffi(default)]
    pub escalate_to: Option<String>,
    /// Why the case is escalated.
    #[uniffi(default)]
    pub escalation_reason: Option<String>,
    /// SLA metrics to set the due time of (milliseconds since the epoch).
    #[uniffi(default)]
    pub sla_due: HashMap<String, i64>,
    /// SLA metrics met now.
    #[uniffi(default)]
    pub sla_met: Vec<String>,
}

impl TryFrom<CaseUpdate> for dossier::CaseUpdate {
    type Error = dossier::Error;

    fn try_from(u: CaseUpdate) -> std::result::Result<Self, dossier::Error> {
        let escalate = match (u.escalate_to, u.escalation_reason) {
            (Some(to), Some(reason)) => Some(dossier::EscalateTo { to, reason }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(dossier::Error::Invalid {
                    field: "escalation_reason".into(),
                    reason: "is required with escalate_to".into(),
                });
            }
            (None, Some(_)) => {
                return Err(dossier::Error::Invalid {
                    field: "escalate_to".into(),
                    reason: "is required with escalation_reason".into(),
                });
            }
        };
        let assignee = if u.unassign {
            Some(None)
        } else {
            u.assignee.map(Some)
        };
        let fields = u
            .set_fields
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .chain(u.remove_fields.into_iter().map(|k| (k, None)))
            .collect();
        Ok(dossier::CaseUpdate {
            status: u.status,
            priority: u.priority,
            assignee,
            category: u.category,
            subcategory: u.subcategory,
            root_cause: u.root_cause,
            add_tags: u.add_tags,
            remove_tags: u.remove_tags,
            fields,
            payment: u.payment,
            dispute: u.dispute,
            problem: u.problem,
            note: u.note,
            public_note: u.public_note,
            escalate,
            sla_due: u.sla_due.into_iter().collect(),
            sla_met: u.sla_met,
        })
    }
}

/// Which cases to list; empty fields do not filter.
#[derive(Debug, Clone, Default, uniffi::Record, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseFilter {
    /// Only this status.
    #[uniffi(default)]
    pub status: Option<Status>,
    /// Only this market.
    #[uniffi(default)]
    pub market: Option<String>,
    /// Only this site.
    #[uniffi(default)]
    pub site: Option<String>,
    /// Only this category.
    #[uniffi(default)]
    pub category: Option<Category>,
    /// Only this assignee.
    #[uniffi(default)]
    pub assignee: Option<String>,
    /// Only cases with an SLA past due now.
    #[uniffi(default)]
    pub breached: bool,
    /// Only cases with this tag.
    #[uniffi(default)]
    pub tag: Option<String>,
    /// At most this many (default 100).
    #[uniffi(default)]
    pub limit: Option<u32>,
}

impl From<CaseFilter> for dossier::CaseFilter {
    fn from(f: CaseFilter) -> Self {
        dossier::CaseFilter {
            status: f.status,
            market: f.market,
            site: f.site,
            category: f.category,
            assignee: f.assignee,
            breached: f.breached,
            tag: f.tag,
            limit: f.limit.map(|l| l as usize),
        }
    }
}

/// One answer of a question node.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct SopAnswer {
    /// Stable id within the node.
    pub id: String,
    /// Label by locale.
    pub label: HashMap<String, String>,
    /// Node this answer leads to.
    pub next: String,
}

/// One rule of a logic node.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct SopRule {
    /// Condition, e.g. `days_since_txn <= 1`.
    pub when: String,
    /// Node to go to when it is true.
    pub next: String,
}

/// What an action node asks for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct SopAction {
    /// Action type: `require_field`, `escalate`...
    pub kind: String,
    /// Parameters.
    pub params: HashMap<String, String>,
}

impl From<dossier::sop::Action> for SopAction {
    fn from(a: dossier::sop::Action) -> Self {
        SopAction {
            kind: a.kind,
            params: a.params.into_iter().collect(),
        }
    }
}

/// One node of an SOP tree.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct SopNode {
    /// Stable node id.
    pub id: String,
    /// What the node does.
    pub kind: NodeKind,
    /// Text by locale.
    pub text: HashMap<String, String>,
    /// Answers of a question node.
    pub answers: Vec<SopAnswer>,
    /// Rules of a logic node.
    pub rules: Vec<SopRule>,
    /// Where a logic node goes when no rule holds; the next node of content and action nodes.
    pub default_next: Option<String>,
    /// The action of an action node.
    pub action: Option<SopAction>,
    /// The outcome of an end node.
    pub outcome: Option<Outcome>,
}

/// An SOP as every replica sees it: its draft tree, status, versions and violations.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Sop {
    /// Document id.
    pub id: DocId,
    /// Status of the draft.
    pub status: SopStatus,
    /// Title.
    pub title: String,
    /// Markets it applies to.
    pub markets: Vec<String>,
    /// Locale every node must have text in.
    pub master_locale: String,
    /// Entry node id.
    pub entry: String,
    /// Nodes, sorted by id.
    pub nodes: Vec<SopNode>,
    /// Published versions, oldest first.
    pub versions: Vec<PublishedVersion>,
    /// Broken invariants of the draft, one line each; empty when valid.
    pub violations: Vec<String>,
}

impl From<dossier::Sop> for Sop {
    fn from(s: dossier::Sop) -> Self {
        let d = s.definition;
        Sop {
            id: s.id,
            status: s.status,
            title: d.title,
            markets: d.markets,
            master_locale: d.master_locale,
            entry: d.entry,
            nodes: d
                .nodes
                .into_iter()
                .map(|(id, n)| SopNode {
                    id,
                    kind: n.kind,
                    text: n.text.into_iter().collect(),
                    answers: n
                        .answers
                        .into_iter()
                        .map(|a| SopAnswer {
                            id: a.id,
                            label: a.label.into_iter().collect(),
                            next: a.next,
                        })
                        .collect(),
                    rules: n
                        .rules
                        .into_iter()
                        .map(|r| SopRule {
                            when: r.when,
                            next: r.next,
                        })
                        .collect(),
                    default_next: n.default_next,
                    action: n.action.map(SopAction::from),
                    outcome: n.outcome,
                })
                .collect(),
            versions: s.versions,
            violations: s.violations,
        }
    }
}

/// An action met on a walk.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct WalkAction {
    /// The action node.
    pub node: String,
    /// Its action.
    pub action: SopAction,
}

/// An answer chosen on a walk.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct WalkAnswer {
    /// The question node.
    pub node: String,
    /// The answer id.
    pub answer: String,
}

/// Where a walk of a published SOP went and where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct WalkResult {
    /// Node ids visited, entry first.
    pub path: Vec<String>,
    /// The end node reached, if the walk completed.
    pub end: Option<String>,
    /// Its outcome label, if it has one.
    pub outcome_label: Option<String>,
    /// Its outcome result, if it has one.
    pub outcome: Option<OutcomeResult>,
    /// The question waiting for an answer, if the inputs ran out first.
    pub pending: Option<String>,
    /// Actions met on the way.
    pub actions: Vec<WalkAction>,
    /// Answers chosen on the way.
    pub answers: Vec<WalkAnswer>,
}

impl From<dossier::WalkResult> for WalkResult {
    fn from(w: dossier::WalkResult) -> Self {
        WalkResult {
            path: w.path,
            end: w.end,
            outcome_label: w.outcome.as_ref().map(|o| o.label.clone()),
            outcome: w.outcome.map(|o| o.result),
            pending: w.pending,
            actions: w
                .actions
                .into_iter()
                .map(|(node, a)| WalkAction {
                    node,
                    action: a.into(),
                })
                .collect(),
            answers: w
                .answers
                .into_iter()
                .map(|(node, answer)| WalkAnswer { node, answer })
                .collect(),
        }
    }
}

/// A walk together with the published version it walked.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct SopWalk {
    /// The published version walked.
    pub version: i64,
    /// Where it went.
    pub result: WalkResult,
}

/// A knowledge article.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Article {
    /// Document id.
    pub id: DocId,
    /// Title by locale.
    pub title: HashMap<String, String>,
    /// Body by locale.
    pub body: HashMap<String, String>,
    /// Markets.
    pub markets: Vec<String>,
    /// Case categories it helps with.
    pub categories: Vec<String>,
    /// Visibility.
    pub visibility: Visibility,
    /// Status.
    pub status: ArticleStatus,
    /// Published versions.
    pub versions: Vec<PublishedVersion>,
    /// Verification schedule.
    pub verification: Verification,
    /// Related SOP ids.
    pub related_sops: Vec<String>,
    /// When the next verification is due, for a published article (ms).
    pub next_verification_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
}

impl From<dossier::Article> for Article {
    fn from(a: dossier::Article) -> Self {
        Article {
            next_verification_at: a.next_verification_at(),
            id: a.id,
            title: a.title.into_iter().collect(),
            body: a.body.into_iter().collect(),
            markets: a.markets,
            categories: a.categories,
            visibility: a.visibility,
            status: a.status,
            versions: a.versions,
            verification: a.verification,
            related_sops: a.related_sops,
            created_at: a.created_at,
        }
    }
}

/// A new article.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewArticle {
    /// Title by locale (at least one).
    pub title: HashMap<String, String>,
    /// Body by locale.
    #[uniffi(default)]
    pub body: HashMap<String, String>,
    /// Markets.
    #[uniffi(default)]
    pub markets: Vec<String>,
    /// Case categories.
    #[uniffi(default)]
    pub categories: Vec<String>,
    /// Visibility (default agent).
    #[uniffi(default)]
    pub visibility: Option<Visibility>,
    /// Days between verifications (default 90).
    #[uniffi(default)]
    pub interval_days: Option<i64>,
    /// Related SOP ids.
    #[uniffi(default)]
    pub related_sops: Vec<String>,
}

impl From<NewArticle> for dossier::NewArticle {
    fn from(a: NewArticle) -> Self {
        dossier::NewArticle {
            title: a.title.into_iter().collect(),
            body: a.body.into_iter().collect(),
            markets: a.markets,
            categories: a.categories,
            visibility: a.visibility,
            interval_days: a.interval_days,
            related_sops: a.related_sops,
        }
    }
}

/// One change in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// Change hash (hex).
    pub hash: String,
    /// The document's heads right after this change (hex), for [`crate::Store::case_at`].
    pub heads: Vec<String>,
    /// When (ms).
    pub at: i64,
    /// Site that made it.
    pub site: String,
    /// Person (or plugin) that made it.
    pub author: String,
    /// What kind of change: `case.create`, `case.update`, `sop.edit`...
    pub action: String,
}

impl From<dossier::HistoryEntry> for HistoryEntry {
    fn from(h: dossier::HistoryEntry) -> Self {
        HistoryEntry {
            hash: h.hash,
            heads: h.heads.iter().map(ToString::to_string).collect(),
            at: h.at,
            site: h.site,
            author: h.author,
            action: h.action,
        }
    }
}

/// A document of the store, as listed by [`crate::Store::documents`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct DocRef {
    /// Document id.
    pub id: DocId,
    /// Its kind.
    pub kind: DocKind,
}

/// What applying a change pack did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Applied {
    /// The document.
    pub doc: DocId,
    /// Its kind.
    pub kind: DocKind,
    /// How many changes were new here (0 when the pack was applied before).
    pub new_changes: u64,
}

impl From<dossier::Applied> for Applied {
    fn from(a: dossier::Applied) -> Self {
        Applied {
            doc: a.doc,
            kind: a.kind,
            new_changes: a.new_changes as u64,
        }
    }
}

/// What a merge via change packs ([`crate::Store::pull_from`]) did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct MergeReport {
    /// How many documents received changes they lacked.
    pub documents_updated: u64,
}

/// What one committed transaction changed, sent to [`crate::ChangeListener`]s.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChangeNotice {
    /// The documents changed, with their kinds.
    pub docs: Vec<DocRef>,
    /// A local write or changes received from another replica.
    pub origin: Origin,
}

impl From<&dossier::ChangeNotice> for ChangeNotice {
    fn from(n: &dossier::ChangeNotice) -> Self {
        ChangeNotice {
            docs: n
                .docs
                .iter()
                .map(|&(id, kind)| DocRef { id, kind })
                .collect(),
            origin: n.origin,
        }
    }
}

// ---- sync and bundles ----
// (Doc comments here and in `store.rs` never show a scope such as star-slash-sop: the generated
// Kotlin and Swift doc comments would end at its `*` + `/`.)

/// Which side refused a document's changes.
#[uniffi::remote(Enum)]
pub enum Side {
    /// This store refused what the peer sent.
    Us,
    /// The peer refused what this store sent.
    Peer,
}

/// Why the changes of one document were refused (the rest of the session or bundle went on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RejectCode {
    /// The document (before or after the change) is outside the peer's scopes.
    OutOfScope,
    /// The peer may read this document but not change it.
    ReadOnly,
    /// A change carries an unmasked card number or security code.
    CardData,
    /// The changes do not apply, or would leave an invalid document.
    Invalid,
    /// The document's sync message exceeds the message size limit.
    TooLarge,
    /// The document's sync message does not decode.
    Malformed,
    /// A reason added to Dossier after these bindings were generated; see the message.
    Other,
}

impl From<dossier::sync::RejectCode> for RejectCode {
    fn from(c: dossier::sync::RejectCode) -> Self {
        use dossier::sync::RejectCode as C;
        match c {
            C::OutOfScope => RejectCode::OutOfScope,
            C::ReadOnly => RejectCode::ReadOnly,
            C::CardData => RejectCode::CardData,
            C::Invalid => RejectCode::Invalid,
            C::TooLarge => RejectCode::TooLarge,
            C::Malformed => RejectCode::Malformed,
            // `RejectCode` is non-exhaustive in `dossier`.
            _ => RejectCode::Other,
        }
    }
}

/// One document whose changes were refused.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Rejection {
    /// The document.
    pub doc: DocId,
    /// Why.
    pub reason: RejectCode,
    /// Who refused.
    pub by: Side,
    /// What a person knows the document by: `case MX1-7`, `sop "…"`, `article "…"`, when known.
    pub label: Option<String>,
    /// The refusal in words, naming the document by its label (`case MX1-7 refused by the
    /// hub: read-only for the peer`...).
    pub message: String,
}

impl From<dossier::sync::Rejection> for Rejection {
    fn from(r: dossier::sync::Rejection) -> Self {
        Rejection {
            doc: r.doc,
            reason: r.reason.into(),
            by: r.by,
            message: r.to_string(),
            label: r.label,
        }
    }
}

/// What a sync session with a hub did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// The authenticated peer (the hub's site id), once known.
    pub peer: Option<String>,
    /// Documents for which this store sent changes.
    pub docs_sent: u64,
    /// Documents that received new changes here.
    pub docs_received: u64,
    /// Refused documents, by either side; the rest of the session went on.
    pub rejected: Vec<Rejection>,
    /// Protocol messages sent.
    pub messages_sent: u64,
    /// Protocol messages received.
    pub messages_received: u64,
    /// Bytes sent (message payloads).
    pub bytes_sent: u64,
    /// Bytes received (message payloads).
    pub bytes_received: u64,
    /// Whether the session reached its end (both sides quiet).
    pub completed: bool,
}

impl From<dossier::sync::SyncReport> for SyncReport {
    fn from(r: dossier::sync::SyncReport) -> Self {
        SyncReport {
            peer: r.peer,
            docs_sent: r.docs_sent as u64,
            docs_received: r.docs_received as u64,
            rejected: r.rejected.into_iter().map(Rejection::from).collect(),
            messages_sent: r.messages_sent,
            messages_received: r.messages_received,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            completed: r.completed,
        }
    }
}

/// What writing a bundle file ([`crate::Store::export_bundle`]) did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize)]
pub struct ExportedBundle {
    /// Documents in the bundle.
    pub docs: u64,
    /// Changes in the bundle.
    pub changes: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl From<&dossier::sync::ExportedBundle> for ExportedBundle {
    fn from(b: &dossier::sync::ExportedBundle) -> Self {
        ExportedBundle {
            docs: b.docs as u64,
            changes: b.changes as u64,
            bytes: b.bytes.len() as u64,
        }
    }
}

/// What importing a bundle file ([`crate::Store::import_bundle`]) did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BundleReport {
    /// The site that made the bundle (`from` in `dossier`; renamed because `from` is a Python
    /// keyword).
    pub from_site: String,
    /// Documents in the bundle.
    pub docs: u64,
    /// Documents that received new changes here.
    pub docs_updated: u64,
    /// Changes that were new here (0 when the bundle was imported before).
    pub new_changes: u64,
    /// Documents whose changes were refused (nothing of them stored); the rest applied.
    pub rejected: Vec<Rejection>,
}

impl From<dossier::sync::BundleReport> for BundleReport {
    fn from(r: dossier::sync::BundleReport) -> Self {
        BundleReport {
            from_site: r.from,
            docs: r.docs as u64,
            docs_updated: r.docs_updated as u64,
            new_changes: r.new_changes as u64,
            rejected: r.rejected.into_iter().map(Rejection::from).collect(),
        }
    }
}

/// A provisioned peer: a site (or the hub) this store syncs with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Peer {
    /// Its site id.
    pub site: String,
    /// The public key it signs with (base58check, as `public_key()` shows it).
    pub public_key: String,
    /// What it may read and write here, in text form (`IN-UPI`, `BR-PIX/case`, `ES/sop:ro`...).
    pub scopes: Vec<String>,
    /// When the last session with it completed (ms), if ever.
    pub last_sync_at: Option<i64>,
}

impl From<dossier::sync::Peer> for Peer {
    fn from(p: dossier::sync::Peer) -> Self {
        Peer {
            site: p.site,
            public_key: p.key.to_string(),
            scopes: p.scopes.iter().map(ToString::to_string).collect(),
            last_sync_at: p.last_sync_at,
        }
    }
}

// ---- plugins ----

/// Why a plugin is called.
#[uniffi::remote(Enum)]
pub enum Trigger {
    /// A case was just opened.
    CaseCreated,
    /// A case changed.
    CaseUpdated,
    /// A case's status changed.
    StatusChanged,
    /// A case is about to be solved; a plugin may refuse.
    BeforeSolve,
    /// A periodic SLA check.
    SlaCheck,
}

/// Something a plugin asks for on a case (the WIT `action` variant), as a dry run shows it.
#[uniffi::remote(Enum)]
pub enum Action {
    /// Set a market-specific field.
    SetField {
        /// Field name.
        name: String,
        /// Value.
        value: String,
    },
    /// Add a tag.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    RemoveTag {
        /// The tag.
        tag: String,
    },
    /// Set the priority.
    SetPriority {
        /// The priority.
        priority: Priority,
    },
    /// Move the case to a status.
    SetStatus {
        /// The status.
        status: Status,
    },
    /// Hand the case to another team.
    Escalate {
        /// Team.
        to: String,
        /// Why.
        reason: String,
    },
    /// Set the due time of an SLA metric.
    SetSlaDeadline {
        /// Metric.
        metric: String,
        /// Due time (epoch ms).
        due_at: i64,
    },
    /// The case needs a field: tagged `missing-<name>` while it lacks it, and a solve is refused.
    RequireField {
        /// Field name, or `payment.txn_ref`.
        name: String,
        /// Why, shown to the agent.
        reason: String,
    },
    /// Add a note.
    AddNote {
        /// Text.
        body: String,
        /// Whether the customer may see it.
        public: bool,
    },
    /// Send the case to a queue (the `queue` field).
    Route {
        /// Queue.
        queue: String,
    },
    /// Refuse a solve (before-solve only).
    RefuseSolve {
        /// Why.
        reason: String,
    },
}

/// An installed plugin (without its bytes) and whether it runs here.
#[uniffi::remote(Record)]
pub struct PluginInfo {
    /// The plugin document.
    pub id: DocId,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The plugin API version it was built against.
    pub api: String,
    /// Markets it runs for.
    pub markets: Vec<String>,
    /// Triggers it is called on.
    pub triggers: Vec<Trigger>,
    /// One line for people.
    pub description: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The publisher's public key (base58check).
    pub publisher: String,
    /// Whether the signature verifies over the stored manifest and component.
    pub signature_ok: bool,
    /// Whether this site trusts the publisher (its own site key always is).
    pub trusted: bool,
    /// Whether it runs here: signature good, publisher trusted, newest such version of its name.
    pub active: bool,
}

/// What a dry run of one plugin on one case found. Nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DryRun {
    /// The plugin that ran.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The trigger it was called with.
    pub trigger: Trigger,
    /// The actions it returned, in order.
    pub actions: Vec<Action>,
    /// Why the store would refuse these actions, if it would (then none would be applied).
    pub invalid: Option<String>,
    /// What the plugin logged during the call.
    pub logs: Vec<String>,
}

impl From<dossier_plugins::DryRun> for DryRun {
    fn from(d: dossier_plugins::DryRun) -> Self {
        DryRun {
            plugin: d.plugin.name,
            version: d.plugin.version,
            trigger: d.trigger,
            actions: d.actions,
            invalid: d.invalid,
            logs: d.logs,
        }
    }
}

/// Where [`CardDataFinding`] found card data. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CardDataPlace {
    /// In a change of a document's history.
    History {
        /// The document.
        doc: DocId,
        /// Its kind.
        kind: DocKind,
        /// What a person knows it by (`case MX1-7`, `sop "…"`, `article "…"`, `plugin NAME`;
        /// redacted), when known.
        label: Option<String>,
        /// The change (hex hash).
        change: String,
        /// The map key the value was written under, `key`, `message` or `text`.
        field: String,
    },
    /// In the raw bytes of the database file or its WAL.
    File {
        /// The file.
        file: String,
        /// Byte offset of the first digit.
        offset: u64,
        /// Database page (or WAL frame), 1-based.
        page: u64,
    },
}

/// One place where card data was found.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CardDataFinding {
    /// `card_number` or `security_code`.
    pub kind: String,
    /// The card brand, for card numbers.
    pub brand: Option<String>,
    /// Where.
    pub place: CardDataPlace,
}

/// What `scan_card_data` read and found.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CardDataScan {
    /// Documents whose full history was decoded.
    pub documents: u64,
    /// Changes decoded.
    pub changes: u64,
    /// Bytes of the database and WAL files read.
    pub file_bytes: u64,
    /// Every finding; empty means none.
    pub findings: Vec<CardDataFinding>,
}

impl From<dossier::doctor::CardDataScan> for CardDataScan {
    fn from(s: dossier::doctor::CardDataScan) -> Self {
        use dossier::doctor::CardDataPlace as P;
        CardDataScan {
            documents: s.documents as u64,
            changes: s.changes as u64,
            file_bytes: s.file_bytes,
            findings: s
                .findings
                .into_iter()
                .map(|f| CardDataFinding {
                    kind: f.kind,
                    brand: f.brand,
                    place: match f.place {
                        P::History {
                            doc,
                            kind,
                            label,
                            change,
                            field,
                        } => CardDataPlace::History {
                            doc,
                            kind,
                            label,
                            change,
                            field,
                        },
                        P::File { file, offset, page } => CardDataPlace::File {
                            file: file.display().to_string(),
                            offset,
                            page,
                        },
                    },
                })
                .collect(),
        }
    }
}

/// What a text splice left behind (`splice_sop_text`, `splice_article_text`): enough for an
/// editor to carry on without re-reading the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct TextEdit {
    /// The text's length afterwards, in Unicode scalar values.
    pub length: u64,
    /// Whether card data was masked: the stored text then differs from what was asked for,
    /// and an editor showing it must re-read it.
    pub redacted: bool,
    /// The document's heads (hex) after the change.
    pub heads: Vec<String>,
}

impl From<dossier::TextEdit> for TextEdit {
    fn from(e: dossier::TextEdit) -> Self {
        TextEdit {
            length: e.length,
            redacted: e.redacted,
            heads: e.heads.iter().map(ToString::to_string).collect(),
        }
    }
}
