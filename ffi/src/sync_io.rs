//! The I/O around sync that `dossier` leaves to its callers: the network runtime of a hub
//! session and bundle files on disk. The protocol, the signatures and the checks are all in
//! `dossier` (and its WebSocket transport in `dossier-net`); this module only moves bytes.

use std::path::Path;

use dossier::sync::{MAX_BUNDLE_BYTES, SyncReport};

use crate::error::DossierError;

type Result<T, E = DossierError> = std::result::Result<T, E>;

/// Runs one sync session with the hub at `url` to its end, blocking the calling thread.
///
/// The session runs on a thread of its own (see [`sync_on_this_thread`]) that is joined before
/// this returns, so the caller's thread is left exactly as it was: a host thread that is itself
/// inside a tokio runtime (a Rust host) cannot make the call fail, and no runtime state is left
/// in the caller's thread-local storage.
pub(crate) fn sync_with_hub(store: &dossier::Store, url: &str) -> Result<SyncReport> {
    let (store, url) = (store.clone(), url.to_string());
    std::thread::Builder::new()
        .name("dossier-sync".into())
        .spawn(move || sync_on_this_thread(&store, &url))
        .map_err(|e| DossierError::Internal(format!("cannot start the sync thread: {e}")))?
        .join()
        .unwrap_or_else(|_| {
            Err(DossierError::Internal(
                "internal error: the sync thread failed unexpectedly".into(),
            ))
        })
}

/// Runs one sync session on the current thread, which must not be inside a tokio runtime (a
/// thread made for the call, as in [`sync_with_hub`] and the `_async` methods).
///
/// Each call owns a small single-threaded tokio runtime, dropped when the session ends, so no
/// thread of Dossier's outlives a call and the host needs no runtime of its own; the engine's
/// SQLite work runs on that runtime's blocking pool. A session takes a WebSocket handshake and
/// several round trips, so starting a runtime per call costs nothing that matters.
pub(crate) fn sync_on_this_thread(store: &dossier::Store, url: &str) -> Result<SyncReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DossierError::Internal(format!("cannot start the network runtime: {e}")))?;
    let config = dossier_net::NetConfig::default();
    Ok(runtime.block_on(dossier_net::sync_with_hub(store, url, &config))?)
}

/// Refuses a bundle path whose folder does not exist, before any work is done.
pub(crate) fn check_bundle_path(path: &str) -> Result<()> {
    dossier::files::check_folder_of(Path::new(path))
        .map_err(|e| DossierError::Storage(format!("cannot write the bundle: {e}")))
}

/// Writes a private (0600) bundle beside `path` and renames it into place, so a reader (or a USB stick pulled
/// out early) never sees half a bundle under the final name.
pub(crate) fn write_bundle(path: &str, bytes: &[u8]) -> Result<()> {
    dossier::files::write_private_atomic(Path::new(path), bytes)
        .map_err(|e| DossierError::Storage(format!("cannot write the bundle: {e}")))
}

/// Reads a bundle file whole, refusing one larger than any bundle can be before reading it.
pub(crate) fn read_bundle(path: &str) -> Result<Vec<u8>> {
    let cannot = |e: std::io::Error| DossierError::Storage(format!("cannot read the bundle: {e}"));
    let len = std::fs::metadata(path).map_err(cannot)?.len();
    if len > MAX_BUNDLE_BYTES as u64 {
        return Err(DossierError::SyncFailed(format!(
            "the file is larger than a bundle can be ({MAX_BUNDLE_BYTES} bytes)"
        )));
    }
    std::fs::read(path).map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bundle_file_is_a_storage_error_naming_no_path() {
        let e = read_bundle("/nonexistent/dir/customer-ana.bundle").unwrap_err();
        assert!(
            matches!(&e, DossierError::Storage(m) if !m.contains("customer-ana")),
            "{e:?}"
        );
    }

    #[test]
    fn a_blocking_sync_works_from_inside_a_tokio_runtime() {
        let dir = std::env::temp_dir().join(format!("dossier-ffi-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store = dossier::Store::open(
            dir.join("s.db"),
            dossier::StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .expect("open");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let e = rt.block_on(async { sync_with_hub(&store, "ws://127.0.0.1:9").unwrap_err() });
        assert!(matches!(e, DossierError::Network(_)), "{e:?}");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_hub_that_is_not_listening_is_a_network_error() {
        let dir = std::env::temp_dir().join(format!("dossier-ffi-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store = dossier::Store::open(
            dir.join("s.db"),
            dossier::StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .expect("open");
        // Port 9 (discard) on loopback: nothing listens there on a test machine.
        let e = sync_with_hub(&store, "ws://127.0.0.1:9").unwrap_err();
        assert!(matches!(e, DossierError::Network(_)), "{e:?}");
        let e = sync_with_hub(&store, "http://127.0.0.1:9").unwrap_err();
        assert!(matches!(e, DossierError::Invalid(_)), "{e:?}");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
