//! Ingress validation for changes received from a peer, by session or by bundle.
//!
//! The same checks as [`Store::apply_changes`](crate::Store::apply_changes) — no card data in
//! any change or in the merged document, a document that still materializes — plus the peer's
//! write scopes, checked on the document both before and after the changes, so a peer can
//! neither edit a document it may only read nor move one into or out of its markets. Everything
//! happens in one write transaction through the store's remote-change path: a refused change
//! stores nothing, an accepted one refreshes projections and notifies subscribers as
//! [`Origin::Remote`].

use std::cell::Cell;

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use rusqlite::OptionalExtension;

use super::RejectCode;
use super::peers::set_shared_heads;
use super::scope::{Scope, can_read, can_write, markets_of};
use crate::error::{Error, Result};
use crate::exchange::{change_has_card_data, check_document, holds_card_data};
use crate::id::DocId;
use crate::store::{DocKind, Origin, Store};

/// What document `id` is, for a person reading a refusal (see
/// [`Rejection::label`](super::Rejection::label)) or a card-data finding: from this store's
/// projections when it holds the document (`case MX1-7`, `sop "…"`, `article "…"`, `plugin
/// NAME`), else the case number in `incoming` (the refused changes applied to a scratch copy)
/// when it has the shape of one. The label passes the redactor: a store written by an older
/// version may hold a card number in a title. Never fails: a refusal without a label still
/// reads.
pub(crate) fn label_of(store: &Store, id: &DocId, incoming: Option<&Automerge>) -> Option<String> {
    let local = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT number FROM cases WHERE id = ?1), \
                        (SELECT title FROM sops WHERE id = ?1), \
                        (SELECT title FROM articles WHERE id = ?1), \
                        (SELECT name FROM plugins WHERE id = ?1)",
                [id.to_string()],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )?)
        })
        .ok();
    let label = match local {
        Some((Some(number), ..)) => Some(format!("case {number}")),
        Some((None, Some(title), ..)) => Some(format!("sop {:?}", short(&title))),
        Some((None, None, Some(title), _)) => Some(format!("article {:?}", short(&title))),
        Some((None, None, None, Some(name))) => Some(format!("plugin {name}")),
        _ => None,
    };
    if let Some(label) = label {
        return Some(crate::redact::redact(&label).text);
    }
    let doc = incoming?;
    let number = match doc.get(automerge::ROOT, "number").ok()??.0 {
        automerge::Value::Scalar(v) => match v.as_ref() {
            automerge::ScalarValue::Str(s) => s.to_string(),
            _ => return None,
        },
        _ => return None,
    };
    is_case_number(&number).then(|| format!("case {number}"))
}

/// `SITE-N`: a well-formed site id, a dash and 1-12 digits — all a refused document's data may
/// contribute to a log line.
fn is_case_number(s: &str) -> bool {
    s.rsplit_once('-').is_some_and(|(site, n)| {
        crate::store::validate_site(site).is_ok()
            && (1..=12).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A title on one line, at most 60 characters.
fn short(title: &str) -> String {
    let one_line: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// What became of a batch of changes for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ingress {
    /// Stored; how many changes were new here.
    Applied(usize),
    /// Refused; nothing stored.
    Refused(RejectCode),
}

/// Checks and applies `changes` from `peer` to document `id`. When `their_heads` is given and
/// every one of those heads is known here afterwards, they are recorded as shared with the peer
/// in the same transaction.
///
/// # Errors
/// Only storage failures; a refusal is an [`Ingress::Refused`].
pub(crate) fn ingest(
    store: &Store,
    peer: &str,
    scopes: &[Scope],
    id: &DocId,
    changes: Vec<Change>,
    their_heads: Option<&[ChangeHash]>,
) -> Result<Ingress> {
    if changes.iter().any(change_has_card_data) {
        return Ok(Ingress::Refused(RejectCode::CardData));
    }
    let refusal = Cell::new(None);
    let refuse = |code: RejectCode| {
        refusal.set(Some(code));
        Error::Rejected {
            doc: id.to_string(),
            reason: code.to_string(),
        }
    };
    let scope_refusal = |kind: DocKind, markets: &[String]| {
        if can_read(scopes, kind, markets) {
            RejectCode::ReadOnly
        } else {
            RejectCode::OutOfScope
        }
    };
    let result = store.write("sync.apply", Origin::Remote, |w| {
        let existing: Option<String> =
            w.tx.query_row(
                "SELECT kind FROM docs WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(kind) = existing.as_deref().and_then(DocKind::parse) {
            let markets = markets_of(w.get(id, kind)?, kind);
            if !can_write(scopes, kind, &markets) {
                return Err(refuse(scope_refusal(kind, &markets)));
            }
        }
        let added = w.apply_remote(id, changes)?;
        let (doc, kind) = w.held(id)?;
        let markets = markets_of(doc, kind);
        if !can_write(scopes, kind, &markets) {
            return Err(refuse(scope_refusal(kind, &markets)));
        }
        if holds_card_data(doc) {
            return Err(refuse(RejectCode::CardData));
        }
        check_document(id, kind, doc)?;
        if let Some(heads) = their_heads
            && heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
        {
            set_shared_heads(w.tx, peer, &[(*id, heads.to_vec())])?;
        }
        Ok(added)
    });
    match result {
        Ok(added) => Ok(Ingress::Applied(added)),
        Err(e) => match refusal.get() {
            Some(code) => Ok(Ingress::Refused(code)),
            None => match e {
                Error::Rejected { .. }
                | Error::Document { .. }
                | Error::Automerge(_)
                | Error::WrongKind { .. }
                | Error::Invalid { .. } => Ok(Ingress::Refused(RejectCode::Invalid)),
                other => Err(other),
            },
        },
    }
}
