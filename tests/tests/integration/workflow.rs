//! The store's side of plugins: packages, trust, and how actions from a plugin host are checked
//! and applied. The host here is a plain Rust `Workflow` so these tests pin the store's contract
//! on their own; `plugins/host` runs the same contract with real wasm components.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dossier::plugin::{Evaluation, PluginRef, RunOutcome, TriggerContext};
use dossier::{
    Action, CaseUpdate, Category, Error, NewCase, PluginFailure, PluginFailureKind, PluginManifest,
    PluginPackage, Priority, PublisherKey, Status, Store, Trigger, Workflow,
};
use dossier_tests::{TestClock, open_site};

type Rule = Box<dyn Fn(&TriggerContext<'_>) -> Result<Vec<Action>, PluginFailure> + Send + Sync>;

/// A host that runs native rules in a fixed order and remembers every call.
struct NativeHost {
    rules: Vec<(PluginRef, Vec<Trigger>, Rule)>,
    calls: Mutex<Vec<(String, Trigger)>>,
}

impl NativeHost {
    fn new() -> Self {
        NativeHost {
            rules: Vec::new(),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn rule(
        mut self,
        name: &str,
        triggers: &[Trigger],
        f: impl Fn(&TriggerContext<'_>) -> Result<Vec<Action>, PluginFailure> + Send + Sync + 'static,
    ) -> Self {
        let r = PluginRef {
            name: name.into(),
            version: "1.0.0".into(),
        };
        self.rules.push((r, triggers.to_vec(), Box::new(f)));
        self
    }

    fn calls(&self) -> Vec<(String, Trigger)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Workflow for NativeHost {
    fn evaluate(&self, _store: &Store, ctx: &TriggerContext<'_>) -> Vec<Evaluation> {
        self.rules
            .iter()
            .filter(|(_, t, _)| t.contains(&ctx.trigger))
            .map(|(plugin, _, f)| {
                self.calls
                    .lock()
                    .unwrap()
                    .push((plugin.name.clone(), ctx.trigger));
                Evaluation {
                    plugin: plugin.clone(),
                    outcome: f(ctx),
                    logs: Vec::new(),
                }
            })
            .collect()
    }
}

fn upi_case() -> NewCase {
    NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Debited but not credited",
    )
}

fn events(store: &Store, number: &str, kind: &str) -> Vec<String> {
    store
        .case(number)
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.body)
        .collect()
}

#[test]
fn actions_apply_as_one_change_with_a_plugin_event() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    let due = clock.now() + 86_400_000;
    store.set_workflow(Arc::new(NativeHost::new().rule(
        "in-upi-failed-txn",
        &[Trigger::CaseCreated],
        move |ctx| {
            assert_eq!(ctx.case.market, "IN-UPI");
            Ok(vec![
                Action::SetSlaDeadline {
                    metric: "reversal".into(),
                    due_at: due,
                },
                Action::AddTag {
                    tag: "upi-p2p".into(),
                },
                Action::SetPriority {
                    priority: Priority::High,
                },
                Action::Route {
                    queue: "upi-reversals".into(),
                },
            ])
        },
    )));
    let before = clock.now();
    let case = store.create_case(upi_case()).unwrap();
    assert_eq!(case.sla["reversal"].due_at, due);
    assert_eq!(case.tags, ["upi-p2p"]);
    assert_eq!(case.priority, Priority::High);
    assert_eq!(case.fields["queue"], "upi-reversals");
    let plugin_events = events(&store, &case.number, "plugin");
    assert_eq!(plugin_events.len(), 1, "{plugin_events:?}");
    assert!(plugin_events[0].starts_with("in-upi-failed-txn@1.0.0 on case-created"));
    // Creation and the plugin's actions are two changes, the second by the plugin.
    let history = store.history(&case.id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].action, "plugin:in-upi-failed-txn@1.0.0");
    assert!(history[1].at >= before);
}

#[test]
fn one_invalid_action_means_none_is_applied_and_the_failure_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    store.set_workflow(Arc::new(
        NativeHost::new()
            .rule("bad", &[Trigger::CaseCreated], |_| {
                Ok(vec![
                    Action::AddTag { tag: "ok".into() },
                    Action::Escalate {
                        to: "".into(),
                        reason: "why".into(),
                    },
                ])
            })
            .rule("crashes", &[Trigger::CaseCreated], |_| {
                Err(PluginFailure {
                    kind: PluginFailureKind::OutOfFuel,
                    detail: "out of fuel".into(),
                })
            })
            .rule("good", &[Trigger::CaseCreated], |_| {
                Ok(vec![Action::AddTag { tag: "good".into() }])
            }),
    ));
    let case = store.create_case(upi_case()).unwrap();
    // The bad plugin's valid first action was not applied; the others still ran, in order.
    assert_eq!(case.tags, ["good"]);
    let failed = events(&store, &case.number, "plugin_failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].starts_with("bad@1.0.0 on case-created: invalid plugin action #1"));
    assert!(failed[1].contains("crashes@1.0.0") && failed[1].contains("out of fuel"));
    let runs = store
        .run_plugins(&case.number, Trigger::CaseCreated)
        .unwrap();
    let outcomes: Vec<_> = runs.iter().map(|r| r.outcome.clone()).collect();
    assert!(matches!(
        outcomes[0],
        RunOutcome::Failed {
            kind: PluginFailureKind::InvalidAction,
            ..
        }
    ));
    assert!(matches!(
        outcomes[1],
        RunOutcome::Failed {
            kind: PluginFailureKind::OutOfFuel,
            ..
        }
    ));
    assert_eq!(outcomes[2], RunOutcome::Applied { actions: 1 });
}

#[test]
fn actions_are_validated_against_the_case_and_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    let case = store.create_case(upi_case()).unwrap();
    let check =
        |trigger, a: Action| dossier::plugin::actions::validate_actions(&case, trigger, &[a]);
    let invalid = |r: dossier::Result<()>| matches!(r, Err(Error::InvalidAction { index: 0, .. }));
    assert!(invalid(check(
        Trigger::CaseCreated,
        Action::RefuseSolve {
            reason: "no".into()
        }
    )));
    assert!(invalid(check(
        Trigger::BeforeSolve,
        Action::SetStatus {
            status: Status::Open
        }
    )));
    assert!(invalid(check(
        Trigger::CaseUpdated,
        Action::SetField {
            name: "bad name!".into(),
            value: "x".into()
        }
    )));
    assert!(invalid(check(
        Trigger::CaseUpdated,
        Action::SetSlaDeadline {
            metric: "reversal".into(),
            due_at: 1_700_000_000 // seconds, not milliseconds
        }
    )));
    assert!(invalid(check(
        Trigger::CaseUpdated,
        Action::AddNote {
            body: "  ".into(),
            public: false
        }
    )));
    assert!(
        check(
            Trigger::CaseUpdated,
            Action::SetStatus {
                status: Status::Pending
            }
        )
        .is_ok()
    );
    let many = vec![Action::AddTag { tag: "x".into() }; 65];
    assert!(matches!(
        dossier::plugin::actions::validate_actions(&case, Trigger::CaseUpdated, &many),
        Err(Error::InvalidAction { .. })
    ));
}

