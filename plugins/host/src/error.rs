//! The one error type of this crate. Every way a plugin can fail has its own variant, decided
//! from wasmtime's typed trap codes and the host's own limit bookkeeping — never from the text
//! of an error — so callers (the CLI, the store's failure events, tests) can match on it.

use thiserror::Error;

/// Why a plugin could not be loaded or could not answer.
///
/// Messages are lowercase and never contain case data: at most a plugin's own step-error text,
/// which the store redacts before it records a failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin used up its fuel (instruction budget) for one call.
    #[error("plugin ran out of fuel (instruction budget exhausted)")]
    OutOfFuel,
    /// The plugin ran past the wall-clock timeout of one call.
    #[error("plugin timed out")]
    Timeout,
    /// The plugin tried to grow its memory past the configured limit.
    #[error("plugin exceeded its memory limit")]
    MemoryLimit,
    /// The plugin trapped (a panic, `unreachable`, a stack overflow, an out-of-bounds access),
    /// or returned something the host could not read. The text is wasmtime's description.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The plugin returned a `step-error`.
    #[error("plugin returned an error ({code}): {message}")]
    Guest {
        /// Its machine-readable code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The component was built against a WIT API version this host does not accept (or
    /// exports no `dossier:workflow/step` interface at all). Found before compiling anything.
    #[error("plugin api {found} is not supported (this host supports {supported})")]
    Incompatible {
        /// The version the component exports, or `none`.
        found: String,
        /// The versions this host accepts, comma-separated.
        supported: String,
    },
    /// The plugin asked for an action the case does not allow.
    #[error("invalid plugin action #{index}: {reason}")]
    InvalidAction {
        /// Index of the first bad action.
        index: usize,
        /// Why it is invalid.
        reason: String,
    },
    /// The plugin's answer was bigger than the host accepts.
    #[error("plugin output is larger than {limit} bytes")]
    OutputTooLarge {
        /// The limit, in bytes ([`crate::HostConfig::max_output_bytes`]).
        limit: usize,
    },
    /// The bytes are not a WebAssembly component (a core module, or not wasm at all), or the
    /// component does not fit the `plugin` world.
    #[error("not a plugin component: {0}")]
    NotAComponent(String),
    /// The wasm engine could not be set up (an unsupported CPU, or no memory for it).
    #[error("the wasm engine could not be created: {0}")]
    Engine(String),
    /// The store failed, the package is not signed correctly, or the plugin is not installed.
    #[error(transparent)]
    Store(#[from] dossier::Error),
}

impl PluginError {
    /// The failure as the store records it: its kind, and this error's message as the detail.
    pub fn failure(&self) -> dossier::PluginFailure {
        use dossier::PluginFailureKind as K;
        let kind = match self {
            PluginError::OutOfFuel => K::OutOfFuel,
            PluginError::Timeout => K::Timeout,
            PluginError::MemoryLimit => K::MemoryLimit,
            PluginError::Trap(_) => K::Trap,
            PluginError::Guest { .. } => K::Guest,
            PluginError::OutputTooLarge { .. } => K::OutputTooLarge,
            PluginError::InvalidAction { .. } => K::InvalidAction,
            PluginError::Incompatible { .. }
            | PluginError::NotAComponent(_)
            | PluginError::Engine(_) => K::Incompatible,
            PluginError::Store(_) => K::Host,
        };
        dossier::PluginFailure {
            kind,
            detail: self.to_string(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;
