//! The session state machine: bytes in, bytes out, and the store in between.
//!
//! A [`Session`] never blocks on the network: the transport hands it each received message
//! ([`Session::handle`]) and sends whatever [`Session::poll_transmit`] returns, so the same code
//! runs over WebSocket, in memory and in tests that deliver messages in odd orders. It does block
//! on SQLite, briefly, like every other store call; async transports run it on a blocking thread.
//!
//! **Ending.** Per-document Automerge sync has no end of its own: each side just stops having
//! anything to say. A session ends with a counting handshake over an ordered link: whenever a
//! side has nothing left to send it sends `Quiet { sent, received, idle }` (data messages sent and
//! received so far, and whether it has documents still waiting to start). A side that receives a
//! `Quiet` whose counts mirror its own knows the peer has read everything it sent and has nothing
//! more to say; if both are idle, it sends `Done` and the cursor moves forward. A `Quiet` with
//! matching counts also tells a side that conversations still waiting for an answer will not get
//! one, which frees their slots for documents not yet started.
//!
//! **Memory.** A conversation holds its own copy of the document (so Automerge's sync can queue
//! changes whose dependencies have not arrived yet without touching the store); at most
//! [`SessionConfig::max_docs_in_flight`] conversations exist at once, the rest wait as ids.
//! Messages are limited to [`SessionConfig::max_message_bytes`].

use std::collections::{HashMap, HashSet, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash, ReadDoc};
use ed25519_dalek::SigningKey;

use super::ingress::label_of;
use super::ingress::{Ingress, ingest};
use super::keys::{PublicKey, random, sign};
use super::peers::{
    Peer, PeerRow, finish_session, load_peer, nonce_used, record_nonce, set_shared_heads,
    shared_heads,
};
use super::scope::{can_read, can_write, markets_of};
use super::wire::{Digest, HAVE_ENTRY_BYTES, Msg, digest};
use super::{Claim, RejectCode, Rejection, Side, SyncFailure, SyncReport};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{Origin, Store};

/// Limits of one session. Both sides should use the same message limit: a document whose sync
/// message is larger than the limit is refused (and reported) rather than sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Largest message sent or accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most documents synced at once (each holds a copy of its document in memory).
    pub max_docs_in_flight: usize,
    /// Most documents a peer may announce in one session.
    pub max_announced_docs: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_message_bytes: 16 << 20,
            max_docs_in_flight: 64,
            max_announced_docs: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Initiator,
    Responder,
}

enum Phase {
    /// Initiator: hello sent, waiting for the welcome.
    AwaitWelcome,
    /// Responder: waiting for a hello.
    AwaitHello,
    /// Responder: welcome sent, waiting for the initiator's signature.
    AwaitAuth {
        peer: Box<PeerRow>,
        their_nonce: [u8; 32],
    },
    Syncing,
    Finished,
    Failed,
}

/// One document being synced with the peer.
struct Conv {
    /// A private copy: Automerge's sync may queue changes here whose dependencies are still on
    /// their way; only validated, applicable changes reach the store.
    doc: Automerge,
    state: sync::State,
    /// We spoke last and expect an answer; a conversation that is not waiting may be evicted
    /// (its shared heads saved) to make room for another document.
    waiting: bool,
}

/// Why handling a message stopped the session.
enum Halt {
    /// This side refuses to go on.
    Fail(SyncFailure),
    /// The peer said it gives up.
    Refused(SyncFailure),
    /// A storage error here.
    Store(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Store(e)
    }
}

impl From<SyncFailure> for Halt {
    fn from(f: SyncFailure) -> Self {
        Halt::Fail(f)
    }
}

type Step<T = ()> = std::result::Result<T, Halt>;

/// One sync session with one peer, as a state machine. See the [module docs](super).
///
/// # Example
/// Driving two sessions by hand (what a transport does):
/// ```
/// use dossier::sync::{Scope, Session, SessionConfig};
/// use dossier::{Store, StoreOptions};
/// # let dir = tempfile::tempdir()?;
/// # let open = |s: &str| Store::open(dir.path().join(s), StoreOptions { site: Some(s.into()), ..Default::default() });
/// let (a, b) = (open("SITEA")?, open("SITEB")?);
/// a.add_peer("SITEB", b.public_key()?, vec![Scope::everything()])?;
/// b.add_peer("SITEA", a.public_key()?, vec![Scope::everything()])?;
/// let mut client = Session::initiate(&a, SessionConfig::default())?;
/// let mut server = Session::accept(&b, SessionConfig::default())?;
/// while !(client.is_done() && server.is_done()) {
///     while let Some(m) = client.poll_transmit() { server.handle(&m)?; }
///     while let Some(m) = server.poll_transmit() { client.handle(&m)?; }
/// }
/// assert_eq!(client.peer(), Some("SITEB"));
/// # Ok::<(), dossier::Error>(())
/// ```
pub struct Session {
    store: Store,
    config: SessionConfig,
    role: Role,
    key: SigningKey,
    nonce: [u8; 32],
    phase: Phase,
    peer: Option<Peer>,
    outbox: VecDeque<Vec<u8>>,
    /// Our `docs.change_seq` when the session started: the next cursor.
    start_seq: i64,
    /// Our changed documents announced to the peer.
    mine: Vec<(DocId, Digest)>,
    /// The peer's announcements.
    theirs: Vec<(DocId, Digest)>,
    their_have_done: bool,
    pending: VecDeque<DocId>,
    queued: HashSet<DocId>,
    active: HashMap<DocId, Conv>,
    /// Documents this session no longer talks about (refused for reading, or dropped).
    closed: HashSet<DocId>,
    /// Documents whose changes this side refused: reopened read-only if evicted.
    refused: HashSet<DocId>,
    /// Shared heads learned and not yet written.
    dirty: HashMap<DocId, Vec<ChangeHash>>,
    sent: u64,
    received: u64,
    last_quiet: Option<(u64, u64, bool)>,
    /// Data went out since the outbox was last empty: the peer will answer it (with data or a
    /// `Quiet`), so our own `Quiet` would only add a message.
    data_this_round: bool,
    /// The peer is stuck waiting for answers and needs our `Quiet` to go on.
    owe_quiet: bool,
    sent_docs: HashSet<DocId>,
    received_docs: HashSet<DocId>,
    refusals: HashSet<(DocId, Side)>,
    report: SyncReport,
    /// Who the peer said it was in its hello or welcome, proven or not.
    claim: Option<Claim>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("peer", &self.peer.as_ref().map(|p| &p.site))
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

fn transcript(
    label: &[u8],
    signed_nonce: &[u8; 32],
    signer_nonce: &[u8; 32],
    initiator: &str,
    responder: &str,
) -> Vec<u8> {
    // The protocol version is in the label, so a signature cannot be replayed into another
    // version of the protocol; both site ids are in, so it cannot be replayed to another pair.
    let mut t = Vec::with_capacity(label.len() + 64 + 34);
    t.extend_from_slice(label);
    t.extend_from_slice(signed_nonce);
    t.extend_from_slice(signer_nonce);
    super::wire::put_bytes(&mut t, initiator.as_bytes());
    super::wire::put_bytes(&mut t, responder.as_bytes());
    t
}

const WELCOME_LABEL: &[u8] = b"dossier-sync/1 welcome";
const AUTH_LABEL: &[u8] = b"dossier-sync/1 auth";

impl Session {
    fn new(store: &Store, config: SessionConfig, role: Role, phase: Phase) -> Result<Session> {
        Ok(Session {
            store: store.clone(),
            config,
            role,
            key: store.signing_key()?,
            nonce: random::<32>()?,
            phase,
            peer: None,
            outbox: VecDeque::new(),
            start_seq: 0,
            mine: Vec::new(),
            theirs: Vec::new(),
            their_have_done: false,
            pending: VecDeque::new(),
            queued: HashSet::new(),
            active: HashMap::new(),
            closed: HashSet::new(),
            refused: HashSet::new(),
            dirty: HashMap::new(),
            sent: 0,
            received: 0,
            last_quiet: None,
            data_this_round: false,
            owe_quiet: false,
            sent_docs: HashSet::new(),
            received_docs: HashSet::new(),
            refusals: HashSet::new(),
            report: SyncReport::default(),
            claim: None,
        })
    }

