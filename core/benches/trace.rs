//! The real automerge-perf editing trace, typed into one SOP node through the splice API.
//!
//! The trace is every keystroke of writing the LaTeX source of Martin Kleppmann and Alastair
//! R. Beresford's paper "A Conflict-Free Replicated JSON Datatype" (IEEE TPDS 28(10), 2017):
//! 182,315 single-character inserts and 77,463 single-character deletes (259,778 edits)
//! ending in a 104,852-character text. It comes from the automerge-perf repository of the
//! Automerge project (<https://github.com/automerge/automerge-perf>, commit `da212e9`,
//! `edit-history/paper.json.gz`), licensed CC BY 4.0
//! (<https://creativecommons.org/licenses/by/4.0/>), converted to position-based edits by
//! `shared/data/convert.py`; see `shared/data/README.md`. The file is read from
//! `shared/data/automerge-paper-trace.json.gz` next to the workspace (or `$DOSSIER_TRACE`); when
//! it is absent the benchmark says so and exits 0.
//!
//! What is timed, in one run:
//!
//! - **raw automerge**, in memory: `splice_text` per edit on one `Automerge` transaction per
//!   [`BATCH`] edits (a commit every 100 edits), median of [`RAW_RUNS`];
//! - **Dossier**: the same edits through [`Store::splice_sop_text_batch`] into node [`NODE`],
//!   locale [`LOCALE`] (absent before, so the text starts empty), one persisted write (one
//!   SQLite transaction, one Automerge change, redaction of a window around every edit) per
//!   [`BATCH`] edits, as an editor that autosaves would;
//! - **per keystroke**: [`KEYSTROKES`] writes of one edit each ([`Store::splice_sop_text`]) into
//!   a text of about 1,000 characters (the trace's first edits) and into the full 104,852
//!   characters after the whole trace, typing and deleting in the middle.
//!
//! Every run checks its final text against the trace's `finalText`.
//!
//! `cargo bench -p dossier --bench trace`
//!
//! For instruction counts, `DOSSIER_TRACE_KEYSTROKES=N` (and optionally
//! `DOSSIER_TRACE_ENGINE=raw`) skips all of the above and types N single-edit writes into a
//! 20,000-character node; run it under `valgrind --tool=callgrind` for two values of N and
//! divide the difference by the difference of N.

// A benchmark whose fixture cannot be built has nothing to measure: stop loudly. These are
// not tests, so clippy.toml's allowance for tests does not reach them.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use dossier::{DocId, Splice, Store, StoreOptions};
use tempfile::TempDir;

/// Edits per persisted write (or per Automerge commit) in the batched runs.
const BATCH: usize = 100;
/// Runs of the in-memory baseline; the median is reported.
const RAW_RUNS: usize = 3;
/// Single-edit writes timed at each text size.
const KEYSTROKES: usize = 400;
/// The small text for the per-keystroke comparison.
const SMALL: usize = 1_000;
/// The node text size for the instruction-count mode.
const CALLGRIND_SIZE: usize = 20_000;

const UPI_SOP: &str = include_str!("../src/sop/testdata/upi_debited_not_credited.json");
/// The node whose text receives the trace.
const NODE: &str = "start";
/// A locale the imported SOP does not have yet, so the node's text starts empty.
const LOCALE: &str = "hi";

/// One edit of the trace: insert `ch` at `pos`, or delete the character at `pos`.
#[derive(Clone, Copy)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
}

impl Edit {
    fn splice(self) -> Splice {
        match self {
            Edit::Insert(pos, ch) => Splice {
                pos,
                delete: 0,
                insert: ch.to_string(),
            },
            Edit::Delete(pos) => Splice {
                pos,
                delete: 1,
                insert: String::new(),
            },
        }
    }
}

struct Trace {
    edits: Vec<Edit>,
    final_text: String,
}

fn trace_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DOSSIER_TRACE") {
        return Some(PathBuf::from(p));
    }
    // `core/` of the main checkout sits two levels below `shared/`; a worktree under
    // `wt/<name>/` three.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../../shared/data", "../../../shared/data"]
        .iter()
        .map(|d| manifest.join(d).join("automerge-paper-trace.json.gz"))
        .find(|p| p.exists())
}

