//! Published versions of SOPs and articles.
//!
//! Publishing records the document's Automerge heads in an append-only `versions` list. A
//! published version is then read with Automerge's `*_at(heads)` API while authors keep editing
//! the draft, so published versions are immutable by construction and cost nothing to store.

use automerge::{ChangeHash, ObjId, ReadDoc};
use serde::Serialize;

use crate::doc::{DocTx, Reader};
use crate::error::{Error, Result};

/// One published version of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedVersion {
    /// 1, 2, 3, ...
    pub version: i64,
    /// The document's heads at publication (hex).
    pub heads: Vec<String>,
    /// When (ms).
    pub published_at: i64,
    /// Who approved it.
    pub by: String,
}

impl PublishedVersion {
    /// The heads as Automerge change hashes.
    ///
    /// # Errors
    /// [`Error::Document`] if a stored head is not a valid hash.
    pub fn change_hashes(&self) -> Result<Vec<ChangeHash>> {
        self.heads
            .iter()
            .map(|h| {
                h.parse().map_err(|_| Error::Document {
                    id: String::new(),
                    reason: "a published version has an invalid head".into(),
                })
            })
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn read_versions(r: &Reader<'_, impl ReadDoc>) -> Vec<PublishedVersion> {
    let mut out: Vec<PublishedVersion> = r
        .list_maps(&ObjId::Root, "versions")
        .into_iter()
        .filter_map(|v| {
            Some(PublishedVersion {
                version: r.i64(&v, "version")?,
                heads: r.list_bytes(&v, "heads").iter().map(|b| hex(b)).collect(),
                published_at: r.i64(&v, "published_at").unwrap_or(0),
                by: r.str(&v, "by").unwrap_or_default(),
            })
        })
        .collect();
    // Two sites may publish concurrently and both pick the same number; order them the same
    // way everywhere and renumber so versions stay 1..n.
    out.sort_by(|a, b| {
        (a.version, a.published_at, &a.heads).cmp(&(b.version, b.published_at, &b.heads))
    });
    for (i, v) in out.iter_mut().enumerate() {
        v.version = i as i64 + 1;
    }
    out
}

/// Appends a version recording `heads` (the content being published).
pub(crate) fn publish(dt: &mut DocTx<'_>, heads: &[ChangeHash], version: i64) -> Result<()> {
    let list = dt.list(&ObjId::Root, "versions")?;
    let v = dt.push_map(&list)?;
    let (by, at) = (dt.meta.author.clone(), dt.meta.at);
    dt.put(&v, "version", version)?;
    let hs = dt.list(&v, "heads")?;
    for h in heads {
        // Raw bytes, not hex text: a hash is not user input and must never be redacted.
        dt.push_bytes(&hs, h.0.to_vec())?;
    }
    dt.put(&v, "published_at", at)?;
    dt.put(&v, "by", by.as_str())?;
    Ok(())
}
