//! Two sites editing the same case, SOP and article while apart, merged in both orders.

use dossier::{CaseUpdate, Category, NewArticle, NewCase, Payment, Priority, Status};
use dossier_tests::{TestClock, UPI_SOP, open_site};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn concurrent_case_edits_merge_identically_in_both_orders() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let mut new = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Money debited but not received",
    );
    new.payment = Some(Payment {
        rail: Some("upi".into()),
        txn_ref: Some("412345678901".into()),
        amount_minor: Some(250_000),
        currency: Some("INR".into()),
        ..Default::default()
    });
    let case = a.create_case(new).unwrap();
    b.pull_from(&a).unwrap();

    clock.advance(60_000);
    a.update_case(
        &case.number,
        CaseUpdate {
            status: Some(Status::Solved),
            assignee: Some(Some("lucia".into())),
            add_tags: vec!["refund-issued".into()],
            ..Default::default()
        },
    )
    .unwrap();
    a.add_note(&case.number, "Reversal confirmed by the PSP bank", false)
        .unwrap();
    b.update_case(
        &case.number,
        CaseUpdate {
            status: Some(Status::Pending),
            priority: Some(Priority::Urgent),
            assignee: Some(Some("priya".into())),
            add_tags: vec!["npci".into()],
            ..Default::default()
        },
    )
    .unwrap();
    b.escalate(&case.number, "psp_bank", "RRN quoted, T+5 passed")
        .unwrap();

    // Merge in opposite orders into two fresh replicas, and into each other.
    let c = open_site(dir.path(), "HUB", "hub", &clock);
    let d = open_site(dir.path(), "HUB2", "hub", &clock);
    c.pull_from(&a).unwrap();
    c.pull_from(&b).unwrap();
    d.pull_from(&b).unwrap();
    d.pull_from(&a).unwrap();
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();

    let views: Vec<String> = [&a, &b, &c, &d]
        .iter()
        .map(|s| json(&s.case(&case.number).unwrap()))
        .collect();
    assert!(views.windows(2).all(|w| w[0] == w[1]), "replicas differ");
    let merged = a.case(&case.number).unwrap();
    assert_eq!(merged.status, Status::Solved, "status merges by rank");
    assert_eq!(
        merged.priority,
        Priority::Urgent,
        "priority merges to the maximum"
    );
    assert_eq!(
        merged.tags,
        vec!["npci".to_string(), "refund-issued".to_string()]
    );
    assert_eq!(merged.escalations.len(), 1);
    assert!(
        merged
            .events
            .iter()
            .any(|e| e.body == "Reversal confirmed by the PSP bank")
    );
    assert_eq!(merged.payment.txn_ref.as_deref(), Some("412345678901"));
    assert_eq!(a.heads(&case.id).unwrap(), d.heads(&case.id).unwrap());

    let conflicts = a.conflicts(&case.id).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "assignee");
    let mut values = conflicts[0].values.clone();
    values.sort();
    assert_eq!(values, vec!["lucia".to_string(), "priya".to_string()]);
    assert_eq!(Some(conflicts[0].winner.clone()), merged.assignee);
    assert_eq!(json(&conflicts), json(&d.conflicts(&case.id).unwrap()));
}

#[test]
fn a_reopen_after_seeing_solved_is_a_later_write_not_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let case = a
        .create_case(NewCase::new(
            "BR-PIX",
            Category::Fraud,
            "Pix enviado e não recebido",
        ))
        .unwrap();
    a.update_case(
        &case.number,
        CaseUpdate {
            status: Some(Status::Solved),
            ..Default::default()
        },
    )
    .unwrap();
    b.pull_from(&a).unwrap();
    b.update_case(
        &case.number,
        CaseUpdate {
            status: Some(Status::Open),
            ..Default::default()
        },
    )
    .unwrap();
    a.pull_from(&b).unwrap();
    assert_eq!(a.case(&case.number).unwrap().status, Status::Open);
}

