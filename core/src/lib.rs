//! Dossier: an embedded, local-first store for payment customer-support operations.
//!
//! Cases (complaint tickets), SOPs (decision trees) and knowledge articles are Automerge CRDT
//! documents kept in one SQLite file, so outsourced support sites can work offline for days and
//! merge later without losing an edit. Every string is redacted before it is stored, because a
//! card number written into CRDT history could never be removed.
//!
//! # Layout
//!
//! | module | responsibility |
//! |---|---|
//! | [`store`] | [`Store`]: the SQLite file, transactions, the document cache, notifications |
//! | [`case`] | cases, their merge policies, SLA clocks and case projections |
//! | [`sop`] | SOP documents, change control (four eyes), walking published versions |
//! | [`article`] | knowledge articles, publishing, verification, full-text search |
//! | [`history`] | who changed what, views at earlier heads, unresolved conflicts |
//! | [`import`] | import formats every front end shares (JSON Lines cases, JSON articles), errors with a typed [`Location`] |
//! | [`plugin`] | workflow plugins: signed packages, trusted publishers, actions and the hook a plugin host implements |
//! | [`exchange`] | change packs: exchanging changes between stores without a network |
//! | [`files`] | private (0600) files: the store, bundles, key files |
//! | [`doctor`] | finding card data that an existing store already holds, in history or file bytes |
//! | [`sync`] | authenticated, scoped sync with peers: the sans-I/O session engine, keys, peers and scopes, signed bundle files |
//! | [`time`] | UTC dates and RFC 3339 times from and to epoch milliseconds |
//! | [`redact`] | card-number and security-code redaction (PCI DSS) |
//! | [`report`] | operations analytics from the SQL views: volume, root causes, SLA, escalations, SOP drop-off, article verification |
//! | `doc` | the only write path into documents (redacting) and the reader |
//! | `merge` | the one list of registers: a person's (conflicts) or bookkeeping (a deterministic policy) |
//! | `schema`, `projection`, `cache`, `version` | migrations, SQL projections, the bounded cache, published versions |
//!
//! # Example
//!
//! Two sites edit the same case while apart, then merge; both see the same result.
//!
//! ```
//! use dossier::{CaseUpdate, Category, NewCase, Priority, Status, Store, StoreOptions};
//! let dir = tempfile::tempdir()?;
//! let open = |site: &str| Store::open(dir.path().join(format!("{site}.db")), StoreOptions {
//!     site: Some(site.into()),
//!     ..Default::default()
//! });
//! let (mx, bl) = (open("MX1")?, open("BLR2")?);
//! let case = mx.create_case(NewCase::new("IN-UPI", Category::FailedPayment,
//!     "Money debited, card 4111 1111 1111 1111"))?;
//! assert_eq!(case.subject, "Money debited, card 411111******1111");
//! bl.pull_from(&mx)?;
//!
//! mx.update_case(&case.number, CaseUpdate { status: Some(Status::Solved), ..Default::default() })?;
//! bl.update_case(&case.number, CaseUpdate { priority: Some(Priority::Urgent), ..Default::default() })?;
//! mx.pull_from(&bl)?;
//! bl.pull_from(&mx)?;
//!
//! let (a, b) = (mx.case(&case.number)?, bl.case(&case.number)?);
//! assert_eq!(a, b);
//! assert_eq!((a.status, a.priority), (Status::Solved, Priority::Urgent));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod article;
mod cache;
pub mod case;
mod doc;
pub mod doctor;
pub mod error;
pub mod exchange;
pub mod files;
pub mod history;
mod id;
pub mod import;
mod incoming;
mod merge;
pub mod plugin;
mod projection;
pub mod redact;
pub mod report;
mod schema;
pub mod sop;
pub mod store;
pub mod sync;
pub mod time;
mod version;

pub use article::{
    Article, ArticleField, ArticleStatus, NewArticle, SearchHit, Verification, Visibility,
};
pub use automerge::ChangeHash;
pub use case::{
    Card, Case, CaseFilter, CaseSummary, CaseUpdate, Category, Dispute, EscalateTo, Escalation,
    Event, NewCase, Payment, Priority, Qa, Sla, SopRun, Status,
};
pub use doc::{Splice, TextEdit};
pub use error::{Error, Location, Result};
pub use exchange::Applied;
pub use history::{Conflict, HistoryEntry};
pub use id::DocId;
pub use plugin::{
    Action, PluginFailure, PluginFailureKind, PluginInfo, PluginManifest, PluginPackage, PluginRun,
    PublisherKey, Trigger, Workflow,
};
pub use schema::END_VERSION as SCHEMA_VERSION;
pub use sop::{Sop, SopDefinition, SopRunOptions, SopStatus, SopSummary, Violation, WalkResult};
pub use store::{ChangeNotice, DocKind, Durability, Origin, Store, StoreOptions, SubscriptionId};
pub use version::PublishedVersion;

/// The composition root of the write path: the projector of every document kind, in
/// [`DocKind`] order. Storage (`store.rs`) reaches the domain modules only through this table.
pub(crate) static PROJECTORS: projection::Projectors = projection::Projectors([
    &case::projection::CaseProjector,
    &sop::SopProjector,
    &article::ArticleProjector,
    &plugin::PluginProjector,
]);
