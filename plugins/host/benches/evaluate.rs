//! Plugin call costs: a warm `evaluate` of the `in-upi-failed-txn` example plugin on a realistic
//! case (component cached, fresh store and instance per call), the instantiation alone, the
//! store's whole trigger path, and the same rule compiled natively.
//!
//! `cargo bench -p dossier-plugins --bench evaluate`. The component is built on first run
//! (`target/wasm-plugins`), which needs `rustup target add wasm32-wasip2`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use dossier::plugin::TriggerContext;
use dossier::{Category, NewCase, Payment, Store, StoreOptions, Trigger, Workflow};
use dossier_plugin_sdk::Step;
use dossier_plugins::{HostConfig, PluginHost};
use in_upi_failed_txn::UpiFailedTxn;

/// 2026-11-02T09:00:00Z.
const NOW: i64 = 1_793_610_000_000;
/// 2026-10-28T10:30:00Z: a P2P debit five days before `NOW`, so the reversal is late.
const DEBIT: i64 = 1_793_183_400_000;

fn case() -> NewCase {
    let mut new = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Debited but not credited",
    );
    new.payment = Some(Payment {
        rail: Some("upi".into()),
        txn_ref: Some("412345678901".into()),
        amount_minor: Some(250_000),
        currency: Some("INR".into()),
        txn_at: Some(DEBIT),
        ..Default::default()
    });
    new.fields.insert("txn_type".into(), "p2p".into());
    new.fields.insert("vpa_payer".into(), "asha@okbank".into());
    new.tags = vec!["upi".into(), "debited-not-credited".into()];
    new.locale = Some("en-IN".into());
    new
}

fn bench(c: &mut Criterion) {
    let wasm = dossier_plugins::testing::component_bytes("in-upi-failed-txn");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("BLR2.db"),
        StoreOptions {
            site: Some("BLR2".into()),
            author: Some("asha".into()),
            clock: Some(Arc::new(|| NOW)),
            ..Default::default()
        },
    )
    .unwrap();
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let manifest = host.inspect(&wasm).unwrap();
    let package = store.sign_plugin(manifest, wasm).unwrap();
    store.install_plugin(&package).unwrap();
    let case = store.create_case(case()).unwrap();
    let ctx = TriggerContext {
        trigger: Trigger::SlaCheck,
        case: &case,
        previous_status: None,
        now: NOW,
    };
    let actions = host.evaluate(&store, &package, &ctx).unwrap();
    assert!(!actions.is_empty(), "the case should need actions");

    // The same rule natively, on the same case as the SDK's snapshot.
    let snapshot = dossier_plugin_sdk::testing::snapshot("IN-UPI")
        .number(&case.number)
        .category("failed_payment")
        .rail("upi")
        .txn_ref("412345678901")
        .amount(250_000, "INR")
        .txn_at(DEBIT)
        .field("txn_type", "p2p")
        .field("vpa_payer", "asha@okbank")
        .tag("debited-not-credited")
        .tag("upi")
        .locale("en-IN")
        .created_at(case.created_at)
        .now(NOW)
        .build();
    let env = dossier_plugin_sdk::testing::TestEnv::new();
    let native =
        UpiFailedTxn::evaluate(dossier_plugin_sdk::Trigger::SlaCheck, &snapshot, &env).unwrap();
    assert_eq!(native.len(), actions.len(), "wasm and native should agree");

    let mut g = c.benchmark_group("plugins");
    g.bench_function("evaluate_warm_wasm", |b| {
        b.iter(|| black_box(host.evaluate(&store, &package, black_box(&ctx)).unwrap()))
    });
    g.bench_function("instantiate_from_instance_pre", |b| {
        b.iter(|| host.instantiate_only(&store, &package).unwrap())
    });
    g.bench_function("evaluate_native", |b| {
        b.iter(|| {
            black_box(
                UpiFailedTxn::evaluate(
                    dossier_plugin_sdk::Trigger::SlaCheck,
                    black_box(&snapshot),
                    &env,
                )
                .unwrap(),
            )
        })
    });
    g.bench_function("workflow_trigger_wasm", |b| {
        // What the store pays per trigger: list and load active packages, verify, evaluate.
        b.iter(|| black_box(Workflow::evaluate(&host, &store, black_box(&ctx))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
