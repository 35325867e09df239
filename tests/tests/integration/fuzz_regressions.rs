//! Replays the fuzz inputs on the stable toolchain: every file in `fuzz/regressions/TARGET/`
//! (crashes fuzzing found, and hand-made nasty inputs: truncated, huge lengths, deep nesting)
//! and the committed seeds `fuzz/corpus/TARGET/seed-*`, through the very checks the fuzz
//! targets run (`fuzz/src/checks.rs`, included below). The fuzz targets themselves run in
//! `cargo xtask fuzz` on nightly.
//!
//! Bundle inputs whose body the fuzz target signs replay here as plain files: signing needs
//! ed25519, which only the fuzz crate links (`cargo xtask fuzz bundle_import` replays them
//! signed).
//!
//! `cargo test -p dossier-tests --test integration fuzz_regressions::write_seeds -- --ignored`
//! regenerates the seeds and the hand-made regression inputs.

#[path = "../../../fuzz/src/checks.rs"]
#[allow(dead_code)] // Some helpers serve only the fuzz targets or the seed writer.
mod checks;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The regression inputs and seeds of `target`, sorted by name.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir();
    let mut files = Vec::new();
    for (sub, seeds_only) in [("regressions", false), ("corpus", true)] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_file() && (!seeds_only || name.starts_with("seed-")) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str, check: impl Fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        !inputs.is_empty(),
        "no inputs for {target}: run the ignored write_seeds test"
    );
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
    }
}

#[test]
fn doc_load_inputs_never_panic() {
    replay("doc_load", checks::doc_load);
}

#[test]
fn sync_message_inputs_never_panic() {
    replay("sync_message", checks::sync_message);
}

#[test]
fn bundle_import_inputs_never_panic() {
    replay("bundle_import", |b| checks::bundle_import(b, None));
}

#[test]
fn sop_json_inputs_never_panic_and_round_trip() {
    replay("sop_json", checks::sop_json);
}

#[test]
fn redact_inputs_leave_no_card_number() {
    replay("redact", checks::redact);
}

#[test]
fn the_independent_card_checker_sees_what_it_must() {
    assert_eq!(
        checks::surviving_card("pan 4111111111111111.").as_deref(),
        Some("4111111111111111")
    );
    assert_eq!(checks::surviving_card("pan 4111111111111112"), None); // Luhn fails
    assert_eq!(checks::surviving_card("411111******1111"), None); // masked
    assert_eq!(
        checks::surviving_card("https://x.io/4111111111111111"),
        None
    );
    assert_eq!(checks::surviving_card("+4111111111111111"), None);
}

// ---------------------------------------------------------------------------------------------
// Seeds and hand-made regression inputs
// ---------------------------------------------------------------------------------------------

fn write(sub: &str, target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join(sub).join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    write("corpus", target, &format!("seed-{name}"), bytes);
}

fn nasty(target: &str, name: &str, bytes: &[u8]) {
    write("regressions", target, name, bytes);
}

fn with_mode(mode: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(rest);
    v
}

/// LEB128, as the sync wire format writes integers.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

