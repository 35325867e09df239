//! `cargo xtask floor [N] [WORKLOAD…]`: instruction counts per operation of Dossier's write
//! path against its raw floor, under `valgrind --tool=callgrind`.
//!
//! Builds `core/benches/floor.rs` in the bench (release) profile, runs each workload once
//! under callgrind with collection switched on only inside its `measured_*` function, and
//! prints instructions per operation next to the floor's, with the ratio. Instruction counts
//! are repeatable on a loaded machine, which wall time is not.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Each Dossier workload and the floor it is compared with.
const PAIRS: &[(&str, &str)] = &[
    ("create", "create-floor"),
    ("update-cached", "update-floor-cached"),
    ("update-cached", "update-floor"),
    ("update-cold", "update-floor"),
];

pub fn command(args: &[String]) -> Result<()> {
    let n: usize = match args.first() {
        Some(s) => s.parse().context("N must be a number of operations")?,
        None => 100,
    };
    let only: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    if Command::new("valgrind").arg("--version").output().is_err() {
        bail!("valgrind is not installed (apt-get install valgrind)");
    }
    let root = super::root()?;
    let exe = build(&root)?;
    let mut counted = std::collections::BTreeMap::new();
    println!("\n| workload | instructions per op | floor | floor per op | ratio |");
    println!("|---|---|---|---|---|");
    for (ours, floor) in PAIRS {
        if !only.is_empty() && !only.contains(ours) {
            continue;
        }
        for w in [ours, floor] {
            if !counted.contains_key(*w) {
                let total = callgrind(&exe, w, n)?;
                counted.insert(w.to_string(), total as f64 / n as f64);
            }
        }
        let (a, b) = (counted[*ours], counted[*floor]);
        println!(
            "| {ours} | {} | {floor} | {} | {:.2}× |",
            millions(a),
            millions(b),
            a / b
        );
    }
    Ok(())
}

fn millions(x: f64) -> String {
    format!("{:.3} M", x / 1e6)
}

/// Builds the floor bench and returns its executable.
fn build(root: &Path) -> Result<PathBuf> {
    let out = Command::new(super::bindings::cargo())
        .current_dir(root)
        .args([
            "bench",
            "-p",
            "dossier",
            "--bench",
            "floor",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .context("running cargo bench --no-run")?;
    if !out.status.success() {
        bail!(
            "building the floor bench failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The line for the bench target carries `"executable":"…"`; avoid a JSON dependency.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"name\":\"floor\"") && l.contains("\"executable\":\""))
        .find_map(|l| {
            let start = l.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = start + l[start..].find('"')?;
            Some(PathBuf::from(&l[start..end]))
        })
        .context("cargo did not report the floor bench's executable")
}

/// Instructions executed inside `measured_*` for `n` operations of `workload`.
fn callgrind(exe: &Path, workload: &str, n: usize) -> Result<u64> {
    let dir = std::env::temp_dir().join(format!("dossier-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out_file = dir.join(format!("callgrind.{workload}"));
    eprintln!("callgrind: {workload} × {n}");
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=*measured_*",
            &format!("--callgrind-out-file={}", out_file.display()),
        ])
        .arg(exe)
        .args([workload, &n.to_string(), "--bench"])
        .stderr(std::process::Stdio::null())
        .status()
        .context("running valgrind")?;
    if !status.success() {
        bail!("{workload} failed under callgrind ({status})");
    }
    let text = std::fs::read_to_string(&out_file)
        .with_context(|| format!("reading {}", out_file.display()))?;
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("callgrind wrote no totals")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(total)
}
