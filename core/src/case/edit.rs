//! Case edits: the `DocTx` operations every writer uses — the API, imports and plugin
//! actions alike.

use super::*;

pub(crate) fn check_payment(p: &Payment) -> Result<()> {
    if let Some(a) = p.amount_minor
        && a < 0
    {
        return Err(Error::invalid(
            "payment.amount_minor",
            "must not be negative",
        ));
    }
    if let Some(c) = &p.currency
        && (c.len() != 3 || !c.chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(Error::invalid(
            "payment.currency",
            "use a 3-letter ISO 4217 code, e.g. INR",
        ));
    }
    if let Some(card) = &p.card {
        if let Some(bin) = &card.bin
            && (!(6..=8).contains(&bin.len()) || !bin.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Error::invalid(
                "payment.card.bin",
                "use the first 6 to 8 digits",
            ));
        }
        if let Some(l4) = &card.last4
            && (l4.len() != 4 || !l4.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Error::invalid("payment.card.last4", "use exactly 4 digits"));
        }
    }
    Ok(())
}

pub(crate) fn write_payment(dt: &mut DocTx<'_>, p: &Payment) -> Result<()> {
    check_payment(p)?;
    let root = ObjId::Root;
    let pay = dt.map(&root, "payment")?;
    let rail = p.rail.clone().or_else(|| dt.read().str(&pay, "rail"));
    if let Some(v) = &p.rail {
        check_token("payment.rail", v)?;
        dt.put_str(&pay, "rail", "payment.rail", &v.to_ascii_lowercase())?;
    }
    if let Some(v) = &p.txn_ref {
        dt.put_payment_ref(&pay, "txn_ref", rail.as_deref(), "payment.txn_ref", v)?;
    }
    if let Some(v) = &p.network_ref {
        dt.put_payment_ref(
            &pay,
            "network_ref",
            rail.as_deref(),
            "payment.network_ref",
            v,
        )?;
    }
    if let Some(v) = p.amount_minor {
        dt.put(&pay, "amount_minor", v)?;
    }
    if let Some(v) = &p.currency {
        dt.put_str(&pay, "currency", "payment.currency", v)?;
    }
    if let Some(v) = p.txn_at {
        dt.put(&pay, "txn_at", v)?;
    }
    if let Some(card) = &p.card {
        let c = dt.map(&pay, "card")?;
        if let Some(v) = &card.brand {
            dt.put_str(&c, "brand", "payment.card.brand", v)?;
        }
        if let Some(v) = &card.bin {
            dt.put_str(&c, "bin", "payment.card.bin", v)?;
        }
        if let Some(v) = &card.last4 {
            dt.put_str(&c, "last4", "payment.card.last4", v)?;
        }
    }
    Ok(())
}

pub(crate) fn write_dispute(dt: &mut DocTx<'_>, d: &Dispute) -> Result<()> {
    let m = dt.map(&ObjId::Root, "dispute")?;
    if let Some(v) = &d.network {
        dt.put_str(&m, "network", "dispute.network", v)?;
    }
    if let Some(v) = &d.reason_code {
        dt.put_str(&m, "reason_code", "dispute.reason_code", v)?;
    }
    if let Some(v) = &d.stage {
        dt.put_str(&m, "stage", "dispute.stage", v)?;
    }
    if let Some(v) = d.evidence_due_at {
        dt.put(&m, "evidence_due_at", v)?;
    }
    Ok(())
}

pub(crate) fn set_field(dt: &mut DocTx<'_>, key: &str, value: Option<&str>) -> Result<()> {
    if value.is_some() {
        check_field_name(key)?;
    } else {
        // A field written before names were checked can still be removed.
        check_token("field name", key)?;
    }
    let fields = dt.map(&ObjId::Root, "fields")?;
    let path = format!("fields.{key}");
    let key = dt.key(&path, key);
    match value {
        Some(v) => {
            check_len(&path, v, MAX_TEXT)?;
            dt.put_str(&fields, key.as_str(), &path, v)
        }
        None => dt.delete(&fields, key.as_str()),
    }
}

