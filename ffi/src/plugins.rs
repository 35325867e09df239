//! Workflow plugins for both surfaces: the process's one plugin host, and the two calls that
//! take more than one step (installing a component, a dry run), shared by uniffi and the C ABI.
//!
//! Every store opened through this library gets the host installed as its workflow
//! ([`with_plugins`]), so case writes run the active plugins of the case's market on their
//! triggers, as the `dossier` command does. The host (a wasmtime engine and its caches) is made
//! once per process, on first use. Where wasmtime cannot run (it fails to start), stores open
//! without plugins and the plugin calls fail with `PluginFailed`.

use std::sync::OnceLock;

use dossier_plugins::{DryRun, HostConfig, PluginHost};

use crate::error::DossierError;

type Result<T, E = DossierError> = std::result::Result<T, E>;

/// The process's plugin host, made on first use.
pub(crate) fn host() -> Result<&'static PluginHost> {
    static HOST: OnceLock<Result<PluginHost, DossierError>> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(HostConfig::default()).map_err(DossierError::from))
        .as_ref()
        .map_err(Clone::clone)
}

/// Installs the plugin host in a freshly opened store (if the host could start).
pub(crate) fn with_plugins(store: dossier::Store) -> dossier::Store {
    if let Ok(host) = host() {
        store.set_workflow(std::sync::Arc::new(host.clone()));
    }
    store
}

/// Reads the component's own description, narrows its markets if asked, signs it with the
/// publisher key (its secret text form) or the site key, and installs the package.
pub(crate) fn install(
    store: &dossier::Store,
    wasm: Vec<u8>,
    markets: Vec<String>,
    publisher_key: Option<&str>,
) -> Result<dossier::PluginInfo> {
    let mut manifest = host()?.inspect(&wasm)?;
    if !markets.is_empty() {
        manifest.markets = markets;
    }
    let package = match publisher_key {
        Some(key) => {
            let key: dossier::PublisherKey = key.parse()?;
            dossier::PluginPackage::sign(manifest, wasm, &key)?
        }
        None => store.sign_plugin(manifest, wasm)?,
    };
    Ok(store.install_plugin(&package)?)
}

/// Evaluates the active version of plugin `name` on a case and changes nothing.
pub(crate) fn dry_run(
    store: &dossier::Store,
    name: &str,
    case_key: &str,
    trigger: dossier::Trigger,
) -> Result<DryRun> {
    Ok(host()?.dry_run(store, name, case_key, trigger)?)
}
