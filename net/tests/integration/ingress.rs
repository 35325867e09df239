//! Ingress validation over the network: a hostile site's card number is refused, nothing of it
//! is stored, and the session goes on; an unchanged store costs about the changed documents.

use automerge::transaction::Transactable;
use automerge::{Automerge, Change};
use dossier::sync::{RejectCode, Side};
use dossier::{Category, DocId, NewCase, Store};
use dossier_net::{HubConfig, NetConfig, sync_with_hub};

use crate::support::*;

/// The changes of a pack from `Store::changes_since` (layout documented in `exchange.rs`).
fn unpack(pack: &[u8]) -> Vec<Change> {
    let mut rest = &pack[4 + 1 + 16..];
    let count = u32::from_be_bytes(rest[..4].try_into().unwrap());
    rest = &rest[4..];
    (0..count)
        .map(|_| {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let c = Change::from_bytes(rest[4..4 + len].to_vec()).unwrap();
            rest = &rest[4 + len..];
            c
        })
        .collect()
}

/// Writes a change that sets `subject` straight into the site's SQLite file, past the
/// redactor, as a modified build of Dossier could. Returns the reopened store.
fn plant(dir: &std::path::Path, site: Store, id: &DocId, subject: &str) -> Store {
    let mut doc = Automerge::new();
    doc.apply_changes(unpack(&site.changes_since(id, &[]).unwrap()))
        .unwrap();
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "subject", subject).unwrap();
    tx.commit();
    let mut change = doc.get_changes(&before).remove(0);
    let name = site.site().to_string();
    drop(site);
    let db = rusqlite::Connection::open(dir.join(format!("{name}.db"))).unwrap();
    db.execute(
        "INSERT INTO changes(doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            id.to_string(),
            change.hash().0.as_slice(),
            change.bytes().to_vec()
        ],
    )
    .unwrap();
    db.execute(
        "UPDATE docs SET change_seq = (SELECT max(change_seq) + 1 FROM docs) WHERE id = ?1",
        [id.to_string()],
    )
    .unwrap();
    drop(db);
    open(dir, &name)
}

fn raw_files_contain(dir: &std::path::Path, prefix: &str, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        p.file_name().unwrap().to_string_lossy().starts_with(prefix)
            && std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_sending_a_card_number_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let case = site
        .create_case(NewCase::new("ES", Category::Refund, "cobro duplicado"))
        .unwrap();
    let (server, url, outcomes) = start_hub(&hub, HubConfig::default()).await;
    sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    let before = hub.heads(&case.id).unwrap();

    let site = plant(
        dir.path(),
        site,
        &case.id,
        "card 4111 1111 1111 1111 exp 12/29",
    );
    assert!(
        site.case(&case.number)
            .unwrap()
            .subject
            .contains("4111 1111")
    );
    let other = site
        .create_case(NewCase::new("ES", Category::Refund, "otro caso"))
        .unwrap();
    let report = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    assert!(report.completed, "the session went on");
    assert!(
        report
            .rejected
            .iter()
            .any(|r| r.doc == case.id && r.by == Side::Peer && r.reason == RejectCode::CardData),
        "{report:?}"
    );
    assert_eq!(hub.heads(&case.id).unwrap(), before);
    assert_eq!(hub.case(&case.number).unwrap().subject, "cobro duplicado");
    assert!(hub.case(&other.number).is_ok());
    let log = wait_outcomes(&outcomes, 2).await;
    assert!(log[1].contains("CardData"), "{log:?}");
    server.shutdown().await;
    drop(hub);
    assert!(!raw_files_contain(
        dir.path(),
        "HUB",
        b"4111 1111 1111 1111"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_between_nearly_identical_stores_costs_about_the_changed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let news: Vec<NewCase> = (0..300)
        .map(|i| NewCase::new("ES", Category::Other, &format!("caso {i}")))
        .collect();
    let ids = hub.create_cases(&news).unwrap();
    let (server, url, _) = start_hub(&hub, HubConfig::default()).await;
    let first = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    assert_eq!(first.docs_received, 300);
    let mut costs = Vec::new();
    for changed in [0usize, 2, 20] {
        for id in &ids[..changed] {
            hub.add_note(&id.to_string(), "seguimiento", false).unwrap();
        }
        let r = sync_with_hub(&site, &url, &NetConfig::default())
            .await
            .unwrap();
        assert_eq!(r.docs_received, changed);
        assert!(
            r.messages_received <= 4 * changed as u64 + 8,
            "{changed} changed: {r:?}"
        );
        costs.push(r.bytes_received);
    }
    // Nothing changed: a few dozen bytes. Two changed: far less than twenty, far less than all.
    assert!(costs[0] < 200, "{costs:?}");
    assert!(costs[1] * 5 < costs[2], "{costs:?}");
    assert!(costs[2] * 5 < first.bytes_received, "{costs:?} {first:?}");
    server.shutdown().await;
}
