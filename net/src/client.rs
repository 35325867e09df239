//! The site's side: one sync session with a hub, and reconnecting with backoff.
//!
//! A site on a flaky link retries what may get better (a refused connection, a timeout, a busy
//! hub) with exponential backoff and jitter, so a hundred sites coming back online after an
//! outage do not all knock at once; it never retries a refusal (unknown key, bad signature),
//! which only an operator can fix.

use std::time::Duration;

use dossier::Store;
use dossier::sync::{Session, SyncReport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::{Error, Result};
use crate::{NetConfig, transport};

/// Runs one sync session with the hub at `url`: `ws://HOST:PORT`, or `wss://HOST:PORT` for a
/// hub serving TLS, whose certificate must chain to one of [`NetConfig::tls_roots`].
///
/// # Errors
/// [`Error::Address`] for a URL that is not `ws://` or `wss://`; transport errors
/// ([`Error::Io`], [`Error::Timeout`], [`Error::Closed`], [`Error::Busy`]); [`Error::NotAHub`]
/// when the peer does not answer as a WebSocket hub (e.g. `ws://` at a TLS hub); for `wss://`,
/// [`Error::TlsUnavailable`] without the `tls` feature, [`Error::TlsConfig`] with no trusted
/// root, [`Error::UntrustedCertificate`] when the hub's certificate is refused and
/// [`Error::Tls`] when the TLS handshake fails otherwise; [`Error::Store`] when either side
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
    let target = Target::parse(url)?;
    let ws_config = Some(transport::ws_config(config));
    let timeout = |_| Error::Timeout("the hub to accept the connection");
    if target.secure {
        #[cfg(feature = "tls")]
        {
            let connector = crate::tls::connector(&config.tls_roots, &target.host)?;
            let ws = tokio::time::timeout(config.handshake_timeout, async {
                let tcp = target.connect().await?;
                let tls = crate::tls::connect(connector, tcp).await?;
                handshake(target.request, tls, ws_config).await
            })
            .await
            .map_err(timeout)??;
            return run(store, ws, config, progress).await;
        }
        #[cfg(not(feature = "tls"))]
        return Err(Error::TlsUnavailable);
    }
    let ws = tokio::time::timeout(config.handshake_timeout, async {
        let tcp = target.connect().await?;
        handshake(target.request, tcp, ws_config).await
    })
    .await
    .map_err(timeout)??;
    run(store, ws, config, progress).await
}

/// Where a hub URL points.
struct Target {
    /// The WebSocket handshake request for the URL.
    request: Request,
    /// `wss://`.
    secure: bool,
    /// The host, without the brackets of an IPv6 literal.
    host: String,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let bad = || Error::Address(url.to_string());
        let secure = if url.starts_with("wss://") {
            true
        } else if url.starts_with("ws://") {
            false
        } else {
            return Err(bad());
        };
        let request = url.into_client_request().map_err(|_| bad())?;
        let host = request.uri().host().ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_string();
        if host.is_empty() {
            return Err(bad());
        }
        let port = request
            .uri()
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        Ok(Target {
            request,
            secure,
            host,
            port,
        })
    }

    async fn connect(&self) -> Result<TcpStream> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }
}

/// The WebSocket handshake over an open stream. A reply that is not HTTP at all (such as a TLS
/// alert from a hub serving `wss://`) is [`Error::NotAHub`], not a transient network error, so
/// it is reported at once rather than retried.
async fn handshake<S>(
    request: Request,
    stream: S,
    ws_config: Option<WebSocketConfig>,
) -> Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio_tungstenite::client_async_with_config(request, stream, ws_config).await {
        Ok((ws, _)) => Ok(ws),
        Err(e @ (WsError::HttpFormat(_) | WsError::Protocol(ProtocolError::HttparseError(_)))) => {
            Err(Error::NotAHub(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts the session over an open WebSocket and runs it to its end.
async fn run<S>(
    store: &Store,
    ws: WebSocketStream<S>,
    config: &NetConfig,
    progress: &mut (dyn FnMut(&SyncReport) + Send),
) -> Result<SyncReport>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (store, session_config) = (store.clone(), config.session.clone());
    let session = tokio::task::spawn_blocking(move || Session::initiate(&store, session_config))
        .await
        .map_err(|e| Error::WebSocket(format!("the session task failed: {e}")))??;
    transport::run(ws, session, config, progress, &mut None).await
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
