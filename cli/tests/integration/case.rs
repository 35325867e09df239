//! `dossier case ...`: the life of a case, in text and JSON, and the all-or-nothing import.

use dossier::{CaseUpdate, Store, StoreOptions};
use serde_json::Value;

use crate::Env;

fn new_upi_case(env: &Env) -> String {
    env.ok(&[
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "failed_payment",
        "--subject",
        "Money debited but not received",
        "--description",
        "Paid a merchant by UPI; money left my account.",
        "--priority",
        "high",
        "--locale",
        "en-IN",
        "--channel",
        "app",
        "--tag",
        "upi",
        "--field",
        "vpa=shop@okbank",
        "--rail",
        "upi",
        "--txn-ref",
        "412345678901",
        "--amount-minor",
        "150000",
        "--currency",
        "INR",
    ])
}

#[test]
fn a_case_is_opened_listed_shown_updated_and_noted_in_text_and_json() {
    let env = Env::init("MX1");
    assert_eq!(new_upi_case(&env).trim(), "MX1-1");

    let list = env.ok(&["case", "list"]);
    assert!(list.starts_with("NUMBER"), "{list}");
    assert!(list.contains("MX1-1") && list.contains("Money debited but not received"));
    let rows = env.json(&["case", "list", "--market", "IN-UPI"]);
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["number"], "MX1-1");
    assert_eq!(rows[0]["priority"], "high");
    assert_eq!(
        env.json(&["case", "list", "--market", "ES"]),
        Value::Array(vec![])
    );
    assert_eq!(
        env.ok(&["case", "list", "--status", "solved"]).trim(),
        "no cases"
    );

    let show = env.ok(&["case", "show", "MX1-1"]);
    for want in [
        "MX1-1  Money debited but not received",
        "high",
        "txn_ref 412345678901",
        "vpa = shop@okbank",
    ] {
        assert!(show.contains(want), "missing {want:?} in\n{show}");
    }
    let case = env.json(&["case", "show", "MX1-1"]);
    assert_eq!(case["payment"]["txn_ref"], "412345678901");
    assert_eq!(case["payment"]["amount_minor"], 150000);
    assert_eq!(case["fields"]["vpa"], "shop@okbank");
    assert!(case["created_at"].is_i64(), "timestamps are raw ms in JSON");
    let id = case["id"].as_str().expect("id").to_string();

    let out = env.ok(&[
        "case",
        "update",
        "MX1-1",
        "--status",
        "pending",
        "--assignee",
        "lucia",
        "--tag",
        "npci",
        "--untag",
        "upi",
        "--field",
        "order=A-77",
        "--unset-field",
        "vpa",
        "--root-cause",
        "psp_timeout",
    ]);
    assert!(
        out.contains("updated MX1-1") && out.contains("pending"),
        "{out}"
    );
    env.ok(&[
        "case",
        "note",
        "MX1-1",
        "Customer sent the bank statement.",
        "--public",
    ]);
    env.ok(&[
        "case", "escalate", &id, "--to", "psp_bank", "--reason", "past T+5",
    ]);
    let sla = env.ok(&[
        "case",
        "sla",
        "MX1-1",
        "first_reply",
        "--due",
        "2030-01-01T00:00:00Z",
    ]);
    assert!(
        sla.contains("first_reply due 2030-01-01T00:00:00Z"),
        "{sla}"
    );

    let case = env.json(&["case", "show", &id]);
    assert_eq!(case["status"], "pending");
    assert_eq!(case["assignee"], "lucia");
    assert_eq!(case["root_cause"], "psp_timeout");
    assert_eq!(case["tags"], serde_json::json!(["npci"]));
    assert_eq!(case["fields"], serde_json::json!({"order": "A-77"}));
    assert_eq!(case["escalations"][0]["to"], "psp_bank");
    assert_eq!(case["sla"]["first_reply"]["due_at"], 1_893_456_000_000_i64);
    let notes: Vec<&Value> = case["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "note")
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["visibility"], "public");

    let show = env.ok(&["case", "show", "MX1-1"]);
    for want in [
        "escalations:",
        "to psp_bank",
        "timeline:",
        "Customer sent the bank statement.",
        "2030-01-01T00:00:00Z",
    ] {
        assert!(show.contains(want), "missing {want:?} in\n{show}");
    }

    let json = env.json(&[
        "case",
        "update",
        "MX1-1",
        "--unassign",
        "--status",
        "solved",
    ]);
    assert_eq!(json["assignee"], Value::Null);
    assert_eq!(json["status"], "solved");
}

