//! Dossier against the raw engines it is built on, workload by workload.
//!
//! Every Dossier call pays for more than its engines do: redaction of every string, projection
//! rows, the change log and snapshot compaction, the merged view it returns. These benchmarks
//! put each workload next to the same work done with raw `automerge` and raw `rusqlite` in the
//! same criterion group, so the ratio between the two is what to read, not the absolute numbers
//! of one machine. BENCHMARKS.md at the repository root records a run and what it means.
//!
//! Fixtures are built once per group, lazily, in a temporary directory; sizes are chosen so the
//! whole run stays under ten minutes on a two-core machine.

// A benchmark whose fixture cannot be built has nothing to measure: stop loudly. These are
// not tests, so clippy.toml's allowance for tests does not reach them.
#![allow(clippy::unwrap_used)]
// `criterion_group!` generates an undocumented `pub fn`; a bench binary exports nothing.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use dossier::{
    CaseFilter, CaseUpdate, Category, NewArticle, NewCase, Payment, Status, Store, StoreOptions,
};
use rusqlite::{Connection, OpenFlags, params};
use tempfile::TempDir;

/// Cases created or updated per measured iteration.
const BATCH: usize = 100;
/// Cases in the store that workload 3 lists from.
const LIST_CASES: usize = 20_000;
/// Articles searched by workload 5 (each in Spanish and English).
const ARTICLES: usize = 5_000;
/// Events on the case that workload 4 materializes.
const EVENTS: usize = 200;

const MARKETS: [&str; 5] = ["IN-UPI", "BR-PIX", "MX-SPEI", "ES", "EU"];
const RAILS: [&str; 5] = ["upi", "pix", "spei", "sepa", "sepa"];
const CURRENCIES: [&str; 5] = ["INR", "BRL", "MXN", "EUR", "EUR"];
const CATEGORIES: [Category; 4] = [
    Category::FailedPayment,
    Category::Refund,
    Category::ChargebackDispute,
    Category::Other,
];

/// Midnight UTC, 1 June 2026: the fixed clock for fixtures, so SLA math is repeatable.
const T0: i64 = 1_780_272_000_000;
const HOUR: i64 = 3_600_000;

fn clock(at: i64) -> StoreOptions {
    StoreOptions {
        site: Some("MX1".into()),
        clock: Some(Arc::new(move || at)),
        ..Default::default()
    }
}

fn description(i: usize) -> String {
    format!(
        "Customer reports that payment {i} was debited from their account but the merchant \
         did not receive it. They tried again twice that afternoon and the second attempt also \
         failed with a timeout on the bank app. They attached a screenshot of the bank statement \
         and ask for a refund within the regulatory window. Contacted via chat, order {i}."
    )
}

/// A case as an agent would open it: ~300-character description, payment, tags and fields.
fn new_case(i: usize) -> NewCase {
    let m = i % MARKETS.len();
    let mut case = NewCase::new(
        MARKETS[m],
        CATEGORIES[i % CATEGORIES.len()],
        &format!("Payment debited but not credited, order {i}"),
    );
    case.description = Some(description(i));
    case.locale = Some(if m < 3 { "en" } else { "es" }.into());
    case.channel = Some("chat".into());
    case.tags = vec!["debited".into(), RAILS[m].into()];
    case.fields = BTreeMap::from([
        ("merchant".to_string(), format!("merchant-{}", i % 97)),
        ("bank".to_string(), "HDFC".to_string()),
    ]);
    case.payment = Some(Payment {
        rail: Some(RAILS[m].into()),
        txn_ref: Some(format!("TXN{i:09}")),
        amount_minor: Some(10_000 + (i as i64 % 5_000)),
        currency: Some(CURRENCIES[m].into()),
        txn_at: Some(T0 - HOUR),
        ..Default::default()
    });
    case
}

