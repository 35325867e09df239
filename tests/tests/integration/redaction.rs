//! Card data never reaches the file: every write path redacts, and incoming changes that carry
//! a card number are refused whole.

use std::collections::BTreeMap;

use dossier::{CaseUpdate, Category, NewArticle, NewCase, Payment};
use dossier_tests::{
    Cards, TestClock, UPI_SOP, digit_runs, luhn_complete, open_site, plant_card_in_history,
    raw_bytes_contain, store_files,
};

/// Luhn-valid numbers of many brands, with how customers type them.
fn pasted_cards() -> Vec<(String, String)> {
    let raw = vec![
        "4111111111111111".to_string(), // Visa
        "5555555555554444".to_string(), // Mastercard
        "2223003122003222".to_string(), // Mastercard 2-series
        "378282246310005".to_string(),  // Amex, 15 digits
        "6011111111111117".to_string(), // Discover
        "3530111333300000".to_string(), // JCB
        luhn_complete("675964", 19, 7), // Maestro, 19 digits
        luhn_complete("4929", 16, 3),   // another Visa
    ];
    let mut out = Vec::new();
    for (i, n) in raw.into_iter().enumerate() {
        let typed = match i % 3 {
            0 => n.clone(),
            1 => n
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join(" "),
            _ => n
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join("-"),
        };
        out.push((n, typed));
    }
    out
}