#[test]
fn before_solve_can_refuse_and_required_fields_are_tagged_until_present() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    store.set_workflow(Arc::new(NativeHost::new().rule(
        "in-upi-failed-txn",
        &[Trigger::BeforeSolve],
        |_| {
            Ok(vec![Action::RequireField {
                // The WIT's spelling; `payment.txn_ref` works too.
                name: "payment.txn-ref".into(),
                reason: "the RRN is needed to trace the reversal".into(),
            }])
        },
    )));
    let case = store.create_case(upi_case()).unwrap();
    let solve = CaseUpdate {
        status: Some(Status::Solved),
        ..Default::default()
    };
    let err = store.update_case(&case.number, solve.clone()).unwrap_err();
    match err {
        Error::SolveRefused { plugin, reason } => {
            assert_eq!(plugin, "in-upi-failed-txn@1.0.0");
            assert!(reason.contains("payment.txn-ref is required"), "{reason}");
        }
        other => panic!("expected SolveRefused, got {other}"),
    }
    let now = store.case(&case.number).unwrap();
    assert_eq!(now.status, Status::New);
    assert!(now.tags.contains(&"missing-payment-txn-ref".to_string()));

    store
        .update_case(
            &case.number,
            CaseUpdate {
                payment: Some(dossier::Payment {
                    txn_ref: Some("412345678901".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
    // The field arrived by an ordinary edit, and the tag went with it.
    assert!(
        !store
            .case(&case.number)
            .unwrap()
            .tags
            .contains(&"missing-payment-txn-ref".to_string())
    );
    let solved = store.update_case(&case.number, solve).unwrap();
    assert_eq!(solved.status, Status::Solved);
    assert!(!solved.tags.contains(&"missing-payment-txn-ref".to_string()));
}

#[test]
fn triggers_fire_for_the_changes_that_declare_them_and_plugin_changes_fire_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    let seen_previous = Arc::new(Mutex::new(Vec::new()));
    let seen = seen_previous.clone();
    let host = Arc::new(
        NativeHost::new()
            .rule(
                "watcher",
                &[Trigger::StatusChanged, Trigger::CaseUpdated],
                move |ctx| {
                    seen.lock().unwrap().push(ctx.previous_status);
                    // A plugin moving the status must not fire status-changed again.
                    Ok(if ctx.trigger == Trigger::StatusChanged {
                        vec![Action::SetStatus {
                            status: Status::OnHold,
                        }]
                    } else {
                        Vec::new()
                    })
                },
            )
            .rule("creator", &[Trigger::CaseCreated], |_| Ok(Vec::new())),
    );
    store.set_workflow(host.clone());
    let case = store.create_case(upi_case()).unwrap();
    store
        .add_note(&case.number, "called the customer", false)
        .unwrap();
    let after = store
        .update_case(
            &case.number,
            CaseUpdate {
                status: Some(Status::Open),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(after.status, Status::OnHold);
    let calls = host.calls();
    assert_eq!(
        calls,
        vec![
            ("creator".into(), Trigger::CaseCreated),
            ("watcher".into(), Trigger::CaseUpdated),
            ("watcher".into(), Trigger::StatusChanged),
            ("watcher".into(), Trigger::CaseUpdated),
        ]
    );
    assert_eq!(
        *seen_previous.lock().unwrap(),
        vec![None, Some(Status::New), None]
    );
    // Without a host nothing runs.
    store.clear_workflow();
    store
        .add_note(&case.number, "no plugins now", false)
        .unwrap();
    assert_eq!(host.calls().len(), 4);
}

fn manifest(name: &str, version: &str) -> PluginManifest {
    PluginManifest {
        name: name.into(),
        version: version.into(),
        api: dossier::plugin::API_VERSION.into(),
        markets: vec!["IN-UPI".into()],
        triggers: vec![Trigger::CaseCreated],
        description: "test".into(),
        tables: BTreeMap::from([(
            "holidays-IN".into(),
            BTreeMap::from([("2026-10-02".into(), "Gandhi Jayanti".into())]),
        )]),
    }
}

fn wasm(tag: u8) -> Vec<u8> {
    let mut w = b"\0asm\x0d\0\x01\0".to_vec();
    w.push(tag);
    w
}

#[test]
fn packages_run_only_when_signed_by_a_trusted_publisher_and_the_newest_wins() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    let market_team = PublisherKey::generate().unwrap();
    let v1 = PluginPackage::sign(manifest("upi", "1.0.0"), wasm(1), &market_team).unwrap();
    let v2 = PluginPackage::sign(manifest("upi", "1.10.0"), wasm(2), &market_team).unwrap();
    store.install_plugin(&v1).unwrap();
    let info = store.install_plugin(&v2).unwrap();
    // Installing the same package twice changes nothing.
    assert_eq!(store.install_plugin(&v2).unwrap().id, info.id);
    assert_eq!(store.plugins().unwrap().len(), 2);
    assert!(info.signature_ok && !info.trusted && !info.active);
    assert!(
        store
            .active_plugins("IN-UPI", Trigger::CaseCreated)
            .unwrap()
            .is_empty()
    );

    store.trust_publisher(&market_team.public_key()).unwrap();
    let active = store
        .active_plugins("IN-UPI", Trigger::CaseCreated)
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(
        active[0].manifest.version, "1.10.0",
        "1.10.0 is newer than 1.0.0"
    );
    assert_eq!(active[0], v2);
    assert!(
        store
            .active_plugins("BR-PIX", Trigger::CaseCreated)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .active_plugins("IN-UPI", Trigger::SlaCheck)
            .unwrap()
            .is_empty()
    );

    // A tampered package is refused at install.
    let mut tampered = v2.clone();
    tampered.wasm.push(0x90);
    assert!(matches!(
        store.install_plugin(&tampered),
        Err(Error::PluginSignature { .. })
    ));
    let mut relabelled = v2.clone();
    relabelled.manifest.markets = vec!["BR-PIX".into()];
    assert!(matches!(
        store.install_plugin(&relabelled),
        Err(Error::PluginSignature { .. })
    ));

    // The site's own key is trusted without asking.
    let own = store
        .sign_plugin(manifest("own-rules", "0.1.0"), wasm(3))
        .unwrap();
    assert!(store.install_plugin(&own).unwrap().active);

    store.untrust_publisher(&market_team.public_key()).unwrap();
    let names: Vec<String> = store
        .active_plugins("IN-UPI", Trigger::CaseCreated)
        .unwrap()
        .into_iter()
        .map(|p| p.manifest.name)
        .collect();
    assert_eq!(names, ["own-rules"]);
    assert!(store.check_integrity().unwrap().is_empty());
}

#[test]
fn a_plugin_travels_to_another_site_and_runs_there_only_once_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let hub = open_site(dir.path(), "HUB", "ops", &clock);
    let site = open_site(dir.path(), "BLR2", "asha", &clock);
    let market_team = PublisherKey::generate().unwrap();
    let p = PluginPackage::sign(manifest("upi", "1.0.0"), wasm(7), &market_team).unwrap();
    hub.install_plugin(&p).unwrap();
    site.pull_from(&hub).unwrap();
    let listed = site.plugin("upi").unwrap();
    assert!(listed.signature_ok && !listed.active);
    assert_eq!(site.plugin_package(&listed.id).unwrap(), p);
    site.trust_publisher(&market_team.public_key()).unwrap();
    assert_eq!(
        site.active_plugins("IN-UPI", Trigger::CaseCreated).unwrap(),
        vec![p]
    );
}

#[test]
fn compiled_code_is_cached_per_engine() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = open_site(dir.path(), "BLR2", "asha", &clock);
    let sha = "ab".repeat(32);
    assert_eq!(store.plugin_code(&sha, "wasmtime-48").unwrap(), None);
    store.put_plugin_code(&sha, "wasmtime-48", b"code").unwrap();
    assert_eq!(
        store.plugin_code(&sha, "wasmtime-48").unwrap().as_deref(),
        Some(&b"code"[..])
    );
    assert_eq!(store.plugin_code(&sha, "wasmtime-49").unwrap(), None);
    // The cache table is outside every document: only a hash and an engine name go in.
    assert!(
        store
            .put_plugin_code("abc", "wasmtime-48", b"code")
            .is_err()
    );
    assert!(
        store
            .put_plugin_code(&sha, "engine 4111 1111 1111 1111", b"code")
            .is_err()
    );
}
