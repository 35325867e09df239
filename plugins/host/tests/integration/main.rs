//! Integration tests of the plugin host: real wasmtime, real components built from this
//! workspace (`plugins/hostile`, `plugins/hostile-future`), real SQLite stores.
//!
//! The guest components are built by `dossier_plugins::testing::build_component` on first use
//! (`cargo build --release --target wasm32-wasip2` into `target/wasm-plugins`), so plain
//! `cargo test -p dossier-plugins` works once `rustup target add wasm32-wasip2` has been run.

#![allow(clippy::unwrap_used)]

mod cache;
mod common;
mod examples;
mod sandbox;
mod version;
mod workflow;
