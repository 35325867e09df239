//! Dossier's sync protocol against raw `automerge::sync`, on the same documents.
//!
//! Two workloads from issue 6, each next to its baseline in one criterion group:
//!
//! - **`sync_100_changed_of_10000`**: two stores share [`SHARED`] cases and have synced before;
//!   100 of them change on one side, then one session runs. Dossier drives the real protocol —
//!   two [`Session`]s in memory through [`sync_pair`]: hello and signatures, the announcement
//!   of documents changed since the peer's cursor, Automerge sync per document, ingress
//!   validation and the SQLite writes. The baseline is a loop of raw `automerge::sync` over
//!   only the 100 changed documents, in memory, with sync states kept from the previous round
//!   (it knows which documents changed for free; Dossier has to find out).
//! - **`first_full_sync`**: a new, empty site syncs [`FULL`] documents from its hub. The
//!   baseline syncs the same documents' bytes pair by pair into empty Automerge documents.
//!
//! Bytes on the wire are printed once per group (they do not vary between iterations): for
//! Dossier the sum of both sides' `SyncReport::bytes_sent`, for the baseline the encoded sync
//! messages. BENCHMARKS.md records a run.
//!
//! The second store of the first workload is a copy of the first store's file with another
//! site id and a fresh key (what a full sync would leave, without paying for one), then one
//! session moves both cursors so the measured sessions start from a steady state.

// A benchmark whose fixture cannot be built has nothing to measure: stop loudly.
#![allow(clippy::unwrap_used)]
// `criterion_group!` generates an undocumented `pub fn`; a bench binary exports nothing.
#![allow(missing_docs)]

use std::cell::RefCell;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, Value};
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use dossier::sync::{Scope, SessionConfig, sync_pair};
use dossier::{CaseUpdate, Category, DocId, NewCase, Priority, Store, StoreOptions};
use tempfile::TempDir;

