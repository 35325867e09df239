//! `dossier case ...`: open, list, show and work customer complaint cases.
//!
//! Each subcommand maps to one `Store` method. What the CLI adds is the shape of the input
//! (`--field k=v`, `+4h` deadlines, a JSONL import whose errors name file lines rather than
//! batch indexes) and of the output (a readable case, or the library's own JSON).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand};
use dossier::{
    Case, CaseFilter, CaseUpdate, Category, EscalateTo, NewCase, Payment, Priority, Status, Store,
};

use crate::output::{self, opt_time, plural, time, truncate};
use crate::{Global, open_store, read_file, usage};

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Open a new case; prints its number (or the whole case with --json).
    New(Box<NewArgs>),
    /// List cases, newest first (most overdue first with --breached).
    List(ListArgs),
    /// Show one case: fields, payment, SLA, escalations, timeline, SOP runs.
    Show {
        /// Case number (MX1-42) or document id.
        #[arg(value_name = "ID")]
        id: String,
        /// Also show who changed what, and fields with concurrent values (conflicts).
        #[arg(long)]
        history: bool,
    },
    /// Change a case's status, priority, assignee, category, tags, fields or payment.
    Update(Box<UpdateArgs>),
    /// Add a note to a case's timeline (internal unless --public).
    Note {
        /// Case number or document id.
        #[arg(value_name = "ID")]
        id: String,
        /// The note.
        text: String,
        /// The customer may see this note.
        #[arg(long)]
        public: bool,
    },
    /// Hand a case to another team.
    Escalate {
        /// Case number or document id.
        #[arg(value_name = "ID")]
        id: String,
        /// Target team: psp_bank, risk, product, engineering...
        #[arg(long, value_name = "TEAM")]
        to: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Set an SLA metric's deadline, or mark it met.
    Sla(SlaArgs),
    /// Import cases from a JSONL file (one NewCase object per line): all of them or none.
    Import {
        /// The .jsonl file.
        #[arg(value_name = "FILE.jsonl")]
        file: PathBuf,
    },
}

fn parse_status(s: &str) -> Result<Status, String> {
    s.parse().map_err(|e: dossier::Error| e.to_string())
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    s.parse().map_err(|e: dossier::Error| e.to_string())
}

fn parse_category(s: &str) -> Result<Category, String> {
    s.parse().map_err(|e: dossier::Error| e.to_string())
}

/// Payment details shared by `case new` and `case update`.
#[derive(Debug, Args)]
pub struct PaymentArgs {
    /// Payment rail: upi, pix, card, sepa...
    #[arg(long, value_name = "RAIL")]
    rail: Option<String>,
    /// The rail's transaction reference (UPI RRN, Pix EndToEndId), kept verbatim.
    #[arg(long, value_name = "REF")]
    txn_ref: Option<String>,
    /// Amount in minor units (paise, centavos, cents).
    #[arg(long, value_name = "N")]
    amount_minor: Option<i64>,
    /// ISO 4217 currency code, e.g. INR.
    #[arg(long, value_name = "CODE")]
    currency: Option<String>,
}

