//! Scopes over the network: what a site may see and what it may change.

use dossier::sync::{RejectCode, Side};
use dossier::{Category, NewCase, Store, StoreOptions};
use dossier_net::{HubConfig, NetConfig, sync_with_hub};

use crate::support::*;

const UPI_SOP: &str = include_str!("../../../core/src/sop/testdata/upi_debited_not_credited.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_scoped_to_in_upi_never_receives_a_br_pix_case() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["IN-UPI"]);
    let upi = hub
        .create_case(NewCase::new("IN-UPI", Category::Refund, "upi"))
        .unwrap();
    let pix = hub
        .create_case(NewCase::new("BR-PIX", Category::Refund, "pix"))
        .unwrap();
    let (server, url, _) = start_hub(&hub, HubConfig::default()).await;
    let report = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    assert_eq!(report.docs_received, 1);
    assert!(site.case(&upi.number).is_ok());
    assert!(site.case(&pix.number).is_err());
    assert!(
        site.documents()
            .unwrap()
            .iter()
            .all(|(id, _)| *id != pix.id)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sites_edit_of_a_published_sop_is_refused_by_the_hub_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["IN-UPI/case", "*/sop:ro"]);
    let sop = hub.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
    hub.submit_sop(&sop).unwrap();
    Store::open(
        dir.path().join("HUB.db"),
        StoreOptions {
            author: Some("approver".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .publish_sop(&sop)
    .unwrap();
    let (server, url, outcomes) = start_hub(&hub, HubConfig::default()).await;
    sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    assert_eq!(site.sop(&sop).unwrap(), hub.sop(&sop).unwrap());
    let published = hub.heads(&sop).unwrap();

    site.set_sop_text(&sop, "start", "en", "Rewritten at the site")
        .unwrap();
    let report = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    assert!(report.completed);
    assert!(
        report
            .rejected
            .iter()
            .any(|r| r.doc == sop && r.by == Side::Peer && r.reason == RejectCode::ReadOnly),
        "{report:?}"
    );
    assert_eq!(hub.heads(&sop).unwrap(), published);
    let log = wait_outcomes(&outcomes, 2).await;
    assert!(
        log[1].contains("ReadOnly") && log[1].contains("Us"),
        "{log:?}"
    );
    server.shutdown().await;
}
