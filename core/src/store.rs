//! [`Store`]: the handle callers hold — one SQLite file, its documents and their projections.
//!
//! One writer connection behind a mutex serialises writes; readers use their own connections
//! from a small pool, so in WAL mode they are never blocked by the writer. A write loads the
//! documents it touches (from the cache or SQLite), changes them through the redacting `DocTx`, appends the
//! new change chunks, refreshes the projections and commits — all in one IMMEDIATE
//! transaction. Only after the commit are the new documents cached and subscribers told. If
//! anything fails, the in-memory copies are thrown away, so memory never runs ahead of disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, Automerge, ChangeHash, ObjId, ReadDoc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::cache::DocCache;
use crate::doc::{ChangeMeta, DocTx, Reader};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::{projection, schema};

/// The kind of a document, stored in its root `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// A customer complaint ticket.
    Case,
    /// A standard operating procedure (decision tree).
    Sop,
    /// A knowledge article.
    Article,
    /// A signed workflow plugin package.
    Plugin,
}

impl DocKind {
    /// Every kind, in declaration order.
    pub(crate) const ALL: [DocKind; 4] = [
        DocKind::Case,
        DocKind::Sop,
        DocKind::Article,
        DocKind::Plugin,
    ];

    /// The name stored in documents and tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            DocKind::Case => "case",
            DocKind::Sop => "sop",
            DocKind::Article => "article",
            DocKind::Plugin => "plugin",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<DocKind> {
        Some(match s {
            "case" => DocKind::Case,
            "sop" => DocKind::Sop,
            "article" => DocKind::Article,
            "plugin" => DocKind::Plugin,
            _ => return None,
        })
    }
}

/// How durable a commit is (SQLite's `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `NORMAL`: a commit survives a process crash; the last commits may be lost on power loss.
    #[default]
    Normal,
    /// `FULL`: a commit survives power loss too, at the cost of an fsync per commit.
    Full,
}

/// A source of the current time in milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How to open a [`Store`].
#[derive(Clone)]
pub struct StoreOptions {
    /// The site id (e.g. `MX1`): required the first time, checked afterwards.
    pub site: Option<String>,
    /// Who is making changes through this handle; recorded in every change.
    pub author: Option<String>,
    /// Commit durability.
    pub durability: Durability,
    /// Budget of the document cache, in bytes of memory (estimated: a loaded document counts
    /// about 18 times its stored size).
    pub cache_bytes: usize,
    /// The clock; the system clock when `None`. Tests set it to make SLA math repeatable.
    pub clock: Option<Clock>,
    /// An upper bound on the database file's size in bytes (SQLite's `max_page_count`, rounded
    /// down to whole pages, never below the file's current size; the write-ahead log is not
    /// counted). A write that would grow the file past it fails with [`Error::DiskFull`] and
    /// stores nothing, exactly as a full disk does. `None`: only the disk limits it.
    pub max_file_bytes: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            site: None,
            author: None,
            durability: Durability::Normal,
            cache_bytes: 64 << 20,
            clock: None,
            max_file_bytes: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("site", &self.site)
            .field("author", &self.author)
            .field("durability", &self.durability)
            .field("cache_bytes", &self.cache_bytes)
            .field("max_file_bytes", &self.max_file_bytes)
            .finish_non_exhaustive()
    }
}

/// Where a committed change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A write through this store's API.
    Local,
    /// Changes received from another replica.
    Remote,
}

/// What one committed transaction changed: sent to subscribers after the commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangeNotice {
    /// The documents changed, with their kinds.
    pub docs: Vec<(DocId, DocKind)>,
    /// Where the changes came from.
    pub origin: Origin,
}

/// Identifies a subscription, to cancel it with [`Store::unsubscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

type Callback = Arc<dyn Fn(&ChangeNotice) + Send + Sync>;

const READER_POOL: usize = 4;

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    cache: Mutex<DocCache>,
    subscribers: Mutex<Vec<(SubscriptionId, Callback)>>,
    next_subscription: AtomicU64,
    site: String,
    author: String,
    actor: ActorId,
    clock: Clock,
    workflow: Mutex<Option<Arc<dyn crate::plugin::Workflow>>>,
    verified_plugins: Mutex<crate::plugin::VerifiedPackages>,
}

