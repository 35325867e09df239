//! Authentication over the network: wrong keys, replays, old versions, garbage, oversized
//! messages. Each ends the session with a clear, typed error on both sides.

use dossier::Error as StoreError;
use dossier::sync::{Session, SessionConfig, SyncFailure};
use dossier_net::{Error, HubConfig, NetConfig, sync_with_hub};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_with_a_key_the_hub_does_not_know_is_refused_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site, other) = (
        open(dir.path(), "HUB"),
        open(dir.path(), "BLR1"),
        open(dir.path(), "OTHER"),
    );
    provision(&hub, &site, &["*"]);
    // The hub has another key on file for BLR1.
    hub.add_peer(
        "BLR1",
        other.public_key().unwrap(),
        vec!["*".parse().unwrap()],
    )
    .unwrap();
    let (server, url, outcomes) = start_hub(&hub, HubConfig::default()).await;
    let err = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Store(StoreError::SyncRefused(SyncFailure::UnknownKey))
        ),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(err.to_string().contains("unknown key"), "{err}");
    let log = wait_outcomes(&outcomes, 1).await;
    assert!(log[0].contains("UnknownKey"), "{log:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_signing_with_another_key_is_refused_by_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site, impostor) = (
        open(dir.path(), "HUB"),
        open(dir.path(), "BLR1"),
        open(dir.path(), "HUBX"),
    );
    provision(&hub, &site, &["*"]);
    // The site expects HUB's key; this "hub" store has another.
    site.add_peer(
        "HUBX",
        hub.public_key().unwrap(),
        vec!["*".parse().unwrap()],
    )
    .unwrap();
    impostor
        .add_peer(
            "BLR1",
            site.public_key().unwrap(),
            vec!["*".parse().unwrap()],
        )
        .unwrap();
    let (server, url, _) = start_hub(&impostor, HubConfig::default()).await;
    let err = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Sync(SyncFailure::UnknownKey))),
        "{err}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_hello_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let (server, url, _) = start_hub(&hub, HubConfig::default()).await;

    // A real session, whose hello an eavesdropper records.
    let mut session = Session::initiate(&site, SessionConfig::default()).unwrap();
    let hello = session.poll_transmit().unwrap();
    let mut ws = raw(&url).await;
    send(&mut ws, hello.clone()).await;
    while !session.is_closed() {
        while let Some(m) = session.poll_transmit() {
            send(&mut ws, m).await;
        }
        match recv(&mut ws).await {
            Some(m) => session.handle(&m).unwrap(),
            None => break,
        }
    }
    assert!(session.is_done());

    let mut replay = raw(&url).await;
    send(&mut replay, hello).await;
    let reply = recv(&mut replay).await.unwrap();
    let err = meaning(&site, &reply);
    assert!(
        matches!(err, StoreError::SyncRefused(SyncFailure::ReplayedNonce)),
        "{err}"
    );
    assert!(recv(&mut replay).await.is_none(), "the hub hung up");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_protocol_version_and_garbage_bytes_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let (server, url, outcomes) = start_hub(&hub, HubConfig::default()).await;

    let mut hello = Session::initiate(&site, SessionConfig::default())
        .unwrap()
        .poll_transmit()
        .unwrap();
    hello[1] = 0; // protocol version 0
    let mut ws = raw(&url).await;
    send(&mut ws, hello).await;
    let err = meaning(&site, &recv(&mut ws).await.unwrap());
    assert!(
        matches!(
            err,
            StoreError::SyncRefused(SyncFailure::UnsupportedVersion { theirs: 0 })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("unsupported protocol version 0"),
        "{err}"
    );

    for garbage in [
        b"\x00\x01garbage".to_vec(),
        vec![0xD5],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ] {
        let mut ws = raw(&url).await;
        send(&mut ws, garbage).await;
        let err = meaning(&site, &recv(&mut ws).await.unwrap());
        assert!(
            matches!(err, StoreError::SyncRefused(SyncFailure::Malformed { .. })),
            "{err}"
        );
    }
    let log = wait_outcomes(&outcomes, 4).await;
    assert!(log.iter().all(|l| l.starts_with("err")), "{log:?}");
    // The hub is still serving.
    sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_limit_ends_the_session_and_the_hub_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "BLR1"));
    provision(&hub, &site, &["*"]);
    let mut config = HubConfig::default();
    config.net.session.max_message_bytes = 64 << 10;
    let (server, url, outcomes) = start_hub(&hub, config).await;
    let mut ws = raw(&url).await;
    let _ = futures_util::SinkExt::send(
        &mut ws,
        tokio_tungstenite::tungstenite::Message::Binary(vec![0xD5; 200 << 10].into()),
    )
    .await;
    if let Some(reply) = recv(&mut ws).await {
        let err = meaning(&site, &reply);
        assert!(
            matches!(
                err,
                StoreError::SyncRefused(SyncFailure::TooLarge { limit }) if limit == 64 << 10
            ),
            "{err}"
        );
    }
    let log = wait_outcomes(&outcomes, 1).await;
    assert!(log[0].contains("TooLarge"), "{log:?}");
    sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hubs_log_of_a_refused_hello_names_the_claimed_site_and_key_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, stranger) = (open(dir.path(), "HUB"), open(dir.path(), "BLR9"));
    // The stranger trusts the hub; the hub has never heard of BLR9.
    stranger
        .add_peer("HUB", hub.public_key().unwrap(), vec!["*".parse().unwrap()])
        .unwrap();
    // The operator's log: what `dossier serve` prints, one `Display` per session.
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let l = lines.clone();
    let config = HubConfig {
        on_session: Some(std::sync::Arc::new(
            move |o: &dossier_net::SessionOutcome| {
                l.lock().unwrap().push(o.to_string());
            },
        )),
        ..HubConfig::default()
    };
    let server = dossier_net::Hub::bind(hub.clone(), "127.0.0.1:0", config)
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr());
    let err = sync_with_hub(&stranger, &url, &NetConfig::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown site"), "{err}");
    let fingerprint = stranger.public_key().unwrap().fingerprint();
    let mut line = None;
    for _ in 0..200 {
        if let Some(l) = lines.lock().unwrap().first() {
            line = Some(l.clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let line = line.expect("the hub logged the session");
    assert!(
        line.contains(&format!("site BLR9, key fingerprint {fingerprint}")),
        "{line}"
    );
    assert!(line.contains("unknown site"), "{line}");
    // Public data only: neither the whole key nor anything else of the stranger's.
    assert!(
        !line.contains(&stranger.public_key().unwrap().to_string()),
        "{line}"
    );
    server.shutdown().await;
}
