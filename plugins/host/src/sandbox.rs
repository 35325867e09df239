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
//! - **environment, arguments, cwd**: empty; stdin is closed; stdout is discarded; stderr is
//!   kept, up to [`MAX_STDERR`] bytes, and reported with the call (a Rust guest's panic message
//!   goes there);
//! - **clocks**: the wall clock is frozen at the Unix epoch and the monotonic clock at zero, so
//!   `SystemTime::now()` is 1970-01-01 and `Instant::elapsed()` is zero — use
//!   `case-snapshot.now`. Time never passes, so nothing waits for it: every monotonic-clock
//!   subscription (`std::thread::sleep`, a `poll` with a timeout) is ready at once;
//! - **randomness**: both generators return the same fixed bytes on every call (and the
//!   insecure seed is zero), so `HashMap` iteration order and anything "random" repeat.
//!
//! A plugin therefore computes a function of its snapshot, its lookup tables and its own code,
//! which is what lets every site and the hub reach the same answer.
//!
//! # Why no host call can wait
//!
//! The epoch deadline interrupts wasm code only: a host function that blocks (a WASI `poll`
//! waiting on a timer) would hold the call past its deadline, however short. So every host
//! function a plugin can reach returns without waiting: the clock subscriptions above are
//! replaced ([`StoppedClock`]; wasmtime-wasi's own waits on the real time whatever clock the
//! context is given), stdin is closed, stdout and stderr always accept, sockets and files do not
//! exist, and `log` and `lookup` are bounded copies. A plugin that loops over them is stopped by
//! its deadline or its fuel like any other loop.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError, subscribe};
use wasmtime_wasi::{Deterministic, WasiCtx, WasiCtxView, WasiView};

use crate::v0_1_0::{self, Level};

/// Longest log line a plugin call keeps, in bytes; longer lines are cut at a character
/// boundary.
pub const MAX_LOG_LINE: usize = 1_024;

/// Most bytes of a plugin call's stderr kept (the start of it); the rest is counted and dropped.
pub const MAX_STDERR: usize = 2_048;

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
    stderr: CappedStderr,
}

impl CallState {
    pub(crate) fn new(memory_bytes: usize, max_log_lines: usize, tables: Arc<Tables>) -> CallState {
        let stderr = CappedStderr::default();
        CallState {
            wasi: inert_wasi(stderr.clone()),
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            tables,
            logs: Vec::new(),
            max_log_lines,
            dropped_logs: 0,
            stderr,
        }
    }

    /// What the plugin wrote to stderr during the call, as one line (lines joined with ` | `,
    /// cut at [`MAX_STDERR`] bytes), or `None` when it wrote nothing.
    pub(crate) fn stderr(&self) -> Option<String> {
        self.stderr.text()
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

fn inert_wasi(stderr: CappedStderr) -> WasiCtx {
    let mut b = WasiCtx::builder();
    b.stderr(stderr)
        .allow_tcp(false)
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

/// `wasi:clocks/monotonic-clock` for a plugin: the frozen clock, and subscriptions that are
/// ready at once. Linked over wasmtime-wasi's own, whose subscriptions sleep on the real time
/// whatever clock the context is given (a plugin's `std::thread::sleep(6 s)` took six seconds
/// of a one-second deadline, the epoch interrupting wasm code only).
pub(crate) struct StoppedClock;

impl HasData for StoppedClock {
    type Data<'a> = StoppedClockView<'a>;
}

/// [`StoppedClock`]'s view of one call: the call's resource table, for the pollables.
pub(crate) struct StoppedClockView<'a>(&'a mut ResourceTable);

impl StoppedClock {
    pub(crate) fn view(state: &mut CallState) -> StoppedClockView<'_> {
        StoppedClockView(&mut state.table)
    }
}

/// A pollable that is always ready: a wait on a clock that never moves is over before it starts.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

impl StoppedClockView<'_> {
    fn elapsed(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let elapsed = self.0.push(Elapsed)?;
        subscribe(self.0, elapsed)
    }
}

impl monotonic_clock::Host for StoppedClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(HostMonotonicClock::now(&FrozenClock))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(HostMonotonicClock::resolution(&FrozenClock))
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }
}

/// The plugin's stderr: keeps the first [`MAX_STDERR`] bytes and drops the rest. Writing never
/// waits and never fails, so a chatty plugin is neither blocked nor broken by it.
#[derive(Clone, Default)]
struct CappedStderr(Arc<Mutex<StderrBuffer>>);

#[derive(Default)]
struct StderrBuffer {
    kept: Vec<u8>,
    dropped: usize,
}

impl CappedStderr {
    fn push(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked mid-copy; the bytes are still text.
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = MAX_STDERR.saturating_sub(buf.kept.len()).min(bytes.len());
        buf.kept.extend_from_slice(&bytes[..room]);
        buf.dropped = buf.dropped.saturating_add(bytes.len() - room);
    }

    fn text(&self) -> Option<String> {
        let buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&buf.kept);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            // Rust's panic hook adds advice that means nothing inside a sandbox.
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        if lines.is_empty() {
            return None;
        }
        let more = if buf.dropped > 0 {
            format!(" … ({} more bytes dropped)", buf.dropped)
        } else {
            String::new()
        };
        Some(format!("{}{more}", lines.join(" | ")))
    }
}

impl IsTerminal for CappedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Room offered to each write; any amount is accepted (and cut) anyway.
const STDERR_PERMIT: usize = 64 * 1024;

impl OutputStream for CappedStderr {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(STDERR_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedStderr {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
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