/// A Dossier store: one SQLite file holding cases, SOPs and articles.
///
/// `Store` is cheap to clone (clones share one handle) and is `Send + Sync`: use it from as many
/// threads as you like.
///
/// # Example
/// ```
/// use dossier::{Store, StoreOptions, NewCase, Category};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path().join("site.db"), StoreOptions {
///     site: Some("MX1".into()),
///     ..Default::default()
/// })?;
/// let case = store.create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Money debited but not received"))?;
/// assert_eq!(case.number, "MX1-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("site", &self.inner.site)
            .finish_non_exhaustive()
    }
}

fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Checks a site id: 1–16 ASCII uppercase letters and digits, starting with a letter, because it
/// prefixes every case number this site mints.
pub(crate) fn validate_site(site: &str) -> Result<()> {
    let ok = !site.is_empty()
        && site.len() <= 16
        && site.starts_with(|c: char| c.is_ascii_uppercase())
        && site
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        // A site id prefixes every case number and goes into every change: "A378282246310005"
        // has the right shape and carries an Amex number.
        && !crate::redact::contains_sensitive(site);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "site",
            "use 1-16 uppercase letters and digits, starting with a letter (e.g. MX1), \
             and no card number",
        ))
    }
}

fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(Error::from_sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Corrupt(format!(
            "cannot switch to WAL mode (got {mode})"
        )));
    }
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(Error::from_sqlite)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(Error::from_sqlite)?;
    // Every statement of the write path and the projections is prepared once per connection
    // and reused (`prepare_cached`); rusqlite's default of 16 is fewer than they are.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// Opening reads no documents: it costs the same with ten documents or a million.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file is not a Dossier store; [`Error::SchemaTooNew`];
    /// [`Error::NotInitialized`] when the file has no site id and `options.site` is `None`;
    /// [`Error::SiteMismatch`]; [`Error::Invalid`] for a malformed site id.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(site) = &options.site {
            validate_site(site)?;
        }
        crate::files::secure_store_file(&path)?;
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(Error::from_sqlite)?;
        configure(&conn, options.durability)?;
        schema::migrate(&mut conn)?;
        if let Some(max) = options.max_file_bytes {
            let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages = (max / page_size.max(1)).max(1);
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        }
        let stored: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'site'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(Error::from_sqlite)?;
        let site = match (stored, options.site) {
            (Some(stored), Some(requested)) if stored != requested => {
                return Err(Error::SiteMismatch { stored, requested });
            }
            (Some(stored), _) => stored,
            (None, Some(requested)) => {
                // The site id and its key are claimed together: a process killed here leaves
                // a store with neither, which the next open with a site completes.
                let tx = conn.transaction().map_err(Error::from_sqlite)?;
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('site', ?1)",
                    [&requested],
                )?;
                crate::sync::create_site_key(&tx)?;
                tx.commit().map_err(Error::from_sqlite)?;
                requested
            }
            (None, None) => return Err(Error::NotInitialized),
        };
        // The author goes into every change message and event of this handle: a host that
        // passes a user-typed name must not be able to put a card number there.
        let author = match options.author {
            Some(a) => crate::redact::redact(&a).text,
            None => site.clone(),
        };
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(conn),
                readers: Mutex::new(Vec::new()),
                cache: Mutex::new(DocCache::new(options.cache_bytes)),
                subscribers: Mutex::new(Vec::new()),
                next_subscription: AtomicU64::new(1),
                site,
                author,
                // A fresh actor per handle: two handles on one file (or a file copied to another
                // machine) must never mint changes with the same actor and sequence number.
                actor: ActorId::random(),
                clock: options.clock.unwrap_or_else(|| Arc::new(system_clock)),
                workflow: Mutex::new(None),
                verified_plugins: Mutex::default(),
            }),
        })
    }

    /// The site id of this store.
    pub fn site(&self) -> &str {
        &self.inner.site
    }

    /// The author recorded in changes made through this handle.
    pub fn author(&self) -> &str {
        &self.inner.author
    }

    /// The path of the SQLite file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The store's current time in milliseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// Calls `callback` after every committed transaction with the documents it changed, whether
    /// the change was local or received from another replica. The callback runs on the thread
    /// that wrote, after the commit and with no lock held; keep it short.
    pub fn subscribe(
        &self,
        callback: impl Fn(&ChangeNotice) + Send + Sync + 'static,
    ) -> SubscriptionId {
        let id = SubscriptionId(self.inner.next_subscription.fetch_add(1, Ordering::Relaxed));
        lock(&self.inner.subscribers).push((id, Arc::new(callback)));
        id
    }

    /// Stops a subscription. Unknown ids are ignored.
    pub fn unsubscribe(&self, id: SubscriptionId) {
        lock(&self.inner.subscribers).retain(|(s, _)| *s != id);
    }

    fn notify(&self, notice: ChangeNotice) {
        if notice.docs.is_empty() {
            return;
        }
        let subs: Vec<Callback> = lock(&self.inner.subscribers)
            .iter()
            .map(|(_, c)| Arc::clone(c))
            .collect();
        for s in subs {
            s(&notice);
        }
    }

    /// Runs `f` on a pooled read connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.inner.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(Error::from_sqlite)?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = lock(&self.inner.readers);
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        out
    }

    /// Loads a document for reading, from the cache or from SQLite.
    ///
    /// The cached copy is used only if its stamp still matches the file, so writes made through
    /// another handle or another process are always seen.
    pub(crate) fn load(&self, id: &DocId) -> Result<(Arc<Automerge>, DocKind)> {
        let cached = lock(&self.inner.cache).get(id);
        let (doc, stamp, cost) = self.read(|c| {
            let tx = c.unchecked_transaction().map_err(Error::from_sqlite)?;
            let (stamp, _) =
                doc_stamp(&tx, id)?.ok_or_else(|| Error::not_found("document", id.to_string()))?;
            if let Some((doc, cached_stamp)) = &cached
                && *cached_stamp == stamp
            {
                return Ok((Arc::clone(doc), None, 0));
            }
            let (doc, _, cost) = load_doc(&tx, id)?;
            Ok((Arc::new(doc), Some(stamp), cost))
        })?;
        if let Some(stamp) = stamp {
            lock(&self.inner.cache).put(*id, Arc::clone(&doc), cost, stamp);
        }
        let kind = kind_of(&doc).ok_or_else(|| doc_error(id, "missing kind"))?;
        Ok((doc, kind))
    }

    /// Loads a document that must be of `kind`.
    pub(crate) fn load_kind(&self, id: &DocId, kind: DocKind) -> Result<Arc<Automerge>> {
        let (doc, actual) = self.load(id)?;
        if actual != kind {
            return Err(Error::WrongKind {
                id: *id,
                expected: kind.as_str(),
                actual: actual.as_str().into(),
            });
        }
        Ok(doc)
    }

    /// Runs `f` as one transaction: every document it touches, every change it appends and every
    /// projection it refreshes commit together or not at all.
    pub(crate) fn write<T>(
        &self,
        op: &str,
        origin: Origin,
        f: impl FnOnce(&mut Write<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_with_views(op, origin, f).map(|(out, _)| out)
    }

    /// [`Store::write`], also returning the views the projection refresh materialized for the
    /// documents the write changed — the merged view a caller returns, without reading the
    /// document again.
    pub(crate) fn write_with_views<T>(
        &self,
        op: &str,
        origin: Origin,
        f: impl FnOnce(&mut Write<'_>) -> Result<T>,
    ) -> Result<(T, Views)> {
        let (out, touched, views) = {
            let mut conn = lock(&self.inner.writer);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(Error::from_sqlite)?;
            let mut w = Write {
                store: self,
                tx: &tx,
                docs: HashMap::new(),
                order: Vec::new(),
                keep_projection: Vec::new(),
                op: op.to_string(),
                now: self.now(),
                views: Views::default(),
            };
            let result = f(&mut w).and_then(|out| w.persist().map(|()| out));
            let views = std::mem::take(&mut w.views);
            let docs = std::mem::take(&mut w.docs);
            let order = std::mem::take(&mut w.order);
            let result = result.and_then(|out| {
                tx.commit().map_err(Error::from_sqlite)?;
                Ok(out)
            });
            let mut cache = lock(&self.inner.cache);
            match result {
                Ok(out) => {
                    let mut touched = Vec::new();
                    for id in order {
                        if let Some(d) = docs.get(&id)
                            && d.dirty
                        {
                            touched.push((id, d.kind));
                        }
                    }
                    for (id, d) in docs {
                        cache.put(id, Arc::new(d.doc), d.cost, d.stamp);
                    }
                    (out, touched, views)
                }
                Err(e) => {
                    for id in docs.keys() {
                        cache.forget(id);
                    }
                    return Err(e);
                }
            }
        };
        self.notify(ChangeNotice {
            docs: touched,
            origin,
        });
        Ok((out, views))
    }

    /// Where the plugin host lives ([`Store::set_workflow`]).
    pub(crate) fn workflow_slot(&self) -> &Mutex<Option<Arc<dyn crate::plugin::Workflow>>> {
        &self.inner.workflow
    }

    /// Plugin packages whose signature this handle has verified ([`Store::active_plugins`]).
    pub(crate) fn verified_plugins(&self) -> MutexGuard<'_, crate::plugin::VerifiedPackages> {
        lock(&self.inner.verified_plugins)
    }

    pub(crate) fn meta(&self, op: &str, at: i64) -> ChangeMeta {
        ChangeMeta {
            site: self.inner.site.clone(),
            author: self.inner.author.clone(),
            op: op.to_string(),
            at,
        }
    }

    /// The Automerge heads of a document.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id.
    pub fn heads(&self, id: &DocId) -> Result<Vec<ChangeHash>> {
        Ok(self.load(id)?.0.get_heads())
    }

    /// The kind of a stored document.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id.
    pub fn kind(&self, id: &DocId) -> Result<DocKind> {
        Ok(self.load(id)?.1)
    }

    /// Every document id with its kind, in id (creation-time) order.
    pub fn documents(&self) -> Result<Vec<(DocId, DocKind)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, kind FROM docs ORDER BY id")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, kind) = row?;
                let id: DocId = id.parse()?;
                let kind = DocKind::parse(&kind).ok_or_else(|| doc_error(&id, "unknown kind"))?;
                out.push((id, kind));
            }
            Ok(out)
        })
    }

    /// Checks the whole file: SQLite's `integrity_check`, then that every document loads and its
    /// projection rows equal what the document says. Returns one line per problem; empty means
    /// healthy. This reads everything, so it is for tools and tests, not for every open.
    pub fn check_integrity(&self) -> Result<Vec<String>> {
        let mut problems = self.read(|c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                let r = r?;
                if r != "ok" {
                    out.push(r);
                }
            }
            Ok(out)
        })?;
        let docs = match self.documents() {
            Ok(d) => d,
            Err(e) => {
                problems.push(e.to_string());
                return Ok(problems);
            }
        };
        let mut conn = lock(&self.inner.writer);
        let tx = conn.transaction().map_err(Error::from_sqlite)?;
        for (id, _) in docs {
            match load_doc(&tx, &id) {
                Ok((doc, kind, _)) => {
                    if let Err(e) = projection::verify(&crate::PROJECTORS, &tx, &id, kind, &doc) {
                        problems.push(format!("{id}: {e}"));
                    }
                }
                Err(e) => problems.push(format!("{id}: {e}")),
            }
        }
        tx.rollback()?;
        Ok(problems)
    }
}