pub(crate) fn add_tag(dt: &mut DocTx<'_>, tag: &str) -> Result<()> {
    check_token("tag", tag)?;
    let tags = dt.map(&ObjId::Root, "tags")?;
    let tag = dt.key("tags", &tag.to_lowercase());
    // Automerge skips a put of the value already there, and then a concurrent removal would
    // win. Re-adding writes a fresh op so that an add concurrent with a remove wins (add-wins).
    if dt.read().get(&tags, tag.as_str()).is_some() {
        dt.delete(&tags, tag.as_str())?;
    }
    dt.put(&tags, tag.as_str(), true)
}

/// Removes a tag if the case has it.
pub(crate) fn remove_tag(dt: &mut DocTx<'_>, tag: &str) -> Result<()> {
    let tags = dt.map(&ObjId::Root, "tags")?;
    let tag = tag.to_lowercase();
    if dt.read().get(&tags, tag.as_str()).is_some() {
        dt.delete(&tags, tag.as_str())?;
    }
    Ok(())
}

/// Appends an escalation to `to`, by this change's author, now.
pub(crate) fn push_escalation(dt: &mut DocTx<'_>, to: &str, reason: &str) -> Result<()> {
    let list = dt.list(&ObjId::Root, "escalations")?;
    let e = dt.push_map(&list)?;
    let (by, at) = (dt.meta.author.clone(), dt.meta.at);
    dt.put_str(&e, "to", "escalations.to", to)?;
    dt.put_str(&e, "reason", "escalations.reason", reason)?;
    dt.put(&e, "at", at)?;
    dt.put(&e, "by", by.as_str())
}

/// Sets (or moves) the due time of an SLA metric, starting its paused time at zero.
pub(crate) fn put_sla_due(dt: &mut DocTx<'_>, metric: &str, due_at: i64) -> Result<()> {
    let sla = dt.map(&ObjId::Root, "sla")?;
    let m = dt.map(&sla, metric)?;
    dt.put(&m, "due_at", due_at)?;
    if dt.read().i64(&m, "paused_ms").is_none() {
        dt.put(&m, "paused_ms", 0i64)?;
    }
    Ok(())
}

/// Sets a new status with its event, pausing or resuming SLA clocks.
pub(crate) fn change_status(dt: &mut DocTx<'_>, from: Status, to: Status) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let root = ObjId::Root;
    let now = dt.meta.at;
    dt.put(&root, "status", to.as_str())?;
    dt.event(
        "status_changed",
        &format!("{} -> {}", from.as_str(), to.as_str()),
        "internal",
    )?;
    let paused_since = merge::earliest(&dt.read(), &root, "paused_since");
    match (paused_since, to.pauses_sla()) {
        (None, true) => dt.put(&root, "paused_since", now)?,
        (Some(since), false) => {
            let elapsed = now.saturating_sub(since).max(0);
            if let Some(sla) = dt.read().map(&root, "sla") {
                let metrics = dt.read().keys(&sla);
                for m in metrics {
                    let Some(entry) = dt.read().map(&sla, m.as_str()) else {
                        continue;
                    };
                    if dt.read().i64(&entry, "met_at").is_some() {
                        continue;
                    }
                    let paused = merge::max(&dt.read(), &entry, "paused_ms").unwrap_or(0);
                    dt.put(&entry, "paused_ms", paused.saturating_add(elapsed))?;
                }
            }
            dt.delete(&root, "paused_since")?;
        }
        _ => {}
    }
    match to {
        Status::Solved => dt.put(&root, "solved_at", now)?,
        Status::Closed => dt.put(&root, "closed_at", now)?,
        _ => {}
    }
    Ok(())
}

