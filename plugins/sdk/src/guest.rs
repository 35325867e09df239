//! The wasm side: WIT bindings, conversions to and from this crate's types, and the adapter
//! that [`crate::export_step!`] exports. Compiled only for `target_arch = "wasm32"`.
//!
//! Every conversion lives here so plugin code never touches generated types; when the WIT
//! gains a version, this file gains an adapter and plugin code does not change.

use std::marker::PhantomData;

use crate::bindings::dossier::workflow::{host, types as wit};
use crate::bindings::exports::dossier::workflow::step;
use crate::{
    Action, CaseSnapshot, Dispute, Env, Level, Payment, Priority, SlaMetric, Status, Step,
    StepError, Trigger,
};

/// The [`Env`] inside the sandbox: the WIT `host` imports.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostEnv;

impl Env for HostEnv {
    fn lookup(&self, table: &str, key: &str) -> Option<String> {
        host::lookup(table, key)
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
        };
        host::log(level, message);
    }
}

/// Implements the generated `step` interface for any [`Step`]; [`crate::export_step!`]
/// exports `Adapter<YourStep>`.
#[derive(Debug)]
pub struct Adapter<S>(PhantomData<S>);

impl<S: Step> step::Guest for Adapter<S> {
    fn describe() -> wit::StepInfo {
        let info = S::describe();
        wit::StepInfo {
            name: info.name,
            version: info.version,
            markets: info.markets,
            triggers: info.triggers.into_iter().map(trigger_out).collect(),
            description: info.description,
        }
    }

    fn evaluate(
        trigger: wit::Trigger,
        case: wit::CaseSnapshot,
    ) -> Result<Vec<wit::Action>, wit::StepError> {
        let case = snapshot_in(case);
        match S::evaluate(trigger_in(trigger), &case, &HostEnv) {
            Ok(actions) => Ok(actions.into_iter().map(action_out).collect()),
            Err(StepError { code, message }) => Err(wit::StepError { code, message }),
        }
    }
}

fn trigger_in(t: wit::Trigger) -> Trigger {
    match t {
        wit::Trigger::CaseCreated => Trigger::CaseCreated,
        wit::Trigger::CaseUpdated => Trigger::CaseUpdated,
        wit::Trigger::StatusChanged => Trigger::StatusChanged,
        wit::Trigger::BeforeSolve => Trigger::BeforeSolve,
        wit::Trigger::SlaCheck => Trigger::SlaCheck,
    }
}

fn trigger_out(t: Trigger) -> wit::Trigger {
    match t {
        Trigger::CaseCreated => wit::Trigger::CaseCreated,
        Trigger::CaseUpdated => wit::Trigger::CaseUpdated,
        Trigger::StatusChanged => wit::Trigger::StatusChanged,
        Trigger::BeforeSolve => wit::Trigger::BeforeSolve,
        Trigger::SlaCheck => wit::Trigger::SlaCheck,
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

fn priority_in(p: wit::Priority) -> Priority {
    match p {
        wit::Priority::Low => Priority::Low,
        wit::Priority::Normal => Priority::Normal,
        wit::Priority::High => Priority::High,
        wit::Priority::Urgent => Priority::Urgent,
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

fn snapshot_in(c: wit::CaseSnapshot) -> CaseSnapshot {
    CaseSnapshot {
        id: c.id,
        number: c.number,
        market: c.market,
        status: status_in(c.status),
        previous_status: c.previous_status.map(status_in),
        priority: priority_in(c.priority),
        category: c.category,
        subcategory: c.subcategory,
        tags: c.tags,
        fields: c.fields.into_iter().map(|f| (f.name, f.value)).collect(),
        payment: Payment {
            rail: c.payment.rail,
            txn_ref: c.payment.txn_ref,
            network_ref: c.payment.network_ref,
            amount_minor: c.payment.amount_minor,
            currency: c.payment.currency,
            txn_at: c.payment.txn_at,
            card_brand: c.payment.card_brand,
        },
        dispute: c.dispute.map(|d| Dispute {
            network: d.network,
            reason_code: d.reason_code,
            stage: d.stage,
            evidence_due_at: d.evidence_due_at,
        }),
        sla: c
            .sla
            .into_iter()
            .map(|m| SlaMetric {
                name: m.name,
                due_at: m.due_at,
                met_at: m.met_at,
            })
            .collect(),
        escalated_to: c.escalated_to,
        locale: c.locale,
        created_at: c.created_at,
        now: c.now,
    }
}

fn action_out(a: Action) -> wit::Action {
    match a {
        Action::SetField { name, value } => wit::Action::SetField(wit::Field { name, value }),
        Action::AddTag(t) => wit::Action::AddTag(t),
        Action::RemoveTag(t) => wit::Action::RemoveTag(t),
        Action::SetPriority(p) => wit::Action::SetPriority(priority_out(p)),
        Action::SetStatus(s) => wit::Action::SetStatus(status_out(s)),
        Action::Escalate { to, reason } => wit::Action::Escalate(wit::Escalation { to, reason }),
        Action::SetSlaDeadline { metric, due_at } => {
            wit::Action::SetSlaDeadline(wit::SlaDeadline { metric, due_at })
        }
        Action::RequireField { name, reason } => {
            wit::Action::RequireField(wit::RequiredField { name, reason })
        }
        Action::AddNote { body, public } => wit::Action::AddNote(wit::Note { body, public }),
        Action::Route(q) => wit::Action::Route(q),
        Action::RefuseSolve(r) => wit::Action::RefuseSolve(r),
    }
}
