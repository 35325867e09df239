//! Peak memory with 100,000 cases open and 1,000 materialized (issue 6).
//!
//! Not a criterion bench: memory is counted, not timed. A `#[global_allocator]` wraps the
//! system allocator and keeps the current and peak bytes of Rust heap in two atomics; SQLite
//! allocates through its own `malloc` calls, which that allocator never sees, so SQLite's own
//! counters (`sqlite3_memory_used`, `sqlite3_memory_highwater`) are reported beside it, and the
//! kernel's resident-set figures (`VmHWM`, `VmRSS` from `/proc/self/status`) for reference.
//!
//! Each scenario runs in a child process of its own (this binary again, told which scenario by
//! `DOSSIER_MEMORY_SCENARIO`), so one scenario's freed-but-kept pages never count in the next.
//! A scenario is a sequence of phases; at the start of each the peaks are reset to the current
//! values (`/proc/self/clear_refs` resets `VmHWM`), so a phase's peak is the most the process
//! held at any moment of that phase.
//!
//! Scenarios, on a copy of the cached 100,000-case queue fixture (see `support/fixtures.rs`):
//!
//! - `dossier`: `Store::open` with default options (64 MiB document cache budget), list the 50
//!   open, breached cases of one market, list all 100,000 cases, materialize 1,000 distinct
//!   cases with `Store::case_by_id` and keep them, then drop the lists and cases (what is left
//!   is the store and its cache).
//! - `dossier_cache_off`: the same with `cache_bytes: 0`.
//! - `raw`: rusqlite and automerge doing the same: the same SQL on the projection, then each
//!   document's snapshot and changes loaded with `Automerge::load`, read field by field and kept.
//! - `dossier_read_all`: default options, every case read once with `Store::case_by_id` and
//!   dropped: what the default cache grows to, since its budget counts encoded bytes.
//!
//! Run: `cargo bench -p dossier --bench memory`.

// A benchmark whose fixture cannot be built has nothing to measure: stop loudly.
#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]
// The counting allocator must implement the unsafe `GlobalAlloc` trait, and SQLite's memory
// counters are C functions; both are small and commented below.
#![allow(unsafe_code)]

// Shared with `store.rs`, which uses other parts of it.
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use automerge::Automerge;
use dossier::{Case, CaseFilter, Status, Store, StoreOptions};
use fixtures::{LIST_AT, clock};
use rusqlite::{Connection, OpenFlags, params};
use tempfile::TempDir;

/// The system allocator, counting the bytes it has handed out and not yet got back.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(n: usize) {
    CURRENT.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards its arguments to `System` unchanged and returns what `System`
// returned; the counters only record sizes, and only after `System` succeeded.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SCENARIO_ENV: &str = "DOSSIER_MEMORY_SCENARIO";
const DB_ENV: &str = "DOSSIER_MEMORY_DB";
const SCENARIOS: [&str; 4] = ["dossier", "dossier_cache_off", "raw", "dossier_read_all"];

/// Cases in the store, and cases materialized.
fn sizes() -> (usize, usize) {
    if fixtures::full_run() {
        (100_000, 1_000)
    } else {
        (2_000, 100)
    }
}

fn sqlite_used() -> i64 {
    // SAFETY: takes no pointers; SQLite's memory statistics are thread-safe.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

fn sqlite_highwater(reset: bool) -> i64 {
    // SAFETY: as for `sqlite_used`.
    unsafe { rusqlite::ffi::sqlite3_memory_highwater(i32::from(reset)) }
}

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One phase of a scenario: peaks are reset when it starts and read when it ends.
struct Phase {
    name: String,
    started: Instant,
}

impl Phase {
    fn start(name: impl Into<String>) -> Phase {
        PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
        sqlite_highwater(true);
        // Linux ≥ 4.0: "5" resets the peak resident set size to the current one.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Phase {
            name: name.into(),
            started: Instant::now(),
        }
    }

    /// Prints the phase as one tab-separated line for the parent.
    fn end(self) {
        let ms = self.started.elapsed().as_secs_f64() * 1e3;
        let (hwm, rss) = rss();
        println!(
            "phase\t{}\t{ms:.1}\t{}\t{}\t{}\t{}\t{hwm}\t{rss}",
            self.name,
            PEAK.load(Ordering::Relaxed),
            CURRENT.load(Ordering::Relaxed),
            sqlite_highwater(false),
            sqlite_used(),
        );
    }
}

fn breached_filter() -> CaseFilter {
    CaseFilter {
        status: Some(Status::Open),
        market: Some("IN-UPI".into()),
        breached: true,
        limit: Some(50),
        ..Default::default()
    }
}

fn run_dossier(path: &Path, cache_bytes: usize) {
    let (n, m) = sizes();
    let phase = Phase::start("open");
    let store = Store::open(
        path,
        StoreOptions {
            cache_bytes,
            ..clock(LIST_AT)
        },
    )
    .unwrap();
    phase.end();

    let phase = Phase::start("list 50 open, breached of one market");
    let breached = store.list_cases(&breached_filter()).unwrap();
    assert!(breached.len() == 50 || !fixtures::full_run());
    phase.end();

    let phase = Phase::start(format!("list all {n} cases (kept)"));
    let all = store
        .list_cases(&CaseFilter {
            limit: Some(n),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), n);
    phase.end();

    let phase = Phase::start(format!("materialize {m} cases (kept)"));
    let cases: Vec<Case> = all
        .iter()
        .step_by(n / m)
        .map(|s| store.case_by_id(&s.id).unwrap())
        .collect();
    assert_eq!(cases.len(), m);
    phase.end();

    let phase = Phase::start("drop lists and cases: the store alone");
    drop(cases);
    drop(all);
    drop(breached);
    phase.end();
    drop(store);
}

