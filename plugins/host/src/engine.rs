//! The process-wide wasmtime [`Engine`]: its deterministic configuration, the epoch ticker that
//! enforces timeouts, and the id that names its compiled code in the store's cache.
//!
//! Every [`crate::PluginHost`] in a process shares one engine (compiled code is tied to the
//! engine that made it, and each engine would need its own ticker thread). Nothing in the
//! engine depends on [`crate::HostConfig`]: fuel, timeout and memory are per-call settings of
//! each wasmtime `Store`, so hosts with different limits share code.

use std::hash::Hasher;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, OptLevel};

use crate::error::{PluginError, Result};

/// How often the ticker advances the engine's epoch; timeouts are rounded up to it.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The wasm stack a call may use (wasmtime's own guard, separate from the guest's shadow stack).
const MAX_WASM_STACK: usize = 512 * 1024;

/// Bumped whenever the cache envelope or the engine settings below change meaning.
const CODE_FORMAT: u32 = 1;

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    /// Names this engine's compiled code: wasmtime's own compatibility hash (its version and
    /// every setting that changes code) plus [`CODE_FORMAT`].
    pub(crate) id: String,
}

static SHARED: OnceLock<std::result::Result<Shared, String>> = OnceLock::new();

/// The process-wide engine, made (and its ticker started) on first use.
pub(crate) fn shared() -> Result<&'static Shared> {
    SHARED
        .get_or_init(|| make().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| PluginError::Engine(e.clone()))
}

fn config() -> Config {
    let mut c = Config::new();
    // Budget and interruption: fuel bounds instructions, epochs bound wall-clock time.
    c.consume_fuel(true);
    c.epoch_interruption(true);
    // Determinism: the same plugin gives the same answer at every site and at the hub.
    // NaN bit patterns are canonicalised; relaxed SIMD (whose results may differ between
    // CPUs) is off; threads are not compiled into this build at all.
    c.cranelift_nan_canonicalization(true);
    c.wasm_relaxed_simd(false);
    c.cranelift_opt_level(OptLevel::Speed);
    c.max_wasm_stack(MAX_WASM_STACK);
    // A trap is reported by its code; walking the guest stack on every trap would only cost
    // time (a hostile plugin can trap on every call).
    c.wasm_backtrace_max_frames(None);
    c
}

fn make() -> wasmtime::Result<Shared> {
    let engine = Engine::new(&config())?;
    let mut hasher = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hasher.write_u32(CODE_FORMAT);
    let digest = hasher.0.finalize();
    let id = format!("wasmtime48-{}", crate::hex(&digest[..12]));
    let ticker = engine.clone();
    std::thread::Builder::new()
        .name("dossier-plugin-epoch".into())
        .spawn(move || {
            // One ticker for the one engine, for the life of the process (the engine is a
            // static). Incrementing an atomic every 10 ms costs nothing measurable.
            loop {
                ticker.increment_epoch();
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(wasmtime::Error::new)?;
    Ok(Shared { engine, id })
}

/// Epoch ticks a call may run for `timeout` (at least two, so a call that starts just before a
/// tick is not cut short).
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
        .max(2)
}

/// A [`Hasher`] feeding SHA-256, so the engine id is stable across builds of this crate (std's
/// `DefaultHasher` promises no such thing).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(Duration::ZERO), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(10)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(95)), 11);
        assert_eq!(deadline_ticks(Duration::MAX), u64::MAX);
    }

    #[test]
    fn the_engine_id_is_stable_within_a_process() {
        let a = shared().unwrap().id.clone();
        let b = shared().unwrap().id.clone();
        assert_eq!(a, b);
        assert!(a.starts_with("wasmtime48-"));
    }
}
