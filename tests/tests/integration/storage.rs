//! The SQLite file: persistence, corruption, threads, notifications, compaction, projections.

use std::sync::{Arc, Mutex};

use dossier::{
    ArticleStatus, CaseFilter, CaseUpdate, Category, DocKind, Error, NewArticle, NewCase, Origin,
    Status, Store, StoreOptions,
};
use dossier_tests::{TestClock, open_site};

const HOUR: i64 = 3_600_000;

#[test]
fn everything_survives_a_reopen_and_the_integrity_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let number = {
        let s = open_site(dir.path(), "MX1", "lucia", &clock);
        let c = s
            .create_case(NewCase::new(
                "IN-UPI",
                Category::FailedPayment,
                "Money debited",
            ))
            .unwrap();
        s.add_note(&c.number, "Asked for the RRN", false).unwrap();
        c.number
    };
    let s = Store::open(dir.path().join("MX1.db"), StoreOptions::default()).unwrap();
    assert_eq!(s.site(), "MX1");
    let c = s.case(&number).unwrap();
    assert!(c.events.iter().any(|e| e.body == "Asked for the RRN"));
    assert_eq!(s.check_integrity().unwrap(), Vec::<String>::new());
    // Numbers continue after a reopen.
    let next = s
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    assert_eq!(next.number, "MX1-2");
}

#[test]
fn opening_without_a_site_or_with_another_site_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    assert!(matches!(
        Store::open(&path, StoreOptions::default()),
        Err(Error::NotInitialized)
    ));
    Store::open(
        &path,
        StoreOptions {
            site: Some("MX1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        Store::open(
            &path,
            StoreOptions {
                site: Some("BR3".into()),
                ..Default::default()
            }
        ),
        Err(Error::SiteMismatch { .. })
    ));
    assert!(matches!(
        Store::open(
            dir.path().join("y.db"),
            StoreOptions {
                site: Some("mx 1".into()),
                ..Default::default()
            }
        ),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_store_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(
        &garbage,
        StoreOptions {
            site: Some("MX1".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn a_truncated_store_fails_cleanly_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let path = dir.path().join("MX1.db");
    {
        let s = open_site(dir.path(), "MX1", "lucia", &clock);
        for i in 0..30 {
            s.create_case(NewCase::new(
                "ES",
                Category::Refund,
                &format!("Reembolso {i}"),
            ))
            .unwrap();
        }
    }
    let full = std::fs::read(&path).unwrap();
    for cut in [100, 4096, full.len() / 2, full.len() - 1] {
        let p = dir.path().join(format!("cut{cut}.db"));
        std::fs::write(&p, &full[..cut]).unwrap();
        // Either the open fails with a typed error, or reads fail with one: never a panic.
        if let Ok(s) = Store::open(&p, StoreOptions::default()) {
            let _ = s.list_cases(&CaseFilter::default());
            let _ = s.check_integrity();
        }
    }
}

#[test]
fn a_store_is_shared_by_threads_and_loses_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "MX1", "lucia", &clock);
    let case = store
        .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Shared"))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            let number = case.number.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    s.create_case(NewCase::new(
                        "ES",
                        Category::Refund,
                        &format!("t{t} case {i}"),
                    ))
                    .unwrap();
                    s.add_note(&number, &format!("t{t} note {i}"), false)
                        .unwrap();
                    let _ = s
                        .list_cases(&CaseFilter {
                            limit: Some(10),
                            ..Default::default()
                        })
                        .unwrap();
                    let _ = s.case(&number).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = store
        .list_cases(&CaseFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 101);
    let mut numbers: Vec<_> = all.iter().map(|c| c.number.clone()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 101, "case numbers are unique");
    let notes = store
        .case(&case.number)
        .unwrap()
        .events
        .iter()
        .filter(|e| e.kind == "note")
        .count();
    assert_eq!(notes, 100);
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
}

#[test]
fn subscribers_hear_local_and_remote_changes_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let a = open_site(dir.path(), "MX1", "lucia", &clock);
    let b = open_site(dir.path(), "BLR2", "priya", &clock);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    let sub = b.subscribe(move |n| h.lock().unwrap().push(n.clone()));
    let local = b
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    let remote = a
        .create_case(NewCase::new("BR-PIX", Category::Fraud, "Golpe Pix"))
        .unwrap();
    b.pull_from(&a).unwrap();
    // A failed write notifies nobody.
    assert!(b.add_note(&local.number, "   ", false).is_err());
    {
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 2);
        assert_eq!(heard[0].docs, vec![(local.id, DocKind::Case)]);
        assert_eq!(heard[0].origin, Origin::Local);
        assert_eq!(heard[1].docs, vec![(remote.id, DocKind::Case)]);
        assert_eq!(heard[1].origin, Origin::Remote);
    }
    b.unsubscribe(sub);
    b.add_note(&local.number, "after unsubscribe", false)
        .unwrap();
    assert_eq!(heard.lock().unwrap().len(), 2);
}

