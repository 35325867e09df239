//! `dossier key`, `dossier peer`, `dossier serve` and `dossier sync`: provisioning and running
//! sync between sites and a hub.
//!
//! Thin like every command module: parse, call one `dossier` or `dossier-net` function, print.
//! Authentication, scopes and ingress validation all live in `dossier::sync`, so the CLI cannot
//! weaken them. `serve` and `sync --hub` build a tokio runtime of their own because the rest of
//! the CLI is synchronous and only these two need the network.

use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgGroup, Args};
use dossier::Store;
use dossier::sync::{PublicKey, Scope, SyncReport};
use dossier_net::{Hub, HubConfig, NetConfig, Retry, ServerTls, SessionOutcome};

/// `dossier peer add --site S --key PUBKEY --scope MARKET[:ro] ...`
#[derive(Debug, Args)]
pub struct PeerAddArgs {
    /// The peer's site id (e.g. BLR1, or HUB for a site provisioning its hub).
    #[arg(long)]
    pub site: String,
    /// The peer's public key, as printed by `dossier key show` on the peer.
    #[arg(long, value_name = "PUBKEY")]
    pub key: String,
    /// What the peer may read and write here: `MARKET[/KIND,...][:ro|:rw]`; MARKET may be `*`.
    /// Repeat for several, e.g. --scope IN-UPI --scope '*/sop,plugin:ro'.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    pub scopes: Vec<String>,
}

/// `dossier peer list`
#[derive(Debug, Args)]
pub struct PeerListArgs {}

/// `dossier key show`
#[derive(Debug, Args)]
pub struct KeyShowArgs {}

/// `dossier serve --listen 127.0.0.1:7700 [--tls-cert cert.pem --tls-key key.pem]`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    pub listen: String,
    /// Most sync sessions at once; more are told to retry later.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_sessions: usize,
    /// Serve wss:// with this PEM certificate chain (the hub's certificate first), for a hub
    /// not behind a TLS-terminating proxy.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// `dossier sync --hub ws[s]://HOST:PORT [--ca-cert FILE] | --export FILE --for SITE |
/// --import FILE`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["hub", "export", "import"])))]
pub struct SyncArgs {
    /// Sync with the hub at this address (wss:// for a hub serving TLS).
    #[arg(long, value_name = "ws[s]://HOST:PORT")]
    pub hub: Option<String>,
    /// Trust the CA certificates in this PEM file for a wss:// hub. Repeat for several.
    #[arg(long = "ca-cert", value_name = "FILE", requires = "hub")]
    pub ca_certs: Vec<PathBuf>,
    /// Write the changes SITE lacks into this signed bundle file.
    #[arg(long, value_name = "FILE", requires = "for_site")]
    pub export: Option<PathBuf>,
    /// The site the bundle is for.
    #[arg(long = "for", value_name = "SITE", requires = "export")]
    pub for_site: Option<String>,
    /// Verify and apply a bundle file from a peer.
    #[arg(long, value_name = "FILE")]
    pub import: Option<PathBuf>,
    /// Attempts when the hub cannot be reached or is busy.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "hub")]
    pub attempts: u32,
}

fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, value).context("cannot write JSON output")?;
    writeln!(out)?;
    Ok(())
}

/// Provisions a peer (or updates its key and scopes).
///
/// # Errors
/// A malformed key, site or scope; storage errors.
pub fn run_peer_add(store: &Store, args: &PeerAddArgs, json: bool) -> Result<()> {
    let key: PublicKey = args.key.parse()?;
    let scopes = args
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<dossier::Result<Vec<_>>>()?;
    let peer = store.add_peer(&args.site, key, scopes)?;
    if json {
        return print_json(&peer);
    }
    let scopes: Vec<String> = peer.scopes.iter().map(|s| s.to_string()).collect();
    writeln!(
        stdout(),
        "peer {} provisioned: {}",
        peer.site,
        scopes.join(" ")
    )?;
    Ok(())
}

/// Lists provisioned peers, with when each was last heard from (a session or an imported
/// bundle) as a date and how long ago; `--json` keeps the raw milliseconds.
///
/// # Errors
/// Storage errors.
pub fn run_peer_list(store: &Store, _args: &PeerListArgs, json: bool) -> Result<()> {
    let peers = store.peers()?;
    if json {
        return print_json(&peers);
    }
    let mut out = stdout();
    let now = store.now();
    for p in peers {
        let scopes: Vec<String> = p.scopes.iter().map(|s| s.to_string()).collect();
        let last = p.last_sync_at.map_or_else(
            || "never synced".to_string(),
            |t| format!("last sync {}", crate::output::human_time(t, now)),
        );
        writeln!(out, "{}\t{}\t{}\t{last}", p.site, p.key, scopes.join(" "))?;
    }
    Ok(())
}

