//! Fixtures shared by the `store` and `memory` benches: what a case and an article look like,
//! their raw-Automerge twins, and large stores built once and cached on disk.
//!
//! A store of 100,000 cases or articles takes minutes to build on a two-core machine, far too
//! long to pay on every run. So each is built once into `target/bench-fixtures/` (or
//! `$DOSSIER_BENCH_FIXTURES`) under a name that carries its size, [`FIXTURE_VERSION`] and the
//! store's schema version, and benches open a copy of it, so a run never changes the cache.
//! Bump [`FIXTURE_VERSION`] whenever a generator here changes what it writes; delete the folder
//! to rebuild everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use dossier::{
    CaseUpdate, Category, DocId, NewArticle, NewCase, Payment, SCHEMA_VERSION, Status, Store,
    StoreOptions,
};
use rusqlite::Connection;

/// Part of every cached fixture's file name: bump it when a generator below changes.
pub const FIXTURE_VERSION: u32 = 1;

pub const MARKETS: [&str; 5] = ["IN-UPI", "BR-PIX", "MX-SPEI", "ES", "EU"];
const RAILS: [&str; 5] = ["upi", "pix", "spei", "sepa", "sepa"];
const CURRENCIES: [&str; 5] = ["INR", "BRL", "MXN", "EUR", "EUR"];
const CATEGORIES: [Category; 4] = [
    Category::FailedPayment,
    Category::Refund,
    Category::ChargebackDispute,
    Category::Other,
];

/// Midnight UTC, 1 June 2026: the fixed clock for fixtures, so SLA math is repeatable.
pub const T0: i64 = 1_780_272_000_000;
pub const HOUR: i64 = 3_600_000;
/// When the case-queue fixture is listed: half of its SLAs are past due by then.
pub const LIST_AT: i64 = T0 + 24 * HOUR;

