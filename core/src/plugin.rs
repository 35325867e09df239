//! Workflow plugins as the store sees them: signed packages kept as documents, the publishers a
//! site trusts, the actions a plugin may ask for, and the hook through which a plugin host runs
//! them on a case's triggers.
//!
//! The store never runs WebAssembly itself (`dossier` does not depend on wasmtime). A host such as
//! `dossier-plugins` implements [`Workflow`]; once it is installed with [`Store::set_workflow`],
//! the store calls it when a case is created or updated, when its status changes and before it is
//! solved, then validates the actions each plugin returned and applies them (see [`actions`]).
//!
//! # Packages and trust
//!
//! A [`PluginPackage`] is a manifest, the component's bytes and an ed25519 signature by a
//! publisher key over both (the manifest as canonical JSON and the SHA-256 of the bytes). It is
//! stored as a `plugin` document, so it travels by the same sync as cases, scoped by market like
//! everything else. A site runs a plugin only when its signature verifies **and** its publisher
//! is one the site trusts ([`Store::trust_publisher`]); its own site key is always trusted. A
//! package whose bytes or manifest were changed after signing fails verification everywhere.

pub mod actions;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use automerge::{ChangeHash, ObjId, ReadDoc, ScalarValue, Value};
use ed25519_dalek::SigningKey;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::case::{Case, Status, check_market};
use crate::doc::Reader;
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{DocKind, Origin, Store};
use crate::sync::PublicKey;

pub use actions::Action;

/// The WIT API version (`dossier:workflow@0.1.0`) this build's packages are written for.
pub const API_VERSION: &str = "0.1.0";

/// Largest component accepted in a package (bytes).
pub const MAX_WASM_BYTES: usize = 16 * 1024 * 1024;

const PLUGIN_SCHEMA: i64 = 1;
const SIGNING_CONTEXT: &[u8] = b"dossier-plugin-package-v1\n";

macro_rules! triggers {
    ($($(#[$m:meta])* $v:ident = $s:literal),+ $(,)?) => {
        /// Why a plugin is called.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Trigger { $($(#[$m])* $v),+ }

        impl Trigger {
            /// Every trigger, in the order hosts document them.
            pub const ALL: &'static [Trigger] = &[$(Trigger::$v),+];

            /// The WIT name, e.g. `before-solve`.
            pub fn as_str(&self) -> &'static str {
                match self { $(Trigger::$v => $s),+ }
            }
        }

        impl FromStr for Trigger {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                    $($s => Ok(Trigger::$v),)+
                    _ => Err(Error::invalid("trigger", format!(
                        "unknown trigger (expected one of: {})", [$($s),+].join(", ")))),
                }
            }
        }
    };
}

triggers!(
    /// A case was just opened.
    CaseCreated = "case-created",
    /// A case changed.
    CaseUpdated = "case-updated",
    /// A case's status changed.
    StatusChanged = "status-changed",
    /// A case is about to be solved; a plugin may refuse.
    BeforeSolve = "before-solve",
    /// A periodic SLA check.
    SlaCheck = "sla-check",
);

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a package says about its plugin. Everything here is covered by the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// Plugin name: lowercase ASCII letters, digits and `-`.
    pub name: String,
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// The WIT API version the component was built against, e.g. `0.1.0`.
    pub api: String,
    /// Markets it runs for, e.g. `IN-UPI`.
    pub markets: Vec<String>,
    /// Triggers it is called on.
    pub triggers: Vec<Trigger>,
    /// One line for people.
    pub description: String,
    /// Read-only reference tables served to the plugin through `lookup(table, key)`.
    #[serde(default)]
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
}

impl PluginManifest {
    /// Checks names, versions, markets and sizes.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad part.
    pub fn validate(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(Error::invalid(
                "plugin name",
                "use 1-64 lowercase ASCII letters, digits and '-', starting with a letter",
            ));
        }
        parse_version(&self.version)
            .ok_or_else(|| Error::invalid("plugin version", "expected MAJOR.MINOR.PATCH"))?;
        parse_version(&self.api)
            .ok_or_else(|| Error::invalid("plugin api", "expected MAJOR.MINOR.PATCH"))?;
        if self.markets.is_empty() {
            return Err(Error::invalid("plugin markets", "name at least one market"));
        }
        for m in &self.markets {
            check_market(m)?;
        }
        if self.triggers.is_empty() {
            return Err(Error::invalid(
                "plugin triggers",
                "name at least one trigger",
            ));
        }
        if self.description.chars().count() > 500 {
            return Err(Error::invalid(
                "plugin description",
                "longer than 500 characters",
            ));
        }
        let mut entries = 0usize;
        for (table, rows) in &self.tables {
            crate::case::check_token("table name", table)?;
            entries += rows.len();
            for (k, v) in rows {
                if k.len() > 200 || v.len() > 2_000 {
                    return Err(Error::invalid(
                        format!("table {table}"),
                        "keys are at most 200 bytes and values 2000",
                    ));
                }
            }
        }
        if entries > 100_000 {
            return Err(Error::invalid("plugin tables", "more than 100000 entries"));
        }
        Ok(())
    }
}

