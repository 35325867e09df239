//! The one error type that crosses the language boundary.
//!
//! Host apps branch on *what kind* of thing went wrong (show a form error, offer to reopen, tell
//! the user the store is damaged), so the public error is a flat enum of kinds, each carrying a
//! one-line message. It is built from [`dossier::Error`] (and from `dossier_net::Error`, for hub
//! sync, and `dossier_plugins::PluginError`, for plugins, which both delegate to it for store
//! errors) in exactly one place, the `From` impls below; the C ABI maps the same enum to its
//! status codes, so every language sees the same kinds. Core messages never carry document
//! content; the message is also run through the redactor here, so a card number can never reach
//! a log or a crash report through an error even if a future core message slips.

/// Everything that can go wrong in a binding call. Kotlin sees `DossierException.<Kind>`,
/// Swift `DossierError.<kind>`, Python `DossierError.<Kind>`; the message says what and where,
/// never a case's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum DossierError {
    /// The file is not a Dossier store, or it is damaged.
    #[error("{0}")]
    Corrupt(String),
    /// The file was written by a newer Dossier.
    #[error("{0}")]
    SchemaTooNew(String),
    /// The store has no site id yet: open it with a site the first time.
    #[error("{0}")]
    NotInitialized(String),
    /// The store belongs to another site than the one asked for.
    #[error("{0}")]
    SiteMismatch(String),
    /// A value passed in is not acceptable (bad market, empty subject, malformed JSON...).
    #[error("{0}")]
    Invalid(String),
    /// No document with this id or case number exists.
    #[error("{0}")]
    NotFound(String),
    /// The document exists but is of another kind (an SOP id passed as a case...).
    #[error("{0}")]
    WrongKind(String),
    /// The case is closed; a closed case cannot be changed.
    #[error("{0}")]
    CaseClosed(String),
    /// The workflow does not allow this status change.
    #[error("{0}")]
    Transition(String),
    /// The SOP breaks one of its invariants and cannot be published.
    #[error("{0}")]
    SopInvalid(String),
    /// The approver authored changes being published (four-eyes rule).
    #[error("{0}")]
    FourEyes(String),
    /// An import (SOP JSON, a batch) is malformed; nothing was stored.
    #[error("{0}")]
    Import(String),
    /// Changes from another replica were refused; nothing was stored.
    #[error("{0}")]
    Rejected(String),
    /// An SOP walk could not proceed (an input matches no answer...).
    #[error("{0}")]
    Walk(String),
    /// A stored document cannot be decoded.
    #[error("{0}")]
    Document(String),
    /// SQLite or the file system failed (permissions, I/O errors...).
    #[error("{0}")]
    Storage(String),
    /// The store was closed with `shutdown`; open it again.
    #[error("{0}")]
    Closed(String),
    /// A bug in Dossier (a caught panic, an unexpected state); please report it.
    #[error("{0}")]
    Internal(String),
    /// The other side of a sync or the signer of a bundle could not be authenticated: the site
    /// is not provisioned (`add_peer`), it is provisioned with another public key, a signature
    /// does not verify (a tampered bundle), or a hello was replayed. Fix the provisioning;
    /// retrying will not help. Nothing was stored.
    #[error("{0}")]
    Auth(String),
    /// This side refused a sync session or a bundle file: it is malformed, truncated, too
    /// large, made for another site, or of an unsupported version. Nothing of it was stored.
    #[error("{0}")]
    SyncFailed(String),
    /// The peer (the hub) ended the sync session and said why.
    #[error("{0}")]
    SyncRefused(String),
    /// The hub could not be reached or the connection failed: refused, timed out, closed, the
    /// hub busy (all worth trying again later), or the address does not answer as a hub (check
    /// the URL). What was synced before the failure is kept.
    #[error("{0}")]
    Network(String),
    /// A plugin package's signature does not verify over its manifest and component: it was
    /// changed after signing. It does not run anywhere.
    #[error("{0}")]
    PluginSignature(String),
    /// A plugin asked for an action the case does not allow; none of its actions was applied.
    #[error("{0}")]
    InvalidAction(String),
    /// A before-solve plugin refused to let the case be solved; the message names the plugin
    /// (`name@version`) and its reason (often a field the case lacks). Fill it in and retry.
    #[error("{0}")]
    SolveRefused(String),
    /// The file is not a workflow plugin this library can run: not a WebAssembly component, a
    /// component of another world, or built against an unsupported plugin API version.
    #[error("{0}")]
    PluginIncompatible(String),
    /// A plugin failed while running: it ran out of fuel or time, exceeded its memory or output
    /// limit, trapped, or returned an error of its own; or the plugin engine cannot run on this
    /// machine. Nothing of that call was applied.
    #[error("{0}")]
    PluginFailed(String),
    /// The disk, or the size limit the store was opened with (`max_file_bytes`), is full. The
    /// write was not stored; everything stored before it is intact and readable. Free space
    /// (or reopen with a higher limit) and retry.
    #[error("{0}")]
    DiskFull(String),
    /// The store file (or its WAL) can be written by other users of the machine, who could
    /// replace the site's key or plant changes; it was not opened. The message says what to
    /// do (`chmod 600` the file once you know who changed it).
    #[error("{0}")]
    InsecureFile(String),
    /// The SOP does not cover the case's market; run it with `any_market` to record the run
    /// anyway (the override is recorded).
    #[error("{0}")]
    SopMarket(String),
}

