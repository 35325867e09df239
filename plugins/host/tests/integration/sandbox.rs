//! Each hostile behaviour is stopped by the right limit, reported as the right variant, and
//! leaves the host able to serve the next call.

use std::time::Duration;

use dossier::{Action, Trigger};
use dossier_plugins::{HostConfig, PluginError, PluginHost};

use crate::common::{case_with, ctx, fixture, fixture_with, test_config};

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let f = fixture();
    assert!(matches!(
        f.evaluate("loop", &[]),
        Err(PluginError::OutOfFuel)
    ));
    f.assert_still_serving();
}

#[test]
fn an_infinite_loop_with_unlimited_fuel_times_out() {
    let f = fixture_with(
        PluginHost::new(HostConfig {
            fuel: u64::MAX,
            timeout: Duration::from_millis(200),
            ..HostConfig::default()
        })
        .unwrap(),
    );
    assert!(matches!(f.evaluate("loop", &[]), Err(PluginError::Timeout)));
    f.assert_still_serving();
}

#[test]
fn allocating_without_end_hits_the_memory_limit() {
    let f = fixture();
    assert!(matches!(
        f.evaluate("membomb", &[]),
        Err(PluginError::MemoryLimit)
    ));
    f.assert_still_serving();
}

#[test]
fn a_smaller_memory_limit_is_enforced_too() {
    let f = fixture_with(
        PluginHost::new(HostConfig {
            memory_bytes: 4 << 20,
            ..test_config()
        })
        .unwrap(),
    );
    // 4 MiB is enough to instantiate and answer, not for a 4 MiB string.
    f.assert_still_serving();
    assert!(matches!(
        f.evaluate("huge-string", &[]),
        Err(PluginError::MemoryLimit)
    ));
}

#[test]
fn unbounded_recursion_traps() {
    let f = fixture();
    assert!(matches!(
        f.evaluate("recursion", &[]),
        Err(PluginError::Trap(_))
    ));
    f.assert_still_serving();
}

#[test]
fn a_panic_traps() {
    let f = fixture();
    assert!(matches!(f.evaluate("trap", &[]), Err(PluginError::Trap(_))));
    f.assert_still_serving();
}

#[test]
fn too_many_actions_are_refused_as_too_large() {
    let f = fixture();
    let limit = test_config().max_output_bytes;
    let result = f.evaluate("huge-output", &[]);
    assert!(
        matches!(result, Err(PluginError::OutputTooLarge { limit: l }) if l == limit),
        "{result:?}"
    );
    f.assert_still_serving();
}

#[test]
fn a_giant_string_is_refused_as_too_large() {
    let f = fixture();
    assert!(matches!(
        f.evaluate("huge-string", &[]),
        Err(PluginError::OutputTooLarge { .. })
    ));
    f.assert_still_serving();
}

#[test]
fn invalid_actions_are_reported_by_index() {
    let f = fixture();
    assert!(matches!(
        f.evaluate("invalid-action", &[]),
        Err(PluginError::InvalidAction { index: 1, .. })
    ));
    assert!(matches!(
        f.evaluate("refuse-outside-solve", &[]),
        Err(PluginError::InvalidAction { index: 0, .. })
    ));
    f.assert_still_serving();
}

#[test]
fn a_log_flood_is_cut_to_the_line_limits() {
    let f = fixture();
    let case = case_with(&f.store, "log-flood", &[]);
    let run = f
        .host
        .dry_run(&f.store, "hostile", &case.number, Trigger::SlaCheck)
        .unwrap();
    let max = test_config().max_log_lines;
    assert_eq!(
        run.logs.len(),
        max + 1,
        "kept lines plus the dropped-count line"
    );
    assert!(
        run.logs
            .iter()
            .all(|l| l.len() <= dossier_plugins::MAX_LOG_LINE + 16)
    );
    assert_eq!(run.actions, crate::common::harmless_actions());
}

fn assert_denied(result: dossier_plugins::Result<Vec<Action>>) -> String {
    match result {
        Err(PluginError::Guest { code, message }) => {
            assert_eq!(code, "denied", "the plugin got through: {message}");
            message
        }
        other => panic!("expected the plugin's own report, got {other:?}"),
    }
}

#[test]
fn the_file_system_is_out_of_reach() {
    let f = fixture();
    let message = assert_denied(f.evaluate("fs", &[]));
    println!("fs: {message}");
    f.assert_still_serving();
}

#[test]
fn the_network_is_out_of_reach() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let f = fixture();
    let message = assert_denied(f.evaluate("net", &[("port", &port)]));
    println!("net: {message}");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
    f.assert_still_serving();
}

#[test]
fn the_environment_and_arguments_are_empty() {
    let f = fixture();
    let message = assert_denied(f.evaluate("env", &[]));
    println!("env: {message}");
}

#[test]
fn clocks_are_frozen_and_randomness_repeats() {
    let f = fixture();
    let field = |actions: &[Action], name: &str| -> String {
        actions
            .iter()
            .find_map(|a| match a {
                Action::SetField { name: n, value } if n == name => Some(value.clone()),
                _ => None,
            })
            .unwrap()
    };
    let first = f.evaluate("clock", &[]).unwrap();
    let second = f.evaluate("clock", &[]).unwrap();
    println!("clock: {first:?}");
    assert_eq!(
        field(&first, "wall-ms"),
        "0",
        "SystemTime::now is the epoch"
    );
    assert_eq!(field(&first, "elapsed-ns"), "0", "Instant does not move");
    assert_eq!(
        field(&first, "hash-order"),
        field(&second, "hash-order"),
        "HashMap seeds repeat between calls"
    );
}

#[test]
fn plugins_see_lookup_tables_and_log_lines() {
    let f = fixture();
    let case = case_with(&f.store, "", &[]);
    let run = f
        .host
        .dry_run(&f.store, "hostile", &case.number, Trigger::CaseCreated)
        .unwrap();
    assert_eq!(run.actions, crate::common::harmless_actions());
    assert_eq!(run.invalid, None);
    assert_eq!(run.logs, ["info: hostile plugin: harmless path"]);
    assert_eq!(run.plugin.name, "hostile");
}

#[test]
fn a_dry_run_reports_invalid_actions_without_applying_them() {
    let f = fixture();
    let case = case_with(&f.store, "invalid-action", &[]);
    let run = f
        .host
        .dry_run(&f.store, "hostile", &case.number, Trigger::SlaCheck)
        .unwrap();
    assert_eq!(run.actions.len(), 2);
    assert!(run.invalid.is_some());
    assert_eq!(f.store.case(&case.number).unwrap(), case);
}

#[test]
fn the_host_evaluates_concurrently_from_many_threads() {
    let f = fixture();
    let cases: Vec<_> = (0..4).map(|_| case_with(&f.store, "", &[])).collect();
    std::thread::scope(|s| {
        for case in &cases {
            let (host, store, package) = (f.host.clone(), &f.store, &f.package);
            s.spawn(move || {
                for _ in 0..5 {
                    let actions = host
                        .evaluate(store, package, &ctx(case, Trigger::SlaCheck))
                        .unwrap();
                    assert_eq!(actions, crate::common::harmless_actions());
                }
            });
        }
    });
}
