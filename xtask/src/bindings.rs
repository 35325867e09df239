//! The binding tests of `cargo xtask test`: build the library once, generate Kotlin, Swift and
//! Python from it, and run a real program in each language (plus C under valgrind).
//!
//! Host apps use Dossier only through these bindings, so they are tested the way a host uses
//! them, not through Rust; the Python and Kotlin tests sync with a real hub (`dossier serve`,
//! built here too), and every language installs the example plugin `in-upi-failed-txn` (built
//! here for wasm32-wasip2). `cargo xtask bindings` runs just this step. The step installs what it needs when it is missing — kotlinc from
//! the npm package `kotlin-compiler` (cached under `target/`), JNA from Debian's `libjna-java`,
//! valgrind from Debian — so a fresh CI machine needs nothing set up by hand. Generated sources
//! are checked in under `bindings/<lang>/generated/` (Swift cannot be compiled here, so the
//! checked-in copy is what Swift users get); this step fails when they are stale, and
//! `DOSSIER_BLESS=1 cargo xtask test` rewrites them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The `kotlin-compiler` npm package version; it also ships the kotlinx-coroutines jar the
/// coroutine (async) API needs, which Maven Central would otherwise have to provide.
const KOTLIN_COMPILER: &str = "2.4.20";
/// Where Debian's `libjna-java` puts JNA.
const JNA_JAR: &str = "/usr/share/java/jna.jar";
/// The sample SOP every binding test imports.
const SOP_SAMPLE: &str = "core/src/sop/testdata/upi_debited_not_credited.json";

/// Files uniffi generates, and where their checked-in copies live.
const GENERATED: &[(&str, &str)] = &[
    ("dossier.py", "bindings/python/generated/dossier.py"),
    (
        "dev/dossier/dossier.kt",
        "bindings/kotlin/generated/dev/dossier/dossier.kt",
    ),
    ("Dossier.swift", "bindings/swift/generated/Dossier.swift"),
    ("DossierFFI.h", "bindings/swift/generated/DossierFFI.h"),
    (
        "DossierFFI.modulemap",
        "bindings/swift/generated/DossierFFI.modulemap",
    ),
];

struct Paths {
    root: PathBuf,
    /// `target/bindings`: everything this step builds.
    work: PathBuf,
    /// `target/bindings-tools`: downloaded and built tools, kept between runs.
    tools: PathBuf,
}

