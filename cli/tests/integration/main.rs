//! Integration tests of the `dossier` binary: the real executable, run in temporary
//! directories, checked by exit code, stdout/stderr and (for redaction) the raw store bytes.

// Tests fail by panicking: `expect` is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod case;
mod demo;
mod kb;
mod plugin;
mod readme;
mod redaction;
mod sop;
mod sync;
mod sync_tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// A temporary working directory, with or without a store in it.
pub(crate) struct Env {
    pub(crate) dir: TempDir,
}

impl Env {
    /// An empty directory: no store yet.
    pub(crate) fn empty() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A directory with `./dossier.db` initialised for `site`.
    pub(crate) fn init(site: &str) -> Env {
        let env = Env::empty();
        env.ok(&["init", "--site", site]);
        env
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the binary with `args` in this directory, with stdin closed.
    pub(crate) fn run(&self, args: &[&str]) -> Out {
        self.run_with_env(args, &[])
    }

    pub(crate) fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dossier"));
        cmd.current_dir(self.path())
            .args(args)
            .env_remove("DOSSIER_AUTHOR")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run dossier");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit 0; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.code, 0, "dossier {args:?} failed: {out:?}");
        out.stdout
    }

    /// Runs with `--json`, asserts exit 0 and parses stdout.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).expect("stdout is JSON")
    }

    /// Runs, asserts the exit code, and returns stderr, which must be one `error:` line.
    pub(crate) fn fail(&self, args: &[&str], code: i32) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, code, "dossier {args:?}: {out:?}");
        if code == 1 {
            assert!(out.stderr.starts_with("error: "), "{out:?}");
            assert_eq!(out.stderr.lines().count(), 1, "one error line: {out:?}");
        }
        out
    }

    /// Writes a file in the directory and returns its name (relative to the directory).
    pub(crate) fn write(&self, name: &str, content: &str) -> String {
        std::fs::write(self.path().join(name), content).expect("write file");
        name.to_string()
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// The repository's SOP test data (`core/src/sop/testdata/NAME`).
pub(crate) fn testdata(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/src/sop/testdata")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn a_wrong_flag_is_bad_usage_and_exits_2() {
    let env = Env::init("MX1");
    let out = env.fail(&["case", "list", "--no-such-flag"], 2);
    assert!(out.stderr.contains("--no-such-flag"), "{out:?}");
    env.fail(&["case", "new", "--market", "ES"], 2);
    env.fail(
        &[
            "case",
            "new",
            "--market",
            "ES",
            "--category",
            "nope",
            "--subject",
            "x",
        ],
        2,
    );
    env.fail(&["no-such-command"], 2);
}

#[test]
fn help_and_version_exit_0() {
    let env = Env::empty();
    assert!(env.ok(&["--help"]).contains("case"));
    assert!(env.ok(&["--version"]).contains("dossier"));
    assert!(env.ok(&["sop", "run", "--help"]).contains("--answer"));
}

#[test]
fn a_missing_store_is_a_user_error_with_the_init_hint_and_no_file_is_created() {
    let env = Env::empty();
    let out = env.fail(&["case", "list"], 1);
    assert_eq!(
        out.stderr.trim(),
        "error: no store at ./dossier.db: run dossier init --site SITE first"
    );
    let out = env.fail(&["--db", "elsewhere.db", "kb", "search", "x"], 1);
    assert!(out.stderr.contains("no store at elsewhere.db"), "{out:?}");
    assert_eq!(std::fs::read_dir(env.path()).expect("read dir").count(), 0);
}

#[test]
fn init_is_idempotent_for_the_same_site_and_refuses_another_site() {
    let env = Env::init("MX1");
    assert!(
        env.ok(&["init", "--site", "MX1"])
            .contains("already exists")
    );
    let out = env.fail(&["init", "--site", "BLR2"], 1);
    assert!(out.stderr.contains("belongs to site MX1"), "{out:?}");
    let out = env.fail(&["--db", "x.db", "init", "--site", "mx 1"], 1);
    assert!(out.stderr.contains("invalid site"), "{out:?}");
    let v = env.json(&["--db", "other.db", "init", "--site", "BLR2"]);
    assert_eq!(v["site"], "BLR2");
    assert_eq!(v["created"], true);
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let env = Env::empty();
    env.ok(&["--db", "a.db", "init", "--site", "MX1"]);
    env.ok(&["init", "--site", "BLR2", "--db", "b.db"]);
    let args = [
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "Reembolso",
    ];
    let mut before = vec!["--json", "--db", "a.db", "case", "new"];
    before.extend(args);
    let a: Value = serde_json::from_str(&env.ok(&before)).expect("json");
    assert_eq!(a["number"], "MX1-1");
    let mut after = vec!["case", "new"];
    after.extend(args);
    after.extend(["--db", "b.db", "--json"]);
    let b: Value = serde_json::from_str(&env.ok(&after)).expect("json");
    assert_eq!(b["number"], "BLR2-1");
    assert!(!env.file("dossier.db").exists());
}

#[test]
fn the_author_comes_from_the_flag_or_the_environment_and_defaults_to_the_site() {
    let env = Env::init("MX1");
    env.ok(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "a",
    ]);
    env.ok(&["case", "note", "MX1-1", "by default", "--author", "lucia"]);
    let out = env.run_with_env(
        &["case", "note", "MX1-1", "from env"],
        &[("DOSSIER_AUTHOR", "priya")],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let case = env.json(&["case", "show", "MX1-1"]);
    let by: Vec<&str> = case["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["by"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(by, ["MX1", "lucia", "priya"]);
}
