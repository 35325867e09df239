//! `dossier sync --export/--import` and `dossier peer`: refused bundles say why, file errors
//! show their cause, and the peer list says when each peer was last heard from.

use serde_json::Value;

use super::Env;

fn key(env: &Env) -> String {
    env.ok(&["key", "show"]).trim().to_string()
}

/// MX1 and BLR2, each provisioned at the other with every scope, and a case at MX1.
fn two_sites() -> (Env, Env) {
    let (mx1, blr2) = (Env::init("MX1"), Env::init("BLR2"));
    mx1.ok(&[
        "peer",
        "add",
        "--site",
        "BLR2",
        "--key",
        &key(&blr2),
        "--scope",
        "*",
    ]);
    blr2.ok(&[
        "peer",
        "add",
        "--site",
        "MX1",
        "--key",
        &key(&mx1),
        "--scope",
        "*",
    ]);
    mx1.ok(&[
        "case",
        "new",
        "--market",
        "IN-UPI",
        "--category",
        "refund",
        "--subject",
        "Refund not received",
    ]);
    (mx1, blr2)
}

/// Exports a bundle at `from` for `site` and returns its bytes.
fn bundle(from: &Env, site: &str) -> Vec<u8> {
    from.ok(&["sync", "--export", "out.bundle", "--for", site]);
    std::fs::read(from.file("out.bundle")).unwrap()
}

fn import(env: &Env, bytes: &[u8]) -> String {
    std::fs::write(env.file("in.bundle"), bytes).unwrap();
    env.fail(&["sync", "--import", "in.bundle"], 1).stderr
}

#[test]
fn a_truncated_bundle_is_refused_saying_it_was_cut_short() {
    let (mx1, blr2) = two_sites();
    let bytes = bundle(&mx1, "BLR2");
    let err = import(&blr2, &bytes[..bytes.len() - 10]);
    assert!(err.contains("bundle in.bundle refused"), "{err}");
    assert!(err.contains("the bundle is truncated"), "{err}");
}

#[test]
fn a_tampered_bundle_is_refused_saying_its_signature_does_not_verify() {
    let (mx1, blr2) = two_sites();
    let mut bytes = bundle(&mx1, "BLR2");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let err = import(&blr2, &bytes);
    assert!(err.contains("bundle in.bundle refused"), "{err}");
    assert!(err.contains("bad signature: the data was changed"), "{err}");
}

#[test]
fn a_bundle_made_for_another_site_is_refused_saying_so() {
    let (mx1, blr2) = two_sites();
    let blr3 = Env::init("BLR3");
    mx1.ok(&[
        "peer",
        "add",
        "--site",
        "BLR3",
        "--key",
        &key(&blr3),
        "--scope",
        "*",
    ]);
    let err = import(&blr2, &bundle(&mx1, "BLR3"));
    assert!(
        err.contains("the bundle was made for another site"),
        "{err}"
    );
}

#[test]
fn importing_a_missing_file_shows_the_io_cause() {
    let env = Env::init("MX1");
    let err = env.fail(&["sync", "--import", "nowhere.bundle"], 1).stderr;
    assert!(
        err.starts_with("error: cannot read nowhere.bundle: "),
        "{err}"
    );
    assert!(err.to_lowercase().contains("no such file"), "{err}");
}

#[test]
fn exporting_into_a_missing_folder_names_the_folder_not_a_temporary_file() {
    let (mx1, _blr2) = two_sites();
    let err = mx1
        .fail(
            &["sync", "--export", "gone/to-blr2.bundle", "--for", "BLR2"],
            1,
        )
        .stderr;
    assert!(err.contains("cannot write gone/to-blr2.bundle"), "{err}");
    assert!(err.contains("the folder gone does not exist"), "{err}");
    assert!(!err.contains("partial"), "{err}");
}

#[test]
fn with_json_an_error_is_one_line_of_json_with_its_causes() {
    let env = Env::init("MX1");
    let out = env.run(&["sync", "--import", "nowhere.bundle", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    let v: Value = serde_json::from_str(&out.stderr).unwrap();
    let causes = v["error"]["causes"].as_array().unwrap();
    assert_eq!(causes[0], "cannot read nowhere.bundle");
    assert!(causes.len() >= 2, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("cannot read nowhere.bundle: "), "{v}");
    assert_eq!(v["error"]["exit_code"], 1);
}

#[test]
fn peer_list_shows_human_times_and_counts_an_imported_bundle_as_contact() {
    let (mx1, blr2) = two_sites();
    assert!(blr2.ok(&["peer", "list"]).contains("never synced"));
    std::fs::write(blr2.file("in.bundle"), bundle(&mx1, "BLR2")).unwrap();
    blr2.ok(&["sync", "--import", "in.bundle"]);
    let text = blr2.ok(&["peer", "list"]);
    let line = text.lines().find(|l| l.starts_with("MX1")).unwrap();
    assert!(line.contains("last sync 20"), "{line}");
    assert!(
        line.contains(" UTC (just now)") || line.contains(" min ago)"),
        "{line}"
    );
    assert!(!line.contains(" ms"), "{line}");
    let json: Value = blr2.json(&["peer", "list"]);
    assert!(json[0]["last_sync_at"].is_i64(), "{json}");
}

#[test]
fn a_document_refused_on_import_is_named_by_its_case_number() {
    let (mx1, _blr2) = two_sites();
    let es = Env::init("ES1");
    // ES1 lets MX1 write only its own market; MX1's case is IN-UPI.
    es.ok(&[
        "peer",
        "add",
        "--site",
        "MX1",
        "--key",
        &key(&mx1),
        "--scope",
        "ES",
    ]);
    mx1.ok(&[
        "peer",
        "add",
        "--site",
        "ES1",
        "--key",
        &key(&es),
        "--scope",
        "*",
    ]);
    std::fs::write(es.file("in.bundle"), bundle(&mx1, "ES1")).unwrap();
    let out = es.ok(&["sync", "--import", "in.bundle"]);
    assert!(
        out.contains("case MX1-1 refused here: outside the peer's scopes"),
        "{out}"
    );
}

#[test]
fn with_json_a_usage_error_is_json_too_with_exit_code_2() {
    let env = Env::init("MX1");
    let out = env.run(&["sync", "--json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let v: Value = serde_json::from_str(&out.stderr).unwrap();
    assert_eq!(v["error"]["exit_code"], 2);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("required"), "{v}");
    assert!(message.contains("--hub"), "names what is missing: {v}");
}
