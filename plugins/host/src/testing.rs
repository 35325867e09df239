//! Test support: builds guest components from this workspace so `cargo test` needs no manual
//! step. Used by this crate's integration tests and by other crates' tests (the CLI's). Not
//! part of the API.
#![doc(hidden)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Builds the workspace package `package` for `wasm32-wasip2` in release mode, at most once per
/// process, and returns the path of its component.
///
/// The build uses its own target directory (`target/wasm-plugins`) so it never waits for the
/// lock of the `cargo test` that runs the caller, and strips debug info so components are
/// small.
///
/// # Panics
/// When the `wasm32-wasip2` target is not installed (with the command that installs it) or the
/// build fails (with cargo's output). It is a test helper: a panic is the test failing.
pub fn build_component(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    // Held across the build: concurrent tests wait for one build instead of racing cargo.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(package) {
        return path.clone();
    }
    require_wasip2_target();
    let root = workspace_root();
    let target_dir = root.join("target").join("wasm-plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        // Flags meant for the host build (coverage, sanitizers) must not reach the guest.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {package}: {e}"));
    if !output.status.success() {
        panic!(
            "building {package} for wasm32-wasip2 failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        path.is_file(),
        "cargo built {package} but {} is missing (is its crate-type cdylib?)",
        path.display()
    );
    built.insert(package.to_string(), path.clone());
    path
}

/// Reads the component [`build_component`] built.
///
/// # Panics
/// As [`build_component`], or when the file cannot be read.
pub fn component_bytes(package: &str) -> Vec<u8> {
    let path = build_component(package);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn require_wasip2_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .current_dir(workspace_root())
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed =
        sysroot.is_some_and(|s| s.join("lib").join("rustlib").join("wasm32-wasip2").is_dir());
    assert!(
        installed,
        "the wasm32-wasip2 target is not installed; install it with \
         `rustup target add wasm32-wasip2` (plugin tests build guest components)"
    );
}