#[test]
fn removing_a_tag_concurrently_with_adding_it_keeps_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let mut new = NewCase::new("ES", Category::Refund, "Reembolso pendiente");
    new.tags = vec!["vip".into()];
    let case = a.create_case(new).unwrap();
    b.pull_from(&a).unwrap();
    a.update_case(
        &case.number,
        CaseUpdate {
            remove_tags: vec!["vip".into()],
            ..Default::default()
        },
    )
    .unwrap();
    b.update_case(
        &case.number,
        CaseUpdate {
            add_tags: vec!["vip".into()],
            ..Default::default()
        },
    )
    .unwrap();
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    assert_eq!(a.case(&case.number).unwrap().tags, vec!["vip".to_string()]);
    assert_eq!(b.case(&case.number).unwrap().tags, vec!["vip".to_string()]);
}

#[test]
fn concurrent_edits_of_one_sop_sentence_keep_both_edits() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let sop = a.import_sop_json(UPI_SOP, "upi.json").unwrap();
    b.pull_from(&a).unwrap();
    let original = sop.definition.nodes["start"].text["en"].clone();
    assert_eq!(original, "Was the customer's account debited?");
    a.set_sop_text(
        &sop.id,
        "start",
        "en",
        "Was the customer's bank account debited?",
    )
    .unwrap();
    b.set_sop_text(
        &sop.id,
        "start",
        "en",
        "Was the customer's account debited? Check the statement.",
    )
    .unwrap();
    b.set_sop_text(
        &sop.id,
        "raise_psp",
        "en",
        "Raise a complaint with the PSP bank and quote the RRN.",
    )
    .unwrap();
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    let (sa, sb) = (a.sop(&sop.id).unwrap(), b.sop(&sop.id).unwrap());
    assert_eq!(json(&sa), json(&sb));
    assert_eq!(
        sa.definition.nodes["start"].text["en"],
        "Was the customer's bank account debited? Check the statement."
    );
    assert_eq!(
        sa.definition.nodes["raise_psp"].text["en"],
        "Raise a complaint with the PSP bank and quote the RRN."
    );
    assert!(sa.violations.is_empty(), "{:?}", sa.violations);
}

#[test]
fn a_merge_that_breaks_an_sop_invariant_is_kept_but_reported() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let sop = a.import_sop_json(UPI_SOP, "upi.json").unwrap();
    b.pull_from(&a).unwrap();
    // Site A removes a node while site B adds a link to it: each edit alone is fine.
    let mut def = sop.definition.clone();
    def.nodes.get_mut("p2p_age").unwrap().default_next = Some("raise_psp".into());
    def.nodes.get_mut("p2m_age").unwrap().default_next = Some("raise_psp".into());
    def.nodes.remove("collect_rrn");
    for t in &mut def.tests {
        t.expect_path = None;
    }
    a.update_sop(&sop.id, &def).unwrap();
    assert!(
        a.sop(&sop.id)
            .unwrap()
            .violations
            .iter()
            .all(|v| !v.contains("collect_rrn"))
    );
    let mut node = sop.definition.nodes["type"].clone();
    node.answers[0].next = "collect_rrn".into();
    b.upsert_sop_node(&sop.id, "type", &node).unwrap();
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    let merged = a.sop(&sop.id).unwrap();
    assert_eq!(json(&merged), json(&b.sop(&sop.id).unwrap()));
    assert!(
        merged
            .violations
            .iter()
            .any(|v| v.contains("type") && v.contains("collect_rrn")),
        "{:?}",
        merged.violations
    );
    a.submit_sop(&sop.id).unwrap();
    let err = a.publish_sop(&sop.id).unwrap_err();
    assert!(matches!(err, dossier::Error::SopInvalid { .. }), "{err}");
}

