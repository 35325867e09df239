//! [`PluginHost`]: loads plugin components (API check, compile or cached code, `InstancePre`),
//! runs one call in a fresh bounded wasmtime store, and maps every failure to a typed
//! [`PluginError`].
//!
//! # Caches and their trust
//!
//! - **Verified packages**, in memory, by signature: a package whose manifest, publisher and
//!   bytes equal one already verified skips the ed25519 check. Anything different is verified
//!   again, so a tampered package never reuses a good one's verdict.
//! - **Instantiation templates** (`InstancePre`), in memory, by the component's SHA-256.
//! - **Compiled code**, in the store's `plugin_code` table, by (component SHA-256, engine id).
//!   Deserializing compiled code runs it as machine code with no validation, so only bytes this
//!   host serialized may ever reach it. The store promises that `plugin_code` rows are written
//!   only through [`dossier::Store::put_plugin_code`] (never by sync, never from a package);
//!   on top of that every row is an envelope — a magic tag and a SHA-256 over the tag, the
//!   component's SHA-256, the engine id and the code — so a row that is truncated, corrupted,
//!   copied from another component or written by another engine configuration is recompiled,
//!   not loaded. The digest is not a secret MAC: whoever can write the database file can run
//!   code as this process anyway (it is a local file of the same user), so the database is
//!   trusted as much as the binary, and the envelope guards against accidents, not attackers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dossier::plugin::{Evaluation, PluginRef, TriggerContext};
use dossier::{Action, PluginManifest, PluginPackage, Store, Trigger, Workflow};
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::Trap;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;

use crate::engine::{self, Shared};
use crate::error::{PluginError, Result};
use crate::sandbox::{CallState, MemoryLimitHit, StoppedClock, Tables};
use crate::v0_1_0::{self, Plugin, PluginPre, WitAction};
use crate::version::{self, Api};

/// Limits of one plugin call. Every call gets all of them afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Fuel (roughly, wasm instructions) for one call, instantiation included.
    pub fuel: u64,
    /// Wall-clock limit of one call, rounded up to the 10 ms epoch tick.
    pub timeout: Duration,
    /// Linear memory of one call, all memories of the component together (16 MiB by default).
    pub memory_bytes: usize,
    /// Largest answer accepted: the text of all actions plus 16 bytes per action.
    pub max_output_bytes: usize,
    /// Log lines kept per call; later lines are counted and dropped. Each line keeps at most
    /// 1 KiB.
    pub max_log_lines: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            fuel: 100_000_000,
            timeout: Duration::from_secs(1),
            memory_bytes: 16 << 20,
            max_output_bytes: 256 << 10,
            max_log_lines: 100,
        }
    }
}

/// Counters of what a host has done since it was made (clones share them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HostStats {
    /// Components compiled from wasm.
    pub compiled: u64,
    /// Components loaded from compiled code cached in a store.
    pub code_cache_hits: u64,
    /// Cached code rows refused (bad envelope or refused by wasmtime) and recompiled.
    pub code_cache_rejected: u64,
    /// Compiled code that could not be written to the store's cache (the call still ran).
    pub code_cache_write_failures: u64,
    /// Plugin calls made (`describe` and `evaluate`).
    pub calls: u64,
}

/// What a dry run of one plugin on one case found. Nothing was applied.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The plugin that ran.
    pub plugin: PluginRef,
    /// The trigger it was called with.
    pub trigger: Trigger,
    /// The actions it returned, in order.
    pub actions: Vec<Action>,
    /// Why the store would refuse these actions, if it would.
    pub invalid: Option<String>,
    /// What the plugin logged during the call.
    pub logs: Vec<String>,
}

/// Runs workflow plugins on wasmtime. Cheap to clone; clones share caches and counters.
///
/// Install it in a store with `store.set_workflow(Arc::new(host))` and the store calls it on
/// case triggers; or call [`PluginHost::evaluate`] and [`PluginHost::dry_run`] directly.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    shared: &'static Shared,
    linker: Linker<CallState>,
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    verified: Mutex<HashMap<[u8; 64], Arc<Verified>>>,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    compiled: AtomicU64,
    code_cache_hits: AtomicU64,
    code_cache_rejected: AtomicU64,
    code_cache_write_failures: AtomicU64,
    calls: AtomicU64,
}

/// A component ready to instantiate.
struct Loaded {
    pre: PluginPre<CallState>,
    api: Api,
    component: Component,
    /// Whether this host has written (or read) the compiled code to (from) a store's cache; a
    /// component first loaded by [`PluginHost::inspect`], which has no store, is written on
    /// its first evaluation.
    persisted: AtomicBool,
}

