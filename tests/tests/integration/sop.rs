//! SOP change control: four eyes, published versions read while the draft moves on, walking.

use dossier::sop::parse_json;
use dossier::{Category, NewCase, SopRunOptions, SopStatus};
use dossier_tests::{CARD_SOP, TestClock, UPI_SOP, open_site};

fn inputs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn publishing_needs_review_a_valid_tree_and_a_second_person() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let author = open_site(dir.path(), "MX1", "lucia", &clock);
    let sop = author.import_sop_json(UPI_SOP, "upi.json").unwrap();
    assert_eq!(sop.status, SopStatus::Draft);
    assert!(matches!(
        author.publish_sop(&sop.id),
        Err(dossier::Error::Transition { .. })
    ));
    author.submit_sop(&sop.id).unwrap();
    assert!(matches!(
        author.publish_sop(&sop.id),
        Err(dossier::Error::FourEyes { .. })
    ));
    drop(author);

    let lead = dossier::Store::open(
        dir.path().join("MX1.db"),
        dossier::StoreOptions {
            author: Some("amara".into()),
            clock: Some(clock.clock()),
            ..Default::default()
        },
    )
    .unwrap();
    let published = lead.publish_sop(&sop.id).unwrap();
    assert_eq!(published.status, SopStatus::Published);
    assert_eq!(published.published_version(), Some(1));

    // The lead edits the draft; publishing that edit needs someone other than the lead.
    lead.set_sop_text(
        &sop.id,
        "end_escalated",
        "en",
        "Escalated to the PSP bank; follow up in 2 days.",
    )
    .unwrap();
    assert_eq!(lead.sop(&sop.id).unwrap().status, SopStatus::Draft);
    lead.submit_sop(&sop.id).unwrap();
    assert!(matches!(
        lead.publish_sop(&sop.id),
        Err(dossier::Error::FourEyes { .. })
    ));
}

#[test]
fn agents_walk_the_published_version_while_the_draft_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let author = open_site(dir.path(), "MX1", "lucia", &clock);
    let sop = author.import_sop_json(UPI_SOP, "upi.json").unwrap();
    author.submit_sop(&sop.id).unwrap();
    let lead = open_site(dir.path(), "HUB", "amara", &clock);
    lead.pull_from(&author).unwrap();
    lead.publish_sop(&sop.id).unwrap();
    author.pull_from(&lead).unwrap();

    // The draft changes the P2M threshold and the wording; version 1 is untouched.
    let mut node = author.sop(&sop.id).unwrap().definition.nodes["p2m_age"].clone();
    node.rules[0].when = "days_since_txn <= 3".into();
    author.upsert_sop_node(&sop.id, "p2m_age", &node).unwrap();
    let (v, walk) = author
        .walk_sop(&sop.id, None, &inputs(&["Yes", "P2M", "days_since_txn=4"]))
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(
        walk.end.as_deref(),
        Some("end_wait_p2m"),
        "v1 still waits up to T+5"
    );
    let (_, v1) = author.sop_version(&sop.id, Some(1)).unwrap();
    assert_eq!(v1.nodes["p2m_age"].rules[0].when, "days_since_txn <= 5");
    assert_eq!(
        author.sop(&sop.id).unwrap().definition.nodes["p2m_age"].rules[0].when,
        "days_since_txn <= 3"
    );
}

#[test]
fn a_run_recorded_on_a_case_keeps_path_exit_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let sop = a.import_sop_json(UPI_SOP, "upi.json").unwrap();
    a.submit_sop(&sop.id).unwrap();
    let lead = open_site(dir.path(), "HUB", "amara", &clock);
    lead.pull_from(&a).unwrap();
    lead.publish_sop(&sop.id).unwrap();
    a.pull_from(&lead).unwrap();
    let case = a
        .create_case(NewCase::new(
            "IN-UPI",
            Category::FailedPayment,
            "Money debited",
        ))
        .unwrap();
    let walk = a
        .record_sop_run(
            &case.number,
            &sop.id,
            &inputs(&["yes", "p2m", "days_since_txn=9"]),
        )
        .unwrap();
    assert_eq!(
        walk.path,
        inputs(&[
            "start",
            "type",
            "p2m_age",
            "collect_rrn",
            "raise_psp",
            "end_escalated"
        ])
    );
    a.record_sop_run(&case.number, &sop.id, &inputs(&["Yes"]))
        .unwrap();
    let runs = a.case(&case.number).unwrap().sop_runs;
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].exit_node.as_str(), runs[0].outcome.as_str()),
        ("end_escalated", "unknown")
    );
    assert_eq!(
        (runs[1].exit_node.as_str(), runs[1].outcome.as_str()),
        ("type", "incomplete")
    );
    assert_eq!(runs[0].version, 1);
}

