//! `dossier sop ...`: import, validation, change control, editing and walking.

use serde_json::{Value, json};

use crate::{Env, testdata};

/// Imports a file and returns the new SOP's id (the first line of the output).
fn import(env: &Env, file: &str) -> (String, String) {
    let out = env.ok(&["sop", "import", file]);
    let id = out.lines().next().expect("an id line").trim().to_string();
    (id, out)
}

/// A small valid tree; `patch` edits its JSON before it is written.
fn tree(patch: impl FnOnce(&mut Value)) -> String {
    let mut v = json!({
        "title": "Refund not received",
        "markets": ["ES"],
        "master_locale": "en",
        "entry": "q",
        "nodes": {
            "q": {
                "kind": "question",
                "text": "Did the refund arrive?",
                "answers": [
                    {"label": "Yes", "next": "done"},
                    {"label": "No", "next": "wait"}
                ]
            },
            "wait": {
                "kind": "end",
                "text": "Ask the customer to wait 10 business days.",
                "outcome": {"label": "Wait", "result": "unknown"}
            },
            "done": {
                "kind": "end",
                "text": "Nothing to do.",
                "outcome": {"label": "Done", "result": "success"}
            }
        },
        "tests": [{"name": "yes is done", "answers": ["Yes"], "expect_end": "done"}]
    });
    patch(&mut v);
    v.to_string()
}

fn add_answer(v: &mut Value, label: &str, next: &str) {
    if let Some(answers) = v["nodes"]["q"]["answers"].as_array_mut() {
        answers.push(json!({"label": label, "next": next}));
    }
}

/// Submits and publishes `id` with an approver who wrote none of it.
fn publish(env: &Env, id: &str) {
    env.ok(&["sop", "submit", id]);
    env.ok(&["sop", "publish", id, "--author", "amara"]);
}

#[test]
fn both_sample_sops_import_as_valid_drafts() {
    let env = Env::init("MX1");
    let (upi, out) = import(&env, &testdata("upi_debited_not_credited.json"));
    assert!(out.contains("valid"), "{out}");
    let (card, _) = import(&env, &testdata("card_dispute_intake.json"));
    assert_eq!(env.ok(&["sop", "validate", &upi]).trim(), "valid");
    assert_eq!(env.ok(&["sop", "validate", &card]).trim(), "valid");
    let list = env.json(&["sop", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .all(|s| s["status"] == "draft")
    );
    let text = env.ok(&["sop", "list"]);
    assert!(
        text.contains("UPI money debited, not credited") && text.contains("Card dispute intake")
    );
}

#[test]
fn sop_show_prints_the_tree_in_walk_order_in_the_chosen_locale() {
    let env = Env::init("MX1");
    let (upi, _) = import(&env, &testdata("upi_debited_not_credited.json"));
    let out = env.ok(&["sop", "show", &upi]);
    let pos = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing in\n{out}"))
    };
    assert!(pos("start (question)") < pos("type (question)"));
    assert!(pos("type (question)") < pos("p2m_age (logic)"));
    assert!(pos("p2m_age (logic)") < pos("raise_psp (action: escalate to=psp_bank)"));
    for want in [
        "Was the customer's account debited?",
        "- Yes [yes] -> type",
        "if days_since_txn <= 5 -> end_wait_p2m",
        "else -> collect_rrn",
        "end_escalated (end: unknown \"Escalated to PSP bank\")",
        "status:     draft",
        "problems: none",
    ] {
        pos(want);
    }
    let v = env.json(&["sop", "show", &upi]);
    assert_eq!(v["definition"]["entry"], "start");
    assert_eq!(v["status"], "draft");

    let (card, _) = import(&env, &testdata("card_dispute_intake.json"));
    let es = env.ok(&["sop", "show", &card]);
    assert!(es.contains("¿El cliente reconoce la compra?"), "{es}");
    let en = env.ok(&["sop", "show", &card, "--locale", "en"]);
    assert!(
        en.contains("Does the customer recognise the purchase?"),
        "{en}"
    );
}