/// Documents the two stores of the first workload share.
const SHARED: usize = 10_000;
/// Documents changed between two sessions.
const CHANGED: usize = 100;
/// Documents in the first full sync (see BENCHMARKS.md for why not 10,000 under criterion).
fn full() -> usize {
    std::env::var("DOSSIER_BENCH_FULL_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

const MARKETS: [&str; 5] = ["IN-UPI", "BR-PIX", "MX-SPEI", "ES", "EU"];
/// Midnight UTC, 1 June 2026: the fixed clock for fixtures.
const T0: i64 = 1_780_272_000_000;

fn options(site: &str) -> StoreOptions {
    StoreOptions {
        site: Some(site.into()),
        clock: Some(Arc::new(|| T0)),
        ..Default::default()
    }
}

/// A case as an agent would open it (the same shape as `store.rs`'s fixture).
fn new_case(i: usize) -> NewCase {
    let mut case = NewCase::new(
        MARKETS[i % MARKETS.len()],
        Category::FailedPayment,
        &format!("Payment debited but not credited, order {i}"),
    );
    case.description = Some(format!(
        "Customer reports that payment {i} was debited from their account but the merchant \
         did not receive it. They tried again twice that afternoon and the second attempt also \
         failed with a timeout on the bank app. They attached a screenshot of the bank statement \
         and ask for a refund within the regulatory window. Contacted via chat, order {i}."
    ));
    case.channel = Some("chat".into());
    case.tags = vec!["debited".into()];
    case
}

fn create_store(path: &Path, site: &str, docs: usize) -> (Store, Vec<DocId>) {
    let store = Store::open(path, options(site)).unwrap();
    let cases: Vec<NewCase> = (0..docs).map(new_case).collect();
    let mut ids = Vec::with_capacity(docs);
    for chunk in cases.chunks(500) {
        ids.extend(store.create_cases(chunk).unwrap());
    }
    (store, ids)
}

fn provision(a: &Store, b: &Store) {
    a.add_peer(b.site(), b.public_key().unwrap(), vec![Scope::everything()])
        .unwrap();
    b.add_peer(a.site(), a.public_key().unwrap(), vec![Scope::everything()])
        .unwrap();
}

/// The document as raw Automerge: the store's own change chunks, loaded.
fn raw_doc(store: &Store, id: &DocId) -> Automerge {
    let pack = store.changes_since(id, &[]).unwrap();
    // Pack layout (exchange.rs): magic 4, version 1, id 16, count u32, then (u32 len, bytes)*.
    let mut rest = &pack[25..];
    let mut chunks = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        chunks.extend_from_slice(&tail[..len]);
        rest = &tail[len..];
    }
    Automerge::load(&chunks).unwrap()
}

/// Raw `automerge::sync` between two documents until neither has anything to say; returns
/// the bytes exchanged. Messages are encoded and decoded as a transport would.
fn raw_sync(
    a: &mut Automerge,
    sa: &mut sync::State,
    b: &mut Automerge,
    sb: &mut sync::State,
) -> usize {
    let mut bytes = 0;
    loop {
        let mut moved = false;
        if let Some(m) = a.generate_sync_message(sa) {
            let wire = m.encode();
            bytes += wire.len();
            b.receive_sync_message(sb, sync::Message::decode(&wire).unwrap())
                .unwrap();
            moved = true;
        }
        if let Some(m) = b.generate_sync_message(sb) {
            let wire = m.encode();
            bytes += wire.len();
            a.receive_sync_message(sa, sync::Message::decode(&wire).unwrap())
                .unwrap();
            moved = true;
        }
        if !moved {
            return bytes;
        }
    }
}

/// The raw twin of `update_case` + `add_note`: a priority and an event on the events list.
fn raw_change(doc: &mut Automerge, round: usize) {
    let mut tx = doc.transaction();
    let priority = if round.is_multiple_of(2) {
        "high"
    } else {
        "normal"
    };
    tx.put(ROOT, "priority", priority).unwrap();
    if let Some((Value::Object(ObjType::List), events)) = tx.get(ROOT, "events").unwrap() {
        let at = tx.length(&events);
        let ev = tx.insert_object(&events, at, ObjType::Map).unwrap();
        tx.put(&ev, "kind", "note").unwrap();
        tx.put(&ev, "body", "Called the bank; refund initiated.")
            .unwrap();
        tx.put(&ev, "at", T0).unwrap();
    }
    tx.commit();
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    println!("fixture: {what} in {:.1}s", started.elapsed().as_secs_f64());
    out
}

/// 1. Two stores sharing [`SHARED`] documents, [`CHANGED`] of them changed.
fn changed(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    let site_path = dir.path().join("site.db");
    let ids = timed(&format!("{SHARED} cases"), || {
        create_store(&site_path, "MX1", SHARED).1
    });
    // The hub is the same file under another site id and key (see the module docs).
    let hub_path = dir.path().join("hub.db");
    std::fs::copy(&site_path, &hub_path).unwrap();
    {
        let raw = rusqlite::Connection::open(&hub_path).unwrap();
        raw.execute_batch(
            "UPDATE meta SET value = 'HUB' WHERE key = 'site';
             DELETE FROM meta WHERE key = 'sync.signing_key';",
        )
        .unwrap();
    }
    let site = Store::open(&site_path, options("MX1")).unwrap();
    let hub = Store::open(&hub_path, options("HUB")).unwrap();
    provision(&site, &hub);
    let config = SessionConfig::default();
    let (first, _) = timed("first session (announces every document)", || {
        sync_pair(&site, &hub, &config).unwrap()
    });
    assert_eq!(
        first.docs_sent + first.docs_received,
        0,
        "the copies differ"
    );

    let mut round = 0;
    let change_100 = |round: usize| {
        let start = (round * CHANGED) % SHARED;
        for id in &ids[start..start + CHANGED] {
            let update = CaseUpdate {
                priority: Some(if round.is_multiple_of(2) {
                    Priority::High
                } else {
                    Priority::Normal
                }),
                ..Default::default()
            };
            let key = id.to_string();
            site.update_case(&key, update).unwrap();
            site.add_note(&key, "Called the bank; refund initiated.", false)
                .unwrap();
        }
    };
    change_100(round);
    round += 1;
    let (a, b) = sync_pair(&site, &hub, &config).unwrap();
    assert_eq!(a.docs_sent, CHANGED);
    println!(
        "bytes: dossier session with {CHANGED} of {SHARED} changed: {} ({} messages)",
        a.bytes_sent + b.bytes_sent,
        a.messages_sent + b.messages_sent
    );

    // The baseline's pairs: the same documents on both sides, already in sync.
    let pairs: Vec<(Automerge, sync::State, Automerge, sync::State)> = ids[..10 * CHANGED]
        .iter()
        .map(|id| {
            let doc = raw_doc(&hub, id);
            let (mut a, mut b) = (doc.clone(), doc);
            let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
            raw_sync(&mut a, &mut sa, &mut b, &mut sb);
            (a, sa, b, sb)
        })
        .collect();
    // Setup and routine both reach the pairs; criterion holds both closures at once.
    let pairs = RefCell::new(pairs);
    let mut raw_round = 0;
    let bytes: usize = pairs.borrow_mut()[..CHANGED]
        .iter_mut()
        .map(|(a, sa, b, sb)| {
            raw_change(a, 0);
            raw_sync(a, sa, b, sb)
        })
        .sum();
    println!("bytes: raw automerge::sync over the {CHANGED} changed documents: {bytes}");

    let mut g = c.benchmark_group(format!("sync_{CHANGED}_changed_of_{SHARED}"));
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("dossier_session", |bench| {
        bench.iter_batched(
            || {
                change_100(round);
                round += 1;
            },
            |()| black_box(sync_pair(&site, &hub, &config).unwrap()),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_automerge_sync", |bench| {
        bench.iter_batched(
            || {
                raw_round += 1;
                let mut pairs = pairs.borrow_mut();
                let start = (raw_round * CHANGED) % pairs.len();
                for (a, ..) in &mut pairs[start..start + CHANGED] {
                    raw_change(a, raw_round);
                }
                start
            },
            |start| {
                let mut bytes = 0;
                for (a, sa, b, sb) in &mut pairs.borrow_mut()[start..start + CHANGED] {
                    bytes += raw_sync(a, sa, b, sb);
                }
                black_box(bytes)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// 2. A new, empty site's first sync of [`full()`] documents from its hub.
fn first_full(c: &mut Criterion) {
    let docs = full();
    let dir = TempDir::new().unwrap();
    let (hub, ids) = timed(&format!("{docs} cases"), || {
        create_store(&dir.path().join("hub.db"), "HUB", docs)
    });
    let raw: Vec<Automerge> = ids.iter().map(|id| raw_doc(&hub, id)).collect();
    let config = SessionConfig::default();
    let mut sites = 0;
    let mut new_site = || {
        sites += 1;
        let site = Store::open(
            dir.path().join(format!("site{sites}.db")),
            options(&format!("S{sites}")),
        )
        .unwrap();
        provision(&site, &hub);
        site
    };

    let site = new_site();
    let started = Instant::now();
    let (a, b) = sync_pair(&site, &hub, &config).unwrap();
    assert_eq!(a.docs_received, docs);
    println!(
        "bytes: dossier first sync of {docs} documents: {} ({} messages) in {:.1}s",
        a.bytes_sent + b.bytes_sent,
        a.messages_sent + b.messages_sent,
        started.elapsed().as_secs_f64()
    );
    let bytes: usize = raw
        .iter()
        .map(|doc| {
            let (mut a, mut sa) = (doc.clone(), sync::State::new());
            let (mut b, mut sb) = (Automerge::new(), sync::State::new());
            raw_sync(&mut b, &mut sb, &mut a, &mut sa)
        })
        .sum();
    println!("bytes: raw automerge::sync of the same {docs} documents: {bytes}");

    let mut g = c.benchmark_group(format!("first_full_sync_{docs}"));
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("dossier_session", |bench| {
        bench.iter_batched(
            &mut new_site,
            |site| black_box(sync_pair(&site, &hub, &config).unwrap()),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_automerge_sync", |bench| {
        bench.iter_batched(
            || {
                raw.iter()
                    .map(|d| (d.clone(), sync::State::new()))
                    .collect::<Vec<_>>()
            },
            |mut hubs| {
                let mut bytes = 0;
                for (a, sa) in &mut hubs {
                    let (mut b, mut sb) = (Automerge::new(), sync::State::new());
                    bytes += raw_sync(&mut b, &mut sb, a, sa);
                    black_box(&b);
                }
                black_box(bytes)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = changed, first_full
}
criterion_main!(benches);
