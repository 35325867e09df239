//! Signed bundle files: sync for sites with no network at all.
//!
//! `export_bundle(SITE)` writes every change SITE is not known to have — everything after the
//! heads this store last shared with it, for every document in SITE's read scopes — into one
//! file signed with this site's key. `import_bundle` refuses the whole file unless it is complete,
//! untampered, signed by a provisioned peer's key and addressed to this site; only then does it
//! apply each document's changes through the same ingress validation as a live session (scopes,
//! card data, validity). Applying is idempotent, so importing a bundle twice is harmless.
//!
//! Layout: `b"DSBN"`, format version `u8` (= 1), body length `u64` big-endian, body, then an
//! ed25519 signature (64 bytes) over everything before it. Body (LEB128 integers, length-prefixed
//! strings): sender site, sender public key (32 bytes), recipient site, creation time (ms),
//! document count, then per document: id (16 bytes), the sender's heads (count, 32 bytes each),
//! change count, each change (length-prefixed Automerge change chunk). The declared length
//! makes a cut-short file a [`SyncFailure::Truncated`] rather than a confusing bad signature.

use automerge::{Change, ChangeHash, ReadDoc};
use serde::Serialize;

use super::ingress::{Ingress, ingest, label_of};
use super::keys::{PublicKey, sign};
use super::peers::{load_peer, record_contact, shared_heads};
use super::scope::{can_read, markets_of};
use super::wire::{Input, put_bytes, put_varint};
use super::{Rejection, Side, SyncFailure};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{Origin, Store};

const MAGIC: &[u8; 4] = b"DSBN";
const FORMAT: u8 = 1;
const HEADER: usize = 4 + 1 + 8;
const SIGNATURE: usize = 64;
/// Largest bundle accepted: it is read whole into memory.
pub const MAX_BUNDLE_BYTES: usize = 1 << 30;

/// A bundle made by [`Store::export_bundle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedBundle {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Documents in it.
    pub docs: usize,
    /// Changes in it.
    pub changes: usize,
}

/// What importing a bundle did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// The site that made the bundle.
    pub from: String,
    /// Documents in the bundle.
    pub docs: usize,
    /// Documents that received new changes here.
    pub docs_updated: usize,
    /// Changes that were new here.
    pub new_changes: usize,
    /// Documents whose changes were refused (nothing of them stored).
    pub rejected: Vec<Rejection>,
}

struct DocEntry {
    id: DocId,
    heads: Vec<ChangeHash>,
    changes: Vec<Change>,
}

fn malformed(reason: &'static str) -> Error {
    Error::Sync(SyncFailure::Malformed { reason })
}