#[test]
fn concurrent_article_edits_merge_character_by_character() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let art = a
        .create_article(NewArticle {
            title: [("es".to_string(), "Cómo solicitar un reembolso".to_string())].into(),
            body: [(
                "es".to_string(),
                "Verifica el estado en la app.".to_string(),
            )]
            .into(),
            ..Default::default()
        })
        .unwrap();
    b.pull_from(&a).unwrap();
    a.edit_article(
        &art.id,
        "es",
        None,
        Some("Primero, verifica el estado en la app."),
    )
    .unwrap();
    b.edit_article(
        &art.id,
        "es",
        None,
        Some("Verifica el estado en la app y abre una solicitud."),
    )
    .unwrap();
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    let merged = a.article(&art.id).unwrap();
    assert_eq!(merged, b.article(&art.id).unwrap());
    assert_eq!(
        merged.body["es"],
        "Primero, verifica el estado en la app y abre una solicitud."
    );
    assert_eq!(
        b.search_articles("solicitud", Some("es"), 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn two_sites_pausing_at_once_is_no_conflict_and_pause_time_counts_from_the_earliest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let case = a
        .create_case(NewCase::new(
            "IN-UPI",
            Category::Refund,
            "Refund not received",
        ))
        .unwrap();
    let due = clock.now() + 4 * 3_600_000;
    a.set_sla(&case.number, "resolution", due).unwrap();
    b.pull_from(&a).unwrap();
    let status = |s: &dossier::Store, to: Status| {
        s.update_case(
            &case.number,
            CaseUpdate {
                status: Some(to),
                ..Default::default()
            },
        )
        .unwrap();
    };

    // Both sites pause while apart, a minute apart.
    clock.advance(60_000);
    let first_pause = clock.now();
    status(&a, Status::Pending);
    clock.advance(60_000);
    status(&b, Status::OnHold);
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    for s in [&a, &b] {
        let c = s.case(&case.number).unwrap();
        assert_eq!(c.paused_since, Some(first_pause));
        assert_eq!(c.status, Status::OnHold);
        assert_eq!(
            s.conflicts(&case.id).unwrap(),
            [],
            "nothing for a person to settle"
        );
    }

    // Both resume while apart; the merged pause counts from the first pause to the last resume.
    clock.advance(10 * 60_000);
    status(&a, Status::Open);
    clock.advance(60_000);
    let last_resume = clock.now();
    status(&b, Status::Open);
    a.pull_from(&b).unwrap();
    b.pull_from(&a).unwrap();
    let views: Vec<String> = [&a, &b]
        .iter()
        .map(|s| json(&s.case(&case.number).unwrap()))
        .collect();
    assert_eq!(views[0], views[1], "replicas differ");
    let merged = a.case(&case.number).unwrap();
    assert_eq!(merged.paused_since, None);
    assert_eq!(
        merged.sla["resolution"].paused_ms,
        last_resume - first_pause
    );
    assert_eq!(merged.sla_due_at(), Some(due + last_resume - first_pause));
    for s in [&a, &b] {
        assert_eq!(s.conflicts(&case.id).unwrap(), []);
        let listed = s.list_cases(&Default::default()).unwrap();
        assert_eq!(listed[0].sla_due_at, merged.sla_due_at());
    }

    // Solved at both sites at once: solved_at is bookkeeping too.
    status(&a, Status::Solved);
    clock.advance(1_000);
    status(&b, Status::Solved);
    a.pull_from(&b).unwrap();
    assert_eq!(a.conflicts(&case.id).unwrap(), []);
}

#[test]
fn details_two_sites_add_at_once_to_a_group_neither_had_are_both_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mx = open_site(dir.path(), "MX1", "ana", &clock);
    let bl = open_site(dir.path(), "BLR2", "bala", &clock);
    let case = mx
        .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
        .unwrap();
    bl.pull_from(&mx).unwrap();
    // Neither has payment details or an SLA yet; each site adds its own, offline.
    mx.update_case(
        &case.number,
        CaseUpdate {
            payment: Some(Payment {
                rail: Some("upi".into()),
                txn_ref: Some("412345678901".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    mx.set_sla(&case.number, "first_reply", 1_000).unwrap();
    bl.update_case(
        &case.number,
        CaseUpdate {
            payment: Some(Payment {
                amount_minor: Some(250_000),
                currency: Some("INR".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    bl.set_sla(&case.number, "resolution", 9_000).unwrap();
    mx.pull_from(&bl).unwrap();
    bl.pull_from(&mx).unwrap();

    let (a, b) = (
        mx.case(&case.number).unwrap(),
        bl.case(&case.number).unwrap(),
    );
    assert_eq!(a, b);
    let payment = a.payment.clone();
    assert_eq!(
        payment.txn_ref.as_deref(),
        Some("412345678901"),
        "{payment:?}"
    );
    assert_eq!(payment.amount_minor, Some(250_000), "{payment:?}");
    assert_eq!(payment.currency.as_deref(), Some("INR"), "{payment:?}");
    assert_eq!(
        a.sla.keys().map(String::as_str).collect::<Vec<_>>(),
        ["first_reply", "resolution"]
    );
    assert!(mx.check_integrity().unwrap().is_empty());
}