/// `MAJOR.MINOR.PATCH` as numbers.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.');
    let mut next = || -> Option<u64> {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let out = (next()?, next()?, next()?);
    parts.next().is_none().then_some(out)
}

/// A signed plugin: manifest, component bytes, publisher and signature.
#[derive(Clone, PartialEq, Eq)]
pub struct PluginPackage {
    /// What the plugin is.
    pub manifest: PluginManifest,
    /// The WebAssembly component.
    pub wasm: Vec<u8>,
    /// Who signed it.
    pub publisher: PublicKey,
    /// ed25519 over the signing context, the SHA-256 of `wasm` and the manifest's JSON.
    pub signature: [u8; 64],
}

impl fmt::Debug for PluginPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginPackage")
            .field("manifest", &self.manifest)
            .field("wasm_bytes", &self.wasm.len())
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

fn signed_message(manifest: &PluginManifest, sha256: &[u8; 32]) -> Result<Vec<u8>> {
    let mut msg = SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(sha256);
    serde_json::to_writer(&mut msg, manifest)
        .map_err(|e| Error::invalid("plugin manifest", e.to_string()))?;
    Ok(msg)
}

impl PluginPackage {
    /// Signs `manifest` and `wasm` with `key`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad manifest or a component over [`MAX_WASM_BYTES`].
    pub fn sign(manifest: PluginManifest, wasm: Vec<u8>, key: &PublisherKey) -> Result<Self> {
        manifest.validate()?;
        check_wasm(&wasm)?;
        let msg = signed_message(&manifest, &sha256(&wasm))?;
        Ok(PluginPackage {
            manifest,
            wasm,
            publisher: key.public_key(),
            signature: crate::sync::keys::sign(&key.0, &msg),
        })
    }

    /// SHA-256 of the component, lowercase hex.
    pub fn sha256(&self) -> String {
        hex(&sha256(&self.wasm))
    }

    /// Whether the signature is the publisher's, over exactly this manifest and these bytes.
    pub fn verify(&self) -> bool {
        self.manifest.validate().is_ok()
            && signed_message(&self.manifest, &sha256(&self.wasm))
                .is_ok_and(|msg| self.publisher.verify(&msg, &self.signature))
    }
}

/// Packages whose signature verified, by document and the heads they were read at.
#[derive(Default)]
pub(crate) struct VerifiedPackages(HashMap<DocId, (Vec<ChangeHash>, PluginPackage)>);

impl VerifiedPackages {
    fn get(&self, id: &DocId, heads: &[ChangeHash]) -> Option<PluginPackage> {
        self.0
            .get(id)
            .filter(|(at, _)| at.as_slice() == heads)
            .map(|(_, package)| package.clone())
    }

    fn insert(&mut self, id: DocId, heads: Vec<ChangeHash>, package: PluginPackage) {
        self.0.insert(id, (heads, package));
    }
}

