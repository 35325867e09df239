//! `dossier demo`: the first thing a newcomer runs, so it tells a story rather than a test log.
//!
//! Two vendor sites (Mexico City and Bangalore) each get their own store in a temporary
//! directory, open realistic cases (one with a pasted card number, to show redaction), share
//! an SOP, then work apart "for two days" on the same SOP draft and the same case. Merging both
//! ways shows each merge policy once — text by character, status by rank, priority by maximum,
//! notes, tags and escalations by union, the assignee as a reported conflict — and that both
//! replicas end up identical. Then change control (four eyes) and a recorded SOP walk.
//!
//! It calls the library directly (no subprocesses, no network) so it runs in about a second,
//! and it checks the claims it prints: if the replicas were not identical or the four-eyes
//! rule let the author publish, the demo fails instead of printing a false story.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use dossier::{CaseUpdate, Category, NewCase, Payment, Priority, Status, Store, StoreOptions};

use crate::output::{self, plural};

const UPI_SOP: &str = include_str!("../../core/src/sop/testdata/upi_debited_not_credited.json");

fn open(dir: &Path, file: &str, site: &str, author: &str) -> Result<Store> {
    Ok(Store::open(
        dir.join(file),
        StoreOptions {
            site: Some(site.into()),
            author: Some(author.into()),
            ..Default::default()
        },
    )?)
}

/// A real sync hub on 127.0.0.1, with both sites provisioned on it and it on them.
struct Hub {
    runtime: tokio::runtime::Runtime,
    server: Option<dossier_net::hub::Hub>,
    url: String,
    store: Store,
}

