//! Dossier's network transports: a WebSocket sync hub (`dossier serve`) and the client sites
//! use to sync with it (`dossier sync --hub`).
//!
//! The sync protocol itself — authentication, scopes, reconciliation, ingress validation — is
//! the sans-I/O engine [`dossier::sync::Session`]; this crate only moves its messages over
//! WebSocket binary frames with tokio, and adds what a network needs: timeouts on the
//! handshake and on every wait, a bound on concurrent sessions, a maximum message size enforced
//! by the WebSocket layer before a message is buffered whole, graceful shutdown, and client
//! reconnects with exponential backoff. Store calls block briefly on SQLite, so each message is
//! handled on tokio's blocking pool. With the `tls` cargo feature, a hub can serve `wss://`
//! itself ([`HubConfig::tls`]) and clients trust the private CAs they are given
//! ([`NetConfig::tls_roots`]); see [`tls`].
//!
//! # Layout
//!
//! | module | responsibility |
//! |---|---|
//! | [`hub`] | [`Hub`]: accepts sites, one [`Session`](dossier::sync::Session) each, bounded |
//! | [`client`] | [`sync_with_hub`] and [`sync_with_retry`]: one session from a site |
//! | [`error`] | [`Error`], the crate's one error type |
//! | [`tls`] | [`ServerTls`] and [`TrustedRoots`]: `wss://` with rustls (feature `tls`) |
//! | `transport` | running a session over a WebSocket stream |
//!
//! # Example
//!
//! ```
//! use dossier::sync::Scope;
//! use dossier::{Category, NewCase, Store, StoreOptions};
//! use dossier_net::{Hub, HubConfig, NetConfig, sync_with_hub};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let open = |s: &str| Store::open(dir.path().join(s), StoreOptions { site: Some(s.into()), ..Default::default() });
//! let (hub_store, site) = (open("HUB")?, open("MX1")?);
//! hub_store.add_peer("MX1", site.public_key()?, vec!["ES".parse()?])?;
//! site.add_peer("HUB", hub_store.public_key()?, vec![Scope::everything()])?;
//! let case = hub_store.create_case(NewCase::new("ES", Category::Refund, "Reembolso"))?;
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let hub = Hub::bind(hub_store, "127.0.0.1:0", HubConfig::default()).await?;
//!     let url = format!("ws://{}", hub.local_addr());
//!     let report = sync_with_hub(&site, &url, &NetConfig::default()).await?;
//!     assert_eq!(report.docs_received, 1);
//!     hub.shutdown().await;
//!     Ok::<_, dossier_net::Error>(())
//! })?;
//! assert_eq!(site.case(&case.number)?.subject, "Reembolso");
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod client;
pub mod error;
pub mod hub;
pub mod tls;
mod transport;

use std::time::Duration;

use dossier::sync::SessionConfig;

pub use client::{
    Retry, sync_with_hub, sync_with_hub_progress, sync_with_retry, sync_with_retry_progress,
};
pub use error::{Error, Result};
pub use hub::{Hub, HubConfig, SessionOutcome};
pub use tls::{ServerTls, TrustedRoots};

/// Limits and timeouts of one session over the network, on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// The engine's limits; `max_message_bytes` is also the WebSocket message size limit.
    pub session: SessionConfig,
    /// Longest the WebSocket handshake (with the TCP connect and any TLS handshake) may take.
    pub handshake_timeout: Duration,
    /// Longest wait for the peer's next message.
    pub idle_timeout: Duration,
    /// Longest a whole session may take.
    pub session_timeout: Duration,
    /// The root certificates a client trusts for `wss://` hubs (none by default). The hub's
    /// side ignores them.
    pub tls_roots: TrustedRoots,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            session: SessionConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(30 * 60),
            tls_roots: TrustedRoots::default(),
        }
    }
}
