//! History and conflicts of any document.
//!
//! Automerge keeps every change with its actor and time; Dossier's change message adds the site,
//! the author and what kind of change it was, so a history reads like an audit log. Conflicts are
//! registers that hold more than one concurrent value and that no merge policy resolves: the
//! document shows Automerge's deterministic winner, and [`Store::conflicts`] lists them so a
//! person can choose.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{Automerge, ChangeHash, ObjId, ObjType, ReadDoc, Value};
use serde::Serialize;

use crate::doc::{ChangeMeta, Reader, display_value};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::merge;
use crate::store::{DocKind, Store};

/// One change in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The change hash (hex).
    pub hash: String,
    /// The document's heads right after this change, for [`Store::case_at`] and friends.
    #[serde(skip)]
    pub heads: Vec<ChangeHash>,
    /// When (ms).
    pub at: i64,
    /// Site that made it.
    pub site: String,
    /// Person (or plugin) that made it.
    pub author: String,
    /// What kind of change: `case.create`, `case.update`, `sop.edit`, ...
    pub action: String,
}

/// A register with concurrent values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Path of the field, e.g. `assignee` or `nodes.start.text.en`.
    pub field: String,
    /// The value shown (Automerge's winner).
    pub winner: String,
    /// Every concurrent value, winner first.
    pub values: Vec<String>,
}

pub(crate) fn check_heads(doc: &Automerge, heads: &[ChangeHash]) -> Result<()> {
    for h in heads {
        if doc.get_change_by_hash(h).is_none() {
            return Err(Error::invalid(
                "heads",
                format!("{h} is not a change of this document"),
            ));
        }
    }
    Ok(())
}

/// Changes in a topological order that is the same on every replica: among the changes whose
/// dependencies are all listed, the earliest (time, hash) goes first.
fn ordered_history(doc: &Automerge) -> Vec<HistoryEntry> {
    let changes = doc.get_changes(&[]);
    let by_hash: HashMap<ChangeHash, &automerge::Change> =
        changes.iter().map(|c| (c.hash(), c)).collect();
    let mut pending: HashMap<ChangeHash, usize> = HashMap::new();
    let mut children: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    for c in &changes {
        let deps = c.deps().iter().filter(|d| by_hash.contains_key(d)).count();
        pending.insert(c.hash(), deps);
        for d in c.deps() {
            children.entry(*d).or_default().push(c.hash());
        }
    }
    let key = |h: &ChangeHash| {
        let c = by_hash[h];
        let at = ChangeMeta::parse(c.message())
            .map(|m| m.at)
            .unwrap_or(c.timestamp() * 1000);
        (at, *h)
    };
    let mut ready: BTreeSet<(i64, ChangeHash)> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(h, _)| key(h))
        .collect();
    let mut heads: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut out = Vec::new();
    while let Some(first) = ready.iter().next().copied() {
        ready.remove(&first);
        let h = first.1;
        let c = by_hash[&h];
        for d in c.deps() {
            heads.remove(d);
        }
        heads.insert(h);
        let meta = ChangeMeta::parse(c.message());
        out.push(HistoryEntry {
            hash: h.to_string(),
            heads: heads.iter().copied().collect(),
            at: first.0,
            site: meta.as_ref().map(|m| m.site.clone()).unwrap_or_default(),
            author: meta.as_ref().map(|m| m.author.clone()).unwrap_or_default(),
            action: meta.map(|m| m.op).unwrap_or_else(|| "unknown".into()),
        });
        for child in children.get(&h).into_iter().flatten() {
            if let Some(n) = pending.get_mut(child) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(key(child));
                }
            }
        }
    }
    out
}

/// Registers with concurrent values that a person owns ([`crate::merge`] says which): the
/// code's own bookkeeping and fields with a merge policy are not conflicts.
fn walk_conflicts(
    r: &Reader<'_, Automerge>,
    kind: Option<DocKind>,
    obj: &ObjId,
    path: &str,
    out: &mut Vec<Conflict>,
) {
    for key in r.keys(obj) {
        let field = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let all = r.all(obj, key.as_str());
        let reported = kind.is_none_or(|k| merge::policy(k, &field).is_reported());
        if all.len() > 1 && reported {
            // Automerge's winner is the last of get_all.
            let mut values: Vec<String> = all
                .iter()
                .rev()
                .map(|(v, id)| display_value(r, v, id))
                .collect();
            values.dedup();
            if values.len() > 1 {
                out.push(Conflict {
                    field: field.clone(),
                    winner: values[0].clone(),
                    values,
                });
            }
        }
        if let Some((Value::Object(ObjType::Map), id)) = r.get(obj, key.as_str()) {
            walk_conflicts(r, kind, &id, &field, out);
        }
    }
}

impl Store {
    /// Who changed a document, when, and how — oldest first, in the same order on every
    /// replica.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id.
    pub fn history(&self, id: &DocId) -> Result<Vec<HistoryEntry>> {
        let (doc, _) = self.load(id)?;
        Ok(ordered_history(&doc))
    }

    /// Fields with concurrent values that no merge policy resolves.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id.
    pub fn conflicts(&self, id: &DocId) -> Result<Vec<Conflict>> {
        let (doc, _) = self.load(id)?;
        let r = Reader::new(&*doc, None);
        let kind = r.str(&ObjId::Root, "kind").and_then(|k| DocKind::parse(&k));
        let mut out = Vec::new();
        walk_conflicts(&r, kind, &ObjId::Root, "", &mut out);
        Ok(out)
    }

    /// Authors of the changes made after `since` (all changes when empty), excluding changes of
    /// the given kinds. Used by the four-eyes rule.
    pub(crate) fn authors_since(
        doc: &Automerge,
        since: &[ChangeHash],
        exclude_ops: &[&str],
    ) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in doc.get_changes(since) {
            if let Some(m) = ChangeMeta::parse(c.message())
                && !exclude_ops.contains(&m.op.as_str())
            {
                *out.entry(m.author).or_insert(0) += 1;
            }
        }
        out
    }
}
