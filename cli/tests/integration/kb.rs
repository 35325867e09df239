//! `dossier kb ...`: articles in several languages, accent-folding search, all-or-nothing add.

use serde_json::Value;

use crate::Env;

const ARTICLES: &str = r#"[
  {
    "title": {"es": "Cómo solicitar un reembolso"},
    "body": {"es": "Si el reembolso no llegó en 10 días hábiles, verifica el estado en la app y abre una solicitud. Los reembolsos con tarjeta pueden tardar hasta dos ciclos de facturación."},
    "markets": ["ES"],
    "categories": ["refund"]
  },
  {
    "title": {"pt": "Devolução de Pix (MED)"},
    "body": {"pt": "O Mecanismo Especial de Devolução vale para golpe ou falha operacional. Informe o identificador da transação (EndToEndId) e, em caso de golpe, o boletim de ocorrência, em até 80 dias."},
    "markets": ["BR-PIX"]
  }
]"#;

fn titles(hits: &Value) -> Vec<String> {
    hits.as_array()
        .expect("hits")
        .iter()
        .map(|h| h["title"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn spanish_and_portuguese_articles_are_found_with_or_without_accents() {
    let env = Env::init("MX1");
    let file = env.write("articles.json", ARTICLES);
    let out = env.ok(&["kb", "add", &file]);
    assert!(out.contains("added 2 articles"), "{out}");

    assert_eq!(
        titles(&env.json(&["kb", "search", "reembolso"])),
        ["Cómo solicitar un reembolso"]
    );
    assert_eq!(
        titles(&env.json(&["kb", "search", "reembolsó"])),
        ["Cómo solicitar un reembolso"]
    );
    let pt = env.json(&["kb", "search", "devolucao", "--locale", "pt"]);
    assert_eq!(titles(&pt), ["Devolução de Pix (MED)"]);
    assert_eq!(pt[0]["locale"], "pt");
    assert_eq!(
        env.json(&["kb", "search", "devolucao", "--locale", "es"]),
        Value::Array(vec![])
    );

    let text = env.ok(&["kb", "search", "reembolso"]);
    assert!(
        text.contains("Cómo solicitar un reembolso  [es, draft]") && text.contains("[reembolso]"),
        "{text}"
    );
    assert_eq!(
        env.ok(&["kb", "search", "nada que ver"]).trim(),
        "no articles match"
    );
}

#[test]
fn an_article_is_shown_published_and_verified() {
    let env = Env::init("MX1");
    let file = env.write(
        "one.json",
        &serde_json::to_string(&serde_json::json!({
            "title": {"en": "UPI transaction failed but money debited"},
            "body": {"en": "Failed UPI transfers are reversed automatically."},
            "markets": ["IN-UPI"]
        }))
        .expect("json"),
    );
    let ids = env.json(&["kb", "add", &file]);
    let id = ids[0].as_str().expect("an id").to_string();
    let show = env.ok(&["kb", "show", &id]);
    assert!(
        show.contains("[en] UPI transaction failed but money debited")
            && show.contains("never published"),
        "{show}"
    );
    assert!(env.ok(&["kb", "publish", &id]).contains("as version 1"));
    let v = env.json(&["kb", "show", &id]);
    assert_eq!(v["status"], "published");
    assert!(v["verification"]["last_verified_at"].is_i64());
    assert!(
        env.ok(&["kb", "verify", &id])
            .contains("next verification due 20")
    );
    assert_eq!(
        env.ok(&["kb", "due"]).trim(),
        "no articles due for verification"
    );
    env.json(&["kb", "show", &id, "--version", "1"]);
    let out = env.fail(&["kb", "show", &id, "--version", "7"], 1);
    assert!(
        out.stderr.contains("no article version found for 7"),
        "{out:?}"
    );
    env.fail(&["kb", "show", "nonsense"], 1);
}

#[test]
fn a_bad_article_file_stores_nothing_and_names_the_json_path() {
    let env = Env::init("MX1");
    let wrong_type = env.write(
        "wrong_type.json",
        "[\n  {\"title\": {\"es\": \"Uno\"}, \"body\": {}},\n  {\"title\": {\"es\": \"Dos\"}, \"body\": {\"es\": 5}}\n]",
    );
    let out = env.fail(&["kb", "add", &wrong_type], 1);
    assert!(
        out.stderr.contains("wrong_type.json: [1].body.es (line 3"),
        "{out:?}"
    );

    let unknown = env.write(
        "unknown.json",
        r#"{"title": {"es": "Uno"}, "body": {}, "autor": "x"}"#,
    );
    let out = env.fail(&["kb", "add", &unknown], 1);
    assert!(out.stderr.contains("unknown field `autor`"), "{out:?}");

    let invalid = env.write(
        "invalid.json",
        r#"[{"title": {"es": "Uno"}, "body": {}}, {"title": {"es": "  "}, "body": {}}]"#,
    );
    let out = env.fail(&["kb", "add", &invalid], 1);
    assert!(
        out.stderr.contains("invalid.json: [1]: invalid title.es"),
        "{out:?}"
    );

    assert_eq!(env.json(&["kb", "search", "uno"]), Value::Array(vec![]));
}

#[test]
fn with_json_a_bad_article_file_gives_the_json_path_as_fields() {
    let env = Env::init("MX1");
    let wrong_type = env.write(
        "wrong_type.json",
        "[\n  {\"title\": {\"es\": \"Uno\"}, \"body\": {}},\n  {\"title\": {\"es\": \"Dos\"}, \"body\": {\"es\": 5}}\n]",
    );
    let out = env.run(&["kb", "add", &wrong_type, "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let v: Value = serde_json::from_str(&out.stderr).unwrap();
    let location = &v["error"]["import"]["location"];
    assert_eq!(location["kind"], "json_path", "{v}");
    assert_eq!(location["path"], "[1].body.es", "{v}");
    assert_eq!(location["line"], 3, "{v}");

    let invalid = env.write(
        "invalid.json",
        r#"[{"title": {"es": "Uno"}, "body": {}}, {"title": {"es": "  "}, "body": {}}]"#,
    );
    let out = env.run(&["kb", "add", &invalid, "--json"]);
    let v: Value = serde_json::from_str(&out.stderr).unwrap();
    assert_eq!(
        v["error"]["import"]["location"],
        serde_json::json!({"kind": "json_path", "path": "[1]", "line": null, "column": null}),
        "{v}"
    );
}

#[test]
fn kb_splice_edits_a_title_or_body_at_a_position() {
    let env = Env::init("MX1");
    let file = env.write(
        "one.json",
        &serde_json::to_string(&serde_json::json!({
            "title": {"es": "Reembolso"},
            "body": {"es": "El reembolso tarda 10 días."}
        }))
        .expect("json"),
    );
    let ids = env.json(&["kb", "add", &file]);
    let id = ids[0].as_str().expect("an id").to_string();
    let out = env.ok(&[
        "kb",
        "splice",
        &id,
        "--field",
        "title",
        "--locale",
        "es",
        "--at",
        "9",
        "--insert",
        " rechazado",
    ]);
    assert!(out.contains("now 19 characters"), "{out}");
    let v = env.json(&[
        "kb", "splice", &id, "--field", "body", "--locale", "es", "--at", "19", "--delete", "2",
        "--insert", "5",
    ]);
    assert_eq!(v["length"], 26);
    let a = env.json(&["kb", "show", &id]);
    assert_eq!(a["title"]["es"], "Reembolso rechazado");
    assert_eq!(a["body"]["es"], "El reembolso tarda 5 días.");
    // The search index follows the splice.
    let hits = env.json(&["kb", "search", "rechazado"]);
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");
    let out = env.fail(
        &[
            "kb", "splice", &id, "--field", "summary", "--locale", "es", "--at", "0",
        ],
        2,
    );
    assert!(out.stderr.contains("title, body"), "{out:?}");
}
