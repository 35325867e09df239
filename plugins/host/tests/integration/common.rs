//! Shared fixtures: stores with a fixed clock, the hostile plugin installed, cases that pick an
//! attack, and hosts with limits suited to each test.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dossier::plugin::TriggerContext;
use dossier::{Action, Case, Category, NewCase, PluginPackage, Store, StoreOptions, Trigger};
use dossier_plugins::{HostConfig, PluginHost};

/// 2026-11-02T09:00:00Z.
pub const NOW: i64 = 1_793_610_000_000;

pub fn hostile_wasm() -> Vec<u8> {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| dossier_plugins::testing::component_bytes("dossier-plugin-hostile"))
        .clone()
}

pub fn future_wasm() -> Vec<u8> {
    dossier_plugins::testing::component_bytes("dossier-plugin-hostile-future")
}

/// Limits for tests: fuel is the bound that stops loops, and the timeout is far away so a busy
/// machine cannot turn an out-of-fuel into a timeout.
pub fn test_config() -> HostConfig {
    HostConfig {
        fuel: 50_000_000,
        timeout: Duration::from_secs(60),
        ..HostConfig::default()
    }
}

/// One host for most tests, so the hostile component is compiled once per test binary.
pub fn host() -> PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(test_config()).unwrap())
        .clone()
}

pub fn open_store(dir: &Path) -> Store {
    Store::open(
        dir.join("BLR2.db"),
        StoreOptions {
            site: Some("BLR2".into()),
            author: Some("asha".into()),
            clock: Some(Arc::new(|| NOW)),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Signs the hostile component with the site's key (always trusted) and installs it, with a
/// `greetings` table for `lookup`.
pub fn install_hostile(store: &Store, host: &PluginHost) -> PluginPackage {
    let wasm = hostile_wasm();
    let mut manifest = host.inspect(&wasm).unwrap();
    manifest.tables = BTreeMap::from([(
        "greetings".to_string(),
        BTreeMap::from([("hello".to_string(), "namaste".to_string())]),
    )]);
    let package = store.sign_plugin(manifest, wasm).unwrap();
    assert!(store.install_plugin(&package).unwrap().active);
    package
}

/// A UPI case whose `attack` field is `attack` (none when empty); `extra` adds fields.
pub fn case_with(store: &Store, attack: &str, extra: &[(&str, &str)]) -> Case {
    let mut new = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Debited but not credited",
    );
    if !attack.is_empty() {
        new.fields.insert("attack".into(), attack.into());
    }
    for (k, v) in extra {
        new.fields.insert((*k).into(), (*v).into());
    }
    store.create_case(new).unwrap()
}

pub fn ctx(case: &Case, trigger: Trigger) -> TriggerContext<'_> {
    TriggerContext {
        trigger,
        case,
        previous_status: None,
        now: NOW,
    }
}

/// What the hostile plugin's harmless path answers with the `greetings` table installed.
pub fn harmless_actions() -> Vec<Action> {
    vec![
        Action::AddTag {
            tag: "sandbox-ok".into(),
        },
        Action::SetField {
            name: "greeting".into(),
            value: "namaste".into(),
        },
    ]
}

/// A fresh store with the hostile plugin installed, and the host that installed it.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub host: PluginHost,
    pub package: PluginPackage,
}

pub fn fixture_with(host: PluginHost) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let package = install_hostile(&store, &host);
    Fixture {
        _dir: dir,
        store,
        host,
        package,
    }
}

pub fn fixture() -> Fixture {
    fixture_with(host())
}

impl Fixture {
    /// The plugin's verdict on a fresh case with this attack.
    pub fn evaluate(
        &self,
        attack: &str,
        extra: &[(&str, &str)],
    ) -> dossier_plugins::Result<Vec<Action>> {
        let case = case_with(&self.store, attack, extra);
        self.host
            .evaluate(&self.store, &self.package, &ctx(&case, Trigger::SlaCheck))
    }

    /// Asserts the host still serves: a harmless case right after gets the harmless answer.
    pub fn assert_still_serving(&self) {
        assert_eq!(self.evaluate("", &[]).unwrap(), harmless_actions());
    }
}
