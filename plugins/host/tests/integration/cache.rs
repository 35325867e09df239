//! Compiled code is cached in the store, found again by a new host, and never loaded from a
//! row that does not check out.

use dossier::Trigger;
use dossier_plugins::PluginHost;

use crate::common::{case_with, ctx, harmless_actions, install_hostile, open_store, test_config};

#[test]
fn a_second_host_loads_compiled_code_from_the_store_and_corrupt_rows_are_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let first = PluginHost::new(test_config()).unwrap();
    let package = install_hostile(&store, &first);
    let case = case_with(&store, "", &[]);
    let run = |host: &PluginHost| {
        assert_eq!(
            host.evaluate(&store, &package, &ctx(&case, Trigger::SlaCheck))
                .unwrap(),
            harmless_actions()
        );
        host.stats()
    };

    // The first host compiled it (for inspect) and writes the code on first evaluation.
    let s = run(&first);
    assert_eq!((s.compiled, s.code_cache_hits), (1, 0));
    assert_eq!(s.code_cache_write_failures, 0);
    let sha = package.sha256();
    let row = store.plugin_code(&sha, first.engine_id()).unwrap().unwrap();

    // A new host (a new process, as far as caches go) loads it instead of compiling.
    let second = PluginHost::new(test_config()).unwrap();
    let s = run(&second);
    assert_eq!(
        (s.compiled, s.code_cache_hits, s.code_cache_rejected),
        (0, 1, 0)
    );

    // A corrupted row is refused and replaced by a fresh compile.
    let mut corrupt = row.clone();
    let at = corrupt.len() - 100;
    corrupt[at] ^= 0xff;
    store
        .put_plugin_code(&sha, first.engine_id(), &corrupt)
        .unwrap();
    let third = PluginHost::new(test_config()).unwrap();
    let s = run(&third);
    assert_eq!(
        (s.compiled, s.code_cache_hits, s.code_cache_rejected),
        (1, 0, 1)
    );
    assert_eq!(
        store.plugin_code(&sha, first.engine_id()).unwrap().unwrap(),
        row
    );

    // So is a truncated one, and a row of raw bytes without the envelope.
    for bad in [
        row[..row.len() / 2].to_vec(),
        row[40..].to_vec(),
        Vec::new(),
    ] {
        store
            .put_plugin_code(&sha, first.engine_id(), &bad)
            .unwrap();
        let host = PluginHost::new(test_config()).unwrap();
        let s = run(&host);
        assert_eq!((s.compiled, s.code_cache_rejected), (1, 1));
    }

    // And the repaired row serves the next host again.
    let last = PluginHost::new(test_config()).unwrap();
    let s = run(&last);
    assert_eq!((s.compiled, s.code_cache_hits), (0, 1));
}

#[test]
fn hosts_share_one_engine_id() {
    let a = PluginHost::new(test_config()).unwrap();
    let b = PluginHost::new(dossier_plugins::HostConfig::default()).unwrap();
    assert_eq!(a.engine_id(), b.engine_id());
}
