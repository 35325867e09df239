//! Dossier against the raw engines it is built on, workload by workload.
//!
//! Every Dossier call pays for more than its engines do: redaction of every string, projection
//! rows, the change log and snapshot compaction, the merged view it returns. These benchmarks
//! put each workload next to the same work done with raw `automerge` and raw `rusqlite` in the
//! same run, so the ratio between the two is what to read, not the absolute numbers of one
//! machine. BENCHMARKS.md at the repository root records a run and what it means.
//!
//! Two kinds of measurement:
//!
//! - **Writes** (`create_10000_cases`, `update_10000_cases`): 10,000 cases per round, as issue
//!   6 asks. One round takes tens of seconds, so criterion's ten samples would take half an
//!   hour; instead each round times 10,000 writes once for Dossier and once for the baseline,
//!   alternating which goes first, and the median round is reported. `DOSSIER_BENCH_ROUNDS`
//!   sets the number of rounds (default 3).
//! - **Reads** (materialize, search, list, open): criterion groups, Dossier and its baseline on
//!   the same file.
//!
//! The 100,000-case and 100,000-article stores are built once and cached in
//! `target/bench-fixtures/` (see `support/fixtures.rs`); each run opens a copy.
//!
//! A name given after `--` selects workloads by substring, as criterion's filter does.

// A benchmark whose fixture cannot be built has nothing to measure: stop loudly. These are
// not tests, so clippy.toml's allowance for tests does not reach them.
#![allow(clippy::unwrap_used)]
// `criterion_group!` generates an undocumented `pub fn`; a bench binary exports nothing.
#![allow(missing_docs)]

// Shared with `memory.rs`, which uses other parts of it.
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT};
use criterion::{Criterion, SamplingMode, criterion_group};
use dossier::{CaseFilter, CaseUpdate, Status, Store, StoreOptions};
use fixtures::{LIST_AT, T0, clock, new_case, raw_case, raw_event};
use rusqlite::{Connection, OpenFlags, params};
use tempfile::TempDir;

/// Events on the case that the materialize workload reads.
const EVENTS: usize = 200;

/// Cases created, and cases updated, per round.
fn writes() -> usize {
    if fixtures::full_run() { 10_000 } else { 100 }
}

/// Rounds of the write workloads.
fn rounds() -> usize {
    std::env::var("DOSSIER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if fixtures::full_run() { 3 } else { 1 })
}

/// Cases in the store that the list and open workloads use.
fn list_cases() -> usize {
    if fixtures::full_run() { 100_000 } else { 2_000 }
}

/// Sizes of the knowledge bases searched, in articles (each in Spanish and English):
/// `DOSSIER_BENCH_SEARCH_ARTICLES` (comma-separated), else 10,000 and 100,000.
fn article_sizes() -> Vec<usize> {
    if !fixtures::full_run() {
        return vec![1_000];
    }
    std::env::var("DOSSIER_BENCH_SEARCH_ARTICLES")
        .ok()
        .map(|v| v.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000])
}