#[test]
fn a_document_with_many_changes_is_compacted_and_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let c = s
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    for i in 0..200 {
        s.add_note(&c.number, &format!("seguimiento {i}"), false)
            .unwrap();
    }
    let conn = dossier_changes_rows(&dir.path().join("MX1.db"));
    assert!(
        conn < 200,
        "pending changes were folded into snapshots ({conn} left)"
    );
    let reopened = Store::open(dir.path().join("MX1.db"), StoreOptions::default()).unwrap();
    assert_eq!(
        reopened
            .case(&c.number)
            .unwrap()
            .events
            .iter()
            .filter(|e| e.kind == "note")
            .count(),
        200
    );
    assert_eq!(reopened.history(&c.id).unwrap().len(), 201);
}

/// Rows in the raw change table, read as an analyst's SQLite tool would.
fn dossier_changes_rows(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn closed_cases_are_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let c = s
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    s.update_case(
        &c.number,
        CaseUpdate {
            status: Some(Status::Closed),
            ..Default::default()
        },
    )
    .unwrap();
    let before = s.heads(&c.id).unwrap();
    let err = s
        .update_case(
            &c.number,
            CaseUpdate {
                status: Some(Status::Open),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::CaseClosed { .. }));
    assert!(err.to_string().contains("closed"));
    assert!(matches!(
        s.add_note(&c.number, "x", false),
        Err(Error::CaseClosed { .. })
    ));
    assert_eq!(s.heads(&c.id).unwrap(), before);
    let events: Vec<_> = s
        .case(&c.number)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(events, vec!["created", "status_changed"]);
}