fn load_trace(path: &Path) -> Trace {
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut json)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let edits = v["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let pos = e[0].as_u64().unwrap() as usize;
            match e.get(2).and_then(|c| c.as_str()) {
                Some(c) => Edit::Insert(pos, c.chars().next().unwrap()),
                None => Edit::Delete(pos),
            }
        })
        .collect();
    Trace {
        edits,
        final_text: v["finalText"].as_str().unwrap().to_string(),
    }
}

fn main() {
    let Some(path) = trace_path() else {
        println!(
            "trace: skipped: automerge-paper-trace.json.gz not found in shared/data next to the \
             workspace (set DOSSIER_TRACE to its path)"
        );
        return;
    };
    let trace = load_trace(&path);
    if let Some(n) = std::env::var("DOSSIER_TRACE_KEYSTROKES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        let raw = std::env::var("DOSSIER_TRACE_ENGINE").is_ok_and(|e| e == "raw");
        keystrokes_only(&trace, n, raw);
        return;
    }
    let inserts = trace
        .edits
        .iter()
        .filter(|e| matches!(e, Edit::Insert(..)))
        .count();
    println!(
        "trace: {} ({} edits: {inserts} inserts, {} deletes; final text {} characters)",
        path.display(),
        trace.edits.len(),
        trace.edits.len() - inserts,
        trace.final_text.chars().count()
    );

    let raw = median(
        (0..RAW_RUNS)
            .map(|_| raw_replay(&trace.edits, &trace.final_text))
            .collect(),
    );
    report(
        "raw automerge, in memory, commit every 100 edits",
        raw,
        trace.edits.len(),
    );

    let dir = TempDir::new().unwrap();
    let store = open_store(&dir.path().join("trace.db"));
    let id = store.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
    let t = Instant::now();
    for chunk in trace.edits.chunks(BATCH) {
        let splices: Vec<Splice> = chunk.iter().map(|e| e.splice()).collect();
        black_box(
            store
                .splice_sop_text_batch(&id, NODE, LOCALE, &splices)
                .unwrap(),
        );
    }
    let dossier = t.elapsed();
    assert_eq!(node_text(&store, &id), trace.final_text);
    report(
        "Dossier splice_sop_text_batch, one write per 100 edits",
        dossier,
        trace.edits.len(),
    );
    println!(
        "ratio Dossier / raw automerge: {:.2}",
        dossier.as_secs_f64() / raw.as_secs_f64()
    );

    // Per keystroke: ~1k characters (a fresh SOP, the trace's first edits), then the full text.
    let small = open_store(&dir.path().join("small.db"));
    let small_id = small.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
    let mut len = 0usize;
    let mut batch = Vec::new();
    for e in &trace.edits {
        batch.push(e.splice());
        len = match e {
            Edit::Insert(..) => len + 1,
            Edit::Delete(_) => len - 1,
        };
        if len >= SMALL {
            break;
        }
    }
    for chunk in batch.chunks(BATCH) {
        small
            .splice_sop_text_batch(&small_id, NODE, LOCALE, chunk)
            .unwrap();
    }
    let at_1k = keystrokes(&small, &small_id, len);
    let at_100k = keystrokes(&store, &id, trace.final_text.chars().count());
    for (label, d) in [("~1k", &at_1k), ("~100k", &at_100k)] {
        println!(
            "per keystroke at {label} characters ({KEYSTROKES} single-edit writes): mean {:>7.1} µs, \
             p50 {:>7.1} µs, p99 {:>7.1} µs",
            us(mean(d)),
            us(percentile(d, 0.5)),
            us(percentile(d, 0.99)),
        );
    }
    println!(
        "ratio per keystroke ~100k / ~1k (mean): {:.2}",
        mean(&at_100k).as_secs_f64() / mean(&at_1k).as_secs_f64()
    );
}