#[test]
#[ignore = "writes fuzz/corpus and fuzz/regressions; run by hand"]
fn write_seeds() {
    use dossier::sync::{Scope, Session, SessionConfig};
    use dossier::{CaseUpdate, Category, NewCase, Priority, Store, StoreOptions};

    // Two stores named like the fixture's, so recorded messages and bundle bodies say SITEA
    // and HUB as the fixture expects (their keys differ: signed parts are re-signed or fail).
    let dir = tempfile::tempdir().unwrap();
    let open = |site: &str| {
        Store::open(
            dir.path().join(format!("{site}.db")),
            StoreOptions {
                site: Some(site.into()),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let (site, hub) = (open("SITEA"), open("HUB"));
    site.add_peer("HUB", hub.public_key().unwrap(), vec![Scope::everything()])
        .unwrap();
    hub.add_peer(
        "SITEA",
        site.public_key().unwrap(),
        vec![Scope::everything()],
    )
    .unwrap();
    let case = site
        .create_case(NewCase::new(
            "IN-UPI",
            Category::FailedPayment,
            "Money debited, card 4111 1111 1111 1111",
        ))
        .unwrap();
    site.update_case(
        &case.number,
        CaseUpdate {
            priority: Some(Priority::High),
            ..Default::default()
        },
    )
    .unwrap();
    site.add_note(&case.number, "Customer sent the bank statement", false)
        .unwrap();
    site.import_sop_json(dossier_tests::CARD_SOP, "card.json")
        .unwrap();

    // doc_load: a whole pack, one change, a stored snapshot.
    let pack = site.changes_since(&case.id, &[]).unwrap();
    seed("doc_load", "pack", &with_mode(0, &pack));
    let first_len = u32::from_be_bytes(pack[25..29].try_into().unwrap()) as usize;
    seed(
        "doc_load",
        "change",
        &with_mode(1, &pack[29..29 + first_len]),
    );
    let raw = rusqlite::Connection::open(dir.path().join("SITEA.db")).unwrap();
    let snapshot: Vec<u8> = raw
        .query_row(
            "SELECT snapshot FROM docs WHERE id = ?1",
            [case.id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    seed("doc_load", "snapshot", &with_mode(2, &snapshot));
    nasty("doc_load", "empty-pack", &with_mode(0, b"DSCP"));
    nasty(
        "doc_load",
        "pack-cut-short",
        &with_mode(0, &pack[..pack.len() / 2]),
    );
    let mut huge_count = pack.clone();
    huge_count[21..25].copy_from_slice(&u32::MAX.to_be_bytes());
    nasty("doc_load", "pack-count-u32-max", &with_mode(0, &huge_count));
    let mut huge_len = pack.clone();
    huge_len[25..29].copy_from_slice(&u32::MAX.to_be_bytes());
    nasty(
        "doc_load",
        "pack-change-length-u32-max",
        &with_mode(0, &huge_len),
    );
    let mut trailing = pack.clone();
    trailing.extend_from_slice(b"junk");
    nasty("doc_load", "pack-trailing-bytes", &with_mode(0, &trailing));
    let mut flipped = pack.clone();
    let mid = flipped.len() * 2 / 3;
    flipped[mid] ^= 0xff;
    nasty("doc_load", "pack-flipped-byte", &with_mode(0, &flipped));
    nasty("doc_load", "change-empty", &with_mode(1, b""));
    nasty(
        "doc_load",
        "change-cut-short",
        &with_mode(1, &pack[29..29 + first_len / 2]),
    );
    nasty("doc_load", "snapshot-empty", &with_mode(2, b""));
    nasty(
        "doc_load",
        "snapshot-cut-short",
        &with_mode(2, &snapshot[..snapshot.len() / 2]),
    );
    let mut bad_snapshot = snapshot.clone();
    let mid = bad_snapshot.len() / 2;
    bad_snapshot[mid] ^= 0x55;
    nasty(
        "doc_load",
        "snapshot-flipped-byte",
        &with_mode(2, &bad_snapshot),
    );
    // A valid document that is not a case at all, stored as the case.
    let mut other = automerge::AutoCommit::new();
    automerge::transaction::Transactable::put(&mut other, automerge::ROOT, "kind", 7_i64).unwrap();
    nasty(
        "doc_load",
        "snapshot-not-a-case",
        &with_mode(2, &other.save()),
    );

    // sync_message: a real session from SITEA's side, after the handshake.
    let config = SessionConfig::default();
    let mut a = Session::initiate(&site, config.clone()).unwrap();
    let mut b = Session::accept(&hub, config).unwrap();
    let hello = a.poll_transmit().unwrap();
    seed(
        "sync_message",
        "hello",
        &with_mode(0, &checks::framed(std::slice::from_ref(&hello))),
    );
    b.handle(&hello).unwrap();
    a.handle(&b.poll_transmit().unwrap()).unwrap();
    let auth = a.poll_transmit().unwrap();
    b.handle(&auth).unwrap();
    let mut from_site = Vec::new();
    for _ in 0..50 {
        while let Some(m) = a.poll_transmit() {
            b.handle(&m).unwrap();
            from_site.push(m);
        }
        while let Some(m) = b.poll_transmit() {
            a.handle(&m).unwrap();
        }
        if a.is_done() && b.is_done() {
            break;
        }
    }
    assert!(a.is_done() && b.is_done());
    seed(
        "sync_message",
        "session",
        &with_mode(1, &checks::framed(&from_site)),
    );
    nasty("sync_message", "empty-message", &with_mode(0, &[0, 0]));
    nasty(
        "sync_message",
        "wrong-magic",
        &with_mode(0, &checks::framed(&[vec![0; 3]])),
    );
    nasty(
        "sync_message",
        "unknown-version-and-type",
        &with_mode(
            1,
            &checks::framed(&[vec![0xD5, 0xff, 0xff], vec![0xD5, 1, 0]]),
        ),
    );
    let mut hello_huge_site = vec![0xD5, 1, 1];
    hello_huge_site.extend(varint(u64::MAX));
    nasty(
        "sync_message",
        "hello-site-length-u64-max",
        &with_mode(0, &checks::framed(&[hello_huge_site])),
    );
    let mut have_huge = vec![0xD5, 1, 4, 1];
    have_huge.extend(varint(u64::MAX / 24));
    let mut doc_huge = vec![0xD5, 1, 5];
    doc_huge.extend_from_slice(case.id.as_bytes());
    doc_huge.extend(varint(1 << 40));
    let mut quiet_max = vec![0xD5, 1, 7];
    quiet_max.extend(varint(u64::MAX));
    quiet_max.extend(varint(u64::MAX));
    quiet_max.push(1);
    let overlong_varint = [vec![0xD5, 1, 7], vec![0xff; 20]].concat();
    nasty(
        "sync_message",
        "syncing-huge-counts",
        &with_mode(
            1,
            &checks::framed(&[have_huge, doc_huge, quiet_max, overlong_varint]),
        ),
    );
    let mut doc_garbage = vec![0xD5, 1, 5];
    doc_garbage.extend_from_slice(case.id.as_bytes());
    doc_garbage.extend(varint(8));
    doc_garbage.extend_from_slice(&[0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    nasty(
        "sync_message",
        "doc-with-garbage-automerge-message",
        &with_mode(1, &checks::framed(&[doc_garbage, vec![0xD5, 1, 8]])),
    );
    let cut: Vec<Vec<u8>> = from_site
        .iter()
        .map(|m| m[..m.len() / 2].to_vec())
        .collect();
    nasty(
        "sync_message",
        "session-cut-short",
        &with_mode(1, &checks::framed(&cut)),
    );

    // bundle_import: a real file, and its body after the sender for the signing mode.
    let bundle = site.export_bundle("HUB").unwrap().bytes;
    seed("bundle_import", "file", &with_mode(0, &bundle));
    let tail = &bundle[13 + 6 + 32..bundle.len() - 64];
    seed("bundle_import", "body", &with_mode(1, tail));
    nasty("bundle_import", "magic-only", &with_mode(0, b"DSBN"));
    let mut len_max = b"DSBN\x01".to_vec();
    len_max.extend_from_slice(&u64::MAX.to_be_bytes());
    nasty(
        "bundle_import",
        "body-length-u64-max",
        &with_mode(0, &len_max),
    );
    nasty(
        "bundle_import",
        "file-cut-short",
        &with_mode(0, &bundle[..bundle.len() - 10]),
    );
    let mut tampered = bundle.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    nasty("bundle_import", "file-tampered", &with_mode(0, &tampered));
    let mut body_huge = vec![3];
    body_huge.extend_from_slice(b"HUB");
    body_huge.extend(varint(0));
    body_huge.extend(varint(u64::MAX));
    nasty(
        "bundle_import",
        "body-doc-count-u64-max",
        &with_mode(1, &body_huge),
    );
    nasty(
        "bundle_import",
        "body-cut-short",
        &with_mode(1, &tail[..tail.len() / 2]),
    );

    // sop_json
    seed("sop_json", "upi", dossier_tests::UPI_SOP.as_bytes());
    seed("sop_json", "card", dossier_tests::CARD_SOP.as_bytes());
    nasty("sop_json", "deep-nesting", "[".repeat(10_000).as_bytes());
    nasty("sop_json", "empty-object", b"{}");
    nasty("sop_json", "null", b"null");
    let cyclic = dossier_tests::UPI_SOP.replacen("\"start\"", "\"start_\"", 1);
    nasty("sop_json", "renamed-start", cyclic.as_bytes());
    let huge_numbers = dossier_tests::UPI_SOP.replace(": 1", ": 1e999999");
    nasty("sop_json", "huge-numbers", huge_numbers.as_bytes());
    nasty(
        "sop_json",
        "cut-short",
        &dossier_tests::UPI_SOP.as_bytes()[..dossier_tests::UPI_SOP.len() / 2],
    );

    // redact
    for (name, text) in [
        (
            "spanish",
            "Tarjeta 4111-1111-1111-1111, cvv 123, llamar al +34 612 345 678",
        ),
        (
            "portuguese",
            "cartão 5555 5555 5555 4444 código de segurança: 987",
        ),
        (
            "url-and-phone",
            "ver https://pay.example/4111111111111111 o +4411111111111111",
        ),
        ("masked", "pan 411111******1111 ya enmascarado"),
        ("glued", "card:4111111111111111 Nº378282246310005"),
    ] {
        seed("redact", name, text.as_bytes());
    }
    nasty(
        "redact",
        "ten-thousand-digits",
        "4".repeat(10_000).as_bytes(),
    );
    nasty(
        "redact",
        "many-short-groups",
        "4111 ".repeat(2_000).as_bytes(),
    );
    nasty(
        "redact",
        "many-keywords",
        "cvv cvc cvv2 código ".repeat(300).as_bytes(),
    );
    nasty(
        "redact",
        "typographic-separators",
        "4111\u{2009}1111\u{202F}1111\u{2013}1111 4111\u{00A0}1111\u{2011}1111\u{2010}1111"
            .as_bytes(),
    );
    nasty(
        "redact",
        "invalid-utf8",
        &[0x34, 0x31, 0xff, 0x31, 0x31, 0xc3, 0x28],
    );
    nasty(
        "redact",
        "digits-then-mask",
        b"1234564111111******1111 4111111111111111",
    );
}