#[test]
fn case_update_takes_a_note_an_escalation_and_slas_in_one_change() {
    let env = Env::init("MX1");
    new_upi_case(&env);
    let history = |env: &Env| {
        env.json(&["case", "show", "MX1-1", "--history"])["history"]
            .as_array()
            .map(Vec::len)
    };
    let before = history(&env);
    let case = env.json(&[
        "case",
        "update",
        "MX1-1",
        "--status",
        "open",
        "--note",
        "Called the bank; refund initiated",
        "--public",
        "--escalate",
        "psp_bank",
        "--reason",
        "no reversal after T+1",
        "--sla",
        "first_reply=+4h",
        "--sla",
        "resolution=2030-01-01T00:00:00Z",
    ]);
    assert_eq!(case["status"], "open");
    assert_eq!(case["escalations"][0]["to"], "psp_bank");
    assert_eq!(case["sla"]["resolution"]["due_at"], 1_893_456_000_000_i64);
    assert!(case["sla"]["first_reply"]["due_at"].is_i64(), "{case}");
    let last = &case["events"].as_array().expect("events").last().cloned();
    assert_eq!(
        last.as_ref().map(|e| e["kind"].clone()),
        Some("note".into())
    );
    assert_eq!(
        last.as_ref().map(|e| e["visibility"].clone()),
        Some("public".into())
    );
    assert_eq!(
        history(&env),
        before.map(|b| b + 1),
        "one command, one change"
    );
    // Met, in a second call; --reason without --escalate is bad usage.
    let case = env.json(&["case", "update", "MX1-1", "--sla-met", "first_reply"]);
    assert!(case["sla"]["first_reply"]["met_at"].is_i64(), "{case}");
    env.fail(&["case", "update", "MX1-1", "--reason", "why"], 2);
    env.fail(&["case", "update", "MX1-1", "--sla", "first_reply"], 2);
}

#[test]
fn an_unknown_case_is_a_user_error() {
    let env = Env::init("MX1");
    let out = env.fail(&["case", "show", "MX1-99"], 1);
    assert!(out.stderr.contains("no case found for MX1-99"), "{out:?}");
    env.fail(&["case", "note", "MX1-99", "hello"], 1);
    env.fail(&["case", "update", "MX1-99", "--status", "open"], 1);
}

#[test]
fn an_update_with_nothing_to_change_is_bad_usage() {
    let env = Env::init("MX1");
    new_upi_case(&env);
    let out = env.fail(&["case", "update", "MX1-1"], 2);
    assert!(out.stderr.contains("nothing to update"), "{out:?}");
    env.fail(
        &["case", "update", "MX1-1", "--assignee", "a", "--unassign"],
        2,
    );
    env.fail(&["case", "update", "MX1-1", "--field", "no-equals-sign"], 2);
    env.fail(&["case", "sla", "MX1-1", "first_reply"], 2);
}

#[test]
fn field_names_outside_the_contract_are_refused_with_the_rule() {
    let env = Env::init("MX1");
    let new_case = |field: &str| {
        env.fail(
            &[
                "case",
                "new",
                "--market",
                "IN-UPI",
                "--category",
                "failed_payment",
                "--subject",
                "Money debited but not received",
                "--field",
                field,
            ],
            1,
        )
    };
    for bad in ["Status=x", "não-ascii=x", "a/b:c=x"] {
        let out = new_case(bad);
        assert!(
            out.stderr
                .contains("lowercase ASCII letters, digits, '_', '-' and '.'"),
            "{bad}: {out:?}"
        );
    }
    let out = new_case("status=closed");
    assert!(
        out.stderr
            .contains("'status' is a property of the case itself"),
        "{out:?}"
    );
    // Nothing was half-written: no case exists.
    env.fail(&["case", "show", "MX1-1"], 1);
    new_upi_case(&env);
    let out = env.fail(&["case", "update", "MX1-1", "--field", "market=ES"], 1);
    assert!(out.stderr.contains("'market' is a property"), "{out:?}");
}

