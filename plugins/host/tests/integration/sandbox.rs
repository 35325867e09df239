//! Each hostile behaviour is stopped by the right limit, reported as the right variant, and
//! leaves the host able to serve the next call.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dossier::{Action, Trigger};
use dossier_plugins::{HostConfig, PluginError, PluginHost};

use crate::common::{
    Fixture, case_with, ctx, fixture, fixture_with, harmless_actions, test_config,
};

/// The deadline of [`deadline_host`].
const DEADLINE: Duration = Duration::from_secs(1);

/// What a call may take beyond its deadline here. Generous on purpose: these tests prove that a
/// call does not wait out the plugin's six-second sleep, not how fast the host is (timings
/// belong in the benchmarks).
const MARGIN: Duration = Duration::from_millis(1_500);

/// A host with unlimited fuel and a one-second deadline, so only the deadline can stop a
/// plugin; shared so the component is compiled once.
fn deadline_host() -> PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| {
        PluginHost::new(HostConfig {
            fuel: u64::MAX,
            timeout: DEADLINE,
            ..HostConfig::default()
        })
        .unwrap()
    })
    .clone()
}

/// The plugin's verdict on a fresh case with this attack, and how long the call took, timed
/// from outside.
fn timed(f: &Fixture, attack: &str) -> (dossier_plugins::Result<Vec<Action>>, Duration) {
    let case = case_with(&f.store, attack, &[]);
    let start = Instant::now();
    let result = f
        .host
        .evaluate(&f.store, &f.package, &ctx(&case, Trigger::SlaCheck));
    (result, start.elapsed())
}

fn assert_within_deadline(attack: &str, took: Duration) {
    assert!(
        took < DEADLINE + MARGIN,
        "{attack}: the call took {took:?} against a {DEADLINE:?} deadline"
    );
}

#[test]
fn a_sleeping_plugin_wakes_at_once_on_the_stopped_clock() {
    let f = fixture_with(deadline_host());
    let (result, took) = timed(&f, "sleep");
    assert_within_deadline("sleep", took);
    assert_eq!(result.unwrap(), harmless_actions());
    f.assert_still_serving();
}

#[test]
fn polling_monotonic_clock_pollables_does_not_wait_for_real_time() {
    let f = fixture_with(deadline_host());
    let (result, took) = timed(&f, "poll-loop");
    assert_within_deadline("poll-loop", took);
    assert_eq!(result.unwrap(), harmless_actions());
}

#[test]
fn a_plugin_looping_over_host_calls_times_out_at_its_deadline() {
    let f = fixture_with(deadline_host());
    let (result, took) = timed(&f, "host-call-loop");
    assert_within_deadline("host-call-loop", took);
    assert!(matches!(result, Err(PluginError::Timeout)), "{result:?}");
    f.assert_still_serving();
}

#[test]
fn what_a_plugin_writes_to_stderr_is_kept_with_its_logs() {
    let f = fixture();
    let case = case_with(&f.store, "stderr", &[]);
    let run = f
        .host
        .dry_run(&f.store, "hostile", &case.number, Trigger::SlaCheck)
        .unwrap();
    assert_eq!(run.actions, harmless_actions());
    assert_eq!(
        run.logs.last().map(String::as_str),
        Some("stderr: hostile plugin: first stderr line | hostile plugin: second stderr line"),
        "{:?}",
        run.logs
    );
}

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
fn a_panic_traps_with_the_panic_message() {
    let f = fixture();
    let result = f.evaluate("trap", &[]);
    assert!(
        matches!(&result, Err(PluginError::Trap(m)) if m.contains("hostile plugin panics on purpose")),
        "{result:?}"
    );
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
