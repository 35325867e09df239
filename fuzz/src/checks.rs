//! What each fuzz target checks, shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and by
//! the stable replay of `fuzz/regressions/` (`tests/tests/integration/fuzz_regressions.rs`,
//! which includes this file with `#[path]`), so a crash found by fuzzing is replayed through
//! exactly the code that found it.
//!
//! Every check takes the raw input and must return normally whatever it is given: a panic
//! inside `dossier` is a bug, and so is a broken property (the checks panic with a message
//! saying which). Errors returned by `dossier` are the expected answer to bad input and are
//! ignored.
//!
//! Opening a store costs far more than one input, so the stores are made once per process in
//! a temporary directory and inputs run against a store that earlier inputs may have changed,
//! as a long-lived site would be. The one check that corrupts stored bytes works on a store of
//! its own, under a lock.
//!
//! This file only uses crates that both the fuzz crate and `dossier-tests` depend on
//! (`dossier`, `rusqlite`, `tempfile`); signing a bundle needs ed25519, which only the fuzz
//! crate has, so it is passed in as a [`Signer`].

use std::sync::{Mutex, MutexGuard, OnceLock};

use dossier::sync::{Scope, Session, SessionConfig};
use dossier::{Category, DocId, DocKind, NewArticle, NewCase, Store, StoreOptions};

/// The seed of the sending site's ed25519 key and a message: the signature.
pub type Signer = fn(&[u8; 32], &[u8]) -> [u8; 64];

/// The stores the checks run against.
pub struct Fixture {
    _dir: tempfile::TempDir,
    /// The receiving side of every check: packs, sessions and bundles land here.
    pub hub: Store,
    /// The peer whose messages and bundles the inputs pretend to be.
    pub site: Store,
    /// `site`'s signing-key seed, read from its file, to sign bundles built from inputs.
    pub site_seed: [u8; 32],
    /// A case the hub holds, the target of single-change inputs.
    pub case: DocId,
    /// A store whose one case gets its stored snapshot replaced by inputs.
    vault: Mutex<Vault>,
}

struct Vault {
    store: Store,
    raw: rusqlite::Connection,
    case: DocId,
}

fn open(dir: &std::path::Path, site: &str, cache_bytes: usize) -> Store {
    Store::open(
        dir.join(format!("{site}.db")),
        StoreOptions {
            site: Some(site.into()),
            cache_bytes,
            // A fixed clock keeps replays of SLA and verification dates repeatable.
            clock: Some(std::sync::Arc::new(|| 1_793_610_000_000)),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("fixture: open {site}: {e}"))
}

/// The process's fixture, made on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(make_fixture)
}

fn make_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("fixture: tempdir: {e}"));
    let hub = open(dir.path(), "HUB", 8 << 20);
    let site = open(dir.path(), "SITEA", 8 << 20);
    let fail = |what: &str, e: dossier::Error| -> ! { panic!("fixture: {what}: {e}") };
    let key = |s: &Store| s.public_key().unwrap_or_else(|e| fail("public key", e));
    hub.add_peer("SITEA", key(&site), vec![Scope::everything()])
        .unwrap_or_else(|e| fail("add peer", e));
    site.add_peer("HUB", key(&hub), vec![Scope::everything()])
        .unwrap_or_else(|e| fail("add peer", e));
    let case = hub
        .create_case(NewCase::new(
            "IN-UPI",
            Category::FailedPayment,
            "Money debited but not received",
        ))
        .unwrap_or_else(|e| fail("create case", e))
        .id;
    hub.import_sop_json(SAMPLE_SOP, "sample")
        .unwrap_or_else(|e| fail("import sop", e));
    hub.create_article(NewArticle {
        title: [("es".to_string(), "Reembolsos".to_string())].into(),
        body: [("es".to_string(), "Si el reembolso no llegó…".to_string())].into(),
        markets: vec!["ES".into()],
        ..Default::default()
    })
    .unwrap_or_else(|e| fail("create article", e));
    let site_seed = read_seed(&dir.path().join("SITEA.db"));

    let vault_store = open(dir.path(), "VAULT", 0);
    let vault_case = vault_store
        .create_case(NewCase::new("BR-PIX", Category::Refund, "Pix devolução"))
        .unwrap_or_else(|e| fail("create case", e))
        .id;
    let raw = rusqlite::Connection::open(dir.path().join("VAULT.db"))
        .unwrap_or_else(|e| panic!("fixture: open vault raw: {e}"));
    Fixture {
        _dir: dir,
        hub,
        site,
        site_seed,
        case,
        vault: Mutex::new(Vault {
            store: vault_store,
            raw,
            case: vault_case,
        }),
    }
}

