//! The one error type that crosses the language boundary.
//!
//! Host apps branch on *what kind* of thing went wrong (show a form error, offer to reopen, tell
//! the user the store is damaged), so the public error is a flat enum of kinds, each carrying a
//! one-line message. It is built from [`dossier::Error`] in exactly one place, the `From` impl
//! below; the C ABI maps the same enum to its status codes, so every language sees the same
//! kinds. Core messages never carry document content; the message is also run through the
//! redactor here, so a card number can never reach a log or a crash report through an error even
//! if a future core message slips.

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
    /// SQLite or the file system failed (disk full, permissions...).
    #[error("{0}")]
    Storage(String),
    /// The store was closed with `shutdown`; open it again.
    #[error("{0}")]
    Closed(String),
    /// A bug in Dossier (a caught panic, an unexpected state); please report it.
    #[error("{0}")]
    Internal(String),
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

impl From<dossier::Error> for DossierError {
    fn from(e: dossier::Error) -> Self {
        use dossier::Error as E;
        let message = dossier::redact::redact(&e.to_string()).text;
        match e {
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
            E::Sqlite(_) | E::Io(_) => DossierError::Storage(message),
            E::Automerge(_) => DossierError::Internal(message),
            // `dossier::Error` is non-exhaustive: a kind added later is still reported, as
            // internal until it gets its own variant here.
            _ => DossierError::Internal(message),
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
    fn each_core_kind_keeps_its_own_public_kind() {
        let e = DossierError::from(dossier::Error::CaseClosed {
            number: "MX1-1".into(),
        });
        assert!(matches!(e, DossierError::CaseClosed(m) if m.contains("MX1-1")));
    }
}