fn check_wasm(wasm: &[u8]) -> Result<()> {
    if wasm.len() > MAX_WASM_BYTES {
        return Err(Error::invalid(
            "plugin wasm",
            format!("larger than {MAX_WASM_BYTES} bytes"),
        ));
    }
    if !wasm.starts_with(b"\0asm") {
        return Err(Error::invalid("plugin wasm", "not a WebAssembly binary"));
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A publisher's ed25519 signing key, for signing plugin packages.
///
/// Its text form (`dossier-publisher-key:` + base58check of the 32-byte seed) is a secret: keep
/// it out of repositories and logs.
#[derive(Clone)]
pub struct PublisherKey(SigningKey);

impl PublisherKey {
    /// A new random key from the operating system's generator.
    ///
    /// # Errors
    /// [`Error::Io`] when the system has no randomness.
    pub fn generate() -> Result<Self> {
        Ok(PublisherKey(SigningKey::from_bytes(
            &crate::sync::keys::random::<32>()?,
        )))
    }

    /// The public half, to give to sites (`dossier plugin trust`).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(self.0.verifying_key().to_bytes())
    }

    /// The secret text form.
    pub fn to_secret_string(&self) -> String {
        format!(
            "{KEY_PREFIX}{}",
            bs58::encode(self.0.to_bytes()).with_check().into_string()
        )
    }
}

const KEY_PREFIX: &str = "dossier-publisher-key:";

impl FromStr for PublisherKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("publisher key", "not a dossier publisher key file");
        let body = s.trim().strip_prefix(KEY_PREFIX).ok_or_else(bad)?;
        let seed: [u8; 32] = bs58::decode(body)
            .with_check(None)
            .into_vec()
            .map_err(|_| bad())?
            .try_into()
            .map_err(|_| bad())?;
        Ok(PublisherKey(SigningKey::from_bytes(&seed)))
    }
}

impl fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherKey(public: {})", self.public_key())
    }
}

/// A plugin by name and version, as events and reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PluginRef {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// An installed plugin, from the `plugins` projection (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// The plugin document.
    pub id: DocId,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// WIT API version.
    pub api: String,
    /// Markets.
    pub markets: Vec<String>,
    /// Triggers.
    pub triggers: Vec<Trigger>,
    /// Description.
    pub description: String,
    /// SHA-256 of the component.
    pub sha256: String,
    /// The publisher's public key.
    pub publisher: String,
    /// Whether the signature verifies over the stored manifest and bytes.
    pub signature_ok: bool,
    /// Whether this site trusts the publisher.
    pub trusted: bool,
    /// Whether it runs here: signature good, publisher trusted, and the highest such version of
    /// its name.
    pub active: bool,
}

/// What a plugin host is asked to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct TriggerContext<'a> {
    /// The trigger.
    pub trigger: Trigger,
    /// The case as it is now (after the change that fired the trigger).
    pub case: &'a Case,
    /// For [`Trigger::StatusChanged`], the status before.
    pub previous_status: Option<Status>,
    /// The store's clock, in epoch milliseconds (plugins have no clock of their own).
    pub now: i64,
}

/// What kind of failure a plugin had, decided by the host from typed traps and its own limit
/// bookkeeping (never from error text), so the store, reports and tests can tell a plugin that
/// ran out of fuel from one that trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PluginFailureKind {
    /// It used up its fuel (instruction budget) for one call.
    OutOfFuel,
    /// It ran past its wall-clock deadline.
    Timeout,
    /// It tried to grow its memory past the limit.
    MemoryLimit,
    /// It trapped (a panic, `unreachable`, a stack overflow, an out-of-bounds access) or
    /// returned something the host could not read.
    Trap,
    /// It returned an error of its own.
    Guest,
    /// Its answer was larger than the host accepts.
    OutputTooLarge,
    /// It asked for an action the case does not allow (found by the host or by the store).
    InvalidAction,
    /// It cannot run here: not a component, an unsupported API version, no wasm engine.
    Incompatible,
    /// The host or the store failed around it (storage, a missing or unsigned package).
    Host,
}

impl PluginFailureKind {
    /// The stored name (`out_of_fuel`, `timeout`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OutOfFuel => "out_of_fuel",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory_limit",
            Self::Trap => "trap",
            Self::Guest => "guest",
            Self::OutputTooLarge => "output_too_large",
            Self::InvalidAction => "invalid_action",
            Self::Incompatible => "incompatible",
            Self::Host => "host",
        }
    }
}

impl std::fmt::Display for PluginFailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one plugin evaluation failed: its kind, and a message for people (the store redacts it
/// before it stores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginFailure {
    /// What kind of failure.
    pub kind: PluginFailureKind,
    /// What happened, in words (a trap's includes what the plugin wrote to stderr).
    pub detail: String,
}

impl std::fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// One plugin's answer for one case.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Which plugin answered.
    pub plugin: PluginRef,
    /// Its actions, or why it failed.
    pub outcome: std::result::Result<Vec<Action>, PluginFailure>,
    /// What the plugin logged during the call, one line each. Kept (redacted, and cut to
    /// [`actions::MAX_FAILURE_LOG_LINES`] lines) in the `plugin_failed` event when the
    /// evaluation fails, so the failure can be understood; dropped otherwise.
    pub logs: Vec<String>,
}

