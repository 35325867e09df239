//! Project automation. `cargo xtask test` is the one command that checks everything a change
//! can break: formatting, lints, documentation and every test. CI runs exactly this command,
//! so what passes here passes there.

mod bindings;
mod floor;
mod fuzz;
mod plugins;

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bindings") => bindings::test(),
        Some("plugins") => plugins::build_examples().map(|paths| {
            for p in paths {
                println!("{}", p.display());
            }
        }),
        Some("demo") => plugins::demo(&args[1..]),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some("floor") => floor::command(&args[1..]),
        Some("help") | None => {
            println!("usage: cargo xtask test    run fmt check, clippy, rustdoc and all tests");
            println!(
                "       cargo xtask demo    build the example plugins and run the demo with them"
            );
            println!("       cargo xtask plugins    build the example plugins to wasm components");
            println!("       cargo xtask bindings    run only the binding tests");
            println!("       cargo xtask fuzz [TARGET|all] [SECS]    run the cargo-fuzz targets");
            println!(
                "       cargo xtask floor [N] [WORKLOAD…]    instructions per write against the raw floor (callgrind)"
            );
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}; try `cargo xtask help`"),
    }
}

/// The workspace root.
fn root() -> Result<std::path::PathBuf> {
    Ok(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf())
}

/// Runs a command from the workspace root, failing if it fails.
fn run(label: &str, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?;
    println!("\n==> {label}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    println!("<== {label}: {:.1}s", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{label} failed ({status})");
    }
    Ok(())
}

/// Installs a rustup component when the toolchain lacks it (a fresh CI machine may).
fn ensure_component(probe: &[&str], component: &str) -> Result<()> {
    let ok = Command::new("cargo")
        .args(probe)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        run(
            &format!("install {component}"),
            "rustup",
            &["component", "add", component],
            &[],
        )?;
    }
    Ok(())
}

/// Installs Debian's `chromium` for the HTML report's browser test (`cli/tests/report_browser.rs`)
/// when it is missing; that test fails without it unless `DOSSIER_SKIP_BROWSER=1`.
fn ensure_chromium() -> Result<()> {
    const CHROMIUM: &str = "/usr/bin/chromium";
    if std::path::Path::new(CHROMIUM).exists()
        || std::env::var("DOSSIER_SKIP_BROWSER").as_deref() == Ok("1")
    {
        return Ok(());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run id")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        bail!(
            "{CHROMIUM} is missing and installing it needs root: run `apt-get install chromium` \
             as root, or set DOSSIER_SKIP_BROWSER=1 to skip the browser test"
        );
    }
    println!("\n{CHROMIUM} is missing: installing Debian's chromium for the report browser test");
    let noninteractive = [("DEBIAN_FRONTEND", "noninteractive")];
    run("apt update", "apt-get", &["update"], &noninteractive)?;
    run(
        "install chromium",
        "apt-get",
        &["install", "-y", "--no-install-recommends", "chromium"],
        &noninteractive,
    )
}

fn test() -> Result<()> {
    let started = Instant::now();
    ensure_component(&["fmt", "--version"], "rustfmt")?;
    ensure_component(&["clippy", "--version"], "clippy")?;
    run("format", "cargo", &["fmt", "--all", "--", "--check"], &[])?;
    run(
        "lint",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        "docs",
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    ensure_chromium()?;
    plugins::ensure_wasm_target()?;
    run(
        "tests",
        "cargo",
        &[&["test", "--workspace"][..], bindings::FEATURES].concat(),
        &[],
    )?;
    bindings::test()?;
    fuzz::smoke()?;
    println!(
        "\nall checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