    /// Starts a session as the side that connects (a site dialling its hub): the hello is
    /// queued at once.
    ///
    /// # Errors
    /// Storage errors reading the site key; no randomness from the operating system.
    pub fn initiate(store: &Store, config: SessionConfig) -> Result<Session> {
        let mut s = Session::new(store, config, Role::Initiator, Phase::AwaitWelcome)?;
        let hello = Msg::Hello {
            site: store.site().to_string(),
            key: s.key.verifying_key().to_bytes(),
            nonce: s.nonce,
        };
        s.push(&hello);
        Ok(s)
    }

    /// Starts a session as the side that is connected to (the hub), waiting for a hello.
    ///
    /// # Errors
    /// Storage errors reading the site key; no randomness from the operating system.
    pub fn accept(store: &Store, config: SessionConfig) -> Result<Session> {
        Session::new(store, config, Role::Responder, Phase::AwaitHello)
    }

    /// The authenticated peer's site id, once the hello is done.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_ref().map(|p| p.site.as_str())
    }

    /// Who the peer said it was — site id and public key — as soon as its hello (or welcome)
    /// decoded, even when it could not be authenticated: for the operator's log of a refused
    /// hello. Not proof of anything until [`Session::peer`] is set.
    pub fn claim(&self) -> Option<&Claim> {
        self.claim.as_ref()
    }