#[test]
fn a_closed_case_cannot_be_updated_and_nothing_changes() {
    let env = Env::init("MX1");
    new_upi_case(&env);
    env.ok(&["case", "update", "MX1-1", "--status", "closed"]);
    let before = env.ok(&["case", "show", "MX1-1", "--json"]);
    let out = env.fail(&["case", "update", "MX1-1", "--priority", "urgent"], 1);
    assert_eq!(
        out.stderr.trim(),
        "error: case MX1-1 is closed; a closed case cannot be changed"
    );
    let out = env.fail(&["case", "note", "MX1-1", "one more thing"], 1);
    assert!(out.stderr.contains("closed"), "{out:?}");
    env.fail(
        &["case", "escalate", "MX1-1", "--to", "risk", "--reason", "x"],
        1,
    );
    assert_eq!(env.ok(&["case", "show", "MX1-1", "--json"]), before);
}

#[test]
fn sla_deadlines_take_relative_times_and_breaches_are_listed() {
    let env = Env::init("MX1");
    new_upi_case(&env);
    env.ok(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "Reembolso",
    ]);
    let out = env.ok(&["case", "sla", "MX1-2", "first_reply", "--due", "+4h"]);
    assert!(out.contains("first_reply due 20"), "{out}");
    env.ok(&[
        "case",
        "sla",
        "MX1-1",
        "resolution",
        "--due",
        "2020-01-01T00:00:00Z",
    ]);
    let breached = env.json(&["case", "list", "--breached"]);
    assert_eq!(breached.as_array().map(Vec::len), Some(1));
    assert_eq!(breached[0]["number"], "MX1-1");
    assert!(env.ok(&["case", "list"]).contains("BREACHED"));
    // A deadline in the past is legitimate, and `-2h` is a value, not a flag.
    let out = env.ok(&["case", "sla", "MX1-2", "resolution", "--due", "-2h"]);
    assert!(out.contains("resolution due 20"), "{out}");
    let breached = env.json(&["case", "list", "--breached"]);
    assert_eq!(breached.as_array().map(Vec::len), Some(2));
    let out = env.fail(
        &["case", "sla", "MX1-1", "resolution", "--due", "tomorrow"],
        1,
    );
    assert!(out.stderr.contains("invalid time"), "{out:?}");
    env.ok(&["case", "sla", "MX1-1", "resolution", "--met"]);
    env.ok(&["case", "sla", "MX1-2", "resolution", "--met"]);
    assert_eq!(
        env.json(&["case", "list", "--breached"]),
        Value::Array(vec![])
    );
}

