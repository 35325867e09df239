//! Provisioned peers and what this store remembers about syncing with each of them.
//!
//! Peers are provisioned ahead by an operator (`dossier peer add`): a site id, the public key
//! that site signs with, and its scopes. Per peer the store keeps a cursor into
//! `docs.change_seq` (everything at or below it has been offered to the peer), the heads it
//! shares with the peer for each document (`sync_state`, so an interrupted session resumes
//! instead of starting over), and the nonces of authenticated hellos (to refuse replays).

use automerge::ChangeHash;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::keys::PublicKey;
use super::scope::{self, Scope};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{Origin, Store, encode_heads, validate_site};

/// How many hello nonces are remembered per peer: a replay of an older one still fails on its
/// signature (which covers our fresh nonce), so this only needs to catch the obvious replays.
const NONCES_KEPT: i64 = 10_000;

/// A provisioned peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// Its site id.
    pub site: String,
    /// The key it signs with.
    pub key: PublicKey,
    /// What it may read and write here.
    pub scopes: Vec<Scope>,
    /// When this store last heard from it (ms), if ever: a completed sync session, or a bundle
    /// it made that was imported here.
    pub last_sync_at: Option<i64>,
}

/// The peer row plus the sync cursor.
pub(crate) struct PeerRow {
    pub peer: Peer,
    pub cursor: i64,
}

pub(crate) fn load_peer(c: &Connection, site: &str) -> Result<Option<PeerRow>> {
    let row: Option<(Vec<u8>, String, i64, Option<i64>)> = c
        .query_row(
            "SELECT public_key, scopes, cursor, last_sync_at FROM sync_peers WHERE site = ?1",
            [site],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((key, scopes, cursor, last_sync_at)) = row else {
        return Ok(None);
    };
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| Error::Corrupt(format!("the public key of peer {site} is damaged")))?;
    Ok(Some(PeerRow {
        peer: Peer {
            site: site.to_string(),
            key: PublicKey::from_bytes(key),
            scopes: scope::split(&scopes)?,
            last_sync_at,
        },
        cursor,
    }))
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ChangeHash))
        .collect()
}

/// The heads this store knows it shares with `peer` for `doc` (empty when unknown).
pub(crate) fn shared_heads(c: &Connection, peer: &str, doc: &DocId) -> Result<Vec<ChangeHash>> {
    let bytes: Option<Vec<u8>> = c
        .query_row(
            "SELECT shared_heads FROM sync_state WHERE peer = ?1 AND doc = ?2",
            params![peer, doc.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(bytes.map(|b| decode_heads(&b)).unwrap_or_default())
}

/// Records the heads shared with `peer` for each document.
pub(crate) fn set_shared_heads(
    c: &Connection,
    peer: &str,
    states: &[(DocId, Vec<ChangeHash>)],
) -> Result<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO sync_state(peer, doc, shared_heads) VALUES (?1, ?2, ?3) \
         ON CONFLICT(peer, doc) DO UPDATE SET shared_heads = excluded.shared_heads",
    )?;
    for (doc, heads) in states {
        let mut sorted = heads.clone();
        sorted.sort();
        stmt.execute(params![peer, doc.to_string(), encode_heads(&sorted)])?;
    }
    Ok(())
}

