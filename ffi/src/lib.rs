//! Dossier for host applications: Kotlin, Swift and Python through uniffi, and C through a
//! plain C ABI.
//!
//! Host-app developers embed Dossier in Android, iOS/macOS, desktop and Python tools, and for
//! them the bindings are the product. This crate only wraps: every method is one user action and
//! one call into [`dossier`], and all domain logic stays there. Types that cross as they are
//! come from `dossier`; the rest are mirrored records with plain `From` conversions.
//!
//! # Layout
//!
//! | module | responsibility |
//! |---|---|
//! | [`store`] | the [`Store`] object, [`ChangeListener`] notifications, [`Subscription`] |
//! | [`records`] | enums and records for every view, the document id as a string |
//! | [`error`] | [`DossierError`], the one public error, converted from `dossier::Error` once |
//! | `task` | running a blocking call as a future for the `_async` methods (no tokio) |
//! | `plugins` | the process's one plugin host, installed in every store; plugin install and dry run |
//! | `sync_io` | the I/O around sync: a hub session's tokio runtime, bundle files on disk |
//! | [`c_api`] | the C ABI (`ffi/include/dossier.h`): opaque handles, JSON records, status codes |
//!
//! Bindings are generated from the built library by `cargo xtask test` (uniffi library mode);
//! `bindings/README.md` says how to use them from each language.
//!
//! Sites merge through a hub ([`Store::sync_with_hub`], [`Store::sync_with_hub_async`]), through
//! signed bundle files for sites with no network ([`Store::export_bundle`],
//! [`Store::import_bundle`]) once they have provisioned each other's keys
//! ([`Store::public_key`], [`Store::add_peer`]), or directly through change packs
//! ([`Store::changes_since`], [`Store::apply_changes`], [`Store::pull_from`]).
//!
//! Workflow plugins (WebAssembly components run by `dossier-plugins`) are installed with
//! [`Store::install_plugin`], listed, trusted by publisher key and dry-run on a case; every store
//! opened here runs the active plugins of a case's market on its triggers.

#![deny(missing_docs)]

pub mod c_api;
pub mod error;
mod plugins;
pub mod records;
pub mod store;
mod sync_io;
mod task;

pub use error::DossierError;
pub use store::{ChangeListener, ListenerError, Store, Subscription};

uniffi::setup_scaffolding!("dossier");
