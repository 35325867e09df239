//! `dossier plugin ...`: install, list, trust and dry-run workflow plugins.
//!
//! Installing asks the component itself what it is (`describe`), after the host has checked its
//! API version; the markets can be narrowed with `--market`, reference tables are attached with
//! `--table`, and the package is signed with a publisher key file or, by default, this site's
//! own key. Every other command opens the store with the plugin host installed, so case commands
//! run the active plugins of the case's market on their triggers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use dossier::sync::PublicKey;
use dossier::{PluginPackage, PublisherKey, Store, Trigger};
use dossier_plugins::{HostConfig, PluginHost};

use crate::{Global, output, usage};

/// Plugin subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin component (.wasm) as a signed package.
    Install(InstallArgs),
    /// List installed plugins and whether they run here.
    List,
    /// Evaluate a plugin on a case and print its actions and logs without applying them; exits
    /// 1 with the reason when the store would refuse the actions.
    Run(RunArgs),
    /// Trust plugins signed by a publisher's public key.
    Trust {
        /// The publisher's public key (base58check).
        key: String,
    },
    /// Stop trusting a publisher's key.
    Untrust {
        /// The publisher's public key.
        key: String,
    },
    /// Make a new publisher key for signing plugin packages.
    Keygen {
        /// Where to write the secret key (created; refused if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `plugin install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The component, built for wasm32-wasip2 against `dossier:workflow@0.1.0`.
    pub file: PathBuf,
    /// Markets it runs for (repeatable) [default: the markets the plugin describes].
    #[arg(long = "market", value_name = "MARKET")]
    pub markets: Vec<String>,
    /// Sign with this publisher key file [default: this site's key].
    #[arg(long, value_name = "KEY")]
    pub sign_with: Option<PathBuf>,
    /// Attach a reference table the plugin reads with `lookup` (repeatable); FILE holds a JSON
    /// object of string keys to string values.
    #[arg(long = "table", value_name = "NAME=FILE")]
    pub tables: Vec<String>,
}

/// `plugin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugin name (its active version runs).
    pub name: String,
    /// Case number or id.
    #[arg(long = "case", value_name = "ID")]
    pub case: String,
    /// Trigger to evaluate [default: case-updated if the plugin declares it, else its first].
    #[arg(long)]
    pub trigger: Option<String>,
}

/// The plugin host every store opened by the CLI gets.
pub fn host() -> Result<PluginHost> {
    PluginHost::new(HostConfig::default()).context("cannot start the plugin host")
}

/// Runs a plugin subcommand.
///
/// # Errors
/// Bad files or keys, plugin errors, storage errors.
pub fn run(global: &Global, cmd: PluginCommand, out: &mut dyn Write) -> Result<()> {
    if let PluginCommand::Keygen { out: path } = &cmd {
        return keygen(path, global.json, out);
    }
    let store = crate::open_store(global)?;
    let host = host()?;
    match cmd {
        PluginCommand::Install(a) => install(&store, &host, &a, global.json, out),
        PluginCommand::List => list(&store, global.json, out),
        PluginCommand::Run(a) => dry_run(&store, &host, &a, global.json, out),
        PluginCommand::Trust { key } => {
            let key: PublicKey = key.parse()?;
            store.trust_publisher(&key)?;
            writeln!(out, "trusting plugins signed by {key}")?;
            Ok(())
        }
        PluginCommand::Untrust { key } => {
            let key: PublicKey = key.parse()?;
            store.untrust_publisher(&key)?;
            writeln!(out, "no longer trusting plugins signed by {key}")?;
            Ok(())
        }
        PluginCommand::Keygen { .. } => unreachable!("handled above"),
    }
}

fn keygen(path: &std::path::Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let key = PublisherKey::generate()?;
    // The key file is a secret: readable by its owner only.
    let mut file = dossier::files::create_private(path)?;
    writeln!(file, "{}", key.to_secret_string())?;
    if json {
        return output::json(
            out,
            &serde_json::json!({ "path": path, "public_key": key.public_key() }),
        );
    }
    writeln!(
        out,
        "wrote publisher key {} (keep it secret)\npublic key: {}",
        path.display(),
        key.public_key()
    )?;
    Ok(())
}