/// Whether `peer` already used `nonce` in an authenticated hello.
pub(crate) fn nonce_used(c: &Connection, peer: &str, nonce: &[u8; 32]) -> Result<bool> {
    Ok(c.query_row(
        "SELECT 1 FROM sync_nonces WHERE peer = ?1 AND nonce = ?2",
        params![peer, nonce.as_slice()],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// Remembers an authenticated hello's nonce, forgetting the oldest beyond [`NONCES_KEPT`].
pub(crate) fn record_nonce(c: &Connection, peer: &str, nonce: &[u8; 32], at: i64) -> Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO sync_nonces(peer, nonce, at) VALUES (?1, ?2, ?3)",
        params![peer, nonce.as_slice(), at],
    )?;
    c.execute(
        "DELETE FROM sync_nonces WHERE peer = ?1 AND rowid NOT IN \
         (SELECT rowid FROM sync_nonces WHERE peer = ?1 ORDER BY rowid DESC LIMIT ?2)",
        params![peer, NONCES_KEPT],
    )?;
    Ok(())
}

/// Marks a completed session: everything up to `cursor` has been offered to `peer`.
pub(crate) fn finish_session(c: &Connection, peer: &str, cursor: i64, at: i64) -> Result<()> {
    c.execute(
        "UPDATE sync_peers SET cursor = max(cursor, ?2), last_sync_at = ?3 WHERE site = ?1",
        params![peer, cursor, at],
    )?;
    Ok(())
}

/// Records that `peer` was heard from at `at` without a session: a bundle it made was imported.
pub(crate) fn record_contact(c: &Connection, peer: &str, at: i64) -> Result<()> {
    c.execute(
        "UPDATE sync_peers SET last_sync_at = max(coalesce(last_sync_at, ?2), ?2) WHERE site = ?1",
        params![peer, at],
    )?;
    Ok(())
}

impl Store {
    /// Provisions a peer — or updates its key and scopes. When the key or the scopes change, the
    /// peer's cursor and shared heads are forgotten, so the next session offers it everything
    /// it may now read.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed site id, no scopes, or the store's own site.
    ///
    /// # Example
    /// ```
    /// # use dossier::{Store, StoreOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let open = |s: &str| Store::open(dir.path().join(s), StoreOptions { site: Some(s.into()), ..Default::default() });
    /// let (hub, site) = (open("HUB")?, open("MX1")?);
    /// let peer = hub.add_peer("MX1", site.public_key()?, vec!["ES".parse()?, "*/sop:ro".parse()?])?;
    /// assert_eq!(peer.scopes.len(), 2);
    /// # Ok::<(), dossier::Error>(())
    /// ```
    pub fn add_peer(&self, site: &str, key: PublicKey, scopes: Vec<Scope>) -> Result<Peer> {
        validate_site(site)?;
        if site == self.site() {
            return Err(Error::invalid("site", "a store cannot be its own peer"));
        }
        if scopes.is_empty() {
            return Err(Error::invalid(
                "scope",
                "give at least one scope (e.g. IN-UPI or *:ro)",
            ));
        }
        let text = scope::join(&scopes);
        let now = self.now();
        self.write("sync.peer", Origin::Local, |w| {
            let before = load_peer(w.tx, site)?;
            match before {
                Some(old) if old.peer.key == key && scope::join(&old.peer.scopes) == text => {}
                Some(_) => {
                    w.tx.execute(
                        "UPDATE sync_peers SET public_key = ?2, scopes = ?3, cursor = 0 \
                         WHERE site = ?1",
                        params![site, key.as_bytes().as_slice(), text],
                    )?;
                    w.tx.execute("DELETE FROM sync_state WHERE peer = ?1", [site])?;
                }
                None => {
                    w.tx.execute(
                        "INSERT INTO sync_peers(site, public_key, scopes, added_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![site, key.as_bytes().as_slice(), text, now],
                    )?;
                }
            }
            Ok(())
        })?;
        self.peer(site)
    }

    /// One provisioned peer.
    ///
    /// # Errors
    /// [`Error::NotFound`] when `site` is not provisioned.
    pub fn peer(&self, site: &str) -> Result<Peer> {
        self.read(|c| load_peer(c, site))?
            .map(|r| r.peer)
            .ok_or_else(|| Error::not_found("peer", site))
    }

    /// Every provisioned peer, by site id.
    ///
    /// # Errors
    /// Storage errors.
    pub fn peers(&self) -> Result<Vec<Peer>> {
        let sites: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare("SELECT site FROM sync_peers ORDER BY site")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        sites.iter().map(|s| self.peer(s)).collect()
    }

    /// Forgets a peer and everything remembered about syncing with it.
    ///
    /// # Errors
    /// [`Error::NotFound`] when `site` is not provisioned.
    pub fn remove_peer(&self, site: &str) -> Result<()> {
        let n = self.write("sync.peer", Origin::Local, |w| {
            Ok(w.tx.execute("DELETE FROM sync_peers WHERE site = ?1", [site])?)
        })?;
        if n == 0 {
            return Err(Error::not_found("peer", site));
        }
        Ok(())
    }
}
