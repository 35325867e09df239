//! Change packs built to break `automerge` rather than to carry edits: a change whose bytes
//! were corrupted after it was made, and a change that is well formed on the wire (valid
//! checksum) but whose operations are impossible for the objects they target. Both are what
//! fuzzing the change-pack import found (`fuzz/regressions/doc_load/crash-a3806c06…`): before
//! `dossier`'s own checks, the second one made `automerge` corrupt the document it was
//! applied to (a panic in debug builds).

use automerge::Change;
use dossier::{Category, Error, NewCase, Store, StoreOptions};

const CRASH: &[u8] = include_bytes!(
    "../../../fuzz/regressions/doc_load/crash-a3806c06d8b72240422fde05f191355059f22a92"
);

/// The pack inside the fuzz input (its first byte picks the fuzz mode) split into its
/// document id and raw change chunks.
fn crash_changes() -> ([u8; 16], Vec<Vec<u8>>) {
    let pack = &CRASH[1..];
    assert_eq!(&pack[..5], b"DSCP\x01");
    let id: [u8; 16] = pack[5..21].try_into().unwrap();
    let count = u32::from_be_bytes(pack[21..25].try_into().unwrap());
    let mut rest = &pack[25..];
    let mut changes = Vec::new();
    for _ in 0..count {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        changes.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    (id, changes)
}

fn pack(id: &[u8; 16], changes: &[&[u8]]) -> Vec<u8> {
    let mut out = b"DSCP\x01".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(&(changes.len() as u32).to_be_bytes());
    for c in changes {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

/// Rewrites a change chunk's header checksum to match its contents (the first four bytes of
/// the change's hash, which does not cover the checksum), as a hostile peer that crafts changes
/// rather than corrupting them in transit would.
fn fix_checksum(chunk: &[u8]) -> Vec<u8> {
    let hash = Change::from_bytes(chunk.to_vec()).unwrap().hash();
    let mut out = chunk.to_vec();
    out[4..8].copy_from_slice(&hash.0[..4]);
    out
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(
        dir.join("hub.db"),
        StoreOptions {
            site: Some("HUB".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn rejected_because(result: dossier::Result<dossier::exchange::Applied>) -> String {
    match result {
        Err(Error::Rejected { reason, .. }) => reason,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn a_change_corrupted_after_it_was_made_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let hub = store(dir.path());
    let existing = hub
        .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "UPI debit"))
        .unwrap();
    let (id, changes) = crash_changes();
    // The change as it was made still decodes: only its checksum gives it away.
    let corrupted = Change::from_bytes(changes[1].clone()).unwrap();
    assert_ne!(&changes[1][4..8], &corrupted.hash().0[..4]);

    let reason = rejected_because(hub.apply_changes(&pack(&id, &[&changes[0], &changes[1]])));
    assert!(reason.contains("checksum"), "{reason}");
    assert_eq!(hub.documents().unwrap().len(), 1, "nothing was stored");
    assert_eq!(hub.case(&existing.number).unwrap(), existing);
}

#[test]
fn a_well_formed_change_with_impossible_operations_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let hub = store(dir.path());
    let (id, changes) = crash_changes();
    let crafted = fix_checksum(&changes[1]);
    let decoded = Change::from_bytes(crafted.clone()).unwrap();
    assert_eq!(
        &crafted[4..8],
        &decoded.hash().0[..4],
        "the checksum is valid"
    );

    // On an empty store and on one that already holds the document's first change.
    let reason = rejected_because(hub.apply_changes(&pack(&id, &[&changes[0], &crafted])));
    assert!(reason.contains("map key"), "{reason}");
    assert!(hub.documents().unwrap().is_empty());

    let first = hub.apply_changes(&pack(&id, &[&changes[0]])).unwrap();
    assert_eq!(first.new_changes, 1);
    let heads = hub.heads(&first.doc).unwrap();
    let case = hub.case(&first.doc.to_string()).unwrap();
    let reason = rejected_because(hub.apply_changes(&pack(&id, &[&crafted])));
    assert!(reason.contains("map key"), "{reason}");
    assert_eq!(hub.heads(&first.doc).unwrap(), heads);
    assert_eq!(hub.case(&first.doc.to_string()).unwrap(), case);

    // The store is sound afterwards, from its cache and from the file.
    hub.add_note(&case.number, "still writable", false).unwrap();
    hub.check_integrity().unwrap();
    drop(hub);
    let reopened = store(dir.path());
    reopened.check_integrity().unwrap();
    assert_eq!(
        reopened.case(&case.number).unwrap().events.len(),
        case.events.len() + 1
    );
}

#[test]
fn raw_automerge_accepts_what_dossier_refuses() {
    // Guards the premise of the two tests above: if automerge starts verifying checksums or
    // operations itself, these checks can go (and this test says so).
    let (_, changes) = crash_changes();
    let corrupted = Change::from_bytes(changes[1].clone());
    assert!(corrupted.is_ok(), "automerge now refuses a bad checksum");
    let crafted = Change::from_bytes(fix_checksum(&changes[1])).unwrap();
    let ops = crafted.decode().operations;
    assert!(
        ops.iter()
            .any(|op| op.insert && matches!(op.key, automerge::legacy::Key::Map(_))),
        "the crafted change inserts at a map key"
    );
}