impl PaymentArgs {
    fn to_payment(&self) -> Option<Payment> {
        let p = Payment {
            rail: self.rail.clone(),
            txn_ref: self.txn_ref.clone(),
            amount_minor: self.amount_minor,
            currency: self.currency.clone(),
            ..Default::default()
        };
        (p != Payment::default()).then_some(p)
    }
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Market, e.g. IN-UPI, BR-PIX, ES, EU.
    #[arg(long)]
    market: String,
    /// refund | withdrawal | failed_payment | payment_method_binding | chargeback_dispute |
    /// fraud | account | other
    #[arg(long, value_parser = parse_category)]
    category: Category,
    /// One-line subject.
    #[arg(long)]
    subject: String,
    /// Longer description.
    #[arg(long)]
    description: Option<String>,
    /// low | normal | high | urgent [default: normal]
    #[arg(long, value_parser = parse_priority)]
    priority: Option<Priority>,
    /// Customer locale, e.g. es, pt-BR.
    #[arg(long)]
    locale: Option<String>,
    /// Contact channel: chat, email, phone, app...
    #[arg(long)]
    channel: Option<String>,
    /// Agent working the case.
    #[arg(long)]
    assignee: Option<String>,
    /// Subcategory.
    #[arg(long)]
    subcategory: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// A market-specific field (repeatable).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    #[command(flatten)]
    payment: PaymentArgs,
    /// Parent problem case (number or id).
    #[arg(long, value_name = "CASE")]
    problem: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status.
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Only this market.
    #[arg(long)]
    market: Option<String>,
    /// Only cases opened by this site.
    #[arg(long)]
    site: Option<String>,
    /// Only this category.
    #[arg(long, value_parser = parse_category)]
    category: Option<Category>,
    /// Only cases with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only cases assigned to this agent.
    #[arg(long)]
    assignee: Option<String>,
    /// Only cases with an SLA past due.
    #[arg(long)]
    breached: bool,
    /// At most N cases [default: 100].
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Case number or document id.
    #[arg(value_name = "ID")]
    id: String,
    /// new | open | pending | on_hold | solved | closed
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// low | normal | high | urgent
    #[arg(long, value_parser = parse_priority)]
    priority: Option<Priority>,
    /// Assign to this agent.
    #[arg(long, conflicts_with = "unassign")]
    assignee: Option<String>,
    /// Remove the assignee.
    #[arg(long)]
    unassign: bool,
    /// New category.
    #[arg(long, value_parser = parse_category)]
    category: Option<Category>,
    /// New subcategory.
    #[arg(long, value_name = "X")]
    subcategory: Option<String>,
    /// Root cause, once known.
    #[arg(long, value_name = "X")]
    root_cause: Option<String>,
    /// Add a tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Remove a tag (repeatable).
    #[arg(long = "untag", value_name = "TAG")]
    untags: Vec<String>,
    /// Set a field (repeatable).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// Remove a field (repeatable).
    #[arg(long = "unset-field", value_name = "KEY")]
    unset_fields: Vec<String>,
    #[command(flatten)]
    payment: PaymentArgs,
    /// Link to a parent problem case (number or id).
    #[arg(long, value_name = "CASE")]
    problem: Option<String>,
    /// Add a note to the timeline in the same change.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// The note is visible to the customer.
    #[arg(long, requires = "note")]
    public: bool,
    /// Escalate to this team in the same change (needs --reason).
    #[arg(long, value_name = "TEAM", requires = "reason")]
    escalate: Option<String>,
    /// Why the case is escalated.
    #[arg(long, value_name = "TEXT", requires = "escalate")]
    reason: Option<String>,
    /// Set an SLA deadline: METRIC=WHEN, WHEN as for `case sla --due` (repeatable).
    #[arg(long = "sla", value_name = "METRIC=WHEN", allow_hyphen_values = true)]
    sla_due: Vec<String>,
    /// Mark an SLA metric met now (repeatable).
    #[arg(long = "sla-met", value_name = "METRIC")]
    sla_met: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["due", "met"])))]
pub struct SlaArgs {
    /// Case number or document id.
    #[arg(value_name = "ID")]
    id: String,
    /// The metric, e.g. first_reply or resolution.
    metric: String,
    /// Deadline: RFC 3339 (2026-11-22T16:40:00Z) or relative to now (+30m, +4h, +2d; -2h is
    /// in the past).
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    due: Option<String>,
    /// Mark the metric met now.
    #[arg(long)]
    met: bool,
}

/// Splits `KEY=VALUE`. The message never repeats the argument: it may hold a pasted card
/// number, and nothing has redacted it yet.
fn key_value(arg: &str) -> Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(usage(
            "--field expects KEY=VALUE, e.g. --field upi_vpa=name@bank",
        )),
    }
}

fn fields(args: &[String]) -> Result<BTreeMap<String, String>> {
    args.iter().map(|a| key_value(a)).collect()
}

pub fn run(g: &Global, cmd: CaseCommand, out: &mut dyn Write) -> Result<()> {
    let store = open_store(g)?;
    match cmd {
        CaseCommand::New(a) => new(g, &store, *a, out),
        CaseCommand::List(a) => list(g, &store, a, out),
        CaseCommand::Show { id, history } => show(g, &store, &id, history, out),
        CaseCommand::Update(a) => update(g, &store, *a, out),
        CaseCommand::Note { id, text, public } => {
            let case = store.add_note(&id, &text, public)?;
            done(g, &case, &format!("added a note to {}", case.number), out)
        }
        CaseCommand::Escalate { id, to, reason } => {
            let case = store.escalate(&id, &to, &reason)?;
            done(g, &case, &format!("escalated {} to {to}", case.number), out)
        }
        CaseCommand::Sla(a) => sla(g, &store, a, out),
        CaseCommand::Import { file } => import(g, &store, &file, out),
    }
}