/// A package whose signature verified, kept to skip verifying it again.
struct Verified {
    package: PluginPackage,
    sha256: String,
    tables: Arc<Tables>,
}

/// Entries kept in each in-memory cache before it is emptied (a site runs a handful of plugins;
/// this only stops a long-lived host from growing without bound).
const CACHE_ENTRIES: usize = 256;

const ENVELOPE_MAGIC: &[u8; 8] = b"dsplc\x00\x00\x01";

/// Longest step-error code and message passed on, in characters.
const MAX_GUEST_CODE: usize = 64;
const MAX_GUEST_MESSAGE: usize = 1_000;

/// Bytes each action counts for beyond its text, for the output limit.
const ACTION_OVERHEAD: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps hold only caches; a panic elsewhere cannot leave them half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PluginHost {
    /// A host with these limits, on the process-wide engine.
    ///
    /// # Errors
    /// [`PluginError::Engine`] when wasmtime cannot run on this machine.
    pub fn new(config: HostConfig) -> Result<PluginHost> {
        let shared = engine::shared()?;
        let mut linker = Linker::new(&shared.engine);
        let engine_err = |e: wasmtime::Error| PluginError::Engine(format!("{e:#}"));
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_err)?;
        // Replace the monotonic clock's subscriptions, which would sleep on the real time.
        linker.allow_shadowing(true);
        monotonic_clock::add_to_linker::<_, StoppedClock>(&mut linker, StoppedClock::view)
            .map_err(engine_err)?;
        linker.allow_shadowing(false);
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(engine_err)?;
        Ok(PluginHost {
            inner: Arc::new(Inner {
                config,
                shared,
                linker,
                loaded: Mutex::new(HashMap::new()),
                verified: Mutex::new(HashMap::new()),
                stats: Counters::default(),
            }),
        })
    }

    /// The limits every call runs under.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The id naming this engine's compiled code in a store's cache.
    pub fn engine_id(&self) -> &str {
        &self.inner.shared.id
    }

    /// What this host (and its clones) has done so far.
    pub fn stats(&self) -> HostStats {
        let s = &self.inner.stats;
        HostStats {
            compiled: s.compiled.load(Ordering::Relaxed),
            code_cache_hits: s.code_cache_hits.load(Ordering::Relaxed),
            code_cache_rejected: s.code_cache_rejected.load(Ordering::Relaxed),
            code_cache_write_failures: s.code_cache_write_failures.load(Ordering::Relaxed),
            calls: s.calls.load(Ordering::Relaxed),
        }
    }

    /// Reads a component's manifest: checks its API version (before compiling), compiles it and
    /// calls `describe()`. The manifest has `api` filled in and no tables (those come from the
    /// publisher, not from the code).
    ///
    /// # Errors
    /// [`PluginError::NotAComponent`], [`PluginError::Incompatible`], or any failure of the
    /// `describe` call (fuel, timeout, memory, trap).
    pub fn inspect(&self, wasm: &[u8]) -> Result<PluginManifest> {
        let sha = hex_sha256(wasm);
        let loaded = self.load(None, wasm, &sha)?;
        let (info, _logs) = self.call(&loaded, Arc::default(), |plugin, store| {
            plugin.dossier_workflow_step().call_describe(store)
        });
        let info = info?;
        Ok(PluginManifest {
            name: info.name,
            version: info.version,
            api: loaded.api.as_str().to_string(),
            markets: info.markets,
            triggers: info.triggers.into_iter().map(v0_1_0::trigger_in).collect(),
            description: info.description,
            tables: Default::default(),
        })
    }

    /// Evaluates one package for one trigger on one case and returns its actions, validated
    /// against the case with [`dossier::plugin::actions::validate_actions`]. Applies nothing.
    ///
    /// # Errors
    /// [`PluginError::Store`] with [`dossier::Error::PluginSignature`] for a package whose
    /// signature does not verify (it is not run); [`PluginError::InvalidAction`] for an action
    /// the case does not allow; any load or call failure.
    pub fn evaluate(
        &self,
        store: &Store,
        package: &PluginPackage,
        ctx: &TriggerContext<'_>,
    ) -> Result<Vec<Action>> {
        self.evaluate_logged(store, package, ctx).0
    }

    /// [`PluginHost::evaluate`], with the plugin's logs whatever happened.
    fn evaluate_logged(
        &self,
        store: &Store,
        package: &PluginPackage,
        ctx: &TriggerContext<'_>,
    ) -> (Result<Vec<Action>>, Vec<String>) {
        let (actions, logs) = self.evaluate_unchecked(store, package, ctx);
        let checked = actions.and_then(|actions| {
            dossier::plugin::actions::validate_actions(ctx.case, ctx.trigger, &actions).map_err(
                |e| match e {
                    dossier::Error::InvalidAction { index, reason } => {
                        PluginError::InvalidAction { index, reason }
                    }
                    other => PluginError::Store(other),
                },
            )?;
            Ok(actions)
        });
        (checked, logs)
    }

    /// Runs the active version of the installed plugin `plugin` (a name or document id) on the
    /// case for `trigger` — whether or not the plugin declares that trigger — and reports the
    /// actions, what the store would say about them and the plugin's logs. Applies nothing.
    ///
    /// Only an active plugin (good signature, trusted publisher) runs: a dry run is a preview
    /// of what the store would do, and the store would not run the others.
    ///
    /// # Errors
    /// [`PluginError::Store`] when the plugin or case is not found or the plugin is not active;
    /// any load or call failure of the plugin.
    pub fn dry_run(
        &self,
        store: &Store,
        plugin: &str,
        case_key: &str,
        trigger: Trigger,
    ) -> Result<DryRun> {
        let info = store.plugin(plugin)?;
        if !info.active {
            return Err(PluginError::Store(if info.signature_ok {
                dossier::Error::Invalid {
                    field: "plugin".into(),
                    reason: format!(
                        "{}@{} is not active at this site (its publisher is not trusted)",
                        info.name, info.version
                    ),
                }
            } else {
                dossier::Error::PluginSignature { plugin: info.name }
            }));
        }
        let package = store.plugin_package(&info.id)?;
        let case = store.case(case_key)?;
        let ctx = TriggerContext {
            trigger,
            case: &case,
            previous_status: None,
            now: store.now(),
        };
        let (actions, logs) = self.evaluate_unchecked(store, &package, &ctx);
        let actions = actions?;
        let invalid = dossier::plugin::actions::validate_actions(&case, trigger, &actions)
            .err()
            .map(|e| e.to_string());
        Ok(DryRun {
            plugin: PluginRef {
                name: package.manifest.name,
                version: package.manifest.version,
            },
            trigger,
            actions,
            invalid,
            logs,
        })
    }

    /// Instantiates the package's component in a fresh bounded store and drops it, calling
    /// nothing: the fixed cost of every call, for benchmarks.
    ///
    /// # Errors
    /// As [`PluginHost::evaluate`], without the action checks.
    #[doc(hidden)]
    pub fn instantiate_only(&self, store: &Store, package: &PluginPackage) -> Result<()> {
        let verified = self.verify(package)?;
        let loaded = self.load(Some(store), &package.wasm, &verified.sha256)?;
        self.call(&loaded, verified.tables.clone(), |_, _| Ok(())).0
    }

    /// Verifies, loads and calls `evaluate`; checks the output size but not the actions.
    fn evaluate_unchecked(
        &self,
        store: &Store,
        package: &PluginPackage,
        ctx: &TriggerContext<'_>,
    ) -> (Result<Vec<Action>>, Vec<String>) {
        let verified = match self.verify(package) {
            Ok(v) => v,
            Err(e) => return (Err(e), Vec::new()),
        };
        let loaded = match self.load(Some(store), &package.wasm, &verified.sha256) {
            Ok(l) => l,
            Err(e) => return (Err(e), Vec::new()),
        };
        let snapshot = v0_1_0::snapshot(ctx);
        let trigger = v0_1_0::trigger_out(ctx.trigger);
        let (answer, logs) = self.call(&loaded, verified.tables.clone(), |plugin, store| {
            plugin
                .dossier_workflow_step()
                .call_evaluate(store, trigger, &snapshot)
        });
        let result = answer.and_then(|answer| match answer {
            Ok(actions) => self.accept(actions),
            Err(e) => Err(PluginError::Guest {
                code: e.code.chars().take(MAX_GUEST_CODE).collect(),
                message: e.message.chars().take(MAX_GUEST_MESSAGE).collect(),
            }),
        });
        (result, logs)
    }

    fn accept(&self, actions: Vec<WitAction>) -> Result<Vec<Action>> {
        let limit = self.inner.config.max_output_bytes;
        let mut bytes = 0usize;
        for a in &actions {
            bytes = bytes
                .saturating_add(ACTION_OVERHEAD)
                .saturating_add(v0_1_0::text_bytes(a));
            if bytes > limit {
                return Err(PluginError::OutputTooLarge { limit });
            }
        }
        Ok(actions.into_iter().map(v0_1_0::action_in).collect())
    }

    /// The package's signature check, remembered by signature.
    fn verify(&self, package: &PluginPackage) -> Result<Arc<Verified>> {
        if let Some(v) = lock(&self.inner.verified).get(&package.signature)
            && v.package == *package
        {
            return Ok(v.clone());
        }
        if !package.verify() {
            return Err(PluginError::Store(dossier::Error::PluginSignature {
                plugin: package.manifest.name.clone(),
            }));
        }
        let v = Arc::new(Verified {
            package: package.clone(),
            sha256: package.sha256(),
            tables: Arc::new(package.manifest.tables.clone()),
        });
        let mut map = lock(&self.inner.verified);
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert(package.signature, v.clone());
        Ok(v)
    }

    /// The component with SHA-256 `sha`, ready to instantiate: from memory, else from the
    /// store's code cache, else compiled (and then cached in the store when there is one). The
    /// API version is checked before anything is compiled or deserialized.
    fn load(&self, store: Option<&Store>, wasm: &[u8], sha: &str) -> Result<Arc<Loaded>> {
        let known = lock(&self.inner.loaded).get(sha).cloned();
        if let Some(l) = known {
            if let Some(store) = store
                && !l.persisted.swap(true, Ordering::Relaxed)
            {
                self.persist(store, &l.component, sha);
            }
            return Ok(l);
        }
        let api = version::check(wasm)?;
        let engine = &self.inner.shared.engine;
        let engine_id = &self.inner.shared.id;
        let stats = &self.inner.stats;
        let cached = match store {
            Some(store) => store.plugin_code(sha, engine_id)?,
            None => None,
        };
        let from_cache = cached.and_then(|row| {
            let component = open_envelope(&row, sha, engine_id)
                .and_then(|code| deserialize_own_code(engine, code).ok());
            if component.is_none() {
                stats.code_cache_rejected.fetch_add(1, Ordering::Relaxed);
            }
            component
        });
        let component = match from_cache {
            Some(c) => {
                stats.code_cache_hits.fetch_add(1, Ordering::Relaxed);
                c
            }
            None => {
                let c = Component::new(engine, wasm)
                    .map_err(|e| PluginError::NotAComponent(format!("{e:#}")))?;
                stats.compiled.fetch_add(1, Ordering::Relaxed);
                if let Some(store) = store {
                    self.persist(store, &c, sha);
                }
                c
            }
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|e| PluginError::NotAComponent(format!("{e:#}")))?;
        let loaded = Arc::new(Loaded {
            pre,
            api,
            component,
            persisted: AtomicBool::new(store.is_some()),
        });
        let mut map = lock(&self.inner.loaded);
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert(sha.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Writes compiled code to the store's cache. A failure only costs a compile next time.
    fn persist(&self, store: &Store, component: &Component, sha: &str) {
        let engine_id = &self.inner.shared.id;
        let written = component.serialize().ok().and_then(|code| {
            let row = seal_envelope(&code, sha, engine_id);
            store.put_plugin_code(sha, engine_id, &row).ok()
        });
        if written.is_none() {
            self.inner
                .stats
                .code_cache_write_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One call in a fresh store: instantiate (bounded like the call itself), run `f`, and
    /// classify a failure. Returns the call's logs whatever happened.
    fn call<R>(
        &self,
        loaded: &Loaded,
        tables: Arc<Tables>,
        f: impl FnOnce(&Plugin, &mut wasmtime::Store<CallState>) -> wasmtime::Result<R>,
    ) -> (Result<R>, Vec<String>) {
        let config = &self.inner.config;
        self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        let state = CallState::new(config.memory_bytes, config.max_log_lines, tables);
        let mut store = wasmtime::Store::new(&self.inner.shared.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(engine::deadline_ticks(config.timeout));
        let result = store
            .set_fuel(config.fuel)
            .and_then(|()| loaded.pre.instantiate(&mut store))
            .and_then(|plugin| f(&plugin, &mut store));
        let mut logs = store.data_mut().take_logs();
        let stderr = store.data().stderr();
        let result = result.map_err(|e| match (classify(&e, store.data()), &stderr) {
            // A Rust guest prints its panic message to stderr, then traps on `unreachable`.
            (PluginError::Trap(trap), Some(stderr)) => {
                PluginError::Trap(format!("{trap}; the plugin wrote: {stderr}"))
            }
            (other, _) => other,
        });
        if let Some(stderr) = stderr {
            logs.push(format!("stderr: {stderr}"));
        }
        (result, logs)
    }
}

/// Maps a failed call to its variant: by the limiter's own record and wasmtime's trap codes.
fn classify(e: &wasmtime::Error, state: &CallState) -> PluginError {
    if state.limiter.tripped || e.downcast_ref::<MemoryLimitHit>().is_some() {
        return PluginError::MemoryLimit;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(Trap::Interrupt) => PluginError::Timeout,
        Some(trap) => PluginError::Trap(trap.to_string()),
        None => PluginError::Trap(format!("{e:#}")),
    }
}

/// Turns code this host serialized back into a component.
///
/// Deserializing skips validation and maps the bytes as executable code, hence `unsafe`.
#[allow(unsafe_code)]
fn deserialize_own_code(engine: &wasmtime::Engine, code: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `code` comes only from `open_envelope`, which returns bytes from a row of the
    // store's `plugin_code` table whose digest over (component sha, engine id, code) checks out.
    // Those rows are written only by `load` above, from `Component::serialize` of this same
    // engine configuration (the engine id covers wasmtime's version and settings, and
    // wasmtime re-checks both in the header); the store never fills `plugin_code` from sync or
    // packages. See the module docs for why the database itself is trusted.
    unsafe { Component::deserialize(engine, code) }
}

fn envelope_digest(code: &[u8], sha: &str, engine_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ENVELOPE_MAGIC);
    h.update((sha.len() as u64).to_le_bytes());
    h.update(sha.as_bytes());
    h.update((engine_id.len() as u64).to_le_bytes());
    h.update(engine_id.as_bytes());
    h.update(code);
    h.finalize().into()
}

fn seal_envelope(code: &[u8], sha: &str, engine_id: &str) -> Vec<u8> {
    let mut row = Vec::with_capacity(ENVELOPE_MAGIC.len() + 32 + code.len());
    row.extend_from_slice(ENVELOPE_MAGIC);
    row.extend_from_slice(&envelope_digest(code, sha, engine_id));
    row.extend_from_slice(code);
    row
}

/// The code inside a cache row, if the row is intact and was made for this component and
/// engine.
fn open_envelope<'a>(row: &'a [u8], sha: &str, engine_id: &str) -> Option<&'a [u8]> {
    let rest = row.strip_prefix(ENVELOPE_MAGIC.as_slice())?;
    let (digest, code) = rest.split_at_checked(32)?;
    (digest == envelope_digest(code, sha, engine_id)).then_some(code)
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::hex(&Sha256::digest(bytes))
}

impl Workflow for PluginHost {
    /// Evaluates every active plugin for the case's market that declares the trigger, in the
    /// store's order; a failure is an `Err` outcome with the error's message (a trap's includes
    /// what the plugin wrote to stderr, where a Rust panic message goes), and every evaluation
    /// carries the plugin's log lines, which the store keeps when it failed. If the store
    /// cannot list its plugins, nothing runs (the next trigger tries again).
    fn evaluate(&self, store: &Store, ctx: &TriggerContext<'_>) -> Vec<Evaluation> {
        let Ok(packages) = store.active_plugins(&ctx.case.market, ctx.trigger) else {
            return Vec::new();
        };
        packages
            .into_iter()
            .map(|package| {
                let (outcome, logs) = self.evaluate_logged(store, &package, ctx);
                Evaluation {
                    outcome: outcome.map_err(|e| e.failure()),
                    logs,
                    plugin: PluginRef {
                        name: package.manifest.name,
                        version: package.manifest.version,
                    },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_refuse_corruption_and_foreign_rows() {
        let row = seal_envelope(b"machine code", "abc", "engine-1");
        assert_eq!(
            open_envelope(&row, "abc", "engine-1"),
            Some(&b"machine code"[..])
        );
        assert_eq!(open_envelope(&row, "abd", "engine-1"), None);
        assert_eq!(open_envelope(&row, "abc", "engine-2"), None);
        let mut flipped = row.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(open_envelope(&flipped, "abc", "engine-1"), None);
        assert_eq!(open_envelope(&row[..20], "abc", "engine-1"), None);
        assert_eq!(open_envelope(b"", "abc", "engine-1"), None);
    }

    #[test]
    fn hosts_are_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<PluginHost>();
    }
}
