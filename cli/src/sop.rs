//! `dossier sop ...`: import, inspect, edit, review, publish and walk SOP decision trees.
//!
//! Two things here are more than a call and a print. `sop edit` turns flags into a node: it
//! reads the node from the current draft, changes what the flags say and writes it back with
//! `upsert_sop_node` (text goes through `set_sop_text`, so concurrent edits of the same sentence
//! merge by character). `sop run` walks the published tree with `dossier::sop::walk::walk`
//! directly, because an interactive walk needs the structured `WalkError` to know *which*
//! variable to ask for; the library's `Error::Walk` only carries text.
//!
//! Invalid drafts are normal (a merge can break a tree and nothing is lost), so `sop import`
//! of an invalid tree succeeds and lists what must be fixed; `sop validate` is the check that
//! fails (exit 1) for scripts and CI.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use dossier::sop::walk::{RuleError, WalkError, walk};
use dossier::sop::{Answer, Node, NodeKind, Outcome, OutcomeResult, SopDefinition};
use dossier::{DocId, SopRunOptions, Store, WalkResult};

use crate::output::{self, plural, time, truncate};
use crate::{Global, open_store, read_file, usage};

#[derive(Debug, Subcommand)]
pub enum SopCommand {
    /// Import an SOP from JSON as a draft (an invalid tree is kept as a draft and its
    /// problems listed).
    Import {
        /// The SOP JSON file.
        #[arg(value_name = "FILE.json")]
        file: PathBuf,
    },
    /// List SOPs with their status, published version and problem count.
    List,
    /// Show the tree: nodes in walk order with text, answers, rules and outcomes.
    Show {
        /// SOP document id.
        #[arg(value_name = "ID")]
        id: String,
        /// Show this published version instead of the draft.
        #[arg(long, value_name = "V")]
        version: Option<i64>,
        /// Show text in this locale [default: the SOP's master locale].
        #[arg(long, value_name = "L")]
        locale: Option<String>,
    },
    /// Check the draft's invariants and its own tests; exits 1 when anything is wrong.
    Validate {
        /// SOP document id.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Send the draft for review.
    Submit {
        /// SOP document id.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Publish the reviewed draft as a new version; the approver is --author and must not
    /// have authored any change since the last version (four eyes).
    Publish {
        /// SOP document id.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Retire an SOP: it stays readable but can no longer be edited.
    Retire {
        /// SOP document id.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Edit one node of the draft (any edit sends the SOP back to draft).
    Edit(EditArgs),
    /// Walk the published tree: with answers, or interactively in a terminal.
    Run(RunArgs),
    /// Splice one node's text in one locale: delete K characters at POS, then insert TEXT
    /// there, as one change (what an editor sends per keystroke). Positions count Unicode
    /// characters; card numbers the edit completes are masked in place.
    Splice(SpliceArgs),
}

/// Where and what a text splice changes (`sop splice`, `kb splice`).
#[derive(Debug, Args)]
pub struct SpliceAt {
    /// Locale of the text (e.g. en, es, pt-BR).
    #[arg(long, value_name = "L")]
    pub locale: String,
    /// Position, in characters from the start of the text.
    #[arg(long = "at", value_name = "POS")]
    pub at: usize,
    /// Characters to delete at POS.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub delete: usize,
    /// Text to insert at POS.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub insert: String,
}

#[derive(Debug, Args)]
pub struct SpliceArgs {
    /// SOP document id.
    #[arg(value_name = "ID")]
    id: String,
    /// The node whose text to edit.
    #[arg(long, value_name = "NODE")]
    node: String,
    #[command(flatten)]
    at: SpliceAt,
}

/// Prints what a splice did: the new length, and whether card data was masked.
pub fn print_splice(
    g: &Global,
    what: &str,
    edit: &dossier::TextEdit,
    out: &mut dyn Write,
) -> Result<()> {
    if g.json {
        return output::json(out, edit);
    }
    write!(
        out,
        "spliced {what}: now {}",
        plural(edit.length as usize, "character", "characters")
    )?;
    if edit.redacted {
        write!(out, " (card data masked; re-read the text)")?;
    }
    writeln!(out)?;
    Ok(())
}

fn parse_kind(s: &str) -> Result<NodeKind, String> {
    s.parse()
        .map_err(|_| "expected one of: question, content, logic, action, end".to_string())
}

fn parse_outcome(s: &str) -> Result<OutcomeResult, String> {
    s.parse()
        .map_err(|_| "expected one of: success, failure, unknown".to_string())
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// SOP document id.
    #[arg(value_name = "ID")]
    id: String,
    /// The node to edit (or create, with --kind).
    #[arg(long, value_name = "N")]
    node: String,
    /// New text of the node in --locale.
    #[arg(long, value_name = "T")]
    text: Option<String>,
    /// Locale of --text and of new answer labels [default: the master locale].
    #[arg(long, value_name = "L")]
    locale: Option<String>,
    /// The node's next node (content and action nodes; the default of a logic node).
    #[arg(long, value_name = "NODE")]
    next: Option<String>,
    /// Add an answer to a question node (repeatable).
    #[arg(long = "add-answer", value_name = "LABEL=NEXT")]
    add_answers: Vec<String>,
    /// Remove an answer by id (repeatable).
    #[arg(long = "remove-answer", value_name = "ID")]
    remove_answers: Vec<String>,
    /// Outcome of an end node: success | failure | unknown.
    #[arg(long, value_parser = parse_outcome)]
    outcome: Option<OutcomeResult>,
    /// Short label of the outcome, recorded with SOP runs [default: the current label].
    #[arg(long, value_name = "LABEL")]
    outcome_label: Option<String>,
    /// Node kind: question | content | logic | action | end (needed to create a node).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<NodeKind>,
    /// Delete the node (links to it are then reported until fixed).
    #[arg(long, conflicts_with_all = ["text", "next", "add_answers", "remove_answers", "outcome", "outcome_label", "kind"])]
    delete: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// SOP document id.
    #[arg(value_name = "ID")]
    id: String,
    /// Walk this published version [default: the latest].
    #[arg(long, value_name = "V")]
    version: Option<i64>,
    /// One answer (its id or its label in any locale) or a NAME=VALUE binding, in walk order.
    /// Repeat the flag for each answer: --answer Yes --answer P2M --answer days_since_txn=9.
    /// Each flag is one answer whole, so labels may hold commas ("Sí, pero hay un problema").
    #[arg(long, value_name = "ANSWER")]
    answer: Vec<String>,
    /// Record the run on this case (walks the latest version).
    #[arg(long, value_name = "CASE", conflicts_with = "version")]
    case: Option<String>,
    /// Record the run even if the SOP does not cover the case's market (the run and its event
    /// say so).
    #[arg(long, requires = "case")]
    any_market: bool,
    /// Show text in this locale [default: the SOP's master locale].
    #[arg(long, value_name = "L")]
    locale: Option<String>,
}

fn sop_id(s: &str) -> Result<DocId> {
    Ok(s.trim().parse::<DocId>()?)
}

pub fn run(g: &Global, cmd: SopCommand, out: &mut dyn Write) -> Result<()> {
    let store = open_store(g)?;
    match cmd {
        SopCommand::Import { file } => {
            let text = read_file(&file)?;
            let sop = store.import_sop_json(&text, &file.display().to_string())?;
            if g.json {
                return output::json(out, &sop);
            }
            writeln!(out, "{}", sop.id)?;
            let nodes = plural(sop.definition.nodes.len(), "node", "nodes");
            if sop.violations.is_empty() {
                writeln!(
                    out,
                    "imported {:?} as a draft: {nodes}, valid; next: dossier sop submit {}",
                    sop.definition.title, sop.id
                )?;
                return Ok(());
            }
            writeln!(out, "{:?}: {nodes}", sop.definition.title)?;
            writeln!(
                out,
                "imported as draft; {} must be fixed before publishing:",
                plural(sop.violations.len(), "problem", "problems")
            )?;
            for v in &sop.violations {
                writeln!(out, "  {v}")?;
            }
            Ok(())
        }
        SopCommand::List => list(g, &store, out),
        SopCommand::Show {
            id,
            version,
            locale,
        } => show(g, &store, &sop_id(&id)?, version, locale, out),
        SopCommand::Validate { id } => validate(g, &store, &sop_id(&id)?, out),
        SopCommand::Submit { id } => {
            let sop = store.submit_sop(&sop_id(&id)?)?;
            if g.json {
                return output::json(out, &sop);
            }
            writeln!(
                out,
                "submitted {} for review (status {})",
                sop.id,
                sop.status.as_str()
            )?;
            Ok(())
        }
        SopCommand::Publish { id } => {
            let sop = store.publish_sop(&sop_id(&id)?)?;
            if g.json {
                return output::json(out, &sop);
            }
            let v = sop.versions.last();
            writeln!(
                out,
                "published {} as version {} (approved by {})",
                sop.id,
                v.map_or(0, |v| v.version),
                v.map_or(store.author(), |v| v.by.as_str())
            )?;
            Ok(())
        }
        SopCommand::Retire { id } => {
            let sop = store.retire_sop(&sop_id(&id)?)?;
            if g.json {
                return output::json(out, &sop);
            }
            writeln!(out, "retired {}", sop.id)?;
            Ok(())
        }
        SopCommand::Edit(a) => edit(g, &store, a, out),
        SopCommand::Run(a) => run_sop(g, &store, a, out),
        SopCommand::Splice(a) => {
            let id = sop_id(&a.id)?;
            let edit = store.splice_sop_text(
                &id,
                &a.node,
                &a.at.locale,
                a.at.at,
                a.at.delete,
                &a.at.insert,
            )?;
            let what = format!("node {} ({}) of {id}", a.node, a.at.locale);
            print_splice(g, &what, &edit, out)
        }
    }
}

fn list(g: &Global, store: &Store, out: &mut dyn Write) -> Result<()> {
    let sops = store.list_sops()?;
    if g.json {
        return output::json(out, &sops);
    }
    if sops.is_empty() {
        writeln!(out, "no sops")?;
        return Ok(());
    }
    let mut rows = vec![
        ["ID", "STATUS", "PUBLISHED", "PROBLEMS", "TITLE"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &sops {
        rows.push(vec![
            s.id.to_string(),
            s.status.clone(),
            s.published_version
                .map_or_else(|| "-".into(), |v| format!("v{v}")),
            s.violations.to_string(),
            truncate(&s.title, 50),
        ]);
    }
    output::table(out, &rows)
}

/// Node ids in breadth-first order from the entry (how an agent meets them), then the nodes
/// the entry cannot reach.
fn walk_order(def: &SopDefinition) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let mut queue = VecDeque::new();
    if def.nodes.contains_key(&def.entry) {
        queue.push_back(def.entry.as_str());
        seen.insert(def.entry.as_str());
    }
    while let Some(id) = queue.pop_front() {
        order.push(id);
        if let Some(node) = def.nodes.get(id) {
            for e in node.edges() {
                if def.nodes.contains_key(e.to) && seen.insert(e.to) {
                    queue.push_back(e.to);
                }
            }
        }
    }
    for id in def.nodes.keys() {
        if !seen.contains(id.as_str()) {
            order.push(id);
        }
    }
    order
}

fn show(
    g: &Global,
    store: &Store,
    id: &DocId,
    version: Option<i64>,
    locale: Option<String>,
    out: &mut dyn Write,
) -> Result<()> {
    let sop = store.sop(id)?;
    let def = match version {
        Some(_) => store.sop_version(id, version)?.1,
        None => sop.definition.clone(),
    };
    if g.json {
        return match version {
            Some(_) => output::json(out, &def),
            None => output::json(out, &sop),
        };
    }
    let locale = locale.unwrap_or_else(|| def.master_locale.clone());
    writeln!(out, "{}  {}", sop.id, def.title)?;
    match version {
        Some(v) => writeln!(out, "  version:    {v} (published)")?,
        None => writeln!(out, "  status:     {} (draft shown)", sop.status.as_str())?,
    }
    writeln!(out, "  markets:    {}", def.markets.join(", "))?;
    writeln!(out, "  locale:     {locale} (master {})", def.master_locale)?;
    writeln!(out, "  entry:      {}", def.entry)?;
    if sop.versions.is_empty() {
        writeln!(out, "  versions:   never published")?;
    } else {
        writeln!(out, "  versions:")?;
        for v in &sop.versions {
            writeln!(
                out,
                "    v{}  {}  by {}",
                v.version,
                time(v.published_at),
                v.by
            )?;
        }
    }
    writeln!(out)?;
    let order = walk_order(&def);
    let reachable: BTreeSet<&str> = {
        let mut r = BTreeSet::new();
        let mut q = vec![def.entry.as_str()];
        while let Some(n) = q.pop() {
            if let Some(node) = def.nodes.get(n)
                && r.insert(n)
            {
                q.extend(node.edges().iter().map(|e| e.to));
            }
        }
        r
    };
    let target = |to: &str| {
        if def.nodes.contains_key(to) {
            to.to_string()
        } else {
            format!("{to} (missing)")
        }
    };
    for id in order {
        let Some(node) = def.nodes.get(id) else {
            continue;
        };
        let mut head = format!("{id} ({}", node.kind);
        if let Some(a) = &node.action {
            head.push_str(": ");
            head.push_str(&action_text(&a.kind, &a.params));
        }
        if let Some(o) = &node.outcome {
            head.push_str(&format!(": {} {:?}", o.result, o.label));
        }
        head.push(')');
        if !reachable.contains(id) {
            head.push_str("  UNREACHABLE");
        }
        writeln!(out, "{head}")?;
        match node.text_for(&locale, &def.master_locale) {
            Some(t) => output::indented(out, "    ", t)?,
            None => writeln!(out, "    (no text)")?,
        }
        for a in &node.answers {
            writeln!(
                out,
                "    - {} [{}] -> {}",
                a.label_for(&locale, &def.master_locale),
                a.id,
                target(&a.next)
            )?;
        }
        for r in &node.rules {
            writeln!(out, "    if {} -> {}", r.when, target(&r.next))?;
        }
        if let Some(n) = &node.default_next {
            let word = if node.kind == NodeKind::Logic {
                "else"
            } else {
                "next"
            };
            writeln!(out, "    {word} -> {}", target(n))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "tests: {}", def.tests.len())?;
    for t in &def.tests {
        writeln!(
            out,
            "  {}: {} => {}",
            t.name,
            t.answers.join(", "),
            t.expect_end
        )?;
    }
    let violations: Vec<String> = match version {
        Some(_) => dossier::sop::validate::validate(&def)
            .iter()
            .map(ToString::to_string)
            .collect(),
        None => sop.violations.clone(),
    };
    if violations.is_empty() {
        writeln!(out, "problems: none")?;
    } else {
        writeln!(
            out,
            "problems ({}): cannot be published until fixed",
            violations.len()
        )?;
        for v in &violations {
            writeln!(out, "  {v}")?;
        }
    }
    Ok(())
}

fn action_text(kind: &str, params: &BTreeMap<String, String>) -> String {
    let mut s = kind.to_string();
    for (k, v) in params {
        s.push_str(&format!(" {k}={v}"));
    }
    s
}

fn validate(g: &Global, store: &Store, id: &DocId, out: &mut dyn Write) -> Result<()> {
    let violations = store.validate_sop(id)?;
    if g.json {
        let rows: Vec<serde_json::Value> = violations
            .iter()
            .map(|v| {
                serde_json::json!({
                    "node": v.node,
                    "kind": v.kind.as_str(),
                    "message": v.message,
                    "text": v.to_string(),
                })
            })
            .collect();
        output::json(
            out,
            &serde_json::json!({ "valid": violations.is_empty(), "violations": rows }),
        )?;
    } else if violations.is_empty() {
        writeln!(out, "valid")?;
    } else {
        for v in &violations {
            writeln!(out, "{v}")?;
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        bail!(
            "sop {id} is invalid: {}",
            plural(violations.len(), "problem", "problems")
        )
    }
}

/// An answer id from its label: lowercase letters and digits, `_` for anything else, unique
/// within the node.
fn answer_id(label: &str, existing: &[Answer]) -> String {
    let mut base = String::new();
    for c in label.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            base.push(c);
        } else if !base.ends_with('_') {
            base.push('_');
        }
    }
    let base = base.trim_matches('_').chars().take(48).collect::<String>();
    let base = if base.is_empty() {
        "answer".to_string()
    } else {
        base
    };
    let mut id = base.clone();
    let mut n = 2;
    while existing.iter().any(|a| a.id == id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

fn edit(g: &Global, store: &Store, a: EditArgs, out: &mut dyn Write) -> Result<()> {
    let id = sop_id(&a.id)?;
    let sop = if a.delete {
        store.remove_sop_node(&id, &a.node)?
    } else {
        let current = store.sop(&id)?;
        let locale = a
            .locale
            .clone()
            .unwrap_or_else(|| current.definition.master_locale.clone());
        let structural = a.kind.is_some()
            || a.next.is_some()
            || !a.add_answers.is_empty()
            || !a.remove_answers.is_empty()
            || a.outcome.is_some()
            || a.outcome_label.is_some();
        if !structural && a.text.is_none() {
            return Err(usage(
                "nothing to edit: give --text, --next, --add-answer, --remove-answer, \
                 --outcome, --outcome-label, --kind or --delete",
            ));
        }
        let mut sop = current.clone();
        if structural {
            let node = edited_node(&current.definition, &a, &locale)?;
            sop = store.upsert_sop_node(&id, &a.node, &node)?;
        }
        if let Some(text) = &a.text {
            sop = store.set_sop_text(&id, &a.node, &locale, text)?;
        }
        sop
    };
    if g.json {
        return output::json(out, &sop);
    }
    let verb = if a.delete { "deleted" } else { "edited" };
    writeln!(
        out,
        "{verb} node {} of {} (status {})",
        a.node,
        sop.id,
        sop.status.as_str()
    )?;
    if !sop.violations.is_empty() {
        writeln!(
            out,
            "the draft has {} to fix before publishing:",
            plural(sop.violations.len(), "problem", "problems")
        )?;
        for v in &sop.violations {
            writeln!(out, "  {v}")?;
        }
    }
    Ok(())
}

/// The node as the flags want it: the current node (or a new one of `--kind`) with the
/// structural changes applied.
fn edited_node(def: &SopDefinition, a: &EditArgs, locale: &str) -> Result<Node> {
    let mut node = match (def.nodes.get(&a.node), a.kind) {
        (Some(n), _) => n.clone(),
        (None, Some(kind)) => Node::new(kind),
        (None, None) => bail!("the sop has no node {:?}: give --kind to create it", a.node),
    };
    if let Some(kind) = a.kind {
        node.kind = kind;
    }
    if let Some(next) = &a.next {
        node.default_next = Some(next.clone());
    }
    for r in &a.remove_answers {
        let before = node.answers.len();
        node.answers.retain(|x| x.id != *r);
        if node.answers.len() == before {
            bail!("node {:?} has no answer {r:?}", a.node);
        }
    }
    for spec in &a.add_answers {
        let Some((label, next)) = spec.rsplit_once('=') else {
            return Err(usage(
                "--add-answer expects LABEL=NEXT, e.g. --add-answer 'Yes=type'",
            ));
        };
        let (label, next) = (label.trim(), next.trim());
        if label.is_empty() || next.is_empty() {
            return Err(usage(
                "--add-answer expects LABEL=NEXT, e.g. --add-answer 'Yes=type'",
            ));
        }
        let id = answer_id(label, &node.answers);
        node.answers.push(Answer {
            id,
            label: BTreeMap::from([(locale.to_string(), label.to_string())]),
            next: next.to_string(),
        });
    }
    if a.outcome.is_some() || a.outcome_label.is_some() {
        let current = node.outcome.take();
        let result = a
            .outcome
            .or(current.as_ref().map(|o| o.result))
            .ok_or_else(|| usage("--outcome-label needs --outcome on a node without an outcome"))?;
        let label = a
            .outcome_label
            .clone()
            .or(current.map(|o| o.label))
            .unwrap_or_else(|| a.node.clone());
        node.outcome = Some(Outcome { label, result });
    }
    Ok(node)
}

/// Prompts and reads one line; `None` at end of input.
fn read_line(input: &mut dyn BufRead, out: &mut dyn Write, prompt: &str) -> Result<Option<String>> {
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        writeln!(out)?;
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

fn print_question(
    def: &SopDefinition,
    node_id: &str,
    locale: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let Some(node) = def.nodes.get(node_id) else {
        return Ok(());
    };
    writeln!(out)?;
    let text = node.text_for(locale, &def.master_locale).unwrap_or(node_id);
    writeln!(out, "{text}")?;
    for (i, a) in node.answers.iter().enumerate() {
        writeln!(
            out,
            "  {}. {}",
            i + 1,
            a.label_for(locale, &def.master_locale)
        )?;
    }
    Ok(())
}

/// Walks `def` asking in the terminal for each missing answer and unbound variable, until an
/// end node or the end of input. Returns the inputs given, so the run can be recorded.
fn interactive_walk(
    def: &SopDefinition,
    locale: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(Vec<String>, WalkResult)> {
    let mut inputs: Vec<String> = Vec::new();
    loop {
        match walk(def, &inputs) {
            Ok(r) => {
                let Some(pending) = r.pending.clone() else {
                    return Ok((inputs, r));
                };
                print_question(def, &pending, locale, out)?;
                let answers = def.nodes.get(&pending).map(|n| n.answers.as_slice());
                let Some(line) = read_line(input, out, "> ")? else {
                    return Ok((inputs, r));
                };
                if line.is_empty() {
                    continue;
                }
                let by_number = line
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| answers.and_then(|a| a.get(n.wrapping_sub(1))));
                inputs.push(by_number.map_or(line, |a| a.id.clone()));
            }
            Err(WalkError::NoSuchAnswer { .. }) => {
                writeln!(out, "no such answer: type its number, id or label")?;
                inputs.pop();
            }
            Err(WalkError::Rule {
                error: RuleError::UnknownVariable(name),
                ..
            }) => {
                let Some(value) = read_line(input, out, &format!("{name} = "))? else {
                    bail!("walk stopped: {name} is needed to go on");
                };
                inputs.push(format!("{name}={value}"));
            }
            Err(WalkError::Rule {
                error: RuleError::NotANumber { name, .. },
                ..
            }) => {
                writeln!(out, "{name} must be a number")?;
                inputs.retain(|i| {
                    dossier::sop::walk::parse_binding(i).is_none_or(|(n, _)| n != name)
                });
            }
            Err(e) => bail!("walk failed: {e}"),
        }
    }
}

fn run_sop(g: &Global, store: &Store, a: RunArgs, out: &mut dyn Write) -> Result<()> {
    let id = sop_id(&a.id)?;
    let (version, def) = store.sop_version(&id, a.version)?;
    let locale = a.locale.unwrap_or_else(|| def.master_locale.clone());
    let given: Vec<String> = a
        .answer
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let interactive = given.is_empty() && !g.json && io::stdin().is_terminal();
    let (inputs, mut result) = if interactive {
        writeln!(out, "{} (version {version})", def.title)?;
        interactive_walk(&def, &locale, &mut io::stdin().lock(), out)?
    } else {
        let r = walk(&def, &given).map_err(|e| match &e {
            WalkError::Rule {
                error: RuleError::UnknownVariable(name),
                ..
            } => anyhow!("walk failed: {e}; give it as --answer {name}=VALUE"),
            _ => anyhow!("walk failed: {e}"),
        })?;
        (given, r)
    };
    if let Some(case) = &a.case {
        let options = if a.any_market {
            SopRunOptions::any_market()
        } else {
            SopRunOptions::default()
        };
        result = store
            .record_sop_run_with(case, &id, &inputs, options)
            .map_err(|e| match e {
                dossier::Error::SopMarket { .. } => anyhow!("{e} (--any-market)"),
                e => e.into(),
            })?;
    }
    if g.json {
        let actions: Vec<serde_json::Value> = result
            .actions
            .iter()
            .map(|(node, action)| serde_json::json!({ "node": node, "action": action }))
            .collect();
        let answers: Vec<serde_json::Value> = result
            .answers
            .iter()
            .map(|(node, answer)| serde_json::json!({ "node": node, "answer": answer }))
            .collect();
        return output::json(
            out,
            &serde_json::json!({
                "sop": id,
                "version": version,
                "inputs": inputs,
                "path": result.path,
                "end": result.end,
                "outcome": result.outcome,
                "pending": result.pending,
                "actions": actions,
                "answers": answers,
                "case": a.case,
            }),
        );
    }
    if interactive {
        writeln!(out)?;
    }
    print_walk(&def, version, &result, &locale, out)?;
    if let Some(case) = &a.case {
        writeln!(out, "recorded on case {case}")?;
    }
    Ok(())
}

/// Writes where a walk went: path, actions met, and the end (or the pending question).
pub fn print_walk(
    def: &SopDefinition,
    version: i64,
    r: &WalkResult,
    locale: &str,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(out, "sop:      {} (version {version})", def.title)?;
    writeln!(out, "path:     {}", r.path.join(" -> "))?;
    for (node, action) in &r.actions {
        writeln!(
            out,
            "action:   {node}: {}",
            action_text(&action.kind, &action.params)
        )?;
    }
    let text = |id: &str| {
        def.nodes
            .get(id)
            .and_then(|n| n.text_for(locale, &def.master_locale))
            .unwrap_or("")
            .to_string()
    };
    if let Some(end) = &r.end {
        writeln!(out, "end:      {end}: {}", text(end))?;
        match &r.outcome {
            Some(o) => writeln!(out, "outcome:  {} ({})", o.result, o.label)?,
            None => writeln!(out, "outcome:  unknown (the end node has no outcome)")?,
        }
    } else if let Some(pending) = &r.pending {
        writeln!(out, "outcome:  incomplete")?;
        writeln!(out, "pending:  {pending}: {}", text(pending))?;
        if let Some(node) = def.nodes.get(pending) {
            for a in &node.answers {
                writeln!(
                    out,
                    "          - {} [{}]",
                    a.label_for(locale, &def.master_locale),
                    a.id
                )?;
            }
        }
        writeln!(
            out,
            "answer it with --answer LABEL, or run in a terminal to be asked"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPI: &str = include_str!("../../core/src/sop/testdata/upi_debited_not_credited.json");

    fn upi() -> SopDefinition {
        match dossier::sop::parse_json(UPI) {
            Ok(def) => def,
            Err(e) => panic!("test data does not parse: {e}"),
        }
    }

    fn walk_typing(typed: &str) -> (Vec<String>, WalkResult, String) {
        let mut out = Vec::new();
        let mut input = io::Cursor::new(typed.as_bytes().to_vec());
        match interactive_walk(&upi(), "en", &mut input, &mut out) {
            Ok((inputs, r)) => (inputs, r, String::from_utf8_lossy(&out).into_owned()),
            Err(e) => panic!("walk failed: {e}"),
        }
    }

    #[test]
    fn an_interactive_walk_takes_numbers_labels_and_asks_for_unbound_variables() {
        let (inputs, r, shown) = walk_typing("1\nnot an answer\nP2M\nabc\n9\n");
        assert_eq!(inputs, ["yes", "P2M", "days_since_txn=9"]);
        assert_eq!(r.end.as_deref(), Some("end_escalated"));
        assert!(shown.contains("Was the customer's account debited?\n  1. Yes\n  2. No"));
        assert!(shown.contains("no such answer"));
        assert!(shown.contains("days_since_txn must be a number"));
        assert!(shown.contains("days_since_txn = "));
    }

    #[test]
    fn an_interactive_walk_that_runs_out_of_input_stops_at_the_pending_question() {
        let (inputs, r, _) = walk_typing("Yes\n");
        assert_eq!(inputs, ["Yes"]);
        assert_eq!(r.pending.as_deref(), Some("type"));
        assert!(r.end.is_none());
    }

    #[test]
    fn answer_ids_are_slugs_unique_within_the_node() {
        let existing = vec![Answer {
            id: "si".into(),
            label: BTreeMap::new(),
            next: "x".into(),
        }];
        assert_eq!(answer_id("Sí", &[]), "sí");
        assert_eq!(answer_id("Partly, maybe!", &[]), "partly_maybe");
        assert_eq!(answer_id("si", &existing), "si_2");
        assert_eq!(answer_id("¿?", &[]), "answer");
    }

    #[test]
    fn walk_order_is_breadth_first_then_unreachable_nodes() {
        let def = upi();
        let order = walk_order(&def);
        assert_eq!(&order[..3], ["start", "type", "end_no_debit"]);
        assert_eq!(order.len(), def.nodes.len());
    }
}
