//! A bounded cache of loaded documents.
//!
//! Loading an Automerge document means decoding its snapshot and replaying its pending changes,
//! so recently used documents are kept in memory — up to a budget in bytes of memory, evicting
//! the least recently used first. automerge cannot say how much memory a loaded document
//! takes, so its cost is estimated from its stored (encoded) size: a loaded document takes
//! about [`LOADED_BYTES_PER_STORED_BYTE`] times its encoded size on the heap.
//!
//! Other handles on the same file — another `Store` in this process, another process such as a
//! CLI next to a running hub — may change a document behind this cache's back. So every entry
//! carries the document's *stamp*, its `docs.change_seq`, which every commit to the document
//! advances in the file itself. Callers compare the cached stamp with the file's before using an
//! entry, and a copy is only cached if it is at least as new as the entry it replaces.

use std::collections::HashMap;
use std::sync::Arc;

use automerge::Automerge;

use crate::id::DocId;

/// Heap bytes a loaded document takes per byte of its encoded form, as measured by
/// `cargo bench -p dossier --bench memory`: a realistic case is about 0.9 KB encoded and
/// 17 KB loaded. Counting encoded bytes instead let a 64 MiB budget hold 1.2 GiB of documents.
pub(crate) const LOADED_BYTES_PER_STORED_BYTE: usize = 18;

struct Entry {
    doc: Arc<Automerge>,
    cost: usize,
    stamp: i64,
    last_used: u64,
}

/// Documents by id, bounded in total cost.
pub(crate) struct DocCache {
    entries: HashMap<DocId, Entry>,
    total: usize,
    budget: usize,
    tick: u64,
}

impl DocCache {
    pub fn new(budget: usize) -> Self {
        DocCache {
            entries: HashMap::new(),
            total: 0,
            budget,
            tick: 0,
        }
    }

    /// The cached copy and its stamp.
    pub fn get(&mut self, id: &DocId) -> Option<(Arc<Automerge>, i64)> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(id).map(|e| {
            e.last_used = tick;
            (Arc::clone(&e.doc), e.stamp)
        })
    }

    /// Removes a document so the writer can change it without copying it.
    pub fn take(&mut self, id: &DocId) -> Option<(Arc<Automerge>, i64)> {
        let e = self.entries.remove(id)?;
        self.total -= e.cost;
        Some((e.doc, e.stamp))
    }

    /// Forgets a document (after a failed write, whose copy may be ahead of the file).
    pub fn forget(&mut self, id: &DocId) {
        if let Some(e) = self.entries.remove(id) {
            self.total -= e.cost;
        }
    }

    /// Caches a copy whose content matches stamp `stamp` in the file, unless a newer copy is
    /// already cached. `stored` is the document's encoded size.
    pub fn put(&mut self, id: DocId, doc: Arc<Automerge>, stored: usize, stamp: i64) {
        let cost = stored.saturating_mul(LOADED_BYTES_PER_STORED_BYTE);
        match self.entries.get(&id) {
            Some(e) if e.stamp > stamp => return,
            Some(_) => self.forget(&id),
            None => {}
        }
        self.insert(id, doc, cost, stamp);
    }

    fn insert(&mut self, id: DocId, doc: Arc<Automerge>, cost: usize, stamp: i64) {
        if cost > self.budget {
            return;
        }
        self.tick += 1;
        self.total += cost;
        self.entries.insert(
            id,
            Entry {
                doc,
                cost,
                stamp,
                last_used: self.tick,
            },
        );
        while self.total > self.budget {
            // O(n) scan: evictions are rare next to hits, and n is bounded by the budget.
            let Some(victim) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(e) = self.entries.remove(&victim) {
                self.total -= e.cost;
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn total_cost(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_stays_within_its_budget_evicting_least_recently_used() {
        let mut c = DocCache::new(100 * LOADED_BYTES_PER_STORED_BYTE);
        let ids: Vec<DocId> = (0..5).map(|_| DocId::new()).collect();
        for id in &ids[..3] {
            c.put(*id, Arc::new(Automerge::new()), 40, 1);
        }
        assert!(c.total_cost() <= 100 * LOADED_BYTES_PER_STORED_BYTE);
        assert_eq!(c.len(), 2);
        assert!(c.get(&ids[0]).is_none(), "oldest evicted");
        assert!(c.get(&ids[2]).is_some());
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_one() {
        let mut c = DocCache::new(1000 * LOADED_BYTES_PER_STORED_BYTE);
        let id = DocId::new();
        c.put(id, Arc::new(Automerge::new()), 10, 5);
        c.put(id, Arc::new(Automerge::new()), 10, 4);
        assert_eq!(c.get(&id).map(|(_, s)| s), Some(5));
        c.put(id, Arc::new(Automerge::new()), 10, 6);
        assert_eq!(c.get(&id).map(|(_, s)| s), Some(6));
        assert_eq!(c.total_cost(), 10 * LOADED_BYTES_PER_STORED_BYTE);
        c.forget(&id);
        assert!(c.get(&id).is_none());
        assert_eq!(c.total_cost(), 0);
    }

    #[test]
    fn a_document_larger_than_the_budget_is_not_cached() {
        let mut c = DocCache::new(10 * LOADED_BYTES_PER_STORED_BYTE);
        c.put(DocId::new(), Arc::new(Automerge::new()), 11, 1);
        assert_eq!(c.len(), 0);
        assert_eq!(c.total_cost(), 0);
    }
}
