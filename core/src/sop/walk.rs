//! Walking an SOP tree with a list of inputs, as an agent (or a fixture) would.
//!
//! One function serves `dossier sop run`, the recorded `sop_runs` of a case and the tree's own
//! fixtures, so they can never disagree about where a set of answers leads. Inputs are plain
//! strings because that is what agents type and fixtures store: `name=value` binds a variable
//! for logic nodes (all bindings are applied before walking, wherever they appear), anything
//! else answers the next question, by answer id or by label in any locale, ignoring case,
//! accents and extra spaces. Running out of answers is not an error: the walk stops and says
//! which question is pending, so an interactive caller can ask it and walk again.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::definition::{Action, Answer, Node, NodeKind, Outcome, SopDefinition, fold_text};
use super::rules;
pub use super::rules::RuleError;

/// Where a walk went and where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalkResult {
    /// Node ids visited, in order, entry first.
    pub path: Vec<String>,
    /// The end node reached, if the walk completed.
    pub end: Option<String>,
    /// The outcome of that end node (`None` also when an end node lacks one).
    pub outcome: Option<Outcome>,
    /// The question waiting for an answer, if the inputs ran out first.
    pub pending: Option<String>,
    /// Actions met on the way: action node id and its action.
    pub actions: Vec<(String, Action)>,
    /// Answers chosen on the way: question node id and answer id.
    pub answers: Vec<(String, String)>,
}

impl WalkResult {
    /// Whether the walk reached an end node.
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }
}

/// Why a walk could not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkError {
    /// A `next` (or the entry, when `from` is `None`) names a node that does not exist.
    UnknownNode {
        /// Node the walk was leaving; `None` for the entry.
        from: Option<String>,
        /// The missing node id.
        to: String,
    },
    /// The walk came back to a node it had already visited.
    Cycle {
        /// The node visited twice.
        node: String,
    },
    /// No answer of the question matches the input.
    NoSuchAnswer {
        /// The question node.
        node: String,
        /// The input given.
        input: String,
        /// Valid answers: id and master-locale label.
        expected: Vec<(String, String)>,
    },
    /// A rule of a logic node does not parse or cannot be evaluated (unbound variable...).
    Rule {
        /// The logic node.
        node: String,
        /// The rule's condition.
        when: String,
        /// What went wrong.
        error: RuleError,
    },
    /// A non-end node has nowhere to go (no `next`, no `default_next`).
    DeadEnd {
        /// The node.
        node: String,
    },
    /// Answers were left over when the walk reached an end node.
    ExtraInput {
        /// The end node reached.
        end: String,
        /// The unused answers, in order.
        inputs: Vec<String>,
    },
}

impl WalkError {
    /// The node the error is about, if any (the entry error names the missing entry).
    pub fn node(&self) -> &str {
        match self {
            WalkError::UnknownNode {
                from: Some(from), ..
            } => from,
            WalkError::UnknownNode { from: None, to } => to,
            WalkError::Cycle { node }
            | WalkError::NoSuchAnswer { node, .. }
            | WalkError::Rule { node, .. }
            | WalkError::DeadEnd { node } => node,
            WalkError::ExtraInput { end, .. } => end,
        }
    }
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::UnknownNode { from: None, to } => {
                write!(f, "entry node {to:?} does not exist")
            }
            WalkError::UnknownNode {
                from: Some(from),
                to,
            } => {
                write!(f, "node {from:?} leads to {to:?}, which does not exist")
            }
            WalkError::Cycle { node } => {
                write!(f, "node {node:?} is reached twice: the tree has a cycle")
            }
            WalkError::NoSuchAnswer {
                node,
                input,
                expected,
            } => {
                write!(
                    f,
                    "no answer of question {node:?} matches {input:?}; expected one of: "
                )?;
                for (i, (id, label)) in expected.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{id:?} ({label})")?;
                }
                Ok(())
            }
            WalkError::Rule { node, when, error } => {
                write!(f, "rule {when:?} of node {node:?}: {error}")
            }
            WalkError::DeadEnd { node } => write!(f, "node {node:?} has no next node"),
            WalkError::ExtraInput { end, inputs } => {
                write!(f, "reached end {end:?} with unused answers: {inputs:?}")
            }
        }
    }
}

