//! The `Store` object host apps hold, and change notifications.
//!
//! Every method is one user action and one call into [`dossier::Store`]; the only code here
//! converts arguments and results. A `Store` is safe to share between threads: `dossier` keeps
//! one writer connection behind a lock and a pool of readers, and this wrapper adds only a lock
//! around "is it still open", held just long enough to clone the (cheap, shared) core handle, so
//! a slow call never blocks another.
//!
//! Long calls have an `_async` twin that Kotlin sees as a `suspend fun` and Swift as `async`.
//! They run the blocking call on a thread of their own and complete a future when it is done, so
//! the host's own executor (coroutines, Swift concurrency, asyncio) polls it and needs no tokio
//! runtime; a hub sync drives its WebSocket on a small tokio runtime of its own, inside that
//! call.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock, Weak};

use dossier::{ArticleField, ArticleStatus, ChangeHash, DocId};

use crate::error::DossierError;
use crate::records::{
    Applied, Article, BundleReport, CardDataScan, Case, CaseFilter, CaseSummary, CaseUpdate,
    ChangeNotice, Conflict, DocRef, ExportedBundle, HistoryEntry, MergeReport, NewArticle, NewCase,
    OpenOptions, Peer, SearchHit, Sop, SopSummary, SopWalk, SyncReport, TextEdit, Violation,
    WalkResult,
};
use crate::records::{DryRun, PluginInfo, Trigger};
use crate::task::blocking;
use crate::{plugins, sync_io};

type Result<T, E = DossierError> = std::result::Result<T, E>;

/// Receives a notice after every committed transaction — local writes and merged change packs
/// alike — so a host UI can refresh what changed.
///
/// It is called on the thread that wrote, after the commit, with no lock held; keep it short
/// (post to your UI thread). An exception thrown by the listener is ignored: it cannot undo or
/// fail a write that has already committed.
#[uniffi::export(callback_interface)]
pub trait ChangeListener: Send + Sync {
    /// One committed transaction changed these documents.
    ///
    /// # Errors
    /// Whatever the listener throws arrives as [`ListenerError`] and is ignored.
    fn on_change(&self, notice: ChangeNotice) -> Result<(), ListenerError>;
}

/// What a [`ChangeListener`] threw. Declared so that a throwing listener is an ordinary error
/// value here rather than a panic; Dossier ignores it.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener failed.
    #[error("change listener failed: {reason}")]
    Failed {
        /// What the foreign side said.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

/// A Dossier store: one SQLite file holding cases, SOPs and articles.
///
/// Open it once and share it between threads. In Kotlin, `close()` (or `use { }`) releases it;
/// in every language, [`Store::shutdown`] releases the file at once.
#[derive(uniffi::Object)]
pub struct Store {
    inner: RwLock<Option<dossier::Store>>,
}

impl Store {
    /// The core handle, or [`DossierError::Closed`] after [`Store::shutdown`].
    pub(crate) fn core(&self) -> Result<dossier::Store> {
        // A poisoned lock only means a thread panicked while holding it; the `Option` inside is
        // replaced whole, so it is still consistent.
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        guard.clone().ok_or_else(DossierError::closed)
    }

    /// Wraps an open core store (the C ABI opens stores too).
    pub(crate) fn from_core(store: dossier::Store) -> Self {
        Store {
            inner: RwLock::new(Some(store)),
        }
    }
}

fn id(s: &str) -> Result<DocId> {
    Ok(s.parse::<DocId>()?)
}

fn scopes(text: &[String]) -> Result<Vec<dossier::sync::Scope>> {
    Ok(text
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, dossier::Error>>()?)
}

/// A position or count from the other side, as this platform's `usize`.
pub(crate) fn index(what: &str, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| DossierError::invalid(what, "too large"))
}

fn heads(hex: &[String]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|_| DossierError::invalid("heads", "not a 64-digit hex change hash"))
        })
        .collect()
}