#[test]
fn case_show_history_lists_changes_and_conflicts_from_a_merge() {
    let env = Env::init("MX1");
    new_upi_case(&env);
    // A second site edits the same case concurrently; merge it in with the library.
    let open = |path: std::path::PathBuf, site: Option<&str>, author: &str| {
        Store::open(
            path,
            StoreOptions {
                site: site.map(String::from),
                author: Some(author.into()),
                ..Default::default()
            },
        )
        .expect("open store")
    };
    let other = open(env.file("blr2.db"), Some("BLR2"), "priya");
    {
        let mx = open(env.file("dossier.db"), None, "lucia");
        other.pull_from(&mx).expect("pull");
        let assign = |s: &Store, who: &str| {
            s.update_case(
                "MX1-1",
                CaseUpdate {
                    assignee: Some(Some(who.into())),
                    ..Default::default()
                },
            )
            .expect("update")
        };
        assign(&mx, "lucia");
        assign(&other, "priya");
        mx.pull_from(&other).expect("pull");
    }
    let out = env.ok(&["case", "show", "MX1-1", "--history"]);
    assert!(
        out.contains("history:") && out.contains("case.create"),
        "{out}"
    );
    assert!(out.contains("conflicts:"), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("assignee: values"))
        .expect("an assignee conflict line");
    assert!(
        line.contains("\"lucia\"") && line.contains("\"priya\"") && line.contains("shown"),
        "{line}"
    );
    let v = env.json(&["case", "show", "MX1-1", "--history"]);
    assert_eq!(v["conflicts"][0]["field"], "assignee");
    assert_eq!(
        v["conflicts"][0]["values"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(v["history"].as_array().is_some_and(|h| h.len() >= 3));
}

#[test]
fn case_import_stores_every_line_of_a_good_file() {
    let env = Env::init("MX1");
    let file = env.write(
        "cases.jsonl",
        concat!(
            r#"{"market": "IN-UPI", "category": "failed_payment", "subject": "Money debited but not received", "payment": {"rail": "upi", "txn_ref": "412345678901"}}"#,
            "\n\n",
            r#"{"market": "ES", "category": "chargeback_dispute", "subject": "Me cobraron dos veces", "priority": "high"}"#,
            "\n",
            r#"{"market": "BR-PIX", "category": "failed_payment", "subject": "Pix enviado e não recebido", "tags": ["pix"]}"#,
            "\n"
        ),
    );
    let out = env.ok(&["case", "import", &file]);
    assert!(out.contains("imported 3 cases"), "{out}");
    let rows = env.json(&["case", "list"]);
    assert_eq!(rows.as_array().map(Vec::len), Some(3));
    assert_eq!(
        env.json(&["case", "show", "MX1-3"])["tags"],
        serde_json::json!(["pix"])
    );
}

#[test]
fn case_import_of_a_file_with_bad_json_on_line_3_stores_nothing() {
    let env = Env::init("MX1");
    let file = env.write(
        "cases.jsonl",
        concat!(
            r#"{"market": "ES", "category": "refund", "subject": "uno"}"#,
            "\n",
            r#"{"market": "ES", "category": "refund", "subject": "dos"}"#,
            "\n",
            r#"{"market": "ES", "category": "refund", "subject": "#,
            "\n",
            r#"{"market": "ES", "category": "refund", "subject": "cuatro"}"#,
            "\n"
        ),
    );
    let out = env.fail(&["case", "import", &file], 1);
    assert!(
        out.stderr
            .starts_with("error: cases.jsonl: subject (line 3, column "),
        "{out:?}"
    );
    assert_eq!(env.ok(&["case", "list"]).trim(), "no cases");
}

#[test]
fn case_import_of_a_file_with_an_invalid_market_on_line_2_stores_nothing() {
    let env = Env::init("MX1");
    let file = env.write(
        "cases.jsonl",
        concat!(
            r#"{"market": "ES", "category": "refund", "subject": "uno"}"#,
            "\n",
            r#"{"market": "in upi", "category": "refund", "subject": "dos"}"#,
            "\n",
            r#"{"market": "ES", "category": "refund", "subject": "tres"}"#,
            "\n"
        ),
    );
    let out = env.fail(&["case", "import", &file], 1);
    assert!(
        out.stderr
            .starts_with("error: cases.jsonl: line 2: invalid market"),
        "{out:?}"
    );
    assert_eq!(env.ok(&["case", "list"]).trim(), "no cases");
    assert_eq!(env.json(&["case", "list"]), Value::Array(vec![]));
}

#[test]
fn with_json_a_case_import_error_gives_its_location_as_fields() {
    let env = Env::init("MX1");
    let file = env.write(
        "cases.jsonl",
        concat!(
            r#"{"market": "ES", "category": "refund", "subject": "uno"}"#,
            "\n\n",
            r#"{"market": "in upi", "category": "refund", "subject": "dos"}"#,
            "\n",
            r#"{"market": "ES", "category": "refund", "subject": "tres"}"#,
            "\n"
        ),
    );
    let out = env.run(&["case", "import", &file, "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let v: Value = serde_json::from_str(&out.stderr).unwrap();
    let import = &v["error"]["import"];
    assert_eq!(import["source"], file.as_str(), "{v}");
    assert_eq!(
        import["location"],
        serde_json::json!({"kind": "line", "line": 3, "column": null}),
        "{v}"
    );
    assert!(
        import["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid market"),
        "{v}"
    );

    let file = env.write(
        "bad.jsonl",
        r#"{"market": "ES", "category": "refund", "subject": "a", "payment": {"amount_minor": "x"}}"#,
    );
    let out = env.run(&["case", "import", &file, "--json"]);
    let v: Value = serde_json::from_str(&out.stderr).unwrap();
    let location = &v["error"]["import"]["location"];
    assert_eq!(location["kind"], "json_path", "{v}");
    assert_eq!(location["path"], "payment.amount_minor", "{v}");
    assert_eq!(location["line"], 1, "{v}");
    assert!(location["column"].as_u64().unwrap() > 60, "{v}");
}

#[test]
fn case_import_names_the_field_of_a_wrong_value_without_echoing_card_data() {
    let env = Env::init("MX1");
    let file = env.write(
        "cases.jsonl",
        r#"{"market": "ES", "category": "refund", "subject": "a", "payment": {"amount_minor": "4111111111111111"}}"#,
    );
    let out = env.fail(&["case", "import", &file], 1);
    assert!(
        out.stderr.contains("line 1") && out.stderr.contains("payment.amount_minor"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("4111111111111111"), "{out:?}");
    let out = env.fail(&["case", "import", "missing.jsonl"], 1);
    assert!(out.stderr.contains("cannot read missing.jsonl"), "{out:?}");
}