/// Runs plugins. `dossier-plugins` implements this on wasmtime.
pub trait Workflow: Send + Sync {
    /// Evaluates, in a defined order, every active plugin for the case's market that declares
    /// `ctx.trigger`. Must not panic; a plugin that fails is an `Err` outcome.
    fn evaluate(&self, store: &Store, ctx: &TriggerContext<'_>) -> Vec<Evaluation>;
}

/// What happened to one plugin's evaluation of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// Its actions were applied as one change.
    Applied {
        /// How many actions.
        actions: usize,
    },
    /// It asked for nothing.
    NoActions,
    /// It refused a solve (before-solve only).
    RefusedSolve {
        /// Why.
        reason: String,
    },
    /// It failed or asked for something invalid; nothing of it was applied, and the failure is
    /// an event on the case.
    Failed {
        /// What kind of failure (also the `failure` key of the `plugin_failed` event).
        kind: PluginFailureKind,
        /// Why.
        reason: String,
    },
}

/// One plugin run, as reported by [`Store::run_plugins`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRun {
    /// The plugin.
    pub plugin: PluginRef,
    /// The trigger.
    pub trigger: Trigger,
    /// What happened.
    pub outcome: RunOutcome,
}

impl Store {
    /// Installs the plugin host the store calls on case triggers (replacing any earlier one).
    pub fn set_workflow(&self, workflow: Arc<dyn Workflow>) {
        *crate::store::lock(self.workflow_slot()) = Some(workflow);
    }

    /// Removes the plugin host: triggers run no plugins until one is set again.
    pub fn clear_workflow(&self) {
        *crate::store::lock(self.workflow_slot()) = None;
    }

    pub(crate) fn workflow(&self) -> Option<Arc<dyn Workflow>> {
        crate::store::lock(self.workflow_slot()).clone()
    }

    /// Signs a package with this site's own key (which the site always trusts).
    ///
    /// # Errors
    /// As [`PluginPackage::sign`]; storage errors reading the key.
    pub fn sign_plugin(&self, manifest: PluginManifest, wasm: Vec<u8>) -> Result<PluginPackage> {
        PluginPackage::sign(manifest, wasm, &PublisherKey(self.signing_key()?))
    }

