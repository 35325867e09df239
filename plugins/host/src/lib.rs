//! Runs Dossier workflow plugins — WebAssembly components of the `dossier:workflow` WIT world —
//! on wasmtime, each call sandboxed and bounded.
//!
//! A [`PluginHost`] implements [`dossier::Workflow`]: install it in a store and the store calls
//! it on case triggers, validates what each plugin asks for and applies it (or records why
//! not). The host never touches the database except through [`dossier::Store`]'s plugin API.
//!
//! Every call runs in a fresh wasmtime store with a fuel budget, a wall-clock deadline, a
//! memory limit and an output limit ([`HostConfig`]); each way of breaking one is its own
//! [`PluginError`] variant, decided from wasmtime's typed trap codes and the host's own
//! bookkeeping, never from error text. WASI 0.2 is linked so `std`-based plugins instantiate,
//! but with nothing behind it: no files, no network, no environment, frozen clocks and fixed
//! "random" bytes (see the `sandbox` module for exactly what a plugin can observe).
//!
//! A component's API version (`dossier:workflow/step@0.1.0`) is read before it is compiled;
//! a version without an adapter here is [`PluginError::Incompatible`]. Compiled code is cached
//! in the store, keyed by the component's SHA-256 and the engine id, in a checksummed envelope.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = dossier::Store::open("site.db", dossier::StoreOptions::default())?;
//! let host = dossier_plugins::PluginHost::new(dossier_plugins::HostConfig::default())?;
//! store.set_workflow(Arc::new(host.clone()));
//! // Preview what the installed plugin would do to a case, applying nothing:
//! let run = host.dry_run(&store, "in-upi-failed-txn", "BLR2-17", dossier::Trigger::SlaCheck)?;
//! println!("{} actions, invalid: {:?}", run.actions.len(), run.invalid);
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `host`: [`PluginHost`], [`HostConfig`], [`DryRun`], [`HostStats`]; loading, caching and
//!   calling plugins.
//! - `engine`: the process-wide wasmtime engine, its deterministic settings, its epoch ticker
//!   and its cache id.
//! - `version`: the API version check that runs before compiling.
//! - `v0_1_0`: bindings and conversions for `dossier:workflow@0.1.0`.
//! - `sandbox`: the per-call store data — inert WASI, memory limiter, logs, lookup tables.
//! - `error`: [`PluginError`].
//! - [`testing`] (hidden): builds guest components for tests of this and other crates.

mod engine;
mod error;
mod host;
mod sandbox;
pub mod testing;
mod v0_1_0;
mod version;

pub use error::{PluginError, Result};
pub use host::{DryRun, HostConfig, HostStats, PluginHost};
pub use sandbox::MAX_LOG_LINE;
pub use version::SUPPORTED_APIS;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