pub(crate) fn create_case_in(w: &mut Write<'_>, new: &NewCase) -> Result<DocId> {
    check_market(&new.market)?;
    let category = new
        .category
        .ok_or_else(|| Error::invalid("category", "is required"))?;
    if new.subject.trim().is_empty() {
        return Err(Error::invalid("subject", "must not be empty"));
    }
    check_len("subject", &new.subject, MAX_SUBJECT)?;
    if let Some(d) = &new.description {
        check_len("description", d, MAX_TEXT)?;
    }
    for (field, v) in [
        ("locale", &new.locale),
        ("channel", &new.channel),
        ("subcategory", &new.subcategory),
    ] {
        if let Some(v) = v {
            check_token(field, v)?;
        }
    }
    let problem = match &new.problem {
        Some(p) => Some(w.store().resolve_case(p)?),
        None => None,
    };
    let site = w.store().site().to_string();
    let seq = w.next_seq("case")?;
    let number = format!("{site}-{seq}");
    let (id, ()) = w.create(DocKind::Case, CASE_SCHEMA, |dt, _| {
        let root = ObjId::Root;
        dt.put(&root, "number", number.as_str())?;
        dt.put(&root, "site", site.as_str())?;
        dt.put_str(&root, "market", "market", &new.market)?;
        dt.put(&root, "status", Status::New.as_str())?;
        dt.put(
            &root,
            "priority",
            new.priority.unwrap_or(Priority::Normal).as_str(),
        )?;
        dt.put(&root, "category", category.as_str())?;
        dt.put_str(&root, "subject", "subject", new.subject.trim())?;
        if let Some(d) = &new.description {
            dt.put_str(&root, "description", "description", d)?;
        }
        for (prop, v) in [
            ("locale", &new.locale),
            ("channel", &new.channel),
            ("assignee", &new.assignee),
            ("subcategory", &new.subcategory),
        ] {
            if let Some(v) = v {
                dt.put_str(&root, prop, prop, v)?;
            }
        }
        dt.map(&root, "tags")?;
        for t in &new.tags {
            add_tag(dt, t)?;
        }
        dt.map(&root, "fields")?;
        for (k, v) in &new.fields {
            set_field(dt, k, Some(v))?;
        }
        if let Some(p) = &new.payment {
            write_payment(dt, p)?;
        }
        if let Some(d) = &new.dispute {
            write_dispute(dt, d)?;
        }
        if let Some(p) = problem {
            dt.put(&root, "problem", p.to_string().as_str())?;
        }
        dt.list(&root, "escalations")?;
        dt.list(&root, "sop_runs")?;
        dt.map(&root, "sla")?;
        dt.event("created", &format!("opened at site {site}"), "internal")
    })?;
    Ok(id)
}

/// The [`CaseHead`] of a case that is not closed; [`Error::CaseClosed`] otherwise. One
/// register read refuses a closed case.
fn open_head(w: &mut Write<'_>, id: &DocId) -> Result<CaseHead> {
    let head = head(*id, w.get(id, DocKind::Case)?)?;
    if head.status == Status::Closed {
        return Err(Error::CaseClosed {
            number: head.number,
        });
    }
    Ok(head)
}

