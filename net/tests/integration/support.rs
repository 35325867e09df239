//! Shared helpers: stores in a temp dir, provisioning, hubs, raw WebSocket clients.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dossier::sync::{Scope, Session, SessionConfig};
use dossier::{Store, StoreOptions};
use dossier_net::{Hub, HubConfig, SessionOutcome};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn open(dir: &Path, site: &str) -> Store {
    Store::open(
        dir.join(format!("{site}.db")),
        StoreOptions {
            site: Some(site.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The hub grants `site` the `scopes`; the site trusts the hub with everything.
pub fn provision(hub: &Store, site: &Store, scopes: &[&str]) {
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    hub.add_peer(site.site(), site.public_key().unwrap(), scopes)
        .unwrap();
    site.add_peer(
        hub.site(),
        hub.public_key().unwrap(),
        vec![Scope::everything()],
    )
    .unwrap();
}

/// Outcomes of the hub's sessions, as the operator's log would see them.
pub type Outcomes = Arc<Mutex<Vec<SessionOutcome>>>;

pub async fn start_hub(store: &Store, mut config: HubConfig) -> (Hub, String, Outcomes) {
    let outcomes: Outcomes = Arc::default();
    let o = outcomes.clone();
    config.on_session = Some(Arc::new(move |s: &SessionOutcome| {
        o.lock().unwrap().push(SessionOutcome {
            remote: s.remote,
            result: match &s.result {
                Ok(r) => Ok(r.clone()),
                Err(e) => Err(dossier_net::Error::WebSocket(format!("{e:?}"))),
            },
            claim: s.claim.clone(),
        })
    }));
    let hub = Hub::bind(store.clone(), "127.0.0.1:0", config)
        .await
        .unwrap();
    let url = format!("ws://{}", hub.local_addr());
    (hub, url, outcomes)
}

/// Waits until the hub has logged `n` sessions, and returns their descriptions.
pub async fn wait_outcomes(outcomes: &Outcomes, n: usize) -> Vec<String> {
    for _ in 0..200 {
        {
            let o = outcomes.lock().unwrap();
            if o.len() >= n {
                return o
                    .iter()
                    .map(|s| match &s.result {
                        Ok(r) => format!("ok {r:?}"),
                        Err(e) => format!("err {e}"),
                    })
                    .collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub logged fewer than {n} sessions");
}

pub async fn raw(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

pub async fn send(ws: &mut Ws, bytes: Vec<u8>) {
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

/// The next binary message, or `None` when the connection ends first.
pub async fn recv(ws: &mut Ws) -> Option<Vec<u8>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => return Some(b.to_vec()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("no answer from the hub"),
        }
    }
}

/// What the hub's reply means, read by a fresh client session (which knows the wire format).
pub fn meaning(store: &Store, reply: &[u8]) -> dossier::Error {
    let mut s = Session::initiate(store, SessionConfig::default()).unwrap();
    s.poll_transmit();
    s.handle(reply).unwrap_err()
}
