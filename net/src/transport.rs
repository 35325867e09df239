//! Running one sync session over a WebSocket stream, whichever side opened it.
//!
//! Every wait is bounded (the idle timeout per message, the session timeout overall), every
//! message is size-limited by the WebSocket layer before it is buffered whole, and each received
//! message is handed to the engine on tokio's blocking pool, because the engine writes to SQLite.
//! When the engine ends the session — normally or with a failure — whatever it still has to say
//! (a `Done`, or the reason it gave up) is sent before the connection is closed, so the peer
//! learns why.

use std::time::Duration;

use dossier::sync::{Claim, Session, SyncFailure, SyncReport};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::NetConfig;
use crate::error::{Error, Result};

/// How long to wait for the peer's close after ours, so both ends shut down cleanly.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The WebSocket limits for `config`: one message at most the engine's limit.
pub(crate) fn ws_config(config: &NetConfig) -> WebSocketConfig {
    let limit = config.session.max_message_bytes;
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// Sends everything the engine has queued.
async fn flush<S>(ws: &mut WebSocketStream<S>, session: &mut Session) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut any = false;
    while let Some(msg) = session.poll_transmit() {
        ws.feed(Message::Binary(msg.into())).await?;
        any = true;
    }
    if any {
        ws.flush().await?;
    }
    Ok(())
}

/// Runs `session` over `ws` to its end and closes the connection. `claim` is set to who the
/// peer said it was as soon as its hello decodes, so a failure can still be logged with it.
///
/// # Errors
/// The engine's error when the session failed (after telling the peer), or a transport error.
pub(crate) async fn run<S>(
    mut ws: WebSocketStream<S>,
    mut session: Session,
    config: &NetConfig,
    progress: &mut (dyn FnMut(&SyncReport) + Send),
    claim: &mut Option<Claim>,
) -> Result<SyncReport>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let deadline = Instant::now() + config.session_timeout;
    flush(&mut ws, &mut session).await?;
    while !session.is_closed() {
        let wait = deadline.min(Instant::now() + config.idle_timeout);
        let next = match tokio::time::timeout_at(wait, ws.next()).await {
            Ok(next) => next,
            Err(_) => {
                let what = if Instant::now() >= deadline {
                    "the session to end (session timeout)"
                } else {
                    "the peer's next message"
                };
                return Err(Error::Timeout(what));
            }
        };
        let bytes: Vec<u8> = match next {
            None => return Err(Error::Closed),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            // Not a sync message: the engine refuses it as malformed and tells the peer.
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Close(frame))) => {
                return Err(match frame {
                    Some(f) if f.code == CloseCode::Again => Error::Busy,
                    _ => Error::Closed,
                });
            }
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                let limit = config.session.max_message_bytes;
                session.abort(SyncFailure::TooLarge {
                    limit: limit as u64,
                });
                let _ = flush(&mut ws, &mut session).await;
                let _ = ws.close(None).await;
                return Err(Error::TooLarge { limit });
            }
            Some(Err(e)) => return Err(e.into()),
        };
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = session.handle(&bytes);
            (session, r)
        })
        .await
        .map_err(|e| Error::WebSocket(format!("the session task failed: {e}")))?;
        session = back;
        if claim.is_none() {
            claim.clone_from(&session.claim().cloned());
        }
        let sent = flush(&mut ws, &mut session).await;
        progress(session.report());
        if let Err(e) = result {
            close(&mut ws).await;
            return Err(e.into());
        }
        sent?;
    }
    close(&mut ws).await;
    Ok(session.report().clone())
}

/// Closes the connection: our close frame, then the peer's, for at most [`CLOSE_GRACE`].
async fn close<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if ws.close(None).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