impl DossierError {
    /// The error for a call made after [`crate::Store::shutdown`].
    pub(crate) fn closed() -> Self {
        DossierError::Closed("the store is closed".into())
    }

    /// The error for bad input that `dossier` never sees (malformed JSON, a bad change hash).
    pub(crate) fn invalid(what: &str, reason: impl std::fmt::Display) -> Self {
        DossierError::Invalid(format!("invalid {what}: {reason}"))
    }
}

/// Whether a whole-session refusal is about who the other side is.
fn is_auth(f: &dossier::sync::SyncFailure) -> bool {
    use dossier::sync::SyncFailure as F;
    matches!(
        f,
        F::UnknownPeer | F::UnknownKey | F::BadSignature | F::ReplayedNonce
    )
}

impl From<dossier::Error> for DossierError {
    fn from(e: dossier::Error) -> Self {
        use dossier::Error as E;
        let message = dossier::redact::redact(&e.to_string()).text;
        match e {
            E::Sync(f) | E::SyncRefused(f) if is_auth(&f) => DossierError::Auth(message),
            E::Sync(_) => DossierError::SyncFailed(message),
            E::SyncRefused(_) => DossierError::SyncRefused(message),
            E::Corrupt(_) => DossierError::Corrupt(message),
            E::SchemaTooNew { .. } => DossierError::SchemaTooNew(message),
            E::NotInitialized => DossierError::NotInitialized(message),
            E::SiteMismatch { .. } => DossierError::SiteMismatch(message),
            E::Invalid { .. } => DossierError::Invalid(message),
            E::NotFound { .. } => DossierError::NotFound(message),
            E::WrongKind { .. } => DossierError::WrongKind(message),
            E::CaseClosed { .. } => DossierError::CaseClosed(message),
            E::Transition { .. } => DossierError::Transition(message),
            E::SopInvalid { .. } => DossierError::SopInvalid(message),
            E::FourEyes { .. } => DossierError::FourEyes(message),
            E::Import { .. } => DossierError::Import(message),
            E::Rejected { .. } => DossierError::Rejected(message),
            E::Walk(_) => DossierError::Walk(message),
            E::Document { .. } => DossierError::Document(message),
            E::DiskFull(_) => DossierError::DiskFull(message),
            E::InsecureFile { .. } => DossierError::InsecureFile(message),
            E::SopMarket { .. } => DossierError::SopMarket(message),
            E::Sqlite(_) | E::Io(_) => DossierError::Storage(message),
            E::PluginSignature { .. } => DossierError::PluginSignature(message),
            E::InvalidAction { .. } => DossierError::InvalidAction(message),
            E::SolveRefused { .. } => DossierError::SolveRefused(message),
            E::Automerge(_) => DossierError::Internal(message),
            // `dossier::Error` is non-exhaustive: a kind added later is still reported, as
            // internal until it gets its own variant here.
            _ => DossierError::Internal(message),
        }
    }
}

