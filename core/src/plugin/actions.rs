//! Actions plugins ask for, their validation, and applying them to a case.
//!
//! All of one plugin's actions are checked first — known field names, allowed values, allowed
//! status transitions, sizes — and then applied as **one** Automerge change carrying a `plugin`
//! event that names the plugin, its version and the trigger; if any action is invalid, none is
//! applied and a `plugin_failed` event says why. Changes a plugin makes do not fire triggers
//! again, so plugins cannot loop through each other.

use std::collections::BTreeSet;

use automerge::ObjId;
use serde::{Deserialize, Serialize};

use super::{
    Evaluation, PluginFailure, PluginFailureKind, PluginRef, PluginRun, RunOutcome, Trigger,
    TriggerContext,
};
use crate::case::{
    Case, MAX_TEXT, Priority, Status, add_tag, change_status, check_field_name, check_len,
    check_token, edit_open_case, push_escalation, put_sla_due, remove_tag, set_field,
};
use crate::doc::DocTx;
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::store::{Origin, Store};

/// Most actions one evaluation may return.
pub const MAX_ACTIONS: usize = 64;

/// Most characters of a failure's reason kept in its `plugin_failed` event.
pub const MAX_FAILURE_REASON: usize = 1_000;

/// Most log lines of a failed evaluation kept in its `plugin_failed` event (the first ones).
pub const MAX_FAILURE_LOG_LINES: usize = 20;

/// Most characters of each of those lines.
pub const MAX_FAILURE_LOG_LINE: usize = 300;

/// Something a plugin asks the host to do to a case (the WIT `action` variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Set a market-specific field.
    SetField {
        /// Field name.
        name: String,
        /// Value.
        value: String,
    },
    /// Add a tag.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    RemoveTag {
        /// The tag.
        tag: String,
    },
    /// Set the priority.
    SetPriority {
        /// The priority.
        priority: Priority,
    },
    /// Move the case to a status.
    SetStatus {
        /// The status.
        status: Status,
    },
    /// Hand the case to another team.
    Escalate {
        /// Team.
        to: String,
        /// Why.
        reason: String,
    },
    /// Set the due time of an SLA metric.
    SetSlaDeadline {
        /// Metric.
        metric: String,
        /// Due time (epoch ms).
        due_at: i64,
    },
    /// The case needs a field: tag `missing-<name>` while it lacks it (and refuse a solve).
    RequireField {
        /// Field name, or `payment.txn_ref`.
        name: String,
        /// Why, shown to the agent.
        reason: String,
    },
    /// Add a note.
    AddNote {
        /// Text.
        body: String,
        /// Whether the customer may see it.
        public: bool,
    },
    /// Send the case to a queue (the `queue` field).
    Route {
        /// Queue.
        queue: String,
    },
    /// Refuse a solve (before-solve only).
    RefuseSolve {
        /// Why.
        reason: String,
    },
}

impl Action {
    /// A short description for events and dry runs, e.g. `add-tag upi-overdue`.
    pub fn summary(&self) -> String {
        match self {
            Action::SetField { name, value } => format!("set-field {name}={value}"),
            Action::AddTag { tag } => format!("add-tag {tag}"),
            Action::RemoveTag { tag } => format!("remove-tag {tag}"),
            Action::SetPriority { priority } => format!("set-priority {priority}"),
            Action::SetStatus { status } => format!("set-status {status}"),
            Action::Escalate { to, .. } => format!("escalate {to}"),
            Action::SetSlaDeadline { metric, due_at } => format!(
                "set-sla-deadline {metric} {}",
                crate::time::format_rfc3339(*due_at)
            ),
            Action::RequireField { name, .. } => format!("require-field {name}"),
            Action::AddNote { .. } => "add-note".into(),
            Action::Route { queue } => format!("route {queue}"),
            Action::RefuseSolve { .. } => "refuse-solve".into(),
        }
    }
}

/// The payment and dispute members a plugin may require besides market-specific fields.
const CASE_MEMBERS: &[&str] = &[
    "payment.txn_ref",
    "payment.network_ref",
    "payment.rail",
    "payment.currency",
    "payment.amount_minor",
    "payment.txn_at",
    "dispute.network",
    "dispute.reason_code",
    "dispute.stage",
];

/// The payment or dispute member `name` names, if it names one (the WIT spells them in kebab
/// case, `payment.txn-ref`; snake case is accepted too).
fn case_member(name: &str) -> Option<&'static str> {
    let snake = name.replace('-', "_");
    CASE_MEMBERS.iter().copied().find(|m| *m == snake)
}