/// A valid SOP, so the hub holds one document of each kind.
const SAMPLE_SOP: &str = include_str!("../../core/src/sop/testdata/upi_debited_not_credited.json");

fn read_seed(db: &std::path::Path) -> [u8; 32] {
    let c = rusqlite::Connection::open(db).unwrap_or_else(|e| panic!("fixture: seed: {e}"));
    let hex: String = c
        .query_row(
            "SELECT value FROM meta WHERE key = 'sync.signing_key'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("fixture: seed: {e}"));
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| panic!("fixture: the site key is not hex"));
    }
    seed
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A check that panicked (a finding) must not hide every later input behind a poisoned lock.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads a document the way a user would, by its kind; errors are fine, panics are not.
fn read_back(store: &Store, id: &DocId, kind: DocKind) {
    match kind {
        DocKind::Case => {
            // Ingress refuses a case that does not materialize: an accepted one must read.
            if let Err(e) = store.case_by_id(id) {
                panic!("an accepted case does not read back: {e}");
            }
        }
        DocKind::Sop => {
            let _ = store.sop(id);
            let _ = store.validate_sop(id);
        }
        DocKind::Article => {
            let _ = store.article(id);
        }
        _ => {}
    }
    let _ = store.history(id);
    let _ = store.conflicts(id);
}

// ---------------------------------------------------------------------------------------------
// doc_load
// ---------------------------------------------------------------------------------------------

/// Document load. The first byte picks how the rest reaches a store:
/// - `0`: a change pack for [`Store::apply_changes`] as it is;
/// - `1`: one Automerge change chunk, wrapped in a pack for the hub's case;
/// - `2`: the stored snapshot of a case, written into the SQLite file underneath the store,
///   then read back (`case_by_id`, history, `check_integrity`).
///
/// Properties: nothing panics; a pack the store accepts leaves a document that reads back.
pub fn doc_load(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    match mode % 3 {
        0 => apply_pack(&fx.hub, rest),
        1 => apply_pack(&fx.hub, &pack(&fx.case, &[rest])),
        _ => load_snapshot(fx, rest),
    }
}

/// A change pack as `Store::changes_since` makes it (`exchange.rs`).
pub fn pack(id: &DocId, changes: &[&[u8]]) -> Vec<u8> {
    let mut out = b"DSCP\x01".to_vec();
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&(changes.len() as u32).to_be_bytes());
    for c in changes {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

fn apply_pack(store: &Store, pack: &[u8]) {
    if let Ok(applied) = store.apply_changes(pack) {
        read_back(store, &applied.doc, applied.kind);
    }
}

fn load_snapshot(fx: &Fixture, snapshot: &[u8]) {
    let vault = lock(&fx.vault);
    let key = vault.case.to_string();
    let written = vault
        .raw
        .execute(
            "UPDATE docs SET snapshot = ?1, snapshot_len = ?2 WHERE id = ?3",
            rusqlite::params![snapshot, snapshot.len() as i64, key],
        )
        .and_then(|_| {
            vault
                .raw
                .execute("DELETE FROM changes WHERE doc_id = ?1", [&key])
        });
    if let Err(e) = written {
        panic!("fixture: cannot write the snapshot: {e}");
    }
    // The vault has no cache, so every read loads the bytes just written.
    let _ = vault.store.case_by_id(&vault.case);
    let _ = vault.store.history(&vault.case);
    let _ = vault.store.conflicts(&vault.case);
    let _ = vault.store.heads(&vault.case);
    let _ = vault.store.check_integrity();
}

// ---------------------------------------------------------------------------------------------
// sync_message
// ---------------------------------------------------------------------------------------------

/// Splits an input into messages: each is a big-endian `u16` length and that many bytes; the
/// last one takes whatever is left.
pub fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<2>() else {
            out.push(data);
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (msg, rest) = rest.split_at(len);
        out.push(msg);
        data = rest;
    }
    out
}

