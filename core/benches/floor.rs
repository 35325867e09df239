//! Instruction counts of Dossier's write path against its floor: the same persisted work done
//! with raw `automerge` and raw `rusqlite`.
//!
//! Wall time on a shared two-core machine moves by ±50 %; instruction counts do not. This
//! binary runs one workload at a time; `cargo xtask floor` runs each under
//! `valgrind --tool=callgrind --toggle-collect='*measured_*'`, so only the code inside the
//! `measured_*` functions below is counted (setup, fixtures and teardown are not), and divides
//! by the number of operations. Run by hand:
//!
//! ```text
//! cargo bench -p dossier --bench floor -- list
//! cargo bench -p dossier --bench floor -- create 100      # wall time, no valgrind
//! ```
//!
//! Every `measured_*` function is `#[inline(never)]` and does exactly the operations it is
//! named for, `n` times: the toggle is by symbol name.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use dossier::{CaseUpdate, Status, Store, StoreOptions};
use fixtures::{T0, clock, new_case, raw_case, raw_event};
use rusqlite::{Connection, params};
use tempfile::TempDir;

/// A plain SQLite file configured like the store's (WAL, `synchronous = NORMAL`).
fn raw_db(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, bytes BLOB NOT NULL) STRICT;
         CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY, doc_id TEXT NOT NULL,
             bytes BLOB NOT NULL) STRICT;",
    )
    .unwrap();
    conn
}

const NOTE: &str = "Called the bank; refund initiated.";

/// The workloads, each a pair: Dossier and its floor.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "create",
        "create_case with realistic fields, one transaction each | raw automerge build + save + INSERT",
    ),
    (
        "create-floor",
        "raw: build the same document, save(), INSERT in one transaction",
    ),
    (
        "update-cached",
        "update_case: status + note, one call, the case in the cache",
    ),
    (
        "update-cold",
        "update_case: status + note, one call, cache off (load from SQLite each time)",
    ),
    (
        "update-floor",
        "raw naive: SELECT bytes, Automerge::load, put status, two events, save_incremental, INSERT",
    ),
    (
        "sizes",
        "bytes of snapshots and changes, deflated and not (no valgrind needed)",
    ),
    (
        "update-floor-cached",
        "raw with the document in memory: put status, two events, save_incremental, INSERT",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(workload) = args.first() else {
        // `cargo bench` with no name runs every bench binary: do nothing here then.
        return;
    };
    if workload == "list" {
        for (name, what) in WORKLOADS {
            println!("{name}\t{what}");
        }
        return;
    }
    let n: usize = args.get(1).map_or(100, |s| s.parse().unwrap());
    let dir = TempDir::new().unwrap();
    let started = Instant::now();
    match workload.as_str() {
        "create" => {
            let store = Store::open(dir.path().join("s.db"), clock(T0)).unwrap();
            // One case first, so the first measured write does not pay for first-use setup
            // (statement preparation, page cache) that the floor also pays outside.
            store.create_case(new_case(0)).unwrap();
            measured_create(&store, n);
        }
        "create-floor" => {
            let raw = raw_db(&dir.path().join("raw.db"));
            floor_create_one(&raw, 0);
            measured_create_floor(&raw, n);
        }
        "update-cached" | "update-cold" => {
            let mut options = clock(T0);
            if workload == "update-cold" {
                options.cache_bytes = 0;
            }
            let numbers = case_store(dir.path(), n + 1, options);
            let store =
                Store::open(dir.path().join("s.db"), fixed(workload == "update-cold")).unwrap();
            for number in &numbers {
                store.case(number).unwrap();
            }
            edit(&store, &numbers[0]);
            measured_update(&store, &numbers[1..]);
        }
        "update-floor" | "update-floor-cached" => {
            let raw = raw_db(&dir.path().join("raw.db"));
            let mut docs: Vec<AutoCommit> = (0..=n)
                .map(|i| {
                    let mut doc = raw_case(i);
                    raw.execute(
                        "INSERT INTO docs (id, bytes) VALUES (?1, ?2)",
                        params![format!("MX1-{i}"), doc.save()],
                    )
                    .unwrap();
                    doc
                })
                .collect();
            if workload == "update-floor" {
                drop(docs);
                floor_update_naive(&raw, 0);
                measured_update_floor_naive(&raw, n);
            } else {
                floor_update_cached(&raw, &mut docs[0], 0);
                measured_update_floor_cached(&raw, &mut docs[1..]);
            }
        }
        "sizes" => sizes(n),
        other => panic!("unknown workload {other:?}; `list` lists them"),
    }
    eprintln!("{workload} × {n}: {:.1?}", started.elapsed());
}