    /// Whether the session ended normally (both sides quiet; cursors moved forward).
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// Whether the session is over, normally or not. Once over, the transport sends whatever
    /// [`Session::poll_transmit`] still returns (a final `Done` or the failure) and closes.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::Failed)
    }

    /// What the session did so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }

    /// Ends the session from outside the protocol — the transport saw something it could not
    /// hand over (a message beyond the WebSocket size limit, say). A message telling the peer
    /// why is queued; what was already stored stays stored.
    pub fn abort(&mut self, failure: SyncFailure) {
        if self.is_closed() {
            return;
        }
        self.push(&Msg::Fail { failure });
        self.phase = Phase::Failed;
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let msg = match self.outbox.pop_front() {
            Some(m) => m,
            None => {
                if !matches!(self.phase, Phase::Syncing) {
                    return None;
                }
                if std::mem::take(&mut self.data_this_round) {
                    return None;
                }
                let q = (self.sent, self.received, self.is_idle());
                if self.last_quiet == Some(q) && !self.owe_quiet {
                    return None;
                }
                self.owe_quiet = false;
                self.last_quiet = Some(q);
                Msg::Quiet {
                    sent: q.0,
                    received: q.1,
                    idle: q.2,
                }
                .encode()
            }
        };
        self.report.messages_sent += 1;
        self.report.bytes_sent += msg.len() as u64;
        Some(msg)
    }

    /// Handles one received message. Changes it carries are validated and stored before this
    /// returns; replies are queued for [`Session::poll_transmit`].
    ///
    /// # Errors
    /// [`Error::Sync`] when this side ends the session (authentication failed, a malformed or
    /// oversized message, a protocol violation) — a message telling the peer why is queued;
    /// [`Error::SyncRefused`] when the peer ended it; storage errors. A refused *document* is
    /// not an error: it is reported in [`SyncReport::rejected`] and the session goes on.
    pub fn handle(&mut self, bytes: &[u8]) -> Result<()> {
        if self.is_closed() {
            return Ok(());
        }
        self.report.messages_received += 1;
        self.report.bytes_received += bytes.len() as u64;
        let result = match Msg::decode(bytes, self.config.max_message_bytes) {
            Ok(msg) => self.dispatch(msg),
            Err(f) => Err(Halt::Fail(f)),
        };
        let result = result.and_then(|()| self.flush_states().map_err(Halt::Store));
        match result {
            Ok(()) => Ok(()),
            Err(Halt::Fail(f)) => {
                self.push(&Msg::Fail { failure: f.clone() });
                self.phase = Phase::Failed;
                Err(Error::Sync(f))
            }
            Err(Halt::Refused(f)) => {
                self.phase = Phase::Failed;
                Err(Error::SyncRefused(f))
            }
            Err(Halt::Store(e)) => {
                self.push(&Msg::Fail {
                    failure: SyncFailure::Internal,
                });
                self.phase = Phase::Failed;
                Err(e)
            }
        }
    }

    fn push(&mut self, msg: &Msg) {
        if msg.is_data() {
            self.sent += 1;
            self.data_this_round = true;
        }
        self.outbox.push_back(msg.encode());
    }

    fn dispatch(&mut self, msg: Msg) -> Step {
        if let Msg::Fail { failure } = msg {
            return Err(Halt::Refused(failure));
        }
        let unexpected = |reason| Err(Halt::Fail(SyncFailure::Protocol { reason }));
        match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::AwaitHello => match msg {
                Msg::Hello { site, key, nonce } => self.on_hello(site, key, nonce),
                _ => unexpected("expected a hello"),
            },
            Phase::AwaitAuth { peer, their_nonce } => match msg {
                Msg::Auth { sig } => self.on_auth(*peer, their_nonce, sig),
                _ => unexpected("expected the hello signature"),
            },
            Phase::AwaitWelcome => match msg {
                Msg::Welcome {
                    site,
                    key,
                    nonce,
                    sig,
                } => self.on_welcome(site, key, nonce, sig),
                _ => unexpected("expected a welcome"),
            },
            Phase::Syncing => {
                self.phase = Phase::Syncing;
                if msg.is_data() {
                    self.received += 1;
                }
                match msg {
                    Msg::Have { entries, last } => self.on_have(entries, last)?,
                    Msg::Doc { id, sync } => self.on_doc(id, &sync)?,
                    Msg::Rejected { id, code } => self.record(id, code, Side::Peer),
                    Msg::Quiet {
                        sent,
                        received,
                        idle,
                    } => return self.on_quiet(sent, received, idle),
                    Msg::Done => return self.finish(),
                    _ => return unexpected("a hello message after the hello"),
                }
                self.pump()
            }
            Phase::Finished | Phase::Failed => Ok(()),
        }
    }

    fn provisioned(&self, site: &str, key: &[u8; 32]) -> Step<PeerRow> {
        let row = self
            .store
            .read(|c| load_peer(c, site))?
            .ok_or(SyncFailure::UnknownPeer)?;
        if row.peer.key != PublicKey::from_bytes(*key) {
            return Err(SyncFailure::UnknownKey.into());
        }
        Ok(row)
    }

    fn on_hello(&mut self, site: String, key: [u8; 32], their_nonce: [u8; 32]) -> Step {
        self.claim = Some(Claim {
            site: site.clone(),
            key: PublicKey::from_bytes(key),
        });
        let peer = self.provisioned(&site, &key)?;
        if self.store.read(|c| nonce_used(c, &site, &their_nonce))? {
            return Err(SyncFailure::ReplayedNonce.into());
        }
        let me = self.store.site().to_string();
        let sig = sign(
            &self.key,
            &transcript(WELCOME_LABEL, &their_nonce, &self.nonce, &site, &me),
        );
        self.push(&Msg::Welcome {
            site: me,
            key: self.key.verifying_key().to_bytes(),
            nonce: self.nonce,
            sig,
        });
        self.phase = Phase::AwaitAuth {
            peer: Box::new(peer),
            their_nonce,
        };
        Ok(())
    }

    fn on_auth(&mut self, peer: PeerRow, their_nonce: [u8; 32], sig: [u8; 64]) -> Step {
        let t = transcript(
            AUTH_LABEL,
            &self.nonce,
            &their_nonce,
            &peer.peer.site,
            self.store.site(),
        );
        if !peer.peer.key.verify(&t, &sig) {
            return Err(SyncFailure::BadSignature.into());
        }
        let now = self.store.now();
        let site = peer.peer.site.clone();
        self.store.write("sync.hello", Origin::Local, |w| {
            record_nonce(w.tx, &site, &their_nonce, now)
        })?;
        self.start(peer)
    }

    fn on_welcome(
        &mut self,
        site: String,
        key: [u8; 32],
        their_nonce: [u8; 32],
        sig: [u8; 64],
    ) -> Step {
        self.claim = Some(Claim {
            site: site.clone(),
            key: PublicKey::from_bytes(key),
        });
        let peer = self.provisioned(&site, &key)?;
        let me = self.store.site().to_string();
        let t = transcript(WELCOME_LABEL, &self.nonce, &their_nonce, &me, &site);
        if !peer.peer.key.verify(&t, &sig) {
            return Err(SyncFailure::BadSignature.into());
        }
        let sig = sign(
            &self.key,
            &transcript(AUTH_LABEL, &their_nonce, &self.nonce, &me, &site),
        );
        self.push(&Msg::Auth { sig });
        self.start(peer)
    }

    /// Authenticated: announce what changed here since the peer's cursor.
    fn start(&mut self, row: PeerRow) -> Step {
        self.report.peer = Some(row.peer.site.clone());
        let scopes = row.peer.scopes.clone();
        let site = row.peer.site.clone();
        self.peer = Some(row.peer);
        let changed: Vec<(String, i64)> = self.store.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, change_seq FROM docs WHERE change_seq > ?1 ORDER BY change_seq",
            )?;
            let rows = stmt.query_map([row.cursor], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        self.start_seq = changed.iter().map(|(_, s)| *s).max().unwrap_or(row.cursor);
        for (id, _) in changed {
            let Ok(id) = id.parse::<DocId>() else {
                continue;
            };
            // A document that no longer loads is not offered; `check_integrity` reports it.
            let Ok((doc, kind)) = self.store.load(&id) else {
                continue;
            };
            if !can_read(&scopes, kind, &markets_of(&doc, kind)) {
                continue;
            }
            let mut heads = doc.get_heads();
            heads.sort();
            let shared = self.store.read(|c| shared_heads(c, &site, &id))?;
            if shared == heads {
                continue;
            }
            self.mine.push((id, digest(&heads)));
        }
        let per_message =
            ((self.config.max_message_bytes.saturating_sub(32)) / HAVE_ENTRY_BYTES).clamp(1, 8192);
        let chunks: Vec<Vec<(DocId, Digest)>> =
            self.mine.chunks(per_message).map(|c| c.to_vec()).collect();
        let n = chunks.len();
        if n == 0 {
            self.push(&Msg::Have {
                entries: Vec::new(),
                last: true,
            });
        }
        for (i, entries) in chunks.into_iter().enumerate() {
            self.push(&Msg::Have {
                entries,
                last: i + 1 == n,
            });
        }
        self.phase = Phase::Syncing;
        Ok(())
    }

    fn scopes(&self) -> &[super::Scope] {
        self.peer
            .as_ref()
            .map(|p| p.scopes.as_slice())
            .unwrap_or(&[])
    }

    fn peer_site(&self) -> String {
        self.peer
            .as_ref()
            .map(|p| p.site.clone())
            .unwrap_or_default()
    }

    fn is_idle(&self) -> bool {
        self.their_have_done && self.pending.is_empty()
    }

    fn on_have(&mut self, entries: Vec<(DocId, Digest)>, last: bool) -> Step {
        if self.their_have_done {
            return Err(SyncFailure::Protocol {
                reason: "announcement after the last one",
            }
            .into());
        }
        if self.theirs.len() + entries.len() > self.config.max_announced_docs {
            return Err(SyncFailure::TooLarge {
                limit: self.config.max_announced_docs as u64,
            }
            .into());
        }
        self.theirs.extend(entries);
        if !last {
            return Ok(());
        }
        self.their_have_done = true;
        let theirs = std::mem::take(&mut self.theirs);
        let mut announced = HashSet::new();
        for (id, their_digest) in &theirs {
            announced.insert(*id);
            match self.store.load(id) {
                Ok((doc, kind)) => {
                    if !can_read(self.scopes(), kind, &markets_of(&doc, kind)) {
                        // Asking for a document outside one's scopes gets a refusal, never
                        // the document.
                        self.reject(*id, RejectCode::OutOfScope);
                        self.closed.insert(*id);
                        continue;
                    }
                    let heads = doc.get_heads();
                    if digest(&heads) == *their_digest {
                        self.dirty.insert(*id, heads);
                    } else {
                        self.enqueue(*id);
                    }
                }
                Err(Error::NotFound { .. }) => self.enqueue(*id),
                Err(
                    e @ (Error::Sqlite(_) | Error::Io(_) | Error::Corrupt(_) | Error::DiskFull(_)),
                ) => {
                    return Err(e.into());
                }
                Err(_) => {
                    self.reject(*id, RejectCode::Invalid);
                    self.closed.insert(*id);
                }
            }
        }
        self.theirs = theirs;
        let mine: Vec<DocId> = self.mine.iter().map(|(id, _)| *id).collect();
        for id in mine {
            if !announced.contains(&id) {
                self.enqueue(id);
            }
        }
        Ok(())
    }

    fn enqueue(&mut self, id: DocId) {
        if self.queued.insert(id) {
            self.pending.push_back(id);
        }
    }

    /// Starts waiting documents while there is room, evicting settled conversations.
    fn pump(&mut self) -> Step {
        while let Some(&id) = self.pending.front() {
            if self.closed.contains(&id) || self.active.contains_key(&id) {
                self.pending.pop_front();
                continue;
            }
            if self.active.len() >= self.config.max_docs_in_flight.max(1) {
                let settled = self
                    .active
                    .iter()
                    .find(|(_, c)| !c.waiting)
                    .map(|(id, _)| *id);
                match settled {
                    Some(old) => self.retire(old),
                    None => break,
                }
            }
            self.pending.pop_front();
            if let Some(conv) = self.open_conv(&id)? {
                self.active.insert(id, conv);
                self.speak(id);
            }
        }
        Ok(())
    }

    /// A conversation about `id`, from the store's copy and the stored shared heads, or `None`
    /// when the peer may not see the document (refused and reported).
    fn open_conv(&mut self, id: &DocId) -> Step<Option<Conv>> {
        match self.store.load(id) {
            Ok((doc, kind)) => {
                let markets = markets_of(&doc, kind);
                if !can_read(self.scopes(), kind, &markets) {
                    self.reject(*id, RejectCode::OutOfScope);
                    self.closed.insert(*id);
                    return Ok(None);
                }
                // A read-only conversation tells the peer (Automerge's read-only flag) not to
                // send changes, and ignores any it sends anyway.
                let mut state =
                    if can_write(self.scopes(), kind, &markets) && !self.refused.contains(id) {
                        sync::State::new()
                    } else {
                        sync::State::new_read_only()
                    };
                let site = self.peer_site();
                state.shared_heads = self
                    .store
                    .read(|c| shared_heads(c, &site, id))?
                    .into_iter()
                    .filter(|h| doc.get_change_by_hash(h).is_some())
                    .collect();
                Ok(Some(Conv {
                    doc: (*doc).clone(),
                    state,
                    waiting: false,
                }))
            }
            Err(Error::NotFound { .. }) => Ok(Some(Conv {
                doc: Automerge::new(),
                state: if self.refused.contains(id) {
                    sync::State::new_read_only()
                } else {
                    sync::State::new()
                },
                waiting: false,
            })),
            Err(e @ (Error::Sqlite(_) | Error::Io(_) | Error::Corrupt(_) | Error::DiskFull(_))) => {
                Err(e.into())
            }
            Err(_) => {
                self.reject(*id, RejectCode::Invalid);
                self.closed.insert(*id);
                Ok(None)
            }
        }
    }

    /// Sends the conversation's next message, if it has one.
    fn speak(&mut self, id: DocId) {
        let Some(conv) = self.active.get_mut(&id) else {
            return;
        };
        let msg = conv.doc.generate_sync_message(&mut conv.state);
        conv.waiting = msg.is_some();
        let Some(msg) = msg else {
            return;
        };
        let carries_changes = !msg.changes.is_empty();
        let sync = msg.encode();
        if sync.len() + 32 > self.config.max_message_bytes {
            self.reject(id, RejectCode::TooLarge);
            self.active.remove(&id);
            self.closed.insert(id);
            return;
        }
        if carries_changes && self.sent_docs.insert(id) {
            self.report.docs_sent = self.sent_docs.len();
        }
        self.push(&Msg::Doc { id, sync });
    }

    fn retire(&mut self, id: DocId) {
        if let Some(conv) = self.active.remove(&id) {
            self.dirty.insert(id, conv.state.shared_heads);
        }
    }

    fn on_doc(&mut self, id: DocId, bytes: &[u8]) -> Step {
        if self.closed.contains(&id) {
            return Ok(());
        }
        if !self.active.contains_key(&id) {
            match self.open_conv(&id)? {
                Some(conv) => {
                    self.active.insert(id, conv);
                }
                None => return Ok(()),
            }
        }
        let Ok(msg) = sync::Message::decode(bytes) else {
            self.reject(id, RejectCode::Malformed);
            self.active.remove(&id);
            self.closed.insert(id);
            return Ok(());
        };
        // A change chunk corrupted after it was made decodes as a different change: refuse
        // it by its checksum before automerge sees it (other chunk kinds are automerge's).
        let corrupted = msg.changes.iter().any(|chunk| {
            automerge::Change::from_bytes(chunk.to_vec())
                .is_ok_and(|c| !crate::incoming::checksum_ok(chunk, &c))
        });
        if corrupted {
            self.reject(id, RejectCode::Malformed);
            self.active.remove(&id);
            self.closed.insert(id);
            return Ok(());
        }
        let Some(conv) = self.active.get_mut(&id) else {
            return Ok(());
        };
        let their_heads = msg.heads.clone();
        let before = conv.doc.get_heads();
        let refused_read_only = conv.state.read_only
            && (!msg.changes.is_empty()
                || their_heads
                    .iter()
                    .any(|h| conv.doc.get_change_by_hash(h).is_none()));
        // `conv.doc` is this conversation's copy: if automerge panics on the peer's changes the
        // copy is dropped with the conversation and the store never saw them.
        let received =
            crate::incoming::contain(|| conv.doc.receive_sync_message(&mut conv.state, msg));
        if !matches!(received, Ok(Ok(()))) {
            self.reject(id, RejectCode::Malformed);
            self.active.remove(&id);
            self.closed.insert(id);
            return Ok(());
        }
        let new = conv.doc.get_changes(&before);
        if refused_read_only {
            self.reject(id, RejectCode::ReadOnly);
        }
        if !new.is_empty() {
            let (site, scopes) = (self.peer_site(), self.scopes().to_vec());
            match ingest(&self.store, &site, &scopes, &id, new, Some(&their_heads))? {
                Ingress::Applied(n) => {
                    if n > 0 && self.received_docs.insert(id) {
                        self.report.docs_received = self.received_docs.len();
                    }
                }
                Ingress::Refused(code) => {
                    self.reject(id, code);
                    self.refused.insert(id);
                    // Start over from what the store really holds, read-only: the peer still
                    // gets our changes, and stops offering the refused ones.
                    let doc = match self.store.load(&id) {
                        Ok((doc, _)) => (*doc).clone(),
                        Err(Error::NotFound { .. }) => Automerge::new(),
                        Err(e) => return Err(e.into()),
                    };
                    self.active.insert(
                        id,
                        Conv {
                            doc,
                            state: sync::State::new_read_only(),
                            waiting: false,
                        },
                    );
                    self.speak(id);
                    return Ok(());
                }
            }
        }
        if let Some(conv) = self.active.get(&id) {
            self.dirty.insert(id, conv.state.shared_heads.clone());
        }
        self.speak(id);
        Ok(())
    }

    /// Refuses a document's changes: recorded here and reported to the peer, once.
    fn reject(&mut self, id: DocId, code: RejectCode) {
        if self.refusals.insert((id, Side::Us)) {
            // The conversation's copy holds the refused changes: a document new here can
            // still be named by its case number.
            let label = label_of(&self.store, &id, self.active.get(&id).map(|c| &c.doc));
            self.report.rejected.push(Rejection {
                doc: id,
                reason: code,
                by: Side::Us,
                label,
            });
            self.push(&Msg::Rejected { id, code });
        }
    }

    fn record(&mut self, id: DocId, code: RejectCode, by: Side) {
        if self.refusals.insert((id, by)) {
            let label = label_of(&self.store, &id, None);
            self.report.rejected.push(Rejection {
                doc: id,
                reason: code,
                by,
                label,
            });
        }
    }

    fn on_quiet(&mut self, sent: u64, received: u64, idle: bool) -> Step {
        if received != self.sent || sent != self.received {
            return Ok(());
        }
        // The peer has read everything we sent and will say nothing more unless we do:
        // conversations still waiting for an answer will not get one.
        for conv in self.active.values_mut() {
            conv.waiting = false;
        }
        self.pump()?;
        if idle && self.is_idle() && self.outbox.is_empty() {
            self.outbox.push_back(Msg::Done.encode());
            return self.finish();
        }
        // Counts match but the peer is not idle: it has documents waiting for slots held by
        // conversations we will never answer. Our `Quiet` tells it so.
        if !idle {
            self.owe_quiet = true;
        }
        Ok(())
    }

    fn finish(&mut self) -> Step {
        let waiting: Vec<DocId> = self.active.keys().copied().collect();
        for id in waiting {
            self.retire(id);
        }
        self.flush_states()?;
        let (site, cursor, now) = (self.peer_site(), self.start_seq, self.store.now());
        self.store.write("sync.done", Origin::Local, |w| {
            finish_session(w.tx, &site, cursor, now)
        })?;
        self.report.completed = true;
        self.phase = Phase::Finished;
        Ok(())
    }

    /// Writes the shared heads learned since the last call, in one transaction.
    fn flush_states(&mut self) -> Result<()> {
        if self.dirty.is_empty() || self.peer.is_none() {
            return Ok(());
        }
        let states: Vec<(DocId, Vec<ChangeHash>)> = self.dirty.drain().collect();
        let site = self.peer_site();
        self.store.write("sync.state", Origin::Local, |w| {
            set_shared_heads(w.tx, &site, &states)
        })
    }
}