/// The inverse of [`frames`], for making seeds.
pub fn framed(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let len = u16::try_from(m.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&m[..usize::from(len)]);
    }
    out
}

/// Sync message decoding and handling. The first byte picks the hub session's state, the rest
/// is a sequence of messages (see [`frames`]) the hub receives as if from `SITEA`:
/// - even: a fresh session still waiting for the hello (decoding, hello checks);
/// - odd: a session whose hello and signatures have been exchanged for real, so the inputs
///   reach announcements, per-document Automerge sync and ingress validation.
///
/// Property: nothing panics, whatever arrives and in whatever state.
pub fn sync_message(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let config = SessionConfig {
        max_message_bytes: 1 << 20,
        max_docs_in_flight: 8,
        max_announced_docs: 10_000,
    };
    let mut hub = if mode % 2 == 0 {
        Session::accept(&fx.hub, config).unwrap_or_else(|e| panic!("fixture: accept: {e}"))
    } else {
        authenticated(fx, config)
    };
    for msg in frames(rest) {
        let _ = hub.handle(msg);
        while hub.poll_transmit().is_some() {}
        if hub.is_closed() {
            break;
        }
    }
    let _ = hub.report();
}

/// A hub session past the hello: `SITEA` and the hub exchange hello, welcome and auth.
pub fn authenticated(fx: &Fixture, config: SessionConfig) -> Session {
    let fail = |what: &str, e: dossier::Error| -> ! { panic!("fixture: handshake {what}: {e}") };
    let mut site =
        Session::initiate(&fx.site, config.clone()).unwrap_or_else(|e| fail("initiate", e));
    let mut hub = Session::accept(&fx.hub, config).unwrap_or_else(|e| fail("accept", e));
    for step in 0..3 {
        let (from, to) = if step % 2 == 0 {
            (&mut site, &mut hub)
        } else {
            (&mut hub, &mut site)
        };
        let Some(msg) = from.poll_transmit() else {
            panic!("fixture: handshake step {step} sent nothing");
        };
        to.handle(&msg).unwrap_or_else(|e| fail("message", e));
    }
    assert_eq!(
        hub.peer(),
        Some("SITEA"),
        "fixture: the handshake did not finish"
    );
    // The hub's own announcement goes nowhere: the inputs play the site from here on.
    while hub.poll_transmit().is_some() {}
    hub
}

// ---------------------------------------------------------------------------------------------
// bundle_import
// ---------------------------------------------------------------------------------------------

/// Bundle import. The first byte picks what the rest is:
/// - even: a whole bundle file, given to [`Store::import_bundle`] as it is (header, lengths,
///   sender, peer and signature checks);
/// - odd: a bundle body after its sender and key, which is completed with `SITEA`'s site and
///   key and signed with `SITEA`'s key by `sign`, so the body's documents and changes are
///   decoded and go through ingress. Without a signer (the stable replay has no ed25519) the
///   input is imported as a file like the even mode.
///
/// Property: nothing panics.
pub fn bundle_import(data: &[u8], sign: Option<Signer>) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let file = match (mode % 2, sign) {
        (1, Some(sign)) => signed_bundle(fx, rest, sign),
        _ => rest.to_vec(),
    };
    if let Ok(report) = fx.hub.import_bundle(&file) {
        assert!(
            report.docs_updated <= report.docs,
            "a bundle updated more documents than it holds"
        );
    }
}