/// Prints the case as JSON, or a one-line confirmation.
fn done(g: &Global, case: &Case, message: &str, out: &mut dyn Write) -> Result<()> {
    if g.json {
        output::json(out, case)
    } else {
        writeln!(out, "{message}")?;
        Ok(())
    }
}

fn new(g: &Global, store: &Store, a: NewArgs, out: &mut dyn Write) -> Result<()> {
    let new = NewCase {
        market: a.market,
        category: Some(a.category),
        subject: a.subject,
        description: a.description,
        priority: a.priority,
        locale: a.locale,
        channel: a.channel,
        assignee: a.assignee,
        subcategory: a.subcategory,
        tags: a.tags,
        fields: fields(&a.fields)?,
        payment: a.payment.to_payment(),
        dispute: None,
        problem: a.problem,
    };
    let case = store.create_case(new)?;
    if g.json {
        return output::json(out, &case);
    }
    writeln!(out, "{}", case.number)?;
    // Tell the agent what the redactor removed (the event says what and where, never the
    // value), on stderr so `N=$(dossier case new ...)` still captures only the number.
    let mut stderr = std::io::stderr();
    for e in case.events.iter().filter(|e| e.kind == "redaction") {
        let _ = writeln!(stderr, "note: {}", e.body);
    }
    Ok(())
}