#[uniffi::export]
impl Store {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// `NotInitialized` when a new file is opened without a site; `SiteMismatch`; `Invalid` for
    /// a malformed site id; `Corrupt` when the file is not a Dossier store.
    #[uniffi::constructor]
    pub fn open(path: String, options: OpenOptions) -> Result<Arc<Self>> {
        let store = dossier::Store::open(path, options.into())?;
        Ok(Arc::new(Store::from_core(plugins::with_plugins(store))))
    }

    /// Releases the SQLite file now; later calls fail with `Closed`. Calls already running
    /// finish first. Calling it twice is harmless.
    pub fn shutdown(&self) {
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        *guard = None;
    }

    /// The site id of this store (e.g. `MX1`).
    ///
    /// # Errors
    /// `Closed`.
    pub fn site(&self) -> Result<String> {
        Ok(self.core()?.site().to_string())
    }

    /// The author recorded in changes made through this handle.
    ///
    /// # Errors
    /// `Closed`.
    pub fn author(&self) -> Result<String> {
        Ok(self.core()?.author().to_string())
    }

    // ---- cases ----

    /// Opens a new case numbered `<SITE>-<seq>`; card numbers in any text are masked.
    ///
    /// # Errors
    /// `Invalid` for a bad market, an empty subject or a bad payment field.
    pub fn create_case(&self, new: NewCase) -> Result<Case> {
        Ok(self.core()?.create_case(new.into())?.into())
    }

    /// The merged view of a case, by number (`MX1-42`) or id.
    ///
    /// # Errors
    /// `NotFound`; `WrongKind` when the id is not a case.
    pub fn get_case(&self, key: String) -> Result<Case> {
        Ok(self.core()?.case(&key)?.into())
    }

    /// The case as it was at `heads` (from [`Store::history`]).
    ///
    /// # Errors
    /// `Invalid` when `heads` are not change hashes of this case.
    pub fn case_at(&self, key: String, heads: Vec<String>) -> Result<Case> {
        Ok(self.core()?.case_at(&key, &self::heads(&heads)?)?.into())
    }

    /// Applies `update` as one change in one transaction: fields, status, a note, an escalation
    /// and SLA changes together.
    ///
    /// # Errors
    /// `CaseClosed` for a closed case; `Invalid` for bad values; `NotFound` for an SLA metric
    /// marked met that was never set.
    pub fn update_case(&self, key: String, update: CaseUpdate) -> Result<Case> {
        Ok(self.core()?.update_case(&key, update.try_into()?)?.into())
    }

    /// Adds a note to the case timeline (`public` notes are visible to the customer).
    ///
    /// # Errors
    /// `CaseClosed`; `Invalid` for an empty note.
    pub fn add_note(&self, key: String, body: String, public: bool) -> Result<Case> {
        Ok(self.core()?.add_note(&key, &body, public)?.into())
    }

    /// Escalates the case to another team (`product`, `risk`, `psp_bank`...).
    ///
    /// # Errors
    /// `CaseClosed`; `Invalid` for a bad team name or an empty reason.
    pub fn escalate(&self, key: String, to: String, reason: String) -> Result<Case> {
        Ok(self.core()?.escalate(&key, &to, &reason)?.into())
    }

    /// Sets (or moves) the due time (ms) of an SLA metric such as `first_reply`.
    ///
    /// # Errors
    /// `CaseClosed`; `Invalid` for a bad metric name.
    pub fn set_sla(&self, key: String, metric: String, due_at: i64) -> Result<Case> {
        Ok(self.core()?.set_sla(&key, &metric, due_at)?.into())
    }

    /// Marks an SLA metric met now.
    ///
    /// # Errors
    /// `NotFound` when the metric was never set; `CaseClosed`.
    pub fn mark_sla_met(&self, key: String, metric: String) -> Result<Case> {
        Ok(self.core()?.mark_sla_met(&key, &metric)?.into())
    }