/// A document held by a write in progress.
pub(crate) struct Held {
    pub doc: Automerge,
    pub kind: DocKind,
    cost: usize,
    /// The document's `docs.change_seq` that this copy matches.
    stamp: i64,
    /// Heads when the write first loaded it (empty for a new document).
    base: Vec<ChangeHash>,
    is_new: bool,
    dirty: bool,
}

/// A transaction in progress; see [`Store::write`].
pub(crate) struct Write<'s> {
    store: &'s Store,
    pub tx: &'s rusqlite::Transaction<'s>,
    docs: HashMap<DocId, Held>,
    order: Vec<DocId>,
    /// Documents whose projection rows this write cannot change (see `keep_projection`).
    keep_projection: Vec<DocId>,
    pub op: String,
    pub now: i64,
    views: Views,
}

/// The views a write's projection refresh materialized, by document ([`Store::write_with_views`]).
#[derive(Default)]
pub(crate) struct Views(HashMap<DocId, Box<dyn std::any::Any + Send>>);

impl Views {
    /// The view of `id`, if the write changed it and its projector made a view of type `V`.
    pub fn take<V: 'static>(&mut self, id: &DocId) -> Option<V> {
        let view = self.0.remove(id)?;
        view.downcast::<V>().ok().map(|v| *v)
    }
}

