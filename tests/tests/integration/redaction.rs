//! Card data never reaches the file: every write path redacts, and incoming changes that carry
//! a card number are refused whole.

use std::collections::BTreeMap;

use dossier::{CaseUpdate, Category, NewArticle, NewCase, Payment};
use dossier_tests::{TestClock, luhn_complete, open_site, raw_bytes_contain};

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
