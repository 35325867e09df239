//! `wss://`: hubs serving TLS with a throwaway private CA made at test time, sites trusting it,
//! and every way the two can fail to agree ending in a typed error, never a hang.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dossier::{CaseUpdate, Category, DocKind, NewCase, Store};
use dossier_net::{
    Error, HubConfig, NetConfig, Retry, ServerTls, TrustedRoots, sync_with_hub, sync_with_retry,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::support::*;

/// A private CA and a server certificate it issued.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A fresh CA and a certificate from it for `names` (host names or IP addresses).
fn pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names, so another test CA is an unknown issuer rather than a bad signature.
    static CAS: AtomicUsize = AtomicUsize::new(0);
    let n = CAS.fetch_add(1, Ordering::Relaxed);
    ca.distinguished_name
        .push(DnType::CommonName, format!("Dossier test CA {n}"));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(DnType::CommonName, "hub");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Pki {
    fn server(&self) -> ServerTls {
        ServerTls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }

    /// A client configuration trusting this CA.
    fn client(&self) -> NetConfig {
        let mut config = NetConfig::default();
        assert_eq!(config.tls_roots.add_pem(self.ca_pem.as_bytes()).unwrap(), 1);
        config
    }
}

/// A hub serving `wss://` with `pki`'s certificate; its port.
async fn start_tls_hub(store: &Store, pki: &Pki) -> (dossier_net::Hub, u16, Outcomes) {
    let config = HubConfig {
        tls: Some(pki.server()),
        ..HubConfig::default()
    };
    let (hub, _, outcomes) = start_hub(store, config).await;
    let port = hub.local_addr().port();
    (hub, port, outcomes)
}

/// Every document's materialized view and heads.
fn snapshot(s: &Store) -> BTreeMap<String, String> {
    s.documents()
        .unwrap()
        .into_iter()
        .map(|(id, kind)| {
            let view = match kind {
                DocKind::Case => serde_json::to_string(&s.case_by_id(&id).unwrap()).unwrap(),
                _ => String::new(),
            };
            (
                id.to_string(),
                format!("{view}|{:?}", s.heads(&id).unwrap()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_converge_through_a_tls_hub() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, a, b) = (
        open(dir.path(), "HUB"),
        open(dir.path(), "MX1"),
        open(dir.path(), "BLR1"),
    );
    provision(&hub, &a, &["*"]);
    provision(&hub, &b, &["*"]);
    let pki = pki(&["localhost", "127.0.0.1"]);
    let (server, port, outcomes) = start_tls_hub(&hub, &pki).await;
    let config = pki.client();

    let case = a
        .create_case(NewCase::new("ES", Category::Refund, "Reembolso"))
        .unwrap();
    b.create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
        .unwrap();
    let by_name = format!("wss://localhost:{port}");
    let by_ip = format!("wss://127.0.0.1:{port}");
    let r = sync_with_hub(&a, &by_name, &config).await.unwrap();
    assert!(r.completed && r.rejected.is_empty(), "{r:?}");
    let r = sync_with_hub(&b, &by_ip, &config).await.unwrap();
    assert!(r.completed && r.rejected.is_empty(), "{r:?}");
    assert_eq!(r.docs_received, 1);

    // Concurrent edits of the same case on both sites, then a round of syncs.
    a.update_case(
        &case.number,
        CaseUpdate {
            add_tags: vec!["vip".into()],
            ..CaseUpdate::default()
        },
    )
    .unwrap();
    b.add_note(&case.number, "statement received", false)
        .unwrap();
    for site in [&a, &b, &a] {
        sync_with_hub(site, &by_name, &config).await.unwrap();
    }

    let expected = snapshot(&hub);
    assert_eq!(expected.len(), 2);
    assert_eq!(snapshot(&a), expected);
    assert_eq!(snapshot(&b), expected);
    let merged = b.case(&case.number).unwrap();
    assert!(merged.tags.iter().any(|t| t == "vip"), "{merged:?}");
    for s in [&hub, &a, &b] {
        assert_eq!(s.check_integrity().unwrap(), Vec::<String>::new());
    }
    let log = wait_outcomes(&outcomes, 5).await;
    assert!(log.iter().all(|l| l.starts_with("ok")), "{log:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_hubs_ca_is_refused_not_retried_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "MX1"));
    provision(&hub, &site, &["*"]);
    hub.create_case(NewCase::new("ES", Category::Refund, "del hub"))
        .unwrap();
    site.create_case(NewCase::new("ES", Category::Refund, "de la sede"))
        .unwrap();
    let pki = pki(&["localhost"]);
    let (server, port, outcomes) = start_tls_hub(&hub, &pki).await;
    let url = format!("wss://localhost:{port}");
    let (hub_before, site_before) = (snapshot(&hub), snapshot(&site));

    // Another CA's root: the hub's certificate does not chain to it.
    let stranger = pki_stranger();
    let retry = Retry {
        attempts: 3,
        initial_delay: Duration::from_millis(10),
        ..Retry::default()
    };
    let err = sync_with_retry(&site, &url, &stranger, &retry)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedCertificate(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("not trusted"), "{err}");

    // No trusted root at all: refused before connecting.
    let err = sync_with_hub(&site, &url, &NetConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TlsConfig(_)), "{err:?}");
    assert!(err.to_string().contains("--ca-cert"), "{err}");

    // The right CA but another name than the certificate's.
    let err = sync_with_hub(&site, &format!("wss://127.0.0.1:{port}"), &pki.client())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedCertificate(_)), "{err:?}");

    assert_eq!(snapshot(&hub), hub_before);
    assert_eq!(snapshot(&site), site_before);
    // Two connections (the refusal was not retried), each refused by the client during TLS.
    let log = wait_outcomes(&outcomes, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(outcomes.lock().unwrap().len(), 2, "{log:?}");
    assert!(
        log.iter()
            .all(|l| l.starts_with("err") && l.contains("Tls")),
        "{log:?}"
    );
    server.shutdown().await;
}

fn pki_stranger() -> NetConfig {
    pki(&["localhost"]).client()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_ws_client_at_a_tls_hub_fails_at_once_with_a_hint_and_the_hub_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "MX1"));
    provision(&hub, &site, &["*"]);
    let pki = pki(&["localhost"]);
    let (server, port, outcomes) = start_tls_hub(&hub, &pki).await;

    let config = NetConfig {
        // Long enough that hitting it would mean a hang, not an answer.
        handshake_timeout: Duration::from_secs(20),
        ..NetConfig::default()
    };
    let started = std::time::Instant::now();
    let err = sync_with_hub(&site, &format!("ws://localhost:{port}"), &config)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{err:?}");
    assert!(matches!(err, Error::NotAHub(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("wss://"), "{err}");
    let log = wait_outcomes(&outcomes, 1).await;
    assert!(
        log[0].starts_with("err") && log[0].contains("Tls"),
        "{log:?}"
    );

    // The hub still serves a TLS client.
    let r = sync_with_hub(&site, &format!("wss://localhost:{port}"), &pki.client())
        .await
        .unwrap();
    assert!(r.completed);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_at_a_plain_hub_gets_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, site) = (open(dir.path(), "HUB"), open(dir.path(), "MX1"));
    provision(&hub, &site, &["*"]);
    let (server, url, _) = start_hub(&hub, HubConfig::default()).await;
    let pki = pki(&["127.0.0.1"]);
    let url = url.replacen("ws://", "wss://", 1);
    let err = sync_with_hub(&site, &url, &pki.client()).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    assert!(!err.is_transient());
    server.shutdown().await;
}

#[test]
fn bad_pem_and_mismatched_keys_are_typed_configuration_errors() {
    let good = pki(&["localhost"]);
    let other = pki(&["localhost"]);
    let config_err = |r: dossier_net::Result<ServerTls>| match r {
        Err(Error::TlsConfig(why)) => why,
        other => panic!("{other:?}"),
    };

    let why = config_err(ServerTls::from_pem(b"not pem", good.key_pem.as_bytes()));
    assert!(why.contains("no certificate"), "{why}");
    let why = config_err(ServerTls::from_pem(good.cert_pem.as_bytes(), b""));
    assert!(why.contains("no private key"), "{why}");
    let truncated = &good.cert_pem[..good.cert_pem.len() / 2];
    config_err(ServerTls::from_pem(
        truncated.as_bytes(),
        good.key_pem.as_bytes(),
    ));
    let why = config_err(ServerTls::from_pem(
        good.cert_pem.as_bytes(),
        other.key_pem.as_bytes(),
    ));
    assert!(why.contains("cannot use"), "{why}");
    // No key material in any message.
    assert!(!why.contains("PRIVATE KEY"), "{why}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let why = config_err(ServerTls::from_pem_files(&missing, &missing));
    assert!(why.contains("missing.pem"), "{why}");

    let mut roots = TrustedRoots::default();
    for bad in [&b""[..], b"garbage", good.key_pem.as_bytes()] {
        let err = roots.add_pem(bad).unwrap_err();
        assert!(matches!(err, Error::TlsConfig(_)), "{err:?}");
    }
    assert!(roots.is_empty());
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, format!("{}{}", good.ca_pem, other.ca_pem)).unwrap();
    assert_eq!(roots.add_pem_file(&ca).unwrap(), 2);
    assert_eq!(roots.len(), 2);
    // Debug output never shows the key.
    assert_eq!(format!("{:?}", good.server()), "ServerTls { .. }");
}