    /// Stores a signed package as a `plugin` document. Installing the same bytes and manifest
    /// again returns the existing document.
    ///
    /// # Errors
    /// [`Error::PluginSignature`] when the signature does not verify; [`Error::Invalid`] for a
    /// bad manifest or component.
    pub fn install_plugin(&self, package: &PluginPackage) -> Result<PluginInfo> {
        package.manifest.validate()?;
        check_wasm(&package.wasm)?;
        if !package.verify() {
            return Err(Error::PluginSignature {
                plugin: package.manifest.name.clone(),
            });
        }
        let sha = package.sha256();
        let existing: Option<String> = self.read(|c| {
            Ok(c.query_row(
                "SELECT id FROM plugins WHERE name = ?1 AND version = ?2 AND sha256 = ?3 \
                 AND publisher = ?4",
                rusqlite::params![
                    package.manifest.name,
                    package.manifest.version,
                    sha,
                    package.publisher.to_string()
                ],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        let id = match existing {
            Some(id) => id.parse()?,
            None => self.write("plugin.install", Origin::Local, |w| {
                let (id, ()) = w.create(DocKind::Plugin, PLUGIN_SCHEMA, |dt, _| {
                    write_package(dt, package, &sha)
                })?;
                Ok(id)
            })?,
        };
        let info = self.plugin(&id.to_string())?;
        if !info.signature_ok {
            // The redactor changed something the publisher signed (a card-like number in a
            // table, say). The document stays, inert, and says so in `plugin list`.
            return Err(Error::PluginSignature {
                plugin: package.manifest.name.clone(),
            });
        }
        Ok(info)
    }

    /// Every installed plugin, by name then version (newest first).
    ///
    /// # Errors
    /// Storage errors.
    pub fn plugins(&self) -> Result<Vec<PluginInfo>> {
        let trusted = self.trusted_set()?;
        let mut rows: Vec<PluginInfo> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, version, api, markets, triggers, description, sha256, \
                 publisher, signature_ok FROM plugins",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, bool>(9)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, name, version, api, markets, triggers, description, sha, publisher, ok) =
                    row?;
                out.push(PluginInfo {
                    id: id.parse()?,
                    trusted: trusted.contains(&publisher),
                    name,
                    version,
                    api,
                    markets: split_list(&markets),
                    triggers: split_list(&triggers)
                        .iter()
                        .filter_map(|t| t.parse().ok())
                        .collect(),
                    description,
                    sha256: sha,
                    publisher,
                    signature_ok: ok,
                    active: false,
                });
            }
            Ok(out)
        })?;
        rows.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| parse_version(&b.version).cmp(&parse_version(&a.version)))
                .then_with(|| a.id.to_string().cmp(&b.id.to_string()))
        });
        let mut seen = std::collections::HashSet::new();
        for p in &mut rows {
            if p.signature_ok && p.trusted && !seen.contains(&p.name) {
                p.active = true;
                seen.insert(p.name.clone());
            }
        }
        Ok(rows)
    }

    /// One installed plugin, by document id or by name (its active version, else its newest).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn plugin(&self, key: &str) -> Result<PluginInfo> {
        let all = self.plugins()?;
        if let Ok(id) = key.parse::<DocId>() {
            return all
                .into_iter()
                .find(|p| p.id == id)
                .ok_or_else(|| Error::not_found("plugin", key));
        }
        // The active version when there is one, otherwise the newest (listed first).
        let (active, rest): (Vec<PluginInfo>, Vec<PluginInfo>) = all
            .into_iter()
            .filter(|p| p.name == key)
            .partition(|p| p.active);
        active
            .into_iter()
            .chain(rest)
            .next()
            .ok_or_else(|| Error::not_found("plugin", key))
    }

    /// The full package of an installed plugin, re-read from its document.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Document`] when the document is not a complete package.
    pub fn plugin_package(&self, id: &DocId) -> Result<PluginPackage> {
        let doc = self.load_kind(id, DocKind::Plugin)?;
        read_package(id, &*doc)
    }

    /// The packages that run for `market` on `trigger`: active (signature good, publisher
    /// trusted, newest version of their name), in name order — the order plugins run in.
    ///
    /// # Errors
    /// Storage errors; [`Error::PluginSignature`] never (bad packages are skipped).
    pub fn active_plugins(&self, market: &str, trigger: Trigger) -> Result<Vec<PluginPackage>> {
        let mut out = Vec::new();
        for info in self.plugins()? {
            if info.active
                && info.triggers.contains(&trigger)
                && info.markets.iter().any(|m| m == market || m == "*")
            {
                // Verify what is actually loaded: the projection could be stale only through a
                // bug, and running unverified code must not be one bug away. A package is
                // verified once per content: the document's heads hash everything in it, so
                // the same heads are the same manifest, component and signature.
                let doc = self.load_kind(&info.id, DocKind::Plugin)?;
                let heads = doc.get_heads();
                if let Some(package) = self.verified_plugins().get(&info.id, &heads) {
                    out.push(package);
                    continue;
                }
                let package = read_package(&info.id, &*doc)?;
                if package.verify() {
                    self.verified_plugins()
                        .insert(info.id, heads, package.clone());
                    out.push(package);
                }
            }
        }
        Ok(out)
    }

    /// Trusts plugins signed by `key` from now on.
    ///
    /// # Errors
    /// Storage errors.
    pub fn trust_publisher(&self, key: &PublicKey) -> Result<()> {
        let at = self.now();
        self.write("plugin.trust", Origin::Local, |w| {
            w.tx.execute(
                "INSERT INTO plugin_trust(public_key, added_at) VALUES (?1, ?2) \
                 ON CONFLICT(public_key) DO NOTHING",
                rusqlite::params![key.to_string(), at],
            )?;
            Ok(())
        })
    }

    /// Stops trusting `key`; its plugins stop running here.
    ///
    /// # Errors
    /// Storage errors.
    pub fn untrust_publisher(&self, key: &PublicKey) -> Result<()> {
        self.write("plugin.trust", Origin::Local, |w| {
            w.tx.execute(
                "DELETE FROM plugin_trust WHERE public_key = ?1",
                [key.to_string()],
            )?;
            Ok(())
        })
    }

    /// The publisher keys this site trusts explicitly (its own site key is trusted as well).
    ///
    /// # Errors
    /// Storage errors.
    pub fn trusted_publishers(&self) -> Result<Vec<PublicKey>> {
        let keys: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare("SELECT public_key FROM plugin_trust ORDER BY added_at")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        keys.iter().map(|k| k.parse()).collect()
    }

    fn trusted_set(&self) -> Result<std::collections::HashSet<String>> {
        let mut set: std::collections::HashSet<String> = self
            .trusted_publishers()?
            .iter()
            .map(|k| k.to_string())
            .collect();
        set.insert(self.public_key()?.to_string());
        Ok(set)
    }

    /// Compiled code for a component, as this host compiled it earlier (`engine` names the
    /// compiler and its configuration). Only bytes written by [`Store::put_plugin_code`] are
    /// ever returned: they never come from sync or from a package.
    ///
    /// # Errors
    /// Storage errors.
    pub fn plugin_code(&self, sha256: &str, engine: &str) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT bytes FROM plugin_code WHERE sha256 = ?1 AND engine = ?2",
                [sha256, engine],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Caches compiled code for a component (see [`Store::plugin_code`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn put_plugin_code(&self, sha256: &str, engine: &str, bytes: &[u8]) -> Result<()> {
        // The table is outside any document, so nothing here passes the redactor: accept only
        // what a host writes, a SHA-256 in hex and an engine name without card data.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid("sha256", "expected 64 hexadecimal digits"));
        }
        if engine.is_empty() || engine.len() > 200 || crate::redact::contains_sensitive(engine) {
            return Err(Error::invalid(
                "engine",
                "expected a compiler name and version",
            ));
        }
        let at = self.now();
        self.write("plugin.code", Origin::Local, |w| {
            w.tx.execute(
                "INSERT INTO plugin_code(sha256, engine, bytes, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(sha256, engine) DO UPDATE SET bytes = excluded.bytes",
                rusqlite::params![sha256, engine, bytes, at],
            )?;
            Ok(())
        })
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn write_package(dt: &mut crate::doc::DocTx<'_>, p: &PluginPackage, sha: &str) -> Result<()> {
    let root = ObjId::Root;
    let m = &p.manifest;
    dt.put(&root, "name", m.name.as_str())?;
    dt.put(&root, "version", m.version.as_str())?;
    dt.put(&root, "api", m.api.as_str())?;
    dt.set_str_list(&root, "markets", "markets", &m.markets)?;
    let triggers: Vec<String> = m.triggers.iter().map(|t| t.as_str().to_string()).collect();
    dt.set_str_list(&root, "triggers", "triggers", &triggers)?;
    dt.put_str(&root, "description", "description", &m.description)?;
    let tables = dt.map(&root, "tables")?;
    for (name, rows) in &m.tables {
        let t = dt.new_object(&tables, name.as_str(), automerge::ObjType::Map)?;
        for (k, v) in rows {
            dt.put_str(&t, k.as_str(), "tables", v)?;
        }
    }
    dt.put(&root, "wasm", ScalarValue::Bytes(p.wasm.clone()))?;
    dt.put(&root, "sha256", sha)?;
    dt.put(&root, "publisher", p.publisher.to_string().as_str())?;
    dt.put(&root, "signature", ScalarValue::Bytes(p.signature.to_vec()))?;
    Ok(())
}

fn bytes_of(r: &Reader<'_, impl ReadDoc>, prop: &str) -> Option<Vec<u8>> {
    match r.get(&ObjId::Root, prop)? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Bytes(b) => Some(b.clone()),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn read_package(id: &DocId, doc: &impl ReadDoc) -> Result<PluginPackage> {
    let r = Reader::new(doc, None);
    let root = ObjId::Root;
    let bad = |what: &str| Error::Document {
        id: id.to_string(),
        reason: format!("plugin has no valid {what}"),
    };
    let s = |k: &str| r.str(&root, k).ok_or_else(|| bad(k));
    let mut tables = BTreeMap::new();
    if let Some(t) = r.map(&root, "tables") {
        for name in r.keys(&t) {
            tables.insert(name.clone(), r.str_map(&t, &name));
        }
    }
    let manifest = PluginManifest {
        name: s("name")?,
        version: s("version")?,
        api: s("api")?,
        markets: r.list_strs(&root, "markets"),
        triggers: r
            .list_strs(&root, "triggers")
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_>>()
            .map_err(|_| bad("triggers"))?,
        description: r.str(&root, "description").unwrap_or_default(),
        tables,
    };
    let signature: [u8; 64] = bytes_of(&r, "signature")
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("signature"))?;
    Ok(PluginPackage {
        manifest,
        wasm: bytes_of(&r, "wasm").ok_or_else(|| bad("wasm"))?,
        publisher: s("publisher")?.parse().map_err(|_| bad("publisher"))?,
        signature,
    })
}

/// Rewrites a plugin document's projection row.
pub(crate) fn project(
    tx: &rusqlite::Transaction<'_>,
    id: &DocId,
    doc: &automerge::Automerge,
    updated_at: i64,
) -> Result<()> {
    tx.execute("DELETE FROM plugins WHERE id = ?1", [id.to_string()])?;
    // A document that is not (yet) a complete package has no row: it cannot run.
    let Ok(p) = read_package(id, doc) else {
        return Ok(());
    };
    let triggers: Vec<&str> = p.manifest.triggers.iter().map(|t| t.as_str()).collect();
    tx.execute(
        "INSERT INTO plugins(id, name, version, api, markets, triggers, description, sha256, \
         publisher, signature_ok, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
        rusqlite::params![
            id.to_string(),
            p.manifest.name,
            p.manifest.version,
            p.manifest.api,
            p.manifest.markets.join(","),
            triggers.join(","),
            p.manifest.description,
            p.sha256(),
            p.publisher.to_string(),
            p.verify(),
            updated_at,
        ],
    )?;
    Ok(())
}

/// The plugin kind's [`crate::projection::Projector`].
pub(crate) struct PluginProjector;

impl crate::projection::Projector for PluginProjector {
    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[("plugins", "id")]
    }

    fn project(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &DocId,
        doc: &automerge::Automerge,
        updated_at: i64,
    ) -> Result<Option<crate::projection::View>> {
        project(tx, id, doc, updated_at).map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "in-upi-failed-txn".into(),
            version: "1.2.0".into(),
            api: API_VERSION.into(),
            markets: vec!["IN-UPI".into()],
            triggers: vec![Trigger::CaseCreated, Trigger::BeforeSolve],
            description: "UPI reversal deadlines".into(),
            tables: BTreeMap::from([(
                "holidays-IN".into(),
                BTreeMap::from([("2026-01-26".into(), "Republic Day".into())]),
            )]),
        }
    }

    #[test]
    fn a_signature_covers_the_bytes_and_every_manifest_field() {
        let key = PublisherKey::generate().unwrap();
        let p = PluginPackage::sign(manifest(), b"\0asm\x0d\0\x01\0rest".to_vec(), &key).unwrap();
        assert!(p.verify());
        let mut t = p.clone();
        t.wasm.push(0);
        assert!(!t.verify());
        let mut t = p.clone();
        t.manifest.markets.push("BR-PIX".into());
        assert!(!t.verify());
        let mut t = p.clone();
        t.manifest
            .tables
            .get_mut("holidays-IN")
            .unwrap()
            .insert("2026-01-27".into(), "x".into());
        assert!(!t.verify());
        let mut t = p.clone();
        t.publisher = PublisherKey::generate().unwrap().public_key();
        assert!(!t.verify());
    }

    #[test]
    fn publisher_keys_round_trip_through_text_and_refuse_garbage() {
        let key = PublisherKey::generate().unwrap();
        let back: PublisherKey = key.to_secret_string().parse().unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!("dossier-publisher-key:xyz".parse::<PublisherKey>().is_err());
        assert!(
            key.public_key()
                .to_string()
                .parse::<PublisherKey>()
                .is_err()
        );
        assert!(!format!("{key:?}").contains(&key.to_secret_string()));
    }

    #[test]
    fn manifests_are_validated() {
        let mut m = manifest();
        m.name = "Bad Name".into();
        assert!(m.validate().is_err());
        let mut m = manifest();
        m.version = "1.2".into();
        assert!(m.validate().is_err());
        let mut m = manifest();
        m.markets = vec!["in-upi".into()];
        assert!(m.validate().is_err());
        let mut m = manifest();
        m.triggers.clear();
        assert!(m.validate().is_err());
        assert_eq!(parse_version("10.0.3"), Some((10, 0, 3)));
        assert_eq!(parse_version("1.0.0-rc1"), None);
    }

    #[test]
    fn triggers_parse_their_wit_names() {
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), *t);
        }
        assert_eq!(
            "before_solve".parse::<Trigger>().unwrap(),
            Trigger::BeforeSolve
        );
        assert!("on-lunch".parse::<Trigger>().is_err());
    }
}
