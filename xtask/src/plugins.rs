//! Workflow plugins: the wasm32-wasip2 target, and building the example plugins to components.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

/// The example market plugins, by package name.
pub const EXAMPLES: &[&str] = &[
    "in-upi-failed-txn",
    "br-pix-med",
    "eu-psd2-complaint",
    "card-dispute-router",
];

/// Adds the `wasm32-wasip2` target when the toolchain lacks it: plugin tests build their guest
/// components from source.
pub fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run rustup")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        crate::run(
            "install wasm32-wasip2",
            "rustup",
            &["target", "add", "wasm32-wasip2"],
            &[],
        )?;
    }
    Ok(())
}

/// Builds the example plugins into `target/wasm-plugins/wasm32-wasip2/release/` (the directory
/// plugin tests use too, so the work is shared) and returns the component paths.
pub fn build_examples() -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let root = crate::root()?;
    let target_dir = root.join("target").join("wasm-plugins");
    let target_dir_arg = target_dir.to_string_lossy().to_string();
    let mut args = vec![
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--target-dir",
        &target_dir_arg,
    ];
    for e in EXAMPLES {
        args.extend(["-p", e]);
    }
    crate::run("example plugins", "cargo", &args, &[])?;
    Ok(EXAMPLES
        .iter()
        .map(|e| {
            target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", e.replace('-', "_")))
        })
        .collect())
}

/// `cargo xtask demo`: builds the example plugins, then runs `dossier demo` with them.
pub fn demo(extra: &[String]) -> Result<()> {
    let plugins = build_examples()?;
    let dir = plugins
        .first()
        .and_then(|p| p.parent())
        .context("no plugin directory")?
        .to_string_lossy()
        .to_string();
    let mut args = vec!["run", "-p", "dossier-cli", "--", "demo", "--plugins", &dir];
    args.extend(extra.iter().map(String::as_str));
    crate::run("demo", "cargo", &args, &[])
}
