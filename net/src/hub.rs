//! The hub: `dossier serve`. Accepts sites over WebSocket and runs one sync session each.
//!
//! Bounded on purpose: at most [`HubConfig::max_sessions`] sessions run at once (a connection
//! beyond that is told "try again later" with close code 1013, which clients treat as
//! transient), each message is limited in size, and every wait has a timeout, so a slow or
//! hostile client costs a bounded amount of memory and one slot for a bounded time. Shutdown is
//! graceful: the hub stops accepting at once, lets running sessions finish for
//! [`HubConfig::shutdown_grace`], then drops them — an interrupted session loses nothing that was
//! stored, and the next one resumes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dossier::Store;
use dossier::sync::{Claim, Session, SyncReport};
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::error::{Error, Result};
use crate::{NetConfig, ServerTls, transport};

/// What became of one connection, for the operator's log.
///
/// Its `Display` is that log line: `127.0.0.1:50412 BLR2: 3 documents sent, …` with each
/// refused document named (`case BLR2-3 refused here: …`), or, for a failed session,
/// `127.0.0.1:50412 (site BLR9, key fingerprint 3f2a…): session failed: …` — the site and key
/// a refused hello claimed, so an operator can tell who tried.
#[derive(Debug)]
pub struct SessionOutcome {
    /// The connecting address.
    pub remote: SocketAddr,
    /// The session's report, or why it failed.
    pub result: Result<SyncReport>,
    /// Who the peer said it was in its hello (site id and public key), proven or not; `None`
    /// when no hello decoded.
    pub claim: Option<Claim>,
}

impl std::fmt::Display for SessionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok(r) => {
                let peer = r.peer.as_deref().unwrap_or("?");
                write!(
                    f,
                    "{} {peer}: {} documents sent, {} received, {} rejected; {} bytes sent, {} received",
                    self.remote,
                    r.docs_sent,
                    r.docs_received,
                    r.rejected.len(),
                    r.bytes_sent,
                    r.bytes_received
                )?;
                for x in &r.rejected {
                    write!(f, "\n  {x}")?;
                }
                Ok(())
            }
            Err(e) => match &self.claim {
                Some(claim) => write!(f, "{} ({claim}): session failed: {e}", self.remote),
                None => write!(f, "{}: session failed: {e}", self.remote),
            },
        }
    }
}

/// Called once per connection when it ends.
pub type OnSession = Arc<dyn Fn(&SessionOutcome) + Send + Sync>;

/// How a hub runs.
#[derive(Clone)]
pub struct HubConfig {
    /// Per-session limits and timeouts.
    pub net: NetConfig,
    /// Most sessions at once.
    pub max_sessions: usize,
    /// How long running sessions may go on after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// Told about every finished connection (e.g. to print a line per session).
    pub on_session: Option<OnSession>,
    /// Serve `wss://` with this certificate and key instead of plain `ws://`.
    pub tls: Option<ServerTls>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            net: NetConfig::default(),
            max_sessions: 64,
            shutdown_grace: Duration::from_secs(10),
            on_session: None,
            tls: None,
        }
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("net", &self.net)
            .field("max_sessions", &self.max_sessions)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A running hub. Dropping it without [`Hub::shutdown`] stops accepting and aborts sessions.
#[derive(Debug)]
pub struct Hub {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Hub {
    /// Listens on `addr` (use port 0 for any free port) and serves `store` to provisioned
    /// peers until shut down. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Io`] when the address cannot be bound.
    pub async fn bind(store: Store, addr: impl ToSocketAddrs, config: HubConfig) -> Result<Hub> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, store, config, stopped));
        Ok(Hub {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The address the hub listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets running sessions finish within the grace period, then returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until `signal` completes (e.g. Ctrl-C), then shuts down gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    store: Store,
    config: HubConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.max_sessions.max(1)));
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(a) => a,
                    Err(_) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let slot = Arc::clone(&slots).try_acquire_owned().ok();
                let (store, config) = (store.clone(), config.clone());
                sessions.spawn(async move {
                    let mut claim = None;
                    let result =
                        serve_one(tcp, store, &config, slot.is_some(), &mut claim).await;
                    drop(slot);
                    if let Some(cb) = &config.on_session {
                        cb(&SessionOutcome { remote, result, claim });
                    }
                });
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(config.shutdown_grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
    while sessions.join_next().await.is_some() {}
}

async fn serve_one(
    tcp: TcpStream,
    store: Store,
    config: &HubConfig,
    has_slot: bool,
    claim: &mut Option<Claim>,
) -> Result<SyncReport> {
    let net = &config.net;
    let ws_config = Some(transport::ws_config(net));
    let timeout = |_| Error::Timeout("the websocket handshake");
    if let Some(tls) = &config.tls {
        #[cfg(feature = "tls")]
        {
            let ws = tokio::time::timeout(net.handshake_timeout, async {
                let stream = tls.acceptor().accept(tcp).await?;
                Ok::<_, Error>(
                    tokio_tungstenite::accept_async_with_config(stream, ws_config).await?,
                )
            })
            .await
            .map_err(timeout)??;
            return serve_ws(ws, store, net, has_slot, claim).await;
        }
        #[cfg(not(feature = "tls"))]
        {
            // A `ServerTls` cannot be made without the feature.
            let _ = tls;
            return Err(Error::TlsUnavailable);
        }
    }
    let handshake = tokio_tungstenite::accept_async_with_config(tcp, ws_config);
    let ws = tokio::time::timeout(net.handshake_timeout, handshake)
        .await
        .map_err(timeout)??;
    serve_ws(ws, store, net, has_slot, claim).await
}

/// Runs one session over an accepted WebSocket, or tells the site the hub is busy.
async fn serve_ws<S>(
    mut ws: WebSocketStream<S>,
    store: Store,
    net: &NetConfig,
    has_slot: bool,
    claim: &mut Option<Claim>,
) -> Result<SyncReport>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if !has_slot {
        let _ = ws
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Again,
                reason: "busy".into(),
            })))
            .await;
        return Err(Error::Busy);
    }
    let session_config = net.session.clone();
    let session = tokio::task::spawn_blocking(move || Session::accept(&store, session_config))
        .await
        .map_err(|e| Error::WebSocket(format!("the session task failed: {e}")))??;
    transport::run(ws, session, net, &mut |_| {}, claim).await
}