impl<'s> Write<'s> {
    pub fn store(&self) -> &Store {
        self.store
    }

    fn hold(&mut self, id: &DocId) -> Result<&mut Held> {
        if !self.docs.contains_key(id) {
            let cached = lock(&self.store.inner.cache).take(id);
            let (stamp, cost) = doc_stamp(self.tx, id)?
                .ok_or_else(|| Error::not_found("document", id.to_string()))?;
            let (doc, kind, cost) = match cached {
                // Only a copy that matches the file: another handle may have written since.
                Some((arc, cached_stamp)) if cached_stamp == stamp => {
                    let doc = Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone());
                    let kind = kind_of(&doc).ok_or_else(|| doc_error(id, "missing kind"))?;
                    (doc, kind, cost)
                }
                _ => load_doc(self.tx, id)?,
            };
            let doc = doc.with_actor(self.store.inner.actor.clone());
            let base = doc.get_heads();
            self.order.push(*id);
            self.docs.insert(
                *id,
                Held {
                    doc,
                    kind,
                    cost,
                    stamp,
                    base,
                    is_new: false,
                    dirty: false,
                },
            );
        }
        self.docs
            .get_mut(id)
            .ok_or_else(|| Error::not_found("document", id.to_string()))
    }

    /// A document of `kind`, read-only, as this transaction sees it.
    pub fn get(&mut self, id: &DocId, kind: DocKind) -> Result<&Automerge> {
        let held = self.hold(id)?;
        if held.kind != kind {
            return Err(Error::WrongKind {
                id: *id,
                expected: kind.as_str(),
                actual: held.kind.as_str().into(),
            });
        }
        Ok(&held.doc)
    }

    /// Changes an existing document of `kind` through `f`, as one Automerge change.
    pub fn edit<T>(
        &mut self,
        id: &DocId,
        kind: DocKind,
        f: impl FnOnce(&mut DocTx<'_>) -> Result<T>,
    ) -> Result<T> {
        let meta = self.store.meta(&self.op, self.now);
        self.get(id, kind)?;
        let held = self.hold(id)?;
        let mut dt = DocTx::new(&mut held.doc, meta);
        let out = f(&mut dt)?;
        if dt.commit()?.is_some() {
            held.dirty = true;
        }
        Ok(out)
    }

    /// Creates a new document of `kind`, with `kind`, `schema` and `created_at` set, then `f`.
    pub fn create<T>(
        &mut self,
        kind: DocKind,
        schema_version: i64,
        f: impl FnOnce(&mut DocTx<'_>, &DocId) -> Result<T>,
    ) -> Result<(DocId, T)> {
        let id = DocId::new();
        let mut doc = Automerge::new().with_actor(self.store.inner.actor.clone());
        let meta = self.store.meta(&self.op, self.now);
        let now = self.now;
        let mut dt = DocTx::new(&mut doc, meta);
        dt.put(&ObjId::Root, "kind", kind.as_str())?;
        dt.put(&ObjId::Root, "schema", schema_version)?;
        dt.put(&ObjId::Root, "created_at", now)?;
        let out = f(&mut dt, &id)?;
        dt.commit()?;
        self.order.push(id);
        self.docs.insert(
            id,
            Held {
                doc,
                kind,
                cost: 0,
                stamp: 0,
                base: Vec::new(),
                is_new: true,
                dirty: true,
            },
        );
        Ok((id, out))
    }

    /// Applies change chunks received from another replica to document `id` (created if new).
    /// Returns how many changes were new.
    pub fn apply_remote(&mut self, id: &DocId, changes: Vec<automerge::Change>) -> Result<usize> {
        let exists: bool = self.docs.contains_key(id)
            || self
                .tx
                .query_row("SELECT 1 FROM docs WHERE id = ?1", [id.to_string()], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
        if !exists {
            self.order.push(*id);
            self.docs.insert(
                *id,
                Held {
                    doc: Automerge::new().with_actor(self.store.inner.actor.clone()),
                    kind: DocKind::Case,
                    cost: 0,
                    stamp: 0,
                    base: Vec::new(),
                    is_new: true,
                    dirty: false,
                },
            );
        }
        let held = self.hold(id)?;
        let before = held.doc.get_heads();
        let refuse = |reason: String| Error::Rejected {
            doc: id.to_string(),
            reason,
        };
        crate::incoming::check_changes(&held.doc, &changes).map_err(refuse)?;
        // A panic here leaves `held.doc` half-applied; the error drops it with the transaction.
        crate::incoming::contain(|| held.doc.apply_changes(changes)).map_err(refuse)??;
        if !held.doc.get_missing_deps(&[]).is_empty() {
            return Err(Error::Rejected {
                doc: id.to_string(),
                reason: "changes depend on changes this store does not have".into(),
            });
        }
        let added = held.doc.get_changes(&before).len();
        match kind_of(&held.doc) {
            Some(kind) if held.is_new || kind == held.kind => held.kind = kind,
            Some(_) => {
                return Err(Error::Rejected {
                    doc: id.to_string(),
                    reason: "changes alter the document's kind".into(),
                });
            }
            None => {
                return Err(Error::Rejected {
                    doc: id.to_string(),
                    reason: "the document has no valid kind".into(),
                });
            }
        }
        if added > 0 {
            held.dirty = true;
        }
        Ok(added)
    }

    /// A document held by this write, with its kind.
    pub fn held(&self, id: &DocId) -> Result<(&Automerge, DocKind)> {
        self.docs
            .get(id)
            .map(|h| (&h.doc, h.kind))
            .ok_or_else(|| Error::not_found("document", id.to_string()))
    }

    /// Writes every changed document's new change chunks and refreshes its projection.
    ///
    /// Change chunks are stored as automerge encodes them, uncompressed, and snapshots are
    /// deflated only when large (see [`snapshot_bytes`]): zlib's setup alone costs about
    /// 0.4 M instructions a call, more than a whole small change costs to write.
    fn persist(&mut self) -> Result<()> {
        for id in self.order.clone() {
            let Some(held) = self.docs.get_mut(&id) else {
                continue;
            };
            if !held.dirty {
                continue;
            }
            let key = id.to_string();
            if held.is_new {
                let snapshot = snapshot_bytes(&held.doc, 0);
                let heads = encode_heads(&held.doc.get_heads());
                self.tx
                    .prepare_cached(
                        "INSERT INTO docs(id, kind, snapshot, snapshot_heads, snapshot_len, \
                         pending_len, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)",
                    )?
                    .execute(params![
                        key,
                        held.kind.as_str(),
                        snapshot,
                        heads,
                        snapshot.len() as i64,
                        self.now
                    ])?;
                held.cost = snapshot.len();
                held.is_new = false;
            } else {
                let mut added = 0usize;
                {
                    let mut insert = self.tx.prepare_cached(
                        "INSERT OR IGNORE INTO changes(doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
                    )?;
                    for change in held.doc.get_changes(&held.base) {
                        let bytes = change.raw_bytes();
                        added += insert.execute(params![key, change.hash().0.as_slice(), bytes])?
                            * bytes.len();
                    }
                }
                let (snapshot_len, pending_len): (i64, i64) = self
                    .tx
                    .prepare_cached(
                        "UPDATE docs SET pending_len = pending_len + ?2, updated_at = ?3 \
                         WHERE id = ?1 RETURNING snapshot_len, pending_len",
                    )?
                    .query_row(params![key, added as i64, self.now], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                // automerge-repo's rule: once the pending changes weigh as much as the snapshot,
                // fold them into a new snapshot, so loading stays one decode plus a short replay.
                if pending_len >= snapshot_len {
                    let snapshot = snapshot_bytes(&held.doc, (snapshot_len + pending_len) as usize);
                    let heads = encode_heads(&held.doc.get_heads());
                    self.tx
                        .prepare_cached(
                            "UPDATE docs SET snapshot = ?2, snapshot_heads = ?3, \
                             snapshot_len = ?4, pending_len = 0 WHERE id = ?1",
                        )?
                        .execute(params![key, snapshot, heads, snapshot.len() as i64])?;
                    self.tx
                        .prepare_cached("DELETE FROM changes WHERE doc_id = ?1")?
                        .execute([&key])?;
                    held.cost = snapshot.len();
                } else {
                    held.cost = (snapshot_len + pending_len) as usize;
                }
            }
            let change_seq = next_seq_in(self.tx, "doc_change")?;
            self.tx
                .prepare_cached("UPDATE docs SET change_seq = ?2 WHERE id = ?1")?
                .execute(params![key, change_seq])?;
            held.stamp = change_seq;
            held.base = held.doc.get_heads();
            if self.keep_projection.contains(&id) {
                projection::touch(&crate::PROJECTORS, self.tx, &id, held.kind, self.now)?;
            } else if let Some(view) = projection::refresh(
                &crate::PROJECTORS,
                self.tx,
                &id,
                held.kind,
                &held.doc,
                self.now,
            )? {
                self.views.0.insert(id, view);
            }
        }
        Ok(())
    }

    /// Tells `persist` that this write leaves `id`'s projection rows as they are but for
    /// `updated_at`, so it does not materialize the document (a text splice: one keystroke).
    /// The caller is responsible for that being true; `check_integrity` would catch a lie.
    pub fn keep_projection(&mut self, id: &DocId) {
        self.keep_projection.push(*id);
    }

    /// The next number in a per-store sequence (case numbers).
    pub fn next_seq(&mut self, name: &str) -> Result<i64> {
        next_seq_in(self.tx, name)
    }
}

/// Advances and returns the per-store sequence `name`.
fn next_seq_in(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<i64> {
    let n: i64 = tx
        .prepare_cached(
            "INSERT INTO meta(key, value) VALUES (?1, '1') \
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 \
             RETURNING CAST(value AS INTEGER)",
        )?
        .query_row([format!("seq.{name}")], |r| r.get(0))?;
    Ok(n)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread while holding the lock leaves data we only ever replace whole
    // (caches, pools, subscriber lists), so the poison carries no broken invariant.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn doc_error(id: &DocId, reason: &str) -> Error {
    Error::Document {
        id: id.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn kind_of(doc: &Automerge) -> Option<DocKind> {
    Reader::new(doc, None)
        .str(&ObjId::Root, "kind")
        .and_then(|k| DocKind::parse(&k))
}

/// Below this size a snapshot is stored as automerge encodes it; above it, its columns are
/// deflated. Measured on cases (`cargo xtask floor`): deflating a 2 KB case costs more
/// instructions than the rest of its write, for about a third of its bytes.
const DEFLATE_SNAPSHOTS_FROM: usize = 64 << 10;

/// A document's snapshot: uncompressed while the document is small (`stored` is what it weighs
/// in the file now, 0 for a new one).
fn snapshot_bytes(doc: &Automerge, stored: usize) -> Vec<u8> {
    if stored < DEFLATE_SNAPSHOTS_FROM {
        let raw = doc.save_nocompress();
        if raw.len() < DEFLATE_SNAPSHOTS_FROM {
            return raw;
        }
    }
    doc.save()
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// A document's stamp (`change_seq`) and stored size, or `None` if it does not exist.
fn doc_stamp(c: &Connection, id: &DocId) -> Result<Option<(i64, usize)>> {
    let row: Option<(i64, i64)> = c
        .prepare_cached("SELECT change_seq, snapshot_len + pending_len FROM docs WHERE id = ?1")?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(Error::from_sqlite)?;
    Ok(row.map(|(stamp, cost)| (stamp, cost as usize)))
}

/// Loads a document: its snapshot, then every change chunk stored after it.
pub(crate) fn load_doc(c: &Connection, id: &DocId) -> Result<(Automerge, DocKind, usize)> {
    let key = id.to_string();
    let row: Option<(Vec<u8>, String)> = c
        .prepare_cached("SELECT snapshot, kind FROM docs WHERE id = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(Error::from_sqlite)?;
    let Some((snapshot, kind)) = row else {
        return Err(Error::not_found("document", key));
    };
    let mut cost = snapshot.len();
    let mut doc = crate::incoming::contain(|| Automerge::load(&snapshot))
        .map_err(|e| doc_error(id, &e))?
        .map_err(|e| doc_error(id, &e.to_string()))?;
    // Every change stored after the snapshot goes to automerge in one call: applied one by
    // one, each call re-indexes the whole document (70–110 ms per change on an SOP with a
    // 100,000-character text, against 0.4 s for 600 changes at once — see BENCHMARKS.md).
    let mut pending = Vec::new();
    let mut stmt = c.prepare_cached("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([&key])?;
    while let Some(row) = rows.next()? {
        let bytes = row.get_ref(0)?;
        pending.extend_from_slice(bytes.as_blob().map_err(|e| doc_error(id, &e.to_string()))?);
    }
    if !pending.is_empty() {
        cost += pending.len();
        crate::incoming::contain(|| doc.load_incremental(&pending))
            .map_err(|e| doc_error(id, &e))?
            .map_err(|e| doc_error(id, &e.to_string()))?;
    }
    let kind = DocKind::parse(&kind).ok_or_else(|| doc_error(id, "unknown kind"))?;
    Ok((doc, kind, cost))
}
