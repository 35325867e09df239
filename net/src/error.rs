//! The one error type of `dossier-net`.
//!
//! Transport failures (a refused connection, a timeout, a dropped socket) are kept apart from
//! the store's and the protocol's errors, because a client retries the first kind and never the
//! second: a bad signature will not get better by trying again.

use dossier::sync::SyncFailure;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong moving a sync session over the network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store or the sync protocol refused (authentication, protocol, storage): see the
    /// inner error, e.g. [`dossier::Error::Sync`] or [`dossier::Error::SyncRefused`].
    #[error(transparent)]
    Store(#[from] dossier::Error),
    /// The hub address is not a `ws://host:port` URL.
    #[error("invalid hub address {0}: use ws://HOST:PORT")]
    Address(String),
    /// A network error (connect, read, write).
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// A WebSocket protocol error.
    #[error("websocket error: {0}")]
    WebSocket(String),
    /// The peer did not answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The connection closed before the session ended.
    #[error("the connection closed before the session ended")]
    Closed,
    /// The hub is serving as many sessions as it allows; try again later.
    #[error("the hub is busy; try again later")]
    Busy,
    /// A message larger than the limit arrived; the session was ended.
    #[error("a message larger than the limit of {limit} bytes arrived")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl Error {
    /// Whether trying again later may succeed (network trouble, a busy hub) — as opposed to a
    /// refusal that will not change by itself (an unknown key, a bad signature, a bad address).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io(_)
            | Error::WebSocket(_)
            | Error::Timeout(_)
            | Error::Closed
            | Error::Busy => true,
            Error::Store(dossier::Error::SyncRefused(SyncFailure::Internal)) => true,
            Error::Store(_) | Error::Address(_) | Error::TooLarge { .. } => false,
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as W;
        match e {
            W::Io(e) => Error::Io(e),
            W::ConnectionClosed | W::AlreadyClosed => Error::Closed,
            W::Url(e) => Error::Address(e.to_string()),
            other => Error::WebSocket(other.to_string()),
        }
    }
}