#[test]
fn pasted_card_numbers_never_reach_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "MX1", "lucia", &clock);
    let db = dir.path().join("MX1.db");
    let cards = pasted_cards();
    for (i, (_, typed)) in cards.iter().enumerate() {
        let mut new = NewCase::new(
            "ES",
            Category::ChargebackDispute,
            &format!("Cargo desconocido tarjeta {typed}"),
        );
        new.description = Some(format!(
            "El cliente pegó su tarjeta {typed} y el CVV: 123 en el chat"
        ));
        new.fields = BTreeMap::from([(format!("card_note_{i}"), format!("numero {typed}"))]);
        new.tags = vec![format!("t{i}")];
        let case = store.create_case(new).unwrap();
        assert!(!case.subject.contains(typed.as_str()));
        assert!(
            case.events.iter().any(|e| e.kind == "redaction"),
            "redaction events recorded"
        );
        assert!(
            case.events.iter().all(|e| !e.body.contains(typed.as_str())),
            "a redaction event never holds the value"
        );
        store
            .add_note(
                &case.number,
                &format!("Cliente repite: {typed} cvc 999"),
                false,
            )
            .unwrap();
        store
            .update_case(
                &case.number,
                CaseUpdate {
                    fields: BTreeMap::from([("pasted".to_string(), Some(typed.clone()))]),
                    payment: Some(Payment {
                        network_ref: Some(typed.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    store
        .create_article(NewArticle {
            title: [("en".to_string(), format!("Test card {}", cards[0].1))].into(),
            body: [("en".to_string(), format!("Never ask for {}", cards[1].1))].into(),
            ..Default::default()
        })
        .unwrap();
    drop(store);
    for (plain, typed) in &cards {
        assert!(!raw_bytes_contain(&db, plain), "{plain} found in the file");
        assert!(!raw_bytes_contain(&db, typed), "{typed} found in the file");
    }
    assert!(!raw_bytes_contain(&db, "CVV: 123"));
    assert!(!raw_bytes_contain(&db, "cvc 999"));
}

#[test]
fn phone_numbers_urls_and_rail_references_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "MX1", "lucia", &clock);
    let mut new = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Call me on +91 98765 43210",
    );
    new.description =
        Some("Receipt at https://pay.example.com/r/4111111111111111 order 4111111111111112".into());
    new.payment = Some(Payment {
        rail: Some("upi".into()),
        // A 12-digit RRN whose digits happen to pass Luhn with a Maestro prefix.
        txn_ref: Some(luhn_complete("61", 12, 4)),
        ..Default::default()
    });
    let case = store.create_case(new).unwrap();
    assert_eq!(case.subject, "Call me on +91 98765 43210");
    assert!(
        case.description
            .as_deref()
            .unwrap()
            .contains("https://pay.example.com/r/4111111111111111")
    );
    assert!(
        case.description
            .as_deref()
            .unwrap()
            .contains("4111111111111112")
    );
    assert_eq!(case.payment.txn_ref, Some(luhn_complete("61", 12, 4)));
    assert!(case.events.iter().all(|e| e.kind != "redaction"));

    // The same RRN reaches another site intact: ingress accepts rail references.
    let other = open_site(dir.path(), "BLR2", "priya", &clock);
    other.pull_from(&store).unwrap();
    assert_eq!(
        other.case(&case.number).unwrap().payment.txn_ref,
        Some(luhn_complete("61", 12, 4))
    );
}

#[test]
fn incoming_changes_carrying_a_card_number_are_refused_and_nothing_is_stored() {
    // A hostile or outdated peer writes straight into an Automerge document, bypassing the
    // redactor, and ships the change.
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ROOT};

    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let case = a
        .create_case(NewCase::new(
            "IN-UPI",
            Category::FailedPayment,
            "Money debited",
        ))
        .unwrap();
    let pack = a.changes_since(&case.id, &[]).unwrap();
    b.apply_changes(&pack).unwrap();

    // Rebuild the document from the pack to forge a follow-up change.
    let mut doc = Automerge::new().with_actor(ActorId::random());
    doc.load_incremental(&extract_changes(&pack)).unwrap();
    let mut tx = doc.transaction();
    tx.put(ROOT, "subject", "card 4111 1111 1111 1111").unwrap();
    tx.commit();
    let change = doc.get_last_local_change().unwrap();
    let forged = repack(&pack, &[change.raw_bytes().to_vec()]);

    let before = b.heads(&case.id).unwrap();
    let err = b.apply_changes(&forged).unwrap_err();
    assert!(matches!(err, dossier::Error::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("card number"), "{err}");
    assert!(
        !err.to_string().contains("4111"),
        "the error never echoes the value"
    );
    assert_eq!(b.heads(&case.id).unwrap(), before);
    assert_eq!(b.case(&case.number).unwrap().subject, "Money debited");
    drop(b);
    assert!(!raw_bytes_contain(
        &dir.path().join("BLR2.db"),
        "4111 1111 1111 1111"
    ));

    // Typed one character at a time into a text object: still caught.
    let mut tx = doc.transaction();
    let t = tx
        .put_object(ROOT, "description", automerge::ObjType::Text)
        .unwrap();
    for (i, ch) in "5555555555554444".chars().enumerate() {
        tx.splice_text(&t, i, 0, &ch.to_string()).unwrap();
    }
    tx.commit();
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&b.heads(&case.id).unwrap())
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let err = b.apply_changes(&repack(&pack, &changes)).unwrap_err();
    assert!(matches!(err, dossier::Error::Rejected { .. }), "{err}");
}

/// Concatenated change bytes of a pack (Automerge loads them incrementally).
fn extract_changes(pack: &[u8]) -> Vec<u8> {
    let mut rest = &pack[4 + 1 + 16..];
    let count = u32::from_be_bytes(rest[..4].try_into().unwrap());
    rest = &rest[4..];
    let mut out = Vec::new();
    for _ in 0..count {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        out.extend_from_slice(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    out
}

/// A pack for the same document holding `changes`.
fn repack(pack: &[u8], changes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = pack[..4 + 1 + 16].to_vec();
    out.extend_from_slice(&(changes.len() as u32).to_be_bytes());
    for c in changes {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

/// Every public `Store` function that takes text, read from the crate's own source: each
/// `pub fn` in an `impl Store` block whose parameters carry a string, a byte buffer or a record
/// with strings in it. Reading the source (not a list kept here) is what makes a new entry point
/// fail [`every_public_write_entry_point_redacts_every_text_parameter`] until it is driven.
fn store_functions_taking_text() -> BTreeMap<String, String> {
    const TEXT_TYPES: &[&str] = &[
        "&str",
        "String",
        "NewCase",
        "CaseUpdate",
        "NewArticle",
        "SopDefinition",
        "Node",
        "PluginManifest",
        "PluginPackage",
        "Action",
        "[u8]",
        "Vec<u8>",
        "StoreOptions",
        "Scope",
        "&Store",
        "Splice",
    ];
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
    let mut files = Vec::new();
    let mut dirs = vec![src];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (mut depth, mut impl_depth) = (0i64, None::<i64>);
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if impl_depth.is_none() && t.starts_with("impl Store {") {
                impl_depth = Some(depth);
            }
            if let Some(d) = impl_depth
                && depth == d + 1
                && t.starts_with("pub fn ")
            {
                let mut sig = t.to_string();
                let mut j = i;
                while !sig.contains('{') && j + 1 < lines.len() {
                    j += 1;
                    sig.push_str(lines[j].trim());
                }
                let name = sig["pub fn ".len()..]
                    .split(['(', '<'])
                    .next()
                    .unwrap()
                    .to_string();
                // The parameter list: from the first `(` to its matching `)`.
                let open = sig.find('(').unwrap_or(sig.len());
                let mut level = 0;
                let mut end = sig.len();
                for (k, c) in sig[open..].char_indices() {
                    level += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    if level == 0 {
                        end = open + k;
                        break;
                    }
                }
                let params = sig.get(open..end).unwrap_or("");
                if TEXT_TYPES.iter().any(|t| params.contains(t)) {
                    out.insert(name, f.display().to_string());
                }
            }
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if impl_depth.is_some_and(|d| depth <= d) {
                impl_depth = None;
            }
        }
    }
    out
}

/// Functions that take text but store none of it: lookups, searches, dry walks, exports, and
/// deletes by key. Everything else that takes text must be driven below.
const STORE_NO_TEXT: &[&str] = &[
    "resolve_case",
    "case",
    "case_at",
    "search_articles",
    "plugin",
    "active_plugins",
    "plugin_code",
    "walk_sop",
    "export_bundle",
    "peer",
    "remove_peer",
];

/// Every string and map key of every change of every document in the file, decoded with
/// automerge itself (not with the code under test), plus each change message.
fn every_change_string(db: &std::path::Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut docs = conn.prepare("SELECT id, snapshot FROM docs").unwrap();
    let rows: Vec<(String, Vec<u8>)> = docs
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for (id, snapshot) in rows {
        let mut doc = automerge::Automerge::load(&snapshot).unwrap();
        let mut changes = conn
            .prepare("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
            .unwrap();
        let pending: Vec<Vec<u8>> = changes
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for bytes in pending {
            doc.load_incremental(&bytes).unwrap();
        }
        for change in doc.get_changes(&[]) {
            let decoded = change.decode();
            out.extend(decoded.message.clone());
            let mut run = String::new();
            for op in &decoded.operations {
                if let automerge::legacy::Key::Map(k) = &op.key {
                    out.push(k.to_string());
                }
                match &op.action {
                    automerge::legacy::OpType::Put(automerge::ScalarValue::Str(s)) => {
                        run.push_str(s);
                        out.push(s.to_string());
                    }
                    _ => out.push(std::mem::take(&mut run)),
                }
            }
            out.push(run);
        }
    }
    out
}

#[test]
fn every_public_write_entry_point_redacts_every_text_parameter() {
    use dossier::plugin::{Action, PluginManifest, PluginRef, Trigger};
    use dossier::sop::SopDefinition;
    use dossier::{Dispute, Store, StoreOptions};

    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mut cards = Cards::default();
    let mut driven = std::collections::BTreeSet::new();
    let db = dir.path().join("MX1.db");

    // open: the author goes into every change message and event.
    let author = cards.text("open: author");
    let store = Store::open(
        &db,
        StoreOptions {
            site: Some("MX1".into()),
            author: Some(author),
            clock: Some(clock.clock()),
            ..Default::default()
        },
    )
    .unwrap();
    let site_card = format!("A{}", luhn_complete("37828224631", 15, 0));
    assert!(
        Store::open(
            dir.path().join("other.db"),
            StoreOptions {
                site: Some(site_card),
                ..Default::default()
            }
        )
        .is_err(),
        "a site id that carries a card number is refused"
    );
    driven.insert("open");

    let full_case = |cards: &mut Cards, label: &str| {
        let mut new = NewCase::new("ES", Category::ChargebackDispute, &cards.text(label));
        new.description = Some(cards.text(label));
        new.locale = Some(cards.token(label));
        new.channel = Some(cards.token(label));
        new.assignee = Some(cards.text(label));
        new.subcategory = Some(cards.token(label));
        new.tags = vec![cards.token(label)];
        new.fields = BTreeMap::from([(cards.token(label), cards.text(label))]);
        new.payment = Some(Payment {
            rail: Some(cards.token(label)),
            txn_ref: Some(cards.text(label)),
            network_ref: Some(cards.token(label)),
            currency: Some(cards.token(label)),
            card: Some(dossier::case::Card {
                brand: Some(cards.token(label)),
                bin: Some(cards.token(label)),
                last4: Some(cards.token(label)),
            }),
            ..Default::default()
        });
        new.dispute = Some(Dispute {
            network: Some(cards.token(label)),
            reason_code: Some(cards.token(label)),
            stage: Some(cards.token(label)),
            ..Default::default()
        });
        new
    };
    // Each record field is tried on its own too, so a field whose validation refuses a card
    // number does not hide the others.
    let case = store.create_case(full_case(&mut cards, "create_case")).ok();
    let case = match case {
        Some(c) => c,
        None => {
            let mut plain = NewCase::new(
                "ES",
                Category::ChargebackDispute,
                &cards.text("create_case: subject"),
            );
            plain.description = Some(cards.text("create_case: description"));
            plain.assignee = Some(cards.text("create_case: assignee"));
            plain.fields = BTreeMap::from([(
                cards.token("create_case: field name"),
                cards.text("create_case: field value"),
            )]);
            plain.tags = vec![cards.token("create_case: tag")];
            store.create_case(plain).unwrap()
        }
    };
    driven.insert("create_case");
    let _ = store.create_cases(&[full_case(&mut cards, "create_cases")]);
    let mut plain = NewCase::new("ES", Category::Fraud, &cards.text("create_cases: subject"));
    plain.description = Some(cards.text("create_cases: description"));
    store.create_cases(&[plain]).unwrap();
    driven.insert("create_cases");

    let update = |cards: &mut Cards| CaseUpdate {
        assignee: Some(Some(cards.text("update_case: assignee"))),
        subcategory: Some(cards.token("update_case: subcategory")),
        root_cause: Some(cards.token("update_case: root_cause")),
        add_tags: vec![cards.token("update_case: add tag")],
        remove_tags: vec![cards.token("update_case: remove tag")],
        fields: BTreeMap::from([(
            cards.token("update_case: field name"),
            Some(cards.text("update_case: field value")),
        )]),
        payment: Some(Payment {
            txn_ref: Some(cards.text("update_case: txn_ref")),
            network_ref: Some(cards.token("update_case: network_ref")),
            ..Default::default()
        }),
        dispute: Some(Dispute {
            reason_code: Some(cards.token("update_case: reason_code")),
            ..Default::default()
        }),
        problem: Some(cards.token("update_case: problem")),
        ..Default::default()
    };
    let _ = store.update_case(&case.number, update(&mut cards));
    let metric = cards.token("update_case: sla metric");
    store
        .update_case(
            &case.number,
            CaseUpdate {
                assignee: Some(Some(cards.text("update_case: assignee alone"))),
                fields: BTreeMap::from([(
                    cards.token("update_case: field name alone"),
                    Some(cards.text("update_case: field value alone")),
                )]),
                note: Some(cards.text("update_case: note")),
                escalate: Some(dossier::EscalateTo {
                    to: "risk".into(),
                    reason: cards.text("update_case: escalation reason"),
                }),
                sla_due: BTreeMap::from([(metric.clone(), 1)]),
                sla_met: vec![metric],
                ..Default::default()
            },
        )
        .unwrap();
    let _ = store.update_case(&cards.token("update_case: key"), CaseUpdate::default());
    driven.insert("update_case");

    store
        .add_note(&case.number, &cards.text("add_note"), true)
        .unwrap();
    let _ = store.add_note(&cards.token("add_note: key"), "x", false);
    driven.insert("add_note");
    let _ = store.escalate(
        &case.number,
        &cards.token("escalate: to"),
        &cards.text("escalate: reason"),
    );
    store
        .escalate(&case.number, "risk", &cards.text("escalate: reason alone"))
        .unwrap();
    driven.insert("escalate");
    let metric = cards.token("set_sla: metric");
    let _ = store.set_sla(&case.number, &metric, 1_000);
    let _ = store.mark_sla_met(&case.number, &metric);
    driven.insert("set_sla");
    let _ = store.mark_sla_met(&case.number, &cards.token("mark_sla_met: metric"));
    driven.insert("mark_sla_met");

    // SOPs: every string of a real definition gets a card number, and card-number keys are
    // added where the format has free keys (locales, action parameters).
    let json = include_str!("../../../core/src/sop/testdata/card_dispute_intake.json");
    let base: SopDefinition = serde_json::from_str(json).unwrap();
    let carded = |cards: &mut Cards, label: &str| {
        let mut def = base.clone();
        def.title = cards.text(label);
        for node in def.nodes.values_mut() {
            for t in node.text.values_mut() {
                t.push_str(&cards.text(label));
            }
            for a in &mut node.answers {
                for l in a.label.values_mut() {
                    l.push_str(&cards.text(label));
                }
            }
            if let Some(action) = &mut node.action {
                action.params.insert(cards.token(label), cards.text(label));
            }
            if let Some(o) = &mut node.outcome {
                o.label.push_str(&cards.text(label));
            }
        }
        for f in &mut def.tests {
            f.name.push_str(&cards.text(label));
        }
        def
    };
    let sop = store.create_sop(&carded(&mut cards, "create_sop")).unwrap();
    driven.insert("create_sop");
    let imported = serde_json::to_string(&carded(&mut cards, "import_sop_json")).unwrap();
    store
        .import_sop_json(&imported, &cards.text("import_sop_json: source name"))
        .unwrap();
    let _ = store.import_sop_json(
        &format!("{{\"title\": \"{}\"", cards.text("import_sop_json: broken")),
        "x.json",
    );
    driven.insert("import_sop_json");
    store
        .update_sop(&sop.id, &carded(&mut cards, "update_sop"))
        .unwrap();
    driven.insert("update_sop");
    let node = base.entry.clone();
    store
        .set_sop_text(
            &sop.id,
            &node,
            &base.master_locale,
            &cards.text("set_sop_text"),
        )
        .unwrap();
    let _ = store.set_sop_text(&sop.id, &node, &cards.token("set_sop_text: locale"), "x");
    let _ = store.set_sop_text(&sop.id, &cards.token("set_sop_text: node"), "en", "x");
    driven.insert("set_sop_text");
    // A pasted card number (one splice), and every text parameter given one.
    store
        .splice_sop_text(
            &sop.id,
            &node,
            &base.master_locale,
            0,
            0,
            &cards.text("splice_sop_text"),
        )
        .unwrap();
    let _ = store.splice_sop_text(
        &sop.id,
        &node,
        &cards.token("splice_sop_text: locale"),
        0,
        0,
        "x",
    );
    let _ = store.splice_sop_text(
        &sop.id,
        &cards.token("splice_sop_text: node"),
        "en",
        0,
        0,
        "x",
    );
    driven.insert("splice_sop_text");
    // In a batch, a number typed one character per splice.
    let typed = cards.next("splice_sop_text_batch");
    let splices: Vec<dossier::Splice> = typed
        .chars()
        .enumerate()
        .map(|(i, c)| dossier::Splice {
            pos: i,
            delete: 0,
            insert: c.to_string(),
        })
        .collect();
    store
        .splice_sop_text_batch(&sop.id, &node, &base.master_locale, &splices)
        .unwrap();
    let _ = store.splice_sop_text_batch(
        &sop.id,
        &node,
        &cards.token("splice_sop_text_batch: locale"),
        &splices,
    );
    let _ = store.splice_sop_text_batch(
        &sop.id,
        &cards.token("splice_sop_text_batch: node"),
        "en",
        &splices,
    );
    driven.insert("splice_sop_text_batch");
    let mut new_node = base.nodes[&node].clone();
    new_node.text.insert(
        cards.token("upsert_sop_node: locale"),
        cards.text("upsert_sop_node: text"),
    );
    let _ = store.upsert_sop_node(&sop.id, &cards.token("upsert_sop_node: id"), &new_node);
    store.upsert_sop_node(&sop.id, &node, &new_node).unwrap();
    driven.insert("upsert_sop_node");
    let _ = store.remove_sop_node(&sop.id, &cards.token("remove_sop_node: id"));
    driven.insert("remove_sop_node");
    let _ = store.record_sop_run(
        &case.number,
        &sop.id,
        &[cards.text("record_sop_run: answer")],
    );
    driven.insert("record_sop_run");
    let _ = store.record_sop_run_with(
        &case.number,
        &sop.id,
        &[cards.text("record_sop_run_with: answer")],
        dossier::sop::SopRunOptions::any_market(),
    );
    driven.insert("record_sop_run_with");

    // Articles.
    let article = |cards: &mut Cards, label: &str| NewArticle {
        title: [
            ("es".to_string(), cards.text(label)),
            (cards.token(label), cards.text(label)),
        ]
        .into(),
        body: [("es".to_string(), cards.text(label))].into(),
        markets: vec![cards.token(label)],
        categories: vec![cards.token(label)],
        related_sops: vec![cards.token(label)],
        ..Default::default()
    };
    let _ = store.create_article(article(&mut cards, "create_article"));
    let a = store
        .create_article(NewArticle {
            title: [("es".to_string(), cards.text("create_article: title"))].into(),
            body: [("es".to_string(), cards.text("create_article: body"))].into(),
            ..Default::default()
        })
        .unwrap();
    driven.insert("create_article");
    let _ = store.create_articles(&[article(&mut cards, "create_articles")]);
    driven.insert("create_articles");
    let json = serde_json::to_string(&[article(&mut cards, "import_articles_json")]).unwrap();
    let _ = store.import_articles_json(&json, &cards.text("import_articles_json: source name"));
    let _ = store.import_articles_json(
        &format!(
            "[{{\"title\": {{\"es\": {}",
            cards.text("import_articles_json: broken")
        ),
        "x.json",
    );
    driven.insert("import_articles_json");
    let line = serde_json::json!({
        "market": "ES",
        "category": "refund",
        "subject": cards.text("import_cases_jsonl: subject"),
    });
    store
        .import_cases_jsonl(
            &format!("{line}\n"),
            &cards.text("import_cases_jsonl: source name"),
        )
        .unwrap();
    let _ = store.import_cases_jsonl(
        &format!(
            "{{\"market\": \"{}\"",
            cards.text("import_cases_jsonl: broken")
        ),
        "x.jsonl",
    );
    driven.insert("import_cases_jsonl");
    store
        .edit_article(
            &a.id,
            "es",
            Some(&cards.text("edit_article: title")),
            Some(&cards.text("edit_article: body")),
        )
        .unwrap();
    let _ = store.edit_article(&a.id, &cards.token("edit_article: locale"), Some("t"), None);
    driven.insert("edit_article");
    for field in [dossier::ArticleField::Title, dossier::ArticleField::Body] {
        store
            .splice_article_text(&a.id, field, "es", 0, 0, &cards.text("splice_article_text"))
            .unwrap();
        let _ = store.splice_article_text(
            &a.id,
            field,
            &cards.token("splice_article_text: locale"),
            0,
            0,
            "x",
        );
    }
    driven.insert("splice_article_text");

    // Plugins: a package with card numbers in its manifest, and every action a plugin can ask
    // for. The match has no wildcard: a new action fails to compile here until it is driven.
    let manifest = |cards: &mut Cards| PluginManifest {
        name: cards.token("sign_plugin: name"),
        version: "1.0.0".into(),
        api: "0.1.0".into(),
        markets: vec![cards.token("sign_plugin: market")],
        triggers: vec![Trigger::CaseCreated],
        description: cards.text("sign_plugin: description"),
        tables: BTreeMap::from([(
            cards.token("sign_plugin: table"),
            BTreeMap::from([(
                cards.token("sign_plugin: table key"),
                cards.text("sign_plugin: table value"),
            )]),
        )]),
    };
    if let Ok(pkg) = store.sign_plugin(manifest(&mut cards), b"\0asm".to_vec()) {
        let _ = store.install_plugin(&pkg);
    }
    let mut ok_manifest = manifest(&mut cards);
    ok_manifest.name = "carded".into();
    ok_manifest.markets = vec!["ES".into()];
    ok_manifest.tables = BTreeMap::from([(
        "t".to_string(),
        BTreeMap::from([("k".to_string(), cards.text("install_plugin: table value"))]),
    )]);
    if let Ok(pkg) = store.sign_plugin(ok_manifest, b"\0asm\x01\0\0\0".to_vec()) {
        let _ = store.install_plugin(&pkg);
    }
    driven.insert("sign_plugin");
    driven.insert("install_plugin");
    // The bytes are machine code the host compiled, not text.
    let _ = store.put_plugin_code(&cards.token("put_plugin_code: sha"), "e", b"\x90");
    let _ = store.put_plugin_code(
        &"ab".repeat(32),
        &cards.text("put_plugin_code: engine"),
        b"\x90",
    );
    driven.insert("put_plugin_code");
    let plugin = PluginRef {
        name: cards.token("apply_plugin_actions: plugin name"),
        version: "1.0.0".into(),
    };
    let every_action = |cards: &mut Cards| {
        let actions = vec![
            Action::SetField {
                name: cards.token("action: set-field name"),
                value: cards.text("action: set-field value"),
            },
            Action::SetField {
                name: "note".into(),
                value: cards.text("action: set-field value alone"),
            },
            Action::AddTag {
                tag: cards.token("action: add-tag"),
            },
            Action::RemoveTag {
                tag: cards.token("action: remove-tag"),
            },
            Action::SetPriority {
                priority: dossier::Priority::High,
            },
            Action::SetStatus {
                status: dossier::Status::Open,
            },
            Action::Escalate {
                to: cards.token("action: escalate to"),
                reason: cards.text("action: escalate reason"),
            },
            Action::SetSlaDeadline {
                metric: cards.token("action: sla metric"),
                due_at: 5,
            },
            Action::RequireField {
                name: cards.token("action: require-field name"),
                reason: cards.text("action: require-field reason"),
            },
            Action::AddNote {
                body: cards.text("action: add-note"),
                public: false,
            },
            Action::Route {
                queue: cards.token("action: route"),
            },
            Action::RefuseSolve {
                reason: cards.text("action: refuse-solve"),
            },
        ];
        for a in &actions {
            match a {
                Action::SetField { .. }
                | Action::AddTag { .. }
                | Action::RemoveTag { .. }
                | Action::SetPriority { .. }
                | Action::SetStatus { .. }
                | Action::Escalate { .. }
                | Action::SetSlaDeadline { .. }
                | Action::RequireField { .. }
                | Action::AddNote { .. }
                | Action::Route { .. }
                | Action::RefuseSolve { .. } => {}
            }
        }
        actions
    };
    // One action at a time (a batch with one refused action applies none), then all at once.
    for action in every_action(&mut cards) {
        let _ = store.apply_plugin_actions(&case.number, &plugin, Trigger::CaseUpdated, &[action]);
    }
    let named = PluginRef {
        name: "carded".into(),
        version: "1.0.0".into(),
    };
    for action in every_action(&mut cards) {
        let _ = store.apply_plugin_actions(&case.number, &named, Trigger::CaseUpdated, &[action]);
    }
    driven.insert("apply_plugin_actions");
    let _ = store.run_plugins(&cards.token("run_plugins: key"), Trigger::SlaCheck);
    driven.insert("run_plugins");

    // Peers and scopes live in SQL tables, outside any document and its redactor.
    let key = store.public_key().unwrap();
    assert!(
        store
            .add_peer(
                &format!("A{}", luhn_complete("37144963539", 15, 0)),
                key,
                vec![]
            )
            .is_err()
    );
    let carded_scope = format!("{}:ro", luhn_complete("4000056", 16, 5));
    assert!(
        carded_scope.parse::<dossier::sync::Scope>().is_err(),
        "a scope market that is a card number is refused"
    );
    driven.insert("add_peer");

    // Ingress from another replica: what it wrote with card numbers arrives redacted.
    let other = open_site(dir.path(), "BLR2", "ana", &clock);
    let mut n = NewCase::new(
        "ES",
        Category::Refund,
        &cards.text("apply_changes: subject"),
    );
    n.fields = BTreeMap::from([(
        cards.token("apply_changes: field name"),
        cards.text("apply_changes: value"),
    )]);
    let remote = other.create_case(n).unwrap();
    let pack = other.changes_since(&remote.id, &[]).unwrap();
    store.apply_changes(&pack).unwrap();
    driven.insert("apply_changes");
    let mut n = NewCase::new("ES", Category::Refund, &cards.text("pull_from: subject"));
    n.description = Some(cards.text("pull_from: description"));
    other.create_case(n).unwrap();
    store.pull_from(&other).unwrap();
    driven.insert("pull_from");
    store
        .add_peer(
            "BLR2",
            other.public_key().unwrap(),
            vec![dossier::sync::Scope::everything()],
        )
        .unwrap();
    other
        .add_peer(
            "MX1",
            store.public_key().unwrap(),
            vec![dossier::sync::Scope::everything()],
        )
        .unwrap();
    other
        .create_case(NewCase::new(
            "ES",
            Category::Refund,
            &cards.text("import_bundle: subject"),
        ))
        .unwrap();
    let bundle = other.export_bundle("MX1").unwrap();
    store.import_bundle(&bundle.bytes).unwrap();
    driven.insert("import_bundle");
    drop(other);

    // Read-only calls with card numbers must not store them either.
    let _ = store.search_articles(&cards.text("search_articles"), Some("es"), 5);
    let _ = store.case(&cards.token("case: key"));
    let _ = store.walk_sop(&sop.id, None, &[cards.text("walk_sop: answer")]);
    let scan = store.scan_card_data().unwrap();
    drop(store);

    // The registry: every function that takes text is either driven above or stores none.
    let found = store_functions_taking_text();
    let mut expected: std::collections::BTreeSet<&str> = driven.iter().copied().collect();
    expected.extend(STORE_NO_TEXT.iter().copied());
    let found_names: std::collections::BTreeSet<&str> = found.keys().map(String::as_str).collect();
    let undriven: Vec<String> = found
        .iter()
        .filter(|(n, _)| !expected.contains(n.as_str()))
        .map(|(n, f)| format!("{n} ({f})"))
        .collect();
    assert!(
        undriven.is_empty(),
        "Store functions that take text but are neither driven with card numbers here nor \
         listed in STORE_NO_TEXT: {undriven:?}"
    );
    let stale: Vec<&&str> = expected
        .iter()
        .filter(|n| !found_names.contains(**n))
        .collect();
    assert!(
        stale.is_empty(),
        "listed here but not in the source any more: {stale:?}"
    );

    // No issued number, in any form, in any file or any change. Digit runs are read once
    // (joined across single spaces and dashes, as numbers are typed), then searched.
    let changes: Vec<String> = every_change_string(&db)
        .iter()
        .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|d| d.len() >= 12)
        .collect();
    let mut file_runs = Vec::new();
    for p in store_files(&db) {
        file_runs.extend(digit_runs(&std::fs::read(p).unwrap()));
    }
    let mut leaks = Vec::new();
    for (digits, _, label) in &cards.issued {
        let in_changes = changes.iter().any(|d| d.contains(digits.as_str()));
        let in_files = file_runs.iter().any(|d| d.contains(digits.as_str()));
        if in_changes || in_files {
            leaks.push(format!(
                "{label} (changes: {in_changes}, files: {in_files})"
            ));
        }
    }
    assert!(leaks.is_empty(), "card numbers stored through: {leaks:#?}");
    assert!(
        scan.is_clean(),
        "the store's own scan agrees: {:?}",
        scan.findings
    );
    assert!(
        cards.issued.len() > 100,
        "{} numbers tried",
        cards.issued.len()
    );
}

#[test]
fn the_card_data_scan_names_where_an_old_store_holds_card_numbers_without_repeating_them() {
    use dossier::doctor::CardDataPlace;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "MX1", "lucia", &clock);
    let db = dir.path().join("MX1.db");
    let mut new = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Debited 4111 1111 1111 1111",
    );
    // A UPI RRN that happens to pass Luhn is the payment's own reference, not a card.
    new.payment = Some(Payment {
        rail: Some("upi".into()),
        txn_ref: Some("500000000009".into()),
        ..Default::default()
    });
    let case = store.create_case(new).unwrap();
    let clean = store.scan_card_data().unwrap();
    assert!(clean.is_clean(), "{:?}", clean.findings);
    assert!(clean.documents >= 1 && clean.changes >= 1 && clean.file_bytes > 0);
    drop(store);

    plant_card_in_history(&db, &case.number, "5555555555554444");
    let store = open_site(dir.path(), "MX1", "lucia", &clock);
    let scan = store.scan_card_data().unwrap();
    let in_history: Vec<_> = scan
        .findings
        .iter()
        .filter_map(|f| match &f.place {
            CardDataPlace::History {
                label, field, doc, ..
            } => Some((label.clone(), field.clone(), *doc, f.brand.clone())),
            CardDataPlace::File { .. } => None,
        })
        .collect();
    assert!(
        in_history
            .iter()
            .any(|(label, field, doc, brand)| label.as_deref()
                == Some(format!("case {}", case.number).as_str())
                && field == "key"
                && *doc == case.id
                && brand.as_deref() == Some("mastercard")),
        "{in_history:?}"
    );
    assert!(
        in_history.iter().any(|(_, field, _, _)| field == "note"),
        "{in_history:?}"
    );
    let shown = serde_json::to_string(&scan).unwrap();
    assert!(!shown.contains("5555555555554444"), "{shown}");
    assert!(!shown.contains("500000000009"));
}

#[cfg(unix)]
#[test]
fn store_files_are_private_and_a_store_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "MX1", "lucia", &clock);
    store
        .create_case(NewCase::new("ES", Category::Refund, "x"))
        .unwrap();
    let db = dir.path().join("MX1.db");
    let files = store_files(&db);
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(store);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(open_site(dir.path(), "MX1", "lucia", &clock));
    assert_eq!(
        mode(&db),
        0o600,
        "a world-readable store is made private at open"
    );
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = dossier::Store::open(&db, dossier::StoreOptions::default()).unwrap_err();
    assert!(matches!(err, dossier::Error::InsecureFile { .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

/// Every document of the file as automerge itself loads it (snapshot plus pending changes).
fn load_every_doc(db: &std::path::Path) -> Vec<automerge::Automerge> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut docs = conn.prepare("SELECT id, snapshot FROM docs").unwrap();
    let rows: Vec<(String, Vec<u8>)> = docs
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.into_iter()
        .map(|(id, snapshot)| {
            let mut doc = automerge::Automerge::load(&snapshot).unwrap();
            let mut changes = conn
                .prepare("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
                .unwrap();
            let pending: Vec<Vec<u8>> = changes
                .query_map([&id], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for bytes in pending {
                doc.load_incremental(&bytes).unwrap();
            }
            doc
        })
        .collect()
}

/// Every text object of `doc` as it was after each change of its history.
fn every_text_version(doc: &automerge::Automerge) -> Vec<String> {
    use automerge::{ObjType, ReadDoc, Value};
    fn walk(
        doc: &automerge::Automerge,
        obj: &automerge::ObjId,
        heads: &[automerge::ChangeHash],
        out: &mut Vec<String>,
    ) {
        let props: Vec<automerge::Prop> = match doc.object_type(obj) {
            Ok(ObjType::Map) => doc.keys_at(obj, heads).map(Into::into).collect(),
            Ok(ObjType::List) => (0..doc.length_at(obj, heads)).map(Into::into).collect(),
            _ => Vec::new(),
        };
        for p in props {
            if let Ok(Some((Value::Object(t), id))) = doc.get_at(obj, p, heads) {
                if t == ObjType::Text {
                    out.push(doc.text_at(&id, heads).unwrap());
                } else {
                    walk(doc, &id, heads, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for change in doc.get_changes(&[]) {
        walk(doc, &automerge::ROOT, &[change.hash()], &mut out);
    }
    out
}

#[test]
fn a_card_number_typed_one_character_at_a_time_through_splices_is_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "IN1", "priya", &clock);
    let sop = store.import_sop_json(UPI_SOP, "upi.json").unwrap();
    let node = "start";
    let text =
        |s: &dossier::Store| s.sop(&sop.id).unwrap().definition.nodes[node].text["en"].clone();
    // Like an editor: the cursor follows the text, which shrinks when a run is masked.
    let type_at = |at: usize, typed: &str| {
        let mut cursor = at;
        let mut len = text(&store).chars().count() as u64;
        for c in typed.chars() {
            let e = store
                .splice_sop_text(&sop.id, node, "en", cursor, 0, &c.to_string())
                .unwrap();
            cursor = (cursor as i64 + e.length as i64 - len as i64) as usize;
            len = e.length;
        }
    };
    // In the middle of a sentence: "Was the |customer's account debited?"
    type_at(8, "4111 1111 1111 1111 ");
    assert!(
        text(&store).contains("411111******1111 customer"),
        "{}",
        text(&store)
    );
    // Appended, one key at a time, after digits already in the text.
    let end = text(&store).chars().count();
    type_at(end, " Amex 3782 822463");
    let end = text(&store).chars().count();
    type_at(end, " 10005");
    assert!(!text(&store).contains("10005"), "{}", text(&store));
    // Typed in front of digits already in the text (the window reaches to the right too).
    let t = text(&store);
    let at = t.chars().count();
    type_at(at, " ref 1111 1111 1111");
    type_at(at + 5, "5555 5555 5555 4444 ");
    let t = text(&store);
    assert!(!dossier::redact::contains_sensitive(&t), "{t}");
    // A delete that joins two runs into a card number is judged like an insert.
    let at = text(&store).chars().count();
    type_at(at, " 4111 1111 1111 111.1");
    assert!(text(&store).ends_with(" 4111 1111 1111 111.1"));
    let edit = store
        .splice_sop_text(&sop.id, node, "en", at + 19, 1, "")
        .unwrap();
    assert!(edit.redacted);
    assert!(
        text(&store).ends_with(" 411111******1111"),
        "{}",
        text(&store)
    );

    // Whole deletes of the masked runs keep working; the article body takes the same path.
    let article = store
        .create_article(NewArticle {
            title: [("es".to_string(), "Reembolsos".to_string())].into(),
            body: [("es".to_string(), "Tarjeta: ".to_string())].into(),
            ..Default::default()
        })
        .unwrap();
    for (i, c) in "3782-822463-10005".chars().enumerate() {
        store
            .splice_article_text(
                &article.id,
                dossier::ArticleField::Body,
                "es",
                9 + i,
                0,
                &c.to_string(),
            )
            .unwrap();
    }
    let body = store.article(&article.id).unwrap().body["es"].clone();
    assert!(body.starts_with("Tarjeta: 378282*****0005"), "{body}");
    drop(store);

    let cards = ["4111111111111111", "378282246310005", "5555555555554444"];
    // Not in any version of any text the document ever had...
    let db = dir.path().join("IN1.db");
    for doc in load_every_doc(&db) {
        for version in every_text_version(&doc) {
            let runs = digit_runs(version.as_bytes());
            assert!(
                !dossier::redact::contains_sensitive(&version),
                "a version held card data: {version}"
            );
            for card in cards {
                assert!(!runs.iter().any(|r| r.contains(card)), "{version}");
            }
        }
        // ...nor in the saved document, deleted characters included...
        let runs = digit_runs(&doc.save_nocompress());
        for card in cards {
            assert!(!runs.iter().any(|r| r.contains(card)), "{runs:?}");
        }
    }
    // ...nor in the database files.
    let mut runs = Vec::new();
    for f in store_files(&db) {
        runs.extend(digit_runs(&std::fs::read(f).unwrap()));
    }
    for card in cards {
        assert!(!runs.iter().any(|r| r.contains(card)), "{card} in {runs:?}");
    }
    let store = open_site(dir.path(), "IN1", "priya", &clock);
    assert!(store.scan_card_data().unwrap().is_clean());
    assert!(store.check_integrity().unwrap().is_empty());
}
