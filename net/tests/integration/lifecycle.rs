//! Connections that end badly, a busy hub, reconnects, shutdown.

use std::time::Duration;

use dossier::sync::{Session, SessionConfig};
use dossier::{Category, NewCase};
use dossier_net::{Error, HubConfig, NetConfig, Retry, sync_with_hub, sync_with_retry};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_disconnecting_mid_session_leaves_both_consistent_and_the_next_session_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let news: Vec<NewCase> = (0..60)
        .map(|i| NewCase::new("ES", Category::Other, &format!("caso {i}")))
        .collect();
    hub.create_cases(&news).unwrap();
    site.create_case(NewCase::new("ES", Category::Other, "de la sede"))
        .unwrap();
    let (server, url, outcomes) = start_hub(&hub, HubConfig::default()).await;

    // Drive a session by hand and vanish after a few answers.
    let config = SessionConfig {
        max_docs_in_flight: 8,
        ..SessionConfig::default()
    };
    let mut session = Session::initiate(&site, config).unwrap();
    let mut ws = raw(&url).await;
    let mut answers = 0;
    while answers < 12 {
        while let Some(m) = session.poll_transmit() {
            send(&mut ws, m).await;
        }
        let Some(m) = recv(&mut ws).await else { break };
        session.handle(&m).unwrap();
        answers += 1;
    }
    assert!(!session.is_done());
    drop(ws);
    drop(session);

    let log = wait_outcomes(&outcomes, 1).await;
    assert!(log[0].starts_with("err"), "{log:?}");
    assert_eq!(hub.check_integrity().unwrap(), Vec::<String>::new());
    assert_eq!(site.check_integrity().unwrap(), Vec::<String>::new());
    let partial = site.documents().unwrap().len();

    let report = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    assert!(report.completed);
    assert_eq!(site.documents().unwrap().len(), 61);
    assert_eq!(hub.documents().unwrap().len(), 61);
    assert_eq!(report.docs_received, 61 - partial, "resumed, not restarted");
    for (id, _) in hub.documents().unwrap() {
        assert_eq!(hub.heads(&id).unwrap(), site.heads(&id).unwrap());
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_hub_says_so_and_a_retrying_client_gets_in_when_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let mut config = HubConfig {
        max_sessions: 1,
        ..HubConfig::default()
    };
    config.net.idle_timeout = Duration::from_millis(800);
    let (server, url, outcomes) = start_hub(&hub, config).await;
    // A silent client holds the only slot until the idle timeout frees it.
    let silent = raw(&url).await;
    let err = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Busy), "{err}");
    assert!(err.is_transient());
    let retry = Retry {
        attempts: 20,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
    };
    let report = sync_with_retry(&site, &url, &NetConfig::default(), &retry)
        .await
        .unwrap();
    assert!(report.completed);
    drop(silent);
    let log = wait_outcomes(&outcomes, 2).await;
    assert!(log.iter().any(|l| l.contains("Timeout")), "{log:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_the_hub_accepts_nothing_and_clients_see_a_transient_error() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let (server, url, _) = start_hub(&hub, HubConfig::default()).await;
    sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    server.shutdown().await;
    let err = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let err = sync_with_hub(&site, "http://example.invalid", &NetConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Address(_)) && !err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_running_totals_that_end_at_the_final_report() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    for i in 0..5 {
        site.create_case(dossier::NewCase::new(
            "IN-UPI",
            dossier::Category::FailedPayment,
            &format!("Money debited {i}"),
        ))
        .unwrap();
    }
    let (_server, url, _outcomes) = start_hub(&hub, HubConfig::default()).await;
    let mut seen: Vec<dossier::sync::SyncReport> = Vec::new();
    let report =
        dossier_net::sync_with_hub_progress(&site, &url, &NetConfig::default(), &mut |r| {
            seen.push(r.clone())
        })
        .await
        .unwrap();
    assert!(!seen.is_empty(), "progress was reported");
    for pair in seen.windows(2) {
        assert!(pair[1].bytes_sent >= pair[0].bytes_sent);
        assert!(pair[1].bytes_received >= pair[0].bytes_received);
        assert!(pair[1].docs_sent >= pair[0].docs_sent);
    }
    let last = seen.last().unwrap();
    assert_eq!(last.docs_sent, report.docs_sent);
    assert_eq!(report.docs_sent, 5);
    assert!(last.bytes_received <= report.bytes_received);
}
