//! The four example market plugins, built from source to wasm32-wasip2, installed with their
//! tables and run by the real host on the store's own triggers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dossier::{Case, Category, Dispute, NewCase, Payment, Store, Trigger};

use dossier_plugins::PluginHost;

use crate::common::{NOW, open_store, test_config};

/// A host of their own: the shared one's call counters are asserted by other tests running in
/// parallel.
fn host() -> PluginHost {
    static HOST: std::sync::OnceLock<PluginHost> = std::sync::OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(test_config()).unwrap())
        .clone()
}

/// Installs an example plugin signed by the site key, with every table in its `tables/` folder.
fn install_example(store: &Store, package: &str) {
    let wasm = dossier_plugins::testing::component_bytes(package);
    let mut manifest = host().inspect(&wasm).unwrap();
    let tables = dossier_plugins::testing::workspace_root()
        .join("plugins/examples")
        .join(package)
        .join("tables");
    if tables.exists() {
        for entry in std::fs::read_dir(&tables).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            manifest.tables.insert(name, read_table(&path));
        }
    }
    let package = store.sign_plugin(manifest, wasm).unwrap();
    assert!(store.install_plugin(&package).unwrap().active);
}

fn read_table(path: &Path) -> BTreeMap<String, String> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn store_with_examples(dir: &Path) -> Store {
    let store = open_store(dir);
    for p in [
        "in-upi-failed-txn",
        "br-pix-med",
        "eu-psd2-complaint",
        "card-dispute-router",
    ] {
        install_example(&store, p);
    }
    store.set_workflow(Arc::new(host()));
    store
}

fn plugin_events(case: &Case) -> Vec<String> {
    case.events
        .iter()
        .filter(|e| e.kind.starts_with("plugin"))
        .map(|e| e.body.clone())
        .collect()
}

fn day(ms: i64) -> String {
    dossier::time::format_rfc3339(ms)[..10].to_string()
}

#[test]
fn each_market_gets_its_own_plugin_and_only_that_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_examples(dir.path());

    // India: a P2P transfer debited an hour ago is due back by the end of T+1, IST.
    let mut upi = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Sent to a friend, not received",
    );
    upi.fields.insert("txn_type".into(), "p2p".into());
    upi.payment = Some(Payment {
        rail: Some("upi".into()),
        txn_ref: Some("412233445566".into()),
        txn_at: Some(NOW - 3_600_000),
        ..Default::default()
    });
    let upi = store.create_case(upi).unwrap();
    assert_eq!(
        upi.sla["reversal"].due_at,
        dossier::time::parse_rfc3339("2026-11-03T18:29:59.999Z").unwrap(),
        "{upi:?}"
    );
    let events = plugin_events(&upi);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].starts_with("in-upi-failed-txn@"), "{events:?}");

    // Brazil: MED for a fraud needs the police report; the 80-day window is a deadline.
    let mut pix = NewCase::new(
        "BR-PIX",
        Category::Fraud,
        "Golpe do Pix: transferi para um golpista",
    );
    pix.fields.insert("med_type".into(), "fraud".into());
    pix.payment = Some(Payment {
        rail: Some("pix".into()),
        txn_ref: Some("E18236120202611020900s0123456789".into()),
        txn_at: Some(NOW - 2 * 86_400_000),
        ..Default::default()
    });
    let pix = store.create_case(pix).unwrap();
    assert!(
        pix.tags.contains(&"missing-police-report".to_string()),
        "{pix:?}"
    );
    assert!(pix.sla.contains_key("med-report"), "{pix:?}");
    assert!(plugin_events(&pix)[0].starts_with("br-pix-med@"));

    // Spain: 15 business days from Monday 2 November 2026 is Monday 23 November.
    let es = store
        .create_case(NewCase::new(
            "ES",
            Category::Refund,
            "Reclamación: cargo duplicado sin reembolso",
        ))
        .unwrap();
    let reply = es.sla.values().next().expect("the PSD2 clock is set");
    assert_eq!(day(reply.due_at), "2026-11-23", "{es:?}");
    assert!(plugin_events(&es)[0].starts_with("eu-psd2-complaint@"));

    // Cards: Visa 10.4 is card-absent fraud, which goes to the risk team.
    let mut cb = NewCase::new(
        "CARD",
        Category::ChargebackDispute,
        "Cardholder does not recognise an online purchase",
    );
    cb.dispute = Some(Dispute {
        network: Some("visa".into()),
        reason_code: Some("10.4".into()),
        ..Default::default()
    });
    let cb = store.create_case(cb).unwrap();
    assert_eq!(cb.fields["dispute_category"], "fraud", "{cb:?}");
    assert_eq!(cb.fields["queue"], "risk");
    assert_eq!(cb.escalations.last().map(|e| e.to.as_str()), Some("risk"));
    assert!(cb.sla.contains_key("evidence"), "{cb:?}");

    // A market no plugin declares gets no plugin at all.
    let mx = store
        .create_case(NewCase::new(
            "MX-SPEI",
            Category::Refund,
            "Reembolso pendiente",
        ))
        .unwrap();
    assert!(plugin_events(&mx).is_empty());
    assert!(store.check_integrity().unwrap().is_empty());
}

#[test]
fn an_unknown_reason_code_goes_to_triage_and_a_dry_run_matches_what_the_trigger_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_examples(dir.path());
    let mut cb = NewCase::new(
        "CARD",
        Category::ChargebackDispute,
        "Dispute with an odd code",
    );
    cb.dispute = Some(Dispute {
        network: Some("mastercard".into()),
        reason_code: Some("9999".into()),
        ..Default::default()
    });
    let cb = store.create_case(cb).unwrap();
    assert!(
        cb.tags.contains(&"unknown-reason-code".to_string()),
        "{cb:?}"
    );
    assert_eq!(cb.fields["queue"], "disputes-triage");
    // Running the same trigger again asks for nothing new: the plugin sees its own work.
    let dry = host()
        .dry_run(
            &store,
            "card-dispute-router",
            &cb.number,
            Trigger::CaseCreated,
        )
        .unwrap();
    assert!(dry.actions.is_empty(), "{:?}", dry.actions);
    assert_eq!(dry.invalid, None);
}
