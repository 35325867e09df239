//! What one plugin call runs inside: the per-call store data (an inert WASI context, the memory
//! limiter, the log buffer and the package's lookup tables) and the host functions the plugin
//! may import.
//!
//! # What a plugin can observe
//!
//! Rust's `std` for `wasm32-wasip2` imports WASI 0.2, so the host links all of it — every
//! function is present, and none reaches outside:
//!
//! - **files**: no preopened directories, so every path fails (`std::fs` returns errors);
//! - **network**: TCP, UDP and name lookup are disabled and every address is refused;
//! - **environment, arguments, cwd**: empty; stdin is closed; stdout and stderr are discarded;
//! - **clocks**: the wall clock is frozen at the Unix epoch and the monotonic clock at zero, so
//!   `SystemTime::now()` is 1970-01-01 and `Instant::elapsed()` is zero — use
//!   `case-snapshot.now`;
//! - **randomness**: both generators return the same fixed bytes on every call (and the
//!   insecure seed is zero), so `HashMap` iteration order and anything "random" repeat.
//!
//! A plugin therefore computes a function of its snapshot, its lookup tables and its own code,
//! which is what lets every site and the hub reach the same answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::{Deterministic, WasiCtx, WasiCtxView, WasiView};

use crate::v0_1_0::{self, Level};

/// Longest log line a plugin call keeps, in bytes; longer lines are cut at a character
/// boundary.
pub const MAX_LOG_LINE: usize = 1_024;

/// Reference tables of one package: `table -> key -> value`.
pub(crate) type Tables = BTreeMap<String, BTreeMap<String, String>>;

/// Store data of one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    tables: Arc<Tables>,
    pub(crate) logs: Vec<String>,
    max_log_lines: usize,
    dropped_logs: usize,
}

impl CallState {
    pub(crate) fn new(memory_bytes: usize, max_log_lines: usize, tables: Arc<Tables>) -> CallState {
        CallState {
            wasi: inert_wasi(),
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            tables,
            logs: Vec::new(),
            max_log_lines,
            dropped_logs: 0,
        }
    }

    /// The log lines of the call, with a last line counting those dropped over the limit.
    pub(crate) fn take_logs(&mut self) -> Vec<String> {
        let mut logs = std::mem::take(&mut self.logs);
        if self.dropped_logs > 0 {
            logs.push(format!(
                "host: {} more log lines dropped (limit {})",
                self.dropped_logs, self.max_log_lines
            ));
        }
        logs
    }
}

fn inert_wasi() -> WasiCtx {
    let mut b = WasiCtx::builder();
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(Deterministic::new(FIXED_BYTES.to_vec()))
        .insecure_random(Deterministic::new(FIXED_BYTES.to_vec()))
        .insecure_random_seed(0)
        .max_random_size(64 * 1024);
    b.build()
}

/// What the "random" interfaces return, cycled. Not zeros, so code that loops until it sees a
/// non-zero value still ends.
const FIXED_BYTES: [u8; 8] = [0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15];

/// Both WASI clocks, stopped: the wall clock at the Unix epoch, the monotonic clock at zero.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl v0_1_0::TypesHost for CallState {}

impl v0_1_0::HostImports for CallState {
    fn log(&mut self, level: Level, message: String) {
        if self.logs.len() >= self.max_log_lines {
            self.dropped_logs += 1;
            return;
        }
        let mut cut = message.len().min(MAX_LOG_LINE);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let ellipsis = if cut < message.len() { "…" } else { "" };
        self.logs.push(format!(
            "{}: {}{ellipsis}",
            v0_1_0::level_name(level),
            &message[..cut]
        ));
    }

    fn lookup(&mut self, table: String, key: String) -> Option<String> {
        self.tables.get(&table)?.get(&key).cloned()
    }
}

/// Bounds the linear memory of all of a call's instances together, and remembers whether the
/// bound was hit so the host can report [`crate::PluginError::MemoryLimit`] from that fact
/// rather than from the trap's text.
pub(crate) struct Limiter {
    limit: usize,
    used: usize,
    pub(crate) tripped: bool,
}

/// The error a refused memory growth traps with.
#[derive(Debug)]
pub(crate) struct MemoryLimitHit;

impl std::fmt::Display for MemoryLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memory limit reached")
    }
}

impl std::error::Error for MemoryLimitHit {}

impl Limiter {
    fn new(limit: usize) -> Limiter {
        Limiter {
            limit,
            used: 0,
            tripped: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.limit {
            // Trap rather than fail the grow: a guest allocator that handled failure would
            // otherwise keep running near the limit, and Rust's aborts anyway.
            self.tripped = true;
            return Err(wasmtime::Error::new(MemoryLimitHit));
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000 && maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        8
    }
}