fn read_table(spec: &str) -> Result<(String, BTreeMap<String, String>)> {
    let (name, file) = spec
        .split_once('=')
        .ok_or_else(|| usage(format!("--table wants NAME=FILE, got {spec:?}")))?;
    let text = crate::read_file(std::path::Path::new(file))?;
    let rows: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{file}: line {}: a table is a JSON object of strings: {e}",
            e.line()
        )
    })?;
    Ok((name.to_string(), rows))
}

fn install(
    store: &Store,
    host: &PluginHost,
    args: &InstallArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let wasm = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut manifest = host.inspect(&wasm)?;
    if !args.markets.is_empty() {
        manifest.markets = args.markets.clone();
    }
    for spec in &args.tables {
        let (name, rows) = read_table(spec)?;
        manifest.tables.insert(name, rows);
    }
    let package = match &args.sign_with {
        Some(path) => {
            let key: PublisherKey = crate::read_file(path)?.parse()?;
            PluginPackage::sign(manifest, wasm, &key)?
        }
        None => store.sign_plugin(manifest, wasm)?,
    };
    let info = store.install_plugin(&package)?;
    if json {
        return output::json(out, &info);
    }
    let triggers: Vec<&str> = info.triggers.iter().map(Trigger::as_str).collect();
    writeln!(
        out,
        "installed {}@{} for {} on {} ({})",
        info.name,
        info.version,
        info.markets.join(", "),
        triggers.join(", "),
        if info.active {
            "active".to_string()
        } else {
            format!(
                "not active: trust its publisher first with dossier plugin trust {}",
                info.publisher
            )
        }
    )?;
    Ok(())
}

fn list(store: &Store, json: bool, out: &mut dyn Write) -> Result<()> {
    let plugins = store.plugins()?;
    if json {
        return output::json(out, &plugins);
    }
    if plugins.is_empty() {
        writeln!(out, "no plugins installed")?;
        return Ok(());
    }
    let mut rows = vec![vec![
        "NAME".to_string(),
        "VERSION".into(),
        "MARKETS".into(),
        "TRIGGERS".into(),
        "STATE".into(),
        "PUBLISHER".into(),
    ]];
    for p in plugins {
        let state = if !p.signature_ok {
            "bad signature"
        } else if !p.trusted {
            "untrusted"
        } else if p.active {
            "active"
        } else {
            "superseded"
        };
        let triggers: Vec<&str> = p.triggers.iter().map(Trigger::as_str).collect();
        rows.push(vec![
            p.name,
            p.version,
            p.markets.join(","),
            triggers.join(","),
            state.into(),
            output::truncate(&p.publisher, 12),
        ]);
    }
    output::table(out, &rows)
}

fn dry_run(
    store: &Store,
    host: &PluginHost,
    args: &RunArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let info = store.plugin(&args.name)?;
    let trigger = match &args.trigger {
        Some(t) => t.parse()?,
        None if info.triggers.contains(&Trigger::CaseUpdated) => Trigger::CaseUpdated,
        None => *info
            .triggers
            .first()
            .ok_or_else(|| anyhow!("plugin {} declares no trigger", info.name))?,
    };
    let run = host.dry_run(store, &args.name, &args.case, trigger)?;
    if json {
        output::json(out, &run)?;
    } else {
        writeln!(
            out,
            "{} on {} for case {} (dry run, nothing applied):",
            run.plugin, run.trigger, args.case
        )?;
        if run.actions.is_empty() {
            writeln!(out, "  no actions")?;
        }
        for a in &run.actions {
            writeln!(out, "  {}", describe(a))?;
        }
        for line in &run.logs {
            writeln!(out, "  log {line}")?;
        }
    }
    // A preview the store would refuse is a failed check, for people and scripts alike.
    match &run.invalid {
        Some(reason) => Err(anyhow!("the store would refuse these actions: {reason}")),
        None => Ok(()),
    }
}

/// One line per action, with the free text a summary leaves out.
fn describe(a: &dossier::Action) -> String {
    use dossier::Action;
    match a {
        Action::Escalate { to, reason } => format!("escalate {to}: {reason}"),
        Action::RequireField { name, reason } => format!("require-field {name}: {reason}"),
        Action::AddNote { body, public } => format!(
            "add-note ({}): {}",
            if *public { "public" } else { "internal" },
            body
        ),
        Action::RefuseSolve { reason } => format!("refuse-solve: {reason}"),
        other => other.summary(),
    }
}