#[test]
fn sla_clocks_pause_while_pending_and_breaches_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let c = s
        .create_case(NewCase::new("EU", Category::Refund, "Refund missing"))
        .unwrap();
    let other = s
        .create_case(NewCase::new("EU", Category::Refund, "Refund late"))
        .unwrap();
    s.set_sla(&c.number, "resolution", clock.now() + 4 * HOUR)
        .unwrap();
    s.set_sla(&other.number, "resolution", clock.now() + 4 * HOUR)
        .unwrap();
    clock.advance(HOUR);
    s.update_case(
        &c.number,
        CaseUpdate {
            status: Some(Status::Pending),
            ..Default::default()
        },
    )
    .unwrap();
    clock.advance(10 * HOUR);
    let breached = s
        .list_cases(&CaseFilter {
            breached: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        breached
            .iter()
            .map(|c| c.number.as_str())
            .collect::<Vec<_>>(),
        vec![other.number.as_str()]
    );
    s.update_case(
        &c.number,
        CaseUpdate {
            status: Some(Status::Open),
            ..Default::default()
        },
    )
    .unwrap();
    let resumed = s.case(&c.number).unwrap();
    assert_eq!(resumed.sla["resolution"].paused_ms, 10 * HOUR);
    assert!(!resumed.is_breached(clock.now()));
    clock.advance(4 * HOUR);
    assert!(s.case(&c.number).unwrap().is_breached(clock.now()));
    s.mark_sla_met(&other.number, "resolution").unwrap();
    let breached = s
        .list_cases(&CaseFilter {
            breached: true,
            market: Some("EU".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        breached
            .iter()
            .map(|c| c.number.as_str())
            .collect::<Vec<_>>(),
        vec![c.number.as_str()]
    );
}

#[test]
fn solving_a_problem_solves_its_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let problem = s
        .create_case(NewCase::new(
            "IN-UPI",
            Category::FailedPayment,
            "PSP outage",
        ))
        .unwrap();
    let mut incident = NewCase::new("IN-UPI", Category::FailedPayment, "Money debited");
    incident.problem = Some(problem.number.clone());
    let i1 = s.create_case(incident.clone()).unwrap();
    let i2 = s.create_case(incident).unwrap();
    s.update_case(
        &problem.number,
        CaseUpdate {
            status: Some(Status::Solved),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.case(&i1.number).unwrap().status, Status::Solved);
    assert_eq!(s.case(&i2.number).unwrap().status, Status::Solved);
    assert_eq!(s.case(&i1.number).unwrap().problem, Some(problem.id));
}

#[test]
fn a_batch_with_one_bad_case_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let good = NewCase::new("ES", Category::Refund, "Reembolso");
    let bad = NewCase::new("not a market", Category::Refund, "x");
    let err = s
        .create_cases(&[good.clone(), good.clone(), bad])
        .unwrap_err();
    assert!(
        matches!(
            err,
            dossier::Error::Import {
                location: dossier::Location::Record { index: 2 },
                ..
            }
        ),
        "{err}"
    );
    assert!(s.list_cases(&CaseFilter::default()).unwrap().is_empty());
    assert!(s.documents().unwrap().is_empty());
    // The sequence did not advance either: the next case is number 1.
    assert_eq!(s.create_case(good).unwrap().number, "MX1-1");
}

#[test]
fn history_names_who_changed_what_and_earlier_views_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let c = s
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    clock.advance(1000);
    s.update_case(
        &c.number,
        CaseUpdate {
            status: Some(Status::Open),
            ..Default::default()
        },
    )
    .unwrap();
    let h = s.history(&c.id).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (
            h[0].site.as_str(),
            h[0].author.as_str(),
            h[0].action.as_str()
        ),
        ("MX1", "lucia", "case.create")
    );
    assert_eq!(h[1].action, "case.update");
    assert!(h[1].at > h[0].at);
    let then = s.case_at(&c.number, &h[0].heads).unwrap();
    assert_eq!(then.status, Status::New);
    assert_eq!(s.case(&c.number).unwrap().status, Status::Open);
    let bogus = [dossier::ChangeHash([7u8; 32])];
    assert!(matches!(
        s.case_at(&c.number, &bogus),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn accented_search_finds_spanish_and_portuguese_articles() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let es = s
        .create_article(NewArticle {
            title: [("es".to_string(), "Cómo solicitar un reembolso".to_string())].into(),
            body: [("es".to_string(), "Si el reembolso no llegó en 10 días hábiles, verifica el estado en la app y abre una solicitud. Reembolsó parcial posible.".to_string())].into(),
            markets: vec!["ES".into()],
            ..Default::default()
        })
        .unwrap();
    let pt = s
        .create_article(NewArticle {
            title: [("pt".to_string(), "Devolução de Pix (MED)".to_string())].into(),
            body: [("pt".to_string(), "O Mecanismo Especial de Devolução vale para golpe ou falha operacional. Informe o EndToEndId e o boletim de ocorrência, em até 80 dias.".to_string())].into(),
            markets: vec!["BR-PIX".into()],
            ..Default::default()
        })
        .unwrap();
    let ids = |q: &str, l: Option<&str>| -> Vec<dossier::DocId> {
        s.search_articles(q, l, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    assert_eq!(ids("reembolso", None), vec![es.id]);
    assert_eq!(ids("REEMBOLSÓ", Some("es")), vec![es.id]);
    assert_eq!(ids("devolucao", Some("pt")), vec![pt.id]);
    assert_eq!(ids("ocorrencia boletim", None), vec![pt.id]);
    assert!(ids("devolucao", Some("es")).is_empty());
    assert!(
        ids("\"unbalanced OR (", None).is_empty(),
        "FTS syntax in queries is inert"
    );
    let hit = &s.search_articles("golpe", None, 10).unwrap()[0];
    assert!(hit.snippet.contains("[golpe]"), "{}", hit.snippet);
    s.set_article_status(&pt.id, ArticleStatus::Retired)
        .unwrap();
    assert!(
        ids("devolucao", None).is_empty(),
        "retired articles are not found"
    );
}

#[test]
fn articles_fall_due_for_verification_after_their_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = open_site(dir.path(), "MX1", "lucia", &clock);
    let a = s
        .create_article(NewArticle {
            title: [(
                "en".to_string(),
                "UPI transaction failed but money debited".to_string(),
            )]
            .into(),
            interval_days: Some(30),
            ..Default::default()
        })
        .unwrap();
    let a = s
        .set_article_status(&a.id, ArticleStatus::Published)
        .unwrap();
    assert_eq!(a.versions.len(), 1);
    assert!(!a.is_due_for_verification(clock.now()));
    clock.advance(31 * 24 * HOUR);
    assert!(
        s.article(&a.id)
            .unwrap()
            .is_due_for_verification(clock.now())
    );
    assert_eq!(s.articles_due_for_verification().unwrap().len(), 1);
    s.verify_article(&a.id).unwrap();
    assert!(s.articles_due_for_verification().unwrap().is_empty());
    // The published version stays readable as it was.
    s.edit_article(&a.id, "en", Some("UPI failed, money debited"), None)
        .unwrap();
    assert_eq!(
        s.article_version(&a.id, 1).unwrap().title["en"],
        "UPI transaction failed but money debited"
    );
}

#[test]
fn two_handles_on_one_file_see_each_others_writes_and_lose_none() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let lucia = open_site(dir.path(), "MX1", "lucia", &clock);
    let amara = Store::open(
        dir.path().join("MX1.db"),
        StoreOptions {
            author: Some("amara".into()),
            clock: Some(clock.clock()),
            ..Default::default()
        },
    )
    .unwrap();
    let c = lucia
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    // Both handles have the case cached now.
    assert_eq!(amara.case(&c.number).unwrap().events.len(), 1);
    amara.add_note(&c.number, "from amara", false).unwrap();
    assert!(
        lucia
            .case(&c.number)
            .unwrap()
            .events
            .iter()
            .any(|e| e.body == "from amara"),
        "a read through the other handle sees the write"
    );
    // Many writes through the first handle force compactions; the other handle's notes stay.
    for i in 0..40 {
        lucia
            .add_note(&c.number, &format!("lucia {i}"), false)
            .unwrap();
        if i % 10 == 0 {
            amara
                .add_note(&c.number, &format!("amara {i}"), false)
                .unwrap();
        }
    }
    let fresh = Store::open(dir.path().join("MX1.db"), StoreOptions::default()).unwrap();
    let notes: Vec<String> = fresh
        .case(&c.number)
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == "note")
        .map(|e| e.body)
        .collect();
    assert_eq!(notes.len(), 45, "{notes:?}");
    assert!(notes.contains(&"from amara".to_string()));
    assert_eq!(fresh.check_integrity().unwrap(), Vec::<String>::new());
}
