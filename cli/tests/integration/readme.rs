//! The README's command-line walkthrough, run as a new user would: every ```sh block under
//! "Using the command line", read from README.md at test time, in order, as one script, with
//! the built `dossier` binary standing in for the `cargo run` alias. A README line that does
//! not work as written fails this test.
//!
//! Skipped, each for a reason a reader shares: `cargo` commands (building the WebAssembly
//! plugins takes minutes; the demo test covers them), lines that need those built plugins, and
//! the TLS lines (they need a certificate and CA the operator brings; `sync_tls` tests them).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a line of the walkthrough cannot run here, or `None` when it must.
fn skip_reason(command: &str) -> Option<&'static str> {
    let c = command.trim_start();
    if c.starts_with("cargo ") {
        Some("a cargo build step")
    } else if c.contains("target/wasm-plugins") || c.contains("plugin run ") {
        Some("needs the plugins built by cargo xtask plugins")
    } else if c.contains("--tls-cert") || c.contains("wss://") {
        Some("needs the operator's TLS certificate and CA")
    } else {
        None
    }
}

/// The ```sh blocks of the README section `heading`, as logical commands (continuation lines
/// joined), in order.
fn walkthrough(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(heading).expect("the README has the section");
    let rest = &readme[start + heading.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        if !in_block {
            in_block = line.trim() == "```sh";
            continue;
        }
        if line.trim() == "```" {
            in_block = false;
            continue;
        }
        pending.push_str(line);
        if let Some(joined) = pending.strip_suffix('\\') {
            pending = format!("{joined} ");
            continue;
        }
        commands.push(std::mem::take(&mut pending));
    }
    commands
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_readme_command_line_walkthrough_runs_as_written() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let commands = walkthrough(&readme, "## Using the command line");
    assert!(
        commands.iter().any(|c| c.contains("init --site HUB")),
        "the walkthrough provisions its hub: {commands:#?}"
    );
    let port = free_port().to_string();
    let mut script = String::from("set -e -o pipefail\n");
    let mut ran = 0;
    for c in &commands {
        if c.trim_start().starts_with("alias dossier=") {
            script.push_str("# alias replaced: `dossier` is the built binary on PATH\n");
        } else if let Some(why) = skip_reason(c) {
            script.push_str(&format!("# skipped ({why}): {c}\n"));
        } else {
            ran += 1;
            script.push_str(&c.replace("7700", &port));
            script.push('\n');
        }
    }
    assert!(ran > 25, "most of the walkthrough runs: {script}");

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dossier"), bin.join("dossier")).unwrap();
    let work = dir.path().join("repo");
    std::fs::create_dir(&work).unwrap();
    // Run "from the repository's root", as the README says, without writing into it.
    std::os::unix::fs::symlink(repo.join("core"), work.join("core")).unwrap();
    std::os::unix::fs::symlink(repo.join("plugins"), work.join("plugins")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&work)
            .env("PATH", path)
            .env_remove("DOSSIER_AUTHOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so the background hub goes too whatever happens.
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let group = child.id();
    // Read both pipes while it runs, so a chatty command cannot fill one and stall.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
    let status = status.unwrap_or_else(|| panic!("the walkthrough hung\n{out}\n{err}"));
    assert!(
        status.success(),
        "the walkthrough failed ({status})\nscript:\n{script}\nstdout:\n{out}\nstderr:\n{err}"
    );
    for want in [
        "synced with HUB",
        "last sync 20",
        "imported to-blr2.bundle from MX1",
        "Money debited but not received",
    ] {
        assert!(out.contains(want), "missing {want:?}\n{out}\n{err}");
    }
}