/// Checks what a `require-field` names: a payment or dispute member, or a market-specific
/// field name ([`check_field_name`]).
fn check_required_name(name: &str) -> Result<()> {
    if case_member(name).is_some() {
        return Ok(());
    }
    check_field_name(name).map_err(|e| match e {
        Error::Invalid { field, reason } => Error::invalid(
            &field,
            format!(
                "{reason} (or one of {})",
                CASE_MEMBERS
                    .iter()
                    .map(|m| m.replace('_', "-"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        other => other,
    })
}

/// Whether `case` has the field `name` (a key of `fields`, or `payment.txn_ref` and friends).
pub fn has_field(case: &Case, name: &str) -> bool {
    let name = case_member(name).unwrap_or(name);
    let p = &case.payment;
    let d = case.dispute.as_ref();
    let present = |v: Option<&String>| v.is_some_and(|s| !s.trim().is_empty());
    match name {
        "payment.txn_ref" => present(p.txn_ref.as_ref()),
        "payment.network_ref" => present(p.network_ref.as_ref()),
        "payment.rail" => present(p.rail.as_ref()),
        "payment.currency" => present(p.currency.as_ref()),
        "payment.amount_minor" => p.amount_minor.is_some(),
        "payment.txn_at" => p.txn_at.is_some(),
        "dispute.network" => present(d.and_then(|d| d.network.as_ref())),
        "dispute.reason_code" => present(d.and_then(|d| d.reason_code.as_ref())),
        "dispute.stage" => present(d.and_then(|d| d.stage.as_ref())),
        _ => present(case.fields.get(name)),
    }
}

fn missing_tag(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("missing-{slug}")
}

/// Checks every action against `case` and `trigger` without changing anything.
///
/// # Errors
/// [`Error::InvalidAction`] naming the first bad action (by index) and why.
pub fn validate_actions(case: &Case, trigger: Trigger, actions: &[Action]) -> Result<()> {
    if actions.len() > MAX_ACTIONS {
        return Err(Error::InvalidAction {
            index: MAX_ACTIONS,
            reason: format!("more than {MAX_ACTIONS} actions"),
        });
    }
    if case.status == Status::Closed {
        return Err(Error::CaseClosed {
            number: case.number.clone(),
        });
    }
    for (index, a) in actions.iter().enumerate() {
        check_action(case, trigger, a).map_err(|e| Error::InvalidAction {
            index,
            reason: match e {
                Error::Invalid { field, reason } => format!("{}: {field}: {reason}", a.summary()),
                other => format!("{}: {other}", a.summary()),
            },
        })?;
    }
    Ok(())
}

fn nonempty(field: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    check_len(field, v, MAX_TEXT)
}

fn check_action(case: &Case, trigger: Trigger, a: &Action) -> Result<()> {
    match a {
        Action::SetField { name, value } => {
            check_field_name(name)?;
            if name == "queue" {
                return Err(Error::invalid("field name", "queue is set by route"));
            }
            check_len("field value", value, MAX_TEXT)
        }
        Action::AddTag { tag } | Action::RemoveTag { tag } => check_token("tag", tag),
        Action::SetPriority { .. } => Ok(()),
        Action::SetStatus { status } => {
            if trigger == Trigger::BeforeSolve {
                return Err(Error::invalid(
                    "status",
                    "a before-solve plugin cannot change the status; refuse the solve instead",
                ));
            }
            if *status == Status::New && case.status != Status::New {
                return Err(Error::Transition {
                    what: format!("case {}", case.number),
                    from: case.status.to_string(),
                    to: status.to_string(),
                    reason: "a worked case cannot become new again".into(),
                });
            }
            Ok(())
        }
        Action::Escalate { to, reason } => {
            check_token("escalation target", to)?;
            nonempty("escalation reason", reason)
        }
        Action::SetSlaDeadline { metric, due_at } => {
            check_token("sla metric", metric)?;
            // Deadlines before 2000 or after 2200 are a unit mistake (seconds for ms).
            if !(946_684_800_000..=7_258_118_400_000).contains(due_at) {
                return Err(Error::invalid(
                    "sla due_at",
                    "not a time between 2000 and 2200 in epoch milliseconds",
                ));
            }
            Ok(())
        }
        Action::RequireField { name, reason } => {
            check_required_name(name)?;
            nonempty("reason", reason)
        }
        Action::AddNote { body, .. } => nonempty("note", body),
        Action::Route { queue } => check_token("queue", queue),
        Action::RefuseSolve { reason } => {
            if trigger != Trigger::BeforeSolve {
                return Err(Error::invalid(
                    "refuse-solve",
                    "only a before-solve plugin can refuse a solve",
                ));
            }
            nonempty("reason", reason)
        }
    }
}

/// Applies validated actions through `dt`. Returns the refusal reasons (before-solve).
fn apply(dt: &mut DocTx<'_>, case: &Case, actions: &[Action]) -> Result<Vec<String>> {
    let root = ObjId::Root;
    let mut refusals = Vec::new();
    let mut status = case.status;
    for a in actions {
        match a {
            Action::SetField { name, value } => set_field(dt, name, Some(value))?,
            Action::AddTag { tag } => add_tag(dt, tag)?,
            Action::RemoveTag { tag } => remove_tag(dt, tag)?,
            Action::SetPriority { priority } => {
                dt.put(&root, "priority", priority.as_str())?;
            }
            Action::SetStatus { status: to } => {
                change_status(dt, status, *to)?;
                status = *to;
            }
            Action::Escalate { to, reason } => push_escalation(dt, to, reason)?,
            Action::SetSlaDeadline { metric, due_at } => put_sla_due(dt, metric, *due_at)?,
            Action::RequireField { name, reason } => {
                let tag = missing_tag(name);
                if has_field(case, name) {
                    remove_tag(dt, &tag)?;
                } else {
                    if !case.tags.contains(&tag) {
                        add_tag(dt, &tag)?;
                        dt.event("field_required", &format!("{name}: {reason}"), "internal")?;
                    }
                    let required = dt.map(&root, "required")?;
                    let key = dt.key("required", name);
                    dt.put_str(&required, key.as_str(), "required", reason)?;
                    refusals.push(format!("{name} is required: {reason}"));
                }
            }
            Action::AddNote { body, public } => {
                dt.event("note", body, if *public { "public" } else { "internal" })?;
            }
            Action::Route { queue } => {
                set_field(dt, "queue", Some(queue))?;
            }
            Action::RefuseSolve { reason } => refusals.push(reason.clone()),
        }
    }
    Ok(refusals)
}

/// Drops the `missing-<field>` tag of every field a plugin required that the case now has, so
/// the tag means "still missing" whoever filled the field in. Called by every case edit.
pub(crate) fn clear_satisfied_requirements(dt: &mut DocTx<'_>, id: DocId) -> Result<()> {
    let root = ObjId::Root;
    let Some(required) = dt.read().map(&root, "required") else {
        return Ok(());
    };
    let names = dt.read().keys(&required);
    if names.is_empty() {
        return Ok(());
    }
    let case = crate::case::materialize(id, dt.doc(), None)?;
    for name in names {
        if has_field(&case, &name) {
            dt.delete(&required, name.as_str())?;
            remove_tag(dt, &missing_tag(&name))?;
        }
    }
    Ok(())
}

impl Store {
    /// Validates `actions` and applies them to the case as one change with a `plugin` event —
    /// or applies none and returns the error.
    ///
    /// # Errors
    /// [`Error::InvalidAction`]; [`Error::CaseClosed`]; [`Error::NotFound`].
    pub fn apply_plugin_actions(
        &self,
        case_key: &str,
        plugin: &PluginRef,
        trigger: Trigger,
        actions: &[Action],
    ) -> Result<Case> {
        let id = self.resolve_case(case_key)?;
        self.apply_evaluation(&id, plugin, trigger, actions)?;
        self.case_by_id(&id)
    }

    /// Runs the active plugins for the case's market that declare `trigger`, applying what each
    /// returns. Use it for [`Trigger::SlaCheck`] on a schedule, or to re-run a trigger.
    /// Without a plugin host ([`Store::set_workflow`]) nothing runs.
    ///
    /// # Errors
    /// [`Error::NotFound`]; storage errors. A failing plugin is not an error: it is a
    /// [`RunOutcome::Failed`] in the report and an event on the case.
    pub fn run_plugins(&self, case_key: &str, trigger: Trigger) -> Result<Vec<PluginRun>> {
        let id = self.resolve_case(case_key)?;
        self.fire(&id, trigger, None)
    }

    /// Calls the plugin host for one trigger and applies each plugin's answer. Never fails
    /// because of a plugin.
    pub(crate) fn fire(
        &self,
        id: &DocId,
        trigger: Trigger,
        previous_status: Option<Status>,
    ) -> Result<Vec<PluginRun>> {
        let Some(workflow) = self.workflow() else {
            return Ok(Vec::new());
        };
        let case = self.case_by_id(id)?;
        if case.status == Status::Closed {
            return Ok(Vec::new());
        }
        let ctx = TriggerContext {
            trigger,
            case: &case,
            previous_status,
            now: self.now(),
        };
        let evaluations = workflow.evaluate(self, &ctx);
        let mut runs = Vec::new();
        for Evaluation {
            plugin,
            outcome,
            logs,
        } in evaluations
        {
            let outcome = match outcome {
                Ok(actions) if actions.is_empty() => RunOutcome::NoActions,
                Ok(actions) => match self.apply_evaluation(id, &plugin, trigger, &actions) {
                    Ok(refusals) if !refusals.is_empty() => RunOutcome::RefusedSolve {
                        reason: refusals.join("; "),
                    },
                    Ok(_) => RunOutcome::Applied {
                        actions: actions.len(),
                    },
                    Err(e) => {
                        let kind = match e {
                            Error::InvalidAction { .. } => PluginFailureKind::InvalidAction,
                            _ => PluginFailureKind::Host,
                        };
                        let failure = PluginFailure {
                            kind,
                            detail: e.to_string(),
                        };
                        self.record_failure(id, &plugin, trigger, &failure, &logs)?
                    }
                },
                Err(failure) => self.record_failure(id, &plugin, trigger, &failure, &logs)?,
            };
            runs.push(PluginRun {
                plugin,
                trigger,
                outcome,
            });
        }
        Ok(runs)
    }

    /// Runs before-solve plugins; a refusal becomes [`Error::SolveRefused`].
    pub(crate) fn before_solve(&self, id: &DocId) -> Result<()> {
        let runs = self.fire(id, Trigger::BeforeSolve, None)?;
        for r in runs {
            if let RunOutcome::RefusedSolve { reason } = r.outcome {
                return Err(Error::SolveRefused {
                    plugin: r.plugin.to_string(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Fires the triggers of a case change; a missing plugin host or a failing plugin never
    /// turns a committed change into an error.
    pub(crate) fn after_change(&self, id: &DocId, triggers: &[(Trigger, Option<Status>)]) {
        for (t, prev) in triggers {
            // The change itself committed; plugin trouble is recorded on the case, and storage
            // trouble here will show on the next write.
            let _ = self.fire(id, *t, *prev);
        }
    }

    fn apply_evaluation(
        &self,
        id: &DocId,
        plugin: &PluginRef,
        trigger: Trigger,
        actions: &[Action],
    ) -> Result<Vec<String>> {
        let op = format!("plugin:{plugin}");
        self.write(&op, Origin::Local, |w| {
            edit_open_case(w, id, |dt, case| {
                validate_actions(case, trigger, actions)?;
                let refusals = apply(dt, case, actions)?;
                let summary: BTreeSet<String> = actions.iter().map(Action::summary).collect();
                let summary: Vec<String> = summary.into_iter().collect();
                dt.event(
                    "plugin",
                    &format!("{plugin} on {trigger}: {}", summary.join(", ")),
                    "internal",
                )?;
                Ok(refusals)
            })
        })
    }

    fn record_failure(
        &self,
        id: &DocId,
        plugin: &PluginRef,
        trigger: Trigger,
        failure: &PluginFailure,
        logs: &[String],
    ) -> Result<RunOutcome> {
        let reason: String = failure.detail.chars().take(MAX_FAILURE_REASON).collect();
        let mut body = format!("{plugin} on {trigger}: {reason}");
        if !logs.is_empty() {
            let kept: Vec<String> = logs
                .iter()
                .take(MAX_FAILURE_LOG_LINES)
                .map(|l| l.chars().take(MAX_FAILURE_LOG_LINE).collect())
                .collect();
            body.push_str(" — logs: ");
            body.push_str(&kept.join(" | "));
            if logs.len() > kept.len() {
                body.push_str(&format!(" | ({} more lines)", logs.len() - kept.len()));
            }
        }
        let op = format!("plugin:{plugin}");
        // The body holds plugin text (its error, its logs); `event` redacts it like any text.
        self.write(&op, Origin::Local, |w| {
            edit_open_case(w, id, |dt, _| {
                dt.event("plugin_failed", &body, "internal")?;
                // The kind as a field of the event, for tools that read the document.
                let last = dt.read().list_maps(&ObjId::Root, "events").pop();
                if let Some(ev) = last {
                    dt.put(&ev, "failure", failure.kind.as_str())?;
                }
                Ok(())
            })
        })?;
        Ok(RunOutcome::Failed {
            kind: failure.kind,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Category, NewCase};

    fn store_and_case() -> (tempfile::TempDir, Store, Case) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path().join("BLR2.db"),
            crate::StoreOptions {
                site: Some("BLR2".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let case = store
            .create_case(NewCase::new("IN-UPI", Category::FailedPayment, "Debited"))
            .unwrap();
        (dir, store, case)
    }

    fn set(name: &str) -> Action {
        Action::SetField {
            name: name.into(),
            value: "closed".into(),
        }
    }

    fn require(name: &str) -> Action {
        Action::RequireField {
            name: name.into(),
            reason: "needed".into(),
        }
    }

    #[test]
    fn actions_naming_a_field_outside_the_contract_are_invalid() {
        let (_dir, _store, case) = store_and_case();
        for name in [
            "Status",
            "não-ascii",
            "a/b:c",
            "status",
            "market",
            "priority",
            "../../etc/passwd",
        ] {
            for action in [set(name), require(name)] {
                let e =
                    validate_actions(&case, Trigger::CaseUpdated, std::slice::from_ref(&action));
                assert!(
                    matches!(e, Err(Error::InvalidAction { index: 0, .. })),
                    "{action:?}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn require_field_accepts_payment_members_and_valid_names_and_derives_a_valid_tag() {
        let (_dir, store, case) = store_and_case();
        let name = "a".repeat(crate::case::MAX_FIELD_NAME);
        let actions = [
            require("payment.txn-ref"),
            require("payment.txn_ref"),
            require("dispute.reason-code"),
            require("upi.vpa"),
            require(&name),
        ];
        validate_actions(&case, Trigger::CaseUpdated, &actions).unwrap();
        let plugin = PluginRef {
            name: "test".into(),
            version: "1.0.0".into(),
        };
        let after = store
            .apply_plugin_actions(&case.number, &plugin, Trigger::CaseUpdated, &actions)
            .unwrap();
        for tag in [
            "missing-payment-txn-ref".to_string(),
            "missing-dispute-reason-code".into(),
            "missing-upi-vpa".into(),
            format!("missing-{name}"),
        ] {
            assert!(after.tags.contains(&tag), "{tag}: {:?}", after.tags);
        }
        // `payment.unknown` is neither a payment member nor a field name.
        assert!(
            validate_actions(&case, Trigger::CaseUpdated, &[require("payment.unknown")]).is_err()
        );
    }

    #[test]
    fn a_failure_event_keeps_the_plugin_logs_redacted_and_capped() {
        let (_dir, store, case) = store_and_case();
        let plugin = PluginRef {
            name: "test".into(),
            version: "1.0.0".into(),
        };
        let mut logs = vec!["warn: card 4111111111111111 looked odd".to_string()];
        logs.extend((0..50).map(|i| format!("debug: line {i} {}", "x".repeat(1_000))));
        store
            .record_failure(
                &case.id,
                &plugin,
                Trigger::SlaCheck,
                &PluginFailure {
                    kind: PluginFailureKind::Trap,
                    detail: "plugin trapped".into(),
                },
                &logs,
            )
            .unwrap();
        // The kind is a field of the event, not words in its body.
        let doc = store
            .load_kind(&case.id, crate::store::DocKind::Case)
            .unwrap();
        let r = crate::doc::Reader::new(&*doc, None);
        let failures: Vec<Option<String>> = r
            .list_maps(&ObjId::Root, "events")
            .iter()
            .filter(|ev| r.str(ev, "kind").as_deref() == Some("plugin_failed"))
            .map(|ev| r.str(ev, "failure"))
            .collect();
        assert_eq!(failures, [Some("trap".to_string())]);
        let after = store.case(&case.number).unwrap();
        let event = after
            .events
            .iter()
            .find(|e| e.kind == "plugin_failed")
            .unwrap();
        assert!(
            event
                .body
                .starts_with("test@1.0.0 on sla-check: plugin trapped — logs: warn: card")
        );
        assert!(!event.body.contains("4111111111111111"), "{}", event.body);
        assert!(event.body.contains("(31 more lines)"), "{}", event.body);
        assert!(event.body.chars().count() < 8_000);
    }
}
