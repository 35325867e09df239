//! Authenticated, scoped sync between stores — the protocol engine, without any I/O.
//!
//! Vendor sites work offline for days and then merge with a hub (or with each other). This
//! module is the whole protocol: a [`Session`] takes the bytes of incoming messages and produces
//! the bytes of outgoing ones, and never touches a socket, a thread or a clock of its own, so the
//! same engine runs over WebSocket (`dossier-net`), in memory (tests, [`sync_pair`]) and — for the
//! changes part — through signed bundle files ([`Store::export_bundle`](crate::Store::export_bundle), [`Store::import_bundle`](crate::Store::import_bundle)).
//!
//! A session (DESIGN §7):
//! 1. **Hello.** Each side proves it holds its site's ed25519 key by signing the other side's
//!    fresh nonce. Peers are provisioned ahead with [`Store::add_peer`](crate::Store::add_peer); an unknown site, a key
//!    that is not the provisioned one, a bad signature, a replayed nonce or an unsupported
//!    protocol version end the session with a [`SyncFailure`] that says which.
//! 2. **Scope.** Each side only ever offers the other documents in the other's read
//!    [`Scope`]s, and refuses changes outside its write scopes — reported to both sides while the
//!    rest of the session goes on.
//! 3. **Reconcile.** Each side announces the documents that changed since its per-peer cursor
//!    (the `docs.change_seq` column), with an 8-byte digest of their heads, so a session between
//!    two stores that share 10,000 documents of which 10 changed costs about 10 documents.
//! 4. **Per-document Automerge sync** (`automerge::sync`) for the documents that differ, many in
//!    flight at once. The shared heads per (peer, document) are stored, so an interrupted session
//!    resumes without sending everything again.
//! 5. **Ingress validation** of every received change: it decodes, it is in the peer's write
//!    scope, it carries no unmasked card number (DESIGN §5), the document stays valid — then it
//!    is applied through the store's write path as a remote change, so projections and change
//!    notifications stay right.
//!
//! The site's signing key lives in the store's `meta` table: **the database file is therefore as
//! sensitive as a private key** and must be protected like one.
//!
//! # Example
//!
//! A hub and a site provision each other, then sync in memory.
//!
//! ```
//! use dossier::sync::{Scope, sync_pair, SessionConfig};
//! use dossier::{Category, NewCase, Store, StoreOptions};
//! let dir = tempfile::tempdir()?;
//! let open = |site: &str| Store::open(dir.path().join(format!("{site}.db")), StoreOptions {
//!     site: Some(site.into()),
//!     ..Default::default()
//! });
//! let (hub, site) = (open("HUB")?, open("BLR1")?);
//! hub.add_peer("BLR1", site.public_key()?, vec!["IN-UPI".parse()?])?;
//! site.add_peer("HUB", hub.public_key()?, vec![Scope::everything()])?;
//!
//! let upi = hub.create_case(NewCase::new("IN-UPI", Category::Refund, "Refund not received"))?;
//! let pix = hub.create_case(NewCase::new("BR-PIX", Category::Refund, "Pix devolução"))?;
//! let (at_site, _at_hub) = sync_pair(&site, &hub, &SessionConfig::default())?;
//! assert_eq!(at_site.docs_received, 1);
//! assert!(site.case(&upi.number).is_ok());
//! assert!(site.case(&pix.number).is_err()); // out of the site's scope: never sent
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bundle;
mod ingress;
pub(crate) mod keys;
mod peers;
mod scope;
mod session;
mod wire;

use serde::Serialize;

use crate::id::DocId;

pub use bundle::{BundleReport, ExportedBundle, MAX_BUNDLE_BYTES};
pub use keys::PublicKey;
pub use peers::Peer;
pub use scope::{Access, Scope};
pub use session::{Session, SessionConfig, sync_pair};
pub use wire::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

pub(crate) use ingress::label_of;
pub(crate) use keys::create_site_key;

/// Why a sync session (or a bundle) was refused as a whole. Carried by
/// [`Error::Sync`](crate::Error::Sync) when this side refused, and by
/// [`Error::SyncRefused`](crate::Error::SyncRefused) when the peer did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "failure")]
#[non_exhaustive]
pub enum SyncFailure {
    /// The other side speaks a protocol (or bundle format) version this build does not.
    UnsupportedVersion {
        /// The version the other side used.
        theirs: u8,
    },
    /// The other side's site is not provisioned here.
    UnknownPeer,
    /// The other side's site is provisioned, but with another public key.
    UnknownKey,
    /// A signature does not verify against the provisioned key (wrong key, or tampered data).
    BadSignature,
    /// A hello reused a nonce from an earlier session: a replay.
    ReplayedNonce,
    /// A message or file does not decode.
    Malformed {
        /// What was wrong, in general terms (never the content).
        reason: &'static str,
    },
    /// A message or file is larger than this side accepts.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A bundle file ends before its declared length: it was cut short.
    Truncated,
    /// A bundle was made for another site.
    NotForThisSite,
    /// A message arrived that makes no sense at this point of the session.
    Protocol {
        /// What was unexpected.
        reason: &'static str,
    },
    /// The other side hit a storage error and gave up.
    Internal,
}