    /// Lists cases, newest first (most overdue first with `breached`), without loading them.
    ///
    /// # Errors
    /// `Storage`.
    pub fn list_cases(&self, filter: CaseFilter) -> Result<Vec<CaseSummary>> {
        Ok(self.core()?.list_cases(&filter.into())?)
    }

    // ---- SOPs ----

    /// Creates a draft SOP from its JSON form; `source_name` names the input in errors.
    ///
    /// # Errors
    /// `Import` naming the JSON path of the first problem; nothing is stored then.
    pub fn import_sop(&self, json: String, source_name: String) -> Result<Sop> {
        Ok(self.core()?.import_sop_json(&json, &source_name)?.into())
    }

    /// The current draft of an SOP with its status, versions and violations.
    ///
    /// # Errors
    /// `NotFound`; `WrongKind`.
    pub fn get_sop(&self, id: String) -> Result<Sop> {
        Ok(self.core()?.sop(&self::id(&id)?)?.into())
    }

    /// Every SOP, by title.
    ///
    /// # Errors
    /// `Storage`.
    pub fn list_sops(&self) -> Result<Vec<SopSummary>> {
        Ok(self.core()?.list_sops()?)
    }

    /// Checks the draft's invariants and its own tests; empty means valid.
    ///
    /// # Errors
    /// `NotFound`; `WrongKind`.
    pub fn validate_sop(&self, id: String) -> Result<Vec<Violation>> {
        Ok(self.core()?.validate_sop(&self::id(&id)?)?)
    }

    /// Sets the text of one node in one locale (merged character by character).
    ///
    /// # Errors
    /// `NotFound` for an unknown node; `Invalid` for empty text.
    pub fn set_sop_text(
        &self,
        id: String,
        node: String,
        locale: String,
        text: String,
    ) -> Result<Sop> {
        Ok(self
            .core()?
            .set_sop_text(&self::id(&id)?, &node, &locale, &text)?
            .into())
    }

    /// Splices one node's text in one locale: deletes `delete` characters at `pos`, then
    /// inserts `insert` there, as one change (a keystroke). Positions count Unicode scalar
    /// values (not UTF-16 units: convert a Kotlin/Swift index first). Card data the edit
    /// completes is masked in place (`redacted` in the answer); the text may become empty.
    ///
    /// # Errors
    /// `NotFound` for an unknown node; `Invalid` for a position or deletion past the end of the
    /// text or a bad locale; `Transition` for a retired SOP.
    pub fn splice_sop_text(
        &self,
        id: String,
        node: String,
        locale: String,
        pos: u64,
        delete: u64,
        insert: String,
    ) -> Result<TextEdit> {
        Ok(self
            .core()?
            .splice_sop_text(
                &self::id(&id)?,
                &node,
                &locale,
                index("pos", pos)?,
                index("delete", delete)?,
                &insert,
            )?
            .into())
    }

    /// Splices an article's title or body in one locale, like [`Store::splice_sop_text`].
    ///
    /// # Errors
    /// `Invalid` for a position or deletion past the end of the text or a bad locale.
    pub fn splice_article_text(
        &self,
        id: String,
        field: ArticleField,
        locale: String,
        pos: u64,
        delete: u64,
        insert: String,
    ) -> Result<TextEdit> {
        Ok(self
            .core()?
            .splice_article_text(
                &self::id(&id)?,
                field,
                &locale,
                index("pos", pos)?,
                index("delete", delete)?,
                &insert,
            )?
            .into())
    }

    /// Sends a draft for review.
    ///
    /// # Errors
    /// `Transition` unless the SOP is a draft.
    pub fn submit_sop(&self, id: String) -> Result<Sop> {
        Ok(self.core()?.submit_sop(&self::id(&id)?)?.into())
    }