impl Hub {
    fn start(dir: &Path, mx: &Store, blr: &Store) -> Result<Hub> {
        use dossier::sync::Scope;
        let store = open(dir, "hub.db", "HUB", "hub")?;
        let scopes = |list: &[&str]| -> Result<Vec<Scope>> {
            list.iter()
                .map(|s| s.parse::<Scope>().map_err(anyhow::Error::from))
                .collect()
        };
        store.add_peer("MX1", mx.public_key()?, scopes(&["*"])?)?;
        store.add_peer("BLR2", blr.public_key()?, scopes(&["IN-UPI", "ES"])?)?;
        for site in [mx, blr] {
            site.add_peer("HUB", store.public_key()?, scopes(&["*"])?)?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = runtime.block_on(dossier_net::hub::Hub::bind(
            store.clone(),
            "127.0.0.1:0",
            dossier_net::hub::HubConfig::default(),
        ))?;
        let url = format!("ws://{}", server.local_addr());
        Ok(Hub {
            runtime,
            server: Some(server),
            url,
            store,
        })
    }

    /// MX1, then BLR2, then MX1 again, so both end with everything the other may see.
    fn sync_all(&self, mx: &Store, blr: &Store, out: &mut dyn Write) -> Result<()> {
        for (name, site) in [("MX1 ", mx), ("BLR2", blr), ("MX1 ", mx)] {
            let r = self.runtime.block_on(dossier_net::sync_with_hub(
                site,
                &self.url,
                &dossier_net::NetConfig::default(),
            ))?;
            writeln!(
                out,
                "    {name} <-> HUB: sent {}, received {}, refused {}; {} bytes",
                r.docs_sent,
                r.docs_received,
                r.rejected.len(),
                r.bytes_sent + r.bytes_received
            )?;
        }
        Ok(())
    }

    fn stop(mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

fn section(out: &mut dyn Write, n: u32, title: &str) -> Result<()> {
    writeln!(out)?;
    writeln!(out, "== {n}. {title} ==")?;
    Ok(())
}

/// The `en` text of an SOP node in the current draft.
fn node_text(store: &Store, sop: &dossier::DocId, node: &str) -> Result<String> {
    let def = store.sop(sop)?.definition;
    Ok(def
        .nodes
        .get(node)
        .and_then(|n| n.text.get("en"))
        .cloned()
        .unwrap_or_default())
}

pub fn run(keep: bool, report: &Path, plugins: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("dossier-demo-").tempdir()?;
    writeln!(
        out,
        "Dossier demo: two vendor sites work offline for two days, then merge."
    )?;
    writeln!(
        out,
        "Working in {} ({}).",
        dir.path().display(),
        if keep {
            "kept at the end"
        } else {
            "deleted at the end; --keep keeps it"
        }
    )?;
    story(dir.path(), report, plugins, out)?;
    writeln!(out)?;
    if keep {
        let path = dir.keep();
        writeln!(
            out,
            "Kept the two stores: {}/mx1.db and blr2.db",
            path.display()
        )?;
        writeln!(
            out,
            "  e.g. dossier --db {}/mx1.db case list",
            path.display()
        )?;
    } else {
        let path = dir.path().display().to_string();
        dir.close()?;
        writeln!(out, "Removed {path}.")?;
    }
    Ok(())
}

fn story(dir: &Path, report: &Path, plugins: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    // 1. Two sites.
    section(out, 1, "Two sites")?;
    let mx = open(dir, "mx1.db", "MX1", "lucia")?;
    let blr = open(dir, "blr2.db", "BLR2", "priya")?;
    writeln!(out, "  MX1   Mexico City BPO   agent lucia   mx1.db")?;
    writeln!(out, "  BLR2  Bangalore BPO     agent priya   blr2.db")?;
    writeln!(
        out,
        "  Each site has its own store file and works without a network."
    )?;
    let hub = Hub::start(dir, &mx, &blr)?;
    writeln!(
        out,
        "  A hub (HUB, hub.db) listens on {}; each site holds its signed key.",
        hub.url
    )?;
    writeln!(
        out,
        "  Scopes: MX1 may read and write every market; BLR2 only IN-UPI and ES."
    )?;

    // 2. Opening work, then a first exchange.
    section(out, 2, "Cases, an SOP, and a first exchange")?;
    let sop = mx.import_sop_json(UPI_SOP, "upi_debited_not_credited.json")?;
    writeln!(
        out,
        "  lucia imports the SOP {:?}: {}, {} tests, {}, status {}",
        sop.definition.title,
        plural(sop.definition.nodes.len(), "node", "nodes"),
        sop.definition.tests.len(),
        if sop.violations.is_empty() {
            "valid"
        } else {
            "INVALID"
        },
        sop.status.as_str()
    )?;

    let mut upi = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "Money debited but not received",
    );
    upi.description = Some(
        "Paid 1,500 rupees to a merchant by UPI nine days ago. The money left my account but \
         the merchant never received it."
            .into(),
    );
    upi.locale = Some("en-IN".into());
    upi.channel = Some("app".into());
    upi.payment = Some(Payment {
        rail: Some("upi".into()),
        txn_ref: Some("412345678901".into()),
        amount_minor: Some(150_000),
        currency: Some("INR".into()),
        ..Default::default()
    });
    let upi = mx.create_case(upi)?;

    let mut twice = NewCase::new("ES", Category::ChargebackDispute, "Me cobraron dos veces");
    twice.description = Some(
        "Me cobraron dos veces la suscripción de marzo. Mi tarjeta es 4111-1111-1111-1111, \
         cvv 123, por favor devuélvanme un cargo."
            .into(),
    );
    twice.locale = Some("es".into());
    twice.channel = Some("chat".into());
    let twice = mx.create_case(twice)?;

    let mut pix = NewCase::new(
        "BR-PIX",
        Category::FailedPayment,
        "Pix enviado e não recebido",
    );
    pix.description = Some("Enviei um Pix ontem e o destinatário diz que não recebeu.".into());
    pix.locale = Some("pt-BR".into());
    pix.payment = Some(Payment {
        rail: Some("pix".into()),
        txn_ref: Some("E18236120202611201432k7Qm2xZ9aB1".into()),
        ..Default::default()
    });
    let pix = mx.create_case(pix)?;

    writeln!(out, "  lucia opens three cases at MX1:")?;
    for c in [&upi, &twice, &pix] {
        writeln!(
            out,
            "    {:<7} {:<7} {:<23} {}",
            c.number,
            c.market,
            c.category.as_str(),
            c.subject
        )?;
    }
    writeln!(
        out,
        "  {}: the UPI reference (RRN) {} is kept verbatim; agents need it to trace the payment.",
        upi.number,
        upi.payment.txn_ref.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "  {}: the customer pasted a card number and its CVV. What was stored:",
        twice.number
    )?;
    writeln!(out, "    {:?}", twice.description.as_deref().unwrap_or(""))?;
    for e in twice.events.iter().filter(|e| e.kind == "redaction") {
        writeln!(out, "    redaction event: {}", e.body)?;
    }
    let stored = twice.description.as_deref().unwrap_or("");
    if dossier::redact::contains_sensitive(stored) {
        bail!("the demo case was stored unredacted");
    }

    let mut bind = NewCase::new(
        "IN-UPI",
        Category::PaymentMethodBinding,
        "Cannot link my card",
    );
    bind.description =
        Some("Trying to add my RuPay credit card to UPI; the app says it is not eligible.".into());
    bind.channel = Some("email".into());
    let bind = blr.create_case(bind)?;
    writeln!(out, "  priya opens one case at BLR2:")?;
    writeln!(
        out,
        "    {:<7} {:<7} {:<23} {}",
        bind.number,
        bind.market,
        bind.category.as_str(),
        bind.subject
    )?;

    writeln!(out, "  Both sites sync through the hub:")?;
    hub.sync_all(&mx, &blr, out)?;
    writeln!(
        out,
        "  MX1 now holds {}, BLR2 {}: BLR2 never receives {} (BR-PIX is outside its scopes).",
        plural(mx.list_cases(&Default::default())?.len(), "case", "cases"),
        plural(blr.list_cases(&Default::default())?.len(), "case", "cases"),
        pix.number
    )?;

    // 3. Offline.
    section(out, 3, "Offline for two days")?;
    writeln!(
        out,
        "  The link goes down. Both sites edit the same SOP draft and the same case."
    )?;
    let start = node_text(&mx, &sop.id, "start")?;
    let lucia_start = match start.strip_prefix("Was ") {
        Some(rest) => format!("Verify first: was {rest}"),
        None => format!("Verify first: {start}"),
    };
    let priya_start = format!("{start} Check the bank statement, not the app.");
    mx.set_sop_text(&sop.id, "start", "en", &lucia_start)?;
    let rrn = node_text(&mx, &sop.id, "collect_rrn")?;
    mx.set_sop_text(
        &sop.id,
        "collect_rrn",
        "en",
        &rrn.replacen("RRN", "RRN (also called UTR)", 1),
    )?;
    blr.set_sop_text(&sop.id, "start", "en", &priya_start)?;
    let psp = node_text(&blr, &sop.id, "raise_psp")?;
    blr.set_sop_text(
        &sop.id,
        "raise_psp",
        "en",
        &psp.replacen("PSP bank;", "PSP bank within 24 hours;", 1),
    )?;

    mx.update_case(
        &upi.number,
        CaseUpdate {
            status: Some(Status::Pending),
            priority: Some(Priority::High),
            assignee: Some(Some("lucia".into())),
            ..Default::default()
        },
    )?;
    mx.add_note(
        &upi.number,
        "Customer will upload the bank statement that shows the debit.",
        false,
    )?;
    blr.update_case(
        &upi.number,
        CaseUpdate {
            status: Some(Status::Open),
            priority: Some(Priority::Urgent),
            assignee: Some(Some("priya".into())),
            add_tags: vec!["npci".into()],
            ..Default::default()
        },
    )?;
    blr.escalate(
        &upi.number,
        "psp_bank",
        "Merchant payment debited 9 days ago, past the T+5 reversal deadline",
    )?;
    blr.add_note(
        &upi.number,
        "Called the PSP bank helpdesk; they want the RRN on the complaint.",
        false,
    )?;
    writeln!(out, "  lucia at MX1:")?;
    writeln!(out, "    SOP start:        {lucia_start:?}")?;
    writeln!(out, "    SOP collect_rrn:  adds \"(also called UTR)\"")?;
    writeln!(
        out,
        "    case {}:  status pending, priority high, assignee lucia, a note",
        upi.number
    )?;
    writeln!(out, "  priya at BLR2:")?;
    writeln!(out, "    SOP start:        {priya_start:?}")?;
    writeln!(out, "    SOP raise_psp:    adds \"within 24 hours\"")?;
    writeln!(
        out,
        "    case {}:  status open, priority urgent, assignee priya, tag npci,",
        upi.number
    )?;
    writeln!(out, "                 escalation to psp_bank, a note")?;

    let mut golpe = NewCase::new(
        "BR-PIX",
        Category::Fraud,
        "Golpe do Pix: transferi para um golpista",
    );
    golpe.locale = Some("pt-BR".into());
    let golpe = blr.create_case(golpe)?;
    writeln!(
        out,
        "    and opens {} for a BR-PIX customer, a market BLR2 may not write",
        golpe.number
    )?;

    // 4. Merge.
    section(out, 4, "Back online: merge both ways through the hub")?;
    hub.sync_all(&mx, &blr, out)?;
    if mx.resolve_case(&golpe.number).is_ok() {
        bail!("the hub accepted a case outside BLR2's write scopes");
    }
    writeln!(
        out,
        "  The hub refused {} (outside BLR2's write scopes); it stays on BLR2 only.",
        golpe.number
    )?;
    let merged = node_text(&mx, &sop.id, "start")?;
    writeln!(
        out,
        "  SOP node start, merged character by character (both edits kept):"
    )?;
    writeln!(out, "    {merged:?}")?;
    let merged_sop = mx.sop(&sop.id)?;
    writeln!(
        out,
        "  collect_rrn and raise_psp keep each site's edit; the tree is {}.",
        if merged_sop.violations.is_empty() {
            "still valid"
        } else {
            "INVALID"
        }
    )?;

    let case = mx.case(&upi.number)?;
    writeln!(out, "  Case {} after the merge:", case.number)?;
    writeln!(
        out,
        "    status:      {:<8} (MX1 pending, BLR2 open: the higher rank wins)",
        case.status.as_str()
    )?;
    writeln!(
        out,
        "    priority:    {:<8} (MX1 high, BLR2 urgent: the maximum wins)",
        case.priority.as_str()
    )?;
    writeln!(out, "    tags:        {}", case.tags.join(", "))?;
    for e in &case.escalations {
        writeln!(
            out,
            "    escalation:  to {} by {}: {}",
            e.to, e.by, e.reason
        )?;
    }
    for e in case.events.iter().filter(|e| e.kind == "note") {
        writeln!(out, "    note:        {} wrote {:?}", e.by, e.body)?;
    }
    let conflicts = mx.conflicts(&case.id)?;
    writeln!(
        out,
        "  Conflicts no policy resolves, shown for a person to choose:"
    )?;
    if conflicts.is_empty() {
        writeln!(out, "    none")?;
    }
    for c in &conflicts {
        let values: Vec<String> = c.values.iter().map(|v| format!("{v:?}")).collect();
        writeln!(
            out,
            "    {}: values {}; both sites show {:?}",
            c.field,
            values.join(" and "),
            c.winner
        )?;
    }
    let same_case =
        serde_json::to_string(&case)? == serde_json::to_string(&blr.case(&upi.number)?)?;
    let same_sop =
        serde_json::to_string(&merged_sop)? == serde_json::to_string(&blr.sop(&sop.id)?)?;
    let same_conflicts = conflicts == blr.conflicts(&case.id)?;
    if !(same_case && same_sop && same_conflicts) {
        bail!("the two sites disagree after merging (case {same_case}, sop {same_sop})");
    }
    writeln!(out, "  Case and SOP as JSON, compared byte for byte:")?;
    writeln!(out, "    identical on both sites: yes")?;

    // 5. Change control.
    section(out, 5, "Change control: four eyes")?;
    let submitted = mx.submit_sop(&sop.id)?;
    writeln!(
        out,
        "  lucia submits the SOP for review: status {}",
        submitted.status.as_str()
    )?;
    match mx.publish_sop(&sop.id) {
        Err(e @ dossier::Error::FourEyes { .. }) => {
            writeln!(out, "  lucia tries to publish it herself: refused")?;
            writeln!(out, "    {e}")?;
        }
        Err(e) => return Err(e.into()),
        Ok(_) => bail!("the four-eyes rule let an author publish her own changes"),
    }
    // amara works on another desktop at MX1: a second handle on the same file, which sees
    // lucia's writes and she sees amara's.
    let amara = open(dir, "mx1.db", "MX1", "amara")?;
    let published = amara.publish_sop(&sop.id)?;
    hub.sync_all(&amara, &blr, &mut std::io::sink())?;
    let v = published.versions.last();
    writeln!(
        out,
        "  amara, team lead at MX1, approves it: version {}, approved by {}",
        v.map_or(0, |v| v.version),
        v.map_or("?", |v| v.by.as_str())
    )?;

    // 6. Walk.
    section(out, 6, "An agent walks the published SOP")?;
    let inputs: Vec<String> = ["Yes", "P2M", "days_since_txn=9"]
        .map(String::from)
        .to_vec();
    writeln!(
        out,
        "  lucia, on case {}, answers: {}",
        upi.number,
        inputs.join(", ")
    )?;
    let (version, def) = mx.sop_version(&sop.id, None)?;
    let result = mx.record_sop_run(&upi.number, &sop.id, &inputs)?;
    let mut walk = Vec::new();
    crate::sop::print_walk(&def, version, &result, "en", &mut walk)?;
    output::indented(out, "  ", &String::from_utf8_lossy(&walk))?;
    let runs = mx.case(&upi.number)?.sop_runs;
    if let Some(r) = runs.last() {
        writeln!(
            out,
            "  Recorded on {}: version {}, exit {}, outcome {} (for drop-off reports).",
            upi.number, r.version, r.exit_node, r.outcome
        )?;
    }

    section(
        out,
        7,
        "A market plugin travels by sync and runs at the site",
    )?;
    match plugins {
        Some(dir) => plugin_story(&hub, &mx, &blr, dir, out)?,
        None => writeln!(
            out,
            "  (skipped: run `cargo xtask demo` to build the example plugins to WebAssembly)"
        )?,
    }

    hub.stop();

    // The operations report of what just happened, from MX1's merged store.
    let written =
        crate::report::write_html(&mx, report, &dossier::report::ReportFilter::default())?;
    writeln!(
        out,
        "\n  Wrote the operations report ({} cases): {}",
        written.totals.cases,
        report.display()
    )?;

    // 7. Summary.
    section(out, 8, "What you saw")?;
    for line in [
        "1. Each site keeps its own SQLite file, works with no network, and syncs",
        "   through an authenticated hub that enforces each site's scopes.",
        "2. Card numbers and CVVs are masked before anything is stored, on every site.",
        "3. Offline edits merge with nothing lost: text by character, status by rank,",
        "   priority by maximum, notes, tags and escalations by union; a real conflict",
        "   (two assignees) is reported, not silently dropped.",
        "4. After merging both ways the two sites are identical, byte for byte.",
        "5. Publishing an SOP needs a second person; agents walk the published version.",
        "6. Each walk is recorded on the case, and feeds the operations report.",
    ] {
        writeln!(out, "  {line}")?;
    }
    // Only what was shown: without --plugins part 7 was skipped, and the summary says so.
    let seventh: &[&str] = if plugins.is_some() {
        &[
            "7. Market rules ship as signed, sandboxed WebAssembly plugins through the same",
            "   sync; a site runs only what a publisher it trusts signed.",
        ]
    } else {
        &[
            "7. Not shown this time: market rules as signed, sandboxed WebAssembly plugins",
            "   that travel by sync (`cargo xtask demo` builds them and shows it).",
        ]
    };
    for line in seventh {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Next: README.md for the quickstart, `dossier --help`, or try it yourself:"
    )?;
    writeln!(out, "  dossier init --site MX1")?;
    writeln!(
        out,
        "  dossier sop import core/src/sop/testdata/upi_debited_not_credited.json"
    )?;
    writeln!(
        out,
        "  dossier case new --market IN-UPI --category failed_payment \\\n      --subject \"Money debited but not received\""
    )?;
    Ok(())
}

/// The India market team signs `in-upi-failed-txn` and installs it at the hub; it reaches BLR2
/// by sync, BLR2 trusts the team's key, and the plugin sets the RBI reversal deadline on a new
/// case and refuses to let it be solved without the RRN.
fn plugin_story(hub: &Hub, mx: &Store, blr: &Store, dir: &Path, out: &mut dyn Write) -> Result<()> {
    use dossier::{PluginPackage, PublisherKey};
    let wasm_path = dir.join("in_upi_failed_txn.wasm");
    let wasm = std::fs::read(&wasm_path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", wasm_path.display()))?;
    let host = crate::plugin::host()?;
    let manifest = host.inspect(&wasm)?;
    let team = PublisherKey::generate()?;
    let package = PluginPackage::sign(manifest, wasm, &team)?;
    let info = hub.store.install_plugin(&package)?;
    writeln!(
        out,
        "  The India market team signs {}@{} ({} KiB of WebAssembly) and installs it at the hub.",
        info.name,
        info.version,
        package.wasm.len() / 1024
    )?;
    hub.sync_all(mx, blr, &mut std::io::sink())?;
    let arrived = blr.plugin(&info.name)?;
    writeln!(
        out,
        "  It reaches BLR2 by sync; BLR2 does not trust its publisher yet, so it is {}.",
        if arrived.active {
            "ACTIVE (wrong)"
        } else {
            "inactive"
        }
    )?;
    if arrived.active {
        bail!("an untrusted plugin would run");
    }
    blr.trust_publisher(&team.public_key())?;
    blr.set_workflow(std::sync::Arc::new(host));
    let t = blr.now() - 3 * 3_600_000;
    let mut new = NewCase::new(
        "IN-UPI",
        Category::FailedPayment,
        "UPI transfer to a friend debited, not credited",
    );
    new.fields.insert("txn_type".into(), "p2p".into());
    new.payment = Some(Payment {
        rail: Some("upi".into()),
        amount_minor: Some(250_000),
        currency: Some("INR".into()),
        txn_at: Some(t),
        ..Default::default()
    });
    let case = blr.create_case(new)?;
    let Some(due) = case.sla.get("reversal") else {
        bail!("the plugin did not set the reversal deadline");
    };
    writeln!(
        out,
        "  BLR2 trusts the team's key and opens {}: the plugin sets the T+1 reversal deadline ({})",
        case.number,
        output::time(due.due_at)
    )?;
    writeln!(out, "  and tags it {}.", case.tags.join(", "))?;
    let solve = CaseUpdate {
        status: Some(Status::Solved),
        ..Default::default()
    };
    match blr.update_case(&case.number, solve.clone()) {
        Err(dossier::Error::SolveRefused { plugin, reason }) => writeln!(
            out,
            "  Solving it without the RRN is refused by {plugin}: {reason}"
        )?,
        Ok(_) => bail!("the plugin let a case without an RRN be solved"),
        Err(e) => return Err(e.into()),
    }
    blr.update_case(
        &case.number,
        CaseUpdate {
            payment: Some(Payment {
                txn_ref: Some("412233445566".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )?;
    let solved = blr.update_case(&case.number, solve)?;
    writeln!(
        out,
        "  With RRN 412233445566 recorded, {} is {}.",
        solved.number, solved.status
    )?;
    Ok(())
}