/// Runs a whole session between two stores in memory: `initiator` connects to `responder`.
/// Returns both sides' reports (initiator first). Tests and tools use it; sites use the
/// WebSocket transport in `dossier-net` or bundle files.
///
/// # Errors
/// The first side's failure, as that side saw it.
pub fn sync_pair(
    initiator: &Store,
    responder: &Store,
    config: &SessionConfig,
) -> Result<(SyncReport, SyncReport)> {
    let mut a = Session::initiate(initiator, config.clone())?;
    let mut b = Session::accept(responder, config.clone())?;
    loop {
        let mut moved = false;
        while let Some(m) = a.poll_transmit() {
            moved = true;
            if let Err(e) = b.handle(&m) {
                while let Some(m) = b.poll_transmit() {
                    let _ = a.handle(&m);
                }
                return Err(e);
            }
        }
        while let Some(m) = b.poll_transmit() {
            moved = true;
            if let Err(e) = a.handle(&m) {
                while let Some(m) = a.poll_transmit() {
                    let _ = b.handle(&m);
                }
                return Err(e);
            }
        }
        if a.is_done() && b.is_done() {
            return Ok((a.report.clone(), b.report.clone()));
        }
        if !moved {
            return Err(Error::Sync(SyncFailure::Protocol {
                reason: "the session stalled before both sides were done",
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Scope;
    use crate::{CaseUpdate, Category, NewCase, StoreOptions};

    const UPI_SOP: &str = include_str!("../sop/testdata/upi_debited_not_credited.json");

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

    fn scopes(s: &[&str]) -> Vec<Scope> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// A hub and a site that know each other: the hub grants `site_scopes`, the site trusts
    /// the hub with everything.
    fn pair(dir: &std::path::Path, site_scopes: &[&str]) -> (Store, Store) {
        let hub = open(dir, "HUB");
        let site = open(dir, "BLR1");
        hub.add_peer("BLR1", site.public_key().unwrap(), scopes(site_scopes))
            .unwrap();
        site.add_peer("HUB", hub.public_key().unwrap(), vec![Scope::everything()])
            .unwrap();
        (hub, site)
    }

    fn config() -> SessionConfig {
        SessionConfig::default()
    }

    fn new_case(s: &Store, market: &str, subject: &str) -> crate::Case {
        s.create_case(NewCase::new(market, Category::Refund, subject))
            .unwrap()
    }

    /// Exchanges messages until both are closed or nothing moves; returns the last error.
    fn drive(a: &mut Session, b: &mut Session) -> Option<Error> {
        let mut err = None;
        loop {
            let mut moved = false;
            while let Some(m) = a.poll_transmit() {
                moved = true;
                if let Err(e) = b.handle(&m) {
                    err.get_or_insert(e);
                }
            }
            while let Some(m) = b.poll_transmit() {
                moved = true;
                if let Err(e) = a.handle(&m) {
                    err.get_or_insert(e);
                }
            }
            if !moved {
                return err;
            }
        }
    }

    #[test]
    fn a_session_merges_both_ways_and_both_sides_agree() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let a = new_case(&hub, "IN-UPI", "from the hub");
        let b = new_case(&site, "IN-UPI", "from the site");
        let (at_site, at_hub) = sync_pair(&site, &hub, &config()).unwrap();
        assert!(at_site.completed && at_hub.completed);
        assert_eq!((at_site.docs_sent, at_site.docs_received), (1, 1));
        assert_eq!((at_hub.docs_sent, at_hub.docs_received), (1, 1));
        for n in [&a.number, &b.number] {
            assert_eq!(hub.case(n).unwrap(), site.case(n).unwrap());
        }
        // Concurrent edits merge.
        hub.update_case(
            &a.number,
            CaseUpdate {
                status: Some(crate::Status::Solved),
                ..Default::default()
            },
        )
        .unwrap();
        site.update_case(
            &a.number,
            CaseUpdate {
                priority: Some(crate::Priority::Urgent),
                ..Default::default()
            },
        )
        .unwrap();
        sync_pair(&hub, &site, &config()).unwrap();
        assert_eq!(hub.case(&a.number).unwrap(), site.case(&a.number).unwrap());
        assert_eq!(hub.heads(&a.id).unwrap(), site.heads(&a.id).unwrap());
    }

    #[test]
    fn received_changes_notify_subscribers_as_remote() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        new_case(&hub, "ES", "hola");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        site.subscribe(move |n| s2.lock().unwrap().push(n.origin));
        sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![Origin::Remote]);
        assert_eq!(site.list_cases(&Default::default()).unwrap().len(), 1);
    }

    #[test]
    fn a_site_never_receives_a_document_outside_its_scopes_even_when_asking_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["IN-UPI"]);
        let upi = new_case(&hub, "IN-UPI", "upi");
        let pix = new_case(&hub, "BR-PIX", "pix");
        let (at_site, _) = sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(at_site.docs_received, 1);
        assert!(site.case(&upi.number).is_ok());
        assert!(site.case(&pix.number).is_err());

        // Now ask for it by id, as a hostile site would.
        let mut client = Session::initiate(&site, config()).unwrap();
        let mut server = Session::accept(&hub, config()).unwrap();
        server.handle(&client.poll_transmit().unwrap()).unwrap();
        client.handle(&server.poll_transmit().unwrap()).unwrap();
        let mut asked = false;
        while let Some(m) = client.poll_transmit() {
            if !asked && matches!(Msg::decode(&m, usize::MAX), Ok(Msg::Have { .. })) {
                server
                    .handle(
                        &Msg::Have {
                            entries: vec![(pix.id, [0; 8])],
                            last: false,
                        }
                        .encode(),
                    )
                    .unwrap();
                let mut empty = Automerge::new();
                let mut st = sync::State::new();
                let want = empty.generate_sync_message(&mut st).unwrap().encode();
                let _ = &mut empty;
                server
                    .handle(
                        &Msg::Doc {
                            id: pix.id,
                            sync: want,
                        }
                        .encode(),
                    )
                    .unwrap();
                asked = true;
            }
            server.handle(&m).unwrap();
        }
        let mut out = Vec::new();
        while let Some(m) = server.poll_transmit() {
            out.push(Msg::decode(&m, usize::MAX).unwrap());
        }
        assert!(
            !out.iter()
                .any(|m| matches!(m, Msg::Doc { id, .. } if *id == pix.id))
        );
        assert!(out.iter().any(|m| matches!(
            m,
            Msg::Rejected { id, code: RejectCode::OutOfScope } if *id == pix.id
        )));
        assert!(
            server
                .report()
                .rejected
                .iter()
                .any(|r| r.doc == pix.id && r.by == Side::Us)
        );
    }

    fn published_sop(dir: &std::path::Path, hub: &Store) -> DocId {
        let sop = hub.import_sop_json(UPI_SOP, "upi.json").unwrap();
        hub.submit_sop(&sop.id).unwrap();
        let approver = Store::open(
            dir.join("HUB.db"),
            StoreOptions {
                author: Some("approver".into()),
                ..Default::default()
            },
        )
        .unwrap();
        approver.publish_sop(&sop.id).unwrap();
        sop.id
    }

    #[test]
    fn a_read_only_sites_edit_of_a_published_sop_is_refused_and_reported_to_both() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["IN-UPI/case", "*/sop:ro"]);
        let sop = published_sop(dir.path(), &hub);
        sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(site.heads(&sop).unwrap(), hub.heads(&sop).unwrap());
        let before = hub.heads(&sop).unwrap();

        site.set_sop_text(&sop, "start", "en", "Edited at the site")
            .unwrap();
        let (at_site, at_hub) = sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(hub.heads(&sop).unwrap(), before, "the hub kept its SOP");
        let refusal = |r: &SyncReport, by| {
            r.rejected
                .iter()
                .any(|x| x.doc == sop && x.by == by && x.reason == RejectCode::ReadOnly)
        };
        assert!(refusal(&at_hub, Side::Us), "{at_hub:?}");
        assert!(refusal(&at_site, Side::Peer), "{at_site:?}");

        // The session went on: hub edits still reach the site afterwards.
        let c = new_case(&hub, "IN-UPI", "after the refusal");
        let (at_site, _) = sync_pair(&site, &hub, &config()).unwrap();
        assert!(site.case(&c.number).is_ok(), "{at_site:?}");
    }

    #[test]
    fn a_change_outside_the_write_scopes_is_refused_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["IN-UPI"]);
        // The site also trusts a case in BR-PIX it made itself; the hub must not take it.
        let pix = new_case(&site, "BR-PIX", "not yours to send");
        let upi = new_case(&site, "IN-UPI", "yours");
        let (at_site, at_hub) = sync_pair(&site, &hub, &config()).unwrap();
        assert!(hub.case(&pix.number).is_err());
        assert!(hub.case(&upi.number).is_ok());
        assert!(
            at_hub
                .rejected
                .iter()
                .any(|r| r.doc == pix.id && r.reason == RejectCode::OutOfScope)
        );
        assert!(
            at_site
                .rejected
                .iter()
                .any(|r| r.doc == pix.id && r.by == Side::Peer)
        );
    }

    #[test]
    fn a_refusal_names_the_case_number_on_both_sides_not_only_the_document_id() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["IN-UPI"]);
        let pix = new_case(&site, "BR-PIX", "not yours to send");
        let (at_site, at_hub) = sync_pair(&site, &hub, &config()).unwrap();
        let label = Some(format!("case {}", pix.number));
        // The hub never stored the case: its name comes from the refused changes.
        let here = at_hub.rejected.iter().find(|r| r.doc == pix.id).unwrap();
        assert_eq!(here.label, label);
        let line = here.to_string();
        assert!(
            line.starts_with(&format!("case {} refused here: outside", pix.number)),
            "{line}"
        );
        let there = at_site.rejected.iter().find(|r| r.doc == pix.id).unwrap();
        assert_eq!(there.label, label);
        assert!(there.to_string().contains("refused by the peer"), "{there}");
    }

    #[test]
    fn a_refused_sop_edit_is_named_by_the_sops_title() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["IN-UPI/case", "*/sop:ro"]);
        let sop = published_sop(dir.path(), &hub);
        sync_pair(&site, &hub, &config()).unwrap();
        site.set_sop_text(&sop, "start", "en", "Edited at the site")
            .unwrap();
        let (at_site, at_hub) = sync_pair(&site, &hub, &config()).unwrap();
        let title = hub
            .list_sops()
            .unwrap()
            .into_iter()
            .find(|x| x.id == sop)
            .unwrap()
            .title;
        for r in [&at_hub, &at_site] {
            let x = r.rejected.iter().find(|x| x.doc == sop).unwrap();
            let label = x.label.clone().unwrap_or_default();
            let start: String = title.chars().take(20).collect();
            assert!(label.starts_with(&format!("sop \"{start}")), "{x}");
        }
    }

    /// Writes a change straight into `store`, past the redactor and ingress checks, as a
    /// modified (hostile) build of Dossier would.
    fn plant_raw_change(store: &Store, id: &DocId, subject: &str) {
        use automerge::transaction::Transactable;
        let (doc, _) = store.load(id).unwrap();
        let mut doc = (*doc).clone();
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "subject", subject).unwrap();
        tx.commit();
        let changes = doc.get_changes(&before);
        store
            .write("test.plant", Origin::Local, |w| {
                w.apply_remote(id, changes).map(|_| ())
            })
            .unwrap();
    }

    /// A change whose operations are impossible for the objects they target (an insert at a
    /// map key), with a valid checksum: what fuzzing found in the change-pack import
    /// (`fuzz/regressions/doc_load/`), sent here inside a sync message by a hostile peer.
    #[test]
    fn a_peer_sending_an_impossible_change_is_refused_and_the_session_goes_on() {
        let crash = include_bytes!(
            "../../../fuzz/regressions/doc_load/crash-a3806c06d8b72240422fde05f191355059f22a92"
        );
        let pack = &crash[1..];
        let id = DocId::from_bytes(pack[5..21].try_into().unwrap());
        let mut rest = &pack[25..];
        let mut chunks = Vec::new();
        for _ in 0..2 {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            chunks.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        let hash = automerge::Change::from_bytes(chunks[1].clone())
            .unwrap()
            .hash();
        chunks[1][4..8].copy_from_slice(&hash.0[..4]);

        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let mut client = Session::initiate(&site, config()).unwrap();
        let mut server = Session::accept(&hub, config()).unwrap();
        server.handle(&client.poll_transmit().unwrap()).unwrap();
        client.handle(&server.poll_transmit().unwrap()).unwrap();
        server.handle(&client.poll_transmit().unwrap()).unwrap();
        assert_eq!(server.peer(), Some("BLR1"));
        let message = sync::Message {
            heads: vec![hash],
            need: Vec::new(),
            have: Vec::new(),
            changes: chunks.into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        server
            .handle(
                &Msg::Doc {
                    id,
                    sync: message.encode(),
                }
                .encode(),
            )
            .unwrap();
        assert!(
            !server.is_closed(),
            "one bad document does not end the session"
        );
        assert!(
            server
                .report()
                .rejected
                .iter()
                .any(|r| r.doc == id && r.by == Side::Us),
            "{:?}",
            server.report()
        );
        assert!(hub.documents().unwrap().is_empty(), "nothing was stored");

        // A good document still syncs between the same stores.
        let case = new_case(&site, "ES", "after the attack");
        sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(hub.case(&case.number).unwrap(), case);
        hub.check_integrity().unwrap();
    }

    #[test]
    fn a_peer_sending_a_card_number_is_refused_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let case = new_case(&site, "ES", "tarjeta");
        sync_pair(&site, &hub, &config()).unwrap();
        let before = hub.heads(&case.id).unwrap();
        plant_raw_change(&site, &case.id, "card 4111 1111 1111 1111");
        let ok = new_case(&site, "ES", "still syncs");
        let (at_site, at_hub) = sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(hub.heads(&case.id).unwrap(), before);
        assert_eq!(hub.case(&case.number).unwrap().subject, "tarjeta");
        assert!(
            hub.case(&ok.number).is_ok(),
            "the rest of the session went on"
        );
        assert!(
            at_hub
                .rejected
                .iter()
                .any(|r| r.doc == case.id && r.reason == RejectCode::CardData && r.by == Side::Us)
        );
        assert!(
            at_site
                .rejected
                .iter()
                .any(|r| r.doc == case.id && r.by == Side::Peer)
        );
        drop(hub);
        let raw: Vec<u8> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                p.file_name()?.to_str()?.starts_with("HUB").then_some(p)
            })
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        assert!(!raw.windows(4).any(|w| w == b"4111" || w == b"1111"));
    }

    #[test]
    fn an_unchanged_store_exchanges_data_only_for_the_changed_documents() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let news: Vec<NewCase> = (0..200)
            .map(|i| NewCase::new("ES", Category::Other, &format!("case {i}")))
            .collect();
        let ids = hub.create_cases(&news).unwrap();
        let (first, _) = sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(first.docs_received, 200);

        let (idle, _) = sync_pair(&site, &hub, &config()).unwrap();
        assert_eq!(idle.docs_received, 0);
        assert!(idle.bytes_received < 200, "{idle:?}");

        let cost = |changed: usize| {
            for id in &ids[..changed] {
                hub.add_note(&id.to_string(), "more", false).unwrap();
            }
            let (r, _) = sync_pair(&site, &hub, &config()).unwrap();
            assert_eq!(r.docs_received, changed);
            r
        };
        let three = cost(3);
        let thirty = cost(30);
        // Messages and bytes grow with the changed documents, not with the 200 stored.
        // About three messages per changed document (offer, changes, acknowledgement) plus a
        // handful for the hello and the end, whatever the number of stored documents.
        assert!(three.messages_received <= 3 * 4 + 8, "{three:?}");
        assert!(thirty.messages_received <= 30 * 4 + 8, "{thirty:?}");
        assert!(
            three.bytes_received * 5 < thirty.bytes_received,
            "{three:?} {thirty:?}"
        );
        assert!(
            three.bytes_received * 20 < first.bytes_received,
            "{three:?} {first:?}"
        );
    }

    #[test]
    fn an_interrupted_session_resumes_without_resending_what_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let news: Vec<NewCase> = (0..40)
            .map(|i| NewCase::new("ES", Category::Other, &format!("case {i}")))
            .collect();
        hub.create_cases(&news).unwrap();
        let small = SessionConfig {
            max_docs_in_flight: 4,
            ..config()
        };
        let mut client = Session::initiate(&site, small.clone()).unwrap();
        let mut server = Session::accept(&hub, small.clone()).unwrap();
        // Deliver a limited number of messages, then drop the connection.
        let mut budget = 30;
        'outer: loop {
            let mut moved = false;
            while let Some(m) = client.poll_transmit() {
                moved = true;
                server.handle(&m).unwrap();
            }
            while let Some(m) = server.poll_transmit() {
                moved = true;
                client.handle(&m).unwrap();
                budget -= 1;
                if budget == 0 {
                    break 'outer;
                }
            }
            assert!(moved);
        }
        drop((client, server));
        let got = site.documents().unwrap().len();
        assert!(got > 0 && got < 40, "partial: {got}");
        let (resumed, _) = sync_pair(&site, &hub, &small).unwrap();
        assert_eq!(site.documents().unwrap().len(), 40);
        assert_eq!(resumed.docs_received, 40 - got, "{resumed:?}");
        assert_eq!(resumed.docs_sent, 0);
    }

    #[test]
    fn unknown_sites_wrong_keys_and_bad_signatures_end_the_session_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let stranger = open(dir.path(), "EVIL");
        stranger
            .add_peer("HUB", hub.public_key().unwrap(), vec![Scope::everything()])
            .unwrap();
        let err = sync_pair(&stranger, &hub, &config()).unwrap_err();
        assert!(
            matches!(err, Error::Sync(SyncFailure::UnknownPeer)),
            "{err}"
        );

        // The hub has another key on file for BLR1.
        let other = open(dir.path(), "OTHER");
        hub.add_peer(
            "BLR1",
            other.public_key().unwrap(),
            vec![Scope::everything()],
        )
        .unwrap();
        let err = sync_pair(&site, &hub, &config()).unwrap_err();
        assert!(matches!(err, Error::Sync(SyncFailure::UnknownKey)), "{err}");
        hub.add_peer(
            "BLR1",
            site.public_key().unwrap(),
            vec![Scope::everything()],
        )
        .unwrap();

        // A signature that does not verify.
        let mut client = Session::initiate(&site, config()).unwrap();
        let mut server = Session::accept(&hub, config()).unwrap();
        server.handle(&client.poll_transmit().unwrap()).unwrap();
        client.handle(&server.poll_transmit().unwrap()).unwrap();
        let mut auth = client.poll_transmit().unwrap();
        let n = auth.len();
        auth[n - 1] ^= 1;
        let err = server.handle(&auth).unwrap_err();
        assert!(
            matches!(err, Error::Sync(SyncFailure::BadSignature)),
            "{err}"
        );
        let told = server.poll_transmit().unwrap();
        let err = client.handle(&told).unwrap_err();
        assert!(
            matches!(err, Error::SyncRefused(SyncFailure::BadSignature)),
            "{err}"
        );
        assert!(client.is_closed() && server.is_closed());
    }

    #[test]
    fn a_replayed_hello_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let mut client = Session::initiate(&site, config()).unwrap();
        let mut server = Session::accept(&hub, config()).unwrap();
        let hello = client.poll_transmit().unwrap();
        server.handle(&hello).unwrap();
        client.handle(&server.poll_transmit().unwrap()).unwrap();
        let auth = client.poll_transmit().unwrap();
        server.handle(&auth).unwrap();
        assert!(drive(&mut client, &mut server).is_none());
        assert!(client.is_done() && server.is_done());

        let mut again = Session::accept(&hub, config()).unwrap();
        let err = again.handle(&hello).unwrap_err();
        assert!(
            matches!(err, Error::Sync(SyncFailure::ReplayedNonce)),
            "{err}"
        );
    }

    #[test]
    fn old_versions_garbage_and_oversized_messages_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["*"]);
        let hello = Session::initiate(&site, config())
            .unwrap()
            .poll_transmit()
            .unwrap();
        let mut old = hello.clone();
        old[1] = 0;
        let err = Session::accept(&hub, config())
            .unwrap()
            .handle(&old)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Sync(SyncFailure::UnsupportedVersion { theirs: 0 })
            ),
            "{err}"
        );
        let err = Session::accept(&hub, config())
            .unwrap()
            .handle(b"GET / HTTP/1.1\r\n")
            .unwrap_err();
        assert!(
            matches!(err, Error::Sync(SyncFailure::Malformed { .. })),
            "{err}"
        );
        let tiny = SessionConfig {
            max_message_bytes: 16,
            ..config()
        };
        let err = Session::accept(&hub, tiny)
            .unwrap()
            .handle(&hello)
            .unwrap_err();
        assert!(
            matches!(err, Error::Sync(SyncFailure::TooLarge { limit: 16 })),
            "{err}"
        );
    }

    #[test]
    fn widening_a_peers_scopes_offers_it_documents_it_could_not_see_before() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, site) = pair(dir.path(), &["IN-UPI"]);
        let pix = new_case(&hub, "BR-PIX", "pix");
        sync_pair(&site, &hub, &config()).unwrap();
        assert!(site.case(&pix.number).is_err());
        hub.add_peer(
            "BLR1",
            site.public_key().unwrap(),
            scopes(&["IN-UPI", "BR-PIX"]),
        )
        .unwrap();
        sync_pair(&site, &hub, &config()).unwrap();
        assert!(site.case(&pix.number).is_ok());
    }
}