    /// Publishes the reviewed draft, approved by this store's author.
    ///
    /// # Errors
    /// `Transition` unless in review; `SopInvalid`; `FourEyes` when the approver wrote any of
    /// the changes being published.
    pub fn publish_sop(&self, id: String) -> Result<Sop> {
        Ok(self.core()?.publish_sop(&self::id(&id)?)?.into())
    }

    /// Retires an SOP.
    ///
    /// # Errors
    /// `Transition` if already retired.
    pub fn retire_sop(&self, id: String) -> Result<Sop> {
        Ok(self.core()?.retire_sop(&self::id(&id)?)?.into())
    }

    /// Walks a published version (the latest when `version` is empty) with `inputs`: answers by
    /// id or label, and `name=value` bindings for logic rules.
    ///
    /// # Errors
    /// `NotFound` when never published; `Walk` when an input matches no answer.
    pub fn walk_sop(
        &self,
        id: String,
        version: Option<i64>,
        inputs: Vec<String>,
    ) -> Result<SopWalk> {
        let (version, result) = self.core()?.walk_sop(&self::id(&id)?, version, &inputs)?;
        Ok(SopWalk {
            version,
            result: result.into(),
        })
    }

    /// Walks the latest published version for a case and records the run on the case.
    ///
    /// # Errors
    /// As [`Store::walk_sop`], plus `CaseClosed`, and `SopMarket` when the SOP does not cover
    /// the case's market and `any_market` is false (with `any_market` the run records the
    /// override).
    #[uniffi::method(default(any_market = false))]
    pub fn record_sop_run(
        &self,
        case_key: String,
        sop_id: String,
        inputs: Vec<String>,
        any_market: bool,
    ) -> Result<WalkResult> {
        let options = if any_market {
            dossier::sop::SopRunOptions::any_market()
        } else {
            dossier::sop::SopRunOptions::default()
        };
        Ok(self
            .core()?
            .record_sop_run_with(&case_key, &self::id(&sop_id)?, &inputs, options)?
            .into())
    }

    // ---- articles ----

    /// Creates a draft article.
    ///
    /// # Errors
    /// `Invalid` for a missing title, a bad locale or market.
    pub fn create_article(&self, new: NewArticle) -> Result<Article> {
        Ok(self.core()?.create_article(new.into())?.into())
    }

    /// The current view of an article.
    ///
    /// # Errors
    /// `NotFound`; `WrongKind`.
    pub fn get_article(&self, id: String) -> Result<Article> {
        Ok(self.core()?.article(&self::id(&id)?)?.into())
    }

    /// Replaces the title and/or body in one locale (merged character by character).
    ///
    /// # Errors
    /// `Invalid` for a bad locale or an empty title.
    pub fn edit_article(
        &self,
        id: String,
        locale: String,
        title: Option<String>,
        body: Option<String>,
    ) -> Result<Article> {
        Ok(self
            .core()?
            .edit_article(&self::id(&id)?, &locale, title.as_deref(), body.as_deref())?
            .into())
    }

    /// Moves an article to `status`; `Published` records a new version.
    ///
    /// # Errors
    /// `Transition` when a retired article is changed.
    pub fn set_article_status(&self, id: String, status: ArticleStatus) -> Result<Article> {
        Ok(self
            .core()?
            .set_article_status(&self::id(&id)?, status)?
            .into())
    }

    /// Records that someone checked the article is still right.
    ///
    /// # Errors
    /// `NotFound`; `WrongKind`.
    pub fn verify_article(&self, id: String) -> Result<Article> {
        Ok(self.core()?.verify_article(&self::id(&id)?)?.into())
    }

    /// Full-text search, accents folded ("reembolso" finds "Reembolsó"); best first.
    ///
    /// # Errors
    /// `Storage`.
    pub fn search_articles(
        &self,
        query: String,
        locale: Option<String>,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        Ok(self
            .core()?
            .search_articles(&query, locale.as_deref(), limit as usize)?)
    }

    // ---- history ----

