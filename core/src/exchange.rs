//! Exchanging changes between stores without a network.
//!
//! [`Store::changes_since`] packs the change chunks of one document that a peer lacks;
//! [`Store::apply_changes`] checks and applies such a pack. The sync protocol builds on these;
//! tests and the demo use them directly to merge two sites.
//!
//! Incoming changes pass ingress validation before anything is stored: the pack must decode,
//! every change must decode, no string a change writes may hold an unmasked card number or a
//! security code (DESIGN §5 — history is forever, so such a change is refused whole), and the
//! merged document must still be a well-formed document of a known kind. A refused pack changes
//! nothing.
//!
//! Pack layout (all integers big-endian):
//! `b"DSCP"`, format version `u8` (= 1), document id (16 bytes), change count `u32`, then per
//! change its length `u32` and its bytes.

use std::collections::HashMap;

use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, ReadDoc, Value};
use serde::Serialize;

use crate::doc::{Reader, change_strings, is_sensitive};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{DocKind, Origin, Store};

const MAGIC: &[u8; 4] = b"DSCP";
const FORMAT: u8 = 1;
/// Largest pack accepted, so a hostile peer cannot make us allocate without bound.
pub const MAX_PACK_BYTES: usize = 64 << 20;

/// What applying a pack did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The document.
    pub doc: DocId,
    /// Its kind.
    pub kind: DocKind,
    /// How many changes were new here.
    pub new_changes: usize,
}

fn reject(doc: &str, reason: impl Into<String>) -> Error {
    Error::Rejected {
        doc: doc.to_string(),
        reason: reason.into(),
    }
}

