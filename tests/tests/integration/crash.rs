//! Crash-kill recovery: a child process writes and acknowledges; the parent kills it with
//! SIGKILL at random moments, reopens the store and checks that every acknowledged write is
//! there and the file passes the integrity check. `DOSSIER_CRASH_KILLS` sets how many kills
//! (default 200; the soak mode is simply a larger number) and `DOSSIER_CRASH_SEED` the seed.
//!
//! Half the kills count their delay from the start of the child, so they land anywhere from
//! opening the store to well into the write loop; the other half count it from the child's first
//! acknowledged write, so they always land mid-stream however slow the machine is. Every 25
//! kills the writer moves to a fresh file, so each file sees 25 crashes on top of its history.

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

/// When a kill's delay starts counting.
#[derive(Clone, Copy, Debug)]
enum From {
    Spawn,
    FirstAck,
}

fn run_and_kill(db: &std::path::Path, seed: u64, from: From, after: Duration) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .args([db.to_str().unwrap(), "MX1", &seed.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (first_ack, acked) = std::sync::mpsc::channel();
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
                if acks.len() == 1 {
                    let _ = first_ack.send(());
                }
            }
        }
        acks
    });
    if let From::FirstAck = from {
        // The child ends only by being killed, so a missing first ack means it failed.
        acked
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer acknowledged a first write within 60 s");
    }
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap()
}

/// How many kills share one database file before the writer starts a fresh one.
const KILLS_PER_FILE: u64 = 25;

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let kills: u64 = std::env::var("DOSSIER_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed0: u64 = std::env::var("DOSSIER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<Ack> = Vec::new();
    let mut verified = 0;
    let started = Instant::now();
    for k in 0..kills {
        // Every `KILLS_PER_FILE` kills the writer starts on a fresh file, so each kill's
        // verification (the integrity check and every acknowledged write in that file) stays
        // bounded and a soak of thousands of kills costs time linear in the kills.
        let db = dir.path().join(format!("crash-{}.db", k / KILLS_PER_FILE));
        if k % KILLS_PER_FILE == 0 {
            verified += all.len();
            all.clear();
        }
        let seed = seed0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(2 * k + 1);
        let (from, after) = if k % 2 == 0 {
            (From::Spawn, Duration::from_millis(5 + (seed % 120)))
        } else {
            (From::FirstAck, Duration::from_millis(seed % 60))
        };
        let before = all.len();
        all.extend(run_and_kill(&db, seed, from, after));
        if let From::FirstAck = from {
            assert!(all.len() > before, "kill {k} came after a first ack");
        }
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
    let acked = verified + all.len();
    assert!(
        acked >= (kills / 2) as usize,
        "the writer made progress ({acked} acks)"
    );
    eprintln!(
        "{kills} kills, {acked} acknowledged writes verified in {:?}",
        started.elapsed()
    );
}