/// What the default cache holds once every case has been read: its budget counts encoded
/// bytes, so this is where the memory it may take is seen.
fn run_read_all(path: &Path) {
    let (n, _) = sizes();
    let store = Store::open(path, clock(LIST_AT)).unwrap();
    let ids: Vec<_> = store
        .list_cases(&CaseFilter {
            limit: Some(n),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let phase = Phase::start(format!("read every one of the {n} cases once (not kept)"));
    for id in &ids {
        std::hint::black_box(store.case_by_id(id).unwrap());
    }
    phase.end();
    drop(ids);
    let phase = Phase::start("drop the id list: the store alone");
    phase.end();
}

const LIST_SQL: &str = "SELECT id, number, market, site, status, priority, category, subject, \
     assignee, created_at, updated_at, sla_due_at FROM cases c";

fn run_raw(path: &Path) {
    let (n, m) = sizes();
    let phase = Phase::start("open");
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .unwrap();
    phase.end();

    let phase = Phase::start("list 50 open, breached of one market");
    let breached = fixtures::case_rows(
        &conn,
        &format!(
            "{LIST_SQL} WHERE status = ?1 AND market = ?2 AND sla_due_at < ?3 \
             ORDER BY sla_due_at, id LIMIT ?4"
        ),
        params!["open", "IN-UPI", LIST_AT, 50],
    );
    assert!(breached.len() == 50 || !fixtures::full_run());
    phase.end();

    let phase = Phase::start(format!("list all {n} cases (kept)"));
    let all = fixtures::case_rows(
        &conn,
        &format!("{LIST_SQL} ORDER BY created_at DESC, id DESC LIMIT ?1"),
        [n as i64],
    );
    assert_eq!(all.len(), n);
    phase.end();

    let phase = Phase::start(format!("materialize {m} cases (kept)"));
    let mut encoded = 0;
    let mut read = 0;
    let docs: Vec<Automerge> = all
        .iter()
        .step_by(n / m)
        .map(|row| {
            let id = &row.0;
            let snapshot: Vec<u8> = conn
                .prepare_cached("SELECT snapshot FROM docs WHERE id = ?1")
                .unwrap()
                .query_row([id], |r| r.get(0))
                .unwrap();
            encoded += snapshot.len();
            let mut doc = Automerge::load(&snapshot).unwrap();
            let mut stmt = conn
                .prepare_cached("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
                .unwrap();
            for change in stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
                let change = change.unwrap();
                encoded += change.len();
                doc.load_incremental(&change).unwrap();
            }
            read += fixtures::read_case(&doc);
            doc
        })
        .collect();
    assert_eq!(docs.len(), m);
    phase.end();
    println!("info\tencoded bytes of the {m} documents\t{encoded}");
    std::hint::black_box(read);

    let phase = Phase::start("drop lists and documents");
    drop(docs);
    drop(all);
    drop(breached);
    phase.end();
}

fn child(scenario: &str, path: &Path) {
    match scenario {
        "dossier" => run_dossier(path, StoreOptions::default().cache_bytes),
        "dossier_cache_off" => run_dossier(path, 0),
        "raw" => run_raw(path),
        "dossier_read_all" => run_read_all(path),
        other => panic!("unknown scenario {other}"),
    }
}

fn mib(bytes: &str) -> String {
    format!("{:.1}", bytes.parse::<f64>().unwrap() / (1 << 20) as f64)
}

fn kib_as_mib(kib: &str) -> String {
    format!("{:.1}", kib.parse::<f64>().unwrap() / 1024.0)
}

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO_ENV) {
        let path = std::env::var_os(DB_ENV).unwrap();
        child(&scenario, Path::new(&path));
        return;
    }
    let (n, m) = sizes();
    let fixture = fixtures::queue_store(n);
    // On the fixtures' disk, not in a tmpfs /tmp that would count against memory.
    let dir = TempDir::new_in(fixture.parent().unwrap()).unwrap();
    let path = fixtures::copy_into(&fixture, dir.path());
    println!("Peak memory, {n} cases in the store, {m} materialized; sizes in MiB");
    println!(
        "(Rust heap: counting global allocator; SQLite heap: sqlite3_memory_*; \
         RSS: /proc/self/status)\n"
    );
    for scenario in SCENARIOS {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args().skip(1))
            .env(SCENARIO_ENV, scenario)
            .env(DB_ENV, &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scenario {scenario} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("## {scenario}\n");
        println!(
            "| phase | time ms | Rust heap peak | Rust heap after | SQLite heap peak | \
             SQLite heap after | VmHWM in phase | VmRSS after |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut info = Vec::new();
        for line in stdout.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["phase", name, ms, peak, now, sql_peak, sql_now, hwm, rss] => println!(
                    "| {name} | {ms} | {} | {} | {} | {} | {} | {} |",
                    mib(peak),
                    mib(now),
                    mib(sql_peak),
                    mib(sql_now),
                    kib_as_mib(hwm),
                    kib_as_mib(rss)
                ),
                ["info", what, bytes] => info.push(format!("{what}: {bytes} bytes")),
                _ => info.push(line.to_string()),
            }
        }
        for i in info {
            println!("\n{i}");
        }
        println!();
    }
}
