//! The adapter for `dossier:workflow@0.1.0`: bindings generated from the frozen WIT and the
//! conversions between them and `dossier`'s types. A future API version gets a sibling module
//! like this one, and the host picks the adapter by the version [`crate::version`] read.

use dossier::plugin::TriggerContext;
use dossier::{Action, Case, Priority, Status, Trigger};

#[allow(missing_docs, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "plugin",
    });
}

pub(crate) use bindings::dossier::workflow::host::{Host as HostImports, Level};
pub(crate) use bindings::dossier::workflow::types::Host as TypesHost;
pub(crate) use bindings::{Plugin, PluginPre};

use bindings::dossier::workflow::types as wit;

/// One action, as the plugin returned it.
pub(crate) use wit::Action as WitAction;
/// The case as the plugin sees it.
pub(crate) use wit::CaseSnapshot;

pub(crate) fn trigger_out(t: Trigger) -> wit::Trigger {
    match t {
        Trigger::CaseCreated => wit::Trigger::CaseCreated,
        Trigger::CaseUpdated => wit::Trigger::CaseUpdated,
        Trigger::StatusChanged => wit::Trigger::StatusChanged,
        Trigger::BeforeSolve => wit::Trigger::BeforeSolve,
        Trigger::SlaCheck => wit::Trigger::SlaCheck,
    }
}

pub(crate) fn trigger_in(t: wit::Trigger) -> Trigger {
    match t {
        wit::Trigger::CaseCreated => Trigger::CaseCreated,
        wit::Trigger::CaseUpdated => Trigger::CaseUpdated,
        wit::Trigger::StatusChanged => Trigger::StatusChanged,
        wit::Trigger::BeforeSolve => Trigger::BeforeSolve,
        wit::Trigger::SlaCheck => Trigger::SlaCheck,
    }
}

fn status_out(s: Status) -> wit::Status {
    match s {
        Status::New => wit::Status::New,
        Status::Open => wit::Status::Open,
        Status::Pending => wit::Status::Pending,
        Status::OnHold => wit::Status::OnHold,
        Status::Solved => wit::Status::Solved,
        Status::Closed => wit::Status::Closed,
    }
}

fn status_in(s: wit::Status) -> Status {
    match s {
        wit::Status::New => Status::New,
        wit::Status::Open => Status::Open,
        wit::Status::Pending => Status::Pending,
        wit::Status::OnHold => Status::OnHold,
        wit::Status::Solved => Status::Solved,
        wit::Status::Closed => Status::Closed,
    }
}

fn priority_out(p: Priority) -> wit::Priority {
    match p {
        Priority::Low => wit::Priority::Low,
        Priority::Normal => wit::Priority::Normal,
        Priority::High => wit::Priority::High,
        Priority::Urgent => wit::Priority::Urgent,
    }
}

fn priority_in(p: wit::Priority) -> Priority {
    match p {
        wit::Priority::Low => Priority::Low,
        wit::Priority::Normal => Priority::Normal,
        wit::Priority::High => Priority::High,
        wit::Priority::Urgent => Priority::Urgent,
    }
}

/// The case as a plugin sees it at `ctx.now`.
///
/// Tags and fields are sorted; SLA metrics are sorted by name and carry their *effective* due
/// time: `due_at + paused_ms`, plus the pause still running when the case is paused now and the
/// metric is unmet (the store adds that pause to `paused_ms` only when the case resumes).
pub(crate) fn snapshot(ctx: &TriggerContext<'_>) -> CaseSnapshot {
    let case: &Case = ctx.case;
    let mut tags = case.tags.clone();
    tags.sort();
    let ongoing_pause = case
        .paused_since
        .map_or(0, |since| ctx.now.saturating_sub(since).max(0));
    let p = &case.payment;
    CaseSnapshot {
        id: case.id.to_string(),
        number: case.number.clone(),
        market: case.market.clone(),
        status: status_out(case.status),
        previous_status: ctx.previous_status.map(status_out),
        priority: priority_out(case.priority),
        category: case.category.as_str().to_string(),
        subcategory: case.subcategory.clone(),
        tags,
        // A BTreeMap iterates in name order.
        fields: case
            .fields
            .iter()
            .map(|(name, value)| wit::Field {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        payment: wit::Payment {
            rail: p.rail.clone(),
            txn_ref: p.txn_ref.clone(),
            network_ref: p.network_ref.clone(),
            amount_minor: p.amount_minor,
            currency: p.currency.clone(),
            txn_at: p.txn_at,
            card_brand: p.card.as_ref().and_then(|c| c.brand.clone()),
        },
        dispute: case.dispute.as_ref().map(|d| wit::Dispute {
            network: d.network.clone(),
            reason_code: d.reason_code.clone(),
            stage: d.stage.clone(),
            evidence_due_at: d.evidence_due_at,
        }),
        sla: case
            .sla
            .iter()
            .map(|(name, m)| {
                let running = if m.met_at.is_none() { ongoing_pause } else { 0 };
                wit::SlaMetric {
                    name: name.clone(),
                    due_at: m.due_at.saturating_add(m.paused_ms).saturating_add(running),
                    met_at: m.met_at,
                }
            })
            .collect(),
        escalated_to: case.escalations.iter().map(|e| e.to.clone()).collect(),
        locale: case.locale.clone(),
        created_at: case.created_at,
        now: ctx.now,
    }
}

/// Bytes of text in one action, for the output limit.
pub(crate) fn text_bytes(a: &WitAction) -> usize {
    match a {
        WitAction::SetField(f) => f.name.len() + f.value.len(),
        WitAction::AddTag(s)
        | WitAction::RemoveTag(s)
        | WitAction::Route(s)
        | WitAction::RefuseSolve(s) => s.len(),
        WitAction::SetPriority(_) | WitAction::SetStatus(_) => 0,
        WitAction::Escalate(e) => e.to.len() + e.reason.len(),
        WitAction::SetSlaDeadline(d) => d.metric.len(),
        WitAction::RequireField(r) => r.name.len() + r.reason.len(),
        WitAction::AddNote(n) => n.body.len(),
    }
}

/// A WIT action as `dossier` applies it.
pub(crate) fn action_in(a: WitAction) -> Action {
    match a {
        WitAction::SetField(f) => Action::SetField {
            name: f.name,
            value: f.value,
        },
        WitAction::AddTag(tag) => Action::AddTag { tag },
        WitAction::RemoveTag(tag) => Action::RemoveTag { tag },
        WitAction::SetPriority(p) => Action::SetPriority {
            priority: priority_in(p),
        },
        WitAction::SetStatus(s) => Action::SetStatus {
            status: status_in(s),
        },
        WitAction::Escalate(e) => Action::Escalate {
            to: e.to,
            reason: e.reason,
        },
        WitAction::SetSlaDeadline(d) => Action::SetSlaDeadline {
            metric: d.metric,
            due_at: d.due_at,
        },
        WitAction::RequireField(r) => Action::RequireField {
            name: r.name,
            reason: r.reason,
        },
        WitAction::AddNote(n) => Action::AddNote {
            body: n.body,
            public: n.public,
        },
        WitAction::Route(queue) => Action::Route { queue },
        WitAction::RefuseSolve(reason) => Action::RefuseSolve { reason },
    }
}

/// The level's name, for log lines.
pub(crate) fn level_name(l: Level) -> &'static str {
    match l {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
    }
}