/// True under `cargo bench`; false when the bench binary runs as a test (`cargo test
/// --benches`), where every size shrinks so the smoke run takes seconds.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub fn clock(at: i64) -> StoreOptions {
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
pub fn new_case(i: usize) -> NewCase {
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
pub fn raw_case(i: usize) -> AutoCommit {
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

pub fn raw_event(doc: &mut AutoCommit, kind: &str, body: &str) {
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

/// Reads what `materialize` reads: root scalars, tags, fields, payment and every event.
pub fn read_case(doc: &Automerge) -> usize {
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
        if let Some(m) = obj_at(&ROOT, map) {
            for k in doc.keys(&m) {
                n += k.len() + doc.get(&m, k.as_str()).unwrap().map_or(0, |_| 1);
            }
        }
    }
    if let Some(pay) = obj_at(&ROOT, "payment") {
        for key in ["rail", "txn_ref", "currency"] {
            n += str_at(&pay, key).map_or(0, |s| s.len());
        }
        n += int_at(&pay, "amount_minor").unwrap_or(0) as usize % 7;
    }
    if let Some(events) = obj_at(&ROOT, "events") {
        for i in 0..doc.length(&events) {
            let ev = doc.get(&events, i).unwrap().unwrap().1;
            for key in ["kind", "body", "visibility", "by"] {
                n += str_at(&ev, key).map_or(0, |s| s.len());
            }
            n += int_at(&ev, "at").unwrap_or(0) as usize % 7;
        }
    }
    n
}

/// A vocabulary whose words are drawn with Zipf's law (weight 1/rank), as words in real text
/// are: a few very common, a long tail of rare ones.
struct Vocab {
    words: Vec<String>,
    /// Cumulative weights, for drawing a rank by binary search.
    cdf: Vec<f64>,
}

/// Words in the tail of each vocabulary after the hand-written head.
const VOCAB: usize = 2_000;

/// English support words by rank. `payment` and `customer` (ranks 1–2) are in nearly every
/// article, `refund` (25) in about a third and `card` (45) in about a fifth, so the query
/// `refund card` matches roughly one article in sixteen.
const EN: [&str; 48] = [
    "payment",
    "customer",
    "account",
    "bank",
    "transfer",
    "merchant",
    "transaction",
    "status",
    "balance",
    "support",
    "order",
    "request",
    "days",
    "amount",
    "check",
    "update",
    "contact",
    "limit",
    "settlement",
    "reversal",
    "delay",
    "fee",
    "failed",
    "receipt",
    "refund",
    "statement",
    "verify",
    "dispute",
    "chargeback",
    "wallet",
    "deposit",
    "withdrawal",
    "pending",
    "confirm",
    "reference",
    "network",
    "branch",
    "currency",
    "invoice",
    "mobile",
    "app",
    "code",
    "notice",
    "review",
    "card",
    "pix",
    "upi",
    "sepa",
];
/// Spanish, rank for rank; `reembolso` is 25th and `tarjeta` 45th, accents included so the
/// tokenizer's diacritic folding does real work.
const ES: [&str; 48] = [
    "pago",
    "cliente",
    "cuenta",
    "banco",
    "transferencia",
    "comercio",
    "transacción",
    "estado",
    "saldo",
    "soporte",
    "pedido",
    "solicitud",
    "días",
    "monto",
    "revisar",
    "actualización",
    "contacto",
    "límite",
    "liquidación",
    "reversión",
    "retraso",
    "comisión",
    "fallido",
    "recibo",
    "reembolso",
    "extracto",
    "verificar",
    "disputa",
    "contracargo",
    "billetera",
    "depósito",
    "retiro",
    "pendiente",
    "confirmar",
    "referencia",
    "red",
    "sucursal",
    "moneda",
    "factura",
    "móvil",
    "aplicación",
    "código",
    "aviso",
    "devolución",
    "tarjeta",
    "pix",
    "spei",
    "sepa",
];
const EN_SYLLABLES: [&str; 16] = [
    "ab", "el", "or", "un", "ist", "ent", "ack", "ing", "ter", "con", "pro", "dis", "mar", "sel",
    "tur", "ver",
];
const ES_SYLLABLES: [&str; 16] = [
    "ma", "ción", "es", "ar", "mén", "que", "ñu", "tra", "do", "re", "lí", "go", "pe", "sa", "mo",
    "bú",
];

impl Vocab {
    /// The head words, then three-syllable made-up words up to [`VOCAB`].
    fn new(head: &[&str], syllables: &[&str; 16]) -> Vocab {
        let mut words: Vec<String> = head.iter().map(|w| w.to_string()).collect();
        let mut i = 0;
        while words.len() < VOCAB {
            words.push(format!(
                "{}{}{}",
                syllables[i % 16],
                syllables[(i / 16) % 16],
                syllables[(i / 256) % 16]
            ));
            i += 1;
        }
        let mut total = 0.0;
        let cdf = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocab { words, cdf }
    }

    /// `n` words drawn by a linear congruential walk seeded with `seed`: deterministic.
    fn text(&self, seed: usize, n: usize) -> String {
        let total = self.cdf[self.cdf.len() - 1];
        let mut x = (seed as u64).wrapping_mul(6_364_136_223_846_793_005) ^ 0x9e37_79b9_7f4a_7c15;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 * total;
            let rank = self
                .cdf
                .partition_point(|c| *c < u)
                .min(self.words.len() - 1);
            out.push(self.words[rank].as_str());
        }
        out.join(" ")
    }
}

fn vocabs() -> &'static (Vocab, Vocab) {
    static V: OnceLock<(Vocab, Vocab)> = OnceLock::new();
    V.get_or_init(|| {
        (
            Vocab::new(&EN, &EN_SYLLABLES),
            Vocab::new(&ES, &ES_SYLLABLES),
        )
    })
}

/// An article in English and Spanish: a four-word title and an 80-word body per language.
pub fn new_article(i: usize) -> NewArticle {
    let (en, es) = vocabs();
    NewArticle {
        title: BTreeMap::from([
            (
                "en".to_string(),
                format!("How to {} {i}", en.text(2 * i, 4)),
            ),
            ("es".to_string(), format!("Cómo {} {i}", es.text(2 * i, 4))),
        ]),
        body: BTreeMap::from([
            ("en".to_string(), en.text(2 * i + 1, 80)),
            ("es".to_string(), es.text(2 * i + 1, 80)),
        ]),
        markets: vec![MARKETS[i % MARKETS.len()].into()],
        ..Default::default()
    }
}