/// The raw-Automerge twin of a new case: the same keys, maps and lists, all strings scalars.
fn raw_case(i: usize) -> AutoCommit {
    let m = i % MARKETS.len();
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "number", format!("MX1-{i}")).unwrap();
    doc.put(ROOT, "site", "MX1").unwrap();
    doc.put(ROOT, "market", MARKETS[m]).unwrap();
    doc.put(ROOT, "status", "new").unwrap();
    doc.put(ROOT, "priority", "normal").unwrap();
    doc.put(ROOT, "category", "failed_payment").unwrap();
    doc.put(
        ROOT,
        "subject",
        format!("Payment debited but not credited, order {i}"),
    )
    .unwrap();
    doc.put(ROOT, "description", description(i)).unwrap();
    doc.put(ROOT, "locale", "en").unwrap();
    doc.put(ROOT, "channel", "chat").unwrap();
    doc.put(ROOT, "created_at", T0).unwrap();
    let tags = doc.put_object(ROOT, "tags", ObjType::Map).unwrap();
    doc.put(&tags, "debited", true).unwrap();
    doc.put(&tags, RAILS[m], true).unwrap();
    let fields = doc.put_object(ROOT, "fields", ObjType::Map).unwrap();
    doc.put(&fields, "merchant", format!("merchant-{}", i % 97))
        .unwrap();
    doc.put(&fields, "bank", "HDFC").unwrap();
    let pay = doc.put_object(ROOT, "payment", ObjType::Map).unwrap();
    doc.put(&pay, "rail", RAILS[m]).unwrap();
    doc.put(&pay, "txn_ref", format!("TXN{i:09}")).unwrap();
    doc.put(&pay, "amount_minor", 10_000 + (i as i64 % 5_000))
        .unwrap();
    doc.put(&pay, "currency", CURRENCIES[m]).unwrap();
    doc.put(&pay, "txn_at", T0 - HOUR).unwrap();
    doc.put_object(ROOT, "escalations", ObjType::List).unwrap();
    doc.put_object(ROOT, "sop_runs", ObjType::List).unwrap();
    doc.put_object(ROOT, "sla", ObjType::Map).unwrap();
    doc.put_object(ROOT, "events", ObjType::List).unwrap();
    raw_event(&mut doc, "created", "opened at site MX1");
    doc
}

fn raw_event(doc: &mut AutoCommit, kind: &str, body: &str) {
    let events = match doc.get(ROOT, "events").unwrap() {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => panic!("events list missing"),
    };
    let at = doc.length(&events);
    let ev = doc.insert_object(&events, at, ObjType::Map).unwrap();
    doc.put(&ev, "kind", kind).unwrap();
    doc.put(&ev, "body", body).unwrap();
    doc.put(&ev, "visibility", "internal").unwrap();
    doc.put(&ev, "by", "MX1").unwrap();
    doc.put(&ev, "at", T0).unwrap();
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

/// 1. Creating cases, one transaction per case, in batches of [`BATCH`].
fn create(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path().join("create.db"), clock(T0)).unwrap();
    let raw = raw_db(&dir.path().join("raw.db"));
    let mut g = c.benchmark_group("create_100_cases");
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(BATCH as u64));
    let mut next = 0;
    g.bench_function("dossier", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(store.create_case(new_case(next)).unwrap());
                next += 1;
            }
        })
    });
    let mut next = 0;
    g.bench_function("raw_automerge_sqlite", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let mut doc = raw_case(next);
                let bytes = doc.save();
                let tx = raw.unchecked_transaction().unwrap();
                tx.execute(
                    "INSERT INTO docs (id, bytes) VALUES (?1, ?2)",
                    params![format!("MX1-{next}"), bytes],
                )
                .unwrap();
                tx.commit().unwrap();
                next += 1;
            }
        })
    });
    g.finish();
}

