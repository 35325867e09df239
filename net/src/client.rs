//! The site's side: one sync session with a hub, and reconnecting with backoff.
//!
//! A site on a flaky link retries what may get better (a refused connection, a timeout, a busy
//! hub) with exponential backoff and jitter, so a hundred sites coming back online after an
//! outage do not all knock at once; it never retries a refusal (unknown key, bad signature),
//! which only an operator can fix.

use std::time::Duration;

use dossier::Store;
use dossier::sync::{Session, SyncReport};

use crate::error::{Error, Result};
use crate::{NetConfig, transport};

/// Runs one sync session with the hub at `url` (`ws://HOST:PORT`).
///
/// # Errors
/// [`Error::Address`] for a URL that is not `ws://`; transport errors ([`Error::Io`],
/// [`Error::Timeout`], [`Error::Closed`], [`Error::Busy`]); [`Error::Store`] when either side
/// refused the session (see [`dossier::sync::SyncFailure`]).
pub async fn sync_with_hub(store: &Store, url: &str, config: &NetConfig) -> Result<SyncReport> {
    sync_with_hub_progress(store, url, config, &mut |_| {}).await
}

/// [`sync_with_hub`], calling `progress` with the running totals after every message the hub
/// sends (a terminal shows them as a live line; a GUI as a progress indicator).
///
/// # Errors
/// As [`sync_with_hub`].
pub async fn sync_with_hub_progress(
    store: &Store,
    url: &str,
    config: &NetConfig,
    progress: &mut (dyn FnMut(&SyncReport) + Send),
) -> Result<SyncReport> {
    if !url.starts_with("ws://") {
        return Err(Error::Address(url.to_string()));
    }
    let connect =
        tokio_tungstenite::connect_async_with_config(url, Some(transport::ws_config(config)), true);
    let (ws, _) = tokio::time::timeout(config.handshake_timeout, connect)
        .await
        .map_err(|_| Error::Timeout("the hub to accept the connection"))??;
    let (store, session_config) = (store.clone(), config.session.clone());
    let session = tokio::task::spawn_blocking(move || Session::initiate(&store, session_config))
        .await
        .map_err(|e| Error::WebSocket(format!("the session task failed: {e}")))??;
    transport::run(ws, session, config, progress).await
}

/// How [`sync_with_retry`] retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled after each failure.
    pub initial_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(15),
        }
    }
}

/// A wait between half and all of `delay`, so clients that failed together retry apart. The
/// jitter needs no cryptographic quality: the clock's nanoseconds will do.
fn jittered(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    delay.mul_f64(fraction)
}

/// [`sync_with_hub`], retried with exponential backoff while the failure is transient
/// ([`Error::is_transient`]). An interrupted session resumes where it stopped: what arrived is
/// stored, and the shared heads are remembered.
///
/// # Errors
/// The last attempt's error, or the first permanent one.
pub async fn sync_with_retry(
    store: &Store,
    url: &str,
    config: &NetConfig,
    retry: &Retry,
) -> Result<SyncReport> {
    sync_with_retry_progress(store, url, config, retry, &mut |_| {}).await
}

/// [`sync_with_retry`] with a `progress` callback as in [`sync_with_hub_progress`]; the totals
/// start again at each attempt.
///
/// # Errors
/// As [`sync_with_retry`].
pub async fn sync_with_retry_progress(
    store: &Store,
    url: &str,
    config: &NetConfig,
    retry: &Retry,
    progress: &mut (dyn FnMut(&SyncReport) + Send),
) -> Result<SyncReport> {
    let mut delay = retry.initial_delay;
    let mut attempt = 1;
    loop {
        match sync_with_hub_progress(store, url, config, progress).await {
            Ok(report) => return Ok(report),
            Err(e) if e.is_transient() && attempt < retry.attempts => {
                tokio::time::sleep(jittered(delay)).await;
                delay = (delay * 2).min(retry.max_delay);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
