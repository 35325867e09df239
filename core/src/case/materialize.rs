//! Reading a case: the merge policies applied to the document's registers, lists and maps.

use super::*;

/// What a write must know of a case to decide and to describe its change, read key by key
/// (with the same merge policies as [`materialize`]) instead of materializing the whole case.
#[derive(Debug, Clone)]
pub(crate) struct CaseHead {
    pub number: String,
    pub status: Status,
    pub priority: Priority,
    pub root_cause: Option<String>,
}

/// Reads the [`CaseHead`] of a case document.
pub(crate) fn head(id: DocId, doc: &impl ReadDoc) -> Result<CaseHead> {
    let r = Reader::new(doc, None);
    let root = ObjId::Root;
    let bad = |what: &str| Error::Document {
        id: id.to_string(),
        reason: format!("case has no valid {what}"),
    };
    Ok(CaseHead {
        number: r.str(&root, "number").ok_or_else(|| bad("number"))?,
        status: status_of(&r).ok_or_else(|| bad("status"))?,
        priority: priority_of(&r),
        root_cause: root_cause_of(&r),
    })
}

/// `status` by rank: the highest of the concurrent values wins.
fn status_of<D: ReadDoc>(r: &Reader<'_, D>) -> Option<Status> {
    r.all(&ObjId::Root, "status")
        .iter()
        .filter_map(|(v, _)| scalar_str(v).and_then(|s| s.parse::<Status>().ok()))
        .max()
}

/// `priority` by maximum.
fn priority_of<D: ReadDoc>(r: &Reader<'_, D>) -> Priority {
    r.all(&ObjId::Root, "priority")
        .iter()
        .filter_map(|(v, _)| scalar_str(v).and_then(|s| s.parse::<Priority>().ok()))
        .max()
        .unwrap_or(Priority::Normal)
}

/// An incident solved with its problem inherits the problem's root cause in a register of its
/// own, so a root cause set on the incident (before, after or concurrently) wins.
fn root_cause_of<D: ReadDoc>(r: &Reader<'_, D>) -> Option<String> {
    r.str(&ObjId::Root, "root_cause")
        .or_else(|| r.str(&ObjId::Root, "inherited_root_cause"))
}

/// Reads a case document (now, or at `heads`) into its merged view.
pub(crate) fn materialize(
    id: DocId,
    doc: &impl ReadDoc,
    heads: Option<&[ChangeHash]>,
) -> Result<Case> {
    let r = Reader::new(doc, heads);
    let root = ObjId::Root;
    let bad = |what: &str| Error::Document {
        id: id.to_string(),
        reason: format!("case has no valid {what}"),
    };
    let status = status_of(&r).ok_or_else(|| bad("status"))?;
    let priority = priority_of(&r);
    let category = r
        .str(&root, "category")
        .and_then(|s| s.parse().ok())
        .unwrap_or(Category::Other);
    let tags = r
        .map(&root, "tags")
        .map(|t| {
            r.keys(&t)
                .into_iter()
                .filter(|k| r.bool(&t, k.as_str()) == Some(true))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let payment = match r.map(&root, "payment") {
        Some(p) => Payment {
            rail: r.str(&p, "rail"),
            txn_ref: r.str(&p, "txn_ref"),
            network_ref: r.str(&p, "network_ref"),
            amount_minor: r.i64(&p, "amount_minor"),
            currency: r.str(&p, "currency"),
            txn_at: r.i64(&p, "txn_at"),
            card: r.map(&p, "card").map(|c| Card {
                brand: r.str(&c, "brand"),
                bin: r.str(&c, "bin"),
                last4: r.str(&c, "last4"),
            }),
        },
        None => Payment::default(),
    };
    let dispute = r.map(&root, "dispute").map(|d| Dispute {
        network: r.str(&d, "network"),
        reason_code: r.str(&d, "reason_code"),
        stage: r.str(&d, "stage"),
        evidence_due_at: r.i64(&d, "evidence_due_at"),
    });
    let sla = match r.map(&root, "sla") {
        Some(s) => r
            .keys(&s)
            .into_iter()
            .filter_map(|k| {
                let m = r.map(&s, k.as_str())?;
                Some((
                    k,
                    Sla {
                        due_at: r.i64(&m, "due_at")?,
                        paused_ms: merge::max(&r, &m, "paused_ms").unwrap_or(0),
                        met_at: merge::earliest(&r, &m, "met_at"),
                    },
                ))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let events = r
        .list_maps(&root, "events")
        .into_iter()
        .map(|e| Event {
            kind: r.str(&e, "kind").unwrap_or_default(),
            body: r.str(&e, "body").unwrap_or_default(),
            visibility: r.str(&e, "visibility").unwrap_or_else(|| "internal".into()),
            by: r.str(&e, "by").unwrap_or_default(),
            at: r.i64(&e, "at").unwrap_or(0),
        })
        .collect();
    let escalations = r
        .list_maps(&root, "escalations")
        .into_iter()
        .map(|e| Escalation {
            to: r.str(&e, "to").unwrap_or_default(),
            reason: r.str(&e, "reason").unwrap_or_default(),
            at: r.i64(&e, "at").unwrap_or(0),
            by: r.str(&e, "by").unwrap_or_default(),
        })
        .collect();
    let sop_runs = r
        .list_maps(&root, "sop_runs")
        .into_iter()
        .map(|e| SopRun {
            sop: r.str(&e, "sop").unwrap_or_default(),
            version: r.i64(&e, "version").unwrap_or(0),
            path: r.list_strs(&e, "path"),
            exit_node: r.str(&e, "exit_node").unwrap_or_default(),
            outcome: r.str(&e, "outcome").unwrap_or_default(),
            at: r.i64(&e, "at").unwrap_or(0),
            by: r.str(&e, "by").unwrap_or_default(),
        })
        .collect();
    let qa = r.map(&root, "qa").and_then(|q| {
        Some(Qa {
            score: r.i64(&q, "score")?,
            rubric: r.str(&q, "rubric").unwrap_or_default(),
            reviewer: r.str(&q, "reviewer").unwrap_or_default(),
        })
    });
    Ok(Case {
        id,
        number: r.str(&root, "number").ok_or_else(|| bad("number"))?,
        site: r.str(&root, "site").unwrap_or_default(),
        market: r.str(&root, "market").ok_or_else(|| bad("market"))?,
        locale: r.str(&root, "locale"),
        channel: r.str(&root, "channel"),
        assignee: r.str(&root, "assignee"),
        status,
        priority,
        category,
        subcategory: r.str(&root, "subcategory"),
        root_cause: root_cause_of(&r),
        tags,
        subject: r.str(&root, "subject").unwrap_or_default(),
        description: r.str(&root, "description"),
        payment,
        dispute,
        sla,
        paused_since: merge::earliest(&r, &root, "paused_since"),
        escalations,
        problem: r.str(&root, "problem").and_then(|p| p.parse().ok()),
        events,
        sop_runs,
        articles_used: r.list_strs(&root, "articles_used"),
        qa,
        fields: r.str_map(&root, "fields"),
        created_at: r.i64(&root, "created_at").unwrap_or(0),
    })
}

pub(crate) fn scalar_str(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}
