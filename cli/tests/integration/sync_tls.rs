//! `dossier serve --tls-cert --tls-key` and `dossier sync --hub wss:// --ca-cert`, end to end:
//! a real hub process serving TLS with a throwaway private CA made here, and site processes
//! syncing with it, refused without the CA and told to use wss:// when they speak plain ws://.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

use crate::Env;

/// A private CA (PEM) and a certificate for `localhost` it issued, with its key (PEM).
fn pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Dossier CLI test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A running `dossier serve`, killed when dropped (also when a test fails).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `dossier serve` in `env` on a free port and waits for its "listening" line.
    fn start(env: &Env, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dossier"))
            .current_dir(env.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dossier serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, port: 0 };
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the hub prints where it listens");
        // "hub HUB listening on wss://127.0.0.1:PORT (Ctrl-C to stop)"
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("wss://"))
            .unwrap_or_else(|| panic!("not a wss:// hub: {line}"));
        server.port = addr.rsplit(':').next().unwrap().parse().unwrap();
        server
    }

    /// Stops the hub and returns its log (one line per session).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut log);
        }
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key(env: &Env) -> String {
    env.ok(&["key", "show"]).trim().to_string()
}

#[test]
fn a_site_syncs_with_a_tls_hub_only_when_it_trusts_the_hubs_ca() {
    let hub = Env::init("HUB");
    let site = Env::init("MX1");
    hub.ok(&[
        "peer",
        "add",
        "--site",
        "MX1",
        "--key",
        &key(&site),
        "--scope",
        "*",
    ]);
    site.ok(&[
        "peer",
        "add",
        "--site",
        "HUB",
        "--key",
        &key(&hub),
        "--scope",
        "*",
    ]);
    hub.ok(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "Reembolso del hub",
    ]);
    site.ok(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "Reembolso de la sede",
    ]);
    let (ca, cert, tls_key) = pki();
    hub.write("cert.pem", &cert);
    hub.write("key.pem", &tls_key);
    site.write("ca.pem", &ca);

    // A certificate file that is not PEM: one clear error line, before listening.
    hub.write("bad.pem", "not a certificate");
    let out = hub.fail(
        &["serve", "--tls-cert", "bad.pem", "--tls-key", "key.pem"],
        1,
    );
    assert!(
        out.stderr.contains("no certificate found in bad.pem"),
        "{out:?}"
    );
    let out = hub.fail(&["serve", "--tls-cert", "cert.pem"], 2);
    assert!(out.stderr.contains("--tls-key"), "{out:?}");

    let server = Server::start(&hub, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    let url = format!("wss://localhost:{}", server.port);

    // Without the CA: refused at once (not retried), nothing exchanged.
    let out = site.fail(&["sync", "--hub", &url], 1);
    assert!(out.stderr.contains("--ca-cert"), "{out:?}");
    // Plain ws:// at the TLS hub: a hint to use wss://, not five retries.
    let plain = format!("ws://localhost:{}", server.port);
    let out = site.fail(&["sync", "--hub", &plain], 1);
    assert!(out.stderr.contains("use wss://"), "{out:?}");
    let cases = site.json(&["case", "list"]);
    assert_eq!(cases.as_array().unwrap().len(), 1, "{cases}");

    // With the CA: a full session both ways.
    let report: Value = site.json(&["sync", "--hub", &url, "--ca-cert", "ca.pem"]);
    assert_eq!(report["completed"], true, "{report}");
    assert_eq!(report["docs_received"], 1, "{report}");
    assert_eq!(report["docs_sent"], 1, "{report}");
    let text = site.ok(&["sync", "--hub", &url, "--ca-cert", "ca.pem"]);
    assert!(text.starts_with("synced with HUB"), "{text}");

    let subjects = |env: &Env| {
        let mut s: Vec<String> = env
            .json(&["case", "list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["subject"].as_str().unwrap().to_string())
            .collect();
        s.sort();
        s
    };
    let log = server.stop();
    assert_eq!(
        subjects(&site),
        ["Reembolso de la sede", "Reembolso del hub"]
    );
    assert_eq!(subjects(&hub), subjects(&site));
    // The hub logged the plain client's failed TLS handshake and the two sessions.
    assert!(log.contains("tls error"), "{log}");
    assert_eq!(log.matches("MX1: ").count(), 2, "{log}");
}