/// What storing snapshots and changes uncompressed costs in bytes: `n` realistic new cases
/// saved both ways, and the status + note change of each encoded both ways.
fn sizes(n: usize) {
    let (mut deflated, mut raw, mut change_deflated, mut change_raw) = (0, 0, 0, 0);
    for i in 0..n {
        let mut doc = raw_case(i);
        deflated += doc.save().len();
        raw += doc.save_nocompress().len();
        let heads = doc.get_heads();
        floor_modify(&mut doc);
        for mut c in doc.get_changes(&heads) {
            change_raw += c.raw_bytes().len();
            change_deflated += c.bytes().len();
        }
    }
    println!(
        "{n} new cases: snapshots {raw} bytes uncompressed, {deflated} deflated ({:.2}×); \
         their status + note changes {change_raw} bytes uncompressed, {change_deflated} deflated \
         ({:.2}×)\n",
        raw as f64 / deflated as f64,
        change_raw as f64 / change_deflated.max(1) as f64
    );
}

fn fixed(cold: bool) -> StoreOptions {
    let mut o = clock(T0);
    if cold {
        o.cache_bytes = 0;
    }
    o
}

/// A store of `n` new cases in `dir/s.db`; their numbers.
fn case_store(dir: &Path, n: usize, options: StoreOptions) -> Vec<String> {
    let store = Store::open(dir.join("s.db"), options).unwrap();
    let cases: Vec<_> = (0..n).map(new_case).collect();
    store.create_cases(&cases).unwrap();
    (1..=n).map(|i| format!("MX1-{i}")).collect()
}

fn edit(store: &Store, number: &str) {
    let edit = CaseUpdate {
        status: Some(Status::Open),
        note: Some(NOTE.into()),
        ..Default::default()
    };
    black_box(store.update_case(number, edit).unwrap());
}

#[inline(never)]
fn measured_create(store: &Store, n: usize) {
    for i in 1..=n {
        black_box(store.create_case(new_case(i)).unwrap());
    }
}

fn floor_create_one(raw: &Connection, i: usize) {
    let mut doc = raw_case(i);
    let bytes = doc.save();
    let tx = raw.unchecked_transaction().unwrap();
    tx.prepare_cached("INSERT INTO docs (id, bytes) VALUES (?1, ?2)")
        .unwrap()
        .execute(params![format!("MX1-{i}"), bytes])
        .unwrap();
    tx.commit().unwrap();
}

#[inline(never)]
fn measured_create_floor(raw: &Connection, n: usize) {
    for i in 1..=n {
        floor_create_one(raw, i);
    }
}

#[inline(never)]
fn measured_update(store: &Store, numbers: &[String]) {
    for number in numbers {
        edit(store, number);
    }
}

fn floor_modify(doc: &mut AutoCommit) {
    doc.put(ROOT, "status", Status::Open.as_str()).unwrap();
    raw_event(doc, "status_changed", "new -> open");
    raw_event(doc, "note", NOTE);
}

fn floor_update_naive(raw: &Connection, i: usize) {
    let id = format!("MX1-{i}");
    let tx = raw.unchecked_transaction().unwrap();
    let bytes: Vec<u8> = tx
        .prepare_cached("SELECT bytes FROM docs WHERE id = ?1")
        .unwrap()
        .query_row([&id], |r| r.get(0))
        .unwrap();
    let mut doc = AutoCommit::load(&bytes).unwrap();
    floor_modify(&mut doc);
    let change = doc.save_incremental();
    tx.prepare_cached("INSERT INTO changes (doc_id, bytes) VALUES (?1, ?2)")
        .unwrap()
        .execute(params![id, change])
        .unwrap();
    tx.commit().unwrap();
}

#[inline(never)]
fn measured_update_floor_naive(raw: &Connection, n: usize) {
    for i in 1..=n {
        floor_update_naive(raw, i);
    }
}

fn floor_update_cached(raw: &Connection, doc: &mut AutoCommit, i: usize) {
    floor_modify(doc);
    let change = doc.save_incremental();
    let tx = raw.unchecked_transaction().unwrap();
    tx.prepare_cached("INSERT INTO changes (doc_id, bytes) VALUES (?1, ?2)")
        .unwrap()
        .execute(params![format!("MX1-{i}"), change])
        .unwrap();
    tx.commit().unwrap();
}

#[inline(never)]
fn measured_update_floor_cached(raw: &Connection, docs: &mut [AutoCommit]) {
    for (i, doc) in docs.iter_mut().enumerate() {
        floor_update_cached(raw, doc, i + 1);
    }
}