impl Store {
    /// Writes every change `for_site` is not known to have into one signed bundle.
    ///
    /// # Errors
    /// [`Error::NotFound`] when `for_site` is not a provisioned peer; storage errors.
    ///
    /// # Example
    /// ```
    /// use dossier::sync::Scope;
    /// use dossier::{Category, NewCase, Store, StoreOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let open = |s: &str| Store::open(dir.path().join(s), StoreOptions { site: Some(s.into()), ..Default::default() });
    /// let (a, b) = (open("SITEA")?, open("SITEB")?);
    /// a.add_peer("SITEB", b.public_key()?, vec![Scope::everything()])?;
    /// b.add_peer("SITEA", a.public_key()?, vec![Scope::everything()])?;
    /// let case = a.create_case(NewCase::new("ES", Category::Refund, "Reembolso pendiente"))?;
    /// let bundle = a.export_bundle("SITEB")?;
    /// let report = b.import_bundle(&bundle.bytes)?;
    /// assert_eq!(report.docs_updated, 1);
    /// assert_eq!(b.case(&case.number)?.subject, "Reembolso pendiente");
    /// assert_eq!(b.import_bundle(&bundle.bytes)?.new_changes, 0); // twice is harmless
    /// # Ok::<(), dossier::Error>(())
    /// ```
    pub fn export_bundle(&self, for_site: &str) -> Result<ExportedBundle> {
        let peer = self
            .read(|c| load_peer(c, for_site))?
            .ok_or_else(|| Error::not_found("peer", for_site))?
            .peer;
        let key = self.signing_key()?;
        let mut body = Vec::new();
        put_bytes(&mut body, self.site().as_bytes());
        body.extend_from_slice(&key.verifying_key().to_bytes());
        put_bytes(&mut body, for_site.as_bytes());
        put_varint(&mut body, self.now().max(0) as u64);
        let mut entries = Vec::new();
        let mut total_changes = 0;
        for (id, _) in self.documents()? {
            let (doc, kind) = self.load(&id)?;
            if !can_read(&peer.scopes, kind, &markets_of(&doc, kind)) {
                continue;
            }
            let known: Vec<ChangeHash> = self
                .read(|c| shared_heads(c, for_site, &id))?
                .into_iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            let changes = doc.get_changes(&known);
            if changes.is_empty() {
                continue;
            }
            total_changes += changes.len();
            entries.push((id, doc.get_heads(), changes));
        }
        put_varint(&mut body, entries.len() as u64);
        for (id, heads, changes) in &mut entries {
            body.extend_from_slice(id.as_bytes());
            put_varint(&mut body, heads.len() as u64);
            for h in heads.iter() {
                body.extend_from_slice(&h.0);
            }
            put_varint(&mut body, changes.len() as u64);
            for c in changes.iter_mut() {
                put_bytes(&mut body, &c.bytes());
            }
        }
        let mut bytes = Vec::with_capacity(HEADER + body.len() + SIGNATURE);
        bytes.extend_from_slice(MAGIC);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&(body.len() as u64).to_be_bytes());
        bytes.extend_from_slice(&body);
        let sig = sign(&key, &bytes);
        bytes.extend_from_slice(&sig);
        Ok(ExportedBundle {
            bytes,
            docs: entries.len(),
            changes: total_changes,
        })
    }

    /// Verifies a bundle from [`Store::export_bundle`] and applies it. Nothing is applied
    /// unless the whole file checks out; then each document's changes go through ingress
    /// validation on their own, and refused documents are reported while the rest apply.
    ///
    /// # Errors
    /// [`Error::Sync`] with [`SyncFailure::Truncated`], [`SyncFailure::Malformed`],
    /// [`SyncFailure::UnsupportedVersion`], [`SyncFailure::TooLarge`],
    /// [`SyncFailure::UnknownPeer`], [`SyncFailure::UnknownKey`], [`SyncFailure::BadSignature`]
    /// (tampered) or [`SyncFailure::NotForThisSite`] — with nothing stored; storage errors.
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<BundleReport> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(Error::Sync(SyncFailure::TooLarge {
                limit: MAX_BUNDLE_BYTES as u64,
            }));
        }
        if bytes.len() < MAGIC.len() {
            return Err(Error::Sync(SyncFailure::Truncated));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(malformed("not a dossier bundle"));
        }
        let mut header = Input::new(&bytes[MAGIC.len()..]);
        let format = header
            .u8()
            .map_err(|_| Error::Sync(SyncFailure::Truncated))?;
        if format != FORMAT {
            return Err(Error::Sync(SyncFailure::UnsupportedVersion {
                theirs: format,
            }));
        }
        let body_len = u64::from_be_bytes(
            header
                .fixed::<8>()
                .map_err(|_| Error::Sync(SyncFailure::Truncated))?,
        );
        let expected = usize::try_from(body_len)
            .ok()
            .and_then(|n| n.checked_add(HEADER + SIGNATURE))
            .ok_or_else(|| malformed("impossible length"))?;
        if bytes.len() < expected {
            return Err(Error::Sync(SyncFailure::Truncated));
        }
        if bytes.len() > expected {
            return Err(malformed("trailing bytes after the signature"));
        }
        let (signed, sig) = bytes.split_at(expected - SIGNATURE);
        let sig: [u8; 64] = sig
            .try_into()
            .map_err(|_| Error::Sync(SyncFailure::Truncated))?;
        let mut body = Input::new(&signed[HEADER..]);
        let sender = body.site()?;
        let sender_key = PublicKey::from_bytes(body.fixed::<32>()?);
        let peer = self
            .read(|c| load_peer(c, &sender))?
            .ok_or(SyncFailure::UnknownPeer)?
            .peer;
        if peer.key != sender_key {
            return Err(SyncFailure::UnknownKey.into());
        }
        if !peer.key.verify(signed, &sig) {
            return Err(SyncFailure::BadSignature.into());
        }
        let recipient = body.site()?;
        if recipient != self.site() {
            return Err(SyncFailure::NotForThisSite.into());
        }
        let _created_at = body.varint()?;
        // Decode everything before applying anything.
        let count = body.count(16)?;
        let mut docs = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let id = body.doc_id()?;
            let n = body.count(32)?;
            let mut heads = Vec::with_capacity(n);
            for _ in 0..n {
                heads.push(ChangeHash(body.fixed::<32>()?));
            }
            let n = body.count(1)?;
            let mut changes = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let chunk = body.bytes()?;
                let change = Change::from_bytes(chunk.to_vec())
                    .map_err(|_| malformed("a change does not decode"))?;
                if !crate::incoming::checksum_ok(chunk, &change) {
                    return Err(malformed("a change's checksum does not match its contents"));
                }
                changes.push(change);
            }
            docs.push(DocEntry { id, heads, changes });
        }
        if !body.is_empty() {
            return Err(malformed("trailing bytes in the body"));
        }
        let mut report = BundleReport {
            from: sender.clone(),
            docs: docs.len(),
            docs_updated: 0,
            new_changes: 0,
            rejected: Vec::new(),
        };
        for d in docs {
            // Kept to name a refused document new here by its case number.
            let changes = d.changes.clone();
            match ingest(
                self,
                &sender,
                &peer.scopes,
                &d.id,
                d.changes,
                Some(&d.heads),
            )? {
                Ingress::Applied(n) => {
                    if n > 0 {
                        report.docs_updated += 1;
                        report.new_changes += n;
                    }
                }
                Ingress::Refused(reason) => {
                    let scratch = crate::incoming::contain(|| {
                        let mut doc = automerge::Automerge::new();
                        doc.apply_changes(changes).ok().map(|()| doc)
                    })
                    .ok()
                    .flatten();
                    report.rejected.push(Rejection {
                        doc: d.id,
                        reason,
                        by: Side::Us,
                        label: label_of(self, &d.id, scratch.as_ref()),
                    });
                }
            }
        }
        // A verified bundle is contact with its maker, as much as a session is: `peer list`
        // must not call a peer "never synced" when its bundles arrive every day.
        let now = self.now();
        self.write("sync.bundle", Origin::Local, |w| {
            record_contact(w.tx, &sender, now)
        })?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Scope;
    use crate::{Category, NewCase, StoreOptions};

    fn open(dir: &std::path::Path, site: &str) -> Store {
        Store::open(
            dir.join(format!("{site}.db")),
            StoreOptions {
                site: Some(site.into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn two_sites(dir: &std::path::Path, b_grants_a: &[&str]) -> (Store, Store) {
        let (a, b) = (open(dir, "SITEA"), open(dir, "SITEB"));
        a.add_peer("SITEB", b.public_key().unwrap(), vec![Scope::everything()])
            .unwrap();
        let scopes = b_grants_a.iter().map(|s| s.parse().unwrap()).collect();
        b.add_peer("SITEA", a.public_key().unwrap(), scopes)
            .unwrap();
        (a, b)
    }

    fn fingerprint(s: &Store) -> Vec<(DocId, Vec<ChangeHash>)> {
        s.documents()
            .unwrap()
            .into_iter()
            .map(|(id, _)| (id, s.heads(&id).unwrap()))
            .collect()
    }

    #[test]
    fn a_bundle_carries_changes_between_sites_and_importing_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["*"]);
        let c = a
            .create_case(NewCase::new("ES", Category::Refund, "uno"))
            .unwrap();
        let bundle = a.export_bundle("SITEB").unwrap();
        assert_eq!((bundle.docs, bundle.changes), (1, 1));
        let r = b.import_bundle(&bundle.bytes).unwrap();
        assert_eq!(
            (r.from.as_str(), r.docs_updated, r.new_changes),
            ("SITEA", 1, 1)
        );
        assert_eq!(a.case(&c.number).unwrap(), b.case(&c.number).unwrap());
        let again = b.import_bundle(&bundle.bytes).unwrap();
        assert_eq!((again.docs_updated, again.new_changes), (0, 0));
        // B now knows A has everything B has: nothing to send back.
        assert_eq!(b.export_bundle("SITEA").unwrap().docs, 0);
    }

    #[test]
    fn a_refused_document_in_a_bundle_is_named_by_its_case_number() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["IN-UPI"]);
        let c = a
            .create_case(NewCase::new("ES", Category::Refund, "fuera de alcance"))
            .unwrap();
        let r = b
            .import_bundle(&a.export_bundle("SITEB").unwrap().bytes)
            .unwrap();
        assert_eq!(r.rejected.len(), 1, "{r:?}");
        assert_eq!(r.rejected[0].label, Some(format!("case {}", c.number)));
        assert!(
            r.rejected[0]
                .to_string()
                .starts_with(&format!("case {} refused here", c.number)),
            "{}",
            r.rejected[0]
        );
    }

    #[test]
    fn importing_a_bundle_counts_as_contact_with_the_site_that_made_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["*"]);
        a.create_case(NewCase::new("ES", Category::Refund, "uno"))
            .unwrap();
        let last_sync = |s: &Store, peer: &str| {
            s.peers()
                .unwrap()
                .into_iter()
                .find(|p| p.site == peer)
                .unwrap()
                .last_sync_at
        };
        let bundle = a.export_bundle("SITEB").unwrap().bytes;
        // A refused bundle is no contact: anyone can drop a file.
        let mut tampered = bundle.clone();
        let at = tampered.len() - 1;
        tampered[at] ^= 1;
        assert!(b.import_bundle(&tampered).is_err());
        assert_eq!(last_sync(&b, "SITEA"), None);
        let before = b.now();
        b.import_bundle(&bundle).unwrap();
        assert!(last_sync(&b, "SITEA").is_some_and(|t| t >= before));
    }

    #[test]
    fn a_truncated_bundle_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["*"]);
        for i in 0..3 {
            a.create_case(NewCase::new("ES", Category::Refund, &format!("c{i}")))
                .unwrap();
        }
        let bytes = a.export_bundle("SITEB").unwrap().bytes;
        let before = fingerprint(&b);
        for cut in (0..bytes.len()).step_by(37).chain([bytes.len() - 1]) {
            let err = b.import_bundle(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Sync(SyncFailure::Truncated | SyncFailure::Malformed { .. })
                ),
                "cut at {cut}: {err}"
            );
        }
        assert!(matches!(
            b.import_bundle(&bytes[..bytes.len() - 1]).unwrap_err(),
            Error::Sync(SyncFailure::Truncated)
        ));
        assert_eq!(fingerprint(&b), before);
    }

    #[test]
    fn a_tampered_bundle_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["*"]);
        a.create_case(NewCase::new("ES", Category::Refund, "importe 100"))
            .unwrap();
        let bytes = a.export_bundle("SITEB").unwrap().bytes;
        for at in [
            HEADER + 40,
            bytes.len() / 2,
            bytes.len() - SIGNATURE - 1,
            bytes.len() - 1,
        ] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            let err = b.import_bundle(&bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Sync(SyncFailure::BadSignature | SyncFailure::Malformed { .. })
                ),
                "flip at {at}: {err}"
            );
        }
        assert!(b.documents().unwrap().is_empty());
    }

    #[test]
    fn bundles_from_strangers_or_for_other_sites_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["*"]);
        let c = open(dir.path(), "SITEC");
        c.add_peer("SITEA", a.public_key().unwrap(), vec![Scope::everything()])
            .unwrap();
        a.add_peer("SITEC", c.public_key().unwrap(), vec![Scope::everything()])
            .unwrap();
        a.create_case(NewCase::new("ES", Category::Refund, "x"))
            .unwrap();
        let for_c = a.export_bundle("SITEC").unwrap().bytes;
        assert!(matches!(
            b.import_bundle(&for_c).unwrap_err(),
            Error::Sync(SyncFailure::NotForThisSite)
        ));
        let from_c = c.export_bundle("SITEA").unwrap().bytes;
        assert!(matches!(
            b.import_bundle(&from_c).unwrap_err(),
            Error::Sync(SyncFailure::UnknownPeer)
        ));
        assert!(matches!(
            b.import_bundle(b"DSBN\x09").unwrap_err(),
            Error::Sync(SyncFailure::UnsupportedVersion { theirs: 9 })
        ));
        assert!(matches!(
            b.import_bundle(b"PK\x03\x04 not a bundle").unwrap_err(),
            Error::Sync(SyncFailure::Malformed { .. })
        ));
    }

    #[test]
    fn a_bundle_only_applies_documents_in_the_senders_write_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = two_sites(dir.path(), &["IN-UPI", "ES:ro"]);
        let upi = a
            .create_case(NewCase::new("IN-UPI", Category::Refund, "upi"))
            .unwrap();
        let es = a
            .create_case(NewCase::new("ES", Category::Refund, "es"))
            .unwrap();
        let pix = a
            .create_case(NewCase::new("BR-PIX", Category::Refund, "pix"))
            .unwrap();
        let r = b
            .import_bundle(&a.export_bundle("SITEB").unwrap().bytes)
            .unwrap();
        assert!(b.case(&upi.number).is_ok());
        assert!(b.case(&es.number).is_err());
        assert!(b.case(&pix.number).is_err());
        let mut refused: Vec<(DocId, crate::sync::RejectCode)> =
            r.rejected.iter().map(|x| (x.doc, x.reason)).collect();
        refused.sort_by_key(|x| x.0);
        assert_eq!(
            refused,
            vec![
                (es.id, crate::sync::RejectCode::ReadOnly),
                (pix.id, crate::sync::RejectCode::OutOfScope)
            ]
        );
    }
}
