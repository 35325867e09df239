//! Fuzzing with cargo-fuzz (libFuzzer): the smoke run in `cargo xtask test`, and
//! `cargo xtask fuzz [TARGET] [SECS]` for longer runs.
//!
//! The targets live in `fuzz/` (a workspace of its own, built with the nightly toolchain that
//! cargo-fuzz needs). Each run starts from the committed seeds (`fuzz/corpus/TARGET/seed-*`)
//! and the regression inputs (`fuzz/regressions/TARGET/`), so every regression input is
//! replayed by the real target before any new input is tried; the stable test
//! `tests/tests/integration/fuzz_regressions.rs` replays the same inputs without nightly.
//!
//! The build uses `--sanitizer none` (see [`BUILD_FLAGS`]): the code under test is safe Rust plus SQLite's C, which
//! is not instrumented either way, so AddressSanitizer would add build time and slow every
//! input while finding nothing a panic would not show. Coverage guidance and comparison
//! tracing stay on.
//!
//! A crash stops the run, fails the command and leaves the input in
//! `fuzz/artifacts/TARGET/`; copy it into `fuzz/regressions/TARGET/` with the fix.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Every fuzz target, in the order the smoke run takes them.
pub const TARGETS: &[&str] = &[
    "redact",
    "sop_json",
    "doc_load",
    "sync_message",
    "bundle_import",
];

/// The cargo-fuzz release installed when it is missing (`cargo install --locked`).
const CARGO_FUZZ_VERSION: &str = "0.13.1";

/// Build flags, the same for `build` and `run` (any difference makes `run` rebuild).
/// `--codegen-units 16` instead of cargo-fuzz's 1 cuts a cold build on two cores by about
/// half, for somewhat slower inputs.
const BUILD_FLAGS: &[&str] = &["--sanitizer", "none", "--codegen-units", "16"];

/// Seconds per target in the smoke run, unless `DOSSIER_FUZZ_SECS` says otherwise.
const SMOKE_SECS: u64 = 10;

/// Seconds per target for `cargo xtask fuzz` without SECS.
const DEFAULT_SECS: u64 = 60;

/// Builds every target and runs each for `DOSSIER_FUZZ_SECS` seconds (10 by default): the
/// step `cargo xtask test` runs after the Rust tests. `DOSSIER_FUZZ_SECS=600` is the long mode;
/// `DOSSIER_SKIP_FUZZ=1` skips the step.
pub fn smoke() -> Result<()> {
    if std::env::var("DOSSIER_SKIP_FUZZ").as_deref() == Ok("1") {
        println!("\nfuzz smoke run skipped (DOSSIER_SKIP_FUZZ=1)");
        return Ok(());
    }
    let secs = match std::env::var("DOSSIER_FUZZ_SECS") {
        Ok(s) => s
            .parse()
            .with_context(|| format!("DOSSIER_FUZZ_SECS={s:?} is not a number of seconds"))?,
        Err(_) => SMOKE_SECS,
    };
    fuzz(TARGETS, secs)
}

/// `cargo xtask fuzz [TARGET|all] [SECS]`.
pub fn command(args: &[String]) -> Result<()> {
    let target = args.first().map(String::as_str).unwrap_or("all");
    let secs = match args.get(1) {
        Some(s) => s
            .parse()
            .with_context(|| format!("{s:?} is not a number of seconds"))?,
        None => DEFAULT_SECS,
    };
    let targets: Vec<&str> = match target {
        "all" => TARGETS.to_vec(),
        t if TARGETS.contains(&t) => vec![t],
        t => bail!(
            "unknown fuzz target {t:?}; the targets are {}",
            TARGETS.join(", ")
        ),
    };
    fuzz(&targets, secs)
}

fn fuzz(targets: &[&str], secs: u64) -> Result<()> {
    let started = Instant::now();
    let root = root()?;
    ensure_cargo_fuzz()?;
    let toolchain = nightly()?;
    let mut build = cargo_fuzz(&root, &toolchain);
    build.arg("build").args(BUILD_FLAGS);
    step("fuzz build", build)?;
    for target in targets {
        let corpus = root.join("fuzz/corpus").join(target);
        let regressions = root.join("fuzz/regressions").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        let mut run = cargo_fuzz(&root, &toolchain);
        run.arg("run")
            .args(BUILD_FLAGS)
            .arg(target)
            // The first directory receives new inputs (ignored by git but for `seed-*`).
            .arg(&corpus)
            .arg(&regressions)
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            // An input slower than this is a hang worth a look, not a finding to wait out.
            .arg("-timeout=30")
            .arg("-print_final_stats=1")
            .args(extra_args(target));
        step(&format!("fuzz {target} for {secs}s"), run)?;
    }
    println!(
        "\nfuzzing: {} target(s) x {secs}s passed in {:.0}s (build included)",
        targets.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// libFuzzer options for one target. The redactor costs microseconds per byte, so long
/// inputs (the regression files reach 40 KB) would slow the whole run to a few inputs a second;
/// free text in a case field is a few KB. The stable replay still runs the long files whole.
fn extra_args(target: &str) -> &'static [&'static str] {
    match target {
        "redact" => &["-max_len=4096"],
        _ => &[],
    }
}

fn root() -> Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf())
}

fn cargo_fuzz(root: &Path, toolchain: &str) -> Command {
    let mut c = Command::new("cargo");
    c.arg(toolchain).arg("fuzz").current_dir(root);
    c
}

fn step(label: &str, mut command: Command) -> Result<()> {
    println!("\n==> {label}");
    let started = Instant::now();
    let status = command.status().context("cannot run cargo fuzz")?;
    println!("<== {label}: {:.1}s", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!(
            "{label} failed ({status}); a crashing input is in fuzz/artifacts/ — \
             reproduce it with `cargo +nightly fuzz run --sanitizer none --codegen-units 16 TARGET FILE`"
        );
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<()> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    let mut install = Command::new("cargo");
    install.args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--locked",
    ]);
    step(&format!("install cargo-fuzz {CARGO_FUZZ_VERSION}"), install)
}

/// The nightly toolchain's `+` argument. cargo-fuzz needs nightly compiler flags; this
/// machine's kind cannot download a toolchain, so a missing nightly is an error that says so.
fn nightly() -> Result<String> {
    let ok = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Ok("+nightly".into());
    }
    let mut install = Command::new("rustup");
    install.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
    step("install the nightly toolchain", install).context(
        "cargo-fuzz needs a nightly toolchain; install one (`rustup toolchain install nightly`) \
         or set DOSSIER_SKIP_FUZZ=1",
    )?;
    Ok("+nightly".into())
}
