//! Making actions: constructors on [`Action`] and [`Plan`], which drops the ones that would
//! change nothing.
//!
//! The host calls a plugin on every update and on every SLA check, so a rule that simply
//! re-emits "set the deadline", "add the tag", "add the note" each time would flood the case's
//! timeline. [`Plan`] compares each action with the snapshot (and with what it already holds),
//! which makes a plugin idempotent without bookkeeping of its own.

use crate::{Action, CaseSnapshot, Priority, Status, StepError};

impl Action {
    /// [`Action::SetField`].
    pub fn set_field(name: &str, value: impl Into<String>) -> Self {
        Action::SetField {
            name: name.into(),
            value: value.into(),
        }
    }

    /// [`Action::AddTag`].
    pub fn add_tag(tag: &str) -> Self {
        Action::AddTag(tag.into())
    }

    /// [`Action::RemoveTag`].
    pub fn remove_tag(tag: &str) -> Self {
        Action::RemoveTag(tag.into())
    }

    /// [`Action::Escalate`].
    pub fn escalate(to: &str, reason: impl Into<String>) -> Self {
        Action::Escalate {
            to: to.into(),
            reason: reason.into(),
        }
    }

    /// [`Action::SetSlaDeadline`].
    pub fn deadline(metric: &str, due_at: i64) -> Self {
        Action::SetSlaDeadline {
            metric: metric.into(),
            due_at,
        }
    }

    /// [`Action::RequireField`].
    pub fn require_field(name: &str, reason: impl Into<String>) -> Self {
        Action::RequireField {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// An internal [`Action::AddNote`] (agents only).
    pub fn note(body: impl Into<String>) -> Self {
        Action::AddNote {
            body: body.into(),
            public: false,
        }
    }

    /// A public [`Action::AddNote`] (the customer may see it).
    pub fn public_note(body: impl Into<String>) -> Self {
        Action::AddNote {
            body: body.into(),
            public: true,
        }
    }

    /// [`Action::Route`].
    pub fn route(queue: &str) -> Self {
        Action::Route(queue.into())
    }

    /// [`Action::RefuseSolve`].
    pub fn refuse_solve(reason: impl Into<String>) -> Self {
        Action::RefuseSolve(reason.into())
    }
}

/// Actions for one case, without the ones that would change nothing.
///
/// # Example
/// ```
/// use dossier_plugin_sdk::{Action, Plan, testing::snapshot};
/// let case = snapshot("IN-UPI").tag("npci").sla("reversal", 1_000, None).build();
/// let mut plan = Plan::new(&case);
/// plan.add_tag("npci")                 // already there: dropped
///     .deadline("reversal", 1_000)     // unchanged: dropped
///     .note_once("compensation-noted", "₹100 due");
/// plan.note_once("compensation-noted", "₹100 due"); // already queued: dropped
/// assert_eq!(plan.into_actions(), [
///     Action::note("₹100 due"),
///     Action::add_tag("compensation-noted"),
/// ]);
/// ```
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    case: &'a CaseSnapshot,
    actions: Vec<Action>,
}

impl<'a> Plan<'a> {
    /// An empty plan for `case`.
    pub fn new(case: &'a CaseSnapshot) -> Self {
        Self {
            case,
            actions: Vec::new(),
        }
    }

    /// The case the plan is for.
    pub fn case(&self) -> &'a CaseSnapshot {
        self.case
    }

    /// Adds `action` as is, without comparing it with anything.
    pub fn push(&mut self, action: Action) -> &mut Self {
        self.actions.push(action);
        self
    }

    /// Whether the plan already holds `action`.
    pub fn contains(&self, action: &Action) -> bool {
        self.actions.contains(action)
    }

    fn push_new(&mut self, action: Action) -> &mut Self {
        if !self.contains(&action) {
            self.actions.push(action);
        }
        self
    }

    /// Whether the case will have `tag` after the plan (it has it, or the plan adds it).
    pub fn will_have_tag(&self, tag: &str) -> bool {
        let added = self.contains(&Action::add_tag(tag));
        let removed = self.contains(&Action::remove_tag(tag));
        (self.case.has_tag(tag) || added) && !removed
    }

    /// Sets field `name` unless it already holds `value`.
    pub fn set_field(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        if self.case.fields.get(name) == Some(&value) {
            return self;
        }
        self.actions
            .retain(|a| !matches!(a, Action::SetField { name: n, .. } if n == name));
        self.actions.push(Action::set_field(name, value));
        self
    }

    /// Adds `tag` unless the case has it.
    pub fn add_tag(&mut self, tag: &str) -> &mut Self {
        if self.case.has_tag(tag) {
            return self;
        }
        self.push_new(Action::add_tag(tag))
    }

    /// Removes `tag` if the case has it.
    pub fn remove_tag(&mut self, tag: &str) -> &mut Self {
        if !self.case.has_tag(tag) {
            return self;
        }
        self.push_new(Action::remove_tag(tag))
    }

    /// Raises the priority to `priority` if it is lower (never lowers it).
    pub fn raise_priority(&mut self, priority: Priority) -> &mut Self {
        let planned = self.actions.iter().filter_map(|a| match a {
            Action::SetPriority(p) => Some(*p),
            _ => None,
        });
        let current = planned.fold(self.case.priority, Ord::max);
        if priority > current {
            self.actions.push(Action::SetPriority(priority));
        }
        self
    }

    /// Moves the case to `status` unless it is already there.
    pub fn set_status(&mut self, status: Status) -> &mut Self {
        if self.case.status == status {
            return self;
        }
        self.push_new(Action::SetStatus(status))
    }