/// A bundle from `SITEA` with `tail` as the body after the sender's site and key.
pub fn signed_bundle(fx: &Fixture, tail: &[u8], sign: Signer) -> Vec<u8> {
    let key = fx
        .site
        .public_key()
        .unwrap_or_else(|e| panic!("fixture: key: {e}"));
    let mut body = vec![5];
    body.extend_from_slice(b"SITEA");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(tail);
    let mut file = b"DSBN\x01".to_vec();
    file.extend_from_slice(&(body.len() as u64).to_be_bytes());
    file.extend_from_slice(&body);
    let sig = sign(&fx.site_seed, &file);
    file.extend_from_slice(&sig);
    file
}

// ---------------------------------------------------------------------------------------------
// sop_json
// ---------------------------------------------------------------------------------------------

/// SOP JSON import: the input as UTF-8 (invalid bytes replaced) through
/// [`dossier::sop::parse_json`]; a definition that parses is validated (which walks its test
/// fixtures), written back with `to_json` and parsed again, and imported into the hub.
///
/// Properties: nothing panics; `parse_json(to_json(d)) == d`.
pub fn sop_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(def) = dossier::sop::parse_json(&text) else {
        return;
    };
    let _ = dossier::sop::validate::validate(&def);
    let again = dossier::sop::to_json(&def);
    match dossier::sop::parse_json(&again) {
        Ok(back) => assert_eq!(back, def, "to_json then parse_json changed the definition"),
        Err(e) => panic!("to_json wrote a definition parse_json refuses: {e:?}"),
    }
    let fx = fixture();
    if let Ok(sop) = fx.hub.create_sop(&def) {
        read_back(&fx.hub, &sop.id, DocKind::Sop);
    }
}

// ---------------------------------------------------------------------------------------------
// redact
// ---------------------------------------------------------------------------------------------

/// The redactor on the input as UTF-8 (invalid bytes replaced).
///
/// Properties: nothing panics; redacting again changes nothing and finds nothing;
/// `contains_sensitive` agrees that the output is clean; and — checked here independently of
/// `redact.rs`'s scanner — no maximal run of 12–19 ASCII digits in the output passes Luhn and
/// has a card brand's prefix and length, unless the redactor's documented exceptions apply
/// (inside a URL token, or a phone number right after `+`).
pub fn redact(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let once = dossier::redact::redact(&input);
    let twice = dossier::redact::redact(&once.text);
    assert_eq!(twice.text, once.text, "redact is not idempotent");
    assert!(
        twice.findings.is_empty(),
        "redact found more the second time"
    );
    assert!(
        !dossier::redact::contains_sensitive(&once.text),
        "contains_sensitive disagrees with redact"
    );
    if let Some(run) = surviving_card(&once.text) {
        panic!("a card number survived redaction: {run:?}");
    }
}

/// The first Luhn-valid, brand-shaped 12–19 digit run left in `text`, if any (see [`redact`]).
pub fn surviving_card(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &bytes[start..i];
        if (12..=19).contains(&run.len())
            && luhn(run)
            // The brand table is data, not scanning logic: using the library's keeps this
            // check about what the scanner lets through.
            && dossier::redact::card_brand(run).is_some()
            && !in_url(text, start)
            && !after_plus(text, start)
        {
            return Some(String::from_utf8_lossy(run).into_owned());
        }
    }
    None
}

/// Luhn mod 10, written apart from `dossier::redact::luhn_valid` on purpose.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][d as usize]
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether `at` lies in a whitespace-delimited token that has a URL start at or before it
/// (a superset of the redactor's URL rule, so this check never blames a documented exception).
fn in_url(text: &str, at: usize) -> bool {
    let token_start = text[..at]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let token = text[token_start..at].to_ascii_lowercase();
    ["http://", "https://", "www."]
        .iter()
        .any(|p| token.contains(p))
}

/// Whether walking back from `at` over digits and single separators reaches a `+` (a phone
/// number, kept by design when short enough; a superset of the redactor's rule).
fn after_plus(text: &str, at: usize) -> bool {
    for c in text[..at].chars().rev() {
        if c == '+' {
            return true;
        }
        let separator = matches!(
            c,
            ' ' | '-' | '\u{00A0}' | '\u{2009}' | '\u{202F}' | '\u{2010}' | '\u{2011}' | '\u{2013}'
        );
        if !(c.is_ascii_digit() || separator) {
            return false;
        }
    }
    false
}