impl std::error::Error for WalkError {}

/// Splits a `name=value` variable binding; `None` when the input is an answer.
///
/// The name must match `[A-Za-z_][A-Za-z0-9_]*`; spaces around name and value are trimmed.
pub fn parse_binding(input: &str) -> Option<(&str, &str)> {
    let (name, value) = input.split_once('=')?;
    let name = name.trim();
    rules::is_variable_name(name).then(|| (name, value.trim()))
}

/// Walks `def` from its entry, consuming `inputs` (answers and `name=value` bindings).
///
/// Stops at an end node (`end`, `outcome` set; unused answers are [`WalkError::ExtraInput`])
/// or at a question with no answer left (`pending` set). Content and action nodes go to their
/// `next`; logic nodes take the first rule that holds, else `default_next`. A later binding of
/// the same name wins. An input that matches several answers takes the first, preferring an
/// exact id, then an id or label equal after folding case, accents and spaces.
pub fn walk(def: &SopDefinition, inputs: &[String]) -> Result<WalkResult, WalkError> {
    let mut vars = BTreeMap::new();
    let mut answers = Vec::new();
    for input in inputs {
        match parse_binding(input) {
            Some((name, value)) => {
                vars.insert(name.to_owned(), value.to_owned());
            }
            None => answers.push(input.as_str()),
        }
    }
    let mut answers = answers.into_iter();
    let mut result = WalkResult::default();
    let mut visited = HashSet::new();
    let mut from: Option<&str> = None;
    let mut current: &str = &def.entry;
    loop {
        let Some(node) = def.nodes.get(current) else {
            return Err(WalkError::UnknownNode {
                from: from.map(str::to_owned),
                to: current.to_owned(),
            });
        };
        if !visited.insert(current) {
            return Err(WalkError::Cycle {
                node: current.to_owned(),
            });
        }
        result.path.push(current.to_owned());
        let dead_end = || WalkError::DeadEnd {
            node: current.to_owned(),
        };
        let next: &str = match node.kind {
            NodeKind::Question => {
                let Some(input) = answers.next() else {
                    result.pending = Some(current.to_owned());
                    return Ok(result);
                };
                let answer = match_answer(node, input).ok_or_else(|| WalkError::NoSuchAnswer {
                    node: current.to_owned(),
                    input: input.to_owned(),
                    expected: node
                        .answers
                        .iter()
                        .map(|a| (a.id.clone(), a.label_for("", &def.master_locale).to_owned()))
                        .collect(),
                })?;
                result.answers.push((current.to_owned(), answer.id.clone()));
                &answer.next
            }
            NodeKind::Content | NodeKind::Action => {
                if let (NodeKind::Action, Some(action)) = (node.kind, &node.action) {
                    result.actions.push((current.to_owned(), action.clone()));
                }
                node.default_next.as_deref().ok_or_else(dead_end)?
            }
            NodeKind::Logic => {
                let mut chosen = None;
                for rule in &node.rules {
                    let rule_error = |error| WalkError::Rule {
                        node: current.to_owned(),
                        when: rule.when.clone(),
                        error,
                    };
                    let expr = rules::parse(&rule.when).map_err(rule_error)?;
                    if expr.eval(&vars).map_err(rule_error)? {
                        chosen = Some(rule.next.as_str());
                        break;
                    }
                }
                chosen
                    .or(node.default_next.as_deref())
                    .ok_or_else(dead_end)?
            }
            NodeKind::End => {
                result.end = Some(current.to_owned());
                result.outcome = node.outcome.clone();
                let rest: Vec<String> = answers.map(str::to_owned).collect();
                if !rest.is_empty() {
                    return Err(WalkError::ExtraInput {
                        end: current.to_owned(),
                        inputs: rest,
                    });
                }
                return Ok(result);
            }
        };
        from = Some(current);
        current = next;
    }
}