/// Prints this site's public key (alone on its line, so `--key "$(dossier key show)"` works).
///
/// # Errors
/// Storage errors.
pub fn run_key_show(store: &Store, _args: &KeyShowArgs, json: bool) -> Result<()> {
    let key = store.public_key()?;
    if json {
        return print_json(&serde_json::json!({ "site": store.site(), "public_key": key }));
    }
    writeln!(stdout(), "{key}")?;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// The hub's log line for one session: `dossier-net`'s own wording (refused documents by case
/// number or title, a refused hello by the site and key fingerprint it claimed), or a JSON line.
fn outcome_line(o: &SessionOutcome, json: bool) -> String {
    if !json {
        return o.to_string();
    }
    let claim = o
        .claim
        .as_ref()
        .map(|c| serde_json::json!({ "site": c.site, "key_fingerprint": c.key.fingerprint() }));
    match &o.result {
        Ok(r) => serde_json::json!({ "remote": o.remote.to_string(), "report": r }).to_string(),
        Err(e) => serde_json::json!({
            "remote": o.remote.to_string(),
            "claimed": claim,
            "error": e.to_string(),
        })
        .to_string(),
    }
}

/// Runs the hub until Ctrl-C, printing one line per session (JSON lines with `--json`).
///
/// # Errors
/// The address cannot be bound; the TLS certificate or key cannot be used; the runtime cannot
/// start.
pub fn run_serve(store: &Store, args: &ServeArgs, json: bool) -> Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ServerTls::from_pem_files(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let rt = runtime()?;
    rt.block_on(async {
        let config = HubConfig {
            tls,
            max_sessions: args.max_sessions,
            on_session: Some(Arc::new(move |o: &SessionOutcome| {
                // A log line that cannot be written must not take the hub down.
                let _ = writeln!(std::io::stderr(), "{}", outcome_line(o, json));
            })),
            ..HubConfig::default()
        };
        let hub = Hub::bind(store.clone(), args.listen.as_str(), config)
            .await
            .map_err(|e| anyhow!("cannot listen on {}: {e}", args.listen))?;
        let addr = hub.local_addr();
        if json {
            print_json(&serde_json::json!({
                "listening": format!("{scheme}://{addr}"),
                "site": store.site(),
                "public_key": store.public_key()?,
            }))?;
        } else {
            writeln!(
                stdout(),
                "hub {} listening on {scheme}://{addr} (Ctrl-C to stop)",
                store.site()
            )?;
        }
        hub.run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok(())
    })
}

fn summary(r: &SyncReport) -> String {
    let mut s = format!(
        "{} documents sent, {} received, {} rejected; {} bytes sent, {} received",
        r.docs_sent,
        r.docs_received,
        r.rejected.len(),
        r.bytes_sent,
        r.bytes_received
    );
    for x in &r.rejected {
        s.push_str(&format!("\n  {x}"));
    }
    s
}

/// A live status line on a terminal while a sync runs: messages, documents and bytes so far,
/// redrawn at most ten times a second. Nothing is drawn when stderr is not a terminal, so
/// scripts and logs get only the summary.
struct ProgressLine {
    enabled: bool,
    drawn: bool,
    last: Option<std::time::Instant>,
}

impl ProgressLine {
    fn new(enabled: bool) -> Self {
        ProgressLine {
            enabled,
            drawn: false,
            last: None,
        }
    }

    fn show(&mut self, r: &SyncReport) {
        if !self.enabled
            || self
                .last
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(std::time::Instant::now());
        self.drawn = true;
        let kib = (r.bytes_sent + r.bytes_received) / 1024;
        // \r + erase line: redraw in place.
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K  syncing: {} messages, {} documents sent, {} received, {} refused, {kib} KiB",
            r.messages_sent + r.messages_received,
            r.docs_sent,
            r.docs_received,
            r.rejected.len()
        );
    }

    fn finish(self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `sync --hub`, `sync --export`, or `sync --import`, with a summary at the end.
///
/// # Errors
/// The session or bundle was refused (the reason is in the message), the hub could not be
/// reached after the attempts, or a file could not be read or written.
pub fn run_sync(store: &Store, args: &SyncArgs, json: bool) -> Result<()> {
    if let Some(url) = &args.hub {
        let mut config = NetConfig::default();
        for ca in &args.ca_certs {
            config.tls_roots.add_pem_file(ca)?;
        }
        let rt = runtime()?;
        let retry = Retry {
            attempts: args.attempts.max(1),
            ..Retry::default()
        };
        let mut line = ProgressLine::new(!json && std::io::stderr().is_terminal());
        let report = rt
            .block_on(dossier_net::sync_with_retry_progress(
                store,
                url,
                &config,
                &retry,
                &mut |r| line.show(r),
            ))
            .with_context(|| format!("sync with {url} failed"));
        line.finish();
        let report = report?;
        if json {
            return print_json(&report);
        }
        writeln!(
            stdout(),
            "synced with {}: {}",
            report.peer.as_deref().unwrap_or("the hub"),
            summary(&report)
        )?;
        return Ok(());
    }
    if let (Some(path), Some(site)) = (&args.export, &args.for_site) {
        // Checked first, so a wrong path costs nothing and the error names the folder.
        dossier::files::check_folder_of(path)?;
        let bundle = store.export_bundle(site)?;
        // Private (0600: a bundle carries case data), written beside the target and renamed,
        // so a reader never sees half a bundle; the error names `path`, never the temp file.
        dossier::files::write_private_atomic(path, &bundle.bytes)?;
        if json {
            return print_json(&serde_json::json!({
                "file": path.display().to_string(),
                "for": site,
                "documents": bundle.docs,
                "changes": bundle.changes,
                "bytes": bundle.bytes.len(),
            }));
        }
        writeln!(
            stdout(),
            "wrote {} for {site}: {} documents, {} changes, {} bytes",
            path.display(),
            bundle.docs,
            bundle.changes,
            bundle.bytes.len()
        )?;
        return Ok(());
    }
    if let Some(path) = &args.import {
        let len = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if len > dossier::sync::MAX_BUNDLE_BYTES as u64 {
            bail!("{} is larger than a bundle can be", path.display());
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let report = store
            .import_bundle(&bytes)
            .with_context(|| format!("bundle {} refused", path.display()))?;
        if json {
            return print_json(&report);
        }
        writeln!(
            stdout(),
            "imported {} from {}: {} documents updated, {} new changes, {} rejected",
            path.display(),
            report.from,
            report.docs_updated,
            report.new_changes,
            report.rejected.len()
        )?;
        for x in &report.rejected {
            writeln!(stdout(), "  {x}")?;
        }
        return Ok(());
    }
    bail!("give --hub URL, --export FILE --for SITE, or --import FILE")
}