fn list(g: &Global, store: &Store, a: ListArgs, out: &mut dyn Write) -> Result<()> {
    let filter = CaseFilter {
        status: a.status,
        market: a.market,
        site: a.site,
        category: a.category,
        assignee: a.assignee,
        breached: a.breached,
        tag: a.tag,
        limit: a.limit,
    };
    let cases = store.list_cases(&filter)?;
    if g.json {
        return output::json(out, &cases);
    }
    if cases.is_empty() {
        writeln!(out, "no cases")?;
        return Ok(());
    }
    let mut rows = vec![
        [
            "NUMBER", "STATUS", "PRIORITY", "MARKET", "CATEGORY", "SUBJECT", "SLA DUE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in &cases {
        let sla = if c.breached {
            "BREACHED".to_string()
        } else {
            opt_time(c.sla_due_at)
        };
        rows.push(vec![
            c.number.clone(),
            c.status.to_string(),
            c.priority.to_string(),
            c.market.clone(),
            c.category.to_string(),
            truncate(&c.subject, 40),
            sla,
        ]);
    }
    output::table(out, &rows)
}

fn show(g: &Global, store: &Store, key: &str, history: bool, out: &mut dyn Write) -> Result<()> {
    let case = store.case(key)?;
    let (entries, conflicts) = if history {
        (store.history(&case.id)?, store.conflicts(&case.id)?)
    } else {
        (Vec::new(), Vec::new())
    };
    if g.json {
        let mut v = serde_json::to_value(&case)?;
        if history && let Some(obj) = v.as_object_mut() {
            obj.insert("history".into(), serde_json::to_value(&entries)?);
            obj.insert("conflicts".into(), serde_json::to_value(&conflicts)?);
        }
        return output::json(out, &v);
    }
    print_case(&case, store.now(), out)?;
    if history {
        writeln!(out, "history:")?;
        for h in &entries {
            writeln!(
                out,
                "  {}  {:<5} {:<10} {:<16} {}",
                time(h.at),
                h.site,
                h.author,
                h.action,
                h.hash.get(..12).unwrap_or(&h.hash)
            )?;
        }
        writeln!(out, "conflicts:")?;
        if conflicts.is_empty() {
            writeln!(out, "  none")?;
        }
        for c in &conflicts {
            let values: Vec<String> = c.values.iter().map(|v| format!("{v:?}")).collect();
            writeln!(
                out,
                "  {}: values {}; shown {:?}",
                c.field,
                values.join(", "),
                c.winner
            )?;
        }
    }
    Ok(())
}

/// Writes a case for people: the fields, then each non-empty section.
pub fn print_case(case: &Case, now: i64, out: &mut dyn Write) -> Result<()> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(out, "{}  {}", case.number, case.subject)?;
    let mut rows: Vec<(&str, String)> = vec![
        ("id", case.id.to_string()),
        ("status", case.status.to_string()),
        ("priority", case.priority.to_string()),
        ("market", case.market.clone()),
        ("category", case.category.to_string()),
    ];
    if let Some(s) = &case.subcategory {
        rows.push(("subcategory", s.clone()));
    }
    rows.extend([
        ("assignee", opt(&case.assignee)),
        ("site", case.site.clone()),
        ("locale", opt(&case.locale)),
        ("channel", opt(&case.channel)),
    ]);
    if let Some(r) = &case.root_cause {
        rows.push(("root cause", r.clone()));
    }
    if !case.tags.is_empty() {
        rows.push(("tags", case.tags.join(", ")));
    }
    if let Some(p) = &case.problem {
        rows.push(("problem", p.to_string()));
    }
    rows.push(("created", time(case.created_at)));
    for (k, v) in rows {
        writeln!(out, "  {:<12}{v}", format!("{k}:"))?;
    }
    if let Some(d) = &case.description {
        writeln!(out, "description:")?;
        output::indented(out, "  ", d)?;
    }
    let p = &case.payment;
    if *p != Payment::default() {
        writeln!(out, "payment:")?;
        let mut items = Vec::new();
        if let Some(v) = &p.rail {
            items.push(format!("rail {v}"));
        }
        if let Some(v) = &p.txn_ref {
            items.push(format!("txn_ref {v}"));
        }
        if let Some(v) = &p.network_ref {
            items.push(format!("network_ref {v}"));
        }
        if let Some(v) = p.amount_minor {
            items.push(format!(
                "amount {v} (minor units){}",
                p.currency
                    .as_ref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            ));
        } else if let Some(c) = &p.currency {
            items.push(format!("currency {c}"));
        }
        if let Some(v) = p.txn_at {
            items.push(format!("at {}", time(v)));
        }
        if let Some(card) = &p.card {
            let parts = [&card.brand, &card.bin, &card.last4];
            let card: Vec<&str> = parts.iter().filter_map(|x| x.as_deref()).collect();
            items.push(format!("card {}", card.join(" ")));
        }
        writeln!(out, "  {}", items.join(", "))?;
    }
    if let Some(d) = &case.dispute {
        let parts = [
            d.network.as_ref().map(|v| format!("network {v}")),
            d.reason_code.as_ref().map(|v| format!("reason {v}")),
            d.stage.as_ref().map(|v| format!("stage {v}")),
            d.evidence_due_at
                .map(|v| format!("evidence due {}", time(v))),
        ];
        let parts: Vec<String> = parts.into_iter().flatten().collect();
        writeln!(out, "dispute:\n  {}", parts.join(", "))?;
    }
    if !case.fields.is_empty() {
        writeln!(out, "fields:")?;
        for (k, v) in &case.fields {
            writeln!(out, "  {k} = {v}")?;
        }
    }
    if !case.sla.is_empty() {
        let paused = if case.paused_since.is_some() {
            " (clocks paused)"
        } else {
            ""
        };
        writeln!(out, "sla:{paused}")?;
        for (metric, s) in &case.sla {
            let due = s.due_at.saturating_add(s.paused_ms);
            let state = match s.met_at {
                Some(m) => format!("met {}", time(m)),
                None if case.paused_since.is_none() && due < now => "BREACHED".to_string(),
                None => "open".to_string(),
            };
            writeln!(out, "  {metric:<14} due {}  {state}", time(due))?;
        }
    }
    if !case.escalations.is_empty() {
        writeln!(out, "escalations:")?;
        for e in &case.escalations {
            writeln!(
                out,
                "  {}  to {} by {}: {}",
                time(e.at),
                e.to,
                e.by,
                e.reason
            )?;
        }
    }
    writeln!(out, "timeline:")?;
    for e in &case.events {
        let public = if e.visibility == "public" {
            " (public)"
        } else {
            ""
        };
        writeln!(
            out,
            "  {}  {:<16} {:<10} {}{public}",
            time(e.at),
            e.kind,
            e.by,
            e.body.replace('\n', " ")
        )?;
    }
    if !case.sop_runs.is_empty() {
        writeln!(out, "sop runs:")?;
        for r in &case.sop_runs {
            writeln!(
                out,
                "  {}  sop {} v{} by {}: {} ({})",
                time(r.at),
                r.sop,
                r.version,
                r.by,
                r.path.join(" -> "),
                r.outcome
            )?;
        }
    }
    Ok(())
}