/// Where cached fixtures live: `$DOSSIER_BENCH_FIXTURES`, else `bench-fixtures/` in the target
/// folder this bench binary was built into (`<target>/<profile>/deps/<bench>-<hash>`).
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOSSIER_BENCH_FIXTURES") {
        return dir.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("bench-fixtures")
}

/// The cached fixture `name` of `size` documents, built by `build` into a scratch file first if
/// it is not cached yet (then renamed, so an interrupted build never leaves a half fixture).
fn cached(name: &str, size: usize, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{name}-{size}-f{FIXTURE_VERSION}-s{SCHEMA_VERSION}.db"
    ));
    if path.exists() {
        eprintln!("fixture {}: cached", path.display());
        return path;
    }
    let scratch = dir.join(format!("{name}-{size}.building-{}", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", scratch.display()));
    }
    let started = Instant::now();
    build(&scratch);
    // One self-contained file: leaving WAL mode folds the log into it, so copying the file
    // alone copies the whole store.
    let conn = Connection::open(&scratch).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    drop(conn);
    std::fs::rename(&scratch, &path).unwrap();
    eprintln!(
        "fixture {}: built in {:.1?}",
        path.display(),
        started.elapsed()
    );
    path
}

/// A copy of a cached fixture in `dir`, for a bench to open and change freely.
pub fn copy_into(fixture: &Path, dir: &Path) -> PathBuf {
    let to = dir.join(fixture.file_name().unwrap());
    std::fs::copy(fixture, &to).unwrap();
    to
}

/// Creates `n` cases with the fastest public path: `create_cases`, 500 per transaction.
fn create_all(store: &Store, n: usize) -> Vec<DocId> {
    let started = Instant::now();
    let cases: Vec<NewCase> = (0..n).map(new_case).collect();
    let mut ids = Vec::with_capacity(n);
    for chunk in cases.chunks(500) {
        ids.extend(store.create_cases(chunk).unwrap());
    }
    eprintln!("  {n} cases created in {:.1?}", started.elapsed());
    ids
}

/// A store of `n` new cases (what the update workload edits).
pub fn case_store(n: usize) -> PathBuf {
    cached("cases", n, |path| {
        let store = Store::open(path, clock(T0)).unwrap();
        create_all(&store, n);
    })
}

/// A queue of `n` cases: one in 25 opened with a `first_response` SLA, half of those due one
/// hour after [`T0`] (breached at [`LIST_AT`]) and half due a hundred hours after.
pub fn queue_store(n: usize) -> PathBuf {
    cached("case-queue", n, |path| {
        let store = Store::open(path, clock(T0)).unwrap();
        let ids = create_all(&store, n);
        let started = Instant::now();
        // The API has no batch edit, so one transaction per edit.
        let mut opened = 0;
        for (k, id) in ids.iter().step_by(25).enumerate() {
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
            let due = if k % 2 == 0 {
                T0 + HOUR
            } else {
                T0 + 100 * HOUR
            };
            store.set_sla(&key, "first_response", due).unwrap();
            opened += 1;
        }
        eprintln!(
            "  {opened} of them opened with an SLA in {:.1?}",
            started.elapsed()
        );
    })
}

/// A knowledge base of `n` articles, each in English and Spanish (`create_articles`, 500 per
/// transaction).
pub fn article_store(n: usize) -> PathBuf {
    cached("articles", n, |path| {
        let store = Store::open(path, clock(T0)).unwrap();
        let articles: Vec<NewArticle> = (0..n).map(new_article).collect();
        for chunk in articles.chunks(500) {
            store.create_articles(chunk).unwrap();
        }
    })
}

/// A `cases` projection row as the raw-SQLite baselines read it: id, number, market, site,
/// status, priority, category, subject, assignee, created_at, updated_at, sla_due_at.
pub type CaseRow = (
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

/// Runs `sql` (selecting the [`CaseRow`] columns in order) and reads every row.
pub fn case_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Vec<CaseRow> {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    stmt.query_map(args, |r| {
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
    .unwrap()
}
