//! A full disk during a write: the write fails with a typed error, nothing panics, and
//! everything written before is intact.
//!
//! The disk is filled for real, not mocked: a child process (this test binary again, running
//! only [`full_disk_child`]) writes under a file-size limit (`ulimit -f`, with `SIGXFSZ`
//! ignored), so once the WAL would grow past the limit the kernel refuses the `write(2)` with
//! `EFBIG` — to SQLite the same partial, failed write as `ENOSPC` on a full disk, short of the
//! error code (SQLite reports `SQLITE_IOERR_WRITE` for one and `SQLITE_FULL` for the other).
//! The parent then reopens the file without a limit and checks it.
//!
//! The second test fills the store's own size limit (`StoreOptions::max_file_bytes`, SQLite's
//! `max_page_count`), which gives SQLite's `SQLITE_FULL` — the code a real `ENOSPC` produces —
//! and so [`Error::DiskFull`], deterministically and in-process.

use std::process::Command;

use dossier::{Case, Category, Error, NewCase, Store, StoreOptions};

/// Set in the child: the store file to fill.
const CHILD_DB: &str = "DOSSIER_DISK_CHILD_DB";

fn open(db: &std::path::Path) -> Store {
    Store::open(
        db,
        StoreOptions {
            site: Some("DISK1".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// About 16 KiB of letters that do not compress, so every case grows the WAL.
fn bulky_text(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..16 * 1024)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 7 == 6 {
                ' '
            } else {
                char::from(b'a' + (x % 26) as u8)
            }
        })
        .collect()
}

fn bulky_case(n: u64) -> NewCase {
    let mut c = NewCase::new("ES", Category::Refund, &format!("Reembolso pendiente {n}"));
    c.description = Some(bulky_text(n));
    c
}

#[test]
#[cfg(target_os = "linux")]
fn a_write_on_a_full_disk_fails_cleanly_and_earlier_data_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("disk.db");
    let before: Vec<Case> = {
        let store = open(&db);
        let cases: Vec<Case> = (0..20)
            .map(|n| store.create_case(bulky_case(n)).unwrap())
            .collect();
        store
            .import_sop_json(dossier_tests::UPI_SOP, "upi.json")
            .unwrap();
        cases
    };
    // The limit leaves the largest file (the database or its WAL, which closing need not
    // empty) room for a few cases more.
    let size = dossier_tests::store_files(&db)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .max()
        .unwrap();
    let limit_bytes = size + 256 * 1024;
    // `ulimit -f` counts 512-byte blocks in dash and POSIX shells (1024 in bash, which only
    // doubles the room); an ignored SIGXFSZ stays ignored across `exec`, so the write fails
    // instead of the signal killing the child.
    let output = Command::new("sh")
        .args([
            "-c",
            r#"trap '' XFSZ; ulimit -f "$1" || exit 97; shift; exec "$@""#,
            "sh",
            &(limit_bytes / 512).to_string(),
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["disk::full_disk_child", "--exact", "--nocapture"])
        .env(CHILD_DB, &db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let acked: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .collect();
    let failure = stdout
        .lines()
        .find_map(|l| l.strip_prefix("failed: "))
        .unwrap_or_else(|| panic!("the child never hit the limit:\n{stdout}"));
    assert!(
        stdout.contains("read after failure: ok"),
        "the store stopped reading after the failed write:\n{stdout}"
    );
    println!(
        "{} cases acknowledged before the disk was full; then: {failure}",
        acked.len()
    );

    // Without the limit (the disk has room again): nothing was lost, nothing half-written.
    let store = open(&db);
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
    for case in &before {
        assert_eq!(&store.case(&case.number).unwrap(), case);
    }
    for number in &acked {
        store.case(number).unwrap();
    }
    let cases = store.list_cases(&Default::default()).unwrap();
    assert_eq!(cases.len(), before.len() + acked.len());
    assert_eq!(store.list_sops().unwrap().len(), 1);
    store.create_case(bulky_case(1_000)).unwrap();
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
}

#[test]
fn a_store_at_its_size_limit_refuses_writes_with_disk_full_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("limited.db");
    let limited = |max: u64| {
        Store::open(
            &db,
            StoreOptions {
                site: Some("DISK1".into()),
                max_file_bytes: Some(max),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let store = limited(512 * 1024);
    let mut acked = Vec::new();
    let failure = loop {
        match store.create_case(bulky_case(acked.len() as u64)) {
            Ok(case) => acked.push(case),
            Err(e) => break e,
        }
        assert!(acked.len() < 200, "512 KiB never filled up");
    };
    assert!(
        matches!(failure, Error::DiskFull(_)),
        "expected DiskFull, got {failure:?}"
    );
    assert!(acked.len() >= 5, "only {} cases fit", acked.len());
    // The same handle still reads everything, and keeps refusing writes that need room.
    for case in &acked {
        assert_eq!(&store.case(&case.number).unwrap(), case);
    }
    assert!(matches!(
        store.create_case(bulky_case(9_999)),
        Err(Error::DiskFull(_))
    ));
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
    drop(store);

    // A higher limit (more room on the disk): nothing was lost or half-written, writes go on.
    let store = limited(4 << 20);
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
    assert_eq!(
        store.list_cases(&Default::default()).unwrap().len(),
        acked.len()
    );
    store.create_case(bulky_case(10_000)).unwrap();
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
}

/// The child of the test above; does nothing unless started by it. Writes bulky cases until a
/// write fails, printing `ack NUMBER` for each committed one, then checks the error is a typed
/// storage error and the store still reads.
#[test]
fn full_disk_child() {
    let Some(db) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = open(std::path::Path::new(&db));
    for n in 100..2_100 {
        match store.create_case(bulky_case(n)) {
            Ok(case) => println!("ack {}", case.number),
            Err(e) => {
                assert!(
                    matches!(e, Error::Sqlite(_) | Error::Io(_)),
                    "a full disk must be a storage error, not {e:?}"
                );
                println!("failed: {e}");
                // The failed write left nothing behind in memory or on disk: reads go on, and
                // another write either fits or fails the same clean way.
                assert!(store.case("DISK1-1").is_ok());
                println!("read after failure: ok");
                match store.create_case(bulky_case(n + 1)) {
                    Ok(case) => println!("ack {}", case.number),
                    Err(Error::Sqlite(_) | Error::Io(_)) => {}
                    Err(e) => panic!("a full disk must be a storage error, not {e:?}"),
                }
                return;
            }
        }
    }
    panic!("2,000 cases of 16 KiB fitted under the file-size limit");
}
