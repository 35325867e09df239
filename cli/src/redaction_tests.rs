//! Every flag and argument of every command, given card numbers, stores none of them.
//!
//! The commands and their arguments are read from the clap definitions themselves, so a command
//! or flag added later is driven here without anyone listing it; a new command fails the test
//! until it has base arguments below (or a reason it stores nothing). Each value gets its own
//! Luhn-valid number, so a leak names the flag that let it through. Import files carry card
//! numbers in every field, keys included.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{CommandFactory, Parser};
use dossier_tests::{Cards, digit_runs};

use super::{Cli, run};

/// Commands that store no text from their arguments, and why.
const STORES_NOTHING: &[(&str, &str)] = &[
    (
        "serve",
        "runs the hub until stopped; what it stores arrives by sync (core's ingress tests)",
    ),
    (
        "sync",
        "exchanges documents; bundles and sessions go through core's ingress, tested there",
    ),
    (
        "demo",
        "works in a temporary directory of its own, on fixed data",
    ),
];

/// A valid invocation of each command: argument id → value. Positionals are given in their
/// order; everything else as `--long value`.
fn base_args(files: &Path) -> BTreeMap<&'static str, Vec<(&'static str, String)>> {
    let f = |name: &str| files.join(name).display().to_string();
    let s = |v: &str| v.to_string();
    BTreeMap::from([
        ("init", vec![("site", s("MX1"))]),
        (
            "case new",
            vec![
                ("market", s("ES")),
                ("category", s("refund")),
                ("subject", s("Refund not received")),
            ],
        ),
        ("case list", vec![]),
        ("case show", vec![("id", s("MX1-1"))]),
        ("case update", vec![("id", s("MX1-1"))]),
        ("case note", vec![("id", s("MX1-1")), ("text", s("called"))]),
        (
            "case escalate",
            vec![("id", s("MX1-1")), ("to", s("risk")), ("reason", s("why"))],
        ),
        (
            "case sla",
            vec![
                ("id", s("MX1-1")),
                ("metric", s("first_reply")),
                ("due", s("+4h")),
            ],
        ),
        ("case import", vec![("file", f("cases.jsonl"))]),
        ("sop import", vec![("file", f("sop.json"))]),
        ("sop list", vec![]),
        ("sop show", vec![("id", s("SOP"))]),
        ("sop validate", vec![("id", s("SOP"))]),
        ("sop submit", vec![("id", s("SOP"))]),
        ("sop publish", vec![("id", s("SOP"))]),
        ("sop retire", vec![("id", s("SOP2"))]),
        (
            "sop edit",
            vec![("id", s("SOP")), ("node", s("start")), ("text", s("Hello"))],
        ),
        (
            "sop run",
            vec![("id", s("SOP")), ("answer", s("Yes")), ("case", s("MX1-1"))],
        ),
        (
            "sop splice",
            vec![
                ("id", s("SOP")),
                ("node", s("inicio")),
                ("locale", s("es")),
                ("at", s("0")),
                ("insert", s("Hola ")),
            ],
        ),
        ("kb add", vec![("file", f("articles.json"))]),
        ("kb search", vec![("query", s("reembolso"))]),
        ("kb show", vec![("id", s("ARTICLE"))]),
        ("kb publish", vec![("id", s("ARTICLE"))]),
        ("kb verify", vec![("id", s("ARTICLE"))]),
        ("kb due", vec![]),
        (
            "kb splice",
            vec![
                ("id", s("ARTICLE")),
                ("field", s("body")),
                ("locale", s("es")),
                ("at", s("0")),
                ("insert", s("Nota: ")),
            ],
        ),
        (
            "peer add",
            vec![("site", s("BLR2")), ("key", s("KEY")), ("scope", s("ES"))],
        ),
        ("peer list", vec![]),
        ("key show", vec![]),
        ("plugin install", vec![("file", f("plugin.wasm"))]),
        ("plugin list", vec![]),
        (
            "plugin run",
            vec![("name", s("plugin")), ("case", s("MX1-1"))],
        ),
        ("plugin trust", vec![("key", s("KEY"))]),
        ("plugin untrust", vec![("key", s("KEY"))]),
        ("plugin keygen", vec![("out", f("publisher.key"))]),
        ("report", vec![]),
        ("doctor", vec![]),
    ])
}

/// Whether argument `id` of `cmd` names a file or folder.
fn takes_path(cmd: &clap::Command, id: &str) -> bool {
    cmd.get_arguments().any(|a| {
        a.get_id() == id
            && (matches!(
                a.get_value_hint(),
                clap::ValueHint::AnyPath | clap::ValueHint::FilePath | clap::ValueHint::DirPath
            ) || a.get_value_names().is_some_and(|names| {
                names.iter().any(|n| {
                    let n = n.as_str();
                    n.contains("FILE") || n.contains("DIR") || n.contains("PATH")
                })
            }))
    })
}