#[test]
fn broken_trees_import_as_drafts_and_validate_exits_1_naming_each_node() {
    let env = Env::init("MX1");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "dangling",
            // Fixtures are not run on a tree with a dangling link or a cycle (that would be a
            // second, tree-level problem), so these two trees carry none.
            tree(|v| {
                add_answer(v, "Unsure", "nowhere");
                v["tests"] = json!([]);
            }),
            "node \"q\": next \"nowhere\" does not exist (answer \"unsure\")",
        ),
        (
            "cycle",
            tree(|v| {
                add_answer(v, "Ask again", "again");
                v["nodes"]["again"] = json!({"kind": "content", "text": "Ask again.", "next": "q"});
                v["tests"] = json!([]);
            }),
            "cycle",
        ),
        (
            "unreachable",
            tree(|v| {
                v["nodes"]["orphan"] = json!({"kind": "end", "text": "Lost.", "outcome": {"label": "x", "result": "failure"}});
            }),
            "node \"orphan\": not reachable",
        ),
        (
            "fixture",
            tree(|v| v["tests"][0]["expect_end"] = json!("wait")),
            "fixture \"yes is done\"",
        ),
    ];
    for (name, json, want) in cases {
        let file = env.write(&format!("{name}.json"), &json);
        let (id, out) = import(&env, &file);
        assert!(
            out.contains("imported as draft; 1 problem must be fixed before publishing:"),
            "{name}: {out}"
        );
        let v = env.fail(&["sop", "validate", &id], 1);
        assert!(v.stdout.contains(want), "{name}: {v:?}");
        assert!(
            v.stdout.lines().all(|l| l.starts_with("node \"")),
            "{name}: every line names a node: {v:?}"
        );
        assert!(v.stderr.contains("is invalid: 1 problem"), "{name}: {v:?}");

        env.ok(&["sop", "submit", &id]);
        let refused = env.fail(&["sop", "publish", &id, "--author", "amara"], 1);
        assert!(refused.stderr.contains("is invalid"), "{name}: {refused:?}");
    }
    let out = env.run(&["sop", "validate", "not-an-id"]);
    assert_eq!(out.code, 1, "{out:?}");
}

#[test]
fn an_sop_file_with_bad_json_names_the_path_and_stores_nothing() {
    let env = Env::init("MX1");
    let file = env.write(
        "bad.json",
        &tree(|v| v["nodes"]["q"]["answers"][0]["nxt"] = json!("done")),
    );
    let out = env.fail(&["sop", "import", &file], 1);
    assert!(
        out.stderr.contains("bad.json") && out.stderr.contains("nodes.q.answers[0]"),
        "{out:?}"
    );
    assert_eq!(env.json(&["sop", "list"]), Value::Array(vec![]));
}

#[test]
fn publishing_needs_review_and_a_second_person() {
    let env = Env::init("MX1");
    let (id, _) = import(&env, &testdata("upi_debited_not_credited.json"));
    let out = env.fail(&["sop", "publish", &id, "--author", "amara"], 1);
    assert!(out.stderr.contains("submit it for review first"), "{out:?}");
    env.ok(&["sop", "submit", &id]);
    let out = env.fail(&["sop", "publish", &id], 1);
    assert!(out.stderr.contains("four-eyes"), "{out:?}");
    let out = env.ok(&["sop", "publish", &id, "--author", "amara"]);
    assert!(out.contains("as version 1 (approved by amara)"), "{out}");
    let v = env.json(&["sop", "show", &id]);
    assert_eq!(v["status"], "published");
    assert_eq!(v["versions"][0]["by"], "amara");
    let def = env.json(&["sop", "show", &id, "--version", "1"]);
    assert_eq!(def["entry"], "start");

    // Whoever edits the next draft cannot approve it.
    env.ok(&[
        "sop",
        "edit",
        &id,
        "--node",
        "start",
        "--text",
        "Was the account debited?",
        "--author",
        "amara",
    ]);
    env.ok(&["sop", "submit", &id]);
    let out = env.fail(&["sop", "publish", &id, "--author", "amara"], 1);
    assert!(out.stderr.contains("approver amara"), "{out:?}");
    env.ok(&["sop", "publish", &id, "--author", "lucia"]);
    assert_eq!(env.json(&["sop", "show", &id])["versions"][1]["version"], 2);
}

