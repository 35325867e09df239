//! Shared helpers for Dossier's cross-crate integration tests: opening sites in temporary
//! directories, the sample SOPs, and reading a store's raw files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dossier::{Store, StoreOptions};

/// The sample SOP "UPI money debited, not credited" (JSON import format).
pub const UPI_SOP: &str = include_str!("../../core/src/sop/testdata/upi_debited_not_credited.json");
/// The sample SOP "Card dispute intake" (Spanish master, English translation).
pub const CARD_SOP: &str = include_str!("../../core/src/sop/testdata/card_dispute_intake.json");

/// A controllable clock shared by the stores of one test.
#[derive(Clone, Debug)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    /// A clock at 2026-11-02T09:00:00Z.
    pub fn new() -> Self {
        TestClock(Arc::new(AtomicI64::new(1_793_610_000_000)))
    }

    /// The current value in ms.
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the clock forward.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// A `dossier::store::Clock` reading this clock.
    pub fn clock(&self) -> dossier::store::Clock {
        let c = self.0.clone();
        Arc::new(move || c.load(Ordering::SeqCst))
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens (creating) the store of `site` in `dir` as `author`.
pub fn open_site(dir: &Path, site: &str, author: &str, clock: &TestClock) -> Store {
    Store::open(
        dir.join(format!("{site}.db")),
        StoreOptions {
            site: Some(site.into()),
            author: Some(author.into()),
            clock: Some(clock.clock()),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("open {site}: {e}"))
}

/// Every file of a store: the database, its WAL and shared-memory files.
pub fn store_files(db: &Path) -> Vec<PathBuf> {
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| db.with_file_name(format!("{name}{s}")))
        .filter(|p| p.exists())
        .collect()
}

/// Whether `needle` occurs in the raw bytes of any file of the store at `db`.
pub fn raw_bytes_contain(db: &Path, needle: &str) -> bool {
    store_files(db).iter().any(|p| {
        std::fs::read(p)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

/// Completes `prefix` (digits) to a Luhn-valid number of `len` digits, filling with `fill`.
pub fn luhn_complete(prefix: &str, len: usize, fill: u8) -> String {
    let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while digits.len() < len - 1 {
        digits.push(fill % 10);
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    digits.push(((10 - sum % 10) % 10) as u8);
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// Writes a change carrying `card` (as a map key and a value) into case `number`'s history the
/// way an earlier version of Dossier could have (SLA metric names were not redacted): straight
/// into the `changes` table, past every check.
pub fn plant_card_in_history(db: &std::path::Path, number: &str, card: &str) {
    use automerge::transaction::Transactable;
    let conn = rusqlite::Connection::open(db).expect("plant");
    let id: String = conn
        .query_row("SELECT id FROM cases WHERE number = ?1", [number], |r| {
            r.get(0)
        })
        .expect("plant");
    let snapshot: Vec<u8> = conn
        .query_row("SELECT snapshot FROM docs WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .expect("plant");
    let mut doc = automerge::Automerge::load(&snapshot).expect("plant");
    let mut stmt = conn
        .prepare("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
        .expect("plant");
    let rows: Vec<Vec<u8>> = stmt
        .query_map([&id], |r| r.get(0))
        .expect("plant")
        .map(|r| r.expect("plant"))
        .collect();
    for bytes in rows {
        doc.load_incremental(&bytes).expect("plant");
    }
    let mut tx = doc.transaction();
    let sla = tx
        .put_object(automerge::ROOT, "old_sla", automerge::ObjType::Map)
        .expect("plant");
    tx.put(&sla, card, "breached").expect("plant");
    tx.put(&sla, "note", format!("customer card {card}"))
        .expect("plant");
    tx.commit();
    let change = doc.get_last_local_change().expect("plant").clone();
    conn.execute(
        "INSERT INTO changes(doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
        rusqlite::params![id, change.hash().0.to_vec(), change.raw_bytes().to_vec()],
    )
    .expect("plant");
}

/// Distinct Luhn-valid card numbers of several brands, so a leak names its entry point.
#[derive(Default)]
pub struct Cards {
    /// Digits, as typed, and where they were put.
    pub issued: Vec<(String, String, String)>,
}

impl Cards {
    /// A new number, typed the way `n` picks (plain, spaced or dashed), noted with `label`.
    pub fn next(&mut self, label: &str) -> String {
        let n = self.issued.len();
        let digits = match n % 4 {
            0 => luhn_complete(&format!("4{:06}", 100_000 + n), 16, 3),
            1 => luhn_complete(&format!("51{:05}", 10_000 + n), 16, 7),
            2 => luhn_complete(&format!("37{:05}", 10_000 + n), 15, 1),
            _ => luhn_complete(&format!("6011{:04}", 1_000 + n), 16, 9),
        };
        let typed = match n % 3 {
            0 => digits.clone(),
            1 => digits
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join(" "),
            _ => digits
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join("-"),
        };
        self.issued.push((digits, typed.clone(), label.to_string()));
        typed
    }

    /// A text with a fresh card number in it.
    pub fn text(&mut self, label: &str) -> String {
        format!("pasted {} here", self.next(label))
    }

    /// A key-like token that is a card number (for keys, metrics, tags, ids).
    pub fn token(&mut self, label: &str) -> String {
        let typed = self.next(label);
        typed.replace(' ', "-")
    }
}

/// The runs of at least 12 ASCII digits in `bytes`, each joined across single spaces and dashes
/// (the way card numbers are typed) and returned as digits only.
pub fn digit_runs(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            run.push(char::from(b));
            continue;
        }
        let joins = matches!(b, b' ' | b'-')
            && !run.is_empty()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !joins {
            if run.len() >= 12 {
                out.push(std::mem::take(&mut run));
            }
            run.clear();
        }
    }
    if run.len() >= 12 {
        out.push(run);
    }
    out
}
