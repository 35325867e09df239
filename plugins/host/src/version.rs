//! Reads which WIT API version a component was built against, without compiling it.
//!
//! A plugin's API version is the version in the name of the interface it exports,
//! `dossier:workflow/step@X.Y.Z`. The host reads it from the component's top-level export
//! section with `wasmparser` (a cheap parse, no validation and no code generation) and refuses
//! versions it has no adapter for — so a plugin built for a newer API fails with a clear
//! [`PluginError::Incompatible`] instead of a link error, and untrusted bytes are never handed
//! to the compiler just to find out they do not fit.

use wasmparser::{Encoding, Parser, Payload};

use crate::error::{PluginError, Result};

/// The exported interface every plugin must have, without its version.
const STEP_INTERFACE: &str = "dossier:workflow/step";

/// The API versions this host has an adapter for, oldest first.
pub const SUPPORTED_APIS: &[&str] = &[dossier::plugin::API_VERSION];

/// An API version this host can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `dossier:workflow@0.1.0`.
    V0_1_0,
}

impl Api {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Api::V0_1_0 => "0.1.0",
        }
    }
}

/// Finds the component's `dossier:workflow/step` API version and checks this host supports it.
///
/// # Errors
/// [`PluginError::NotAComponent`] for a core module or bytes that are not wasm;
/// [`PluginError::Incompatible`] for an unsupported version or no step export.
pub(crate) fn check(wasm: &[u8]) -> Result<Api> {
    let found = exported_api(wasm)?;
    match found.as_deref() {
        Some("0.1.0") => Ok(Api::V0_1_0),
        other => Err(PluginError::Incompatible {
            found: other.unwrap_or("none").to_string(),
            supported: SUPPORTED_APIS.join(", "),
        }),
    }
}

/// The version of the top-level `dossier:workflow/step@…` export, if there is one.
fn exported_api(wasm: &[u8]) -> Result<Option<String>> {
    let bad = |e: &dyn std::fmt::Display| PluginError::NotAComponent(e.to_string());
    // Nested modules and components each begin with their own `Version` payload and finish
    // with an `End`; only exports at depth 1 belong to the plugin itself.
    let mut depth = 0usize;
    let mut found = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| bad(&e))? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(PluginError::NotAComponent(
                        "a core WebAssembly module, not a component (build for wasm32-wasip2)"
                            .into(),
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(exports) if depth == 1 => {
                for export in exports {
                    let export = export.map_err(|e| bad(&e))?;
                    let name = export.name.name;
                    if let Some(version) = name
                        .strip_prefix(STEP_INTERFACE)
                        .and_then(|rest| rest.strip_prefix('@'))
                    {
                        found = Some(version.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(PluginError::NotAComponent("truncated component".into()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_core_modules_are_not_components() {
        assert!(matches!(
            check(b"hello world"),
            Err(PluginError::NotAComponent(_))
        ));
        // The smallest core module: magic and version 1.
        assert!(matches!(
            check(b"\0asm\x01\0\0\0"),
            Err(PluginError::NotAComponent(_))
        ));
        // A component header cut short.
        assert!(matches!(
            check(b"\0asm\x0d\0\x01"),
            Err(PluginError::NotAComponent(_))
        ));
    }

    #[test]
    fn an_empty_component_has_no_api() {
        let err = check(b"\0asm\x0d\0\x01\0").unwrap_err();
        assert!(matches!(err, PluginError::Incompatible { ref found, .. } if found == "none"));
    }
}