impl std::fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncFailure::UnsupportedVersion { theirs } => write!(
                f,
                "unsupported protocol version {theirs} (this build speaks \
                 {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION})"
            ),
            SyncFailure::UnknownPeer => {
                f.write_str("unknown site: it is not provisioned (dossier peer add)")
            }
            SyncFailure::UnknownKey => {
                f.write_str("unknown key: the site is provisioned with another public key")
            }
            SyncFailure::BadSignature => f.write_str(
                "bad signature: the data was changed after it was signed, or signed with another key",
            ),
            SyncFailure::ReplayedNonce => f.write_str("replayed hello: the nonce was used before"),
            SyncFailure::Malformed { reason } => write!(f, "malformed data: {reason}"),
            SyncFailure::TooLarge { limit } => {
                write!(f, "message or file larger than the limit of {limit} bytes")
            }
            SyncFailure::Truncated => f.write_str("the bundle is truncated"),
            SyncFailure::NotForThisSite => f.write_str("the bundle was made for another site"),
            SyncFailure::Protocol { reason } => write!(f, "protocol violation: {reason}"),
            SyncFailure::Internal => f.write_str("internal storage error"),
        }
    }
}

impl From<SyncFailure> for crate::Error {
    fn from(f: SyncFailure) -> Self {
        crate::Error::Sync(f)
    }
}

/// Why the changes of one document were refused. The rest of the session (or bundle) goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectCode {
    /// The document (before or after the change) is outside the peer's scopes.
    OutOfScope,
    /// The peer may read this document but not change it.
    ReadOnly,
    /// A change carries an unmasked card number or security code.
    CardData,
    /// The changes do not apply, or would leave an invalid document.
    Invalid,
    /// The document's sync message exceeds the message size limit.
    TooLarge,
    /// The document's sync message does not decode.
    Malformed,
}

impl RejectCode {
    pub(crate) fn code(self) -> u8 {
        match self {
            RejectCode::OutOfScope => 1,
            RejectCode::ReadOnly => 2,
            RejectCode::CardData => 3,
            RejectCode::Invalid => 4,
            RejectCode::TooLarge => 5,
            RejectCode::Malformed => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<RejectCode> {
        Some(match code {
            1 => RejectCode::OutOfScope,
            2 => RejectCode::ReadOnly,
            3 => RejectCode::CardData,
            4 => RejectCode::Invalid,
            5 => RejectCode::TooLarge,
            6 => RejectCode::Malformed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RejectCode::OutOfScope => "outside the peer's scopes",
            RejectCode::ReadOnly => "read-only for the peer",
            RejectCode::CardData => "carries an unmasked card number or security code",
            RejectCode::Invalid => "does not apply or leaves an invalid document",
            RejectCode::TooLarge => "larger than the message size limit",
            RejectCode::Malformed => "does not decode",
        })
    }
}

/// Which side refused a document's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// This store refused what the peer sent.
    Us,
    /// The peer refused what this store sent.
    Peer,
}

/// One refused document.
///
/// Its `Display` is the line a person reads: `case BLR2-3 refused here: outside the peer's
/// scopes (document 0f3c…)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Rejection {
    /// The document.
    pub doc: DocId,
    /// Why.
    pub reason: RejectCode,
    /// Who refused.
    pub by: Side,
    /// What the document is, for people: `case MX1-7`, `sop "…"` or `article "…"`; `None`
    /// when this store does not know. A case number may come from the refused changes
    /// themselves (it is checked to be one); a title only from this store's own, redacted,
    /// copy — never from refused data, which may be what carried a card number.
    pub label: Option<String>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let by = match self.by {
            Side::Us => "refused here",
            Side::Peer => "refused by the peer",
        };
        match &self.label {
            Some(label) => write!(f, "{label} {by}: {} (document {})", self.reason, self.doc),
            None => write!(f, "document {} {by}: {}", self.doc, self.reason),
        }
    }
}

/// Who the other side of a session said it was in its hello, whether or not it could prove
/// it: what an operator needs to see when a hello is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// The site id it claimed (checked to be a well-formed site id).
    pub site: String,
    /// The public key it presented.
    pub key: PublicKey,
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "site {}, key fingerprint {}",
            self.site,
            self.key.fingerprint()
        )
    }
}

/// What a session did, for the summary a person or a script reads at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The authenticated peer, once known.
    pub peer: Option<String>,
    /// Documents for which this side sent changes.
    pub docs_sent: usize,
    /// Documents that received new changes here.
    pub docs_received: usize,
    /// Refused documents, by either side.
    pub rejected: Vec<Rejection>,
    /// Protocol messages sent.
    pub messages_sent: u64,
    /// Protocol messages received.
    pub messages_received: u64,
    /// Bytes sent (message payloads).
    pub bytes_sent: u64,
    /// Bytes received (message payloads).
    pub bytes_received: u64,
    /// Whether the session reached its end (both sides quiet).
    pub completed: bool,
}

impl SyncReport {
    /// Refusals made by `side`.
    pub fn rejected_by(&self, side: Side) -> impl Iterator<Item = &Rejection> {
        self.rejected.iter().filter(move |r| r.by == side)
    }
}
