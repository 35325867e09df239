//! `dossier demo`: the newcomer's first command runs end to end and tells its story.

use crate::Env;

#[test]
fn the_demo_exits_0_and_shows_merge_redaction_four_eyes_and_the_walk() {
    let env = Env::empty();
    let out = env.ok(&["demo"]);
    for want in [
        "== 1. Two sites ==",
        "== 8. What you saw ==",
        "(skipped: run `cargo xtask demo`",
        "411111******1111",
        "cvv [removed]",
        "\"Verify first: was the customer's account debited? Check the bank statement, not the app.\"",
        "status:      pending",
        "priority:    urgent",
        "assignee: values",
        "identical on both sites: yes",
        "lucia tries to publish it herself: refused",
        "four-eyes",
        "approves it: version 1, approved by amara",
        "path:     start -> type -> p2m_age -> collect_rrn -> raise_psp -> end_escalated",
        "outcome:  unknown (Escalated to PSP bank)",
        "Recorded on MX1-1",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("4111-1111-1111-1111"));
    // Part 7 was skipped, so the summary must not claim it was seen.
    assert!(!out.contains("Market rules ship as signed"), "{out}");
    assert!(
        out.contains("7. Not shown this time: market rules"),
        "{out}"
    );
    // The temporary directory is gone afterwards.
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("Working in "))
        .and_then(|l| l.split(" (").next())
        .expect("the demo prints its directory");
    assert!(
        !std::path::Path::new(dir).exists(),
        "{dir} should be removed"
    );
}

#[test]
fn with_the_example_plugins_the_demo_runs_a_plugin_that_arrived_by_sync() {
    let env = Env::empty();
    let wasm = dossier_plugins::testing::build_component("in-upi-failed-txn");
    let dir = wasm.parent().expect("component directory");
    let out = env.ok(&["demo", "--plugins", dir.to_str().expect("utf-8 path")]);
    for want in [
        "== 7. A market plugin travels by sync and runs at the site ==",
        "It reaches BLR2 by sync; BLR2 does not trust its publisher yet, so it is inactive.",
        "the plugin sets the T+1 reversal deadline",
        "missing-payment-txn-ref",
        "Solving it without the RRN is refused by in-upi-failed-txn@",
        "is solved.",
        "7. Market rules ship as signed, sandboxed WebAssembly plugins",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn the_demo_keeps_its_stores_with_keep() {
    let env = Env::empty();
    let out = env.ok(&["demo", "--keep"]);
    let dir = out
        .lines()
        .find_map(|l| l.strip_prefix("Working in "))
        .and_then(|l| l.split(" (").next())
        .expect("the demo prints its directory")
        .to_string();
    let mx1 = std::path::Path::new(&dir).join("mx1.db");
    assert!(mx1.exists(), "{out}");
    let listed = env.ok(&[
        "--db",
        mx1.to_str().expect("utf-8 path"),
        "case",
        "list",
        "--json",
    ]);
    let cases: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(cases.as_array().map(Vec::len), Some(4));
    std::fs::remove_dir_all(&dir).expect("clean up");
}