/// 2. Updating existing cases: a status change and a note on each.
fn update(c: &mut Criterion) {
    const CASES: usize = 1_000;
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path().join("update.db"), clock(T0)).unwrap();
    let numbers: Vec<String> = (0..CASES)
        .map(new_case)
        .collect::<Vec<_>>()
        .chunks(500)
        .flat_map(|chunk| store.create_cases(chunk).unwrap())
        .map(|id| store.case_by_id(&id).unwrap().number)
        .collect();
    let raw = raw_db(&dir.path().join("raw.db"));
    let mut docs: Vec<AutoCommit> = (0..CASES)
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
    let mut g = c.benchmark_group("update_100_cases");
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(BATCH as u64));
    let mut next = 0;
    let status = |n: usize| {
        if (n / CASES).is_multiple_of(2) {
            Status::Open
        } else {
            Status::Pending
        }
    };
    g.bench_function("dossier", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let number = &numbers[next % CASES];
                let update = CaseUpdate {
                    status: Some(status(next)),
                    ..Default::default()
                };
                black_box(store.update_case(number, update).unwrap());
                black_box(
                    store
                        .add_note(number, "Called the bank; refund initiated.", false)
                        .unwrap(),
                );
                next += 1;
            }
        })
    });
    let mut next = 0;
    g.bench_function("raw_automerge_sqlite", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let i = next % CASES;
                let doc = &mut docs[i];
                doc.put(ROOT, "status", status(next).as_str()).unwrap();
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
                next += 1;
            }
        })
    });
    g.finish();
}

const LIST_SQL: &str = "SELECT id, number, market, site, status, priority, category, subject, \
     assignee, created_at, updated_at, sla_due_at FROM cases c \
     WHERE status = ?1 AND market = ?2 AND sla_due_at < ?3 ORDER BY sla_due_at, id LIMIT ?4";

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

/// Builds a store of [`LIST_CASES`] cases; one in 25 of them open with an SLA, half of those due
/// by the time the list runs.
fn list_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("list.db");
    let store = Store::open(&path, clock(T0)).unwrap();
    let cases: Vec<NewCase> = (0..LIST_CASES).map(new_case).collect();
    let mut ids = Vec::with_capacity(LIST_CASES);
    for chunk in cases.chunks(500) {
        ids.extend(store.create_cases(chunk).unwrap());
    }
    for (n, id) in ids.iter().step_by(25).enumerate() {
        let key = id.to_string();
        store
            .update_case(
                &key,
                CaseUpdate {
                    status: Some(Status::Open),
                    ..Default::default()
                },
            )
            .unwrap();
        let due = if n % 2 == 0 {
            T0 + HOUR
        } else {
            T0 + 100 * HOUR
        };
        store.set_sla(&key, "first_response", due).unwrap();
    }
    path
}