#[test]
fn sop_run_with_answers_walks_the_published_version() {
    let env = Env::init("MX1");
    let (id, _) = import(&env, &testdata("upi_debited_not_credited.json"));
    let out = env.fail(&["sop", "run", &id, "--answer", "Yes"], 1);
    assert!(out.stderr.contains("never published"), "{out:?}");
    publish(&env, &id);

    let out = env.ok(&[
        "sop",
        "run",
        &id,
        "--answer",
        "Yes",
        "--answer",
        "P2M",
        "--answer",
        "days_since_txn=9",
    ]);
    assert!(
        out.contains(
            "path:     start -> type -> p2m_age -> collect_rrn -> raise_psp -> end_escalated"
        ),
        "{out}"
    );
    assert!(
        out.contains("outcome:  unknown (Escalated to PSP bank)"),
        "{out}"
    );
    assert!(
        out.contains("action:   raise_psp: escalate to=psp_bank"),
        "{out}"
    );

    let v = env.json(&[
        "sop",
        "run",
        &id,
        "--answer",
        "yes",
        "--answer",
        "P2P",
        "--answer",
        "days_since_txn=0",
    ]);
    assert_eq!(v["end"], "end_wait_p2p");
    assert_eq!(v["outcome"]["result"], "success");
    assert_eq!(
        v["path"],
        json!(["start", "type", "p2p_age", "end_wait_p2p"])
    );

    // Answers ran out: the pending question is reported (stdin is not a terminal).
    let out = env.ok(&["sop", "run", &id, "--answer", "Yes"]);
    assert!(
        out.contains("outcome:  incomplete") && out.contains("pending:  type"),
        "{out}"
    );
    let out = env.ok(&["sop", "run", &id]);
    assert!(out.contains("pending:  start"), "{out}");

    let out = env.fail(
        &["sop", "run", &id, "--answer", "Yes", "--answer", "P2M"],
        1,
    );
    assert!(
        out.stderr.contains("days_since_txn") && out.stderr.contains("not bound"),
        "{out:?}"
    );
    let out = env.fail(&["sop", "run", &id, "--answer", "Maybe"], 1);
    assert!(
        out.stderr.contains("no answer of question \"start\""),
        "{out:?}"
    );
}

#[test]
fn sop_run_takes_each_answer_whole_so_labels_may_hold_commas() {
    let env = Env::init("MX1");
    let (id, _) = import(&env, &testdata("card_dispute_intake.json"));
    publish(&env, &id);
    let v = env.json(&[
        "sop",
        "run",
        &id,
        "--answer",
        "Sí, pero hay un problema",
        "--answer",
        "Cargo duplicado",
    ]);
    assert_eq!(v["end"], "duplicado", "{v}");
    assert_eq!(
        v["inputs"],
        json!(["Sí, pero hay un problema", "Cargo duplicado"])
    );
    // The comma-separated form is gone: it cut such labels in two.
    let out = env.fail(&["sop", "run", &id, "--answers", "No"], 2);
    assert!(out.stderr.contains("--answer"), "{out:?}");
    let help = env.ok(&["sop", "run", "--help"]);
    assert!(
        help.contains("--answer <ANSWER>") && help.contains("commas"),
        "{help}"
    );
}

