//! A bounded cache of loaded documents.
//!
//! Loading an Automerge document means decoding its snapshot and replaying its pending changes,
//! so recently used documents are kept in memory — up to a budget measured in the documents'
//! stored (encoded) size, evicting the least recently used first.
//!
//! Readers may load a document from SQLite while the writer changes it. To keep a reader from
//! putting a stale copy back after the writer has cached the new one, every document has a
//! generation that the writer bumps on each commit; a reader's copy is only cached if the
//! generation it saw before reading is still current.

use std::collections::HashMap;
use std::sync::Arc;

use automerge::Automerge;

use crate::id::DocId;

struct Entry {
    doc: Arc<Automerge>,
    cost: usize,
    last_used: u64,
}

/// Documents by id, bounded in total cost.
pub(crate) struct DocCache {
    entries: HashMap<DocId, Entry>,
    generations: HashMap<DocId, u64>,
    total: usize,
    budget: usize,
    tick: u64,
}

impl DocCache {
    pub fn new(budget: usize) -> Self {
        DocCache {
            entries: HashMap::new(),
            generations: HashMap::new(),
            total: 0,
            budget,
            tick: 0,
        }
    }

    pub fn get(&mut self, id: &DocId) -> Option<Arc<Automerge>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(id).map(|e| {
            e.last_used = tick;
            Arc::clone(&e.doc)
        })
    }

    /// Removes a document so the writer can change it without copying it.
    pub fn take(&mut self, id: &DocId) -> Option<Arc<Automerge>> {
        let e = self.entries.remove(id)?;
        self.total -= e.cost;
        Some(e.doc)
    }

    pub fn generation(&self, id: &DocId) -> u64 {
        self.generations.get(id).copied().unwrap_or(0)
    }

    /// The writer's copy after a commit (or `None` after a failed write): always wins.
    pub fn committed(&mut self, id: DocId, doc: Option<(Arc<Automerge>, usize)>) {
        *self.generations.entry(id).or_insert(0) += 1;
        if let Some(e) = self.entries.remove(&id) {
            self.total -= e.cost;
        }
        if let Some((doc, cost)) = doc {
            self.insert(id, doc, cost);
        }
    }

    /// A reader's copy: cached only if no commit happened since `generation` was read.
    pub fn offer(&mut self, id: DocId, generation: u64, doc: Arc<Automerge>, cost: usize) {
        if self.generation(&id) == generation && !self.entries.contains_key(&id) {
            self.insert(id, doc, cost);
        }
    }

    fn insert(&mut self, id: DocId, doc: Arc<Automerge>, cost: usize) {
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
        let mut c = DocCache::new(100);
        let ids: Vec<DocId> = (0..5).map(|_| DocId::new()).collect();
        for id in &ids[..3] {
            c.committed(*id, Some((Arc::new(Automerge::new()), 40)));
        }
        assert!(c.total_cost() <= 100);
        assert_eq!(c.len(), 2);
        assert!(c.get(&ids[0]).is_none(), "oldest evicted");
        assert!(c.get(&ids[2]).is_some());
    }

    #[test]
    fn a_readers_stale_copy_is_not_cached_after_a_commit() {
        let mut c = DocCache::new(1000);
        let id = DocId::new();
        let seen = c.generation(&id);
        c.committed(id, None);
        c.offer(id, seen, Arc::new(Automerge::new()), 10);
        assert!(c.get(&id).is_none());
        let seen = c.generation(&id);
        c.offer(id, seen, Arc::new(Automerge::new()), 10);
        assert!(c.get(&id).is_some());
    }

    #[test]
    fn a_document_larger_than_the_budget_is_not_cached() {
        let mut c = DocCache::new(10);
        c.committed(DocId::new(), Some((Arc::new(Automerge::new()), 11)));
        assert_eq!(c.len(), 0);
        assert_eq!(c.total_cost(), 0);
    }
}