/// `KEYSTROKES` single-edit writes in the middle of a text of `len` characters: a word typed,
/// then deleted with backspace, so the length stays put.
fn keystrokes(store: &Store, id: &DocId, len: usize) -> Vec<Duration> {
    let mid = len / 2;
    let word: Vec<char> = "splice ".chars().collect();
    let mut times = Vec::with_capacity(KEYSTROKES);
    let mut typed = 0usize;
    for i in 0..KEYSTROKES {
        let t = Instant::now();
        if (i / word.len()).is_multiple_of(2) {
            let c = word[typed % word.len()].to_string();
            black_box(
                store
                    .splice_sop_text(id, NODE, LOCALE, mid + typed, 0, &c)
                    .unwrap(),
            );
            typed += 1;
        } else {
            typed -= 1;
            black_box(
                store
                    .splice_sop_text(id, NODE, LOCALE, mid + typed, 1, "")
                    .unwrap(),
            );
        }
        times.push(t.elapsed());
    }
    times
}

/// For callgrind: N single-edit writes into a 20,000-character node (or, with `raw`, N
/// splice + commit + the change's bytes on an in-memory document of the same text).
fn keystrokes_only(trace: &Trace, n: usize, raw: bool) {
    let text: String = trace.final_text.chars().take(CALLGRIND_SIZE).collect();
    let mid = CALLGRIND_SIZE / 2;
    if raw {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let t = tx.put_object(ROOT, "text", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, &text).unwrap();
        tx.commit();
        doc.save();
        for i in 0..n {
            let mut tx = doc.transaction();
            tx.splice_text(&t, mid + i, 0, "x").unwrap();
            tx.commit();
            black_box(doc.get_last_local_change().map(|c| c.raw_bytes().len()));
        }
        println!("raw: {n} keystrokes, length {}", doc.length(&t));
        return;
    }
    let dir = TempDir::new().unwrap();
    let store = open_store(&dir.path().join("callgrind.db"));
    let id = store.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
    store
        .splice_sop_text(&id, NODE, LOCALE, 0, 0, &text)
        .unwrap();
    let mut last = None;
    for i in 0..n {
        last = Some(
            store
                .splice_sop_text(&id, NODE, LOCALE, mid + i, 0, "x")
                .unwrap(),
        );
    }
    println!(
        "dossier: {n} keystrokes, length {}",
        last.map_or(CALLGRIND_SIZE as u64, |e| e.length)
    );
}

/// Replays the trace into an in-memory document, one transaction (commit) per `BATCH` edits.
fn raw_replay(edits: &[Edit], expected: &str) -> Duration {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    let text = tx.put_object(ROOT, "text", ObjType::Text).unwrap();
    tx.commit();
    let t = Instant::now();
    for chunk in edits.chunks(BATCH) {
        let mut tx = doc.transaction();
        for e in chunk {
            match *e {
                Edit::Insert(pos, ch) => {
                    let mut buf = [0u8; 4];
                    tx.splice_text(&text, pos, 0, ch.encode_utf8(&mut buf))
                        .unwrap();
                }
                Edit::Delete(pos) => tx.splice_text(&text, pos, 1, "").unwrap(),
            }
        }
        tx.commit();
    }
    let elapsed = t.elapsed();
    assert_eq!(doc.text(&text).unwrap(), expected);
    elapsed
}

fn open_store(path: &Path) -> Store {
    Store::open(
        path,
        StoreOptions {
            site: Some("MX1".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn node_text(store: &Store, id: &DocId) -> String {
    let sop = store.sop(id).unwrap();
    sop.definition.nodes[NODE].text[LOCALE].clone()
}

fn report(what: &str, elapsed: Duration, edits: usize) {
    println!(
        "{what}: {:.2} s for {edits} edits, {:.2} µs per edit",
        elapsed.as_secs_f64(),
        us(elapsed) / edits as f64
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(d: &[Duration], p: f64) -> Duration {
    let mut v = d.to_vec();
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn mean(d: &[Duration]) -> Duration {
    d.iter().sum::<Duration>() / d.len() as u32
}
