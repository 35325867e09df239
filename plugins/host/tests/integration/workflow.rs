//! The host installed as the store's workflow: a plugin that misbehaves changes nothing on the
//! case but a `plugin_failed` event, and a good one's actions are applied.

use std::sync::Arc;

use dossier::plugin::RunOutcome;
use dossier::{Case, PluginFailureKind, Store, Trigger};
use dossier_plugins::{PluginError, PluginHost};

use crate::common::{
    Fixture, case_with, ctx, fixture, fixture_with, harmless_actions, test_config,
};

/// The case minus its last event, which must be a `plugin_failed` one.
fn without_failure_event(store: &Store, number: &str) -> Case {
    let mut after = store.case(number).unwrap();
    let last = after.events.pop().unwrap();
    assert_eq!(last.kind, "plugin_failed", "{last:?}");
    after
}

fn assert_contained(f: &Fixture, attack: &str, kind: PluginFailureKind) {
    let case = case_with(&f.store, attack, &[]);
    let runs = f
        .store
        .run_plugins(&case.number, Trigger::SlaCheck)
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert!(
        matches!(runs[0].outcome, RunOutcome::Failed { kind: k, .. } if k == kind),
        "{attack}: {:?}",
        runs[0].outcome
    );
    assert_eq!(
        without_failure_event(&f.store, &case.number),
        case,
        "{attack} changed the case"
    );
}

#[test]
fn misbehaving_plugins_leave_only_a_failure_event_and_the_host_keeps_serving() {
    let f = fixture();
    f.store.set_workflow(Arc::new(f.host.clone()));
    use PluginFailureKind as K;
    for (attack, kind) in [
        ("loop", K::OutOfFuel),
        ("membomb", K::MemoryLimit),
        ("recursion", K::Trap),
        ("trap", K::Trap),
        ("huge-output", K::OutputTooLarge),
        ("huge-string", K::OutputTooLarge),
        ("invalid-action", K::InvalidAction),
        ("refuse-outside-solve", K::InvalidAction),
        ("fs", K::Guest),
    ] {
        assert_contained(&f, attack, kind);
        // A good case right after is served and its actions applied.
        let good = case_with(&f.store, "", &[]);
        let runs = f
            .store
            .run_plugins(&good.number, Trigger::SlaCheck)
            .unwrap();
        assert_eq!(
            runs[0].outcome,
            RunOutcome::Applied { actions: 2 },
            "after {attack}"
        );
        let good = f.store.case(&good.number).unwrap();
        assert!(good.tags.contains(&"sandbox-ok".to_string()));
        assert_eq!(good.fields["greeting"], "namaste");
    }
}

#[test]
fn a_failed_trigger_keeps_the_redacted_logs_and_panic_message_in_its_event() {
    let f = fixture();
    f.store.set_workflow(Arc::new(f.host.clone()));
    // The hostile plugin declares case-created: creating the case runs it, and it panics.
    let case = case_with(&f.store, "log-then-panic", &[]);
    let failed: Vec<&str> = case
        .events
        .iter()
        .filter(|e| e.kind == "plugin_failed")
        .map(|e| e.body.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", case.events);
    let body = failed[0];
    assert!(
        body.contains("gives up on card"),
        "no panic message: {body}"
    );
    assert!(body.contains("warn: checking card"), "no log line: {body}");
    for card in ["4111111111111111", "5555555555554444"] {
        assert!(!body.contains(card), "card number stored: {body}");
    }
}

#[test]
fn a_good_plugin_runs_on_case_triggers() {
    let f = fixture();
    f.store.set_workflow(Arc::new(f.host.clone()));
    // The hostile plugin declares case-created: creating the case runs it.
    let case = case_with(&f.store, "", &[]);
    assert!(case.tags.contains(&"sandbox-ok".to_string()));
    assert_eq!(case.fields["greeting"], "namaste");
    assert!(case.events.iter().any(|e| e.kind == "plugin"));
}

#[test]
fn a_tampered_package_is_not_run() {
    // A host of its own: its counters must not see other tests' calls.
    let f = fixture_with(PluginHost::new(test_config()).unwrap());
    let case = case_with(&f.store, "", &[]);
    let id = f.store.plugin("hostile").unwrap().id;
    let mut tampered = f.store.plugin_package(&id).unwrap();
    let middle = tampered.wasm.len() / 2;
    tampered.wasm[middle] ^= 0x01;
    let before = f.host.stats();
    let err = f
        .host
        .evaluate(&f.store, &tampered, &ctx(&case, Trigger::SlaCheck))
        .unwrap_err();
    assert!(matches!(
        err,
        PluginError::Store(dossier::Error::PluginSignature { .. })
    ));
    let after = f.host.stats();
    assert_eq!(after.calls, before.calls, "nothing was called");
    assert_eq!(after.compiled, before.compiled, "nothing was compiled");
    // The untouched package still runs.
    assert_eq!(
        f.host
            .evaluate(&f.store, &f.package, &ctx(&case, Trigger::SlaCheck))
            .unwrap(),
        harmless_actions()
    );
}

#[test]
fn a_dry_run_refuses_unknown_plugins_and_cases() {
    let f = fixture();
    let case = case_with(&f.store, "", &[]);
    assert!(matches!(
        f.host
            .dry_run(&f.store, "no-such-plugin", &case.number, Trigger::SlaCheck),
        Err(PluginError::Store(dossier::Error::NotFound { .. }))
    ));
    assert!(matches!(
        f.host
            .dry_run(&f.store, "hostile", "BLR2-999", Trigger::SlaCheck),
        Err(PluginError::Store(dossier::Error::NotFound { .. }))
    ));
}
