//! API versions are checked before anything is compiled.

use dossier::Trigger;
use dossier_plugins::PluginError;

use dossier_plugins::PluginHost;

use crate::common::{
    case_with, ctx, fixture, fixture_with, future_wasm, hostile_wasm, test_config,
};

#[test]
fn a_component_for_a_future_api_is_refused_before_compiling() {
    // A host of its own: its counters must not see other tests' calls.
    let f = fixture_with(PluginHost::new(test_config()).unwrap());
    let before = f.host.stats();
    let err = f.host.inspect(&future_wasm()).unwrap_err();
    assert!(
        matches!(err, PluginError::Incompatible { ref found, ref supported }
            if found == "0.2.0" && supported == "0.1.0"),
        "{err:?}"
    );
    // Even signed and handed to evaluate, it is refused the same way, uncompiled.
    let mut manifest = f.host.inspect(&hostile_wasm()).unwrap();
    manifest.name = "from-the-future".into();
    let package = f.store.sign_plugin(manifest, future_wasm()).unwrap();
    let case = case_with(&f.store, "", &[]);
    assert!(matches!(
        f.host
            .evaluate(&f.store, &package, &ctx(&case, Trigger::SlaCheck)),
        Err(PluginError::Incompatible { .. })
    ));
    let after = f.host.stats();
    assert_eq!(after.compiled, before.compiled);
    assert_eq!(
        after.calls,
        before.calls + 1,
        "only the hostile describe ran"
    );
}

#[test]
fn core_modules_and_garbage_are_not_components() {
    let f = fixture();
    // A valid core module: magic, version 1, nothing else.
    assert!(matches!(
        f.host.inspect(b"\0asm\x01\0\0\0"),
        Err(PluginError::NotAComponent(_))
    ));
    assert!(matches!(
        f.host.inspect(b"#!/bin/sh\necho hi\n"),
        Err(PluginError::NotAComponent(_))
    ));
    let mut cut = hostile_wasm();
    cut.truncate(cut.len() / 3);
    assert!(matches!(
        f.host.inspect(&cut),
        Err(PluginError::NotAComponent(_) | PluginError::Incompatible { .. })
    ));
}

#[test]
fn inspect_reads_the_manifest_from_describe() {
    let f = fixture();
    let m = f.host.inspect(&hostile_wasm()).unwrap();
    assert_eq!(m.name, "hostile");
    assert_eq!(m.version, "0.1.0");
    assert_eq!(m.api, "0.1.0");
    assert_eq!(m.markets, ["IN-UPI"]);
    assert_eq!(
        m.triggers,
        [
            Trigger::CaseCreated,
            Trigger::CaseUpdated,
            Trigger::SlaCheck
        ]
    );
    assert!(m.tables.is_empty());
}