/// Runs every binding test; called at the end of `cargo xtask test`.
pub fn test() -> Result<()> {
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let p = Paths {
        work: target.join("bindings"),
        tools: target.join("bindings-tools"),
        root,
    };
    std::fs::create_dir_all(&p.work)?;
    std::fs::create_dir_all(&p.tools)?;

    build_rust(&p)?;
    let bindgen = uniffi_bindgen(&p, &target)?;
    let lib = build_library(&p, &target)?;
    generate(&p, &bindgen, &lib)?;
    let hub = build_hub(&target);
    let plugin = build_plugin(&p, &target)?;
    test_c(&p, &lib, &plugin)?;
    test_python(&p, &lib, &hub, &plugin)?;
    test_kotlin(&p, &lib, &hub, &plugin)?;
    println!(
        "\nswift: sources generated in bindings/swift/generated (Dossier.swift, DossierFFI.h, \
         DossierFFI.modulemap); not compiled: this machine has no Swift toolchain"
    );
    println!(
        "\nbinding tests (C, Python, Kotlin) passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `program` in `dir`, printing how long it took, failing if it fails.
fn run_in(
    dir: &Path,
    label: &str,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result<()> {
    println!("\n==> {label}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    println!("<== {label}: {:.1}s", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{label} failed ({status})");
    }
    Ok(())
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn s(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("path is not UTF-8: {}", p.display()))
}

/// Installs Debian packages when `probe` says they are missing.
fn ensure_apt(probe: bool, packages: &[&str]) -> Result<()> {
    if probe {
        return Ok(());
    }
    let root = Path::new("/");
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    // A fresh machine may have no package lists yet; an install without them finds nothing.
    run_in(root, "apt-get update", "apt-get", &["update", "-q"], &env)?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    run_in(
        root,
        &format!("install {}", packages.join(" ")),
        "apt-get",
        &args,
        &env,
    )
}

/// Builds everything the binding tests need from this workspace — the uniffi code generator,
/// the `dossier-ffi` library and the `dossier` command (the hub) — in **one** cargo build over
/// the whole workspace.
///
/// One build matters on a two-core CI machine: cargo unifies dependency features over the
/// packages *and targets* a command selects, so a build that differs from the test build's
/// selection compiles tokio, rustls, wasmtime and automerge a second time (a `--lib --bins`
/// build left out the dev-dependencies, whose `png` turns on `flate2/default`, and so rebuilt
/// everything above flate2 — and a second copy of every artifact filled the CI disk). Here the
/// selection is the test build's (`--tests`, the same [`FEATURES`]) plus the binaries, so only
/// the code generator and the hostile test plugins are compiled anew.
fn build_rust(p: &Paths) -> Result<()> {
    run_in(
        &p.root,
        "build uniffi-bindgen, dossier-ffi and the hub",
        &cargo(),
        &[
            &["build", "--workspace", "--lib", "--bins", "--tests"][..],
            FEATURES,
        ]
        .concat(),
        &[],
    )
}

/// The feature set every workspace build in `cargo xtask test` uses, so that they share one
/// set of artifacts: the tests and the bindings build both need uniffi's code generator.
pub const FEATURES: &[&str] = &["--features", "dossier-ffi/bindgen"];

/// The uniffi code generator from [`build_rust`], kept under `target/bindings-tools` by uniffi
/// version.
fn uniffi_bindgen(p: &Paths, target: &Path) -> Result<PathBuf> {
    let lock = std::fs::read_to_string(p.root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let version = lock
        .split("[[package]]")
        .find(|pkg| pkg.contains("\nname = \"uniffi\"\n"))
        .and_then(|pkg| pkg.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .context("uniffi is not in Cargo.lock")?;
    let cached = p.tools.join(format!("uniffi-bindgen-{version}"));
    std::fs::copy(target.join("debug/uniffi-bindgen"), &cached)
        .context("copying uniffi-bindgen")?;
    Ok(cached)
}

/// Copies the cdylib [`build_rust`] built to `target/bindings/lib`, where every language's
/// test loads it.
fn build_library(p: &Paths, target: &Path) -> Result<PathBuf> {
    let name = format!(
        "{}dossier_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let dir = p.work.join("lib");
    std::fs::create_dir_all(&dir)?;
    let lib = dir.join(&name);
    std::fs::copy(target.join("debug").join(&name), &lib).context("copying the library")?;
    Ok(lib)
}

/// The `dossier` command [`build_rust`] built, whose `dossier serve` is the real hub the Python
/// and Kotlin tests sync with (`DOSSIER_CLI` / `-Ddossier.cli`).
fn build_hub(target: &Path) -> PathBuf {
    target
        .join("debug")
        .join(format!("dossier{}", std::env::consts::EXE_SUFFIX))
}

/// Builds the example plugin `in-upi-failed-txn` for wasm32-wasip2, the component every
/// language's test installs (`DOSSIER_PLUGIN_WASM` / `-Ddossier.plugin` / the C test's third
/// argument). Needs `rustup target add wasm32-wasip2` once.
fn build_plugin(p: &Paths, target: &Path) -> Result<PathBuf> {
    let dir = target.join("wasm-plugins");
    run_in(
        &p.root,
        "build plugin in-upi-failed-txn",
        &cargo(),
        &[
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "in-upi-failed-txn",
            "--target-dir",
            s(&dir)?,
        ],
        &[],
    )?;
    Ok(dir.join("wasm32-wasip2/release/in_upi_failed_txn.wasm"))
}

/// Generates the bindings from the built library (uniffi library mode) and checks the
/// checked-in copies against them.
fn generate(p: &Paths, bindgen: &Path, lib: &Path) -> Result<()> {
    let out = p.work.join("generated");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    run_in(
        &p.root,
        "generate bindings",
        s(bindgen)?,
        &[
            "generate",
            "--library",
            s(lib)?,
            "--language",
            "kotlin",
            "--language",
            "swift",
            "--language",
            "python",
            "--out-dir",
            s(&out)?,
            "--no-format",
        ],
        &[],
    )?;
    let bless = std::env::var_os("DOSSIER_BLESS").is_some();
    let mut stale = Vec::new();
    for (generated, checked_in) in GENERATED {
        let fresh = std::fs::read(out.join(generated))
            .with_context(|| format!("uniffi did not generate {generated}"))?;
        let path = p.root.join(checked_in);
        if std::fs::read(&path).ok().as_deref() != Some(fresh.as_slice()) {
            if bless {
                std::fs::create_dir_all(path.parent().context("no parent")?)?;
                std::fs::write(&path, &fresh)?;
                println!("updated {checked_in}");
            } else {
                stale.push(*checked_in);
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated bindings are stale: {}\nrun `DOSSIER_BLESS=1 cargo xtask test` and commit them",
            stale.join(", ")
        );
    }
    Ok(())
}

/// Compiles the C test and the C example with gcc against the checked-in header and runs both
/// under valgrind, which fails on any leak or memory error.
fn test_c(p: &Paths, lib: &Path, plugin: &Path) -> Result<()> {
    ensure_apt(succeeds("valgrind", &["--version"]), &["valgrind"])?;
    ensure_apt(succeeds("gcc", &["--version"]), &["gcc", "libc6-dev"])?;
    let dir = p.work.join("c");
    let data = dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    std::fs::create_dir_all(&data)?;
    let lib_dir = lib.parent().context("library has no directory")?;
    let include = p.root.join("ffi/include");
    let rpath = format!("-Wl,-rpath,{}", s(lib_dir)?);
    let libdir = format!("-L{}", s(lib_dir)?);
    let inc = format!("-I{}", s(&include)?);
    let programs = [
        ("test_dossier", "bindings/c/test_dossier.c"),
        ("open_case", "examples/c/open_case.c"),
    ];
    for (exe, source) in programs {
        let out = dir.join(exe);
        run_in(
            &p.root,
            &format!("gcc {source}"),
            "gcc",
            &[
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-g",
                &inc,
                source,
                &libdir,
                "-ldossier_ffi",
                &rpath,
                "-o",
                s(&out)?,
            ],
            &[],
        )?;
    }
    // Every store opened through the bindings shares one process-wide plugin host (wasmtime's
    // engine, compiled components, its epoch thread), which lives until exit on purpose;
    // valgrind calls such blocks, reachable only through interior pointers, "possibly lost".
    // Memory errors and definite or indirect leaks still fail the run.
    let valgrind = [
        "--leak-check=full",
        "--error-exitcode=1",
        "-q",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-possibly-lost=no",
    ];
    let test = dir.join("test_dossier");
    let sop = p.root.join(SOP_SAMPLE);
    let mut args = valgrind.to_vec();
    args.extend([s(&test)?, s(&data)?, s(&sop)?, s(plugin)?]);
    run_in(&p.root, "c test under valgrind", "valgrind", &args, &[])?;
    let example = dir.join("open_case");
    let db = data.join("example.db");
    let mut args = valgrind.to_vec();
    args.extend([s(&example)?, s(&db)?]);
    run_in(&p.root, "c example under valgrind", "valgrind", &args, &[])
}

/// Runs the Python test program against the generated module and the built library.
fn test_python(p: &Paths, lib: &Path, hub: &Path, plugin: &Path) -> Result<()> {
    let dir = p.work.join("python");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(p.work.join("generated/dossier.py"), dir.join("dossier.py"))?;
    std::fs::copy(
        lib,
        dir.join(lib.file_name().context("library has no name")?),
    )?;
    run_in(
        &p.root,
        "python test",
        "python3",
        &["bindings/python/test_dossier.py"],
        &[
            ("PYTHONPATH", s(&dir)?),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("DOSSIER_CLI", s(hub)?),
            ("DOSSIER_PLUGIN_WASM", s(plugin)?),
        ],
    )
}

/// Compiles the Kotlin test with the generated bindings (kotlinc from npm, cached) and runs it on
/// the JVM with JNA and kotlinx-coroutines.
fn test_kotlin(p: &Paths, lib: &Path, hub: &Path, plugin: &Path) -> Result<()> {
    ensure_apt(
        succeeds("java", &["-version"]),
        &["openjdk-17-jre-headless"],
    )?;
    ensure_apt(Path::new(JNA_JAR).exists(), &["libjna-java"])?;
    let kotlin = p.tools.join(format!("kotlin-compiler-{KOTLIN_COMPILER}"));
    let kotlinc = kotlin.join("package/bin/kotlinc");
    if !kotlinc.exists() {
        ensure_apt(succeeds("npm", &["--version"]), &["npm"])?;
        std::fs::create_dir_all(&kotlin)?;
        run_in(
            &kotlin,
            "download kotlinc",
            "npm",
            &[
                "pack",
                "--silent",
                &format!("kotlin-compiler@{KOTLIN_COMPILER}"),
            ],
            &[],
        )?;
        let tarball = format!("kotlin-compiler-{KOTLIN_COMPILER}.tgz");
        run_in(&kotlin, "unpack kotlinc", "tar", &["xzf", &tarball], &[])?;
        std::fs::remove_file(kotlin.join(&tarball))?;
    }
    let klib = kotlin.join("package/lib");
    let coroutines = klib.join("kotlinx-coroutines-core-jvm.jar");
    let stdlib = klib.join("kotlin-stdlib.jar");
    let dir = p.work.join("kotlin");
    std::fs::create_dir_all(&dir)?;
    let jar = dir.join("dossier-test.jar");
    let sources = [
        p.root.join(GENERATED[1].1),
        p.root.join("bindings/kotlin/src/dev/dossier/Listeners.kt"),
        p.root.join("bindings/kotlin/DossierTest.kt"),
    ];
    // kotlinc takes a minute or more for the generated file; recompile only when a source
    // changed. The library itself is loaded at run time, so a rebuilt library needs no recompile.
    let key = source_key(&sources)?;
    let key_file = dir.join("dossier-test.key");
    if !jar.exists() || std::fs::read_to_string(&key_file).ok().as_deref() != Some(&key) {
        let compile_cp = format!("{JNA_JAR}:{}", s(&coroutines)?);
        let mut args = vec!["-nowarn", "-cp", &compile_cp, "-d", s(&jar)?];
        for source in &sources {
            args.push(s(source)?);
        }
        run_in(
            &p.root,
            "kotlinc",
            "bash",
            &[&[s(&kotlinc)?][..], &args].concat(),
            &[],
        )?;
        std::fs::write(&key_file, &key)?;
    }
    let cp = format!("{}:{JNA_JAR}:{}:{}", s(&jar)?, s(&coroutines)?, s(&stdlib)?);
    let lib_dir = lib.parent().context("library has no directory")?;
    let jna_path = format!("-Djna.library.path={}", s(lib_dir)?);
    let sop = format!("-Ddossier.sop={}", s(&p.root.join(SOP_SAMPLE))?);
    let cli = format!("-Ddossier.cli={}", s(hub)?);
    let wasm = format!("-Ddossier.plugin={}", s(plugin)?);
    run_in(
        &p.root,
        "kotlin test",
        "java",
        &[&jna_path, &sop, &cli, &wasm, "-cp", &cp, "DossierTestKt"],
        &[],
    )
}

/// A cache key over the contents of `files`.
fn source_key(files: &[PathBuf]) -> Result<String> {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    for f in files {
        h.write(&std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
    }
    Ok(format!("{KOTLIN_COMPILER}-{:016x}", h.finish()))
}