    /// Who changed a document, when and how, oldest first (the same order on every replica).
    ///
    /// # Errors
    /// `NotFound`.
    pub fn history(&self, id: String) -> Result<Vec<HistoryEntry>> {
        let entries = self.core()?.history(&self::id(&id)?)?;
        Ok(entries.into_iter().map(HistoryEntry::from).collect())
    }

    /// Fields with concurrent values that no merge policy resolves, for a person to choose.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn conflicts(&self, id: String) -> Result<Vec<Conflict>> {
        Ok(self.core()?.conflicts(&self::id(&id)?)?)
    }

    // ---- health ----

    /// Checks the whole file: SQLite's integrity check, then every document against its
    /// projection rows. One line per problem; empty means healthy. Reads everything.
    ///
    /// # Errors
    /// `Storage`.
    pub fn check_integrity(&self) -> Result<Vec<String>> {
        Ok(self.core()?.check_integrity()?)
    }

    /// Finds card data the store already holds — in any change of any document's history, or
    /// in the raw bytes of its file and WAL — as a store written before redaction covered
    /// everything may. Each finding says where (case number, change, field; or file offset),
    /// never the value. Reads everything.
    ///
    /// # Errors
    /// `Storage`.
    pub fn scan_card_data(&self) -> Result<CardDataScan> {
        Ok(self.core()?.scan_card_data()?.into())
    }

    // ---- merge via change packs ----

    /// Every document with its kind.
    ///
    /// # Errors
    /// `Storage`.
    pub fn documents(&self) -> Result<Vec<DocRef>> {
        let docs = self.core()?.documents()?;
        Ok(docs
            .into_iter()
            .map(|(id, kind)| DocRef { id, kind })
            .collect())
    }

    /// The Automerge heads (hex) of a document: what to pass to another store's
    /// [`Store::changes_since`].
    ///
    /// # Errors
    /// `NotFound`.
    pub fn heads(&self, id: String) -> Result<Vec<String>> {
        let heads = self.core()?.heads(&self::id(&id)?)?;
        Ok(heads.iter().map(ToString::to_string).collect())
    }

    /// Packs the changes of document `id` that are not ancestors of `heads` (all of them when
    /// `heads` is empty), to carry to another store.
    ///
    /// # Errors
    /// `NotFound`; `Invalid` for a malformed head.
    pub fn changes_since(&self, id: String, heads: Vec<String>) -> Result<Vec<u8>> {
        Ok(self
            .core()?
            .changes_since(&self::id(&id)?, &self::heads(&heads)?)?)
    }

    /// Verifies and applies a change pack in one transaction; applying it twice is harmless.
    ///
    /// # Errors
    /// `Rejected`, with nothing stored, for a malformed pack, missing dependencies, an unmasked
    /// card number, or a result that is not a valid document.
    pub fn apply_changes(&self, pack: Vec<u8>) -> Result<Applied> {
        Ok(self.core()?.apply_changes(&pack)?.into())
    }

    /// Merge via change packs: pulls every change `other` has and this store lacks.
    ///
    /// # Errors
    /// The first refused pack's error; packs applied before it stay applied.
    pub fn pull_from(&self, other: Arc<Store>) -> Result<MergeReport> {
        let updated = self.core()?.pull_from(&other.core()?)?;
        Ok(MergeReport {
            documents_updated: updated as u64,
        })
    }

    /// [`Store::pull_from`] without blocking the caller: a `suspend fun` in Kotlin, `async` in
    /// Swift, a coroutine in Python.
    ///
    /// # Errors
    /// As [`Store::pull_from`].
    pub async fn pull_from_async(&self, other: Arc<Store>) -> Result<MergeReport> {
        let (mine, theirs) = (self.core()?, other.core()?);
        let updated = blocking(move || mine.pull_from(&theirs)).await??;
        Ok(MergeReport {
            documents_updated: updated as u64,
        })
    }

    // ---- sync and bundles ----

    /// This site's public key (base58check): give it to the hub or a peer, which provisions
    /// this site with it (`add_peer`). The matching private key lives in the store file, so
    /// protect the file like a key.
    ///
    /// # Errors
    /// `Closed`; `Storage`.
    pub fn public_key(&self) -> Result<String> {
        Ok(self.core()?.public_key()?.to_string())
    }

    /// Provisions (or re-provisions) a peer: its site id, the public key it signs with, and the
    /// scopes it may read and write here (`IN-UPI`, `BR-PIX/case`, `IN-UPI/sop:ro`, `*` for
    /// everything). Changing the key or scopes makes the next sync offer everything again.
    ///
    /// # Errors
    /// `Invalid` for a malformed site, key or scope, no scopes, or this store's own site.
    pub fn add_peer(&self, site: String, public_key: String, scopes: Vec<String>) -> Result<Peer> {
        let key = public_key.parse()?;
        Ok(self
            .core()?
            .add_peer(&site, key, self::scopes(&scopes)?)?
            .into())
    }

    /// Every provisioned peer, by site id.
    ///
    /// # Errors
    /// `Storage`.
    pub fn peers(&self) -> Result<Vec<Peer>> {
        let peers = self.core()?.peers()?;
        Ok(peers.into_iter().map(Peer::from).collect())
    }

    /// Forgets a peer and everything remembered about syncing with it.
    ///
    /// # Errors
    /// `NotFound` when `site` is not provisioned.
    pub fn remove_peer(&self, site: String) -> Result<()> {
        Ok(self.core()?.remove_peer(&site)?)
    }

    /// Writes every change `for_site` is not known to have (within its read scopes) into one
    /// signed bundle file at `path`, for sites with no network: carry the file over and call
    /// [`Store::import_bundle`] there.
    ///
    /// # Errors
    /// `NotFound` when `for_site` is not a provisioned peer; `Storage` when the file cannot be
    /// written.
    pub fn export_bundle(&self, path: String, for_site: String) -> Result<ExportedBundle> {
        sync_io::check_bundle_path(&path)?;
        let bundle = self.core()?.export_bundle(&for_site)?;
        sync_io::write_bundle(&path, &bundle.bytes)?;
        Ok(ExportedBundle::from(&bundle))
    }

    /// Verifies a bundle file from a provisioned peer and applies it. Nothing is applied unless
    /// the whole file checks out; then refused documents are reported while the rest apply.
    /// Importing a bundle twice is harmless.
    ///
    /// # Errors
    /// `Auth` when the signer is not provisioned or the file was tampered with; `SyncFailed`
    /// for a truncated or malformed file or one made for another site — with nothing stored;
    /// `Storage` when the file cannot be read.
    pub fn import_bundle(&self, path: String) -> Result<BundleReport> {
        let bytes = sync_io::read_bundle(&path)?;
        Ok(self.core()?.import_bundle(&bytes)?.into())
    }

    /// Syncs with the hub at `url` (`ws://HOST:PORT`): one authenticated session that sends
    /// what the hub lacks and receives what this site may read, blocking until it ends. The hub
    /// and this store must have provisioned each other (`add_peer`).
    ///
    /// # Errors
    /// `Invalid` for a URL that is not `ws://`; `Network` when the hub cannot be reached or the
    /// connection fails (try again later); `Auth` when either side does not know the other's
    /// key; `SyncRefused` / `SyncFailed` when the hub or this side ended the session.
    pub fn sync_with_hub(&self, url: String) -> Result<SyncReport> {
        Ok(sync_io::sync_with_hub(&self.core()?, &url)?.into())
    }

    /// [`Store::sync_with_hub`] without blocking the caller: a `suspend fun` in Kotlin, `async`
    /// in Swift, a coroutine in Python.
    ///
    /// # Errors
    /// As [`Store::sync_with_hub`].
    pub async fn sync_with_hub_async(&self, url: String) -> Result<SyncReport> {
        let store = self.core()?;
        let report = blocking(move || sync_io::sync_on_this_thread(&store, &url)).await??;
        Ok(report.into())
    }

    // ---- plugins ----

    /// Installs a workflow plugin (a WebAssembly component built for `dossier:workflow@0.1.0`):
    /// reads what it is from the component itself, runs it for `markets` (empty: the markets it
    /// describes), signs it with `publisher_key` (a publisher key's secret text form,
    /// `dossier-publisher-key:...`) or, when `None`, with this site's own key, and stores the
    /// package as a document that syncs like the rest. Installing the same package again
    /// returns it unchanged. It runs here once its publisher is trusted (the site key always is).
    ///
    /// # Errors
    /// `PluginIncompatible` when the bytes are not a plugin component or target an unsupported
    /// API; `PluginFailed` when its `describe` fails; `Invalid` for a bad market, key or
    /// manifest; `PluginSignature`.
    pub fn install_plugin(
        &self,
        wasm: Vec<u8>,
        markets: Vec<String>,
        publisher_key: Option<String>,
    ) -> Result<PluginInfo> {
        plugins::install(&self.core()?, wasm, markets, publisher_key.as_deref())
    }

    /// Every installed plugin, by name then version (newest first), and whether it runs here.
    ///
    /// # Errors
    /// `Storage`.
    pub fn plugins(&self) -> Result<Vec<PluginInfo>> {
        Ok(self.core()?.plugins()?)
    }

    /// Runs plugins signed by the publisher with this public key (base58check) from now on.
    ///
    /// # Errors
    /// `Invalid` for a malformed key.
    pub fn trust_publisher(&self, public_key: String) -> Result<()> {
        Ok(self.core()?.trust_publisher(&public_key.parse()?)?)
    }

    /// Stops running plugins signed by this publisher here.
    ///
    /// # Errors
    /// `Invalid` for a malformed key.
    pub fn untrust_publisher(&self, public_key: String) -> Result<()> {
        Ok(self.core()?.untrust_publisher(&public_key.parse()?)?)
    }

    /// Evaluates the active version of plugin `name` on a case for `trigger` and reports its
    /// actions and whether the store would accept them. Changes nothing.
    ///
    /// # Errors
    /// `NotFound` for an unknown plugin or case; `Invalid` when the plugin is not active here;
    /// `PluginFailed` when it fails.
    pub fn dry_run_plugin(
        &self,
        name: String,
        case_key: String,
        trigger: Trigger,
    ) -> Result<DryRun> {
        Ok(plugins::dry_run(&self.core()?, &name, &case_key, trigger)?.into())
    }

    // ---- notifications ----

    /// Calls `listener` after every committed transaction until the returned subscription is
    /// cancelled (or the store is shut down).
    ///
    /// # Errors
    /// `Closed`.
    pub fn subscribe(
        self: Arc<Self>,
        listener: Box<dyn ChangeListener>,
    ) -> Result<Arc<Subscription>> {
        let id = self.core()?.subscribe(move |notice| {
            let notice = ChangeNotice::from(notice);
            // A listener that throws must not turn a committed write into an error; the
            // `catch_unwind` is for a listener bug uniffi itself cannot convert.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_change(notice)));
        });
        Ok(Arc::new(Subscription {
            store: Arc::downgrade(&self),
            id,
        }))
    }
}

/// A live change subscription; [`Subscription::cancel`] stops it.
#[derive(uniffi::Object)]
pub struct Subscription {
    store: Weak<Store>,
    id: dossier::SubscriptionId,
}

#[uniffi::export]
impl Subscription {
    /// Stops notifications to this subscription's listener. Harmless to call twice, or after the
    /// store was closed.
    pub fn cancel(&self) {
        if let Some(store) = self.store.upgrade()
            && let Ok(core) = store.core()
        {
            core.unsubscribe(self.id);
        }
    }
}