/// The workload filter given after `--`, if any: the first argument that is neither a flag nor
/// the value of one of criterion's flags that take a value.
fn filter() -> Option<String> {
    const WITH_VALUE: [&str; 12] = [
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str())
            || [
                "--color",
                "--output-format",
                "--plotting-backend",
                "--format",
            ]
            .contains(&a.as_str())
        {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

fn wanted(name: &str) -> bool {
    filter().is_none_or(|f| name.contains(&f))
}

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

/// Times of one write workload, one entry per round for each side.
struct Rounds {
    name: String,
    writes: usize,
    dossier: Vec<Duration>,
    raw: Vec<Duration>,
}

impl Rounds {
    fn new(name: String, writes: usize) -> Self {
        Rounds {
            name,
            writes,
            dossier: Vec::new(),
            raw: Vec::new(),
        }
    }

    fn per_write(&self, d: Duration) -> String {
        format!("{:.3} ms", d.as_secs_f64() * 1e3 / self.writes as f64)
    }

    fn print_round(&self) {
        let (Some(&d), Some(&r)) = (self.dossier.last(), self.raw.last()) else {
            return;
        };
        println!(
            "{} round {}: dossier {:.2?} ({}/case), raw {:.2?} ({}/case), ratio {:.2}×",
            self.name,
            self.dossier.len(),
            d,
            self.per_write(d),
            r,
            self.per_write(r),
            d.as_secs_f64() / r.as_secs_f64()
        );
    }

    fn print_summary(&self) {
        let median = |v: &[Duration]| {
            let mut v = v.to_vec();
            v.sort();
            v[v.len() / 2]
        };
        let ratios: Vec<String> = self
            .dossier
            .iter()
            .zip(&self.raw)
            .map(|(d, r)| format!("{:.2}", d.as_secs_f64() / r.as_secs_f64()))
            .collect();
        let (d, r) = (median(&self.dossier), median(&self.raw));
        println!(
            "{}: median of {} rounds of {} — dossier {:.2?} ({}/case), raw {:.2?} ({}/case), \
             ratio of medians {:.2}× (per round: {})\n",
            self.name,
            self.dossier.len(),
            self.writes,
            d,
            self.per_write(d),
            r,
            self.per_write(r),
            d.as_secs_f64() / r.as_secs_f64(),
            ratios.join(", ")
        );
    }
}

/// 1. Creating cases into an empty store, one transaction per case.
fn create() {
    let n = writes();
    let mut rounds_of = Rounds::new(format!("create_{n}_cases"), n);
    if !wanted(&rounds_of.name) {
        return;
    }
    for round in 0..rounds() {
        let dir = TempDir::new().unwrap();
        let store = Store::open(dir.path().join("create.db"), clock(T0)).unwrap();
        let raw = raw_db(&dir.path().join("raw.db"));
        let dossier = || {
            let started = Instant::now();
            for i in 0..n {
                black_box(store.create_case(new_case(i)).unwrap());
            }
            started.elapsed()
        };
        let baseline = || {
            let started = Instant::now();
            for i in 0..n {
                let mut doc = raw_case(i);
                let bytes = doc.save();
                let tx = raw.unchecked_transaction().unwrap();
                tx.execute(
                    "INSERT INTO docs (id, bytes) VALUES (?1, ?2)",
                    params![format!("MX1-{i}"), bytes],
                )
                .unwrap();
                tx.commit().unwrap();
            }
            started.elapsed()
        };
        let (d, r) = alternate(round, dossier, baseline);
        rounds_of.dossier.push(d);
        rounds_of.raw.push(r);
        rounds_of.print_round();
    }
    rounds_of.print_summary();
}

/// Runs both sides of a round, Dossier first in even rounds and the baseline first in odd
/// ones, so neither always meets a cold page cache or a busy neighbour.
fn alternate(
    round: usize,
    dossier: impl FnOnce() -> Duration,
    baseline: impl FnOnce() -> Duration,
) -> (Duration, Duration) {
    if round.is_multiple_of(2) {
        let d = dossier();
        (d, baseline())
    } else {
        let r = baseline();
        (dossier(), r)
    }
}

/// 2. Updating every case of a store once: a status change and a note on each.
///
/// Both sides start with the documents in memory, as right after creating them: Dossier's cache
/// is warmed by reading every case (10,000 cases are about 9 MB encoded, well inside the
/// default 64 MiB budget), the baseline keeps its `AutoCommit`s.
fn update() {
    let n = writes();
    let mut rounds_of = Rounds::new(format!("update_{n}_cases"), n);
    if !wanted(&rounds_of.name) {
        return;
    }
    let fixture = fixtures::case_store(n);
    for round in 0..rounds() {
        let dir = TempDir::new().unwrap();
        let store = Store::open(fixtures::copy_into(&fixture, dir.path()), clock(T0)).unwrap();
        let numbers: Vec<String> = store
            .list_cases(&CaseFilter {
                limit: Some(n),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|s| {
                store.case_by_id(&s.id).unwrap();
                s.number
            })
            .collect();
        assert_eq!(numbers.len(), n);
        let raw = raw_db(&dir.path().join("raw.db"));
        let mut docs: Vec<AutoCommit> = (0..n)
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
        let dossier = || {
            let started = Instant::now();
            for number in &numbers {
                let update = CaseUpdate {
                    status: Some(Status::Open),
                    ..Default::default()
                };
                black_box(store.update_case(number, update).unwrap());
                black_box(
                    store
                        .add_note(number, "Called the bank; refund initiated.", false)
                        .unwrap(),
                );
            }
            started.elapsed()
        };
        let baseline = || {
            let started = Instant::now();
            for (i, doc) in docs.iter_mut().enumerate() {
                doc.put(ROOT, "status", Status::Open.as_str()).unwrap();
                raw_event(doc, "status_changed", "new -> open");
                raw_event(doc, "note", "Called the bank; refund initiated.");
                let bytes = doc.save_incremental();
                let tx = raw.unchecked_transaction().unwrap();
                tx.execute(
                    "INSERT INTO changes (doc_id, bytes) VALUES (?1, ?2)",
                    params![format!("MX1-{i}"), bytes],
                )
                .unwrap();
                tx.commit().unwrap();
            }
            started.elapsed()
        };
        let (d, r) = alternate(round, dossier, baseline);
        rounds_of.dossier.push(d);
        rounds_of.raw.push(r);
        rounds_of.print_round();
    }
    rounds_of.print_summary();
}

const LIST_SQL: &str = "SELECT id, number, market, site, status, priority, category, subject, \
     assignee, created_at, updated_at, sla_due_at FROM cases c \
     WHERE status = ?1 AND market = ?2 AND sla_due_at < ?3 ORDER BY sla_due_at, id LIMIT ?4";

/// 3. Listing 50 open, breached cases of one market; opening the store.
fn list(c: &mut Criterion) {
    let n = list_cases();
    let (list_group, open_group) = (
        format!("list_50_breached_of_{n}"),
        format!("open_store_{n}"),
    );
    if !wanted(&list_group) && !wanted(&open_group) {
        return;
    }
    let fixture = fixtures::queue_store(n);
    let dir = TempDir::new().unwrap();
    let path = fixtures::copy_into(&fixture, dir.path());
    let store = Store::open(&path, clock(LIST_AT)).unwrap();
    let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let filter = CaseFilter {
        status: Some(Status::Open),
        market: Some("IN-UPI".into()),
        breached: true,
        limit: Some(50),
        ..Default::default()
    };
    // The small store of a test run has only 40 such cases.
    let listed = store.list_cases(&filter).unwrap().len();
    assert!(listed == 50 || (!fixtures::full_run() && listed > 0));
    let mut g = c.benchmark_group(list_group);
    g.bench_function("dossier", |b| {
        b.iter(|| black_box(store.list_cases(&filter).unwrap()))
    });
    g.bench_function("raw_sqlite", |b| {
        b.iter(|| {
            let rows = fixtures::case_rows(&raw, LIST_SQL, params!["open", "IN-UPI", LIST_AT, 50]);
            black_box(rows)
        })
    });
    g.finish();
    let mut g = c.benchmark_group(open_group);
    g.bench_function("dossier", |b| {
        b.iter(|| black_box(Store::open(&path, clock(LIST_AT)).unwrap()))
    });
    g.bench_function("raw_sqlite", |b| {
        b.iter(|| {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                .unwrap();
            black_box(conn)
        })
    });
    g.finish();
}

/// 4. Materializing one case with [`EVENTS`] events, no cache.
fn materialize(c: &mut Criterion) {
    let group = format!("materialize_case_{EVENTS}_events");
    if !wanted(&group) {
        return;
    }
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("one.db");
    let number = {
        let store = Store::open(&path, clock(T0)).unwrap();
        let number = store.create_case(new_case(7)).unwrap().number;
        for i in 1..EVENTS {
            store
                .add_note(&number, &format!("Follow-up {i}: still waiting."), false)
                .unwrap();
        }
        number
    };
    let store = Store::open(
        &path,
        StoreOptions {
            cache_bytes: 0,
            ..clock(T0)
        },
    )
    .unwrap();
    assert_eq!(store.case(&number).unwrap().events.len(), EVENTS);
    // The baseline reads the very same document, saved whole into a plain table.
    let id = store.resolve_case(&number).unwrap().to_string();
    let raw = raw_db(&dir.path().join("raw.db"));
    {
        let src = Connection::open(&path).unwrap();
        let mut bytes: Vec<u8> = src
            .query_row("SELECT snapshot FROM docs WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap();
        let mut stmt = src
            .prepare("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
            .unwrap();
        for change in stmt.query_map([&id], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
            bytes.extend(change.unwrap());
        }
        let saved = Automerge::load(&bytes).unwrap().save();
        raw.execute(
            "INSERT INTO docs (id, bytes) VALUES (?1, ?2)",
            params![id, saved],
        )
        .unwrap();
    }
    let mut g = c.benchmark_group(group);
    g.bench_function("dossier", |b| {
        b.iter(|| black_box(store.case(&number).unwrap()))
    });
    g.bench_function("raw_automerge_load_read", |b| {
        b.iter(|| {
            let bytes: Vec<u8> = raw
                .prepare_cached("SELECT bytes FROM docs WHERE id = ?1")
                .unwrap()
                .query_row([&id], |r| r.get(0))
                .unwrap();
            let doc = Automerge::load(&bytes).unwrap();
            black_box(fixtures::read_case(&doc))
        })
    });
    g.finish();
}

/// 5. Full-text search over 10,000 and 100,000 articles in Spanish and English, 20 results.
///
/// Two typical queries (each of their words in a fifth to a third of the articles, both in about
/// one in sixteen) and a worst case whose two words are in nearly every article, so FTS5 ranks
/// the whole index.
fn search(c: &mut Criterion) {
    for n in article_sizes() {
        search_in(c, n);
    }
}

fn search_in(c: &mut Criterion, n: usize) {
    let group = format!("search_20_of_{n}_articles");
    if !wanted(&group) {
        return;
    }
    let fixture = fixtures::article_store(n);
    let dir = TempDir::new().unwrap();
    let path = fixtures::copy_into(&fixture, dir.path());
    let store = Store::open(&path, clock(T0)).unwrap();
    let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut g = c.benchmark_group(group);
    // One query can take a large part of a second: ten iterations per sample, not 55.
    g.sampling_mode(SamplingMode::Flat);
    for (name, query) in [
        ("es", "reembolso tarjeta"),
        ("en", "refund card"),
        ("en_common", "payment customer"),
    ] {
        let fts = query
            .split(' ')
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" ");
        let matches: i64 = raw
            .query_row(
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?1",
                [&fts],
                |r| r.get(0),
            )
            .unwrap();
        eprintln!("search `{query}`: {matches} matching rows of {}", 2 * n);
        assert_eq!(store.search_articles(query, None, 20).unwrap().len(), 20);
        g.bench_function(format!("dossier_{name}"), |b| {
            b.iter(|| black_box(store.search_articles(query, None, 20).unwrap()))
        });
        g.bench_function(format!("raw_fts5_{name}"), |b| {
            b.iter(|| {
                let mut stmt = raw
                    .prepare_cached(
                        "SELECT doc_id, locale, title, \
                         snippet(articles_fts, 3, '[', ']', '…', 16), bm25(articles_fts) AS rank \
                         FROM articles_fts WHERE articles_fts MATCH ?1 ORDER BY rank LIMIT 20",
                    )
                    .unwrap();
                let rows: Vec<(String, String, String, String, f64)> = stmt
                    .query_map([&fts], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                black_box(rows)
            })
        });
    }
    // With a locale filter: Spanish words in Spanish rows (the filter drops nothing that ranks
    // first), and English words in Spanish rows (it drops every match, so every match is read).
    for (name, query, locale) in [
        ("es_in_es", "reembolso tarjeta", "es"),
        ("en_in_es", "refund card", "es"),
    ] {
        g.bench_function(format!("dossier_{name}"), |b| {
            b.iter(|| black_box(store.search_articles(query, Some(locale), 20).unwrap()))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = reads;
    config = config();
    targets = materialize, search, list
}

fn main() {
    create();
    update();
    reads();
    Criterion::default().configure_from_args().final_summary();
}