#[test]
fn sop_run_on_a_case_of_another_market_is_refused_unless_overridden() {
    let env = Env::init("MX1");
    let (card, _) = import(&env, &testdata("card_dispute_intake.json"));
    publish(&env, &card);
    env.ok(&[
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "chargeback_dispute",
        "--subject",
        "Unknown card charge",
    ]);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sop",
            "run",
            card.as_str(),
            "--answer",
            "No",
            "--case",
            "MX1-1",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let args = run(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.fail(&args, 1);
    for want in ["ES, EU", "IN-UPI", "MX1-1", "--any-market"] {
        assert!(out.stderr.contains(want), "{want}: {out:?}");
    }
    let case = env.json(&["case", "show", "MX1-1"]);
    assert_eq!(case["sop_runs"], json!([]), "nothing recorded");

    let args = run(&["--any-market"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&args);
    let case = env.json(&["case", "show", "MX1-1"]);
    assert_eq!(case["sop_runs"][0]["exit_node"], "fin_riesgo");
    let events = case["events"].as_array().expect("events");
    let run_event = events
        .iter()
        .find(|e| e["kind"] == "sop_run")
        .expect("a sop_run event");
    let body = run_event["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("override") && body.contains("IN-UPI"),
        "{body}"
    );
    // The flag only means something with --case.
    env.fail(&["sop", "run", &card, "--answer", "No", "--any-market"], 2);
}

#[test]
fn sop_run_with_a_case_records_the_run_on_the_case() {
    let env = Env::init("MX1");
    let (id, _) = import(&env, &testdata("upi_debited_not_credited.json"));
    publish(&env, &id);
    env.ok(&[
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "failed_payment",
        "--subject",
        "Money debited but not received",
    ]);
    let out = env.ok(&[
        "sop",
        "run",
        &id,
        "--answer",
        "Yes",
        "--answer",
        "P2M",
        "--answer",
        "days_since_txn=9",
        "--case",
        "MX1-1",
    ]);
    assert!(out.contains("recorded on case MX1-1"), "{out}");
    let case = env.json(&["case", "show", "MX1-1"]);
    assert_eq!(case["sop_runs"][0]["outcome"], "unknown");
    assert_eq!(case["sop_runs"][0]["exit_node"], "end_escalated");
    assert_eq!(case["sop_runs"][0]["version"], 1);
    let out = env.fail(&["sop", "run", &id, "--case", "MX1-1", "--version", "1"], 2);
    assert!(out.stderr.contains("--version"), "{out:?}");
}

#[test]
fn sop_edit_changes_text_and_structure_and_reports_new_problems() {
    let env = Env::init("MX1");
    let file = env.write("refund.json", &tree(|_| {}));
    let (id, _) = import(&env, &file);

    let out = env.ok(&[
        "sop",
        "edit",
        &id,
        "--node",
        "q",
        "--text",
        "Did the refund reach the account?",
    ]);
    assert!(out.contains("edited node q"), "{out}");
    let v = env.json(&["sop", "show", &id]);
    assert_eq!(
        v["definition"]["nodes"]["q"]["text"]["en"],
        "Did the refund reach the account?"
    );

    env.ok(&[
        "sop",
        "edit",
        &id,
        "--node",
        "q",
        "--text",
        "¿Llegó el reembolso?",
        "--locale",
        "es",
    ]);
    let es = env.ok(&["sop", "show", &id, "--locale", "es"]);
    assert!(es.contains("¿Llegó el reembolso?"), "{es}");

    // A new answer pointing at a node that does not exist yet: a reported problem.
    let out = env.ok(&[
        "sop",
        "edit",
        &id,
        "--node",
        "q",
        "--add-answer",
        "Partly=partial",
    ]);
    assert!(
        out.contains("node \"q\": next \"partial\" does not exist"),
        "{out}"
    );
    let out = env.ok(&[
        "sop",
        "edit",
        &id,
        "--node",
        "partial",
        "--kind",
        "end",
        "--text",
        "Refund the difference.",
        "--outcome",
        "success",
        "--outcome-label",
        "Partial refund",
    ]);
    assert!(!out.contains("problem"), "{out}");
    let v = env.json(&["sop", "show", &id]);
    assert_eq!(v["definition"]["nodes"]["q"]["answers"][2]["id"], "partly");
    assert_eq!(
        v["definition"]["nodes"]["partial"]["outcome"]["label"],
        "Partial refund"
    );
    assert_eq!(v["violations"], json!([]));

    env.ok(&[
        "sop",
        "edit",
        &id,
        "--node",
        "q",
        "--remove-answer",
        "partly",
    ]);
    let out = env.ok(&["sop", "edit", &id, "--node", "partial", "--delete"]);
    assert!(
        out.contains("deleted node partial") && !out.contains("problem"),
        "{out}"
    );

    let out = env.fail(&["sop", "edit", &id, "--node", "ghost", "--next", "q"], 1);
    assert!(out.stderr.contains("give --kind to create it"), "{out:?}");
    env.fail(&["sop", "edit", &id, "--node", "q"], 2);
    env.fail(
        &["sop", "edit", &id, "--node", "q", "--remove-answer", "nope"],
        1,
    );
    env.fail(
        &[
            "sop",
            "edit",
            &id,
            "--node",
            "q",
            "--add-answer",
            "no-target",
        ],
        2,
    );
    assert_eq!(env.ok(&["sop", "validate", &id]).trim(), "valid");
}

#[test]
fn sop_splice_edits_one_node_text_at_a_position_and_masks_card_numbers() {
    let env = Env::init("MX1");
    let file = env.write("tree.json", &tree(|_| {}));
    let (id, _) = import(&env, &file);
    // "Did the refund arrive?" → "Did the bank refund arrive?"
    let out = env.ok(&[
        "sop", "splice", &id, "--node", "q", "--locale", "en", "--at", "8", "--insert", "bank ",
    ]);
    assert_eq!(
        out.trim(),
        format!("spliced node q (en) of {id}: now 27 characters")
    );
    // Delete "bank " again, then replace "arrive" with "land", as JSON.
    env.ok(&[
        "sop", "splice", &id, "--node", "q", "--locale", "en", "--at", "8", "--delete", "5",
    ]);
    let v = env.json(&[
        "sop", "splice", &id, "--node", "q", "--locale", "en", "--at", "15", "--delete", "6",
        "--insert", "land",
    ]);
    assert_eq!(v["length"], 20);
    assert_eq!(v["redacted"], false);
    assert_eq!(v["heads"].as_array().map(Vec::len), Some(1));
    let sop = env.json(&["sop", "show", &id]);
    assert_eq!(
        sop["definition"]["nodes"]["q"]["text"]["en"],
        "Did the refund land?"
    );
    // A card number typed into the text is masked, and the output says so.
    let out = env.ok(&[
        "sop",
        "splice",
        &id,
        "--node",
        "q",
        "--locale",
        "en",
        "--at",
        "0",
        "--insert",
        "4111 1111 1111 1111 ",
    ]);
    assert!(out.contains("card data masked"), "{out}");
    let sop = env.json(&["sop", "show", &id]);
    assert_eq!(
        sop["definition"]["nodes"]["q"]["text"]["en"],
        "411111******1111 Did the refund land?"
    );
    // Past the end: a user error naming the position, and nothing written.
    let out = env.fail(
        &[
            "sop", "splice", &id, "--node", "q", "--locale", "en", "--at", "999", "--insert", "x",
        ],
        1,
    );
    assert!(
        out.stderr.contains("999 is past the end of the text"),
        "{out:?}"
    );
    env.fail(
        &[
            "sop", "splice", &id, "--node", "nope", "--locale", "en", "--at", "0",
        ],
        1,
    );
}
