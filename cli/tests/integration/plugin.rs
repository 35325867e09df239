//! `dossier plugin ...` with the real example plugins, built from source to wasm32-wasip2.

use serde_json::Value;

use super::Env;

fn component(package: &str) -> String {
    dossier_plugins::testing::build_component(package)
        .display()
        .to_string()
}

fn tags(case: &Value) -> Vec<String> {
    case["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_signed_plugin_runs_only_once_trusted_sets_deadlines_and_guards_the_solve() {
    let env = Env::init("BLR2");
    let wasm = component("in-upi-failed-txn");
    let key = env.json(&["plugin", "keygen", "--out", "team.key"]);
    let public = key["public_key"].as_str().expect("public key").to_string();
    // The secret key file is refused as a public key, and keygen never overwrites.
    env.fail(&["plugin", "keygen", "--out", "team.key"], 1);

    let info = env.json(&["plugin", "install", &wasm, "--sign-with", "team.key"]);
    assert_eq!(info["name"], "in-upi-failed-txn");
    assert_eq!(info["markets"], serde_json::json!(["IN-UPI"]));
    assert_eq!(info["signature_ok"], true);
    assert_eq!(info["active"], false, "untrusted publisher: {info}");
    assert!(env.ok(&["plugin", "list"]).contains("untrusted"));

    // Not trusted yet: a new case gets no plugin actions.
    let case_args = [
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "failed_payment",
        "--subject",
        "Paid a merchant by UPI, debited, order not confirmed",
        "--field",
        "txn_type=p2m",
        "--field",
        "debit_date=2026-11-02",
    ];
    let before = env.json(&case_args);
    assert!(before["sla"].as_object().expect("sla").is_empty());

    env.ok(&["plugin", "trust", &public]);
    let list = env.json(&["plugin", "list"]);
    assert_eq!(list[0]["active"], true, "{list}");

    let case = env.json(&case_args);
    let number = case["number"].as_str().expect("number").to_string();
    // T = 2 Nov 2026 (IST), P2M: reversal due by the end of T+5 = 7 Nov, 23:59:59.999 IST.
    let due = dossier::time::parse_rfc3339("2026-11-07T18:29:59.999Z").expect("time");
    assert_eq!(case["sla"]["reversal"]["due_at"], due, "{case}");
    assert!(
        tags(&case).contains(&"missing-payment-txn-ref".to_string()),
        "{case}"
    );
    let kinds: Vec<&str> = case["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    assert!(kinds.contains(&"plugin"), "{kinds:?}");

    // Solving without the RRN is refused, and the case stays open.
    let out = env.fail(&["case", "update", &number, "--status", "solved"], 1);
    assert!(
        out.stderr.contains("solve refused by in-upi-failed-txn@"),
        "{out:?}"
    );
    assert_eq!(env.json(&["case", "show", &number])["status"], "new");

    // A dry run prints actions and changes nothing.
    let history_before = env.json(&["case", "show", &number, "--history"]);
    let dry = env.json(&[
        "plugin",
        "run",
        "in-upi-failed-txn",
        "--case",
        &number,
        "--trigger",
        "sla-check",
    ]);
    assert_eq!(dry["plugin"]["name"], "in-upi-failed-txn");
    assert!(
        !dry["actions"].as_array().expect("actions").is_empty(),
        "{dry}"
    );
    assert_eq!(
        env.json(&["case", "show", &number, "--history"]),
        history_before
    );
    let text = env.ok(&["plugin", "run", "in-upi-failed-txn", "--case", &number]);
    assert!(text.contains("dry run, nothing applied"), "{text}");

    // The debit was weeks ago, so the RBI compensation is due too: the plugin asks for it.
    env.ok(&["case", "update", &number, "--txn-ref", "412233445566"]);
    let out = env.fail(&["case", "update", &number, "--status", "solved"], 1);
    assert!(out.stderr.contains("compensation"), "{out:?}");
    env.ok(&[
        "case",
        "update",
        &number,
        "--field",
        "compensation_paid=2026-11-21",
    ]);
    let solved = env.json(&["case", "update", &number, "--status", "solved"]);
    assert_eq!(solved["status"], "solved");
    assert!(!tags(&solved).contains(&"missing-payment-txn-ref".to_string()));
}

#[test]
fn a_dry_run_whose_actions_would_be_refused_exits_1_with_the_reason() {
    let env = Env::init("BLR2");
    let wasm = component("dossier-plugin-hostile");
    env.ok(&["plugin", "install", &wasm]);
    let case = env.json(&[
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "failed_payment",
        "--subject",
        "Debited but not credited",
        "--field",
        "attack=refuse-outside-solve",
    ]);
    let number = case["number"].as_str().expect("number").to_string();
    let run = [
        "plugin",
        "run",
        "hostile",
        "--case",
        &number,
        "--trigger",
        "sla-check",
    ];
    let out = env.fail(&run, 1);
    assert!(out.stdout.contains("refuse-solve: no"), "{out:?}");
    assert!(
        out.stderr
            .contains("would refuse these actions: invalid plugin action #0: refuse-solve"),
        "{out:?}"
    );
    let mut json = run.to_vec();
    json.push("--json");
    // With --json the run is still printed, and the error is one line of JSON on stderr.
    let out = env.run(&json);
    assert_eq!(out.code, 1, "{out:?}");
    let dry: Value = serde_json::from_str(&out.stdout).expect("json on stdout");
    assert!(dry["invalid"].is_string(), "{dry}");
    let err: Value = serde_json::from_str(&out.stderr).expect("json error on stderr");
    assert_eq!(err["error"]["exit_code"], 1, "{err}");
    // A harmless case previews cleanly, with the plugin's log line.
    let good = env.json(&[
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "failed_payment",
        "--subject",
        "Debited but not credited",
    ]);
    let good = good["number"].as_str().expect("number").to_string();
    let text = env.ok(&["plugin", "run", "hostile", "--case", &good]);
    assert!(
        text.contains("log info: hostile plugin: harmless path"),
        "{text}"
    );
}

#[test]
fn the_site_key_signs_by_default_and_tables_travel_in_the_package() {
    let env = Env::init("MAD1");
    let wasm = component("eu-psd2-complaint");
    let tables_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/examples/eu-psd2-complaint/tables");
    let mut args = vec!["plugin".to_string(), "install".into(), wasm];
    for entry in std::fs::read_dir(&tables_dir).expect("tables dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        args.push("--table".into());
        args.push(format!("{name}={}", path.display()));
    }
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let info: Value = serde_json::from_str(&env.ok(&args)).expect("json");
    assert_eq!(info["active"], true, "own site key is trusted: {info}");
    assert!(
        info["markets"]
            .as_array()
            .expect("markets")
            .contains(&Value::from("ES"))
    );
    // A complaint filed in Spain gets its 15-business-day deadline on the Spanish calendar.
    let case = env.json(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "Reclamación: reembolso no recibido",
    ]);
    let sla = case["sla"].as_object().expect("sla");
    assert!(!sla.is_empty(), "the PSD2 clock was set: {case}");
}

#[test]
fn bad_plugin_files_and_flags_are_clear_errors() {
    let env = Env::init("BLR2");
    env.write("not.wasm", "definitely not wasm");
    let out = env.fail(&["plugin", "install", "not.wasm"], 1);
    assert!(out.stderr.contains("component"), "{out:?}");
    // A core module (not a component) is refused before anything is stored.
    std::fs::write(env.file("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    env.fail(&["plugin", "install", "core.wasm"], 1);
    let wasm = component("in-upi-failed-txn");
    let out = env.fail(
        &["plugin", "install", &wasm, "--table", "no-equals-sign"],
        2,
    );
    assert!(out.stderr.contains("NAME=FILE"), "{out:?}");
    env.write("bad.key", "not a key");
    env.fail(&["plugin", "install", &wasm, "--sign-with", "bad.key"], 1);
    env.fail(&["plugin", "trust", "not-a-key"], 1);
    env.fail(
        &["plugin", "run", "nothing-installed", "--case", "BLR2-1"],
        1,
    );
    assert!(env.ok(&["plugin", "list"]).contains("no plugins installed"));
}