/// Encodes a pack.
pub(crate) fn encode(id: &DocId, changes: &mut [Change]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&(changes.len() as u32).to_be_bytes());
    for c in changes {
        let bytes = c.bytes();
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// Decodes a pack into its document id and changes, refusing anything malformed.
pub(crate) fn decode(pack: &[u8]) -> Result<(DocId, Vec<Change>)> {
    let bad = |why: &str| reject("?", format!("malformed change pack: {why}"));
    if pack.len() > MAX_PACK_BYTES {
        return Err(bad("larger than the size limit"));
    }
    let rest = pack
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("not a dossier change pack"))?;
    let (&format, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    if format != FORMAT {
        return Err(bad(&format!("unsupported format version {format}")));
    }
    let (id, rest) = rest
        .split_first_chunk::<16>()
        .ok_or_else(|| bad("truncated"))?;
    let id = DocId::from_bytes(*id);
    let (count, mut rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("truncated"))?;
    let count = u32::from_be_bytes(*count) as usize;
    let mut changes = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("truncated"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(bad("truncated"));
        }
        let (bytes, tail) = tail.split_at(len);
        let change = Change::from_bytes(bytes.to_vec())
            .map_err(|e| reject(&id.to_string(), format!("a change does not decode: {e}")))?;
        if !crate::incoming::checksum_ok(bytes, &change) {
            return Err(reject(
                &id.to_string(),
                "a change's checksum does not match its contents",
            ));
        }
        changes.push(change);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok((id, changes))
}

/// Every string in a document (keys, values, text) with the key it is under, for the
/// post-merge redaction check.
fn all_strings(
    r: &Reader<'_, impl ReadDoc>,
    obj: &ObjId,
    t: ObjType,
    out: &mut Vec<(Option<String>, String)>,
) {
    let children: Vec<(Option<String>, Value<'_>, ObjId)> = match t {
        ObjType::Map | ObjType::Table => r
            .keys(obj)
            .into_iter()
            .filter_map(|k| {
                out.push((None, k.clone()));
                r.get(obj, k.as_str()).map(|(v, id)| (Some(k), v, id))
            })
            .collect(),
        ObjType::List => (0..r.len(obj))
            .filter_map(|i| r.get(obj, i).map(|(v, id)| (None, v, id)))
            .collect(),
        ObjType::Text => {
            out.extend(r.text_of(obj).map(|t| (None, t)));
            return;
        }
    };
    for (k, v, id) in children {
        match v {
            Value::Object(t) => all_strings(r, &id, t, out),
            Value::Scalar(s) => {
                if let automerge::ScalarValue::Str(s) = s.as_ref() {
                    out.push((k, s.to_string()));
                }
            }
        }
    }
}

/// Whether a received change writes an unmasked card number or security code anywhere.
pub(crate) fn change_has_card_data(change: &Change) -> bool {
    change_strings(change)
        .iter()
        .any(|(k, s)| is_sensitive(k.as_deref(), s, None))
}

/// Whether a (merged) document holds an unmasked card number anywhere, for card numbers that
/// only appear once changes are put together.
pub(crate) fn holds_card_data(doc: &Automerge) -> bool {
    let r = Reader::new(doc, None);
    let mut strings = Vec::new();
    all_strings(&r, &ObjId::Root, ObjType::Map, &mut strings);
    let rail = r
        .map(&ObjId::Root, "payment")
        .and_then(|p| r.str(&p, "rail"));
    strings
        .iter()
        .any(|(k, s)| is_sensitive(k.as_deref(), s, rail.as_deref()))
}

/// Refuses a document that does not materialize: it would break every read of it.
pub(crate) fn check_document(id: &DocId, kind: DocKind, doc: &Automerge) -> Result<()> {
    match kind {
        DocKind::Case => crate::case::materialize(*id, doc, None).map(|_| ()),
        DocKind::Sop | DocKind::Article | DocKind::Plugin => Ok(()),
    }
}

impl Store {
    /// Packs the changes of document `id` that are not ancestors of `heads` (every change when
    /// `heads` is empty). Heads this store does not know are ignored, so a peer's heads can be
    /// passed as they are.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown document.
    pub fn changes_since(&self, id: &DocId, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        let (doc, _) = self.load(id)?;
        let known: Vec<ChangeHash> = heads
            .iter()
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        let mut changes = doc.get_changes(&known);
        Ok(encode(id, &mut changes))
    }

    /// Verifies and applies a pack from [`Store::changes_since`] in one transaction. Applying
    /// the same pack twice is harmless.
    ///
    /// # Errors
    /// [`Error::Rejected`] — with nothing stored — for a malformed pack, a change that does not
    /// decode or depends on changes missing here, a change carrying an unmasked card number or
    /// security code, or a result that is not a valid document.
    pub fn apply_changes(&self, pack: &[u8]) -> Result<Applied> {
        let (id, changes) = decode(pack)?;
        let key = id.to_string();
        if changes.iter().any(change_has_card_data) {
            return Err(reject(
                &key,
                "a change carries an unmasked card number or security code",
            ));
        }
        self.write("sync.apply", Origin::Remote, |w| {
            let new_changes = w.apply_remote(&id, changes)?;
            let (doc, kind) = w.held(&id)?;
            if holds_card_data(doc) {
                return Err(reject(
                    &key,
                    "the merged document would hold an unmasked card number",
                ));
            }
            check_document(&id, kind, doc)?;
            Ok(Applied {
                doc: id,
                kind,
                new_changes,
            })
        })
        .map_err(|e| match e {
            Error::Document { reason, .. } => reject(&key, reason),
            Error::Automerge(e) => reject(&key, e.to_string()),
            other => other,
        })
    }

    /// Heads of every document, for working out what a peer lacks. Loads every document, so it
    /// is for tools, tests and the demo; the sync protocol keeps per-peer cursors instead.
    ///
    /// # Errors
    /// Storage or decode errors.
    pub fn all_heads(&self) -> Result<HashMap<DocId, Vec<ChangeHash>>> {
        let mut out = HashMap::new();
        for (id, _) in self.documents()? {
            out.insert(id, self.heads(&id)?);
        }
        Ok(out)
    }

    /// Pulls every change `other` has and this store lacks, document by document. Returns how
    /// many documents received new changes.
    ///
    /// # Errors
    /// The first refused pack's error; packs applied before it stay applied.
    pub fn pull_from(&self, other: &Store) -> Result<usize> {
        let mine = self.all_heads()?;
        let mut updated = 0;
        for (id, _) in other.documents()? {
            let heads = mine.get(&id).cloned().unwrap_or_default();
            if other.heads(&id)? == heads {
                continue;
            }
            let pack = other.changes_since(&id, &heads)?;
            if self.apply_changes(&pack)?.new_changes > 0 {
                updated += 1;
            }
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_garbage_packs_are_rejected_not_panicking() {
        let mut changes = Vec::new();
        let pack = encode(&DocId::new(), &mut changes);
        for cut in 0..pack.len() {
            assert!(decode(&pack[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(b"garbage").is_err());
        let mut bad = pack.clone();
        bad[4] = 9;
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn a_count_larger_than_the_data_is_rejected() {
        let mut pack = encode(&DocId::new(), &mut []);
        let n = pack.len();
        pack[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&pack).is_err());
    }
}
