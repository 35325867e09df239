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
    /// The hub address is not a `ws://host:port` or `wss://host:port` URL.
    #[error("invalid hub address {0}: use ws://HOST:PORT or wss://HOST:PORT")]
    Address(String),
    /// A network error (connect, read, write).
    #[error("network error: {0}")]
    Io(std::io::Error),
    /// TLS (`wss://`, or a hub TLS identity) was asked for, but this build of `dossier-net` has
    /// no `tls` cargo feature.
    #[error("this build has no TLS support: wss:// needs dossier-net's `tls` feature")]
    TlsUnavailable,
    /// A TLS certificate, key or trusted root could not be used: an unreadable file, PEM with no
    /// certificate or key in it or malformed, a key that does not belong to the certificate, or
    /// no trusted root at all for `wss://`.
    #[error("invalid TLS configuration: {0}")]
    TlsConfig(String),
    /// The hub's certificate was refused: not issued by a trusted root, issued for another host
    /// name, expired, and the like.
    #[error("the hub's certificate is not trusted: {0}")]
    UntrustedCertificate(String),
    /// The TLS layer failed: e.g. the peer does not speak TLS (a `wss://` client at a plain
    /// hub, or a plain client at a TLS hub), or refused our certificate.
    #[error("tls error: {0}")]
    Tls(String),
    /// The peer did not answer the WebSocket handshake as a hub does: e.g. a `ws://` client at
    /// a hub that serves `wss://`, or something that is not a Dossier hub at all.
    #[error("the peer did not answer as a WebSocket hub ({0}); if the hub serves TLS, use wss://")]
    NotAHub(String),
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
            Error::Store(_)
            | Error::Address(_)
            | Error::TooLarge { .. }
            | Error::TlsUnavailable
            | Error::TlsConfig(_)
            | Error::UntrustedCertificate(_)
            | Error::Tls(_)
            | Error::NotAHub(_) => false,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // tokio-rustls reports TLS failures (a refused certificate, an alert) as I/O errors.
        #[cfg(feature = "tls")]
        return crate::tls::classify_io(e);
        #[cfg(not(feature = "tls"))]
        Error::Io(e)
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as W;
        match e {
            W::Io(e) => e.into(),
            W::ConnectionClosed | W::AlreadyClosed => Error::Closed,
            W::Url(e) => Error::Address(e.to_string()),
            other => Error::WebSocket(other.to_string()),
        }
    }
}