    /// Escalates to `team` unless the case was ever escalated there.
    pub fn escalate(&mut self, team: &str, reason: impl Into<String>) -> &mut Self {
        let queued = self
            .actions
            .iter()
            .any(|a| matches!(a, Action::Escalate { to, .. } if to == team));
        if self.case.was_escalated_to(team) || queued {
            return self;
        }
        self.actions.push(Action::escalate(team, reason));
        self
    }

    /// Sets SLA metric `metric` due at `due_at`, unless it already is (replacing a deadline
    /// for the same metric queued earlier in this plan).
    pub fn deadline(&mut self, metric: &str, due_at: i64) -> &mut Self {
        self.actions
            .retain(|a| !matches!(a, Action::SetSlaDeadline { metric: m, .. } if m == metric));
        if self.case.sla(metric).map(|m| m.due_at) != Some(due_at) {
            self.actions.push(Action::deadline(metric, due_at));
        }
        self
    }

    /// Requires field `name` (or [`crate::case::TXN_REF`]) if the case lacks it; returns whether the case
    /// has it, so rules can stop early.
    ///
    /// ```
    /// use dossier_plugin_sdk::{Plan, case::TXN_REF, testing::snapshot};
    /// let case = snapshot("BR-PIX").build();
    /// let mut plan = Plan::new(&case);
    /// assert!(!plan.require_field(TXN_REF, "the EndToEndId identifies the Pix transfer"));
    /// assert_eq!(plan.actions().len(), 1);
    /// ```
    pub fn require_field(&mut self, name: &str, reason: impl Into<String>) -> bool {
        if self.case.has_required(name) {
            return true;
        }
        let queued = self
            .actions
            .iter()
            .any(|a| matches!(a, Action::RequireField { name: n, .. } if n == name));
        if !queued {
            self.actions.push(Action::require_field(name, reason));
        }
        false
    }

    /// Adds an internal note.
    pub fn note(&mut self, body: impl Into<String>) -> &mut Self {
        self.push_new(Action::note(body))
    }

    /// Adds a public note (the customer may see it).
    pub fn public_note(&mut self, body: impl Into<String>) -> &mut Self {
        self.push_new(Action::public_note(body))
    }

    /// Adds an internal note and `marker` tag, unless the case will already have `marker`:
    /// a note that appears once however often the plugin runs.
    pub fn note_once(&mut self, marker: &str, body: impl Into<String>) -> &mut Self {
        if self.will_have_tag(marker) {
            return self;
        }
        self.note(body);
        self.add_tag(marker)
    }

    /// Routes the case to `queue` unless its `queue` field already says so.
    pub fn route(&mut self, queue: &str) -> &mut Self {
        if self.case.field("queue") == Some(queue) {
            return self;
        }
        self.actions.retain(|a| !matches!(a, Action::Route(_)));
        self.actions.push(Action::route(queue));
        self
    }

    /// Refuses the solve (meaningful only for [`crate::Trigger::BeforeSolve`]).
    pub fn refuse_solve(&mut self, reason: impl Into<String>) -> &mut Self {
        self.push_new(Action::refuse_solve(reason))
    }

    /// The actions so far.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The actions, in the order they were planned.
    pub fn into_actions(self) -> Vec<Action> {
        self.actions
    }

    /// `Ok(actions)`, the usual end of [`crate::Step::evaluate`].
    ///
    /// # Errors
    /// Never; the `Result` matches `evaluate`'s return type.
    pub fn finish(self) -> Result<Vec<Action>, StepError> {
        Ok(self.actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::snapshot;

    #[test]
    fn unchanged_fields_and_deadlines_are_dropped_and_later_ones_win() {
        let case = snapshot("ES")
            .field("queue", "a")
            .field("x", "1")
            .sla("m", 10, None)
            .build();
        let mut plan = Plan::new(&case);
        plan.set_field("x", "1").deadline("m", 10).route("a");
        assert!(plan.actions().is_empty());
        plan.set_field("x", "2")
            .set_field("x", "3")
            .deadline("m", 11)
            .deadline("m", 12);
        assert_eq!(
            plan.into_actions(),
            [Action::set_field("x", "3"), Action::deadline("m", 12)]
        );
    }

    #[test]
    fn priority_is_only_raised() {
        let case = snapshot("ES").priority(Priority::High).build();
        let mut plan = Plan::new(&case);
        plan.raise_priority(Priority::Normal)
            .raise_priority(Priority::High);
        assert!(plan.actions().is_empty());
        plan.raise_priority(Priority::Urgent)
            .raise_priority(Priority::Urgent);
        assert_eq!(plan.into_actions(), [Action::SetPriority(Priority::Urgent)]);
    }

    #[test]
    fn escalations_and_required_fields_are_not_repeated() {
        let case = snapshot("ES").escalated_to("risk").field("a", "1").build();
        let mut plan = Plan::new(&case);
        plan.escalate("risk", "again")
            .escalate("ombudsman", "x")
            .escalate("ombudsman", "y");
        assert!(plan.require_field("a", "r"));
        assert!(!plan.require_field("b", "r"));
        assert!(!plan.require_field("b", "r"));
        assert_eq!(
            plan.into_actions(),
            [
                Action::escalate("ombudsman", "x"),
                Action::require_field("b", "r")
            ]
        );
    }

    #[test]
    fn note_once_respects_existing_marker_tags() {
        let case = snapshot("ES").tag("seen").build();
        let mut plan = Plan::new(&case);
        plan.note_once("seen", "not again")
            .remove_tag("absent")
            .remove_tag("seen");
        assert_eq!(plan.into_actions(), [Action::remove_tag("seen")]);
    }
}
