//! `dossier`: the command line of the Dossier store (DESIGN §10).
//!
//! This file holds what every command shares — the clap definitions of the global flags and
//! the top-level commands, opening the store, and turning an error into one `error:` line and
//! an exit code — so each area module (`case`, `sop`, `kb`, `demo`) only parses its own
//! arguments, calls one `dossier` API method and prints. All domain rules (validation,
//! redaction, merge policies, four eyes) live in the `dossier` crate; nothing here re-checks
//! them, so the CLI can never disagree with the library or the bindings.
//!
//! Exit codes: 0 success; 1 a user error (bad value, unknown case, refused transition), with
//! one line `error: <reason>: <cause>: ...` on stderr (the whole cause chain; with `--json`, one
//! line of JSON `{"error":{"message","causes","exit_code"}}` instead); 2 bad usage (clap's own
//! errors and [`Usage`]).

mod case;
mod demo;
mod doctor;
mod kb;
mod output;
mod plugin;
mod report;
mod sop;
mod sync;

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use dossier::{Store, StoreOptions};

/// Dossier: support cases, SOPs and knowledge articles in one local-first store.
#[derive(Debug, Parser)]
#[command(name = "dossier", version)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The store file.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "./dossier.db"
    )]
    pub db: PathBuf,
    /// Print JSON (raw millisecond timestamps) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is making the changes, recorded in every change [default: the site id].
    #[arg(long, global = true, env = "DOSSIER_AUTHOR", value_name = "NAME")]
    pub author: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the store for a site (run once per site).
    Init {
        /// The site id: 1-16 uppercase letters and digits, e.g. MX1. It prefixes case numbers.
        #[arg(long)]
        site: String,
    },
    /// Open, list, show and work cases.
    #[command(subcommand)]
    Case(case::CaseCommand),
    /// Import, edit, review, publish and walk SOP decision trees.
    #[command(subcommand)]
    Sop(sop::SopCommand),
    /// Add, search, publish and verify knowledge articles.
    #[command(subcommand)]
    Kb(kb::KbCommand),
    /// Provision and list sync peers (sites, or the hub).
    #[command(subcommand)]
    Peer(PeerCommand),
    /// This site's signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Install, list, trust and dry-run workflow plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the sync hub.
    Serve(sync::ServeArgs),
    /// Sync with a hub, or through signed bundle files.
    Sync(sync::SyncArgs),
    /// Operations report: volume, root causes, SLA, escalations, SOP drop-off, articles to verify.
    Report(report::ReportArgs),
    /// Check the store: SQLite integrity, every document against its projection, and card
    /// data anywhere in its history or file bytes (printed by place, never by value). Exits 1
    /// when anything is found.
    Doctor,
    /// Two offline vendor sites merging cases and an SOP, in a temporary directory.
    Demo {
        /// Keep the demo's store files instead of deleting them at the end.
        #[arg(long)]
        keep: bool,
        /// Where to write the HTML operations report of what the demo did.
        #[arg(long, value_name = "FILE", default_value = "dossier-demo-report.html")]
        report: std::path::PathBuf,
        /// A directory with the example plugins built to WebAssembly (`cargo xtask demo`
        /// builds them and passes this); without it the plugin part is skipped.
        #[arg(long, value_name = "DIR")]
        plugins: Option<std::path::PathBuf>,
    },
}

/// A usage mistake found after clap parsed the arguments (exit code 2, like clap's own).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A [`Usage`] error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Usage(message.into()).into()
}

/// Opens the existing store at `--db`.
///
/// The path is checked first: opening a missing file would create an empty database and
/// leave it behind, when the user most likely ran the command in the wrong directory.
pub fn open_store(global: &Global) -> Result<Store> {
    if !global.db.exists() {
        anyhow::bail!(
            "no store at {}: run dossier init --site SITE first",
            global.db.display()
        );
    }
    let store = Store::open(
        &global.db,
        StoreOptions {
            site: None,
            author: global.author.clone().filter(|a| !a.trim().is_empty()),
            ..Default::default()
        },
    )?;
    // Case commands run the active plugins of the case's market on their triggers.
    store.set_workflow(std::sync::Arc::new(plugin::host()?));
    Ok(store)
}

/// Reads a whole UTF-8 file named on the command line, without a leading byte-order mark
/// (editors on Windows add one, and JSON parsers reject it).
pub fn read_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

fn init(global: &Global, site: &str, out: &mut dyn Write) -> Result<()> {
    let existed = global.db.exists();
    let store = Store::open(
        &global.db,
        StoreOptions {
            site: Some(site.to_string()),
            author: global.author.clone(),
            ..Default::default()
        },
    )?;
    if global.json {
        return output::json(
            out,
            &serde_json::json!({
                "path": global.db,
                "site": store.site(),
                "created": !existed,
            }),
        );
    }
    if existed {
        writeln!(
            out,
            "store {} already exists for site {}",
            global.db.display(),
            store.site()
        )?;
    } else {
        writeln!(
            out,
            "created store {} for site {}",
            global.db.display(),
            store.site()
        )?;
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum PeerCommand {
    /// Provision a peer: site id, public key and scopes.
    Add(sync::PeerAddArgs),
    /// List provisioned peers.
    List(sync::PeerListArgs),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print this site's public key.
    Show(sync::KeyShowArgs),
}

fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Init { site } => init(g, &site, out),
        Command::Case(cmd) => case::run(g, cmd, out),
        Command::Sop(cmd) => sop::run(g, cmd, out),
        Command::Kb(cmd) => kb::run(g, cmd, out),
        Command::Peer(PeerCommand::Add(a)) => sync::run_peer_add(&open_store(g)?, &a, g.json),
        Command::Peer(PeerCommand::List(a)) => sync::run_peer_list(&open_store(g)?, &a, g.json),
        Command::Key(KeyCommand::Show(a)) => sync::run_key_show(&open_store(g)?, &a, g.json),
        Command::Serve(a) => sync::run_serve(&open_store(g)?, &a, g.json),
        Command::Sync(a) => sync::run_sync(&open_store(g)?, &a, g.json),
        Command::Plugin(cmd) => plugin::run(g, cmd, out),
        Command::Report(args) => report::run(&open_store(g)?, &args, g.json),
        Command::Doctor => doctor::run(&open_store(g)?, g.json, out),
        Command::Demo {
            keep,
            report,
            plugins,
        } => demo::run(keep, &report, plugins.as_deref(), out),
    }
}

/// Whether the error is only that our reader went away (`dossier case list | head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// clap's own errors: as clap prints them, or with `--json` anywhere on the command line
/// (clap could not tell us whether it was meant as the flag) as the same one-line JSON as every
/// other error, exit code 2. `--help` and `--version` are not errors.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let wants_json = std::env::args_os().skip(1).any(|a| a == "--json");
    if !wants_json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit()
    }
    // clap's text up to its usage hint, on one line.
    let rendered = e.render().to_string();
    let message = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let message = message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_string();
    let _ = output::error(&mut io::stderr(), &usage(message), 2, true);
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let json = cli.global.json;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = run(cli, &mut out).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            let code = if e.downcast_ref::<Usage>().is_some() {
                2
            } else {
                1
            };
            // The whole cause chain: "bundle x refused" alone does not say whether the file
            // was cut short, tampered with or made for another site.
            let _ = output::error(&mut io::stderr(), &e, code, json);
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod redaction_tests;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_definitions_pass_clap_debug_asserts() {
        super::Cli::command().debug_assert();
    }
}