impl From<dossier_net::Error> for DossierError {
    fn from(e: dossier_net::Error) -> Self {
        use dossier_net::Error as E;
        if let E::Store(inner) = e {
            return DossierError::from(inner);
        }
        if let E::Address(_) = e {
            // The address as given is not repeated: a URL may carry credentials.
            return DossierError::invalid("hub address", "use ws://HOST:PORT");
        }
        let message = dossier::redact::redact(&e.to_string()).text;
        match e {
            E::TooLarge { .. } => DossierError::SyncFailed(message),
            // Everything else is the connection: refused, timed out, closed, a busy hub, a peer
            // that is not a hub, TLS. `dossier_net::Error` is non-exhaustive, so a kind added
            // later lands here too.
            _ => DossierError::Network(message),
        }
    }
}

impl From<dossier_plugins::PluginError> for DossierError {
    fn from(e: dossier_plugins::PluginError) -> Self {
        use dossier_plugins::PluginError as E;
        if let E::Store(inner) = e {
            return DossierError::from(inner);
        }
        let message = dossier::redact::redact(&e.to_string()).text;
        match e {
            E::InvalidAction { .. } => DossierError::InvalidAction(message),
            E::NotAComponent(_) | E::Incompatible { .. } => {
                DossierError::PluginIncompatible(message)
            }
            // Fuel, time, memory, output, a trap, the guest's own error, the engine.
            // `PluginError` is non-exhaustive: a kind added later lands here too.
            _ => DossierError::PluginFailed(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_number_in_a_core_message_is_masked_before_it_crosses_the_boundary() {
        let e = DossierError::from(dossier::Error::Walk(
            "no answer matches 4111 1111 1111 1111".into(),
        ));
        let DossierError::Walk(message) = e else {
            panic!("wrong kind: {e:?}");
        };
        assert!(!message.contains("4111 1111 1111 1111"), "{message}");
    }

    #[test]
    fn sync_refusals_are_told_apart_from_authentication_and_the_network() {
        use dossier::sync::SyncFailure as F;
        let kind = |e: dossier::Error| DossierError::from(e);
        assert!(matches!(
            kind(F::BadSignature.into()),
            DossierError::Auth(_)
        ));
        assert!(matches!(
            kind(dossier::Error::SyncRefused(F::UnknownPeer)),
            DossierError::Auth(_)
        ));
        assert!(matches!(
            kind(F::Truncated.into()),
            DossierError::SyncFailed(_)
        ));
        assert!(matches!(
            kind(dossier::Error::SyncRefused(F::Internal)),
            DossierError::SyncRefused(_)
        ));
        let net = |e: dossier_net::Error| DossierError::from(e);
        assert!(matches!(
            net(dossier_net::Error::Busy),
            DossierError::Network(_)
        ));
        let secret = net(dossier_net::Error::Address("ws://ana:hunter2@hub".into()));
        assert!(
            matches!(&secret, DossierError::Invalid(m) if !m.contains("hunter2")),
            "{secret:?}"
        );
    }

    #[test]
    fn plugin_errors_keep_their_kinds() {
        let e = DossierError::from(dossier::Error::SolveRefused {
            plugin: "in-upi-failed-txn@0.1.0".into(),
            reason: "needs the UTR".into(),
        });
        assert!(matches!(e, DossierError::SolveRefused(m) if m.contains("in-upi-failed-txn")));
        let host = |e: dossier_plugins::PluginError| DossierError::from(e);
        assert!(matches!(
            host(dossier_plugins::PluginError::NotAComponent(
                "a core module".into()
            )),
            DossierError::PluginIncompatible(_)
        ));
        assert!(matches!(
            host(dossier_plugins::PluginError::OutOfFuel),
            DossierError::PluginFailed(_)
        ));
        assert!(matches!(
            host(dossier::Error::PluginSignature { plugin: "x".into() }.into()),
            DossierError::PluginSignature(_)
        ));
    }

    #[test]
    fn each_core_kind_keeps_its_own_public_kind() {
        let e = DossierError::from(dossier::Error::CaseClosed {
            number: "MX1-1".into(),
        });
        assert!(matches!(e, DossierError::CaseClosed(m) if m.contains("MX1-1")));
    }
}