/// Runs one command line in-process; the outcome does not matter, only what gets stored.
fn invoke(args: &[String]) -> Result<(), String> {
    let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    run(cli, &mut out).map_err(|e| format!("{e:#}"))
}

fn json_file(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
}

/// Import files with a card number in every string and every free key.
fn write_import_files(dir: &Path, cards: &mut Cards) {
    let mut c = |l: &str| cards.next(l);
    let case = serde_json::json!({
        "market": "ES", "category": "refund",
        "subject": c("case import: subject"), "description": c("case import: description"),
        "assignee": c("case import: assignee"), "subcategory": c("case import: subcategory"),
        "tags": [c("case import: tag").replace(' ', "-")],
        "fields": { c("case import: field name").replace(' ', "-"): c("case import: field value") },
        "payment": { "rail": "card", "txn_ref": c("case import: txn_ref"),
                     "network_ref": c("case import: network_ref"), "currency": "EUR" },
    });
    std::fs::write(dir.join("cases.jsonl"), format!("{case}\n")).unwrap();
    let plain = serde_json::json!({"market": "ES", "category": "refund",
        "subject": c("case import plain: subject"), "description": c("case import plain: description")});
    std::fs::write(dir.join("cases-plain.jsonl"), format!("{plain}\n")).unwrap();
    let sop = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/src/sop/testdata/card_dispute_intake.json"),
    )
    .unwrap();
    let mut sop: serde_json::Value = serde_json::from_str(&sop).unwrap();
    fn card_every_text(
        v: &mut serde_json::Value,
        key: Option<&str>,
        c: &mut dyn FnMut(&str) -> String,
    ) {
        match v {
            serde_json::Value::String(s) => {
                if matches!(key, Some("text" | "label" | "title" | "name")) {
                    s.push(' ');
                    s.push_str(&c("sop import: text"));
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| card_every_text(x, key, c)),
            serde_json::Value::Object(o) => {
                if key == Some("params") {
                    o.insert(
                        c("sop import: param name").replace(' ', "-"),
                        c("sop import: param").into(),
                    );
                }
                for (k, x) in o.iter_mut() {
                    card_every_text(x, Some(k), c);
                }
            }
            _ => {}
        }
    }
    card_every_text(&mut sop, None, &mut c);
    json_file(&dir.join("sop.json"), &sop);
    let article = serde_json::json!([{
        "title": {"es": c("kb add: title"), c("kb add: locale").replace(' ', "-"): c("kb add: title 2")},
        "body": {"es": c("kb add: body")},
        "markets": ["ES"], "categories": [c("kb add: category").replace(' ', "-")],
    }, {
        "title": {"es": c("kb add plain: title")}, "body": {"es": c("kb add plain: body")},
    }]);
    json_file(&dir.join("articles.json"), &article);
    std::fs::write(dir.join("plugin.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    json_file(
        &dir.join("table.json"),
        &serde_json::json!({ c("plugin install: table key").replace(' ', "-"): c("plugin install: table value") }),
    );
}

#[test]
fn no_flag_argument_or_import_file_of_any_command_stores_a_card_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("site.db");
    let dbs = db.display().to_string();
    let mut cards = Cards::default();
    write_import_files(dir.path(), &mut cards);
    let mut bases = base_args(dir.path());

    // What the base invocations refer to.
    let go = |args: &[&str]| {
        let mut v = vec!["dossier".to_string(), "--db".into(), dbs.clone()];
        v.extend(args.iter().map(|s| s.to_string()));
        invoke(&v)
    };
    go(&["init", "--site", "MX1"]).unwrap();
    go(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "s",
    ])
    .unwrap();
    go(&[
        "case",
        "import",
        &dir.path().join("cases-plain.jsonl").display().to_string(),
    ])
    .unwrap();
    go(&[
        "kb",
        "add",
        &dir.path().join("articles.json").display().to_string(),
    ])
    .ok();
    let store = dossier::Store::open(&db, dossier::StoreOptions::default()).unwrap();
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/sop/testdata");
    let sop = store
        .import_sop_json(
            &std::fs::read_to_string(testdata.join("card_dispute_intake.json")).unwrap(),
            "sop.json",
        )
        .unwrap();
    let sop2 = store
        .import_sop_json(
            &std::fs::read_to_string(testdata.join("upi_debited_not_credited.json")).unwrap(),
            "sop2.json",
        )
        .unwrap();
    let article = store.search_articles("plain", None, 1).unwrap();
    let key = store.public_key().unwrap().to_string();
    let ids = BTreeMap::from([
        ("SOP", sop.id.to_string()),
        ("SOP2", sop2.id.to_string()),
        (
            "ARTICLE",
            article
                .first()
                .map(|a| a.id.to_string())
                .unwrap_or_default(),
        ),
        ("KEY", key),
    ]);
    drop(store);
    for args in bases.values_mut() {
        for (_, v) in args.iter_mut() {
            if let Some(real) = ids.get(v.as_str()) {
                v.clone_from(real);
            }
        }
    }
    let table = format!("t={}", dir.path().join("table.json").display());

    // Every leaf command of the clap tree.
    let mut leaves = Vec::new();
    let mut stack = vec![(Vec::<String>::new(), Cli::command())];
    while let Some((path, cmd)) = stack.pop() {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .cloned()
            .collect();
        if subs.is_empty() && !path.is_empty() {
            leaves.push((path.join(" "), cmd));
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            stack.push((p, s));
        }
    }
    let unknown: Vec<&String> = leaves
        .iter()
        .map(|(p, _)| p)
        .filter(|p| !bases.contains_key(p.as_str()) && !STORES_NOTHING.iter().any(|(n, _)| n == p))
        .collect();
    assert!(
        unknown.is_empty(),
        "commands with neither base arguments here nor a reason they store nothing: {unknown:?}"
    );

    let mut driven = 0;
    for (path, cmd) in &leaves {
        let Some(base) = bases.get(path.as_str()) else {
            continue;
        };
        let args: Vec<_> = cmd
            .get_arguments()
            .filter(|a| !a.is_global_set() && a.get_action().takes_values())
            .filter(|a| !matches!(a.get_id().as_str(), "db" | "help" | "version"))
            .cloned()
            .collect();
        // The command once as given, then once per argument with a card number in it; the
        // `--author` of every change once per command.
        let mut variants: Vec<(Option<String>, String)> = vec![(None, String::new())];
        variants.extend(
            args.iter()
                .map(|a| (Some(a.get_id().to_string()), String::new())),
        );
        for (target, _) in variants {
            let label = format!("{path} {}", target.as_deref().unwrap_or("--author"));
            let mut line = vec!["dossier".to_string(), "--db".into(), dbs.clone()];
            if target.is_none() {
                line.extend(["--author".to_string(), cards.next(&label)]);
            }
            line.extend(path.split(' ').map(str::to_string));
            let mut values: BTreeMap<String, String> = base
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            if let Some(t) = &target {
                let old = values.get(t.as_str()).cloned().unwrap_or_default();
                let value = if old.contains('=') || matches!(t.as_str(), "field" | "add_answer") {
                    format!(
                        "{}={}",
                        cards.next(&label).replace(' ', "-"),
                        cards.next(&label)
                    )
                } else if t == "table" {
                    table.clone()
                } else if old.starts_with(&*dir.path().to_string_lossy()) {
                    old
                } else if takes_path(cmd, t) {
                    // Output files and folders go to the temporary directory, never the
                    // working directory; a card number in a file name is not in the store.
                    dir.path().join(cards.next(&label)).display().to_string()
                } else {
                    cards.next(&label)
                };
                values.insert(t.clone(), value);
            }
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                let Some(v) = values.get(id) else { continue };
                if a.is_positional() {
                    line.push(v.clone());
                } else if let Some(long) = a.get_long() {
                    line.push(format!("--{long}"));
                    line.push(v.clone());
                }
            }
            let _ = invoke(&line);
            driven += 1;
        }
    }
    assert!(driven > 60, "{driven} invocations");

    // Nothing issued is anywhere: not in the file bytes (digit runs joined across spaces and
    // dashes), and not in any change of any document (the store's own full-history scan).
    let mut runs = Vec::new();
    for suffix in ["", "-wal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            runs.extend(digit_runs(&bytes));
        }
    }
    let leaks: Vec<&String> = cards
        .issued
        .iter()
        .filter(|(d, _, _)| runs.iter().any(|r| r.contains(d.as_str())))
        .map(|(_, _, l)| l)
        .collect();
    assert!(
        leaks.is_empty(),
        "card numbers in the store's files, put there by: {leaks:#?}"
    );
    let store = dossier::Store::open(&db, dossier::StoreOptions::default()).unwrap();
    let scan = store.scan_card_data().unwrap();
    assert!(scan.is_clean(), "{:#?}", scan.findings);
    assert!(
        cards.issued.len() > 100,
        "{} numbers tried",
        cards.issued.len()
    );
}