/// The answer `input` designates: exact id, else id or any-locale label after folding.
fn match_answer<'a>(node: &'a Node, input: &str) -> Option<&'a Answer> {
    let trimmed = input.trim();
    if let Some(a) = node.answers.iter().find(|a| a.id == trimmed) {
        return Some(a);
    }
    let folded = fold_text(trimmed);
    if folded.is_empty() {
        return None;
    }
    node.answers
        .iter()
        .find(|a| fold_text(&a.id) == folded || a.label.values().any(|l| fold_text(l) == folded))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::definition::tests::{card, upi};
    use super::super::definition::{OutcomeResult, Rule};
    use super::*;

    fn inputs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(def: &SopDefinition, list: &[&str]) -> Result<WalkResult, WalkError> {
        walk(def, &inputs(list))
    }

    #[test]
    fn a_recent_p2p_payment_ends_waiting_with_the_binding_given_last() {
        let r = run(&upi(), &["Yes", "P2P", "days_since_txn=0"]).unwrap();
        assert_eq!(r.end.as_deref(), Some("end_wait_p2p"));
        assert_eq!(r.path, ["start", "type", "p2p_age", "end_wait_p2p"]);
        assert_eq!(r.outcome.unwrap().result, OutcomeResult::Success);
        assert!(r.actions.is_empty());
        assert_eq!(
            r.answers,
            [
                ("start".into(), "yes".into()),
                ("type".into(), "p2p".into())
            ]
        );
    }

    #[test]
    fn an_old_p2m_payment_collects_the_rrn_and_escalates() {
        let r = run(&upi(), &["days_since_txn = 9", "yes", "p2m"]).unwrap();
        assert_eq!(
            r.path,
            [
                "start",
                "type",
                "p2m_age",
                "collect_rrn",
                "raise_psp",
                "end_escalated"
            ]
        );
        assert_eq!(r.outcome.unwrap().result, OutcomeResult::Unknown);
        let kinds: Vec<(&str, &str)> = r
            .actions
            .iter()
            .map(|(n, a)| (n.as_str(), a.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("collect_rrn", "require_field"), ("raise_psp", "escalate")]
        );
    }

    #[test]
    fn answers_match_by_id_by_label_in_any_locale_and_without_accents() {
        let card = card();
        let by_id = run(&card, &["si_problema", "duplicado"]).unwrap();
        let by_label = run(&card, &["Sí, pero hay un problema", "Cargo duplicado"]).unwrap();
        let by_en = run(&card, &["Yes, but there is a problem", "duplicate charge"]).unwrap();
        let folded = run(&card, &["  SI,  pero hay un PROBLEMA ", "cargo DUPLICADO"]).unwrap();
        for r in [&by_id, &by_label, &by_en, &folded] {
            assert_eq!(r.end.as_deref(), Some("duplicado"));
            assert_eq!(r.path, ["inicio", "problema", "duplicado"]);
        }
        let r = run(
            &card,
            &["si, pero hay un problema", "Cancelacion de suscripcion"],
        )
        .unwrap();
        assert_eq!(r.end.as_deref(), Some("suscripcion"));
    }

    #[test]
    fn running_out_of_answers_reports_the_pending_question() {
        let r = run(&upi(), &["Yes"]).unwrap();
        assert_eq!(r.pending.as_deref(), Some("type"));
        assert_eq!(r.path, ["start", "type"]);
        assert!(!r.is_complete());
        let r = run(&upi(), &[]).unwrap();
        assert_eq!(r.pending.as_deref(), Some("start"));
    }

    #[test]
    fn an_unknown_answer_lists_the_valid_ones() {
        let e = run(&upi(), &["Yes", "Wallet"]).unwrap_err();
        let WalkError::NoSuchAnswer {
            node,
            input,
            expected,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!((node.as_str(), input.as_str()), ("type", "Wallet"));
        assert_eq!(expected[0], ("p2p".to_string(), "P2P".to_string()));
        assert!(e.to_string().contains("\"p2m\" (P2M)"), "{e}");
    }

    #[test]
    fn an_unbound_variable_is_a_rule_error_at_the_logic_node() {
        let e = run(&upi(), &["Yes", "P2P"]).unwrap_err();
        assert_eq!(
            e,
            WalkError::Rule {
                node: "p2p_age".into(),
                when: "days_since_txn <= 1".into(),
                error: RuleError::UnknownVariable("days_since_txn".into()),
            }
        );
    }

    #[test]
    fn leftover_answers_after_the_end_are_an_error() {
        let e = run(&upi(), &["No", "P2P"]).unwrap_err();
        assert_eq!(
            e,
            WalkError::ExtraInput {
                end: "end_no_debit".into(),
                inputs: inputs(&["P2P"])
            }
        );
    }

    #[test]
    fn cycles_missing_nodes_and_dead_ends_stop_the_walk() {
        let mut def = upi();
        def.nodes.get_mut("collect_rrn").unwrap().default_next = Some("start".into());
        let e = run(&def, &["Yes", "P2M", "days_since_txn=9", "Yes"]).unwrap_err();
        assert_eq!(
            e,
            WalkError::Cycle {
                node: "start".into()
            }
        );

        def.nodes.get_mut("collect_rrn").unwrap().default_next = Some("raise_pps".into());
        let e = run(&def, &["Yes", "P2M", "days_since_txn=9"]).unwrap_err();
        assert_eq!(
            e,
            WalkError::UnknownNode {
                from: Some("collect_rrn".into()),
                to: "raise_pps".into()
            }
        );

        def.nodes.get_mut("collect_rrn").unwrap().default_next = None;
        let e = run(&def, &["Yes", "P2M", "days_since_txn=9"]).unwrap_err();
        assert_eq!(
            e,
            WalkError::DeadEnd {
                node: "collect_rrn".into()
            }
        );

        def.entry = "nowhere".into();
        let e = run(&def, &[]).unwrap_err();
        assert_eq!(
            e,
            WalkError::UnknownNode {
                from: None,
                to: "nowhere".into()
            }
        );
    }

    #[test]
    fn the_first_true_rule_wins_over_later_ones() {
        let mut def = upi();
        let node = def.nodes.get_mut("p2m_age").unwrap();
        node.rules.push(Rule {
            when: "days_since_txn <= 100".into(),
            next: "end_no_debit".into(),
        });
        let r = run(&def, &["Yes", "P2M", "days_since_txn=3"]).unwrap();
        assert_eq!(r.end.as_deref(), Some("end_wait_p2m"));
        let r = run(&def, &["Yes", "P2M", "days_since_txn=30"]).unwrap();
        assert_eq!(r.end.as_deref(), Some("end_no_debit"));
    }

    #[test]
    fn bindings_need_a_variable_name_before_the_equals_sign() {
        assert_eq!(
            parse_binding("days_since_txn=0"),
            Some(("days_since_txn", "0"))
        );
        assert_eq!(parse_binding(" rail = upi "), Some(("rail", "upi")));
        assert_eq!(parse_binding("a=b=c"), Some(("a", "b=c")));
        assert_eq!(parse_binding("2x=1"), None);
        assert_eq!(parse_binding("Yes, please = now"), None);
        assert_eq!(parse_binding("Yes"), None);
    }

    #[test]
    fn a_ten_thousand_node_chain_walks_without_recursion() {
        let mut def = upi();
        def.nodes.clear();
        let n = 10_000;
        for i in 0..n {
            let mut node = Node::new(NodeKind::Content);
            node.text.insert("en".into(), format!("step {i}"));
            node.default_next = Some(if i + 1 == n {
                "end".into()
            } else {
                format!("n{}", i + 1)
            });
            def.nodes.insert(format!("n{i}"), node);
        }
        let mut end = Node::new(NodeKind::End);
        end.outcome = Some(Outcome {
            label: "done".into(),
            result: OutcomeResult::Success,
        });
        def.nodes.insert("end".into(), end);
        def.entry = "n0".into();
        let r = run(&def, &[]).unwrap();
        assert_eq!(r.path.len(), n + 1);
    }
}