/// 3. Listing 50 open, breached cases of one market; opening the store.
fn list(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    let started = std::time::Instant::now();
    let path = list_fixture(dir.path());
    eprintln!(
        "list fixture: {LIST_CASES} cases in {:.1?}",
        started.elapsed()
    );
    let now = T0 + 24 * HOUR;
    let store = Store::open(&path, clock(now)).unwrap();
    let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let filter = CaseFilter {
        status: Some(Status::Open),
        market: Some("IN-UPI".into()),
        breached: true,
        limit: Some(50),
        ..Default::default()
    };
    assert_eq!(store.list_cases(&filter).unwrap().len(), 50);
    let mut g = c.benchmark_group("list_50_breached_of_20k");
    g.bench_function("dossier", |b| {
        b.iter(|| black_box(store.list_cases(&filter).unwrap()))
    });
    g.bench_function("raw_sqlite", |b| {
        b.iter(|| {
            let mut stmt = raw.prepare_cached(LIST_SQL).unwrap();
            let rows: Vec<Row> = stmt
                .query_map(params!["open", "IN-UPI", now, 50], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            black_box(rows)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("open_store_20k");
    g.bench_function("dossier", |b| {
        b.iter(|| black_box(Store::open(&path, clock(now)).unwrap()))
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

/// Reads what `materialize` reads: root scalars, tags, fields, payment and every event.
fn read_case(doc: &Automerge) -> usize {
    let str_at = |obj: &ObjId, key: &str| match doc.get(obj, key).unwrap() {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    };
    let int_at = |obj: &ObjId, key: &str| match doc.get(obj, key).unwrap() {
        Some((Value::Scalar(s), _)) => s.as_i64(),
        _ => None,
    };
    let obj_at = |obj: &ObjId, key: &str| doc.get(obj, key).unwrap().map(|(_, id)| id);
    let mut n = 0;
    for key in [
        "number",
        "site",
        "market",
        "status",
        "priority",
        "category",
        "subject",
        "description",
        "locale",
        "channel",
    ] {
        n += str_at(&ROOT, key).map_or(0, |s| s.len());
    }
    n += doc.get_all(ROOT, "status").unwrap().len();
    for map in ["tags", "fields"] {
        let m = obj_at(&ROOT, map).unwrap();
        for k in doc.keys(&m) {
            n += k.len() + doc.get(&m, k.as_str()).unwrap().map_or(0, |_| 1);
        }
    }
    let pay = obj_at(&ROOT, "payment").unwrap();
    for key in ["rail", "txn_ref", "currency"] {
        n += str_at(&pay, key).map_or(0, |s| s.len());
    }
    n += int_at(&pay, "amount_minor").unwrap_or(0) as usize % 7;
    let events = obj_at(&ROOT, "events").unwrap();
    for i in 0..doc.length(&events) {
        let ev = doc.get(&events, i).unwrap().unwrap().1;
        for key in ["kind", "body", "visibility", "by"] {
            n += str_at(&ev, key).map_or(0, |s| s.len());
        }
        n += int_at(&ev, "at").unwrap_or(0) as usize % 7;
    }
    n
}

/// 4. Materializing one case with [`EVENTS`] events, no cache.
fn materialize(c: &mut Criterion) {
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
    let mut g = c.benchmark_group("materialize_case_200_events");
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
            black_box(read_case(&doc))
        })
    });
    g.finish();
}

const EN: [&str; 16] = [
    "refund",
    "card",
    "payment",
    "failed",
    "bank",
    "transfer",
    "chargeback",
    "merchant",
    "delay",
    "account",
    "limit",
    "pix",
    "upi",
    "settlement",
    "reversal",
    "customer",
];
const ES: [&str; 16] = [
    "reembolso",
    "tarjeta",
    "pago",
    "fallido",
    "banco",
    "transferencia",
    "contracargo",
    "comercio",
    "retraso",
    "cuenta",
    "límite",
    "devolución",
    "liquidación",
    "reversión",
    "cliente",
    "depósito",
];

/// Deterministic filler text: `words` words drawn from `vocab` by a linear congruential walk.
fn text(vocab: &[&str], seed: usize, words: usize) -> String {
    let mut x = seed as u64 * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407;
    let mut out = Vec::with_capacity(words);
    for _ in 0..words {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push(vocab[(x >> 33) as usize % vocab.len()]);
    }
    out.join(" ")
}

fn new_article(i: usize) -> NewArticle {
    NewArticle {
        title: BTreeMap::from([
            ("en".to_string(), format!("How to {} {i}", text(&EN, i, 4))),
            ("es".to_string(), format!("Cómo {} {i}", text(&ES, i, 4))),
        ]),
        body: BTreeMap::from([
            ("en".to_string(), text(&EN, i + 1, 80)),
            ("es".to_string(), text(&ES, i + 1, 80)),
        ]),
        markets: vec![MARKETS[i % MARKETS.len()].into()],
        ..Default::default()
    }
}

/// 5. Full-text search over [`ARTICLES`] articles in Spanish and English, 20 results.
fn search(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("kb.db");
    let store = Store::open(&path, clock(T0)).unwrap();
    let started = std::time::Instant::now();
    let articles: Vec<NewArticle> = (0..ARTICLES).map(new_article).collect();
    for chunk in articles.chunks(100) {
        store.create_articles(chunk).unwrap();
    }
    eprintln!(
        "search fixture: {ARTICLES} articles in {:.1?}",
        started.elapsed()
    );
    let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut g = c.benchmark_group("search_20_of_5k_articles");
    for (name, query, fts) in [
        ("es", "reembolso tarjeta", "\"reembolso\" \"tarjeta\""),
        ("en", "refund card", "\"refund\" \"card\""),
    ] {
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
                    .query_map([fts], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                black_box(rows)
            })
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
    name = benches;
    config = config();
    targets = create, update, materialize, search, list
}
criterion_main!(benches);