/// Edits a case that must not be closed, giving `f` what it needs to decide: the case's
/// [`CaseHead`], read key by key. Refusing a closed case reads one register.
pub(crate) fn edit_open_case_head<T>(
    w: &mut Write<'_>,
    id: &DocId,
    f: impl FnOnce(&mut DocTx<'_>, &CaseHead) -> Result<T>,
) -> Result<T> {
    let head = open_head(w, id)?;
    w.edit(id, DocKind::Case, |dt| {
        let out = f(dt, &head)?;
        crate::plugin::actions::clear_satisfied_requirements(dt, *id)?;
        Ok(out)
    })
}

/// Edits a case that must not be closed, giving `f` its whole merged view — for the writers
/// that decide on any part of it (plugin actions, SOP runs checking the market).
pub(crate) fn edit_open_case<T>(
    w: &mut Write<'_>,
    id: &DocId,
    f: impl FnOnce(&mut DocTx<'_>, &Case) -> Result<T>,
) -> Result<T> {
    open_head(w, id)?;
    let case = materialize(*id, w.get(id, DocKind::Case)?, None)?;
    w.edit(id, DocKind::Case, |dt| {
        let out = f(dt, &case)?;
        crate::plugin::actions::clear_satisfied_requirements(dt, *id)?;
        Ok(out)
    })
}

/// Applies a checked [`CaseUpdate`] to a case as part of one change: every field, the note,
/// the escalation and the SLA changes, each with its event.
pub(crate) fn apply_update(
    dt: &mut DocTx<'_>,
    case: &CaseHead,
    update: &CaseUpdate,
    problem: Option<DocId>,
) -> Result<()> {
    let root = ObjId::Root;
    if let Some(s) = update.status {
        change_status(dt, case.status, s)?;
    }
    if let Some(p) = update.priority
        && p != case.priority
    {
        dt.put(&root, "priority", p.as_str())?;
        dt.event(
            "priority_changed",
            &format!("{} -> {}", case.priority, p),
            "internal",
        )?;
    }
    if let Some(a) = &update.assignee {
        dt.put_opt_str(&root, "assignee", "assignee", a.as_deref())?;
        dt.event(
            "assigned",
            a.as_deref().unwrap_or("(unassigned)"),
            "internal",
        )?;
    }
    if let Some(c) = update.category {
        dt.put(&root, "category", c.as_str())?;
    }
    if let Some(v) = &update.subcategory {
        dt.put_str(&root, "subcategory", "subcategory", v)?;
    }
    if let Some(v) = &update.root_cause {
        dt.put_str(&root, "root_cause", "root_cause", v)?;
    }
    for t in &update.add_tags {
        add_tag(dt, t)?;
    }
    for t in &update.remove_tags {
        remove_tag(dt, t)?;
    }
    for (k, v) in &update.fields {
        set_field(dt, k, v.as_deref())?;
    }
    if let Some(p) = &update.payment {
        write_payment(dt, p)?;
    }
    if let Some(d) = &update.dispute {
        write_dispute(dt, d)?;
    }
    if let Some(p) = problem {
        dt.put(&root, "problem", p.to_string().as_str())?;
    }
    if let Some(e) = &update.escalate {
        push_escalation(dt, &e.to, &e.reason)?;
        dt.event(
            "escalated",
            &format!("to {}: {}", e.to, e.reason),
            "internal",
        )?;
    }
    for (metric, due_at) in &update.sla_due {
        put_sla_due(dt, metric, *due_at)?;
        dt.event(
            "sla_set",
            &format!("{metric} due at {}", crate::time::format_rfc3339(*due_at)),
            "internal",
        )?;
    }
    for metric in &update.sla_met {
        mark_met(dt, metric)?;
    }
    if let Some(body) = &update.note {
        let visibility = if update.public_note {
            "public"
        } else {
            "internal"
        };
        dt.event("note", body, visibility)?;
    }
    Ok(())
}

/// Marks an SLA metric met now.
fn mark_met(dt: &mut DocTx<'_>, metric: &str) -> Result<()> {
    let Some(sla) = dt.read().map(&ObjId::Root, "sla") else {
        return Err(Error::not_found("sla metric", metric));
    };
    // Metrics are stored under their redacted name (DocTx redacts every key).
    let stored = dt.key("sla", metric);
    let Some(m) = dt.read().map(&sla, stored.as_str()) else {
        return Err(Error::not_found("sla metric", metric));
    };
    let at = dt.meta.at;
    dt.put(&m, "met_at", at)?;
    dt.event("sla_met", metric, "internal")
}
