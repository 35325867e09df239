//! Crash-kill recovery: a child process writes and acknowledges; the parent kills it with
//! SIGKILL at random moments, reopens the store and checks that every acknowledged write is
//! there and the file passes the integrity check. `DOSSIER_CRASH_KILLS` sets how many kills
//! (default 40; the soak mode is simply a larger number).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dossier::{Store, StoreOptions};

#[derive(Debug)]
struct Ack {
    kind: String,
    key: String,
    marker: String,
}

fn run_and_kill(db: &std::path::Path, seed: u64, after: Duration) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .args([db.to_str().unwrap(), "MX1", &seed.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let parts: Vec<&str> = line.split(' ').collect();
            if let ["ack", kind, key, marker] = parts.as_slice() {
                acks.push(Ack {
                    kind: kind.to_string(),
                    key: key.to_string(),
                    marker: marker.to_string(),
                });
            }
        }
        acks
    });
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let kills: u64 = std::env::var("DOSSIER_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed0: u64 = std::env::var("DOSSIER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut all: Vec<Ack> = Vec::new();
    let started = Instant::now();
    for k in 0..kills {
        let seed = seed0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(2 * k + 1);
        // Kill anywhere from during open to well into the write loop.
        let after = Duration::from_millis(5 + (seed % 120));
        all.extend(run_and_kill(&db, seed, after));
        // A kill during the very first open can leave a file with no site yet; opening with
        // the site completes it, as re-running `dossier init` would.
        let store = Store::open(
            &db,
            StoreOptions {
                site: Some("MX1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let problems = store.check_integrity().unwrap();
        assert!(problems.is_empty(), "after kill {k}: {problems:?}");
        for ack in &all {
            match ack.kind.as_str() {
                "case" => assert_eq!(store.case(&ack.key).unwrap().subject, ack.marker),
                "note" => assert!(
                    store
                        .case(&ack.key)
                        .unwrap()
                        .events
                        .iter()
                        .any(|e| e.body == ack.marker),
                    "lost note {ack:?} after kill {k}"
                ),
                "tag" => assert!(
                    store
                        .case(&ack.key)
                        .unwrap()
                        .tags
                        .contains(&ack.marker.to_lowercase()),
                    "lost tag {ack:?} after kill {k}"
                ),
                _ => {}
            }
        }
        // SOP text is replaced whole, so it must show the last acknowledged edit — or a later
        // one that committed just before the kill and was never acknowledged — never an older
        // acknowledged edit.
        if let Some(last) = all.iter().rev().find(|a| a.kind == "sop") {
            let sop = store.sop(&last.key.parse().unwrap()).unwrap();
            let text = &sop.definition.nodes["end_no_debit"].text["en"];
            let older_ack = all
                .iter()
                .filter(|a| a.kind == "sop" && a.marker != last.marker)
                .any(|a| text.contains(&format!("({})", a.marker)));
            if older_ack {
                let acks: Vec<&str> = all
                    .iter()
                    .filter(|a| a.kind == "sop")
                    .map(|a| a.marker.as_str())
                    .collect();
                let h = store.history(&sop.id).unwrap();
                panic!(
                    "after kill {k} the sop shows an older edit: {text}\nsop acks: {:?}\nhistory tail: {:#?}",
                    &acks[acks.len().saturating_sub(6)..],
                    &h[h.len().saturating_sub(4)..]
                );
            }
        }
    }
    assert!(
        all.len() > kills as usize,
        "the writer made progress ({} acks)",
        all.len()
    );
    eprintln!(
        "{kills} kills, {} acknowledged writes verified in {:?}",
        all.len(),
        started.elapsed()
    );
}