#[test]
fn the_spanish_tree_walks_by_english_labels_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let sop = a.create_sop(&parse_json(CARD_SOP).unwrap()).unwrap();
    assert!(sop.violations.is_empty(), "{:?}", sop.violations);
    let def = &sop.definition;
    let walk = dossier::sop::walk::walk(
        def,
        &inputs(&["si, pero hay un problema", "Cargo duplicado"]),
    )
    .unwrap();
    assert_eq!(walk.end.as_deref(), Some("duplicado"));
}

#[test]
fn invalid_trees_are_refused_at_publish_with_each_node_named() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let mut def = parse_json(UPI_SOP).unwrap();
    def.nodes.get_mut("raise_psp").unwrap().default_next = Some("end_escalatd".into());
    def.nodes.get_mut("end_no_debit").unwrap().text.clear();
    let sop = a.create_sop(&def).unwrap();
    assert!(
        sop.violations
            .iter()
            .any(|v| v.contains("raise_psp") && v.contains("end_escalatd"))
    );
    assert!(sop.violations.iter().any(|v| v.contains("end_no_debit")));
    assert!(
        sop.violations.iter().any(|v| v.contains("end_escalated")),
        "now unreachable"
    );
    a.submit_sop(&sop.id).unwrap();
    let lead = open_site(dir.path(), "HUB", "amara", &clock);
    lead.pull_from(&a).unwrap();
    match lead.publish_sop(&sop.id) {
        Err(dossier::Error::SopInvalid { violations, .. }) => {
            assert_eq!(violations, sop.violations);
        }
        other => panic!("expected SopInvalid, got {other:?}"),
    }
}

#[test]
fn a_run_on_a_case_of_a_market_the_sop_does_not_cover_needs_the_override() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let sop = a.import_sop_json(CARD_SOP, "card.json").unwrap();
    a.submit_sop(&sop.id).unwrap();
    let lead = open_site(dir.path(), "HUB", "amara", &clock);
    lead.pull_from(&a).unwrap();
    lead.publish_sop(&sop.id).unwrap();
    a.pull_from(&lead).unwrap();
    let upi = a
        .create_case(NewCase::new(
            "IN-UPI",
            Category::ChargebackDispute,
            "Unknown charge",
        ))
        .unwrap();

    let refused = a.record_sop_run(&upi.number, &sop.id, &inputs(&["No"]));
    match refused {
        Err(dossier::Error::SopMarket {
            markets,
            case,
            market,
            ..
        }) => {
            assert_eq!(markets, ["ES", "EU"]);
            assert_eq!(
                (case.as_str(), market.as_str()),
                (upi.number.as_str(), "IN-UPI")
            );
        }
        other => panic!("expected SopMarket, got {other:?}"),
    }
    assert_eq!(a.case(&upi.number).unwrap().sop_runs, []);

    a.record_sop_run_with(
        &upi.number,
        &sop.id,
        &inputs(&["No"]),
        SopRunOptions::any_market(),
    )
    .unwrap();
    let case = a.case(&upi.number).unwrap();
    assert_eq!(case.sop_runs.len(), 1);
    let event = case.events.iter().find(|e| e.kind == "sop_run").unwrap();
    assert!(
        event.body.contains("recorded by override"),
        "{}",
        event.body
    );

    // A case of a covered market needs no override.
    let es = a
        .create_case(NewCase::new(
            "ES",
            Category::ChargebackDispute,
            "Cargo duplicado",
        ))
        .unwrap();
    a.record_sop_run(&es.number, &sop.id, &inputs(&["No"]))
        .unwrap();
}

#[test]
fn concurrent_splices_on_two_stores_merge_character_by_character() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "IN1", "priya", &clock);
    let b = open_site(dir.path(), "IN2", "ravi", &clock);
    let sop = a.import_sop_json(UPI_SOP, "upi.json").unwrap();
    b.pull_from(&a).unwrap();
    let text =
        |s: &dossier::Store| s.sop(&sop.id).unwrap().definition.nodes["start"].text["en"].clone();
    let original = text(&a);
    assert_eq!(original, "Was the customer's account debited?");
    // Priya types "bank " before "account", one key per write; Ravi, offline, replaces
    // "debited" with "charged" and types at the very end.
    for (i, c) in "bank ".chars().enumerate() {
        a.splice_sop_text(&sop.id, "start", "en", 19 + i, 0, &c.to_string())
            .unwrap();
    }
    b.splice_sop_text(&sop.id, "start", "en", 27, 7, "charged")
        .unwrap();
    for (i, c) in " (today)".chars().enumerate() {
        b.splice_sop_text(&sop.id, "start", "en", 35 + i, 0, &c.to_string())
            .unwrap();
    }
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    let merged = "Was the customer's bank account charged? (today)";
    assert_eq!(text(&a), merged);
    assert_eq!(text(&b), merged);
    assert!(a.conflicts(&sop.id).unwrap().is_empty());
    assert!(a.check_integrity().unwrap().is_empty());
}