fn update(g: &Global, store: &Store, a: UpdateArgs, out: &mut dyn Write) -> Result<()> {
    let mut field_changes: BTreeMap<String, Option<String>> = fields(&a.fields)?
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    for k in a.unset_fields {
        field_changes.insert(k, None);
    }
    let assignee = match (a.assignee, a.unassign) {
        (Some(x), _) => Some(Some(x)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let mut sla_due = BTreeMap::new();
    for arg in &a.sla_due {
        let Some((metric, when)) = arg.split_once('=') else {
            return Err(usage(
                "--sla expects METRIC=WHEN, e.g. --sla first_reply=+4h",
            ));
        };
        sla_due.insert(
            metric.trim().to_string(),
            output::parse_when(when, store.now())?,
        );
    }
    let escalate = match (a.escalate, a.reason) {
        (Some(to), Some(reason)) => Some(EscalateTo { to, reason }),
        _ => None,
    };
    let update = CaseUpdate {
        status: a.status,
        priority: a.priority,
        assignee,
        category: a.category,
        subcategory: a.subcategory,
        root_cause: a.root_cause,
        add_tags: a.tags,
        remove_tags: a.untags,
        fields: field_changes,
        payment: a.payment.to_payment(),
        dispute: None,
        problem: a.problem,
        note: a.note,
        public_note: a.public,
        escalate,
        sla_due,
        sla_met: a.sla_met,
    };
    let nothing = update.status.is_none()
        && update.priority.is_none()
        && update.assignee.is_none()
        && update.category.is_none()
        && update.subcategory.is_none()
        && update.root_cause.is_none()
        && update.add_tags.is_empty()
        && update.remove_tags.is_empty()
        && update.fields.is_empty()
        && update.payment.is_none()
        && update.problem.is_none()
        && update.note.is_none()
        && update.escalate.is_none()
        && update.sla_due.is_empty()
        && update.sla_met.is_empty();
    if nothing {
        return Err(usage(
            "nothing to update: give at least one of --status, --priority, --assignee, \
             --unassign, --category, --subcategory, --root-cause, --tag, --untag, --field, \
             --unset-field, --rail, --txn-ref, --amount-minor, --currency, --problem, --note, \
             --escalate, --sla, --sla-met",
        ));
    }
    let case = store.update_case(&a.id, update)?;
    done(
        g,
        &case,
        &format!(
            "updated {}: status {}, priority {}, assignee {}",
            case.number,
            case.status,
            case.priority,
            case.assignee.as_deref().unwrap_or("-")
        ),
        out,
    )
}

fn sla(g: &Global, store: &Store, a: SlaArgs, out: &mut dyn Write) -> Result<()> {
    let case = match &a.due {
        Some(when) => {
            let due = output::parse_when(when, store.now())?;
            let case = store.set_sla(&a.id, &a.metric, due)?;
            if !g.json {
                writeln!(out, "{}: {} due {}", case.number, a.metric, time(due))?;
            }
            case
        }
        None => {
            let case = store.mark_sla_met(&a.id, &a.metric)?;
            if !g.json {
                writeln!(out, "{}: {} met", case.number, a.metric)?;
            }
            case
        }
    };
    if g.json {
        output::json(out, &case)?;
    }
    Ok(())
}

fn import(g: &Global, store: &Store, file: &Path, out: &mut dyn Write) -> Result<()> {
    let name = file.display().to_string();
    let text = read_file(file)?;
    let ids = store.import_cases_jsonl(&text, &name)?;
    if g.json {
        let numbers: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| -> Result<serde_json::Value> {
                let c = store.case_by_id(id)?;
                Ok(serde_json::json!({ "id": id, "number": c.number }))
            })
            .collect::<Result<_>>()?;
        return output::json(out, &serde_json::json!({ "imported": numbers }));
    }
    let numbers = ids
        .iter()
        .map(|id| Ok(store.case_by_id(id)?.number))
        .collect::<Result<Vec<String>>>()?;
    write!(
        out,
        "imported {} from {name}",
        plural(ids.len(), "case", "cases")
    )?;
    match numbers.as_slice() {
        [] => writeln!(out)?,
        [first, .., last] if numbers.len() > 10 => writeln!(out, ": {first} ... {last}")?,
        all => writeln!(out, ": {}", all.join(", "))?,
    }
    Ok(())
}
